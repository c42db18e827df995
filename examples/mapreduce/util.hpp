// Small helpers the MapReduce framework shares: sizes, hashes, files.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "clusternodes/result.hpp"

namespace clusternodes::mapreduce {

// An I/O failure inside a task (a read or write that should not fail). Tasks
// catch it at their boundary and report TASK_FAILED with its message.
class TaskError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "16M", "512K", "1G", "1000", "64MiB" (binary multiples). Refuses zero,
// negative and malformed sizes.
Result<uint64_t> parseSize(std::string_view text);
// "48.0 MiB", "512 B".
std::string humanBytes(uint64_t bytes);

// FNV-1a, 64 bits: the partitioning hash (the same everywhere).
inline uint64_t fnv1a64(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// A well-mixed 64-bit hash of a record (FNV-1a, then the splitmix64
// finaliser), for the order-independent checksums of teravalidate.
inline uint64_t recordHash(std::string_view bytes) {
  uint64_t z = fnv1a64(bytes);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The regular files of `input` when it is a directory (sorted by name, not
// recursive, skipping names that start with '_' or '.'), or `input` itself.
// Fails with "input X does not exist" and the like.
Result<std::vector<std::string>> listInputFiles(const std::string& input);

// Fails with a clear message when `output` exists and holds anything.
Result<void> checkOutputAvailable(const std::string& output);

// Writes `data` to `tmpPath`, then renames it to `finalPath`: readers see
// the whole file or none. Throws TaskError.
void writeFileAtomically(const std::string& tmpPath, const std::string& finalPath, std::string_view data);

// A file written in pieces through a buffer, that appears under its final
// name only when finish() renames it: readers see the whole file or none.
// Throws TaskError. Without finish(), the temporary file is removed.
class AtomicFileWriter {
 public:
  AtomicFileWriter(std::string tmpPath, std::string finalPath);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void append(std::string_view data);
  void push_back(char c) { append(std::string_view(&c, 1)); }
  void finish();
  uint64_t size() const { return written_ + buffer_.size(); }

 private:
  void flush();

  std::string tmpPath_;
  std::string finalPath_;
  int fd_ = -1;
  std::string buffer_;
  uint64_t written_ = 0;
};

// The whole file. Throws TaskError.
std::string readWholeFile(const std::string& path);

// "part-r-00003" style names: prefix + 5-digit index.
std::string numberedName(std::string_view prefix, int index);

}  // namespace clusternodes::mapreduce

namespace clusternodes::mapreduce {

// Thrown inside a task that noticed its cancel flag; reported TASK_KILLED.
class TaskCancelled : public std::runtime_error {
 public:
  TaskCancelled() : std::runtime_error("task cancelled") {}
};

}  // namespace clusternodes::mapreduce
