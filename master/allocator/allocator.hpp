// Allocator: decides which framework is offered which resources.
//
// The master tells the allocator about every change (agents and frameworks
// coming and going, resources handed back, filters, suppress and revive) and
// calls allocate() soon after changes; the allocator answers through the
// offer callback with the resources each framework is offered, per agent and
// role. Offered resources count as allocated to the framework until the master
// hands them back with recoverResources() (declined, rescinded, or a task's
// resources freed) or the agent is removed.
//
// Loop thread only. Time comes from the injected Clock, so filters and
// timeouts are testable without sleeping.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "clusternodes/resources.hpp"
#include "clusternodes/values.hpp"
#include "common/clock.hpp"
#include "master/quota.hpp"

namespace clusternodes::master {

// One offer's worth: resources on one agent, allocated to one of the
// framework's roles.
struct Allocation {
  AgentID agentId;
  std::string role;
  Resources resources;
};

using OfferCallback = std::function<void(const FrameworkID&, std::vector<Allocation>)>;

struct FrameworkOptions {
  std::vector<std::string> roles;  // the roles the framework subscribes to
  bool active = true;              // inactive frameworks get no offers
};

// Read-only figures for /state and /metrics.
struct RoleSummary {
  std::string role;
  double weight = 1;
  double share = 0;      // dominant share of the cluster (its whole subtree)
  Resources allocated;   // cpus, mem, disk and gpus of its subtree
  Resources guarantee;   // quota; empty when none
  Resources limit;
};
struct FrameworkSummary {
  FrameworkID id;
  double share = 0;             // dominant share of the cluster
  bool suppressed = false;
  double waitingSeconds = 0;    // time since it last got an offer while it wanted one
  Resources allocated;
};

// What the allocator holds, for the benchmark's memory figure.
struct AllocatorFootprint {
  size_t agents = 0;
  size_t filters = 0;   // live refuse filters (framework, role, agent)
  size_t bytes = 0;     // per-agent state and filters, approximately
};

class Allocator {
 public:
  virtual ~Allocator() = default;

  virtual void initialize(OfferCallback offerCallback) = 0;

  virtual void addFramework(const FrameworkID& id, const FrameworkOptions& options,
                            const std::map<AgentID, Resources>& used) = 0;
  virtual void removeFramework(const FrameworkID& id) = 0;
  virtual void activateFramework(const FrameworkID& id) = 0;
  virtual void deactivateFramework(const FrameworkID& id) = 0;
  // Its roles, and which of them are suppressed, from now on: a
  // subscription and UPDATE_FRAMEWORK set both exactly. A role it leaves
  // gets no offers, and keeps what it holds charged (share, quota) until
  // that is freed; a role taken out of suppression has its filters cleared.
  virtual void updateFramework(const FrameworkID& id, const std::vector<std::string>& roles,
                               const std::set<std::string>& suppressed) = 0;

  // `used` are resources already held by frameworks on that agent (tasks that
  // survived a master restart).
  virtual void addAgent(const AgentID& id, const std::string& hostname, const Resources& total,
                        const std::map<FrameworkID, Resources>& used) = 0;
  virtual void removeAgent(const AgentID& id) = 0;

  // Hands resources back. With a filter, they are not re-offered to that
  // framework on that agent for filters->refuseSeconds. `role`: the role
  // they were offered to, when the master knows it (an offer's, a task's):
  // that role is uncharged first, then the framework's others in order.
  virtual void recoverResources(const FrameworkID& frameworkId, const AgentID& agentId,
                                const Resources& resources, const std::optional<Filters>& filters,
                                const std::string& role = {}) = 0;

  // The framework turned `from`, allocated to it on the agent, into `to`
  // (RESERVE and UNRESERVE): the agent's total changes the same way.
  virtual void transformAllocation(const FrameworkID& frameworkId, const AgentID& agentId, const Resources& from,
                                   const Resources& to) = 0;

  // Empty `roles` means every role of the framework.
  virtual void suppressOffers(const FrameworkID& id, const std::set<std::string>& roles) = 0;
  virtual void reviveOffers(const FrameworkID& id, const std::set<std::string>& roles) = 0;

  virtual void updateWeights(const std::map<std::string, double>& weights) = 0;
  virtual void updateQuota(const std::string& role, const Quota& quota) = 0;

  // Offers what is free now, through the offer callback, looking only at
  // the agents whose resources, filters or candidates changed since the last
  // call, and those where a quota limit or headroom kept something back
  // (it may be offerable now through changes elsewhere). allocateAll() looks
  // at every agent, as a periodic allocator would.
  virtual void allocate() = 0;
  virtual void allocateAll() = 0;

  virtual std::vector<RoleSummary> roleSummaries() const = 0;
  virtual std::vector<FrameworkSummary> frameworkSummaries() const = 0;
  virtual AllocatorFootprint footprint() const = 0;
};

// The hierarchical DRF allocator.
std::unique_ptr<Allocator> makeDrfAllocator(const Clock& clock);

}  // namespace clusternodes::master
