#include "cli/local_masters.hpp"

#include <signal.h>

#include <algorithm>
#include <filesystem>

#include "cli/processes.hpp"
#include "common/zookeeper_server.hpp"

namespace clusternodes::cli {
namespace {

constexpr const char* kLocalIp = "127.0.0.1";
constexpr auto kZooKeeperStartTimeout = std::chrono::seconds(60);

}  // namespace

Result<void> checkMasterCount(int count) {
  std::string flag = "--masters=" + std::to_string(count) + ": ";
  if (count < 1) return invalid(flag + "at least one master is needed");
  if (count > kMaxLocalMasters) {
    return invalid(flag + "at most " + std::to_string(kMaxLocalMasters) + " masters run on one machine");
  }
  if (count % 2 == 0) {
    return invalid(flag + "an even number of masters survives no more failures than one fewer; use " +
                   std::to_string(count - 1) + " or " + std::to_string(count + 1));
  }
  return {};
}

Result<std::vector<MasterPorts>> chooseMasterPorts(int count, int port, int httpPort) {
  // Two more candidates than needed: one or two may equal the fixed ports.
  auto free = pickFreePorts(2 * count + 2);
  if (!free) return free.error();
  std::vector<int> candidates;
  for (int p : *free) {
    if (p != port && p != httpPort) candidates.push_back(p);
  }
  size_t next = 0;
  std::vector<MasterPorts> out;
  for (int i = 0; i < count; ++i) {
    MasterPorts m;
    m.port = (i == 0 && port != 0) ? port : candidates.at(next++);
    m.httpPort = (i == 0 && httpPort != 0) ? httpPort : candidates.at(next++);
    out.push_back(m);
  }
  return out;
}

Result<LocalZooKeeper> startLocalZooKeeper(const std::string& workDir) {
  auto port = pickFreePorts(1);
  if (!port) return port.error();
  ZooKeeperServerConfig config;
  config.dir = workDir + "/zookeeper";
  config.clientAddress = kLocalIp;
  config.clientPort = port->front();
  auto argv = prepareZooKeeperServer(config);
  if (!argv) return argv.error();
  LocalZooKeeper zk;
  zk.port = config.clientPort;
  zk.log = workDir + "/logs/zookeeper.log";
  zk.url = "zk://" + std::string(kLocalIp) + ":" + std::to_string(zk.port) + "/clusternodes";
  auto pid = spawnDaemon(*argv, zk.log);
  if (!pid) return pid.error();
  zk.pid = *pid;
  auto serving = waitForZooKeeperServer(kLocalIp, zk.port, kZooKeeperStartTimeout);
  if (!serving) {
    ::kill(zk.pid, SIGKILL);
    waitUntilGone({zk.pid}, std::chrono::seconds(3));
    return Error{ErrorCode::kUnavailable, "ZooKeeper did not serve at " + std::string(kLocalIp) + ":" +
                                              std::to_string(zk.port) + " (see " + zk.log + ")"};
  }
  return zk;
}

bool isLocalZooKeeper(int pid, const std::string& workDir) {
  if (pid <= 0) return false;
  auto info = readProcess(pid);
  if (!info || info->state == 'Z' || info->state == 'X' || info->argv.empty()) return false;
  return programName(*info) == "java" && pathIsUnder(info->argv.back(), workDir);
}

std::vector<std::string> masterArgv(const std::string& binDir, const std::string& configPath,
                                    const MasterPorts& ports, const std::string& masterWorkDir,
                                    const std::string& zkUrl, const LocalKeys& keys) {
  std::vector<std::string> argv = {binDir + "/clusternodes-master", "--config=" + configPath,
                                   std::string("--ip=") + kLocalIp, "--port=" + std::to_string(ports.port),
                                   "--http-port=" + std::to_string(ports.httpPort), "--work-dir=" + masterWorkDir};
  if (!zkUrl.empty()) argv.push_back("--zk=" + zkUrl);
  for (auto& flag : keys.masterFlags()) argv.push_back(std::move(flag));
  return argv;
}

std::vector<std::string> superviseArgv(const std::string& cli, const std::string& name, const std::string& log,
                                       const std::string& workDir, const std::vector<std::string>& command) {
  std::vector<std::string> argv = {cli, "supervise", "--name=" + name, "--log=" + log, "--work-dir=" + workDir,
                                   "--"};
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

}  // namespace clusternodes::cli
