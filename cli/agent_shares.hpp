// How `clusternodes start` splits one machine between N local agents, so that
// together they advertise no more than the host has.
//
//   HostCapacity host{.cpus = 8, .memTotalMiB = 16384, .diskFreeMiB = 100000};
//   auto shares = computeAgentShares(host, 2);
//   shares->at(0).toResourcesFlag();  // "cpus:4;mem:7680;disk:25000;ports:[31000-31999]"
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "clusternodes/resources.hpp"
#include "clusternodes/result.hpp"

namespace clusternodes::cli {

// The pool of ports the local agents split between them.
inline constexpr Range kLocalPortPool{31000, 32999};
// Memory left to the host itself before the agents' shares are computed.
inline constexpr double kHostReservedMemMiB = 1024;
// The least memory an agent is given, even on a small host.
inline constexpr int64_t kMinAgentMemMiB = 256;

// What the machine has, as measured by probeHost() (host_probe.hpp).
struct HostCapacity {
  double cpus = 0;         // online processors usable by this process (nproc)
  double memTotalMiB = 0;  // MemTotal of /proc/meminfo
  double diskFreeMiB = 0;  // space available to users on the work dir's file system
};

// One agent's share of the machine.
struct AgentShare {
  double cpus = 0;      // at most three decimals
  int64_t memMiB = 0;
  int64_t diskMiB = 0;
  Range ports;          // inclusive

  // The agent's --resources value: "cpus:1.5;mem:2048;disk:1000;ports:[31000-31999]".
  std::string toResourcesFlag() const;
};

// Splits `pool` into `parts` disjoint, contiguous, consecutive ranges that
// cover it; the first (size % parts) ranges are one port longer.
// Fails (kInvalid) unless 1 <= parts <= the pool's size.
Result<std::vector<Range>> carvePortRanges(Range pool, int parts);

// Each of `agents` agents gets: cpus = max(1, host.cpus / agents) rounded
// down to three decimals; mem = floor((memTotal - 1024) / agents), at least
// 256; disk = floor(diskFree / 2 / agents), at least 0; and its own range of
// `portPool`. Fails (kInvalid) when agents < 1 or the pool is too small.
Result<std::vector<AgentShare>> computeAgentShares(const HostCapacity& host, int agents,
                                                   Range portPool = kLocalPortPool);

}  // namespace clusternodes::cli
