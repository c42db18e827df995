// Running a ZooKeeper server of Debian's `zookeeper` package (on the JRE)
// with a config of our own: for `clusternodes start --masters=3` and for the
// tests, which never touch the system's /etc/zookeeper or /var/lib/zookeeper.
//
//   ZooKeeperServerConfig config{dir, "127.0.0.1", port};
//   auto argv = prepareZooKeeperServer(config);  // writes DIR/zoo.cfg
//   ... spawn *argv with its output in a log file ...
//   waitForZooKeeperServer("127.0.0.1", port, std::chrono::seconds(30));
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "clusternodes/result.hpp"

namespace clusternodes {

struct ZooKeeperServerConfig {
  std::string dir;  // its config, data and logs
  std::string clientAddress = "127.0.0.1";
  int clientPort = 2181;
  // An ensemble: this server's id (1..N) and every server's
  // "HOST:PEER_PORT:ELECTION_PORT", server i at index i-1. Empty: standalone.
  int id = 0;
  std::vector<std::string> ensemble;
  // ZooKeeper's tick: sessions may time out between 2 and 120 ticks, and
  // the server ends an expired session at the next tick, so a failover
  // takes the session timeout plus up to a tick. 250 ms allows the 1 s
  // session timeout of a fast failover, and the 10 s default.
  int tickMs = 250;
};

// Where Debian's package puts the server; empty when it is not installed.
std::string zooKeeperJar();

// Writes DIR/zoo.cfg (and DIR/data/myid for an ensemble) and returns the
// command that runs the server in the foreground.
Result<std::vector<std::string>> prepareZooKeeperServer(const ZooKeeperServerConfig& config);

// The server's mode ("standalone", "leader", "follower") as its `srvr`
// command tells it; kUnavailable when it does not answer within `timeout`
// or does not serve yet (an ensemble without quorum).
Result<std::string> zooKeeperServerMode(const std::string& host, int port, std::chrono::milliseconds timeout);

// Polls zooKeeperServerMode until the server serves or `timeout` passes.
Result<std::string> waitForZooKeeperServer(const std::string& host, int port, std::chrono::milliseconds timeout);

}  // namespace clusternodes
