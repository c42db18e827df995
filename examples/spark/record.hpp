// Records, and the byte formats the Spark-style framework moves them in.
//
// Every element of a dataset is a Record: a key and a value, both arbitrary
// bytes. Plain datasets (text lines, parallelized strings) leave the key
// empty; pair datasets use both.
//
// A "run" is a sequence of records encoded back to back, each as
//   varint(key size) varint(value size) key-bytes value-bytes
// (varint: 7 bits a byte, little-endian, high bit = more). Runs carry any
// bytes, are cheap to decode into views, and are what shuffle files, cached
// blocks on the wire and collected results hold. Shuffle runs are sorted by
// (key, value), bytewise, so that a reduce task merges them in one pass.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "support/kway_merge.hpp"

namespace clusternodes::spark {

struct Record {
  std::string key;    // empty in plain datasets
  std::string value;
  bool operator==(const Record&) const = default;
};

// A record whose bytes live elsewhere (in a decoded run, or in a Record).
struct RecordView {
  std::string_view key;
  std::string_view value;
};

// Bytewise order on (key, value): the order of every shuffle run.
inline bool lessKeyValue(const RecordView& a, const RecordView& b) {
  int c = a.key.compare(b.key);
  if (c != 0) return c < 0;
  return a.value < b.value;
}

// Appends one record to a run.
void appendRecord(std::string& run, std::string_view key, std::string_view value);
inline void appendRecord(std::string& run, const Record& r) { appendRecord(run, r.key, r.value); }

// A run of `records`.
std::string encodeRun(const std::vector<Record>& records);

// Views into `run`; false when it is malformed (truncated, bad varint).
bool decodeRun(std::string_view run, std::vector<RecordView>& out);
// Owned copies; false when malformed.
bool decodeRun(std::string_view run, std::vector<Record>& out);

// Merges runs sorted by (key, value) into one sorted stream; ties go to the
// lower run index.
struct KeyValueLess {
  bool operator()(const RecordView& a, const RecordView& b) const { return lessKeyValue(a, b); }
};
using RunMerger = examples::KWayMerge<RecordView, KeyValueLess>;

// FNV-1a, 64 bits: the hash partitioner's hash (the same in every process).
inline uint64_t fnv1a64(std::string_view bytes, uint64_t h = 0xcbf29ce484222325ULL) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// Standard base64 (RFC 4648, with padding), for bytes inside JSON.
std::string base64Encode(std::string_view bytes);
// False on a character outside the alphabet or a bad length.
bool base64Decode(std::string_view text, std::string& out);

}  // namespace clusternodes::spark
