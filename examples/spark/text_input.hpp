// Text input: byte-range splits of files on line boundaries.
//
// A split is [offset, offset + length) of one file. Its records are the
// lines whose first byte lies inside it: a split that starts at offset > 0
// skips up to and including the first '\n' at or after offset - 1, and its
// last line may run past its end. Every line of a file is read by exactly one
// split, whatever the split size. A final line without '\n' is a line; a
// trailing '\r' is kept (the bytes are the user's).
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <string>
#include <vector>

#include "clusternodes/result.hpp"

namespace clusternodes::spark {

struct TextSplit {
  std::string path;  // absolute
  uint64_t offset = 0;
  uint64_t length = 0;
  bool operator==(const TextSplit&) const = default;
};

// The splits of `path` (a file, or a directory whose regular files are read
// in name order, skipping names that start with '_' or '.'), about
// total/minPartitions bytes each, at least one byte; no split for an empty
// file. Fails when the path does not exist or cannot be listed.
Result<std::vector<TextSplit>> computeTextSplits(const std::string& path, int minPartitions);

// Calls line(std::string_view) for each line of the split. Throws
// std::runtime_error on an I/O failure.
void readSplitLines(const TextSplit& split, const std::function<void(std::string_view)>& line);

}  // namespace clusternodes::spark
