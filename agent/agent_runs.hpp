// The agent's records of what it runs: a task (Run), an executor with its
// tasks (Executor), and a task's pending status updates (UpdateStream).
// Private to the agent's sources.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "agent/agent.hpp"

namespace clusternodes::agent {

// Where a run (a task on this agent) is in its life. The legal moves are
// canMove()'s (in agent_runs.cpp, the one list of them), and Run::moveTo()
// is the only way to make one:
//
//   kNew -> kAwaitingExecutor -> kLaunched -> kExited
//   (refused: kNew -> kExited; killed or its executor gone before it had
//   the task: kAwaitingExecutor -> kExited; recovered: kNew ->
//   kAwaitingExecutor, or kExited when it had ended)
//
// kNew       made from a launch or a checkpoint; nothing decided yet
// kAwaitingExecutor  its executor has not been sent it yet (not started,
//            waiting for a start slot, or not registered)
// kLaunched  its executor was sent it
// kExited    its executor will say no more of it: it ended, or the executor
//            did, or it never started
enum class RunPhase { kNew, kAwaitingExecutor, kLaunched, kExited };

const char* toString(RunPhase phase);
// Whether a run may move from `from` to `to`.
bool canMove(RunPhase from, RunPhase to);

// The agent runs every task under an executor (Agent::Executor below); each
// task is a Run.
struct Agent::Run {
  FrameworkID frameworkId;
  FrameworkInfo frameworkInfo;
  TaskInfo task;
  // The user it runs as (Agent::runAs), found when it arrived; unset: the
  // agent's own.
  std::optional<UserIds> user;
  TaskState state = TaskState::kStaging;
  RunPhase phase = RunPhase::kNew;
  // The uuid of every update its executor sent that was queued: an executor
  // re-sends what it has not heard acknowledged, also after the framework
  // acknowledged it, and such a re-send must not be forwarded again (an old
  // TASK_STARTING after TASK_RUNNING would move the task back).
  std::set<std::string> executorUpdates;
  std::string sandbox;             // its executor's
  int pid = 0;                     // its executor's
  // Set when a kill was asked for: the grace period the executor gets.
  std::optional<int64_t> killGraceMs;
  // Its built-in executor's container (also the last part of the sandbox
  // path); for a framework executor's task, it names only its checkpoint.
  std::string containerId;
  uint64_t memPeak = 0;            // the highest memory seen by sampling

  bool checkpointed = false;       // its task is in the checkpoint
  bool abandoned = false;          // killed because the master removed this agent
  bool recovered = false;          // taken back from a checkpoint after a restart

  // Moves to `to`; an illegal move is a bug, logged and not made.
  bool moveTo(RunPhase to);
  // The executor will say no more of the task.
  bool exited() const { return phase == RunPhase::kExited; }
  bool killRequested() const { return killGraceMs.has_value(); }

  bool docker() const { return task.docker.has_value(); }
  // Run by its framework's own executor (TaskInfo::executor), not by a
  // built-in one.
  bool custom() const { return task.executor.has_value(); }
  // Its executor: the framework's, or the built-in one whose id is the
  // task's.
  ExecutorKey executorKey() const {
    return {frameworkId, custom() ? task.executor->executorId : ExecutorID{task.taskId.value}};
  }
  // The Docker container a Docker task runs as.
  std::string containerName() const { return "clusternodes-" + containerId; }
};

struct Agent::UpdateStream {
  explicit UpdateStream(TimeSource& time) : retry(time) {}
  FrameworkID frameworkId;
  std::deque<TaskStatus> pending;
  std::chrono::nanoseconds backoff{};
  bool inFlight = false;  // the head was sent and is retried until acknowledged
  Timer retry;
};

// Where an executor is in its life:
//   kQueued -> kStarted -> kRegistered -> kExited (kQueued or kStarted ->
//   kExited too; recovered: kStarted, until it registers again)
// kQueued     waits for a start slot (--max-starting-executors)
// kStarted    its process was started (or taken back), not registered yet
// kRegistered it registered from `peer`; its tasks are sent there
// kExited     it ended (or never started); the record goes right after
enum class ExecutorPhase { kQueued, kStarted, kRegistered, kExited };

// An executor: one per framework and executor id, in its own sandbox and
// container, running the tasks that name it. A built-in one runs one task
// and its id is the task's; a framework's own (TaskInfo::executor) runs
// every task that names it. Every kind registers, gets its tasks, kills and
// shutdown, and reports its tasks' states the same way; only what starts it
// (its kind's containerizer) and what its container holds differ. Its
// container's limits are its own resources (none for a built-in one) plus
// its live tasks'.
struct Agent::Executor {
  FrameworkID frameworkId;
  FrameworkInfo frameworkInfo;
  ExecutorInfo info;
  ExecutorKind kind = ExecutorKind::kCustom;
  ExecutorPhase phase = ExecutorPhase::kQueued;
  std::string containerId;  // also the last part of the sandbox path
  std::string sandbox;
  // The user it and its tasks run as; unset: the agent's own.
  std::optional<UserIds> user;
  int pid = 0;
  uint64_t startTime = 0;   // of its process, to tell it from a reused pid
  std::string peer;         // its connection, once registered
  bool starting = false;    // holds a start slot: none of its tasks runs yet
  bool recovered = false;   // taken back from a checkpoint after a restart
  bool shuttingDown = false;
  // Registered by task id, as built-in executors of earlier releases do
  // (still running after an upgrade): it gets LaunchCommand and
  // KillCommand instead of ExecutorRegistered, RunTask and KillTask.
  bool byTask = false;
  std::set<TaskID> tasks;   // its runs, until forgotten
  std::unique_ptr<Timer> registrationTimer;
  std::unique_ptr<Timer> shutdownTimer;

  bool builtIn() const { return kind != ExecutorKind::kCustom; }
  bool exited() const { return phase == ExecutorPhase::kExited; }
  ExecutorKey key() const { return {frameworkId, info.executorId}; }
};

}  // namespace clusternodes::agent
