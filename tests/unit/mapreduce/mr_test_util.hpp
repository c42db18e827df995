// Helpers shared by the MapReduce unit tests.
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace clusternodes::mapreduce::testing {

inline void writeFile(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
}

inline std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace clusternodes::mapreduce::testing

#include <atomic>
#include <vector>

#include "clusternodes/result.hpp"
#include "examples/mapreduce/job.hpp"
#include "examples/mapreduce/map_task.hpp"
#include "examples/mapreduce/reduce_task.hpp"
#include "examples/mapreduce/splits.hpp"
#include "examples/mapreduce/util.hpp"

namespace clusternodes::mapreduce::testing {

// Reads "URLs" that are plain paths.
inline Fetcher fileFetcher() {
  return [](const std::string& path) -> Result<std::string> {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return notFound("no file " + path);
    return readFile(path);
  };
}

// Runs a whole job in this process: every split's map, then every reduce
// (reading map outputs from disk). Returns the part files' contents, in
// order.
inline std::vector<std::string> runLocalJob(const JobSpec& job, const std::vector<std::string>& files,
                                            uint64_t splitSize, const std::string& workDir) {
  auto splits = computeSplits(files, splitSize);
  if (!splits) throw TaskError(splits.error().message);
  std::vector<MapOutput> maps;
  for (size_t i = 0; i < splits->size(); ++i) {
    maps.push_back(runMapTask(job, (*splits)[i], workDir + "/map-" + std::to_string(i)));
  }
  std::vector<std::string> parts;
  for (int r = 0; r < job.reducers; ++r) {
    std::vector<MapInput> inputs;
    for (size_t i = 0; i < maps.size(); ++i) inputs.push_back({static_cast<int>(i), maps[i].files[r]});
    auto outcome = runReduceTask(job, r, inputs, workDir + "/out", "r-" + std::to_string(r) + "-a1", fileFetcher());
    if (!outcome.fetchFailed.empty()) throw TaskError(outcome.fetchError);
    parts.push_back(readFile(outcome.outputFile));
  }
  return parts;
}

}  // namespace clusternodes::mapreduce::testing
