// A dominant-resource-fairness allocator.
//
// Each round walks the agents with free resources; for each, roles are taken
// in order of weighted dominant share (share / weight, then name), and within
// a role frameworks in order of dominant share (then id). The first framework
// that is active, not suppressed for the role and not filtered on the agent
// is offered everything free on the agent that the role may use (unreserved
// plus reserved for the role). Quota limits cap what a role is offered.
#include <algorithm>
#include <cmath>
#include <iterator>
#include <unordered_map>

#include "master/allocator/allocator.hpp"

namespace clusternodes::master {
namespace {

const char* const kShareKinds[] = {"cpus", "mem", "disk", "gpus"};

double dominantShare(const Resources& allocated, const Resources& total) {
  double share = 0;
  for (const char* kind : kShareKinds) {
    double t = total.scalar(kind);
    if (t > 0) share = std::max(share, allocated.scalar(kind) / t);
  }
  return share;
}

struct Filter {
  Resources refused;
  double expires = 0;
};

struct AgentState {
  std::string hostname;
  Resources total;
  Resources allocated;
};

struct FrameworkState {
  FrameworkOptions options;
  std::set<std::string> suppressedRoles;
  std::map<AgentID, Resources> allocated;
  // The same, split by the role each part is accounted to.
  std::map<AgentID, std::map<std::string, Resources>> allocatedByRole;
  Resources allocatedTotal;
  std::map<AgentID, Filter> filters;
  double lastOffered = 0;
};

class DrfAllocator final : public Allocator {
 public:
  explicit DrfAllocator(const Clock& clock) : clock_(clock) {}

  void initialize(OfferCallback offerCallback) override { offerCallback_ = std::move(offerCallback); }

  void addFramework(const FrameworkID& id, const FrameworkOptions& options,
                    const std::map<AgentID, Resources>& used) override {
    auto& fw = frameworks_[id];
    fw.options = options;
    if (fw.options.roles.empty()) fw.options.roles.push_back(kDefaultRole);
    fw.lastOffered = clock_.now();
    for (const auto& [agentId, resources] : used) allocate(id, fw, agentId, resources);
  }

  void removeFramework(const FrameworkID& id) override {
    auto it = frameworks_.find(id);
    if (it == frameworks_.end()) return;
    for (const auto& [agentId, resources] : it->second.allocated) {
      auto agent = agents_.find(agentId);
      if (agent != agents_.end()) agent->second.allocated -= resources;
    }
    for (const auto& [agentId, byRole] : it->second.allocatedByRole) {
      for (const auto& [role, resources] : byRole) roleAllocated_[role] -= resources;
    }
    frameworks_.erase(it);
  }

  void activateFramework(const FrameworkID& id) override {
    if (auto* fw = find(id)) {
      fw->options.active = true;
      fw->lastOffered = clock_.now();
    }
  }

  void deactivateFramework(const FrameworkID& id) override {
    if (auto* fw = find(id)) fw->options.active = false;
  }

  void addAgent(const AgentID& id, const std::string& hostname, const Resources& total,
                const std::map<FrameworkID, Resources>& used) override {
    auto& agent = agents_[id];
    agent.hostname = hostname;
    agent.total = total;
    agent.allocated = Resources();
    clusterTotal_ += total;
    for (const auto& [frameworkId, resources] : used) {
      if (auto* fw = find(frameworkId)) {
        allocate(frameworkId, *fw, id, resources);
      } else {
        agent.allocated += resources;  // held by a framework not yet back
      }
    }
  }

  void removeAgent(const AgentID& id) override {
    auto it = agents_.find(id);
    if (it == agents_.end()) return;
    clusterTotal_ -= it->second.total;
    for (auto& [frameworkId, fw] : frameworks_) {
      auto held = fw.allocated.find(id);
      if (held != fw.allocated.end()) {
        fw.allocatedTotal -= held->second;
        fw.allocated.erase(held);
      }
      auto byRole = fw.allocatedByRole.find(id);
      if (byRole != fw.allocatedByRole.end()) {
        for (const auto& [role, resources] : byRole->second) roleAllocated_[role] -= resources;
        fw.allocatedByRole.erase(byRole);
      }
      fw.filters.erase(id);
    }
    agents_.erase(it);
  }

  void recoverResources(const FrameworkID& frameworkId, const AgentID& agentId,
                        const Resources& resources, const std::optional<Filters>& filters) override {
    auto agent = agents_.find(agentId);
    if (agent == agents_.end() || resources.empty()) return;
    auto* fw = find(frameworkId);
    Resources recovered = resources;
    if (fw != nullptr) {
      auto held = fw->allocated.find(agentId);
      if (held != fw->allocated.end()) {
        held->second -= recovered;
        if (held->second.empty()) fw->allocated.erase(held);
      }
      fw->allocatedTotal -= recovered;
      unchargeRoles(*fw, agentId, recovered);
      if (filters && filters->refuseSeconds > 0) {
        auto& filter = fw->filters[agentId];
        double expires = clock_.now() + filters->refuseSeconds;
        if (filter.expires < clock_.now()) filter.refused = Resources();
        filter.refused += recovered;
        filter.expires = std::max(filter.expires, expires);
      }
    }
    agent->second.allocated -= recovered;
  }

  void suppressOffers(const FrameworkID& id, const std::set<std::string>& roles) override {
    auto* fw = find(id);
    if (fw == nullptr) return;
    if (roles.empty()) {
      fw->suppressedRoles.insert(fw->options.roles.begin(), fw->options.roles.end());
    } else {
      fw->suppressedRoles.insert(roles.begin(), roles.end());
    }
  }

  void reviveOffers(const FrameworkID& id, const std::set<std::string>& roles) override {
    auto* fw = find(id);
    if (fw == nullptr) return;
    if (roles.empty()) {
      fw->suppressedRoles.clear();
    } else {
      for (const auto& r : roles) fw->suppressedRoles.erase(r);
    }
    fw->filters.clear();
    fw->lastOffered = clock_.now();
  }

  void updateWeights(const std::map<std::string, double>& weights) override {
    for (const auto& [role, weight] : weights) weights_[role] = weight;
  }

  void updateQuota(const std::string& role, const Quota& quota) override { quotas_[role] = quota; }

  void allocate() override {
    if (!offerCallback_) return;
    double now = clock_.now();
    std::map<FrameworkID, std::vector<Allocation>> offers;
    for (auto& [agentId, agent] : agents_) {
      Resources available = agent.total - agent.allocated;
      if (available.empty()) continue;
      for (const auto& role : sortedRoles()) {
        Resources offerable = role == kDefaultRole ? available.unreserved() : available.unreserved() + available.reserved(role);
        offerable = clipToLimit(role, offerable);
        if (offerable.empty()) continue;
        std::optional<FrameworkID> chosen;
        for (const auto& frameworkId : sortedFrameworks(role)) {
          auto& fw = frameworks_.at(frameworkId);
          if (!fw.options.active || fw.suppressedRoles.count(role) != 0) continue;
          auto filter = fw.filters.find(agentId);
          if (filter != fw.filters.end()) {
            if (filter->second.expires <= now) {
              fw.filters.erase(filter);
            } else if (filter->second.refused.contains(offerable)) {
              continue;
            }
          }
          chosen = frameworkId;
          break;
        }
        if (!chosen) continue;
        auto& fw = frameworks_.at(*chosen);
        allocate(*chosen, fw, agentId, offerable, role);
        fw.lastOffered = now;
        offers[*chosen].push_back({agentId, role, offerable});
        break;
      }
    }
    for (auto& [frameworkId, allocations] : offers) offerCallback_(frameworkId, std::move(allocations));
  }

  std::vector<RoleSummary> roleSummaries() const override {
    std::vector<RoleSummary> out;
    for (const auto& role : knownRoles()) {
      RoleSummary s;
      s.role = role;
      s.weight = weight(role);
      auto it = roleAllocated_.find(role);
      if (it != roleAllocated_.end()) s.allocated = it->second;
      s.share = dominantShare(s.allocated, clusterTotal_);
      out.push_back(std::move(s));
    }
    return out;
  }

  std::vector<FrameworkSummary> frameworkSummaries() const override {
    std::vector<FrameworkSummary> out;
    double now = clock_.now();
    for (const auto& [id, fw] : frameworks_) {
      FrameworkSummary s;
      s.id = id;
      s.share = dominantShare(fw.allocatedTotal, clusterTotal_);
      s.suppressed = fw.suppressedRoles.size() >= fw.options.roles.size();
      s.waitingSeconds = (fw.options.active && !s.suppressed) ? now - fw.lastOffered : 0;
      s.allocated = fw.allocatedTotal;
      out.push_back(std::move(s));
    }
    return out;
  }

 private:
  FrameworkState* find(const FrameworkID& id) {
    auto it = frameworks_.find(id);
    return it == frameworks_.end() ? nullptr : &it->second;
  }

  // Allocations without an offer's role (used resources at recovery) are
  // accounted to the framework's first role.
  void allocate(const FrameworkID& id, FrameworkState& fw, const AgentID& agentId, const Resources& resources,
                const std::string& role = "") {
    auto agent = agents_.find(agentId);
    if (agent != agents_.end()) agent->second.allocated += resources;
    fw.allocated[agentId] += resources;
    fw.allocatedTotal += resources;
    const std::string& accountedTo = role.empty() ? fw.options.roles.front() : role;
    fw.allocatedByRole[agentId][accountedTo] += resources;
    roleAllocated_[accountedTo] += resources;
  }

  // Takes `resources` handed back on `agentId` off the roles that hold them.
  void unchargeRoles(FrameworkState& fw, const AgentID& agentId, Resources resources) {
    auto byRole = fw.allocatedByRole.find(agentId);
    if (byRole == fw.allocatedByRole.end()) return;
    for (auto it = byRole->second.begin(); it != byRole->second.end() && !resources.empty();) {
      Resources part = it->second - (it->second - resources);  // what of `resources` this role holds
      it->second -= part;
      resources -= part;
      roleAllocated_[it->first] -= part;
      it = it->second.empty() ? byRole->second.erase(it) : std::next(it);
    }
    if (byRole->second.empty()) fw.allocatedByRole.erase(byRole);
  }

  double weight(const std::string& role) const {
    auto it = weights_.find(role);
    return it == weights_.end() ? 1.0 : it->second;
  }

  Resources clipToLimit(const std::string& role, const Resources& offerable) const {
    auto quota = quotas_.find(role);
    if (quota == quotas_.end() || quota->second.limit.empty()) return offerable;
    Resources allocated;
    if (auto it = roleAllocated_.find(role); it != roleAllocated_.end()) allocated = it->second;
    Resources clipped;
    for (const auto& e : offerable.entries()) {
      if (e.isRanges) {
        clipped.addRanges(e.name, e.ranges, e.role);
        continue;
      }
      // A kind the limit does not name is unlimited. The room is shared by
      // every role's entry of the kind (reserved and unreserved cpus alike).
      double limit = quota->second.limit.scalar(e.name);
      double room = limit > 0 ? std::max(0.0, limit - allocated.scalar(e.name) - clipped.scalar(e.name)) : e.scalar;
      clipped.addScalar(e.name, std::min(room, e.scalar), e.role);
    }
    return clipped;
  }

  std::set<std::string> knownRoles() const {
    std::set<std::string> roles;
    for (const auto& [id, fw] : frameworks_) roles.insert(fw.options.roles.begin(), fw.options.roles.end());
    return roles;
  }

  std::vector<std::string> sortedRoles() const {
    std::vector<std::pair<double, std::string>> keyed;
    for (const auto& role : knownRoles()) {
      auto it = roleAllocated_.find(role);
      double share = it == roleAllocated_.end() ? 0 : dominantShare(it->second, clusterTotal_);
      keyed.emplace_back(share / weight(role), role);
    }
    std::sort(keyed.begin(), keyed.end());
    std::vector<std::string> out;
    for (auto& [share, role] : keyed) out.push_back(role);
    return out;
  }

  std::vector<FrameworkID> sortedFrameworks(const std::string& role) const {
    std::vector<std::pair<double, FrameworkID>> keyed;
    for (const auto& [id, fw] : frameworks_) {
      if (std::find(fw.options.roles.begin(), fw.options.roles.end(), role) == fw.options.roles.end()) continue;
      keyed.emplace_back(dominantShare(fw.allocatedTotal, clusterTotal_), id);
    }
    std::sort(keyed.begin(), keyed.end());
    std::vector<FrameworkID> out;
    for (auto& [share, id] : keyed) out.push_back(id);
    return out;
  }

  const Clock& clock_;
  OfferCallback offerCallback_;
  std::map<AgentID, AgentState> agents_;
  std::map<FrameworkID, FrameworkState> frameworks_;
  std::map<std::string, Resources> roleAllocated_;
  std::map<std::string, double> weights_;
  std::map<std::string, Quota> quotas_;
  Resources clusterTotal_;
};

}  // namespace

std::unique_ptr<Allocator> makeDrfAllocator(const Clock& clock) { return std::make_unique<DrfAllocator>(clock); }

}  // namespace clusternodes::master
