// The JSON the scheduler and the executor exchange: what a task is to do
// (TaskInfo::data) and what it did (TaskStatus::data).
//
// Task data:
//   map:    {"type":"map","task":"m-00003","index":3,"attempt":1,"job":{...},
//            "split":{"path":"/in/a.txt","offset":0,"length":16777216}}
//   reduce: {"type":"reduce","task":"r-00001","index":1,"attempt":2,"job":{...},
//            "output":"/abs/out","inputs":[{"map":0,"url":"http://..."},...]}
//   job:    {"kind":"wordcount|grep|terasort|streaming","reducers":R,"combiner":true,
//            "pattern":"...","mapper":"...","reducer":"...","combiner_command":"...",
//            "cut_points":["key",...]}
// Status data:
//   map finished:    {"outputs":[url of partition 0, ..., url of R-1],
//                     "stats":{"bytes_read":N,"records_in":N,"records_out":N,
//                              "partition_bytes":[N,...]}}
//   reduce finished: {"output":"/abs/out/part-r-00001",
//                     "stats":{"bytes_fetched":N,"records_in":N,"records_out":N,"bytes_out":N}}
//   reduce failed on fetching: {"fetch_failed":[3,5],"error":"..."}
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "clusternodes/result.hpp"
#include "mapreduce/job.hpp"
#include "mapreduce/reduce_task.hpp"
#include "mapreduce/splits.hpp"

namespace clusternodes::mapreduce {

enum class TaskType { kMap, kReduce };

struct TaskSpec {
  TaskType type = TaskType::kMap;
  std::string task;  // "m-00003", "r-00001"
  int index = 0;
  int attempt = 1;
  JobSpec job;
  InputSplit split;              // map
  std::string output;            // reduce: the job's output directory
  std::vector<MapInput> inputs;  // reduce
};

std::string encodeTaskSpec(const TaskSpec& spec);
Result<TaskSpec> decodeTaskSpec(const std::string& data);

// What a finished (or fetch-failed) task reports.
struct TaskResult {
  std::vector<std::string> outputs;  // map: one URL per partition
  std::string outputFile;            // reduce
  std::vector<int> fetchFailed;      // reduce: maps whose output is missing
  std::string error;
  uint64_t bytesRead = 0;       // map
  uint64_t mapOutputBytes = 0;  // map: the sum over partitions
  uint64_t recordsIn = 0;
  uint64_t recordsOut = 0;
  uint64_t bytesOut = 0;  // reduce
};

std::string encodeMapResult(const std::vector<std::string>& urls, uint64_t bytesRead, uint64_t recordsIn,
                            uint64_t recordsOut, const std::vector<uint64_t>& partitionBytes);
std::string encodeReduceResult(const std::string& outputFile, uint64_t bytesFetched, uint64_t recordsIn,
                               uint64_t recordsOut, uint64_t bytesOut);
std::string encodeFetchFailure(const std::vector<int>& maps, const std::string& error);
// Empty or malformed data gives an empty result.
TaskResult decodeTaskResult(const std::string& data);

// The attempt's task id: "m-00003-a2".
std::string attemptId(const std::string& task, int attempt);

}  // namespace clusternodes::mapreduce
