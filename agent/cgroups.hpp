// cgroups v1 and v2 for native containers (see isolator.hpp).
//
// Layout: each container is a cgroup named by its id under --cgroups-root
// ("clusternodes" by default):
//   v1: <mount of each hierarchy>/clusternodes/<id>  for cpu, cpuacct,
//       memory, and freezer when mounted;
//   v2: <cgroup2 mount>/clusternodes/<id>, with cpu, memory (and pids)
//       enabled in the subtree_control of the mount and of clusternodes.
// Settings: cpu shares (v1 cpu.shares = 1024 per cpu; v2 cpu.weight mapped
// from those shares), a CFS quota (cpu.cfs_quota_us / cpu.max) over a
// 100 ms period when the limits carry one, and the memory limit
// (memory.limit_in_bytes, and memory.memsw.limit_in_bytes so that swap does
// not stretch it; v2 memory.max with memory.swap.max = 0).
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>

#include "agent/isolator.hpp"

namespace clusternodes::agent {

// What the host mounts, from /proc/self/mountinfo.
struct CgroupMounts {
  std::map<std::string, std::string> v1;  // controller -> mount point
  std::map<std::string, std::string> v1Root;  // controller -> the mount's root within the hierarchy
  std::string v2;                          // the cgroup2 mount point ("" if none)
  std::string v2Root;
};
CgroupMounts parseMountinfo(std::string_view mountinfo);

// /proc/<pid>/cgroup: controller -> path, with "" for the v2 hierarchy.
std::map<std::string, std::string> parseProcCgroup(std::string_view text);

// cpu.weight (1..10000) for v1-style shares (2..262144), the mapping the
// kernel documentation and container runtimes use.
uint64_t sharesToWeight(uint64_t shares);

// The v2 cpu.weight of the containers' parent for an agent offering `cpus`:
// 100 (a default cgroup's weight) per cpu, within 1..10000.
uint64_t parentWeight(double cpus);
uint64_t cpuShares(double cpus);  // 1024 per cpu, at least 2

// Every CFS quota is over this period; the quota for `cpus` is at least 1 ms.
inline constexpr uint64_t kCfsPeriodUs = 100000;
uint64_t cfsQuotaUs(double cpus);

struct CgroupsLayout {
  int version = 0;  // 1 or 2
  // Hierarchies the containers live in: v1 one per distinct mount (cpu,
  // cpuacct, memory, freezer), v2 just the one. Each maps a
  // controller-set name ("cpu", "memory", "unified") to the directory that
  // holds the containers, and the agent's own cgroup there.
  struct Hierarchy {
    std::set<std::string> controllers;
    std::string containers;  // <mount>/<root>
    std::string own;         // the agent's cgroup directory
    std::string mount;
  };
  std::vector<Hierarchy> hierarchies;
};

// Chooses v1 or v2 from what is mounted: v1 when its cpu and memory
// controllers are mounted, else v2 when the cgroup2 mount offers cpu and
// memory. Fails with the reason otherwise.
Result<CgroupsLayout> chooseLayout(const CgroupMounts& mounts, const std::map<std::string, std::string>& own,
                                   const std::string& root, const std::set<std::string>& v2Controllers);

class CgroupsIsolator : public Isolator {
 public:
  explicit CgroupsIsolator(CgroupsLayout layout);

  // Creates the containers' parent cgroups (and on v2 enables the
  // controllers under them), and gives the parent the cpu weight of `cpus`
  // (none when 0).
  Result<void> initialize(double cpus = 0);

  std::string name() const override;
  Result<void> prepare(const std::string& id, const ContainerLimits& limits) override;
  Result<void> update(const std::string& id, const ContainerLimits& limits) override;
  std::vector<std::string> joinDirs(const std::string& id) const override;
  std::vector<std::string> returnDirs() const override;
  std::string location(const std::string& id) const override;
  Result<ContainerUsage> usage(const std::string& id, ProcessRoot root) const override;
  size_t killAll(const std::string& id, ProcessRoot root) override;
  bool remove(const std::string& id) override;
  size_t sweep(const std::set<std::string>& active, std::chrono::seconds minAge) override;

 private:
  // The containers' parent in the hierarchy of `controller` ("" if none).
  std::string containersDir(const std::string& controller) const;
  // The container's directory in the hierarchy that has `controller`.
  std::string dirFor(const std::string& id, const std::string& controller) const;

  CgroupsLayout layout_;
};

}  // namespace clusternodes::agent
