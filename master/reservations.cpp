#include "master/reservations.hpp"

#include <spdlog/spdlog.h>

#include "master/validation.hpp"

namespace clusternodes::master {

Resources asUnreserved(const Resources& resources) {
  Resources out;
  for (const auto& e : resources.entries()) {
    if (e.isRanges) {
      out.addRanges(e.name, e.ranges);
    } else {
      out.addScalar(e.name, e.scalar);
    }
  }
  return out;
}

void applyReservations(const Registry& registry, AgentEntry& agent) {
  Resources reserved = registry.reservations(agent.id);
  if (reserved.empty()) return;
  Resources from = asUnreserved(reserved);
  if (!agent.info.resources.contains(from)) {
    spdlog::warn("agent {} advertises {}, too little for its reservations {}; they are not applied",
                 agent.id.value, agent.info.resources.toString(), reserved.toString());
    return;
  }
  agent.info.resources = agent.info.resources - from + reserved;
}

Result<void> reserveOrUnreserve(MasterContext& ctx, FrameworkEntry& framework, AgentEntry& agent,
                                const std::string& role, Resources& remaining, const Resources& resources,
                                bool reserve) {
  const char* what = reserve ? "RESERVE" : "UNRESERVE";
  if (resources.empty()) return invalid(std::string(what) + " names no resources");
  if (role == kDefaultRole) {
    return invalid(std::string(what) + " needs an offer for a role other than '*'");
  }
  for (const auto& e : resources.entries()) {
    if (e.role != role) {
      return invalid(std::string(what) + " of " + resources.toString() + ": every resource must carry the offer's role '" +
                     role + "'");
    }
  }
  if (auto may = ctx.acls.authorize(AclAction::kReserve, framework.principal, role); !may) {
    ++ctx.state.metrics.aclDenials[aclActionName(AclAction::kReserve)];
    return invalid(std::string(what) + ": " + may.error().message);
  }
  Resources from = reserve ? asUnreserved(resources) : resources;
  Resources to = reserve ? resources : asUnreserved(resources);
  if (!remaining.contains(from)) {
    return invalid(std::string(what) + " of " + resources.toString() + ": the offers hold only " +
                   remaining.toString());
  }
  Resources reserved = ctx.registry.reservations(agent.id);
  if (reserve) {
    reserved += resources;
  } else {
    reserved -= resources;
  }
  if (auto saved = ctx.registry.setReservations(agent.id, reserved); !saved) return saved.error();
  remaining = remaining - from + to;
  agent.info.resources = agent.info.resources - from + to;
  ctx.allocator.transformAllocation(framework.id, agent.id, from, to);
  ++ctx.state.metrics.reservationsChanged;
  spdlog::info("framework {} {} {} on agent {}", framework.id.value, reserve ? "reserved" : "unreserved",
               resources.toString(), agent.id.value);
  return {};
}

}  // namespace clusternodes::master
