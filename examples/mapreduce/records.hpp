// Key-value records in memory: an arena that keeps their bytes at stable
// addresses, sorting, the text form of sorted runs, and the k-way merge of
// sorted runs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

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

// Merges sorted runs into one key-ordered stream (a binary heap over the
// runs' heads; ties go to the lower run index, so the merge is stable).
class RunMerger {
 public:
  explicit RunMerger(std::vector<std::vector<Record>> runs);
  // The next record in key order; false when every run is exhausted.
  bool next(Record& record);

 private:
  struct Head {
    size_t run;
    size_t index;
  };
  bool less(const Head& a, const Head& b) const;  // a comes out before b
  void siftDown(size_t i);
  void siftUp(size_t i);

  std::vector<std::vector<Record>> runs_;
  std::vector<Head> heap_;
};

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
