// The TaskTracker: the framework's executor. The agent starts it once per
// framework (`clusternodes-mapreduce executor`); it runs each map or reduce
// task it is handed on a thread of its own and reports the result in
// TaskStatus::data (see task_spec.hpp).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "clusternodes/executor.hpp"
#include "mapreduce/reduce_task.hpp"
#include "mapreduce/task_spec.hpp"

namespace clusternodes::mapreduce {

class TaskTracker : public Executor {
 public:
  // `sandbox`: where map outputs go (empty: $CLUSTERNODES_SANDBOX, else the
  // working directory). `fetch`: how reducers get map outputs.
  explicit TaskTracker(std::string sandbox = "", Fetcher fetch = httpFetcher());
  // Joins every task thread (after cancelling them).
  ~TaskTracker() override;

  void registered(ExecutorDriver* driver, const ExecutorInfo& executor, const FrameworkID& frameworkId,
                  const FrameworkInfo& framework, const ExecutorAgentInfo& agent) override;
  void reregistered(ExecutorDriver* driver, const ExecutorAgentInfo& agent) override;
  void launchTask(ExecutorDriver* driver, const TaskInfo& task) override;
  void killTask(ExecutorDriver* driver, const TaskID& taskId) override;
  void shutdown(ExecutorDriver* driver) override;
  void error(ExecutorDriver* driver, const std::string& message) override;

  // Cancels the running tasks and waits for their threads. REQUIRES: not
  // from a task thread. The driver given to launchTask must still exist.
  void cancelAndJoin();
  // Waits for every task thread to end on its own (tests).
  void joinAll();
  const std::string& sandbox() const { return sandbox_; }

  // The URL under which the agent serves `path` of the sandbox.
  static std::string downloadUrl(const std::string& agentHttpUrl, const std::string& path);

 private:
  struct Running {
    std::atomic<bool> cancel{false};
    std::atomic<bool> done{false};
    std::thread thread;
  };

  void run(ExecutorDriver* driver, TaskID taskId, TaskSpec spec, std::shared_ptr<Running> running);
  void reapFinished();  // joins threads whose task ended; REQUIRES mutex_

  std::string sandbox_;
  Fetcher fetch_;
  std::mutex mutex_;
  std::string agentHttpUrl_;
  std::map<std::string, std::shared_ptr<Running>> tasks_;  // by task id
};

}  // namespace clusternodes::mapreduce
