// Cluster mode, driver side: a Backend that registers with the master as a
// framework and runs tasks on coarse-grained executors.
//
// Executors. For each offer from an agent that has no executor of this
// application yet, while fewer than maxExecutors live, the backend launches
// a holder task (executorCpus, executorMem) run by a new executor ("exec-N",
// never reused): this same program started with --spark-executor. The
// executor and its holder live until the application ends; its cpus are how
// many Spark tasks it runs at once. Offers are declined otherwise, and
// suppressed once maxExecutors run (revived when one is lost).
//
// Tasks. submit() queues a task in the driver; it goes to the executor it
// prefers (one caching its input) when that has a free core, waiting up to
// localityWait for one, else to the executor with the most free cores. Tasks
// and results travel as framework messages, made reliable by protocol.hpp.
//
// Losses. A holder task's terminal status, executorLost and agentLost end
// the executor: kExecutorLost, then kTaskEnded (kExecutorLost) for each of
// its tasks. Queued tasks wait for a new executor; after noExecutorTimeout
// without any, they fail.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "clusternodes/scheduler.hpp"
#include "spark/backend.hpp"
#include "spark/protocol.hpp"

namespace clusternodes::spark {

struct ClusterOptions {
  std::string master = "127.0.0.1:5050";
  std::string keyFile;        // CURVE: the framework's key pair, and
  std::string masterKeyFile;  // the master's public key
  std::string name = "spark";  // the framework's name
  std::string role = "*";
  double executorCpus = 1;
  double executorMem = 512;   // MiB
  int maxExecutors = 0;       // 0: one per agent, no limit
  // The executor's command line (shell); empty: this program, by
  // /proc/self/exe, with --spark-executor.
  std::string executorCommand;
  std::string executorLogLevel;  // the executors' log level (their sandbox's stderr); empty: info
  std::chrono::milliseconds startTimeout{60000};       // start(): for a first executor
  std::chrono::milliseconds noExecutorTimeout{60000};  // queued tasks with no executor
  std::chrono::milliseconds localityWait{3000};
  bool quiet = false;  // no "executor ... ready/lost" lines on stderr
};

// Per live or past executor, for tests and the summary.
struct ExecutorView {
  std::string id;
  std::string agentId;
  std::string state;  // "launching", "ready", "lost"
  int cores = 0;
  int tasksRun = 0;   // results received
  std::string sandbox;
};

class ClusterBackend : public Backend, private Scheduler {
 public:
  explicit ClusterBackend(ClusterOptions options);
  ~ClusterBackend() override;

  Result<void> start() override;
  void stop() override;
  void submit(TaskDescription task) override;
  std::optional<BackendEvent> nextEvent(std::chrono::milliseconds timeout) override;
  int totalCores() const override;

  std::vector<ExecutorView> executors() const;
  std::string frameworkId() const;

 private:
  struct Exec;
  struct Outstanding {
    TaskDescription task;  // without the plan once sent
    std::string executorId;
    std::string message;   // the launch, for re-sending
    std::chrono::steady_clock::time_point sentAt;
    bool fetching = false;  // its result is a file being downloaded
  };
  struct Queued {
    TaskDescription task;
    std::chrono::steady_clock::time_point since;
  };

  // Scheduler callbacks (the SDK's thread).
  void registered(SchedulerDriver* driver, const FrameworkID& frameworkId, const MasterInfo& master) override;
  void resourceOffers(SchedulerDriver* driver, const std::vector<Offer>& offers) override;
  void statusUpdate(SchedulerDriver* driver, const clusternodes::TaskStatus& status) override;
  void frameworkMessage(SchedulerDriver* driver, const ExecutorID& executorId, const AgentID& agentId,
                        const std::string& data) override;
  void agentLost(SchedulerDriver* driver, const AgentID& agentId) override;
  void executorLost(SchedulerDriver* driver, const ExecutorID& executorId, const AgentID& agentId,
                    int status) override;
  void error(SchedulerDriver* driver, const std::string& message) override;

  // REQUIRES: mu_ held.
  void lose(Exec& e, const std::string& reason);
  void dispatch();
  void tick();
  void taskEnded(TaskResult result);
  void push(BackendEvent event);
  int liveExecutors() const;
  std::string fitProblem() const;

  ClusterOptions options_;
  std::unique_ptr<SchedulerDriver> driver_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<BackendEvent> events_;
  std::deque<ResultFile> files_;  // large results to download, with their executor
  std::map<int64_t, std::string> fileExecutors_;
  std::map<std::string, std::unique_ptr<Exec>> execs_;  // by executor id
  std::map<std::string, std::string> holders_;          // holder task id -> executor id
  std::map<int64_t, Outstanding> outstanding_;          // by task id
  std::deque<Queued> queue_;
  std::string frameworkId_;
  std::string driverError_;
  int nextExec_ = 1;
  bool suppressed_ = false;
  bool stopped_ = false;
  std::chrono::steady_clock::time_point lastReady_{};
  std::optional<std::chrono::steady_clock::time_point> noExecutorSince_;
  std::string largestOffer_;  // the last offer that could not fit an executor
  std::set<std::string> warned_;
};

}  // namespace clusternodes::spark
