// Isolator: what keeps a native task to the resources it was given, measures
// what it uses, and leaves nothing of it behind.
//
// A container is one executor run (its id names the run's sandbox too). The
// container holds the task's whole process tree, not the executor: the
// executor joins the container's cgroups just long enough to start the
// command, which inherits them, and returns to the agent's own cgroups. The
// memory limit is then exactly the task's mem, and a task killed by the
// kernel for exceeding it is the task, never its executor.
//
//   cgroups  (--isolation=cgroups) v1 or v2, whichever the host mounts with
//            the cpu and memory controllers: cpu shares in proportion to the
//            task's cpus, a CFS quota when asked, a memory limit, usage from
//            the kernel's counters, and a kill that reaches every process in
//            the cgroup, double-forked ones included.
//   none     (--isolation=none) no limits; usage is summed over the
//            executor's descendants in /proc, and a kill reaches those and
//            their sessions (a process that left both escapes it).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "clusternodes/result.hpp"
#include "common/container_usage.hpp"

namespace clusternodes::agent {

struct ContainerLimits {
  double cpus = 0;                  // cpu shares in proportion (1 cpu: 1024)
  std::optional<double> cpuQuota;   // a hard limit, in cpus, through CFS
  uint64_t memBytes = 0;            // 0: no memory limit
};

struct IsolationOptions {
  std::string isolation = "cgroups";  // "cgroups" or "none"
  std::string cgroupsRoot = "clusternodes";  // the cgroup the containers go under
  bool enableCfs = false;             // a CFS quota equal to each task's cpus
  // The cpus the agent offers, set by the agent from its resources. The
  // containers' parent cgroup weighs that many cpus against the host's other
  // processes, so the tasks together keep what they were given on a busy
  // host; left at the default weight, they would together count as one
  // process. 0 leaves the parent's weight alone.
  double cpus = 0;
};

// Without cgroups, the process a container hangs off: the processes below
// `pid` (its executor's children and whatever they started, in their
// sessions) and, when `inside`, `pid` itself (a task's command, run by the
// launcher: the container has no process of its own above it). 0: none yet.
struct ProcessRoot {
  ProcessRoot(pid_t pid = 0, bool inside = false) : pid(pid), inside(inside) {}  // NOLINT: a bare pid is an executor's
  pid_t pid;
  bool inside;
};

class Isolator {
 public:
  virtual ~Isolator() = default;

  // "cgroups-v1", "cgroups-v2" or "none".
  virtual std::string name() const = 0;
  // Creates the container with its limits.
  virtual Result<void> prepare(const std::string& id, const ContainerLimits& limits) = 0;
  // Changes a container's limits (a framework's executor grows and shrinks
  // with its tasks). Lowering the memory limit below what the container
  // uses fails; the old limit then stays.
  virtual Result<void> update(const std::string& id, const ContainerLimits& limits) = 0;
  // The cgroup directories a process joins to enter the container, and those
  // it returns to afterwards (the agent's own). Empty for none.
  virtual std::vector<std::string> joinDirs(const std::string& id) const = 0;
  virtual std::vector<std::string> returnDirs() const = 0;
  // Where the container's cgroup is, for display ("" for none).
  virtual std::string location(const std::string& id) const = 0;

  // What the container uses now. For none the container is what hangs off
  // `root` (cgroups ignore it).
  virtual Result<ContainerUsage> usage(const std::string& id, ProcessRoot root) const = 0;
  // Sends SIGKILL to every process of the container. Returns how many were
  // found; call again until it finds none.
  virtual size_t killAll(const std::string& id, ProcessRoot root) = 0;
  // Removes the container's cgroups. False while processes remain in them.
  virtual bool remove(const std::string& id) = 0;
  // Removes the empty containers under the root that are not in `active`
  // and were made at least `minAge` ago: those of an agent that died (its
  // executors kill their tasks once it has been gone --recovery-timeout).
  // Another agent's containers are never empty for that long. Returns how
  // many went.
  virtual size_t sweep(const std::set<std::string>& active, std::chrono::seconds minAge) = 0;
};

// The limits of a task with `cpus`, `memMb` and an optional hard cpu limit:
// a quota of `cpuLimit` when set, else of `cpus` when `enableCfs`.
ContainerLimits containerLimits(double cpus, double memMb, std::optional<double> cpuLimit, bool enableCfs);

// The isolator `options` ask for. Fails, with what to do, when cgroups are
// asked for and the host has no usable cgroups or the agent may not use them.
Result<std::unique_ptr<Isolator>> makeIsolator(const IsolationOptions& options);

// The isolator for --isolation=none.
std::unique_ptr<Isolator> makeNoIsolator();

}  // namespace clusternodes::agent
