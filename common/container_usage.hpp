// What a container (one executor run: a task's processes) uses, as the agent
// measures it and the master shows it in /state.
#pragma once

#include <cstdint>

namespace clusternodes {

struct ContainerUsage {
  double cpuUserSeconds = 0;
  double cpuSystemSeconds = 0;
  double cpuSeconds = 0;       // user + system (with cgroups: the kernel's exact total)
  uint64_t memBytes = 0;       // what counts against the memory limit now
  uint64_t memPeakBytes = 0;   // the highest it has been (0: unknown)
  uint64_t memLimitBytes = 0;  // 0: none
  uint64_t oomKills = 0;       // processes the kernel killed at the limit
  uint32_t processes = 0;
  double timestamp = 0;        // when it was measured, seconds since the epoch
};

}  // namespace clusternodes
