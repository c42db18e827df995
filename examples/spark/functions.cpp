#include "spark/functions.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>

namespace clusternodes::spark {

const char* toString(FunctionKind kind) {
  switch (kind) {
    case FunctionKind::kMap: return "map";
    case FunctionKind::kFlatMap: return "flatMap";
    case FunctionKind::kFilter: return "filter";
    case FunctionKind::kMapValues: return "mapValues";
    case FunctionKind::kReduce: return "reduce";
  }
  return "?";
}

int64_t parseInt64(std::string_view text) {
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
    throw std::invalid_argument("'" + std::string(text.substr(0, 40)) + "' is not a decimal integer");
  }
  return value;
}

std::vector<std::string> splitGroup(std::string_view grouped) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (;;) {
    size_t sep = grouped.find(kGroupSeparator, pos);
    out.emplace_back(grouped.substr(pos, sep == std::string_view::npos ? std::string_view::npos : sep - pos));
    if (sep == std::string_view::npos) return out;
    pos = sep + 1;
  }
}

namespace {

bool isLetter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

}  // namespace

FunctionRegistry::FunctionRegistry() {
  flatMap("split_words", [](const Record& in, Emit emit) {
    const std::string& s = in.value;
    size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && !isLetter(s[i])) ++i;
      size_t start = i;
      while (i < s.size() && isLetter(s[i])) ++i;
      if (i > start) {
        std::string word = s.substr(start, i - start);
        for (char& c : word) {
          if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        }
        emit(std::string(), std::move(word));
      }
    }
  });
  flatMap("split_whitespace", [](const Record& in, Emit emit) {
    const std::string& s = in.value;
    auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && space(s[i])) ++i;
      size_t start = i;
      while (i < s.size() && !space(s[i])) ++i;
      if (i > start) emit(std::string(), s.substr(start, i - start));
    }
  });
  map("identity", [](const Record& in) { return in; });
  map("swap", [](const Record& in) { return Record{in.value, in.key}; });
  map("pair_with_one", [](const Record& in) { return Record{in.value, "1"}; });
  map("parse_pair", [](const Record& in) {
    size_t tab = in.value.find('\t');
    if (tab == std::string::npos) return Record{in.value, ""};
    return Record{in.value.substr(0, tab), in.value.substr(tab + 1)};
  });
  map("format_pair", [](const Record& in) { return Record{"", in.key + "\t" + in.value}; });
  map("value_only", [](const Record& in) { return Record{"", in.value}; });
  map("key_only", [](const Record& in) { return Record{"", in.key}; });
  filter("non_empty", [](const Record& in) { return !in.value.empty(); });
  mapValues("value_length", [](const std::string& v) { return std::to_string(v.size()); });
  reduce("sum", [](const std::string& a, const std::string& b) {
    return std::to_string(parseInt64(a) + parseInt64(b));
  });
  reduce("min", [](const std::string& a, const std::string& b) {
    return std::to_string(std::min(parseInt64(a), parseInt64(b)));
  });
  reduce("max", [](const std::string& a, const std::string& b) {
    return std::to_string(std::max(parseInt64(a), parseInt64(b)));
  });
  reduce("concat", [](const std::string& a, const std::string& b) { return a + b; });
}

void FunctionRegistry::claim(const std::string& name, FunctionKind kind) {
  if (name.empty()) throw std::invalid_argument("a function name may not be empty");
  auto it = kinds_.find(name);
  if (it != kinds_.end()) {
    throw std::invalid_argument("function '" + name + "' is already registered (as a " + toString(it->second) +
                                " function)");
  }
  kinds_.emplace(name, kind);
}

void FunctionRegistry::map(const std::string& name, MapFn fn) {
  claim(name, FunctionKind::kMap);
  maps_.emplace(name, std::move(fn));
}
void FunctionRegistry::flatMap(const std::string& name, FlatMapFn fn) {
  claim(name, FunctionKind::kFlatMap);
  flatMaps_.emplace(name, std::move(fn));
}
void FunctionRegistry::filter(const std::string& name, FilterFn fn) {
  claim(name, FunctionKind::kFilter);
  filters_.emplace(name, std::move(fn));
}
void FunctionRegistry::mapValues(const std::string& name, MapValuesFn fn) {
  claim(name, FunctionKind::kMapValues);
  mapValues_.emplace(name, std::move(fn));
}
void FunctionRegistry::reduce(const std::string& name, ReduceFn fn) {
  claim(name, FunctionKind::kReduce);
  reduces_.emplace(name, std::move(fn));
}

namespace {
template <typename Map>
const typename Map::mapped_type* findIn(const Map& m, const std::string& name) {
  auto it = m.find(name);
  return it == m.end() ? nullptr : &it->second;
}
}  // namespace

const MapFn* FunctionRegistry::findMap(const std::string& name) const { return findIn(maps_, name); }
const FlatMapFn* FunctionRegistry::findFlatMap(const std::string& name) const { return findIn(flatMaps_, name); }
const FilterFn* FunctionRegistry::findFilter(const std::string& name) const { return findIn(filters_, name); }
const MapValuesFn* FunctionRegistry::findMapValues(const std::string& name) const {
  return findIn(mapValues_, name);
}
const ReduceFn* FunctionRegistry::findReduce(const std::string& name) const { return findIn(reduces_, name); }

Result<void> FunctionRegistry::check(const std::string& name, FunctionKind kind) const {
  auto it = kinds_.find(name);
  if (it == kinds_.end()) {
    return notFound(std::string("no ") + toString(kind) + " function named '" + name + "' is registered");
  }
  if (it->second != kind) {
    return invalid("'" + name + "' is a " + toString(it->second) + " function, not a " + toString(kind) +
                   " function");
  }
  return {};
}

}  // namespace clusternodes::spark
