// `clusternodes stop`: ends the local cluster and whatever it left running.
#include <filesystem>
#include <iostream>

#include "cli/commands.hpp"
#include "cli/local_cluster.hpp"

namespace clusternodes::cli {

int runStop(const StopOptions& options) {
  auto workDir = localWorkDir(options.workDir, /*create=*/false);
  if (!workDir) {
    std::cerr << "clusternodes: " << workDir.error().message << "\n";
    return workDir.error().code == ErrorCode::kInvalid ? 2 : 1;
  }
  const std::string& dir = *workDir;
  std::error_code ec;
  std::string recordPath = clusterRecordPath(dir);
  if (!std::filesystem::exists(recordPath, ec)) {
    std::cout << "no local cluster is running\n";
    return 0;
  }
  auto lock = WorkDirLock::acquire(dir);
  if (!lock) {
    std::cerr << "clusternodes: " << lock.error().message << "\n";
    return 1;
  }
  auto record = loadClusterRecord(recordPath);
  if (!record) {
    if (record.error().code == ErrorCode::kNotFound) {  // another stop was first
      std::cout << "no local cluster is running\n";
      return 0;
    }
    // Without pids, the daemons cannot be told apart; their tasks still can.
    std::cerr << "clusternodes: " << record.error().message << "; stopping only the tasks left in " << dir << "\n";
    ClusterRecord empty;
    empty.workDir = dir;
    record = empty;
  }

  std::string masters = record->highlyAvailable()
                            ? std::to_string(record->masters.size()) + " masters, their ZooKeeper server"
                            : "the master";
  std::cerr << "stopping " << record->agentPids.size() << (record->agentPids.size() == 1 ? " agent" : " agents")
            << ", " << masters << " and their tasks in " << dir << " ...\n";
  auto summary = stopLocalCluster(*record, dir);
  std::filesystem::remove(recordPath, ec);
  if (summary.survivors > 0) {
    std::cerr << "clusternodes: " << summary.survivors << " processes of the cluster survived SIGKILL\n";
    return 1;
  }
  std::cout << "stopped\n";
  return 0;
}

}  // namespace clusternodes::cli
