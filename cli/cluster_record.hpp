// The record of a local cluster that `clusternodes start` keeps in
// WORK_DIR/cluster.json, and where WORK_DIR is.
//
//   {"master": "127.0.0.1:5050", "http": "http://127.0.0.1:8081",
//    "work_dir": "/home/me/.clusternodes",
//    "pids": {"master": 4242, "agents": [4243, 4244]}}
//
// With masters elected through a local ZooKeeper server (start --masters=3),
// "master" is the zk:// URL, "http" the first master's, and each master is
// recorded with the pid of the `clusternodes supervise` process that keeps
// it running (its own pid changes as it is restarted):
//
//   {"master": "zk://127.0.0.1:2181/clusternodes", "http": "http://127.0.0.1:8081", ...,
//    "pids": {"zookeeper": 4240, "agents": [4244, 4245]},
//    "masters": [{"address": "127.0.0.1:5050", "http": "http://127.0.0.1:8081", "supervisor": 4241}, ...]}
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "clusternodes/result.hpp"

namespace clusternodes::cli {

inline constexpr const char* kClusterRecordFile = "cluster.json";

// One of several masters elected through ZooKeeper.
struct MasterRecord {
  std::string address;    // its ZeroMQ address, HOST:PORT
  std::string http;       // its HTTP base URL, without a trailing '/'
  int supervisorPid = 0;  // the `clusternodes supervise` process restarting it
};

struct ClusterRecord {
  std::string master;  // the master's ZeroMQ address, HOST:PORT; or the masters' zk:// URL
  std::string http;    // the master's HTTP base URL, without a trailing '/'
  std::string workDir;
  int masterPid = 0;  // one master only; 0 with `masters`
  std::vector<int> agentPids;
  // Masters elected through a local ZooKeeper server; empty for one master.
  std::vector<MasterRecord> masters;
  int zooKeeperPid = 0;  // with `masters` only

  bool highlyAvailable() const { return !masters.empty(); }

  // The web UI's address as printed by `start`: http + "/".
  std::string webUrl() const { return http + "/"; }
};

// The record as JSON text (one object, ending in a newline).
std::string serializeClusterRecord(const ClusterRecord& record);

// Parses serializeClusterRecord()'s output. Fails (kInvalid) on malformed
// JSON, a missing or mistyped field, or a pid that is not positive; pids.master
// is required without "masters", pids.zookeeper with them.
Result<ClusterRecord> parseClusterRecord(std::string_view text);

// Reads and parses `path`. Fails with kNotFound when the file does not exist,
// kInvalid when it does not parse, kInternal when it cannot be read.
Result<ClusterRecord> loadClusterRecord(const std::string& path);

// Writes `path` atomically (a temporary file renamed over it).
Result<void> saveClusterRecord(const std::string& path, const ClusterRecord& record);

// The work dir a command uses: `flag` when given, else $CLUSTERNODES_HOME,
// else $HOME/.clusternodes (unset and empty variables count as absent; pass
// the variables' values, or nullptr). Fails (kInvalid) when none is set.
// Pure: the result is not made absolute nor checked.
Result<std::string> resolveWorkDir(const std::string& flag, const char* clusternodesHome, const char* home);

}  // namespace clusternodes::cli
