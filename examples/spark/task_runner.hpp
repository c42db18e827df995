// Executor side: runs one task against the executor's shuffle store and
// block cache.
//
// A task computes one partition of a node by pipelining the narrow
// operations back to the nearest shuffle boundary, cached partition or
// source, in batches (a vector of records per step). A shuffle map task then
// buckets the records by the reading node's partitioner, sorts each bucket by
// (key, value), combines it map-side (reduceByKey folds equal keys, distinct
// drops duplicates) and writes one run per reduce partition. A result task
// applies its action. The reduce side of a wide node merges the sorted runs of
// every map output of its partition (k-way) and groups equal keys.
//
// Both interfaces below are per executor and shared by its task threads.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "clusternodes/result.hpp"
#include "spark/functions.hpp"
#include "spark/plan.hpp"
#include "spark/task.hpp"

namespace clusternodes::spark {

// Shuffle files. Local mode: a directory on disk. Cluster mode: the
// executor's sandbox to write, the agents' HTTP file endpoint to read.
class ShuffleStore {
 public:
  virtual ~ShuffleStore() = default;
  // Stores map task `mapPartition`'s output of shuffle `shuffleId`: one run
  // per reduce partition, whole or not at all (a retried task replaces it).
  // Returns the location readers pass to read(). Thread-safe.
  virtual Result<MapOutputLocation> write(int shuffleId, int mapPartition, const std::vector<std::string>& runs) = 0;
  // The run for `reducePartition` of the map output at `location`. An error
  // (kNotFound / kUnavailable) means the output is lost: the task reports a
  // fetch failure. Thread-safe.
  virtual Result<std::string> read(const MapOutputLocation& location, int shuffleId, int mapPartition,
                                   int reducePartition) = 0;
};

using Block = std::shared_ptr<const std::vector<Record>>;

// Cached partitions in executor memory, by (node id, partition).
class BlockCache {
 public:
  virtual ~BlockCache() = default;
  // Null on a miss. Thread-safe.
  virtual Block get(int nodeId, int partition) = 0;
  virtual void put(int nodeId, int partition, Block block) = 0;
};

// A ShuffleStore over a local directory: file
// DIR/shuffle_S/map_M/part_R, written under a temporary name and renamed.
// The location's address is DIR.
class DirShuffleStore : public ShuffleStore {
 public:
  DirShuffleStore(std::string executorId, std::string dir);
  Result<MapOutputLocation> write(int shuffleId, int mapPartition, const std::vector<std::string>& runs) override;
  Result<std::string> read(const MapOutputLocation& location, int shuffleId, int mapPartition,
                           int reducePartition) override;
  // The relative path of one run inside the directory (cluster mode serves
  // the same layout from the sandbox).
  static std::string runPath(int shuffleId, int mapPartition, int reducePartition);

 private:
  std::string executorId_;
  std::string dir_;
  std::atomic<int64_t> sequence_{0};
};

// An unbounded in-memory BlockCache that counts its hits and misses.
class MemoryBlockCache : public BlockCache {
 public:
  Block get(int nodeId, int partition) override;
  void put(int nodeId, int partition, Block block) override;
  void clear();
  size_t size() const;
  int64_t hits() const { return hits_; }
  int64_t misses() const { return misses_; }

 private:
  mutable std::mutex mu_;
  std::map<std::pair<int, int>, Block> blocks_;
  std::atomic<int64_t> hits_{0};
  std::atomic<int64_t> misses_{0};
};

// Runs tasks for one executor. Thread-safe: call run() from many threads.
class TaskRunner {
 public:
  // All three must outlive the runner.
  TaskRunner(std::string executorId, const FunctionRegistry& registry, ShuffleStore& shuffle, BlockCache& cache);

  // Runs the task to completion; every failure (bad plan, user code
  // throwing, I/O, missing shuffle input) comes back as a TaskResult.
  TaskResult run(const TaskDescription& task);

  const std::string& executorId() const { return executorId_; }

 private:
  std::string executorId_;
  const FunctionRegistry& registry_;
  ShuffleStore& shuffle_;
  BlockCache& cache_;
};

// The reduce partition of `key` under sortByKey's range partitioner.
int rangePartition(const std::vector<std::string>& bounds, bool ascending, std::string_view key);

}  // namespace clusternodes::spark
