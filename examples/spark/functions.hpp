// The function registry: the user code a Spark-style program runs, by name.
//
// Closures are never shipped between processes. A program registers its
// functions by name at start-up, in every process (the same binary runs as
// driver and, launched by an agent, as executor, and registers before doing
// anything else); the plan a task carries names them, and the executor looks
// them up in its own registry.
//
//   FunctionRegistry registry;  // holds the built-ins below already
//   registry.flatMap("tokens", [](const Record& in, Emit emit) {
//     for (auto& word : splitOn(in.value, ' ')) emit(Record{"", word});
//   });
//   registry.reduce("concat", [](const std::string& a, const std::string& b) { return a + b; });
//
// Each kind has its own signature; a name belongs to one kind only. Looking
// up an unknown name, or a name of another kind, fails with a message that
// says which (Context and Dataset turn it into std::invalid_argument when the
// transformation is declared, on the driver).
//
// Built-ins (usable without registering):
//   flatMap   split_words       runs of ASCII letters, lowercased, one record
//                               each (as `tr -cs 'A-Za-z' '\n' | tr A-Z a-z`)
//             split_whitespace  tokens separated by spaces, tabs, CR, LF
//   map       identity          the record itself
//             swap              key and value exchanged
//             pair_with_one     (value, "1"): word -> (word, 1)
//             parse_pair        "k<TAB>v" -> (k, v); no TAB: (line, "")
//             format_pair       (k, v) -> plain "k<TAB>v"
//             value_only        (k, v) -> plain v
//             key_only          (k, v) -> plain k
//   filter    non_empty         value is not empty
//   mapValues value_length      the value's size in bytes, decimal
//   reduce    sum               decimal integers (int64), summed
//             min, max          decimal integers (int64)
//             concat            a + b
// A reduce function must be associative (it is applied map-side and in any
// grouping); the numeric built-ins throw std::invalid_argument on text that
// is not a decimal integer, which fails the task with that message.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "clusternodes/result.hpp"
#include "spark/record.hpp"

namespace clusternodes::spark {

// Where a flatMap function puts its output records (0..n per input).
class Emit {
 public:
  explicit Emit(std::vector<Record>* out) : out_(out) {}
  void operator()(Record record) const { out_->push_back(std::move(record)); }
  void operator()(std::string key, std::string value) const {
    out_->push_back(Record{std::move(key), std::move(value)});
  }

 private:
  std::vector<Record>* out_;
};

using MapFn = std::function<Record(const Record&)>;
using FlatMapFn = std::function<void(const Record&, Emit)>;
using FilterFn = std::function<bool(const Record&)>;
using MapValuesFn = std::function<std::string(const std::string&)>;
using ReduceFn = std::function<std::string(const std::string&, const std::string&)>;

enum class FunctionKind { kMap, kFlatMap, kFilter, kMapValues, kReduce };
const char* toString(FunctionKind kind);  // "map", "flatMap", ...

// Functions by name. Register before the registry is shared with a Context
// or an executor; after that it is read-only and safe to use from any
// thread. Functions are called concurrently from task threads: they must not
// share mutable state without their own locking.
class FunctionRegistry {
 public:
  // A registry holding the built-ins.
  FunctionRegistry();

  // Register a function. A name may be registered once, in one kind; a
  // second registration throws std::invalid_argument (a programming error,
  // found at start-up). Names are non-empty.
  void map(const std::string& name, MapFn fn);
  void flatMap(const std::string& name, FlatMapFn fn);
  void filter(const std::string& name, FilterFn fn);
  void mapValues(const std::string& name, MapValuesFn fn);
  void reduce(const std::string& name, ReduceFn fn);

  // Look-ups. Null when the name is not of that kind.
  const MapFn* findMap(const std::string& name) const;
  const FlatMapFn* findFlatMap(const std::string& name) const;
  const FilterFn* findFilter(const std::string& name) const;
  const MapValuesFn* findMapValues(const std::string& name) const;
  const ReduceFn* findReduce(const std::string& name) const;

  // Ok when `name` is registered as `kind`; otherwise an error saying
  // "no map function named 'x' is registered" or "'sum' is a reduce
  // function, not a map function".
  Result<void> check(const std::string& name, FunctionKind kind) const;

 private:
  void claim(const std::string& name, FunctionKind kind);

  std::map<std::string, FunctionKind> kinds_;
  std::map<std::string, MapFn> maps_;
  std::map<std::string, FlatMapFn> flatMaps_;
  std::map<std::string, FilterFn> filters_;
  std::map<std::string, MapValuesFn> mapValues_;
  std::map<std::string, ReduceFn> reduces_;
};

// groupByKey joins the values of a key into one value, in bytewise order,
// separated by this byte (ASCII unit separator). splitGroup undoes it.
inline constexpr char kGroupSeparator = '\x1f';
std::vector<std::string> splitGroup(std::string_view grouped);

// Parses a decimal int64 ("-17"); throws std::invalid_argument otherwise.
int64_t parseInt64(std::string_view text);

}  // namespace clusternodes::spark
