#include "cli/agent_shares.hpp"

#include <algorithm>
#include <cmath>

#include "cli/table.hpp"

namespace clusternodes::cli {

std::string AgentShare::toResourcesFlag() const {
  return "cpus:" + formatAmount(cpus) + ";mem:" + std::to_string(memMiB) + ";disk:" + std::to_string(diskMiB) +
         ";ports:[" + std::to_string(ports.begin) + "-" + std::to_string(ports.end) + "]";
}

Result<std::vector<Range>> carvePortRanges(Range pool, int parts) {
  if (pool.end < pool.begin) return invalid("the port pool is empty");
  uint64_t size = pool.end - pool.begin + 1;
  if (parts < 1) return invalid("cannot split ports between " + std::to_string(parts) + " agents");
  if (static_cast<uint64_t>(parts) > size) {
    return invalid("cannot give " + std::to_string(parts) + " agents a port each from " + std::to_string(size) +
                   " ports");
  }
  uint64_t base = size / static_cast<uint64_t>(parts);
  uint64_t extra = size % static_cast<uint64_t>(parts);
  std::vector<Range> out;
  uint64_t next = pool.begin;
  for (uint64_t i = 0; i < static_cast<uint64_t>(parts); ++i) {
    uint64_t length = base + (i < extra ? 1 : 0);
    out.push_back({next, next + length - 1});
    next += length;
  }
  return out;
}

Result<std::vector<AgentShare>> computeAgentShares(const HostCapacity& host, int agents, Range portPool) {
  if (agents < 1) return invalid("need at least one agent, not " + std::to_string(agents));
  auto ports = carvePortRanges(portPool, agents);
  if (!ports) return ports.error();

  double n = agents;
  double cpus = std::max(1.0, std::floor(host.cpus / n * 1000.0) / 1000.0);
  auto mem = std::max<int64_t>(kMinAgentMemMiB,
                               static_cast<int64_t>(std::floor((host.memTotalMiB - kHostReservedMemMiB) / n)));
  auto disk = std::max<int64_t>(0, static_cast<int64_t>(std::floor(host.diskFreeMiB / 2.0 / n)));

  std::vector<AgentShare> out;
  for (const auto& range : *ports) out.push_back({cpus, mem, disk, range});
  return out;
}

}  // namespace clusternodes::cli
