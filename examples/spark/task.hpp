// What the driver sends an executor (TaskDescription) and what comes back
// (TaskResult), and their wire form.
//
// A task is "compute partition P of node N of this plan, then either write
// it as shuffle S's map output or apply this action to it" — never a
// closure. Both directions encode as JSON (encodeTask/encodeTaskResult);
// bytes that need not be UTF-8 are base64. In cluster mode they travel as
// framework messages; local mode round-trips them too, so that both modes run
// the same code.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "clusternodes/result.hpp"

namespace clusternodes::spark {

// What a result task does with its partition's records.
enum class ActionKind {
  kCollect,     // all records (a run)
  kCount,       // decimal count
  kTake,        // the first `n` records (a run)
  kReduce,      // values folded with `fn`: "" when empty, else "=" + value
  kSave,        // part-NNNNN under `outputDir`; result: decimal record count
  kSampleKeys,  // up to `n` keys, evenly spaced (a run of keys), for sortByKey
};
const char* toString(ActionKind kind);

struct ActionSpec {
  ActionKind kind = ActionKind::kCollect;
  std::string fn;         // kReduce
  int64_t n = 0;          // kTake, kSampleKeys
  std::string outputDir;  // kSave: absolute
};

// Where one map task's shuffle output lives. `address` means something to
// the ShuffleStore that wrote it (local mode: a directory; cluster mode: an
// agent's file URL of the executor's sandbox).
struct MapOutputLocation {
  std::string executorId;
  std::string address;
  bool operator==(const MapOutputLocation&) const = default;
};

struct TaskDescription {
  int64_t taskId = 0;       // unique in the application
  int jobId = 0;
  int stageId = 0;
  int partition = 0;        // of `nodeId`
  int attempt = 0;          // 0 for the first attempt of this partition
  std::shared_ptr<const std::string> plan;  // serialisePlan() text
  int nodeId = 0;           // the node whose partition to compute
  // Shuffle map task: the shuffle to write (>= 0) and the wide node that
  // reads it (its op, function, partitions and bounds decide the output).
  int shuffleId = -1;
  int shuffleNodeId = -1;
  // Result task (shuffleId < 0): the action.
  ActionSpec action;
  // The map outputs of every shuffle the pipeline may read, by shuffle id:
  // one entry per map partition; nullopt when that output is missing (the
  // task then reports a fetch failure if it needs it).
  std::map<int, std::vector<std::optional<MapOutputLocation>>> shuffleInputs;
  // Run on this executor when it is alive (it caches what the task reads).
  std::string preferredExecutor;

  bool isShuffleMap() const { return shuffleId >= 0; }
};

// Counters a task reports; the driver sums them per job.
struct TaskMetrics {
  int64_t sourceReads = 0;   // source partitions read (text splits, slices)
  int64_t cacheHits = 0;
  int64_t cacheMisses = 0;
  int64_t shuffleBytesWritten = 0;
  int64_t shuffleBytesRead = 0;
  int64_t recordsOut = 0;
};

enum class TaskStatus {
  kSuccess,
  kFailed,         // the task's code failed (counts as an attempt)
  kFetchFailed,    // a shuffle input was unavailable (fetchShuffleId, fetchMapPartition)
  kExecutorLost,   // the executor died or was lost with the task (counts as an attempt)
};
const char* toString(TaskStatus status);

struct TaskResult {
  int64_t taskId = 0;
  int stageId = 0;
  int partition = 0;
  int attempt = 0;
  std::string executorId;
  TaskStatus status = TaskStatus::kSuccess;
  std::string error;  // failures: what went wrong
  // Success of a shuffle map task: its output and bytes per reduce partition.
  MapOutputLocation mapOutput;
  std::vector<int64_t> mapOutputSizes;
  // Success of a result task: the action's partial result (see ActionKind).
  std::string result;
  // kFetchFailed: the map output that could not be read.
  int fetchShuffleId = -1;
  int fetchMapPartition = -1;
  MapOutputLocation fetchLocation;  // where it was looked for (empty when it had none)
  // Partitions this task put into its executor's cache: (node id, partition).
  std::vector<std::pair<int, int>> cachedBlocks;
  TaskMetrics metrics;
};

std::string encodeTask(const TaskDescription& task);
Result<TaskDescription> decodeTask(const std::string& text);
std::string encodeTaskResult(const TaskResult& result);
Result<TaskResult> decodeTaskResult(const std::string& text);

}  // namespace clusternodes::spark
