// What the agent keeps on disk so that a restarted agent (same work dir,
// same boot) carries on where the killed one stopped: its id, and each
// executor run and framework executor it has not finished with.
//
// Changes are staged in memory and written by commit(), which the agent
// calls once at the end of each loop turn: everything one turn changed goes
// to disk in one append (group commit), and nothing the turn acknowledges
// is acknowledged before commit() has succeeded.
//
// Layout under <work dir>/meta:
//   agent.json         {"agent_id", "boot_id"}, replaced whole
//   checkpoint         a snapshot: a header record (format and generation G),
//                      then one record per live run and executor
//   journal-<G>        the records appended since that snapshot
// A record is its payload's length (4 bytes, little-endian), the payload's
// CRC-32 (4 bytes, little-endian), then the payload: a kind byte and
// length-prefixed fields. Recovery reads the snapshot, then the journal up
// to its first torn or corrupt record. Once the journal outgrows the live
// state, commit() writes a new snapshot (generation G+1, replaced whole)
// and starts journal-<G+1>.
//
// There is no fsync: what a power loss could tear is only read back on the
// same boot, and after a reboot the agent starts afresh (a new boot id)
// anyway. A run's sandbox path, executor pid and state, its RunTask message,
// and its status updates not yet acknowledged by the framework (encoded
// StatusUpdate envelopes, oldest first) are kept; a framework executor's
// ExecutorRegistered envelope, sandbox, pid and process start time too.
//
// The layout before this one (meta/runs/<id>/{task.bin,run.json,updates.bin}
// and meta/executors/<id>/{executor.bin,executor.json}) is read once and
// rewritten in this one, so an upgraded agent takes back what the one
// before it ran.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "clusternodes/result.hpp"
#include "clusternodes/values.hpp"
#include "common/file_system.hpp"

namespace clusternodes::agent {

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
  // `files` must outlive this. `onStaged` runs whenever a change is staged
  // (the agent arms its end-of-turn commit there).
  Checkpoints(std::string workDir, FileSystem& files, std::function<void()> onStaged = {});

  // Written at once (it changes only when the agent registers as new).
  Result<void> saveAgent(const AgentCheckpoint& agent);
  // NotFound when there is none.
  Result<AgentCheckpoint> loadAgent();

  // Reads the runs and executors on disk. What cannot be read is skipped
  // with a warning (and its container id added to `broken`); it is gone
  // from disk after the next commit.
  void load(std::vector<std::string>* broken = nullptr);
  const std::map<std::string, RunCheckpoint>& runs() const { return runs_; }
  const std::map<std::string, ExecutorCheckpoint>& executors() const { return executors_; }

  // Staged changes, written by the next commit(). saveRunState and
  // saveUpdates change a run saved before (they do nothing otherwise); the
  // task and the updates stay as they were.
  void saveRun(const RunCheckpoint& run);
  void saveRunState(const std::string& containerId, const std::string& sandbox, int executorPid, TaskState state);
  // Replaces the run's pending status updates (an empty list too: the old
  // ones must not come back).
  void saveUpdates(const std::string& containerId, const std::vector<std::string>& updates);
  void removeRun(const std::string& containerId);
  void saveExecutor(const ExecutorCheckpoint& executor);
  void removeExecutor(const std::string& containerId);

  // Whether changes wait for commit().
  bool staged() const { return !batch_.empty() || compactionDue_; }
  // Writes what is staged. On failure nothing of the batch counts as
  // written; it stays staged and the next commit() writes it (with what was
  // staged since).
  Result<void> commit();

  // Forgets everything, on disk too (after a reboot, the runs are gone).
  void clear();

  // Bytes in the current journal, and snapshots written so far.
  uint64_t journalBytes() const { return journalBytes_; }
  uint64_t snapshots() const { return snapshots_; }

 private:
  void stage(const std::string& payload);
  Result<void> writeSnapshot();
  bool apply(const std::string& payload, std::vector<std::string>* broken);
  void loadLegacy(std::vector<std::string>* broken);
  std::string journalPath(uint64_t generation) const;

  std::string meta_;
  FileSystem& files_;
  std::function<void()> onStaged_;
  std::map<std::string, RunCheckpoint> runs_;
  std::map<std::string, ExecutorCheckpoint> executors_;
  std::string batch_;              // framed records not yet written
  uint64_t generation_ = 0;        // of the snapshot; 0: none written yet
  uint64_t journalBytes_ = 0;      // what journal-<generation_> holds
  uint64_t snapshotBytes_ = 0;
  uint64_t snapshots_ = 0;
  bool compactionDue_ = false;     // the journal has a torn tail, or outgrew the state
};

}  // namespace clusternodes::agent
