// TeraSort's companions: the generator, the validator and the sampler that
// picks the total-order cut points.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "clusternodes/result.hpp"
#include "mapreduce/splits.hpp"

namespace clusternodes::mapreduce {

inline constexpr size_t kTeraRecordLength = 100;  // 99 bytes and '\n'

// Row `row` of a teragen data set: a 10-byte printable key drawn from `seed`
// and the row, two spaces, the row number as 32 hex digits, uppercase filler
// to 99 bytes, '\n'.
std::string teraRecord(uint64_t seed, uint64_t row);

// Writes `rows` records into `output`/part-00000.. (`files` files, rows
// spread evenly). Refuses an `output` that holds files.
Result<void> teragen(uint64_t rows, const std::string& output, int files, uint64_t seed);

struct TeraSummary {
  uint64_t records = 0;
  uint64_t checksum = 0;  // sum of recordHash over the records, mod 2^64
};

// The count and checksum of the records (lines) of `files`.
Result<TeraSummary> summarize(const std::vector<std::string>& files);

// Checks that `output`'s part-r-* files are sorted by key, within each file
// and across them in name order; with `input` non-empty, that they hold the
// same records (count and checksum). The summary on success; the reason
// otherwise.
Result<TeraSummary> teravalidate(const std::string& output, const std::string& input = "");

// Reads up to `samples` keys spread over at most `maxSplits` of `splits`,
// sorted; then the R-1 cut points that cut them into R equal parts.
Result<std::vector<std::string>> sampleKeys(const std::vector<InputSplit>& splits, size_t samples,
                                            size_t maxSplits = 10);
std::vector<std::string> cutPoints(const std::vector<std::string>& sortedKeys, int reducers);

}  // namespace clusternodes::mapreduce
