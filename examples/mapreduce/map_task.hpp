// The map side of a task: read a split, map its records, combine, partition
// into R, sort each partition by key and write R run files.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "mapreduce/job.hpp"
#include "mapreduce/splits.hpp"

namespace clusternodes::mapreduce {

struct MapStats {
  uint64_t bytesRead = 0;
  uint64_t recordsIn = 0;
  uint64_t recordsOut = 0;
  std::vector<uint64_t> partitionBytes;  // one per reducer
};

struct MapOutput {
  std::vector<std::string> files;  // absolute paths, one per partition
  MapStats stats;
};

// Runs the map side of `job` over `split`, writing `dir`/part-<r> for each
// partition r (created, possibly empty). Throws TaskError (I/O, a failing
// streaming command) or TaskCancelled when `cancel` becomes true.
MapOutput runMapTask(const JobSpec& job, const InputSplit& split, const std::string& dir,
                     const std::atomic<bool>* cancel = nullptr);

}  // namespace clusternodes::mapreduce
