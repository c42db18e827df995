// Cluster mode, executor side: what runs when an agent starts the program
// with --spark-executor.
//
// The driver launches one Clusternodes task per executor (the "holder" task:
// --executor-cpus and --executor-mem, alive as long as the application). Its
// cpus decide how many Spark tasks the executor runs at once. Spark tasks
// then arrive as framework messages (protocol.hpp), run on the executor's
// worker threads against its shuffle store (files in the sandbox, served to
// other executors by the agent's /files/download) and its block cache (this
// process's memory), and their results go back as framework messages.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "clusternodes/executor.hpp"
#include "spark/functions.hpp"
#include "spark/protocol.hpp"
#include "spark/task_runner.hpp"

namespace clusternodes::spark {

// Shuffle files in a local directory (the executor's sandbox), read by other
// executors over HTTP from the agent that serves it. The location's address
// is the download URL of the directory, to which a reader appends the
// percent-encoded run path.
class HttpShuffleStore : public ShuffleStore {
 public:
  // `fileUrl`: the agent's HTTP address; `dir`: absolute, under the sandbox.
  HttpShuffleStore(std::string executorId, std::string dir, std::string fileUrl);
  Result<MapOutputLocation> write(int shuffleId, int mapPartition, const std::vector<std::string>& runs) override;
  // Own outputs are read from disk; others' with up to 3 GETs (404: lost at
  // once; unreachable: kUnavailable after the tries).
  Result<std::string> read(const MapOutputLocation& location, int shuffleId, int mapPartition,
                           int reducePartition) override;

 private:
  std::string executorId_;
  std::string dir_;
  std::string address_;
  DirShuffleStore local_;
};

// Results larger than this go through a file in the sandbox rather than a
// framework message.
inline constexpr size_t kInlineResultLimit = 4 << 20;

class SparkExecutor : public Executor {
 public:
  // `registry` must outlive the executor. `sandbox`: empty means
  // $CLUSTERNODES_SANDBOX, else the working directory.
  explicit SparkExecutor(const FunctionRegistry& registry, std::string sandbox = "");
  ~SparkExecutor() override;  // stopWorkers()

  void registered(ExecutorDriver* driver, const ExecutorInfo& executor, const FrameworkID& frameworkId,
                  const FrameworkInfo& framework, const ExecutorAgentInfo& agent) override;
  void launchTask(ExecutorDriver* driver, const TaskInfo& task) override;
  void killTask(ExecutorDriver* driver, const TaskID& taskId) override;
  void frameworkMessage(ExecutorDriver* driver, const std::string& data) override;
  void shutdown(ExecutorDriver* driver) override;
  void error(ExecutorDriver* driver, const std::string& message) override;

  // Ends the heartbeat and the workers once their current tasks end, waiting
  // up to `wait`; true when every thread ended and was joined, now or in an
  // earlier call (the rest are detached: the process is about to exit).
  bool stopWorkers(std::chrono::milliseconds wait = std::chrono::seconds(2));

 private:
  struct Unacked {
    std::string message;  // what to re-send
    std::chrono::steady_clock::time_point sentAt;
    std::string file;     // a result file to delete on acknowledgement
  };

  void work();
  void beat();
  void send(const std::string& message);  // REQUIRES: a driver
  std::string resultMessage(int64_t taskId, const std::string& encoded, std::string& file);

  const FunctionRegistry& registry_;
  std::string sandbox_;
  std::string executorId_;
  std::string fileUrl_;
  std::unique_ptr<HttpShuffleStore> shuffle_;
  MemoryBlockCache cache_;
  std::unique_ptr<TaskRunner> runner_;

  std::mutex mu_;
  std::condition_variable cv_;
  ExecutorDriver* driver_ = nullptr;
  TaskID holder_;
  int cores_ = 0;
  bool stopping_ = false;
  std::deque<std::pair<int64_t, std::string>> queue_;  // task id, encoded task
  std::set<int64_t> seen_;      // every task id ever launched here
  std::set<int64_t> running_;
  std::map<int64_t, Unacked> unacked_;
  std::vector<std::thread> workers_;
  std::thread heartbeat_;
  int alive_ = 0;  // workers not yet ended
  bool detached_ = false;
};

// The executor's main: runs a SparkExecutor under an ExecutorDriver until
// the agent or the driver ends it. Returns the process's exit code.
int runExecutor(const FunctionRegistry& registry);

}  // namespace clusternodes::spark
