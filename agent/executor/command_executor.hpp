// CommandExecutor: the built-in executor that runs one native task.
//
// Launched by the agent in the task's sandbox, it connects back to the
// agent's executor socket, registers, receives the task, and runs its command
// in a new session and process group with stdout and stderr appended to
// `stdout` and `stderr` in the sandbox. It reports TASK_STARTING,
// TASK_RUNNING and a terminal state, each re-sent until the agent
// acknowledges it, and exits once the terminal update is acknowledged.
//
// With cgroups the agent names the container's cgroups: the executor joins
// them to start the command, which inherits them with everything it forks,
// and returns to the agent's own cgroups, so the container holds the task's
// processes and not the executor.
//
// A kill sends SIGTERM to the whole process group and every process in the
// container, waits the grace period, then sends SIGKILL. When the command's
// main process ends, whatever is left of its process group and container is
// killed too, and the terminal status goes out once nothing of it is left.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "common/loop.hpp"
#include "common/process.hpp"
#include "common/transport.hpp"
#include "common/wire.hpp"

namespace clusternodes::executor {

struct ExecutorFlags {
  std::string agent;  // the agent's executor endpoint, tcp://host:port
  FrameworkID frameworkId;
  TaskID taskId;
  // Kill the task and exit when the agent has been gone this long.
  std::chrono::nanoseconds recoveryTimeout = std::chrono::minutes(15);
};

class CommandExecutor {
 public:
  CommandExecutor(Loop& loop, zmq::context_t& context, ExecutorFlags flags);
  ~CommandExecutor();

  Result<void> start();
  // The process exit code once the loop returns.
  int exitCode() const { return exitCode_; }

 private:
  void onMessage(std::string_view bytes);
  void sendRegistration();
  void launch(wire::LaunchCommand::Reader message);
  void kill(int64_t gracePeriodMs);
  void commandExited(int64_t exitStatus, int termSignal);
  // Whether a process of group `group` or of the container is still alive
  // (not a zombie).
  bool hasLiveProcess(int group) const;
  // Sends `signal` to the process group `group` and every process in the
  // container.
  void signalAll(int group, int signal) const;
  // Starts the command inside the container's cgroups.
  Result<std::unique_ptr<ChildProcess>> spawnContained(const SpawnOptions& options);
  // The last line the command wrote to stderr (at most 200 characters).
  std::string lastStderrLine() const;
  void report(TaskState state, TaskReason reason, const std::string& message,
              std::optional<int> exitCode = std::nullopt, std::optional<int> signal = std::nullopt);
  void sendPending();
  void onAck(const std::string& uuid);
  void checkAgent();
  void finish(int code);

  Loop& loop_;
  ExecutorFlags flags_;
  std::unique_ptr<ZmqSocket> socket_;
  Timer registrationTimer_;
  Timer retryTimer_;
  Timer graceTimer_;
  Timer agentWatchTimer_;
  bool launched_ = false;
  bool shuttingDown_ = false;
  bool killing_ = false;
  bool terminalReported_ = false;
  TaskInfo task_;
  std::string sandbox_;
  std::vector<std::string> cgroups_;        // the container's cgroup directories
  std::vector<std::string> returnCgroups_;  // the agent's, returned to after a start
  std::unique_ptr<ChildProcess> process_;
  int pid_ = 0;
  int64_t defaultGraceMs_ = 3000;
  std::deque<TaskStatus> unacked_;
  pid_t parent_ = 0;
  std::optional<std::chrono::steady_clock::time_point> agentGoneSince_;
  int exitCode_ = 0;
};

}  // namespace clusternodes::executor
