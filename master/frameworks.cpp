#include "master/frameworks.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "master/validation.hpp"

namespace clusternodes::master {
namespace {

// Forgets the framework's executors on `agent`, freeing their resources.
void removeExecutors(AgentEntry& agent, const FrameworkID& frameworkId) {
  for (auto it = agent.executors.lower_bound({frameworkId, ExecutorID{}});
       it != agent.executors.end() && it->first.first == frameworkId;) {
    agent.used -= it->second.resources;
    it = agent.executors.erase(it);
  }
}

// Why `suppressed` is not a subset of the roles `info` subscribes to; nullopt
// when it is.
std::optional<std::string> strayRole(const FrameworkInfo& info, const std::set<std::string>& suppressed) {
  auto roles = subscribedRoles(info);
  for (const auto& role : suppressed) {
    if (std::find(roles.begin(), roles.end(), role) == roles.end()) {
      return "suppressed role '" + role + "' is not one of the framework's roles";
    }
  }
  return std::nullopt;
}

}  // namespace

void FrameworkBook::recover() {
  for (const auto& [id, record] : ctx_.registry.frameworks()) {
    FrameworkEntry entry;
    entry.id = id;
    entry.info = record.info;
    entry.recovered = true;
    entry.disconnectedAt = ctx_.now();
    entry.registeredAt = record.registeredAt;
    ctx_.allocator.addFramework(id, {subscribedRoles(entry.info), false}, {});
    ctx_.state.frameworks.emplace(id, std::move(entry));
  }
}

FrameworkEntry& FrameworkBook::adopt(const FrameworkID& id, FrameworkInfo info) {
  auto fw = ctx_.state.frameworks.find(id);
  if (fw != ctx_.state.frameworks.end()) return fw->second;
  FrameworkEntry entry;
  entry.id = id;
  entry.info = std::move(info);
  entry.info.id = id;
  entry.recovered = true;
  entry.disconnectedAt = ctx_.now();
  entry.registeredAt = ctx_.wallNow();
  fw = ctx_.state.frameworks.emplace(id, std::move(entry)).first;
  ctx_.allocator.addFramework(id, {subscribedRoles(fw->second.info), false}, {});
  ctx_.watch([&](StateWatcher& w) { w.frameworkAdded(fw->second); });
  return fw->second;
}

const std::string* FrameworkBook::removedBecause(const FrameworkID& id) const {
  auto it = removed_.find(id);
  return it == removed_.end() ? nullptr : &it->second;
}

FrameworkEntry* FrameworkBook::calling(const std::string& peer, const std::string& claimed) {
  auto byPeer = ctx_.state.frameworksByPeer.find(peer);
  if (byPeer != ctx_.state.frameworksByPeer.end() && byPeer->second.value == claimed) {
    auto& fw = ctx_.state.frameworks.at(byPeer->second);
    fw.lastSeen = ctx_.now();
    return &fw;
  }
  capnp::MallocMessageBuilder message;
  message.initRoot<wire::Envelope>().initReregister().setReason("framework '" + claimed +
                                                               "' is not subscribed on this connection");
  ctx_.send(peer, message);
  return nullptr;
}

// ------------------------------------------------------------ subscribe

void FrameworkBook::refuse(const std::string& peer, const std::string& why) {
  capnp::MallocMessageBuilder error;
  error.initRoot<wire::Envelope>().initFrameworkError().setMessage(why);
  ctx_.send(peer, error);
}

FrameworkEntry* FrameworkBook::existing(const std::string& peer, const FrameworkInfo& info) {
  auto& state = ctx_.state;
  if (!info.id.empty()) {
    auto it = state.frameworks.find(info.id);
    if (it == state.frameworks.end()) return nullptr;
    auto* fw = &it->second;
    if (!fw->peer.empty() && fw->peer != peer) state.frameworksByPeer.erase(fw->peer);
    fw->info = info;
    return fw;
  }
  // A retried subscription whose reply was lost.
  if (auto byPeer = state.frameworksByPeer.find(peer); byPeer != state.frameworksByPeer.end()) {
    return &state.frameworks.at(byPeer->second);
  }
  return nullptr;
}

void FrameworkBook::subscribe(const std::string& peer, const std::optional<std::string>& principal,
                              wire::Subscribe::Reader message) {
  auto& state = ctx_.state;
  FrameworkInfo info = wire::fromWire(message.getInfo());
  if (auto valid = validateFrameworkInfo(info); !valid) return refuse(peer, valid.error().message);
  if (const auto* why = removedBecause(info.id); !info.id.empty() && why != nullptr) {
    return refuse(peer, "framework " + info.id.value + " was removed: " + *why);
  }
  std::set<std::string> suppressed;
  for (auto role : message.getSuppressedRoles()) suppressed.insert(wire::text(role));
  if (auto stray = strayRole(info, suppressed)) return refuse(peer, *stray);
  if (principal) {
    if (!info.principal.empty() && info.principal != *principal) {
      return refuse(peer, "FrameworkInfo names principal '" + info.principal + "' but this connection authenticated as " +
                              (principal->empty() ? std::string("no principal") : "'" + *principal + "'"));
    }
    info.principal = *principal;
    if (auto it = state.frameworks.find(info.id); !info.id.empty() && it != state.frameworks.end() &&
                                                  it->second.info.principal != *principal) {
      return refuse(peer, "framework " + info.id.value + " belongs to principal '" + it->second.info.principal +
                              "', not to this connection's");
    }
  }

  // Every role it subscribes to, as its connection's principal.
  const std::string aclPrincipal = principal.value_or("");
  for (const auto& role : subscribedRoles(info)) {
    if (auto may = ctx_.acls.authorize(AclAction::kRegisterFramework, aclPrincipal, role); !may) {
      ++state.metrics.aclDenials[aclActionName(AclAction::kRegisterFramework)];
      spdlog::warn("refused a framework subscription ({}): {}", info.name, may.error().message);
      return refuse(peer, may.error().message);
    }
  }

  FrameworkEntry* fw = existing(peer, info);
  bool reregistered = fw != nullptr && !info.id.empty();
  const bool added = fw == nullptr;  // new to the books
  if (fw == nullptr) {
    FrameworkEntry entry;
    entry.id = info.id.empty() ? FrameworkID{state.masterId + "-" + std::to_string(nextFramework_++)} : info.id;
    reregistered = !info.id.empty();
    info.id = entry.id;
    entry.info = info;
    entry.registeredAt = ctx_.wallNow();
    fw = &state.frameworks.emplace(entry.id, std::move(entry)).first->second;
    ctx_.allocator.addFramework(fw->id, {subscribedRoles(info), true}, {});
    ++state.metrics.frameworksRegistered;
  }
  // A framework that subscribes again under its id (failing over, or told
  // to) may have dropped the offers it held while it was not subscribed:
  // they are taken back and offered afresh after SUBSCRIBED, as Mesos does
  // on failover. The rescinds go to the connection that had the offers, if
  // it is still there: the new one hears SUBSCRIBED first. A retried first
  // subscription (no id yet) keeps them: its SUBSCRIBED came before them,
  // and it may be accepting them now.
  if (reregistered) offers_.rescindAll(fw->offers, true);
  fw->principal = aclPrincipal;
  fw->peer = peer;
  fw->connected = true;
  fw->recovered = false;
  fw->lastSeen = ctx_.now();
  state.frameworksByPeer[peer] = fw->id;
  ctx_.allocator.activateFramework(fw->id);
  // Its roles may have changed (failover), and its suppression is what this
  // subscription says.
  ctx_.allocator.updateFramework(fw->id, subscribedRoles(fw->info), suppressed);
  persist(*fw);
  spdlog::info("{} framework {} ({}) roles {} principal '{}'", reregistered ? "re-registered" : "registered",
               fw->id.value, fw->info.name, fmt::join(subscribedRoles(fw->info), ","), fw->info.principal);
  ctx_.events.record({.type = reregistered ? EventType::kFrameworkReregistered : EventType::kFrameworkRegistered,
                      .frameworkId = fw->id.value,
                      .message = fmt::format("{} (roles {})", fw->info.name,
                                             fmt::join(subscribedRoles(fw->info), ","))});
  ctx_.watch([&](StateWatcher& w) { added ? w.frameworkAdded(*fw) : w.frameworkUpdated(*fw); });

  // SUBSCRIBED once the framework is on disk; no offers before it.
  fw->awaitingSubscribed = true;
  ctx_.registry.afterDurable([this, peer, id = fw->id, reregistered] { confirm(peer, id, reregistered); });
}

Result<void> FrameworkBook::update(FrameworkEntry& fw, FrameworkInfo info, const std::set<std::string>& suppressed) {
  if (auto valid = validateFrameworkInfo(info); !valid) return valid.error();
  if (!info.id.empty() && info.id != fw.id) {
    return invalid("framework_info.id '" + info.id.value + "' is not the framework's ('" + fw.id.value + "')");
  }
  if (info.user != fw.info.user) return invalid("the framework's user cannot be changed");
  if (!info.principal.empty() && info.principal != fw.info.principal) {
    return invalid("the framework's principal cannot be changed");
  }
  if (auto stray = strayRole(info, suppressed)) return invalid(*stray);
  auto before = subscribedRoles(fw.info);
  auto roles = subscribedRoles(info);
  for (const auto& role : roles) {
    if (std::find(before.begin(), before.end(), role) != before.end()) continue;
    if (auto may = ctx_.acls.authorize(AclAction::kRegisterFramework, fw.principal, role); !may) {
      ++ctx_.state.metrics.aclDenials[aclActionName(AclAction::kRegisterFramework)];
      return may.error();
    }
  }
  info.id = fw.id;
  info.principal = fw.info.principal;
  if (auto saved = ctx_.registry.putFramework({info, fw.registeredAt}, true); !saved) {
    return Error{ErrorCode::kInternal, "the framework's record cannot be written: " + saved.error().message};
  }
  fw.info = std::move(info);
  ctx_.allocator.updateFramework(fw.id, roles, suppressed);
  std::set<OfferID> leaving;  // offers to roles it left
  for (const auto& id : fw.offers) {
    auto offer = ctx_.state.offers.find(id);
    if (offer != ctx_.state.offers.end() && std::find(roles.begin(), roles.end(), offer->second.role) == roles.end()) {
      leaving.insert(id);
    }
  }
  offers_.rescindAll(leaving, true);
  spdlog::info("framework {} ({}) updated: roles {}, suppressed {}", fw.id.value, fw.info.name, fmt::join(roles, ","),
               fmt::join(suppressed, ","));
  ctx_.events.record({.type = EventType::kFrameworkUpdated, .frameworkId = fw.id.value,
                      .message = fmt::format("{} (roles {})", fw.info.name, fmt::join(roles, ","))});
  ctx_.watch([&](StateWatcher& w) { w.frameworkUpdated(fw); });
  ctx_.requestAllocation();
  return {};
}

void FrameworkBook::confirm(const std::string& peer, const FrameworkID& id, bool reregistered) {
  auto fw = ctx_.state.frameworks.find(id);
  // Gone, or subscribed again on another connection since.
  if (fw == ctx_.state.frameworks.end() || fw->second.peer != peer) return;
  fw->second.awaitingSubscribed = false;
  capnp::MallocMessageBuilder reply;
  auto subscribed = reply.initRoot<wire::Envelope>().initSubscribed();
  subscribed.setFrameworkId(id.value);
  subscribed.setHeartbeatIntervalMs(toMs(ctx_.flags.frameworkHeartbeatInterval));
  subscribed.setReregistered(reregistered);
  ctx_.send(peer, reply);
  ctx_.requestAllocation();
}

void FrameworkBook::persist(const FrameworkEntry& framework) {
  FrameworkInfo info = framework.info;
  info.id = framework.id;
  if (auto saved = ctx_.registry.putFramework({info, framework.registeredAt}); !saved) {
    spdlog::error("cannot write framework {} to the registry: {}; a master restart would forget it",
                  framework.id.value, saved.error().message);
  }
}

// ------------------------------------------------------------ liveness

void FrameworkBook::heartbeat() {
  double now = ctx_.now();
  double silentLimit =
      toSeconds(ctx_.flags.frameworkHeartbeatInterval) * std::max(1, ctx_.flags.maxAgentPingTimeouts);
  std::vector<FrameworkID> toRemove;
  for (auto& [id, fw] : ctx_.state.frameworks) {
    if (fw.connected) {
      if (now - fw.lastSeen > silentLimit) {
        disconnected(fw);
      } else {
        capnp::MallocMessageBuilder message;
        message.initRoot<wire::Envelope>().initHeartbeat().setFrameworkId(id.value);
        ctx_.send(fw.peer, message);
      }
    }
    // A framework recovered from agents' reports after a master restart gets
    // a window to re-subscribe even with no failover timeout of its own.
    double timeout = fw.info.failoverTimeoutSeconds;
    if (fw.recovered) timeout = std::max(timeout, 2 * silentLimit);
    if (!fw.connected && now - fw.disconnectedAt > timeout) toRemove.push_back(id);
  }
  for (const auto& id : toRemove) remove(id, "its failover timeout passed");
}

void FrameworkBook::connectionClosed(const std::string& peer) {
  auto byPeer = ctx_.state.frameworksByPeer.find(peer);
  if (byPeer == ctx_.state.frameworksByPeer.end()) return;
  auto fw = ctx_.state.frameworks.find(byPeer->second);
  if (fw != ctx_.state.frameworks.end() && fw->second.connected) disconnected(fw->second);
}

void FrameworkBook::disconnected(FrameworkEntry& framework) {
  spdlog::info("framework {} ({}) disconnected", framework.id.value, framework.info.name);
  ctx_.events.record({.type = EventType::kFrameworkDisconnected, .frameworkId = framework.id.value,
                      .message = framework.info.name});
  framework.connected = false;
  framework.disconnectedAt = ctx_.now();
  ctx_.state.frameworksByPeer.erase(framework.peer);
  framework.peer.clear();
  ctx_.allocator.deactivateFramework(framework.id);
  offers_.rescindAll(framework.offers, true);
  ctx_.watch([&](StateWatcher& w) { w.frameworkUpdated(framework); });
}

// ------------------------------------------------------------ removal

std::set<AgentID> FrameworkBook::dropFromAgents(const FrameworkID& id, const FrameworkEntry& fw) {
  auto& agents = ctx_.state.agents;
  std::set<AgentID> touched;
  for (const auto& [taskId, task] : fw.tasks) {
    if (isTerminal(task.state)) continue;  // its resources are already free
    auto agent = agents.find(task.info.agentId);
    if (agent == agents.end()) continue;
    agent->second.used -= task.info.resources;
    agent->second.tasks.erase({id, taskId});
    touched.insert(agent->first);
  }
  for (auto& [agentId, agent] : agents) {
    size_t before = agent.executors.size();
    removeExecutors(agent, id);
    if (agent.executors.size() != before) touched.insert(agentId);
  }
  std::set<AgentID> reachable;
  for (const auto& agentId : touched) {
    if (agents.at(agentId).reachable) reachable.insert(agentId);
  }
  return reachable;
}

void FrameworkBook::remove(const FrameworkID& which, const std::string& why) {
  // A copy: `which` may be the id inside the entry erased below.
  const FrameworkID id = which;
  auto& state = ctx_.state;
  auto it = state.frameworks.find(id);
  if (it == state.frameworks.end()) return;
  auto& fw = it->second;
  spdlog::info("removing framework {} ({}): {}", id.value, fw.info.name, why);
  ctx_.events.record(
      {.type = EventType::kFrameworkRemoved, .frameworkId = id.value, .message = fw.info.name + ": " + why});
  // Its tasks end with it (their agents are told to shut them down): the
  // watcher hears them killed, as Mesos's operators do.
  ctx_.watch([&](StateWatcher& w) {
    for (const auto& [taskId, task] : fw.tasks) {
      if (isTerminal(task.state)) continue;
      TaskStatus status;
      status.taskId = taskId;
      status.agentId = task.info.agentId;
      status.state = TaskState::kKilled;
      status.reason = TaskReason::kFrameworkRemoved;
      status.message = "its framework was removed: " + why;
      status.source = TaskSource::kMaster;
      status.timestamp = ctx_.wallNow();
      w.taskUpdated(id, status);
    }
    w.frameworkRemoved(fw);
  });
  offers_.rescindAll(fw.offers, false);
  for (const auto& agentId : dropFromAgents(id, fw)) {
    capnp::MallocMessageBuilder message;
    message.initRoot<wire::Envelope>().initShutdownFramework().setFrameworkId(id.value);
    ctx_.send(state.agents.at(agentId).peer, message);
  }
  if (!fw.peer.empty()) state.frameworksByPeer.erase(fw.peer);
  ctx_.allocator.removeFramework(id);
  state.frameworks.erase(it);
  ++state.metrics.frameworksRemoved;
  if (auto removed = ctx_.registry.removeFramework(id); !removed) {
    spdlog::error("cannot remove framework {} from the registry: {}", id.value, removed.error().message);
  }
  if (removed_.emplace(id, why).second) removedOrder_.push_back(id);
  while (removedOrder_.size() > kMaxRemovedFrameworks) {
    removed_.erase(removedOrder_.front());
    removedOrder_.pop_front();
  }
  ctx_.requestAllocation();
}

}  // namespace clusternodes::master
