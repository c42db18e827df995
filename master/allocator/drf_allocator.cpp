// The hierarchical DRF allocator.
//
// What it keeps:
// - Agents by dense index, each with its total, allocated and free resources,
//   and its refuse filters: two bitsets by client (a *full* filter refuses all
//   the client's role could ever be offered there; a *partial* one refuses
//   less and is checked against what is free) and the filters themselves.
// - Frameworks, each a client of the Sorter in every role it subscribes to.
// - Filters grouped into generations: one generation per client, expiry time
//   and refused resources, listing the agents it covers, so that a framework
//   declining a thousand identical offers at once costs one generation, and
//   an expiry or a revive touches exactly the filters it ends.
// - The agents that changed since the last allocation (dirty), and those
//   where quota kept back resources a client could use.
//
// allocate() looks at the dirty agents only; allocateAll() at all of them.
// For each agent, first the roles still short of their quota guarantee are
// served (up to the guarantee), then every client in DRF order. A client is
// offered everything on the agent its role may use: unreserved resources plus
// those reserved for the role or an ancestor, within its roles' quota limits,
// and leaving unallocated enough unreserved resources for the guarantees
// other roles still miss (headroom). The quota arithmetic (limits,
// guarantees, headroom) is RoleQuotas, in role_quotas.hpp.
#include <algorithm>
#include <cmath>
#include <iterator>
#include <queue>
#include <unordered_map>

#include "master/allocator/allocator.hpp"
#include "master/allocator/role_quotas.hpp"
#include "master/allocator/sorter.hpp"

namespace clusternodes::master {
namespace {

constexpr uint32_t kNone = UINT32_MAX;

// A growable bitset indexed by client.
class Bits {
 public:
  bool test(uint32_t i) const {
    size_t word = i / 64;
    return word < words_.size() && ((words_[word] >> (i % 64)) & 1U) != 0;
  }
  void set(uint32_t i) {
    size_t word = i / 64;
    if (word >= words_.size()) words_.resize(word + 1, 0);
    words_[word] |= uint64_t{1} << (i % 64);
  }
  void reset(uint32_t i) {
    size_t word = i / 64;
    if (word < words_.size()) words_[word] &= ~(uint64_t{1} << (i % 64));
  }
  void clear() { words_.clear(); }
  size_t bytes() const { return words_.capacity() * sizeof(uint64_t); }

 private:
  std::vector<uint64_t> words_;
};

struct FilterEntry {
  uint32_t client = 0;
  uint32_t generation = 0;
  bool full = false;
};

struct Generation {
  uint32_t client = kNone;  // kNone: free slot
  uint64_t serial = 0;      // tells a live generation from an older one in the same slot
  double expires = 0;
  Resources refused;
  std::vector<uint32_t> agents;
};

struct AgentState {
  bool used = false;
  AgentID id;
  std::string hostname;
  Resources total;
  Resources allocated;
  Resources free;            // total - allocated
  bool hasReservations = false;  // in total
  Bits fullFilters;
  Bits partialFilters;
  std::vector<FilterEntry> filters;  // sorted by client
  uint32_t fullFilterCount = 0;
  uint32_t rank = 0;  // position in id order
  bool dirty = false;
};

struct ClientState {
  uint32_t framework = kNone;
  Sorter::RoleIndex role = Sorter::kRoot;
  bool suppressed = false;
  // False: a role the framework left (updateFramework) that still holds
  // resources; it gets no offers, and goes once they are freed.
  bool subscribed = true;
  std::unordered_map<uint32_t, Resources> allocated;  // by agent
  std::vector<uint32_t> generations;                  // live filter generations
  uint32_t lastGeneration = kNone;
};

struct FrameworkState {
  bool used = false;
  FrameworkID id;
  FrameworkOptions options;
  // One per role, in options.roles order; then those of roles it left
  // that still hold resources.
  std::vector<uint32_t> clients;
  uint32_t leftRoles = 0;  // clients of roles it left (subscribed = false)
  double lastOffered = 0;  // when it last got an offer, or began to want one
};

class DrfAllocator final : public Allocator {
 public:
  explicit DrfAllocator(const Clock& clock) : clock_(clock) {}

  void initialize(OfferCallback offerCallback) override { offerCallback_ = std::move(offerCallback); }

  // ---------------------------------------------------------- frameworks

  void addFramework(const FrameworkID& id, const FrameworkOptions& options,
                    const std::map<AgentID, Resources>& used) override {
    if (frameworkIndex_.count(id.value) != 0) removeFramework(id);
    uint32_t index = takeSlot(frameworks_, freeFrameworks_);
    auto& fw = frameworks_[index];
    fw = FrameworkState();
    fw.used = true;
    fw.id = id;
    fw.options = options;
    if (fw.options.roles.empty()) fw.options.roles.push_back(kDefaultRole);
    fw.lastOffered = clock_.now();
    frameworkIndex_[id.value] = index;
    for (const auto& role : fw.options.roles) fw.clients.push_back(addClient(index, role));
    quotas_.refreshIfRolesChanged();
    for (const auto& [agentId, resources] : used) {
      auto agent = agentIndex_.find(agentId.value);
      if (agent == agentIndex_.end()) continue;
      // Held already, counted in the agent's allocation at addAgent.
      charge(fw.clients.front(), agent->second, resources, /*toAgent=*/false);
    }
    if (fw.options.active) markAllAgentsDirty();
  }

  void removeFramework(const FrameworkID& id) override {
    auto found = frameworkIndex_.find(id.value);
    if (found == frameworkIndex_.end()) return;
    uint32_t index = found->second;
    auto& fw = frameworks_[index];
    for (uint32_t client : fw.clients) {
      clearFilters(client);
      auto& state = clients_[client];
      for (auto& [agentIndex, resources] : state.allocated) {
        auto& agent = agents_[agentIndex];
        agent.allocated -= resources;
        agent.free += resources;
        freeUnreserved_ += Scalars::of(resources.unreserved());
        markDirty(agentIndex);
      }
      state = ClientState();
      sorter_.removeClient(client);
    }
    frameworkIndex_.erase(found);
    fw = FrameworkState();
    freeFrameworks_.push_back(index);
  }

  void activateFramework(const FrameworkID& id) override {
    auto* fw = find(id);
    if (fw == nullptr || fw->options.active) return;
    fw->options.active = true;
    fw->lastOffered = clock_.now();
    for (uint32_t client : fw->clients) sorter_.setActive(client, offerable(clients_[client]));
    markAllAgentsDirty();
  }

  void deactivateFramework(const FrameworkID& id) override {
    auto* fw = find(id);
    if (fw == nullptr) return;
    fw->options.active = false;
    for (uint32_t client : fw->clients) sorter_.setActive(client, false);
  }

  void updateFramework(const FrameworkID& id, const std::vector<std::string>& roles,
                       const std::set<std::string>& suppressed) override {
    auto found = frameworkIndex_.find(id.value);
    if (found == frameworkIndex_.end()) return;
    uint32_t index = found->second;
    auto& fw = frameworks_[index];
    std::vector<std::string> wanted = roles.empty() ? std::vector<std::string>{kDefaultRole} : roles;
    std::map<std::string, uint32_t> had;  // its clients by role
    for (uint32_t client : fw.clients) had[sorter_.path(clients_[client].role)] = client;
    std::vector<uint32_t> clients;
    for (const auto& role : wanted) {
      auto client = had.find(role);
      if (client == had.end()) {
        clients.push_back(addClient(index, role));
        continue;
      }
      if (!clients_[client->second].subscribed) --fw.leftRoles;  // rejoined
      clients_[client->second].subscribed = true;
      clients.push_back(client->second);
      had.erase(client);
    }
    // The roles it leaves get no more offers; what they hold stays theirs
    // (their share, their quota) until it is freed.
    for (const auto& [role, client] : had) {
      clearFilters(client);
      bool wasSubscribed = clients_[client].subscribed;
      if (clients_[client].allocated.empty()) {
        if (!wasSubscribed) --fw.leftRoles;
        clients_[client] = ClientState();
        sorter_.removeClient(client);
        continue;
      }
      if (wasSubscribed) ++fw.leftRoles;
      clients_[client].subscribed = false;
      clients.push_back(client);
    }
    fw.clients = std::move(clients);
    fw.options.roles = std::move(wanted);
    for (uint32_t client : fw.clients) {
      auto& state = clients_[client];
      bool suppress = state.subscribed && suppressed.count(sorter_.path(state.role)) != 0;
      if (state.suppressed && !suppress) clearFilters(client);  // revived
      state.suppressed = suppress;
      sorter_.setActive(client, fw.options.active && offerable(state));
    }
    quotas_.refreshIfRolesChanged();
    fw.lastOffered = clock_.now();
    markAllAgentsDirty();
  }

  // -------------------------------------------------------------- agents

  void addAgent(const AgentID& id, const std::string& hostname, const Resources& total,
                const std::map<FrameworkID, Resources>& used) override {
    if (agentIndex_.count(id.value) != 0) removeAgent(id);
    uint32_t index = takeSlot(agents_, freeAgents_);
    auto& agent = agents_[index];
    agent = AgentState();
    agent.used = true;
    agent.id = id;
    agent.hostname = hostname;
    agent.total = total;
    agent.free = total;
    agent.hasReservations = !total.reservationRoles().empty();
    agentIndex_[id.value] = index;
    if (!orderStale_) addedAgents_.push_back(index);
    clusterTotal_ += Scalars::of(total);
    freeUnreserved_ += Scalars::of(total.unreserved());
    sorter_.setTotal(clusterTotal_);
    for (const auto& [frameworkId, resources] : used) {
      auto* fw = find(frameworkId);
      if (fw != nullptr) {
        charge(fw->clients.front(), index, resources, /*toAgent=*/true);
      } else {
        // Held by a framework that has not come back yet.
        agent.allocated += resources;
        agent.free = agent.total - agent.allocated;
        freeUnreserved_ -= Scalars::of(resources.unreserved());
      }
    }
    agent.dirty = true;
    dirtyAgents_.push_back(index);
  }

  void removeAgent(const AgentID& id) override {
    auto found = agentIndex_.find(id.value);
    if (found == agentIndex_.end()) return;
    uint32_t index = found->second;
    auto& agent = agents_[index];
    for (auto& fw : frameworks_) {
      if (!fw.used) continue;
      for (uint32_t client : fw.clients) {
        auto held = clients_[client].allocated.find(index);
        if (held == clients_[client].allocated.end()) continue;
        Resources resources = held->second;
        sorter_.subtract(client, Scalars::of(resources));
        clients_[client].allocated.erase(held);
      }
      dropLeftRoles(fw);
    }
    clusterTotal_ -= Scalars::of(agent.total);
    freeUnreserved_ -= Scalars::of(agent.free.unreserved());
    sorter_.setTotal(clusterTotal_);
    // Its filters stay listed in their generations; the entries go with it.
    agentIndex_.erase(found);
    agent = AgentState();
    freeAgents_.push_back(index);
    orderStale_ = true;
  }

  // ----------------------------------------------------------- resources

  void recoverResources(const FrameworkID& frameworkId, const AgentID& agentId, const Resources& resources,
                        const std::optional<Filters>& filters, const std::string& role) override {
    auto found = agentIndex_.find(agentId.value);
    if (found == agentIndex_.end() || resources.empty()) return;
    uint32_t agentIndex = found->second;
    auto& agent = agents_[agentIndex];
    Resources recovered = resources;
    std::vector<std::pair<uint32_t, Resources>> taken;  // by client
    if (auto* fw = find(frameworkId)) {
      auto takeFrom = [&](uint32_t client) {
        auto held = clients_[client].allocated.find(agentIndex);
        if (held == clients_[client].allocated.end() || recovered.empty()) return;
        Resources part = held->second - (held->second - recovered);  // what of `recovered` it holds
        if (part.empty()) return;
        uncharge(client, agentIndex, part);
        recovered -= part;
        taken.emplace_back(client, std::move(part));
      };
      // The role that held them first, when it is known; then the others.
      uint32_t first = kNone;
      if (!role.empty() && fw->clients.size() > 1) {
        for (uint32_t client : fw->clients) {
          if (sorter_.path(clients_[client].role) == role) first = client;
        }
      }
      if (first != kNone) takeFrom(first);
      for (uint32_t client : fw->clients) {
        if (client != first) takeFrom(client);
      }
    }
    // Whatever no role of the framework held (a framework not back yet).
    if (!recovered.empty()) {
      Resources part = agent.allocated - (agent.allocated - recovered);
      agent.allocated -= part;
      agent.free = agent.total - agent.allocated;
      freeUnreserved_ += Scalars::of(part.unreserved());
    }
    markDirty(agentIndex);
    if (filters && filters->refuseSeconds > 0) {
      double expires = clock_.now() + filters->refuseSeconds;
      for (auto& [client, refused] : taken) {
        if (clients_[client].subscribed) addFilter(agentIndex, client, refused, expires);
      }
    }
    if (auto* fw = find(frameworkId)) dropLeftRoles(*fw);
  }

  void transformAllocation(const FrameworkID& frameworkId, const AgentID& agentId, const Resources& from,
                           const Resources& to) override {
    auto found = agentIndex_.find(agentId.value);
    auto* fw = find(frameworkId);
    if (found == agentIndex_.end() || fw == nullptr) return;
    uint32_t agentIndex = found->second;
    auto& agent = agents_[agentIndex];
    for (uint32_t client : fw->clients) {
      auto held = clients_[client].allocated.find(agentIndex);
      if (held == clients_[client].allocated.end() || !held->second.contains(from)) continue;
      uncharge(client, agentIndex, from);
      clusterTotal_ -= Scalars::of(agent.total);
      freeUnreserved_ -= Scalars::of(agent.free.unreserved());
      agent.total = agent.total - from + to;
      agent.free = agent.total - agent.allocated;
      agent.hasReservations = !agent.total.reservationRoles().empty();
      clusterTotal_ += Scalars::of(agent.total);
      freeUnreserved_ += Scalars::of(agent.free.unreserved());
      sorter_.setTotal(clusterTotal_);
      charge(client, agentIndex, to, /*toAgent=*/true);
      refreshFullFilters(agentIndex);
      markDirty(agentIndex);
      return;
    }
  }

  // ------------------------------------------------------ suppress, revive

  void suppressOffers(const FrameworkID& id, const std::set<std::string>& roles) override {
    auto* fw = find(id);
    if (fw == nullptr) return;
    for (uint32_t client : fw->clients) {
      if (!roles.empty() && roles.count(sorter_.path(clients_[client].role)) == 0) continue;
      clients_[client].suppressed = true;
      sorter_.setActive(client, false);
    }
  }

  void reviveOffers(const FrameworkID& id, const std::set<std::string>& roles) override {
    auto* fw = find(id);
    if (fw == nullptr) return;
    for (uint32_t client : fw->clients) {
      if (!roles.empty() && roles.count(sorter_.path(clients_[client].role)) == 0) continue;
      if (!clients_[client].subscribed) continue;
      clients_[client].suppressed = false;
      sorter_.setActive(client, fw->options.active);
      clearFilters(client);
    }
    fw->lastOffered = clock_.now();
    markAllAgentsDirty();
  }

  // ---------------------------------------------------- weights and quota

  void updateWeights(const std::map<std::string, double>& weights) override {
    for (const auto& [role, weight] : weights) {
      if (weight > 0) sorter_.setWeight(sorter_.role(role), weight);
    }
    quotas_.refreshIfRolesChanged();
  }

  void updateQuota(const std::string& role, const Quota& quota) override {
    quotas_.set(sorter_.role(role), quota);
    markAllAgentsDirty();
  }

  // ------------------------------------------------------------ allocate

  void allocate() override { run(false); }
  void allocateAll() override { run(true); }

  // ----------------------------------------------------------- summaries

  std::vector<RoleSummary> roleSummaries() const override {
    std::vector<RoleSummary> out;
    for (Sorter::RoleIndex r = 1; r < sorter_.roleCount(); ++r) {
      RoleSummary s;
      s.role = sorter_.path(r);
      s.weight = sorter_.weight(r);
      s.share = sorter_.roleShare(r);
      for (uint32_t c = 0; c < clients_.size(); ++c) {
        if (clients_[c].framework == kNone || !sorter_.within(clients_[c].role, r)) continue;
        for (const auto& [agentIndex, resources] : clients_[c].allocated) s.allocated += resources;
      }
      if (const auto* q = quotas_.find(r)) {
        s.guarantee = q->quota.guarantee;
        s.limit = q->quota.limit;
      }
      out.push_back(std::move(s));
    }
    std::sort(out.begin(), out.end(), [](const RoleSummary& a, const RoleSummary& b) { return a.role < b.role; });
    return out;
  }

  std::vector<FrameworkSummary> frameworkSummaries() const override {
    std::vector<FrameworkSummary> out;
    double now = clock_.now();
    for (const auto& fw : frameworks_) {
      if (!fw.used) continue;
      FrameworkSummary s;
      s.id = fw.id;
      Resources allocated = allocatedTo(fw);
      s.share = Scalars::of(allocated).dominantShare(clusterTotal_);
      s.suppressed = std::all_of(fw.clients.begin(), fw.clients.end(),
                                 [&](uint32_t c) { return !offerable(clients_[c]); });
      s.waitingSeconds = (fw.options.active && !s.suppressed) ? now - fw.lastOffered : 0;
      s.allocated = std::move(allocated);
      out.push_back(std::move(s));
    }
    std::sort(out.begin(), out.end(),
              [](const FrameworkSummary& a, const FrameworkSummary& b) { return a.id.value < b.id.value; });
    return out;
  }

  AllocatorFootprint footprint() const override {
    AllocatorFootprint f;
    for (const auto& agent : agents_) {
      if (!agent.used) continue;
      ++f.agents;
      f.filters += agent.filters.size();
      f.bytes += sizeof(AgentState) + agent.fullFilters.bytes() + agent.partialFilters.bytes() +
                 agent.filters.capacity() * sizeof(FilterEntry);
    }
    for (const auto& g : generations_) {
      f.bytes += sizeof(Generation) + g.agents.capacity() * sizeof(uint32_t);
    }
    return f;
  }

 private:
  template <typename T>
  static uint32_t takeSlot(std::vector<T>& slots, std::vector<uint32_t>& freeSlots) {
    if (!freeSlots.empty()) {
      uint32_t index = freeSlots.back();
      freeSlots.pop_back();
      return index;
    }
    slots.emplace_back();
    return static_cast<uint32_t>(slots.size() - 1);
  }

  FrameworkState* find(const FrameworkID& id) {
    auto it = frameworkIndex_.find(id.value);
    return it == frameworkIndex_.end() ? nullptr : &frameworks_[it->second];
  }

  void markDirty(uint32_t agentIndex) {
    auto& agent = agents_[agentIndex];
    if (agent.dirty) return;
    agent.dirty = true;
    dirtyAgents_.push_back(agentIndex);
  }

  void markAllAgentsDirty() { allDirty_ = true; }

  // A new client of framework `framework` in `role`, active as the
  // framework is.
  uint32_t addClient(uint32_t framework, const std::string& role) {
    Sorter::RoleIndex roleIndex = sorter_.role(role);
    uint32_t client = sorter_.addClient(frameworks_[framework].id.value, roleIndex);
    if (client >= clients_.size()) clients_.resize(client + 1);
    clients_[client] = ClientState();
    clients_[client].framework = framework;
    clients_[client].role = roleIndex;
    sorter_.setActive(client, frameworks_[framework].options.active);
    return client;
  }

  // Whether the client may be offered resources while its framework is
  // active: a role it subscribes to, not suppressed.
  static bool offerable(const ClientState& client) { return client.subscribed && !client.suppressed; }

  // After resources were freed: the clients of roles the framework left
  // that hold nothing now go.
  void dropLeftRoles(FrameworkState& fw) {
    if (fw.leftRoles == 0) return;
    auto left = [&](uint32_t client) {
      if (clients_[client].subscribed || !clients_[client].allocated.empty()) return false;
      --fw.leftRoles;
      clearFilters(client);
      clients_[client] = ClientState();
      sorter_.removeClient(client);
      return true;
    };
    fw.clients.erase(std::remove_if(fw.clients.begin(), fw.clients.end(), left), fw.clients.end());
  }

  // Counts `resources` as allocated to `client` on the agent (and, when
  // toAgent, takes them out of the agent's free resources).
  void charge(uint32_t client, uint32_t agentIndex, const Resources& resources, bool toAgent) {
    auto& state = clients_[client];
    state.allocated[agentIndex] += resources;
    Scalars amount = Scalars::of(resources);
    sorter_.add(client, amount);
    if (toAgent) {
      auto& agent = agents_[agentIndex];
      agent.allocated += resources;
      agent.free -= resources;
      freeUnreserved_ -= agent.hasReservations ? Scalars::of(resources.unreserved()) : amount;
    }
  }

  void uncharge(uint32_t client, uint32_t agentIndex, const Resources& resources) {
    auto& state = clients_[client];
    auto held = state.allocated.find(agentIndex);
    if (held != state.allocated.end()) {
      held->second -= resources;
      if (held->second.empty()) state.allocated.erase(held);
    }
    Scalars amount = Scalars::of(resources);
    sorter_.subtract(client, amount);
    auto& agent = agents_[agentIndex];
    agent.allocated -= resources;
    agent.free += resources;
    freeUnreserved_ += agent.hasReservations ? Scalars::of(resources.unreserved()) : amount;
  }

  // What the framework holds over all agents and roles.
  Resources allocatedTo(const FrameworkState& fw) const {
    Resources total;
    for (uint32_t client : fw.clients) {
      for (const auto& [agentIndex, resources] : clients_[client].allocated) total += resources;
    }
    return total;
  }

  // ------------------------------------------------------------- filters

  // Everything on the agent a client of `role` could be offered when all of
  // it is free: the unreserved part and what is reserved for the role or an
  // ancestor.
  Resources usable(const AgentState& agent, const Resources& from, Sorter::RoleIndex role) const {
    if (!agent.hasReservations) return from;
    Resources out = from.unreserved();
    for (Sorter::RoleIndex r = role; r != Sorter::kRoot; r = sorter_.parent(r)) {
      if (sorter_.path(r) != kDefaultRole) out += from.reserved(sorter_.path(r));
    }
    return out;
  }

  void addFilter(uint32_t agentIndex, uint32_t client, const Resources& refused, double expires) {
    auto& agent = agents_[agentIndex];
    auto& state = clients_[client];
    // One generation per client, expiry and refused resources.
    uint32_t gen = state.lastGeneration;
    if (gen == kNone || generations_[gen].client != client || generations_[gen].expires != expires ||
        generations_[gen].refused != refused) {
      gen = takeSlot(generations_, freeGenerations_);
      auto& g = generations_[gen];
      g.client = client;
      g.serial = ++generationSerial_;
      g.expires = expires;
      g.refused = refused;
      g.agents.clear();
      state.generations.push_back(gen);
      state.lastGeneration = gen;
      expiries_.push({expires, gen, g.serial});
    }
    generations_[gen].agents.push_back(agentIndex);
    // Not cut to the role's quota limits: those depend on its allocation
    // elsewhere (and on updateQuota), so what they allow now is not all it
    // could ever be offered here.
    bool full = refused.contains(usable(agent, agent.total, state.role));
    auto it = std::lower_bound(agent.filters.begin(), agent.filters.end(), client,
                               [](const FilterEntry& e, uint32_t c) { return e.client < c; });
    if (it != agent.filters.end() && it->client == client) {
      if (it->full) --agent.fullFilterCount;
      *it = FilterEntry{client, gen, full};
    } else {
      agent.filters.insert(it, FilterEntry{client, gen, full});
    }
    if (full) {
      agent.fullFilters.set(client);
      agent.partialFilters.reset(client);
      ++agent.fullFilterCount;
    } else {
      agent.partialFilters.set(client);
      agent.fullFilters.reset(client);
    }
  }

  void removeFilterEntry(uint32_t agentIndex, uint32_t client, uint32_t gen) {
    auto& agent = agents_[agentIndex];
    if (!agent.used) return;
    auto it = std::lower_bound(agent.filters.begin(), agent.filters.end(), client,
                               [](const FilterEntry& e, uint32_t c) { return e.client < c; });
    if (it == agent.filters.end() || it->client != client || it->generation != gen) return;
    if (it->full) --agent.fullFilterCount;
    agent.filters.erase(it);
    agent.fullFilters.reset(client);
    agent.partialFilters.reset(client);
    markDirty(agentIndex);
  }

  void freeGeneration(uint32_t gen) {
    auto& g = generations_[gen];
    for (uint32_t agentIndex : g.agents) removeFilterEntry(agentIndex, g.client, gen);
    auto& state = clients_[g.client];
    if (state.lastGeneration == gen) state.lastGeneration = kNone;
    g.client = kNone;
    g.agents = {};
    g.refused = Resources();
    freeGenerations_.push_back(gen);
  }

  void clearFilters(uint32_t client) {
    auto gens = std::move(clients_[client].generations);
    clients_[client].generations.clear();
    for (uint32_t gen : gens) {
      if (generations_[gen].client == client) freeGeneration(gen);
    }
  }

  void expireFilters(double now) {
    while (!expiries_.empty() && expiries_.top().expires <= now) {
      auto top = expiries_.top();
      expiries_.pop();
      auto& g = generations_[top.generation];
      if (g.client == kNone || g.serial != top.serial) continue;  // revived or reused since
      uint32_t client = g.client;
      auto& gens = clients_[client].generations;
      gens.erase(std::remove(gens.begin(), gens.end(), top.generation), gens.end());
      freeGeneration(top.generation);
    }
  }

  // After the agent's total changed: which filters still refuse everything.
  void refreshFullFilters(uint32_t agentIndex) {
    auto& agent = agents_[agentIndex];
    agent.fullFilterCount = 0;
    for (auto& entry : agent.filters) {
      const auto& g = generations_[entry.generation];
      entry.full = g.refused.contains(usable(agent, agent.total, clients_[entry.client].role));
      if (entry.full) {
        agent.fullFilters.set(entry.client);
        agent.partialFilters.reset(entry.client);
        ++agent.fullFilterCount;
      } else {
        agent.partialFilters.set(entry.client);
        agent.fullFilters.reset(entry.client);
      }
    }
  }

  // ---------------------------------------------------------- allocation

  using Offers = std::map<uint32_t, std::vector<Allocation>>;  // by framework

  void run(bool all) {
    if (!offerCallback_) return;
    double now = clock_.now();
    expireFilters(now);
    // Agents are visited in id order, so that the same events give the
    // same offers whatever order the agents arrived in.
    auto byId = [&](uint32_t a, uint32_t b) { return agents_[a].id.value < agents_[b].id.value; };
    bool reordered = orderStale_ || !addedAgents_.empty();
    if (orderStale_) {
      agentOrder_.clear();
      for (uint32_t i = 0; i < agents_.size(); ++i) {
        if (agents_[i].used) agentOrder_.push_back(i);
      }
      std::sort(agentOrder_.begin(), agentOrder_.end(), byId);
      orderStale_ = false;
    } else if (!addedAgents_.empty()) {
      // Only agents added since the last run: sorted among themselves and
      // merged in. Sorting them all again at every run of a registration
      // storm (10,000 agents, a run per turn) was a twelfth of the master's
      // CPU.
      std::sort(addedAgents_.begin(), addedAgents_.end(), byId);
      auto known = static_cast<std::ptrdiff_t>(agentOrder_.size());
      agentOrder_.insert(agentOrder_.end(), addedAgents_.begin(), addedAgents_.end());
      std::inplace_merge(agentOrder_.begin(), agentOrder_.begin() + known, agentOrder_.end(), byId);
    }
    if (reordered) {
      for (uint32_t r = 0; r < agentOrder_.size(); ++r) agents_[agentOrder_[r]].rank = r;
      addedAgents_.clear();
    }
    std::vector<uint32_t> targets;
    if (all || allDirty_) {
      targets = agentOrder_;
    } else {
      for (uint32_t i : dirtyAgents_) {
        if (agents_[i].used && agents_[i].dirty) targets.push_back(i);
      }
      std::sort(targets.begin(), targets.end(),
                [&](uint32_t a, uint32_t b) { return agents_[a].rank < agents_[b].rank; });
      targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
    }
    for (uint32_t i : dirtyAgents_) {
      if (i < agents_.size()) agents_[i].dirty = false;
    }
    dirtyAgents_.clear();
    allDirty_ = false;

    Offers offers;
    if (!quotas_.empty()) {
      for (uint32_t agentIndex : targets) allocateGuarantees(agentIndex, offers);
    }
    for (uint32_t agentIndex : targets) allocateAgent(agentIndex, offers);

    // Delivered framework by framework, in id order.
    std::vector<uint32_t> receivers;
    for (const auto& [framework, allocations] : offers) receivers.push_back(framework);
    std::sort(receivers.begin(), receivers.end(),
              [&](uint32_t a, uint32_t b) { return frameworks_[a].id.value < frameworks_[b].id.value; });
    for (uint32_t framework : receivers) {
      auto& fw = frameworks_[framework];
      fw.lastOffered = now;
      offerCallback_(fw.id, std::move(offers[framework]));
    }
  }

  // Whether `client` refuses what it would be offered on the agent.
  bool filtered(const AgentState& agent, uint32_t client, const Resources& offerable) const {
    if (agent.fullFilters.test(client)) return true;
    if (!agent.partialFilters.test(client)) return false;
    auto it = std::lower_bound(agent.filters.begin(), agent.filters.end(), client,
                               [](const FilterEntry& e, uint32_t c) { return e.client < c; });
    return it != agent.filters.end() && it->client == client &&
           generations_[it->generation].refused.contains(offerable);
  }

  void offer(uint32_t client, uint32_t agentIndex, Resources resources, Offers& offers) {
    charge(client, agentIndex, resources, /*toAgent=*/true);
    auto& state = clients_[client];
    offers[state.framework].push_back({agents_[agentIndex].id, sorter_.path(state.role), std::move(resources)});
  }

  // Roles short of their guarantee get up to what they miss, first.
  void allocateGuarantees(uint32_t agentIndex, Offers& offers) {
    for (const auto& [role, q] : quotas_.all()) {
      auto& agent = agents_[agentIndex];
      if (agent.free.empty()) return;
      auto missing = quotas_.missing(role, q);
      if (!missing) continue;
      sorter_.forEachIn(role, [&](Sorter::ClientIndex client) {
        Resources offerable =
            quotas_.limited(usable(agent, agent.free, clients_[client].role), clients_[client].role);
        offerable = clip(offerable, *missing);
        if (Scalars::of(offerable).empty() || filtered(agent, client, offerable)) return true;
        offer(client, agentIndex, offerable, offers);
        return false;
      });
    }
  }

  void allocateAgent(uint32_t agentIndex, Offers& offers) {
    Scalars headroom = quotas_.unmetGuarantees();
    bool holdBack = !headroom.empty();
    for (;;) {
      auto& agent = agents_[agentIndex];
      if (agent.free.empty()) return;
      if (agent.fullFilterCount >= sorter_.clientCount()) return;  // everyone refuses it
      uint32_t chosen = kNone;
      Resources chosenOffer;
      bool heldByQuota = false;  // a limit or the headroom kept something from a client
      sorter_.forEach([&](Sorter::ClientIndex client) {
        if (agent.fullFilters.test(client)) return true;
        Sorter::RoleIndex role = clients_[client].role;
        bool limitedRole = quotas_.limitedRole(role);
        // Copies only when the role sees less than everything free.
        const Resources* offerable = &agent.free;
        Resources narrowed;
        if (agent.hasReservations || limitedRole || holdBack) {
          Resources all = usable(agent, agent.free, role);
          narrowed = quotas_.limited(all, role);
          if (holdBack) narrowed = quotas_.withoutHeadroom(narrowed, role, headroom, freeUnreserved_);
          if ((limitedRole || holdBack) && narrowed != all) heldByQuota = true;
          offerable = &narrowed;
        }
        if (offerable->empty() || filtered(agent, client, *offerable)) return true;
        chosen = client;
        chosenOffer = *offerable;
        return false;
      });
      if (chosen == kNone) {
        // What quota kept back here may become offerable through changes on
        // other agents (a role's allocation shrinking there, unreserved
        // resources freed there), which mark only those agents dirty: look
        // at this one again in the next allocation.
        if (heldByQuota) markDirty(agentIndex);
        return;
      }
      offer(chosen, agentIndex, std::move(chosenOffer), offers);
    }
  }

  struct Expiry {
    double expires;
    uint32_t generation;
    uint64_t serial;
    bool operator>(const Expiry& other) const { return expires > other.expires; }
  };

  const Clock& clock_;
  OfferCallback offerCallback_;
  Sorter sorter_;
  std::vector<AgentState> agents_;
  std::vector<uint32_t> freeAgents_;
  std::unordered_map<std::string, uint32_t> agentIndex_;
  std::vector<FrameworkState> frameworks_;
  std::vector<uint32_t> freeFrameworks_;
  std::unordered_map<std::string, uint32_t> frameworkIndex_;
  std::vector<ClientState> clients_;  // by Sorter client index
  std::vector<Generation> generations_;
  std::vector<uint32_t> freeGenerations_;
  uint64_t generationSerial_ = 0;
  std::priority_queue<Expiry, std::vector<Expiry>, std::greater<Expiry>> expiries_;
  RoleQuotas quotas_{sorter_};
  Scalars clusterTotal_;
  Scalars freeUnreserved_;  // unreserved resources not allocated, summed over agents
  std::vector<uint32_t> dirtyAgents_;
  bool allDirty_ = false;
  std::vector<uint32_t> agentOrder_;  // used agents in id order
  bool orderStale_ = false;           // agentOrder_ is to be made again whole
  std::vector<uint32_t> addedAgents_;  // added since and not in agentOrder_ yet
};

}  // namespace

std::unique_ptr<Allocator> makeDrfAllocator(const Clock& clock) { return std::make_unique<DrfAllocator>(clock); }

}  // namespace clusternodes::master
