// The JobTracker's side on the cluster: the SDK Scheduler that turns offers
// into map and reduce tasks run by the TaskTracker executor, the job's
// preparation (input splits, sampling, the output directory), and its end
// (the _SUCCESS marker, the summary).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "clusternodes/scheduler.hpp"
#include "mapreduce/cli.hpp"
#include "mapreduce/job_tracker.hpp"

namespace clusternodes::mapreduce {

inline constexpr const char* kExecutorId = "mr-tasktracker";

// Everything the scheduler needs, checked and computed before it starts.
struct PreparedJob {
  JobSpec job;
  std::string input;
  std::string output;  // absolute
  std::vector<InputSplit> splits;
  TrackerOptions tracker;
  ExecutorInfo executor;
};

// Checks the input (exists, readable), the output (absent or empty), the
// pattern; computes the splits (and, for terasort, samples the cut points).
// Does not create anything.
Result<PreparedJob> prepareJob(const CommandLine& command, const std::string& executorCommand);

// Creates OUTPUT and OUTPUT/_temporary.
Result<void> createOutput(const std::string& output);
// Removes OUTPUT/_temporary and writes OUTPUT/_SUCCESS.
Result<void> commitOutput(const std::string& output);

// The shell command that starts this program as the executor, found
// through /proc/self/exe.
std::string executorCommand();

class MapReduceScheduler : public Scheduler {
 public:
  MapReduceScheduler(PreparedJob job, bool quiet);

  void registered(SchedulerDriver* driver, const FrameworkID& frameworkId, const MasterInfo& master) override;
  void resourceOffers(SchedulerDriver* driver, const std::vector<Offer>& offers) override;
  void statusUpdate(SchedulerDriver* driver, const TaskStatus& status) override;
  void executorLost(SchedulerDriver* driver, const ExecutorID& executorId, const AgentID& agentId,
                    int status) override;
  void agentLost(SchedulerDriver* driver, const AgentID& agentId) override;
  void error(SchedulerDriver* driver, const std::string& message) override;

  // Waits until the job ends (true: it succeeded), printing a progress line
  // on stderr at most once a second unless quiet.
  bool waitForEnd();
  // Builds the TaskInfo of a launch decided by the tracker.
  TaskInfo taskInfo(const Offer& offer, const TaskLaunch& launch) const;
  std::string error();
  JobProgress progress();

 private:
  void afterChange(SchedulerDriver* driver);  // REQUIRES mutex_

  PreparedJob job_;
  bool quiet_;
  std::mutex mutex_;
  std::condition_variable changed_;
  JobTracker tracker_;
  std::string driverError_;
};

// "job wordcount\nelapsed 12.3 s\n..." (see the implementation for keys).
std::string jobSummary(const PreparedJob& job, const JobProgress& progress, double elapsedSeconds);

// Runs a job command to its end on the cluster; the exit code.
int runJob(const CommandLine& command);

}  // namespace clusternodes::mapreduce
