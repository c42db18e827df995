// Real ZooKeeper servers for the tests: Debian's zookeeper package on the
// JRE, each with its own config, data dir and port under the test's
// directory (common/zookeeper_server.hpp writes the config).
//
//   TempDir dir;
//   ZooKeeperServer zk(dir.path + "/zk");   // standalone, on a free port
//   auto session = ZooKeeper::open(loop, zk.connectString(), 5s);
#pragma once

#include <signal.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/zookeeper_server.hpp"
#include "tests/harness/cluster.hpp"

namespace clusternodes::testing {

class ZooKeeperServer {
 public:
  // A standalone server on 127.0.0.1 and a free port; returns once it serves.
  explicit ZooKeeperServer(const std::string& dir);
  // A server of an ensemble (config.id, config.ensemble set); start() it.
  // With a launcher (Hosts::launcher), it runs on that host: give it the
  // host's address as config.clientAddress.
  ZooKeeperServer(ZooKeeperServerConfig config, bool start, std::vector<std::string> launcher = {});
  ~ZooKeeperServer();

  std::string connectString() const { return config_.clientAddress + ":" + std::to_string(config_.clientPort); }
  int port() const { return config_.clientPort; }
  // Starts the server (again, on the same port and data).
  void start();
  // Waits until it serves (for an ensemble: until it has a quorum).
  void awaitServing(std::chrono::milliseconds timeout = std::chrono::seconds(60));
  void stop(int signum = SIGKILL);
  bool running() const { return process_ != nullptr; }
  const std::string& logFile() const { return logFile_; }

 private:
  ZooKeeperServerConfig config_;
  std::vector<std::string> launcher_;
  std::string logFile_;
  std::unique_ptr<Process> process_;
};

}  // namespace clusternodes::testing
