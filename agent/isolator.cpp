#include "agent/isolator.hpp"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <set>
#include <sstream>

#include "agent/cgroups.hpp"
#include "common/cgroup_files.hpp"
#include "common/process.hpp"

namespace clusternodes::agent {
namespace {

// The root's descendants (and the root, when it is inside), and every
// process in a session one of them leads: what --isolation=none counts as
// the container.
std::vector<ProcessEntry> containerProcesses(const std::vector<ProcessEntry>& all, ProcessRoot root) {
  pid_t executorPid = root.pid;
  std::multimap<pid_t, size_t> children;
  for (size_t i = 0; i < all.size(); ++i) children.emplace(all[i].ppid, i);
  std::set<pid_t> members;
  std::vector<pid_t> frontier = {executorPid};
  while (!frontier.empty()) {
    pid_t parent = frontier.back();
    frontier.pop_back();
    auto [begin, end] = children.equal_range(parent);
    for (auto it = begin; it != end; ++it) {
      if (members.insert(all[it->second].pid).second) frontier.push_back(all[it->second].pid);
    }
  }
  std::vector<ProcessEntry> out;
  for (const auto& p : all) {
    if (p.pid == executorPid) {
      if (root.inside) out.push_back(p);
      continue;
    }
    // A process that left its parent stays in its session: the executor's
    // own session is not the container's, a command's is.
    bool sessionOfMember = p.session == executorPid ? root.inside : members.count(p.session) != 0;
    if (members.count(p.pid) != 0 || sessionOfMember) out.push_back(p);
  }
  return out;
}

class NoIsolator : public Isolator {
 public:
  std::string name() const override { return "none"; }
  Result<void> prepare(const std::string&, const ContainerLimits&) override { return {}; }
  Result<void> update(const std::string&, const ContainerLimits&) override { return {}; }
  std::vector<std::string> joinDirs(const std::string&) const override { return {}; }
  std::vector<std::string> returnDirs() const override { return {}; }
  std::string location(const std::string&) const override { return ""; }

  Result<ContainerUsage> usage(const std::string&, ProcessRoot root) const override {
    ContainerUsage usage;
    if (root.pid <= 0) return usage;
    // One sampling pass asks for every container in a row: read /proc once
    // for all of them, not once per container.
    auto now = std::chrono::steady_clock::now();
    if (now - snapshotTime_ > std::chrono::milliseconds(100)) {
      snapshot_ = listProcesses();
      snapshotTime_ = now;
    }
    double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
    uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    for (const auto& p : containerProcesses(snapshot_, root)) {
      if (p.state == 'Z') continue;
      usage.cpuUserSeconds += static_cast<double>(p.userTicks) / tick;
      usage.cpuSystemSeconds += static_cast<double>(p.systemTicks) / tick;
      usage.memBytes += p.rssPages * page;
      ++usage.processes;
    }
    usage.cpuSeconds = usage.cpuUserSeconds + usage.cpuSystemSeconds;
    return usage;
  }

  size_t killAll(const std::string&, ProcessRoot root) override {
    if (root.pid <= 0) return 0;
    size_t found = 0;
    for (const auto& p : containerProcesses(listProcesses(), root)) {
      if (p.state == 'Z') continue;
      ::kill(p.pid, SIGKILL);
      ++found;
    }
    return found;
  }

  bool remove(const std::string&) override { return true; }
  size_t sweep(const std::set<std::string>&, std::chrono::seconds) override { return 0; }

 private:
  mutable std::vector<ProcessEntry> snapshot_;
  mutable std::chrono::steady_clock::time_point snapshotTime_;
};

}  // namespace

ContainerLimits containerLimits(double cpus, double memMb, std::optional<double> cpuLimit, bool enableCfs) {
  ContainerLimits limits;
  limits.cpus = cpus;
  if (cpuLimit) {
    limits.cpuQuota = *cpuLimit;
  } else if (enableCfs && cpus > 0) {
    limits.cpuQuota = cpus;
  }
  limits.memBytes = memMb > 0 ? static_cast<uint64_t>(memMb * 1024 * 1024) : 0;
  return limits;
}

std::unique_ptr<Isolator> makeNoIsolator() { return std::make_unique<NoIsolator>(); }

Result<std::unique_ptr<Isolator>> makeIsolator(const IsolationOptions& options) {
  if (options.isolation == "none") return makeNoIsolator();
  if (options.isolation != "cgroups") {
    return invalid("--isolation: '" + options.isolation + "' is neither cgroups nor none");
  }
  if (options.cgroupsRoot.empty() || options.cgroupsRoot.find("..") != std::string::npos ||
      options.cgroupsRoot.front() == '/') {
    return invalid("--cgroups-root: '" + options.cgroupsRoot + "' must be a relative path without '..'");
  }
  auto mountinfo = cgroup::read("/proc/self", "mountinfo");
  if (!mountinfo) return internalError("cannot read /proc/self/mountinfo");
  auto mounts = parseMountinfo(*mountinfo);
  auto own = parseProcCgroup(cgroup::read("/proc/self", "cgroup").value_or(""));
  std::set<std::string> v2Controllers;
  if (!mounts.v2.empty()) {
    std::istringstream words(cgroup::read(mounts.v2, "cgroup.controllers").value_or(""));
    for (std::string word; words >> word;) v2Controllers.insert(word);
  }
  auto layout = chooseLayout(mounts, own, options.cgroupsRoot, v2Controllers);
  if (!layout) return layout.error();
  auto isolator = std::make_unique<CgroupsIsolator>(std::move(*layout));
  if (auto ready = isolator->initialize(options.cpus); !ready) return ready.error();
  return std::unique_ptr<Isolator>(std::move(isolator));
}

}  // namespace clusternodes::agent
