// The agent's records of what it runs: a task and its executor (Run), a
// framework's own executor with its tasks (FrameworkExecutor), and a task's
// pending status updates (UpdateStream). Private to the agent's sources.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "agent/agent.hpp"

namespace clusternodes::agent {

// Where a run is in its life. The legal moves are canMove()'s (in
// agent_runs.cpp, the one list of them), and Run::moveTo() is the only way
// to make one:
//
//   native, Docker:  kNew -> kQueued -> kStarting -> kLaunched -> kExited -> kDestroyed
//                    (recovered: kNew -> kLaunched; refused or failed to
//                    start: kNew or kQueued -> kExited)
//   a framework's executor's task:  kNew -> kAwaitingExecutor -> kLaunched -> kExited
//                    (from kNew or kAwaitingExecutor -> kExited too)
//
// kNew       made from a launch or a checkpoint; nothing decided yet
// kQueued    waits for a start slot (--max-starting-executors)
// kStarting  its executor was started and holds a start slot
// kAwaitingExecutor  run by its framework's executor, not yet handed to it
// kLaunched  its executor has it (or, native and Docker, gave up starting it)
// kExited    the executor will say no more of the task (it ended, or the
//            executor did, or it never started)
// kDestroyed its container is gone (native and Docker)
enum class RunPhase { kNew, kQueued, kStarting, kAwaitingExecutor, kLaunched, kExited, kDestroyed };

const char* toString(RunPhase phase);
// Whether a run may move from `from` to `to`.
bool canMove(RunPhase from, RunPhase to);

struct Agent::Run {
  FrameworkID frameworkId;
  FrameworkInfo frameworkInfo;
  TaskInfo task;
  TaskState state = TaskState::kStaging;
  RunPhase phase = RunPhase::kNew;
  // The uuid of every update its executor sent that was queued: an executor
  // re-sends what it has not heard acknowledged, also after the framework
  // acknowledged it, and such a re-send must not be forwarded again (an old
  // TASK_STARTING after TASK_RUNNING would move the task back).
  std::set<std::string> executorUpdates;
  std::string sandbox;
  int pid = 0;                     // its executor's
  std::unique_ptr<Timer> registrationTimer;
  std::string executorPeer;
  // Set when a kill was asked for: the grace period the executor gets.
  std::optional<int64_t> killGraceMs;
  std::string containerId;         // also the last part of the sandbox path
  uint64_t memPeak = 0;            // the highest memory seen by sampling

  bool checkpointed = false;       // its task is in the checkpoint
  bool abandoned = false;          // killed because the master removed this agent
  bool recovered = false;          // taken back from a checkpoint after a restart

  // Moves to `to`; an illegal move is a bug, logged and not made.
  bool moveTo(RunPhase to);
  // The executor will say no more of the task.
  bool exited() const { return phase == RunPhase::kExited || phase == RunPhase::kDestroyed; }
  bool killRequested() const { return killGraceMs.has_value(); }

  bool docker() const { return task.docker.has_value(); }
  // Run by its framework's executor (custom()): the run has no process or
  // container of its own; pid, executorPeer and sandbox are the executor's,
  // and containerId names only its checkpoint.
  bool custom() const { return task.executor.has_value(); }
  ExecutorKey executorKey() const { return {frameworkId, task.executor->executorId}; }
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

// A framework's executor (TaskInfo::executor): one per framework and
// executor id, in its own sandbox and container, running every task that
// names it. Its container's limits are its own resources plus its live
// tasks'.
struct Agent::FrameworkExecutor {
  FrameworkID frameworkId;
  FrameworkInfo frameworkInfo;
  ExecutorInfo info;
  std::string containerId;  // also the last part of the sandbox path
  std::string sandbox;
  int pid = 0;
  uint64_t startTime = 0;   // of its process, to tell it from a reused pid
  std::string peer;         // its connection, once registered
  bool exited = false;
  bool recovered = false;   // taken back from a checkpoint after a restart
  bool shuttingDown = false;
  bool registrationTimedOut = false;
  std::set<TaskID> tasks;   // its runs, until forgotten
  std::unique_ptr<Timer> registrationTimer;
  std::unique_ptr<Timer> shutdownTimer;
};

}  // namespace clusternodes::agent
