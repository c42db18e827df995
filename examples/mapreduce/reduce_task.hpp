// The reduce side of a task: fetch the partition's sorted runs from every
// map, merge them, group equal keys, reduce, and write the part file
// atomically.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "clusternodes/result.hpp"
#include "mapreduce/job.hpp"

namespace clusternodes::mapreduce {

// Where one map's output for this partition is.
struct MapInput {
  int mapIndex = 0;
  std::string url;
};

// Gets the bytes at a URL. Fails kNotFound when they are gone for good,
// kUnavailable when the server cannot be reached.
using Fetcher = std::function<Result<std::string>(const std::string& url)>;

// Fetches over HTTP (common/http_client.hpp): 200 gives the bytes, 404 fails
// at once, anything else is tried `tries` times, `retryDelayMs` apart.
Fetcher httpFetcher(int tries = 3, int retryDelayMs = 200, double timeoutSeconds = 120);

struct ReduceStats {
  uint64_t bytesFetched = 0;
  uint64_t recordsIn = 0;
  uint64_t recordsOut = 0;  // lines written
  uint64_t bytesOut = 0;
};

struct ReduceOutcome {
  // Set when some map outputs could not be fetched: their map indexes, and
  // the first error.
  std::vector<int> fetchFailed;
  std::string fetchError;
  std::string outputFile;  // the part file, when written
  ReduceStats stats;
};

// Reduces `partition` of `job` from `inputs` into `outputDir`/part-r-NNNNN,
// through `outputDir`/_temporary/`attemptName`. Throws TaskError (I/O, a
// failing streaming reducer) or TaskCancelled.
ReduceOutcome runReduceTask(const JobSpec& job, int partition, const std::vector<MapInput>& inputs,
                            const std::string& outputDir, const std::string& attemptName, const Fetcher& fetch,
                            const std::atomic<bool>* cancel = nullptr);

}  // namespace clusternodes::mapreduce
