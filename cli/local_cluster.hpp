// What `start`, `status` and `stop` share about the local cluster kept in a
// work dir: finding the dir, locking it, checking and stopping the processes
// of its record.
#pragma once

#include <string>

#include "cli/cluster_record.hpp"
#include "clusternodes/result.hpp"

namespace clusternodes::cli {

// The work dir from --work-dir or the environment (resolveWorkDir()), made
// absolute, and canonical when it exists. With `create`, the directory is
// created first. Fails (kInvalid) without any candidate, kInternal when it
// cannot be created.
Result<std::string> localWorkDir(const std::string& flag, bool create);

// WORK_DIR/cluster.json.
std::string clusterRecordPath(const std::string& workDir);

// An exclusive flock() on WORK_DIR/cluster.lock, held until destruction, so
// that two `start`/`stop` commands on one work dir take turns.
class WorkDirLock {
 public:
  // Blocks until the lock is held. REQUIRES: workDir exists.
  static Result<WorkDirLock> acquire(const std::string& workDir);
  WorkDirLock(WorkDirLock&& other) noexcept;
  WorkDirLock& operator=(WorkDirLock&&) = delete;
  WorkDirLock(const WorkDirLock&) = delete;
  ~WorkDirLock();

 private:
  explicit WorkDirLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// True when the record's master process still runs (with a --work-dir in
// `workDir`) and its /health answers 200 within two seconds. For masters
// elected through ZooKeeper: when its ZooKeeper server and a supervisor
// still run and some master's /health answers 200.
bool clusterIsRunning(const ClusterRecord& record, const std::string& workDir);

// The HTTP URL of the recorded master that leads (/state "leading": true):
// record.http for a single master. Fails (kUnavailable) while none does.
Result<std::string> leadingMasterHttp(const ClusterRecord& record);

// What stopLocalCluster() did.
struct StopSummary {
  int daemonsTerminated = 0;  // ended after SIGTERM
  int daemonsKilled = 0;      // needed SIGKILL
  int leftoversKilled = 0;    // executors and tasks killed afterwards
  int survivors = 0;          // processes still alive at the end
};

// Stops the record's agents, then its master (SIGTERM, up to 10 s each
// group, then SIGKILL), then SIGKILLs the process group of every leftover
// executor or task (selectLeftovers() in processes.hpp) until none remains.
// Masters elected through ZooKeeper are stopped through their supervisors,
// then any master of the work dir still running, then ZooKeeper.
// A pid that no longer runs the expected daemon is left alone. The record
// file is not touched.
StopSummary stopLocalCluster(const ClusterRecord& record, const std::string& workDir);

}  // namespace clusternodes::cli
