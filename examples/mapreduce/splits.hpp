// Input splits and the reader of a split's lines.
//
// A split is a byte range [offset, offset + length) of one input file. Its
// records are the lines whose first byte lies inside it (Hadoop's
// LineRecordReader rule): a split that starts at offset > 0 skips up to and
// including the first '\n' at or after offset - 1, and the last line it reads
// may run past its end. Every line of a file is read by exactly one split.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "clusternodes/result.hpp"

namespace clusternodes::mapreduce {

struct InputSplit {
  std::string path;
  uint64_t offset = 0;
  uint64_t length = 0;
  std::vector<std::string> hosts;  // preferred hosts (empty: no preference)

  // "input.txt bytes 0-16777216"
  std::string describe() const;
};

// Preferred hosts of input files, from a --locations file: lines
// "PATH<TAB>host1,host2". Keys are the paths as written and their absolute
// forms.
using Locations = std::map<std::string, std::vector<std::string>>;
Result<Locations> readLocations(const std::string& file);
Result<Locations> parseLocations(std::string_view text);

// Splits `files` into ranges of at most `splitSize` bytes (an empty file
// gives no split). Hosts come from `locations` when the file is listed.
Result<std::vector<InputSplit>> computeSplits(const std::vector<std::string>& files, uint64_t splitSize,
                                              const Locations& locations = {});

// Reads the lines of one split through a large buffer (pread), without a
// system call per line. Throws TaskError on I/O failure.
class SplitLineReader {
 public:
  explicit SplitLineReader(const InputSplit& split, size_t bufferSize = 1 << 20);
  ~SplitLineReader();
  SplitLineReader(const SplitLineReader&) = delete;
  SplitLineReader& operator=(const SplitLineReader&) = delete;

  // The next line, without its '\n'; valid until the next call. False at
  // the end of the split.
  bool next(std::string_view& line);
  // Bytes of the lines returned so far (with their '\n').
  uint64_t bytesRead() const { return bytesRead_; }

 private:
  bool readLine(std::string_view& line);  // ignores the split's end

  int fd_ = -1;
  std::string path_;
  uint64_t end_ = 0;       // the split's end offset
  uint64_t fileSize_ = 0;
  uint64_t cursor_ = 0;    // file offset of the next line
  std::vector<char> buf_;
  uint64_t bufStart_ = 0;  // file offset of buf_[0]
  size_t bufLen_ = 0;
  uint64_t bytesRead_ = 0;
};

}  // namespace clusternodes::mapreduce
