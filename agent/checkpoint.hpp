// What the agent keeps on disk so that a restarted agent (same work dir,
// same boot) carries on where the killed one stopped: its id, and each
// executor run it has not finished with.
//
// Layout under <work dir>/meta (each file replaced atomically: written
// beside, then renamed over it):
//   agent.json                  {"agent_id", "boot_id"}
//   runs/<run uuid>/task.bin    the RunTask message that launched it
//   runs/<run uuid>/run.json    {"sandbox", "executor_pid", "state"}
//   runs/<run uuid>/updates.bin the task's status updates its framework has
//                               not acknowledged, oldest first, each an
//                               encoded StatusUpdate envelope after its
//                               length (4 bytes, little-endian)
//   executors/<container id>/executor.bin  a framework's executor: an encoded
//                               ExecutorRegistered envelope (its info and
//                               framework)
//   executors/<container id>/executor.json {"sandbox", "pid", "start_time"}
// A run's directory goes once the agent has forgotten the run; a task of a
// framework's executor is a run too, whose sandbox is the executor's.
#pragma once

#include <string>
#include <vector>

#include "clusternodes/result.hpp"
#include "clusternodes/values.hpp"

namespace clusternodes::agent {

// Writes `bytes` to `path` so that a killed agent leaves the old or the new
// content, never a mix: a temporary file beside it, then rename. There is no
// fsync: what a power loss could tear is only read back on the same boot,
// and after a reboot the agent starts afresh (a new boot id) anyway.
Result<void> writeAtomically(const std::string& path, const std::string& bytes);

struct AgentCheckpoint {
  AgentID agentId;
  std::string bootId;
};

struct RunCheckpoint {
  std::string containerId;  // the run uuid
  std::string runTask;      // the encoded RunTask envelope
  std::string sandbox;
  int executorPid = 0;
  TaskState state = TaskState::kStaging;
  std::vector<std::string> updates;  // encoded StatusUpdate envelopes
};

struct ExecutorCheckpoint {
  std::string containerId;
  std::string info;  // the encoded ExecutorRegistered envelope
  std::string sandbox;
  int pid = 0;
  uint64_t startTime = 0;  // the process's start time (processStartTime)
};

class Checkpoints {
 public:
  explicit Checkpoints(std::string workDir);

  Result<void> saveAgent(const AgentCheckpoint& agent) const;
  // NotFound when there is none.
  Result<AgentCheckpoint> loadAgent() const;

  Result<void> saveRun(const RunCheckpoint& run) const;
  // Rewrites only run.json (the pid and state change; the task does not).
  Result<void> saveRunState(const RunCheckpoint& run) const;
  // Replaces the run's pending status updates (an empty list is written
  // too: the old one must not come back).
  Result<void> saveUpdates(const std::string& containerId, const std::vector<std::string>& updates) const;
  void removeRun(const std::string& containerId) const;
  // Every run checkpointed; unreadable ones are skipped with a warning and
  // listed in `broken`.
  std::vector<RunCheckpoint> loadRuns(std::vector<std::string>* broken = nullptr) const;
  Result<void> saveExecutor(const ExecutorCheckpoint& executor) const;
  void removeExecutor(const std::string& containerId) const;
  std::vector<ExecutorCheckpoint> loadExecutors() const;
  // Forgets everything (after a reboot, the runs are gone).
  void clear() const;

 private:
  std::string meta_;
};

}  // namespace clusternodes::agent
