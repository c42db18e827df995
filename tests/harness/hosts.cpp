#include "tests/harness/hosts.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdexcept>

#include "tests/harness/cluster.hpp"
#include "tests/harness/text.hpp"

namespace clusternodes::testing {

namespace {

constexpr int kSubnets = 200;  // 10.213.1.0/24 .. 10.213.200.0/24

std::string tool(const std::string& name) {
  for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"}) {
    std::string path = dir + name;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  throw std::runtime_error("the hosts harness needs '" + name + "' (iproute2, util-linux, iptables)");
}

ProgramResult command(std::vector<std::string> argv) {
  argv[0] = tool(argv[0]);
  return runProgram(argv, std::chrono::seconds(30));
}

void must(std::vector<std::string> argv) {
  std::string line;
  for (const auto& a : argv) line += (line.empty() ? "" : " ") + a;
  auto result = command(std::move(argv));
  if (result.exitCode != 0) throw std::runtime_error("'" + line + "' failed: " + result.output);
}

// Whether any interface of this machine has an address in 10.213.K.0/24.
bool subnetInUse(int subnet) {
  auto result = command({"ip", "-o", "-4", "addr", "show", "to", "10.213." + std::to_string(subnet) + ".0/24"});
  return result.exitCode != 0 || !result.output.empty();
}

// Takes a subnet no other test holds: returns its lock's descriptor.
int lockSubnet(int subnet) {
  ::mkdir("/tmp/cn-test-nets", 01777);
  std::string path = "/tmp/cn-test-nets/" + std::to_string(subnet);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) return -1;
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

Hosts::Hosts(size_t count) : count_(count) {
  if (::geteuid() != 0) throw std::runtime_error("the hosts harness needs root (network namespaces)");
  if (count == 0 || count > 200) throw std::runtime_error("Hosts: 1 to 200 hosts");
  for (int subnet = 1; subnet <= kSubnets && lockFd_ < 0; ++subnet) {
    int fd = lockSubnet(subnet);
    if (fd < 0) continue;
    subnet_ = subnet;
    removeAll();  // what a crashed test left behind on this subnet
    if (subnetInUse(subnet)) {
      ::close(fd);
      continue;
    }
    lockFd_ = fd;
  }
  if (lockFd_ < 0) throw std::runtime_error("the hosts harness found no free subnet in 10.213.0.0/16");
  try {
    must({"ip", "link", "add", bridgeName(), "type", "bridge"});
    must({"ip", "addr", "add", bridgeIp() + "/24", "dev", bridgeName()});
    must({"ip", "link", "set", bridgeName(), "up"});
    must(forwardRule("-I"));
    for (size_t i = 0; i < count_; ++i) {
      std::string ns = namespaceName(i);
      must({"ip", "netns", "add", ns});
      must({"ip", "link", "add", linkName(i), "type", "veth", "peer", "name", "eth0", "netns", ns});
      must({"ip", "link", "set", linkName(i), "master", bridgeName(), "up"});
      must({"ip", "-n", ns, "addr", "add", ip(i) + "/24", "dev", "eth0"});
      must({"ip", "-n", ns, "link", "set", "eth0", "up"});
      must({"ip", "-n", ns, "link", "set", "lo", "up"});
    }
  } catch (...) {
    removeAll();
    ::close(lockFd_);
    throw;
  }
}

Hosts::~Hosts() {
  removeAll();
  ::close(lockFd_);
}

std::string Hosts::prefix() const { return "cn" + std::to_string(subnet_); }
std::string Hosts::namespaceName(size_t index) const { return prefix() + "-host" + std::to_string(index); }
std::string Hosts::linkName(size_t index) const { return prefix() + "h" + std::to_string(index); }
std::string Hosts::bridgeName() const { return prefix() + "br"; }

std::string Hosts::ip(size_t index) const {
  if (index >= count_) throw std::out_of_range("no host " + std::to_string(index));
  return "10.213." + std::to_string(subnet_) + "." + std::to_string(index + 2);
}

std::string Hosts::bridgeIp() const { return "10.213." + std::to_string(subnet_) + ".1"; }

std::vector<std::string> Hosts::launcher(size_t index) const {
  return {tool("nsenter"), "--net=/run/netns/" + namespaceName(index), "--"};
}

void Hosts::cutOff(size_t index) { must({"ip", "link", "set", linkName(index), "down"}); }

void Hosts::reconnect(size_t index) { must({"ip", "link", "set", linkName(index), "up"}); }

std::vector<std::string> Hosts::forwardRule(const char* action) const {
  return {"iptables", "-w", action, "FORWARD", "-i", bridgeName(), "-o", bridgeName(), "-j", "ACCEPT"};
}

// Everything of this subnet's names, whether this object made it or a test
// that crashed did; what is not there is no error.
void Hosts::removeAll() const {
  while (command(forwardRule("-D")).exitCode == 0) {
  }
  auto namespaces = command({"ip", "netns", "list"});
  for (const auto& line : lines(namespaces.output)) {
    std::string name = line.substr(0, line.find(' '));
    if (name.rfind(prefix() + "-host", 0) == 0) command({"ip", "netns", "del", name});
  }
  // A host link lives on while a process of a crashed test keeps its
  // namespace: it goes by name ("cnKhN@if2: ...").
  auto links = command({"ip", "-o", "link", "show"});
  for (const auto& line : lines(links.output)) {
    auto start = line.find(": ");
    if (start == std::string::npos) continue;
    std::string name = line.substr(start + 2, line.find_first_of("@:", start + 2) - start - 2);
    if (name.rfind(prefix() + "h", 0) == 0) command({"ip", "link", "del", name});
  }
  command({"ip", "link", "del", bridgeName()});
}

}  // namespace clusternodes::testing
