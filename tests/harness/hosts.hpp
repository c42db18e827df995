// Several hosts on one machine, for the tests that need them: each host a
// network namespace with one address on a bridge the test creates, and
// nothing else. The root namespace (this test process) has the bridge's
// own address, so it reaches every host; hosts reach each other through
// the bridge, which an iptables rule lets through Docker's FORWARD policy.
//
//   Hosts hosts(3);                         // 10.213.K.2 .. 10.213.K.4
//   cluster.startAgent(resources, {"--ip=" + hosts.ip(0), ...}, hosts.launcher(0));
//   hosts.cutOff(0);                        // no packet in or out of host 0
//   hosts.reconnect(0);
//
// K is a subnet no other test running at the same time holds (a lock in
// /tmp/cn-test-nets), and one no interface of this machine has an address
// in. Programs enter a host with `nsenter --net=...`, which leaves the
// mount namespace (and so /sys and the cgroup mounts) alone, as agents
// need. Every namespace, link and rule goes in the destructor, and one left
// by a test that crashed goes when its subnet is next taken.
#pragma once

#include <string>
#include <vector>

namespace clusternodes::testing {

class Hosts {
 public:
  explicit Hosts(size_t count);
  ~Hosts();
  Hosts(const Hosts&) = delete;
  Hosts& operator=(const Hosts&) = delete;

  size_t size() const { return count_; }
  // Host `index`'s address, and the bridge's (this process's) address.
  std::string ip(size_t index) const;
  std::string bridgeIp() const;
  // What a program's argv is prefixed with to run on host `index`.
  std::vector<std::string> launcher(size_t index) const;
  // Takes host `index`'s link down (its processes run on, unreachable and
  // reaching nothing, as behind a failed switch port), and up again.
  void cutOff(size_t index);
  void reconnect(size_t index);

 private:
  std::string prefix() const;  // of every name: "cn" + K
  std::string namespaceName(size_t index) const;
  std::string linkName(size_t index) const;
  std::string bridgeName() const;
  std::vector<std::string> forwardRule(const char* action) const;
  void removeAll() const;

  size_t count_ = 0;
  int subnet_ = 0;    // K of 10.213.K.0/24
  int lockFd_ = -1;
};

}  // namespace clusternodes::testing
