// Masters elected through ZooKeeper, for the high-availability tests: each
// with its own ports and work dir under `dir`, on 127.0.0.1 or, through a
// launcher (Hosts::launcher), on another host.
//
//   MasterGroup masters(cluster.dir(), "zk://" + zk.connectString() + "/clusternodes");
//   masters.start();
//   masters.start(hosts.ip(1), hosts.launcher(1));
//   size_t leader = masters.awaitLeader();
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/harness/cluster.hpp"

namespace clusternodes::testing {

class MasterGroup {
 public:
  // `flags` replace the defaults of the same name (a 2 s session timeout,
  // fast agent pings).
  MasterGroup(std::string dir, std::string zkUrl, std::vector<std::string> flags = {});

  // Starts a master; returns its index once its /health answers.
  size_t start(const std::string& ip = "127.0.0.1", const std::vector<std::string>& launcher = {});
  // Starts master `index` again (SIGKILLed first if it runs), with the same
  // ports and work dir, as its supervisor would after it exited.
  void restart(size_t index);
  size_t size() const { return masters_.size(); }

  std::string http(size_t index) const;
  Process& process(size_t index) { return *masters_.at(index).process; }
  // Its /state, null when it does not answer.
  nlohmann::json state(size_t index) const;
  // The indices of the live masters whose /state says they lead.
  std::vector<size_t> leaders() const;
  // The state ("TASK_RUNNING") of task `taskId` in a master's /state, ""
  // when it is not there.
  static std::string taskState(const nlohmann::json& state, const std::string& taskId);
  // Waits for exactly one leader among the live masters; returns it.
  size_t awaitLeader(std::chrono::milliseconds timeout = std::chrono::seconds(30));

 private:
  struct Master {
    std::string ip;
    std::vector<std::string> launcher;
    int port = 0;
    int httpPort = 0;
    int starts = 0;
    std::unique_ptr<Process> process;
  };
  std::string dir_;
  std::string zkUrl_;
  std::vector<std::string> flags_;
  std::vector<Master> masters_;
};

}  // namespace clusternodes::testing
