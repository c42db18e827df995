// JobTracker: the scheduling decisions of one MapReduce job, as a pure state
// machine (no driver, no I/O, time passed in), so that every rule can be
// tested with made-up offers and status updates.
//
//   JobTracker tracker(splits, options, now);
//   OfferDecision d = tracker.offer(offer, now);   // launch d.launches, or decline
//   tracker.statusUpdate(status, decodeTaskResult(status.data), now);
//   if (tracker.takeReviveRequest()) driver->reviveOffers();
//   if (tracker.finished() || tracker.failed()) ...
//
// Rules:
// - One map task per split, R reduce tasks; reduces run once every map is
//   done (no slow start). Task ids are "m-00003-a1": task name and attempt.
// - An offer is packed with as many tasks as its cpus and mem allow, each
//   taking the task resources, plus the executor's resources once on an
//   agent where the framework has no live executor.
// - Delay scheduling (maps): a pending map whose split names the offer's
//   host (its hostname, or the value of the locality attribute) goes first;
//   a map with no preferred host goes anywhere; a map whose hosts are all
//   elsewhere takes the offer only once it has waited the locality delay.
// - A failed attempt goes back to pending, avoiding the agents it failed on
//   until it has waited max(locality delay, 1 s); a task's max-attempts-th
//   failure fails the job.
// - When an executor or agent is lost (executorLost, agentLost, a TASK_LOST
//   there) or a reducer cannot fetch a map's output, the finished maps whose
//   output lived there run again (counted as a failed attempt of the map),
//   as long as some reducer is not done. A fetch failure does not count
//   against the reducer.
#pragma once

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "clusternodes/resources.hpp"
#include "clusternodes/values.hpp"
#include "mapreduce/reduce_task.hpp"
#include "mapreduce/splits.hpp"
#include "mapreduce/task_spec.hpp"

namespace clusternodes::mapreduce {

using TrackerClock = std::chrono::steady_clock;
using TimePoint = TrackerClock::time_point;

struct TrackerOptions {
  int reducers = 2;
  int maxAttempts = 4;
  std::chrono::nanoseconds localityDelay = std::chrono::seconds(3);
  std::string localityAttribute;  // empty: match split hosts against the offer's hostname
  Resources taskResources;
  Resources executorResources;
};

struct TaskLaunch {
  TaskType type = TaskType::kMap;
  int index = 0;
  int attempt = 1;
  std::string task;    // "m-00003"
  std::string taskId;  // "m-00003-a1"
  bool withExecutor = false;  // the first task for this agent's executor
  bool dataLocal = false;     // a map placed on a host its split names
};

struct OfferDecision {
  std::vector<TaskLaunch> launches;
  // For the offer's unused resources (all of them when nothing launches).
  double refuseSeconds = 5;
};

struct JobProgress {
  int maps = 0;
  int mapsDone = 0;
  int mapsRunning = 0;
  int reduces = 0;
  int reducesDone = 0;
  int reducesRunning = 0;
  int failedAttempts = 0;
  int lostMapOutputs = 0;
  int mapLaunches = 0;
  int dataLocalMapLaunches = 0;
  uint64_t bytesRead = 0;
  uint64_t mapOutputBytes = 0;
  uint64_t outputBytes = 0;
  uint64_t outputRecords = 0;
};

// "map 12/16 (75%)  reduce 0/4 (0%)  read 48.0 MiB  failed attempts 1"
std::string progressLine(const JobProgress& progress);

class JobTracker {
 public:
  JobTracker(std::vector<InputSplit> splits, TrackerOptions options, TimePoint now);

  // When nothing runs and the last offers could not fit a single task: what
  // to tell the user (the offer, what a task needs, which flags to lower).
  // Empty otherwise.
  std::string fitProblem() const;

  // What to launch on `offer`. The launched attempts count as running from
  // here on.
  OfferDecision offer(const Offer& offer, TimePoint now);

  // A status update of one of the job's attempts; `result` is its decoded
  // data. Updates of attempts that are no longer current are ignored (a
  // TASK_LOST still marks its agent's map outputs lost).
  void statusUpdate(const TaskStatus& status, const TaskResult& result, TimePoint now);
  // The framework's executor on `agentId` ended (or the agent was lost).
  void executorLost(const AgentID& agentId, const std::string& why, TimePoint now);
  void agentLost(const AgentID& agentId, TimePoint now);
  // We asked for `taskId` to be killed: its TASK_KILLED is not a failure.
  void killRequested(const std::string& taskId);

  // Where the output of `partition` is, one entry per map (all maps done).
  std::vector<MapInput> reduceInputs(int partition) const;
  const InputSplit& split(int mapIndex) const { return maps_.at(static_cast<size_t>(mapIndex)).split; }

  // True once, after tasks became pending again (offers may be filtered).
  bool takeReviveRequest();
  bool finished() const { return reducesDone_ == static_cast<int>(reduces_.size()); }
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  JobProgress progress() const;
  // Running attempts (task ids), to kill when the job ends early.
  std::vector<std::string> runningAttempts() const;
  bool hasExecutorOn(const AgentID& agentId) const { return executors_.count(agentId.value) > 0; }

 private:
  enum class Phase { kPending, kRunning, kDone };
  struct Task {
    TaskType type = TaskType::kMap;
    int index = 0;
    std::string name;
    InputSplit split;  // maps
    Phase phase = Phase::kPending;
    TimePoint pendingSince;
    int attempts = 0;  // launched
    int failures = 0;
    std::set<std::string> failedAgents;
    std::string currentId;  // the running or finished attempt
    std::string agent;      // its agent
    std::string lastError;
    std::vector<std::string> outputs;  // maps: one URL per partition
    TaskResult result;
  };

  Task& taskOf(TaskType type, int index);
  std::string describe(const Task& task) const;
  bool mapsDone() const { return mapsDone_ == static_cast<int>(maps_.size()); }
  bool avoids(const Task& task, const std::string& agent, TimePoint now) const;
  Task* pick(const std::string& agent, const std::string& host, TimePoint now, bool& dataLocal,
             std::chrono::nanoseconds& soonest);
  void makePending(Task& task, TimePoint now);
  void attemptFailed(Task& task, const std::string& why, TimePoint now);
  void loseMapOutput(Task& map, const std::string& why, TimePoint now);
  void loseOutputsOn(const std::string& agent, const std::string& why, TimePoint now);
  bool hasPendingRunnable() const;
  bool agentBusy(const std::string& agent, const std::string& exceptId) const;

  TrackerOptions options_;
  std::vector<Task> maps_;
  std::vector<Task> reduces_;
  std::map<std::string, std::pair<TaskType, int>> attemptIds_;  // task id -> task
  std::set<std::string> executors_;  // agents with our live executor
  std::set<std::string> killRequested_;
  int mapsDone_ = 0;
  int reducesDone_ = 0;
  int failedAttempts_ = 0;
  int lostMapOutputs_ = 0;
  int mapLaunches_ = 0;
  // The last offer that could not fit a task while nothing ran, and what it
  // lacked; cleared by a launch.
  std::string unfit_;
  int dataLocalLaunches_ = 0;
  bool reviveRequested_ = false;
  std::string error_;
};

}  // namespace clusternodes::mapreduce
