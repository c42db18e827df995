// TaskExecutor: what every built-in executor does with its agent, whatever
// runs the task (a native command, a Docker container).
//
// Launched by the agent in the task's sandbox, it connects back to the
// agent's executor socket and registers as any executor does, by executor
// id (its task's id): the agent answers ExecutorRegistered, which says how
// the container is made, then sends the task as RunTask. It reports the
// task's states, each re-sent until the agent acknowledges it, and exits
// once a terminal update is acknowledged. A KillTask or a ShutdownExecutor
// from the agent goes to the subclass.
//
// Registration, the acknowledged updates and the agent watch are the
// ExecutorSession's (common/executor_session.hpp), the same the SDK's
// executor driver uses: when the agent dies, the task keeps running and the
// executor registers again and again; an agent restarted in its place (same
// work dir, same port) takes it back, and gets the updates it has not
// acknowledged. When no agent has come back after --recovery-timeout, the
// subclass kills the task at once and the executor exits.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <zmq.hpp>

#include "common/executor_session.hpp"
#include "common/loop.hpp"
#include "common/wire.hpp"

namespace spdlog {
class logger;
}

namespace clusternodes::executor {

struct ExecutorFlags {
  std::string agent;  // the agent's executor endpoint, tcp://host:port
  FrameworkID frameworkId;
  TaskID taskId;
  // Kill the task and exit when the agent has been gone this long.
  std::chrono::nanoseconds recoveryTimeout = std::chrono::minutes(15);
  // The agent's process, watched by the session; 0: this process's parent
  // (the agent starts clusternodes-executor itself). A launcher, which
  // outlives the agent that started it, names the agent's pid.
  pid_t agentPid = 0;
  // Where the executor's lines go; null: the process's default logger (a
  // launcher gives each executor one writing to its sandbox's executor.log).
  std::shared_ptr<spdlog::logger> log;
};

// Called once the executor is done (its terminal update acknowledged, a
// shutdown before any task, or the agent gone for good) with the exit code
// the executor's process would have; the session is stopped by then. The
// single-task programs stop their loop; a launcher running many executors
// destroys this one (later, not from inside the call).
using OnExecutorFinished = std::function<void(int exitCode)>;

class TaskExecutor {
 public:
  TaskExecutor(Loop& loop, zmq::context_t& context, ExecutorFlags flags, OnExecutorFinished onFinished);
  virtual ~TaskExecutor();

  Result<void> start();
  // Gives the task up without a terminal update, as when the agent is gone
  // for good: its processes are killed at once and onFinished is called
  // with `exitCode`. For a launcher told to drop the container.
  void abandonTask(int exitCode);
  // The exit code given to onFinished (0 until then).
  int exitCode() const { return exitCode_; }
  const TaskID& taskId() const { return flags_.taskId; }

 protected:
  // The task arrived; task_, sandbox_ and defaultGraceMs_ are set and
  // TASK_STARTING is reported. `container` is what ExecutorRegistered said.
  virtual void launch(wire::ExecutorContainer::Reader container) = 0;
  // Kill the task: the terminal update follows when it has ended. Called
  // for the agent's kills and for a shutdown (with the default grace).
  virtual void kill(int64_t gracePeriodMs) = 0;
  // The agent is gone for good: end the task now, without grace.
  virtual void abandon() = 0;

  void report(TaskState state, TaskReason reason, const std::string& message,
              std::optional<int> exitCode = std::nullopt, std::optional<int> signal = std::nullopt);
  // The variables every task sees, merged over the task's own environment:
  // CLUSTERNODES_SANDBOX (`sandboxPath`, as the task sees it), _TASK_ID,
  // _AGENT_ID, _FRAMEWORK_ID, and its ports as PORT0, PORT1, ... and
  // CLUSTERNODES_PORTS="p0,p1,...".
  std::map<std::string, std::string> taskEnvironment(const std::string& sandboxPath) const;
  void finish(int code);
  spdlog::logger& log() const;

  Loop& loop_;
  ExecutorFlags flags_;
  bool launched_ = false;
  bool shuttingDown_ = false;
  bool terminalReported_ = false;
  TaskInfo task_;
  std::string sandbox_;
  int64_t defaultGraceMs_ = 3000;

 private:
  void onMessage(const wire::Envelope::Reader& envelope);
  void registered(wire::ExecutorRegistered::Reader message);
  void runTask(wire::RunTask::Reader message);

  std::unique_ptr<ExecutorSession> session_;
  // The container ExecutorRegistered described, kept for the task.
  capnp::MallocMessageBuilder container_;
  bool containerKnown_ = false;
  OnExecutorFinished onFinished_;
  bool finished_ = false;
  int exitCode_ = 0;
};

}  // namespace clusternodes::executor
