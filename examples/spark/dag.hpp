// The DAG scheduler: turns an action on a dataset into stages and tasks, and
// reacts to task results and lost executors. Pure: no threads, no I/O, no
// clock. The driver loop feeds it events and ships the tasks it produces.
//
// Stages. A job's ResultStage computes the action's node; every shuffle the
// node's narrow lineage reaches (through map, filter, union, ...) is a
// dependency on a ShuffleMapStage, whose tasks compute partitions of the
// shuffle's parent node and write one sorted run per reduce partition.
// Shuffle map stages live as long as the scheduler (keyed by shuffle id), so
// a later job skips every stage whose outputs are all still available. The
// walk stops at a cached node whose partitions are all cached somewhere.
//
// Failures.
//  - A task that fails (kFailed, kExecutorLost) is retried; after
//    maxTaskAttempts failed attempts of one partition the job fails with
//    "stage 3 (reduceByKey at wc.cpp:9) partition 5 failed 4 times; last
//    error: ...".
//  - A fetch failure marks the map output it names missing (and every other
//    output at that location), puts the failed stage back to wait, and
//    resubmits the parent stage, which re-runs only its missing partitions;
//    then the failed stage re-runs its unfinished partitions. A stage that
//    fails this way maxFetchFailures times fails the job.
//  - executorLost forgets the executor's cached partitions and, when its
//    shuffle outputs went with it, its map outputs; what a running job then
//    lacks is found by fetch failures and recomputed from lineage.
//
// One job at a time. Results of tasks the scheduler no longer waits for
// (another job's, or after the job ended) are ignored.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "spark/plan.hpp"
#include "spark/task.hpp"

namespace clusternodes::spark {

struct DagOptions {
  int maxTaskAttempts = 4;   // failed attempts of one partition before the job fails
  int maxFetchFailures = 4;  // times one stage may be resubmitted for lost inputs
};

// One stage's work in one job.
struct StageStats {
  int stageId = 0;
  std::string name;        // "map at wc.cpp:8" / "collect at wc.cpp:10"
  bool shuffleMap = false;
  int nodeId = 0;
  int partitions = 0;      // distinct partitions this job needed computed
  int done = 0;            // of those, finished (and, for map outputs, not lost since)
  int tasksLaunched = 0;   // attempts started, retries included
  int failedAttempts = 0;  // kFailed and kExecutorLost results
  int fetchFailures = 0;
  std::vector<int> partitionsRun;  // each launch, in order
};

struct JobStats {
  int jobId = 0;
  std::string name;                // "count at wc.cpp:12"
  std::vector<StageStats> stages;  // stages that ran tasks, in order of first launch
  int stagesSkipped = 0;           // shuffle map stages whose outputs were all there
  int tasks = 0;                   // attempts launched
  int failedAttempts = 0;
  TaskMetrics metrics;             // summed over successful tasks
  bool succeeded = false;
  std::string error;               // when failed
};

// What a lost executor took with it: recomputed from lineage when needed.
struct LostData {
  int mapOutputs = 0;        // shuffle map outputs it held
  int cachedPartitions = 0;  // cached partitions held nowhere else now
};

class DagScheduler {
 public:
  explicit DagScheduler(DagOptions options = {});
  ~DagScheduler();
  DagScheduler(const DagScheduler&) = delete;
  DagScheduler& operator=(const DagScheduler&) = delete;

  // Starts a job: `action` over `partitions` of `node` (all partitions when
  // empty). `name` labels it ("count at wc.cpp:12"). REQUIRES: !jobRunning().
  // Returns the job id. A job over zero partitions succeeds at once.
  int submitJob(NodePtr node, ActionSpec action, std::vector<int> partitions, std::string name);

  // Tasks to ship now, in launch order (drains the queue).
  std::vector<TaskDescription> takeTasks();

  // A task ended (any status).
  void taskEnded(const TaskResult& result);

  // An executor is gone. `shuffleOutputsLost`: its map outputs are no longer
  // readable (false when something outlives it and serves them). Returns what
  // went with it.
  LostData executorLost(const std::string& executorId, bool shuffleOutputsLost = true);

  bool jobRunning() const { return jobRunning_; }
  // The last job's outcome and counters; its results in `partitions` order
  // (the action's partial result per partition, see ActionKind).
  const JobStats& jobStats() const { return stats_; }
  const std::vector<std::string>& results() const { return results_; }

  // Introspection (tests, progress).
  // Map outputs of `shuffleId` present, or -1 when the shuffle is unknown.
  int availableOutputs(int shuffleId) const;
  std::optional<MapOutputLocation> mapOutput(int shuffleId, int mapPartition) const;
  // Executors holding (node, partition) in their cache.
  std::set<std::string> cacheLocations(int nodeId, int partition) const;

 private:
  struct Stage;
  struct Running {
    int stageId;
    int partition;
    int epoch;
  };

  Stage& shuffleStage(const NodePtr& wide, size_t parentIndex);
  template <typename Fn>
  void forEachShuffleDep(const NodePtr& node, bool stopAtCached, Fn&& fn);
  bool fullyCached(const Node& node) const;
  bool available(const Stage& stage) const;
  bool partitionDone(const Stage& stage, int p) const;
  std::vector<Stage*> missingParents(Stage& stage);
  std::string preferredExecutor(const Node& node, int p) const;
  StageStats& stageStats(const Stage& stage);
  void handleTaskEnded(const TaskResult& result);
  void refreshDone();  // StageStats::done from the stages' state

  void submitStage(Stage& stage);
  void submitMissingTasks(Stage& stage);
  void launch(Stage& stage, int p);
  void stageCompleted(Stage& stage);
  void submitWaitingStages();
  void failJob(std::string error);
  void endJob();

  DagOptions options_;
  std::map<int, std::unique_ptr<Stage>> stages_;  // by stage id
  std::map<int, Stage*> shuffleStages_;           // by shuffle id
  std::map<std::pair<int, int>, std::set<std::string>> cacheLocs_;
  std::set<std::string> lostExecutors_;
  std::map<int64_t, Running> running_;            // by task id
  std::vector<TaskDescription> ready_;
  int nextStageId_ = 0;
  int nextJobId_ = 0;
  int64_t nextTaskId_ = 0;

  // The running job.
  bool jobRunning_ = false;
  int jobId_ = -1;
  Stage* resultStage_ = nullptr;
  ActionSpec action_;
  std::vector<int> jobPartitions_;
  std::map<int, size_t> resultIndex_;  // partition -> index in results_
  std::vector<bool> resultDone_;
  std::vector<std::string> results_;
  std::set<int> jobMapStages_;         // every shuffle map stage in the job's graph
  JobStats stats_;
};

}  // namespace clusternodes::spark
