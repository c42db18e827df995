// Key-value records in memory: an arena that keeps their bytes at stable
// addresses, sorting, the text form of sorted runs, and the k-way merge of
// sorted runs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "support/kway_merge.hpp"

namespace clusternodes::mapreduce {

// Bytes copied into large chunks; views into it stay valid for its life.
class Arena {
 public:
  explicit Arena(size_t chunkSize = 4 << 20) : chunkSize_(chunkSize) {}
  std::string_view copy(std::string_view bytes);
  uint64_t bytes() const { return used_; }

 private:
  size_t chunkSize_;
  std::vector<std::unique_ptr<char[]>> chunks_;
  size_t left_ = 0;
  char* next_ = nullptr;
  uint64_t used_ = 0;
};

struct Record {
  std::string_view key;
  std::string_view value;  // for raw records: the whole record
};

// Sorts by key, bytewise (memcmp order); equal keys keep their order.
void sortByKey(std::vector<Record>& records);

// One sorted run in text form: lines "key<TAB>value", or raw records whose
// key is their first 10 bytes. Views point into `text`.
std::vector<Record> parseRun(std::string_view text, bool raw);

// Appends `record` to `out` in run form ("key\tvalue\n" or "record\n").
void appendRecord(std::string& out, const Record& record, bool raw);

// Merges sorted runs into one key-ordered stream (ties go to the lower run
// index, so the merge is stable).
struct KeyLess {
  bool operator()(const Record& a, const Record& b) const { return a.key < b.key; }
};
using RunMerger = examples::KWayMerge<Record, KeyLess>;

// Calls group(key, values) once per distinct key of a key-ordered stream.
template <typename Next, typename Group>
void forEachGroup(Next&& next, Group&& group) {
  Record record;
  if (!next(record)) return;
  std::vector<std::string_view> values;
  std::string_view key = record.key;
  values.push_back(record.value);
  while (next(record)) {
    if (record.key != key) {
      group(key, values);
      values.clear();
      key = record.key;
    }
    values.push_back(record.value);
  }
  group(key, values);
}

// Parses a decimal count ("17"); 0 for anything else.
uint64_t parseCount(std::string_view text);
// Appends the decimal form of `value`.
void appendCount(std::string& out, uint64_t value);

}  // namespace clusternodes::mapreduce
