// The masters of a local cluster (`clusternodes start`): one master run
// directly, or, with --masters=N, a ZooKeeper server of its own and N
// masters elected through it, each kept running by a `clusternodes
// supervise` process (a deposed leader exits by design).
//
//   auto zk = startLocalZooKeeper(workDir);        // serves when it returns
//   auto ports = chooseMasterPorts(3, 5050, 8081);  // the first at 5050/8081
//   spawnDaemon(superviseArgv(self, "master 2", log, workDir,
//                             masterArgv(binDir, config, (*ports)[1], workDir + "/master-2", zk->url, keys)), log);
#pragma once

#include <string>
#include <vector>

#include "cli/local_keys.hpp"
#include "clusternodes/result.hpp"

namespace clusternodes::cli {

inline constexpr int kMaxLocalMasters = 7;

// Refuses (kInvalid, with the reason) a master count that is not 1, 3, 5 or 7.
Result<void> checkMasterCount(int count);

struct MasterPorts {
  int port = 0;      // ZeroMQ
  int httpPort = 0;  // HTTP and the web UI
};

// Ports for `count` masters on 127.0.0.1: the first at `port` and
// `httpPort` (0: a free one), the others at free ones, all distinct.
Result<std::vector<MasterPorts>> chooseMasterPorts(int count, int port, int httpPort);

// A ZooKeeper server started by startLocalZooKeeper().
struct LocalZooKeeper {
  int pid = 0;
  int port = 0;
  std::string log;  // WORK_DIR/logs/zookeeper.log
  std::string url;  // "zk://127.0.0.1:PORT/clusternodes": the masters' --zk
};

// Starts Debian's ZooKeeper server (common/zookeeper_server.hpp) as a daemon
// with its config and data in WORK_DIR/zookeeper, on a free port of
// 127.0.0.1, and waits until it serves. Fails with kNotFound, saying what to
// install, when ZooKeeper or Java is missing; on a server that does not
// serve within 60 s, kills it and says where its log is.
Result<LocalZooKeeper> startLocalZooKeeper(const std::string& workDir);

// True when `pid` is alive and is the ZooKeeper server of `workDir` (java
// with its zoo.cfg below it).
bool isLocalZooKeeper(int pid, const std::string& workDir);

// A master's command line, authenticating with `keys`. `zkUrl` "" for a
// master without ZooKeeper.
std::vector<std::string> masterArgv(const std::string& binDir, const std::string& configPath,
                                    const MasterPorts& ports, const std::string& masterWorkDir,
                                    const std::string& zkUrl, const LocalKeys& keys);

// `clusternodes supervise` (cli, this program's path) keeping `command`
// running, its log (and the supervisor's lines) in `log`.
std::vector<std::string> superviseArgv(const std::string& cli, const std::string& name, const std::string& log,
                                       const std::string& workDir, const std::vector<std::string>& command);

}  // namespace clusternodes::cli
