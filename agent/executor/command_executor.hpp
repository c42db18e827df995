// CommandExecutor: the built-in executor that runs one native task.
//
// It talks to the agent as every built-in executor does (task_executor.hpp),
// and runs the task's command in a new session and process group with stdout
// and stderr appended to `stdout` and `stderr` in the sandbox. It reports
// TASK_STARTING, TASK_RUNNING and a terminal state.
//
// With cgroups the agent names the container's cgroups: the command joins
// them itself before it execs (SpawnOptions::cgroups) and everything it
// forks inherits them, so the container holds the task's processes and
// never the executor.
//
// A kill sends SIGTERM to the whole process group and every process in the
// container, waits the grace period, then sends SIGKILL. When the command's
// main process ends, whatever is left of its process group and container is
// killed too, and the terminal status goes out once nothing of it is left.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/executor/task_executor.hpp"
#include "common/process.hpp"

namespace clusternodes::executor {

class CommandExecutor : public TaskExecutor {
 public:
  CommandExecutor(Loop& loop, zmq::context_t& context, ExecutorFlags flags, OnExecutorFinished onFinished);
  ~CommandExecutor() override;

  // The command's main process while it has not been reaped, else 0.
  pid_t commandPid() const { return pid_; }
  // Called with the command's pid once it started, and with 0 once it was
  // reaped (its number may then be reused): a launcher tells the agent,
  // which has no executor process to follow.
  void onCommandPid(std::function<void(pid_t)> callback) { onCommandPid_ = std::move(callback); }

 private:
  void launch(wire::ExecutorContainer::Reader container) override;
  void kill(int64_t gracePeriodMs) override;
  void abandon() override;
  void commandExited(int64_t exitStatus, int termSignal);
  // Whether a process of group `group` or of the container is still alive
  // (not a zombie).
  bool hasLiveProcess(int group) const;
  // Sends `signal` to the process group `group` and every process in the
  // container.
  void signalAll(int group, int signal) const;
  // Starts the command, which joins the container's cgroups before it execs.
  Result<std::unique_ptr<ChildProcess>> spawnContained(const SpawnOptions& options);
  // The last line the command wrote to stderr (at most 200 characters).
  std::string lastStderrLine() const;

  Timer graceTimer_;
  bool killing_ = false;
  std::vector<std::string> cgroups_;        // the container's cgroup directories
  std::unique_ptr<ChildProcess> process_;
  int pid_ = 0;
  std::function<void(pid_t)> onCommandPid_;
};

}  // namespace clusternodes::executor
