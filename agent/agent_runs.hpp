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
#include "common/process.hpp"

namespace clusternodes::agent {

struct Agent::Run {
  FrameworkID frameworkId;
  FrameworkInfo frameworkInfo;
  TaskInfo task;
  TaskState state = TaskState::kStaging;
  // The uuid of every update its executor sent that was queued: an executor
  // re-sends what it has not heard acknowledged, also after the framework
  // acknowledged it, and such a re-send must not be forwarded again (an old
  // TASK_STARTING after TASK_RUNNING would move the task back).
  std::set<std::string> executorUpdates;
  std::string sandbox;
  std::unique_ptr<ChildProcess> process;  // the executor
  int pid = 0;
  bool queued = false;     // waiting for a start slot
  bool starting = false;   // holds a start slot
  std::unique_ptr<Timer> registrationTimer;
  std::string executorPeer;
  bool executorExited = false;
  bool killRequested = false;
  bool delivered = false;          // sent to its framework's executor
  int64_t killGraceMs = -1;
  std::string containerId;         // also the last part of the sandbox path
  bool sandboxCreated = false;
  bool containerPrepared = false;  // its cgroups exist
  bool destroyed = false;
  uint64_t memPeak = 0;            // the highest memory seen by sampling

  bool checkpointed = false;       // its task is in the checkpoint (meta/runs)
  bool abandoned = false;          // killed because the master removed this agent
  bool recovered = false;          // taken back from a checkpoint after a restart
  std::optional<uint64_t> executorStart;  // the recovered executor's start time

  bool docker() const { return task.docker.has_value(); }
  // Run by its framework's executor (custom()): the run has no process or
  // container of its own; pid, executorPeer and sandbox are the executor's,
  // `executorExited` means the executor will say no more of the task (it
  // ended, or the executor did), and containerId names only its checkpoint.
  bool custom() const { return task.executor.has_value(); }
  ExecutorKey executorKey() const { return {frameworkId, task.executor->executorId}; }
  // The Docker container a Docker task runs as.
  std::string containerName() const { return "clusternodes-" + containerId; }
};

struct Agent::UpdateStream {
  explicit UpdateStream(Loop& loop) : retry(loop) {}
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
  std::unique_ptr<ChildProcess> process;
  int pid = 0;
  uint64_t startTime = 0;   // of its process, to tell it from a reused pid
  std::string peer;         // its connection, once registered
  bool exited = false;
  bool containerPrepared = false;
  bool destroyed = false;
  bool recovered = false;   // taken back from a checkpoint after a restart
  bool shuttingDown = false;
  bool registrationTimedOut = false;
  std::set<TaskID> tasks;   // its runs, until forgotten
  std::unique_ptr<Timer> registrationTimer;
  std::unique_ptr<Timer> shutdownTimer;
};

}  // namespace clusternodes::agent
