#include "mapreduce/records.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "mapreduce/job.hpp"

namespace clusternodes::mapreduce {

std::string_view Arena::copy(std::string_view bytes) {
  if (bytes.empty()) return std::string_view();
  if (bytes.size() > left_) {
    size_t size = std::max(chunkSize_, bytes.size());
    chunks_.push_back(std::make_unique<char[]>(size));
    next_ = chunks_.back().get();
    left_ = size;
  }
  std::memcpy(next_, bytes.data(), bytes.size());
  std::string_view view(next_, bytes.size());
  next_ += bytes.size();
  left_ -= bytes.size();
  used_ += bytes.size();
  return view;
}

namespace {

// The first 8 bytes of a key as a big-endian number (zero-padded): ordering
// by it agrees with the bytewise order of the keys, so most comparisons in
// a sort never touch the keys' bytes.
uint64_t keyPrefix(std::string_view key) {
  uint64_t prefix = 0;
  size_t n = std::min<size_t>(key.size(), 8);
  for (size_t i = 0; i < n; ++i) prefix |= static_cast<uint64_t>(static_cast<unsigned char>(key[i])) << (56 - 8 * i);
  return prefix;
}

}  // namespace

void sortByKey(std::vector<Record>& records) {
  if (records.size() < 2) return;
  struct Item {
    uint64_t prefix;
    uint32_t size;  // the key's, capped
    uint32_t index;
  };
  std::vector<Item> items(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    auto size = static_cast<uint32_t>(std::min<size_t>(records[i].key.size(), UINT32_MAX));
    items[i] = {keyPrefix(records[i].key), size, static_cast<uint32_t>(i)};
  }
  std::sort(items.begin(), items.end(), [&records](const Item& a, const Item& b) {
    if (a.prefix != b.prefix) return a.prefix < b.prefix;
    if (a.size <= 8 && b.size <= 8) {
      // Equal prefixes: the shorter key is a prefix of the longer (whose
      // extra bytes are zeros), so the length decides.
      if (a.size != b.size) return a.size < b.size;
    } else {
      int c = records[a.index].key.compare(records[b.index].key);
      if (c != 0) return c < 0;
    }
    return a.index < b.index;  // equal keys keep their order
  });
  std::vector<Record> sorted;
  sorted.reserve(records.size());
  for (const auto& item : items) sorted.push_back(records[item.index]);
  records.swap(sorted);
}

std::vector<Record> parseRun(std::string_view text, bool raw) {
  std::vector<Record> records;
  size_t pos = 0;
  while (pos < text.size()) {
    const char* nl = static_cast<const char*>(std::memchr(text.data() + pos, '\n', text.size() - pos));
    size_t end = nl == nullptr ? text.size() : static_cast<size_t>(nl - text.data());
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    Record record;
    if (raw) {
      record.key = teraKey(line);
      record.value = line;
    } else {
      splitKeyValue(line, record.key, record.value);
    }
    records.push_back(record);
  }
  return records;
}

void appendRecord(std::string& out, const Record& record, bool raw) {
  if (raw) {
    out.append(record.value);
  } else {
    out.append(record.key);
    out.push_back('\t');
    out.append(record.value);
  }
  out.push_back('\n');
}


uint64_t parseCount(std::string_view text) {
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return 0;
  return value;
}

void appendCount(std::string& out, uint64_t value) {
  char buf[24];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, static_cast<size_t>(ptr - buf));
}

}  // namespace clusternodes::mapreduce
