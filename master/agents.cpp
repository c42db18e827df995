#include "master/agents.hpp"

#include <spdlog/spdlog.h>

#include "master/reservations.hpp"

namespace clusternodes::master {

using wire::text;

void AgentBook::recover() {
  for (const auto& [id, record] : ctx_.registry.agents()) {
    if (record.mark == AgentMark::kAdmitted) awaitingReregistration_.insert(id);
  }
  reregisterDeadline_ = ctx_.now() + toSeconds(ctx_.flags.agentReregisterTimeout);
}

AgentEntry* AgentBook::byPeer(const std::string& peer) {
  auto it = ctx_.state.agentsByPeer.find(peer);
  if (it == ctx_.state.agentsByPeer.end()) return nullptr;
  auto agent = ctx_.state.agents.find(it->second);
  if (agent == ctx_.state.agents.end() || !agent->second.reachable) return nullptr;
  return &agent->second;
}

void AgentBook::askToReregister(const std::string& peer, const std::string& reason) {
  capnp::MallocMessageBuilder message;
  message.initRoot<wire::Envelope>().initReregister().setReason(reason);
  ctx_.send(peer, message);
}

void AgentBook::shutdown(const std::string& peer, const std::string& reason) {
  capnp::MallocMessageBuilder message;
  message.initRoot<wire::Envelope>().initShutdownAgent().setReason(reason);
  ctx_.sendWhenDurable(peer, message);
}

void AgentBook::addToAllocator(const AgentEntry& agent) {
  std::map<FrameworkID, Resources> used;
  for (const auto& [frameworkId, taskId] : agent.tasks) {
    auto fw = ctx_.state.frameworks.find(frameworkId);
    if (fw == ctx_.state.frameworks.end()) continue;
    auto task = fw->second.tasks.find(taskId);
    if (task != fw->second.tasks.end()) used[frameworkId] += task->second.info.resources;
  }
  for (const auto& [key, executor] : agent.executors) used[key.first] += executor.resources;
  ctx_.allocator.addAgent(agent.id, agent.info.hostname, agent.info.resources, used);
}

void AgentBook::replyRegistered(const std::string& peer, const AgentID& id, bool reregistered) {
  // Answered once its admission is on disk.
  ctx_.registry.afterDurable([this, peer, id, reregistered] { confirm(peer, id, reregistered); });
}

bool AgentBook::confirm(const std::string& peer, const AgentID& id, bool reregistered) {
  auto agent = ctx_.state.agents.find(id);
  if (agent == ctx_.state.agents.end() || !agent->second.reachable || agent->second.peer != peer) return false;
  if (agent->second.awaitingRegistered) {
    agent->second.awaitingRegistered = false;
    addToAllocator(agent->second);
    ctx_.requestAllocation();
  }
  sendRegistered(peer, id, reregistered);
  return true;
}

void AgentBook::sendRegistered(const std::string& peer, const AgentID& id, bool reregistered) {
  capnp::MallocMessageBuilder message;
  auto reply = message.initRoot<wire::Envelope>().initAgentRegistered();
  reply.setAgentId(id.value);
  reply.setPingIntervalMs(toMs(ctx_.flags.agentPingTimeout));
  reply.setMaxPingTimeouts(static_cast<uint32_t>(ctx_.flags.maxAgentPingTimeouts));
  reply.setReregistered(reregistered);
  const std::string& key = ctx_.state.sandboxKey;
  reply.setSandboxKey(capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(key.data()), key.size()));
  ctx_.send(peer, message);
}

// ------------------------------------------------------------ registration

void AgentBook::registerAgent(const std::string& peer, const std::string& principal,
                              wire::RegisterAgent::Reader message) {
  auto& state = ctx_.state;
  AgentID claimed{text(message.getAgentId())};
  if (!claimed.empty()) return reregisterAgent(peer, principal, claimed, message);

  if (auto* existing = byPeer(peer)) {
    ++state.metrics.agentRegistrationsRepeated;
    // Re-sent while its admission is on its way to the registry: the reply
    // follows it, once. Under an admission storm most re-sends are these.
    if (existing->awaitingRegistered) return;
    // A retried registration whose reply was lost: answer with the same id.
    return replyRegistered(peer, existing->id, false);
  }

  AgentEntry agent;
  agent.id.value = state.masterId + "-S" + std::to_string(nextAgent_++);
  agent.peer = peer;
  agent.principal = principal;
  agent.info = wire::fromWire(message.getInfo());
  agent.registeredAt = ctx_.wallNow();
  if (agent.info.resources.empty()) throw wire::MalformedMessage("agent advertises no resources");

  if (auto admitted =
          ctx_.registry.admit({agent.id, agent.info.hostname, AgentMark::kAdmitted, agent.registeredAt});
      !admitted) {
    spdlog::error("cannot admit agent {}: {}", agent.id.value, admitted.error().message);
    return;  // the agent retries
  }
  ++state.metrics.agentsRegistered;
  spdlog::info("registered agent {} at {} with {}", agent.id.value, agent.info.hostname,
               agent.info.resources.toString());
  ctx_.events.record({.type = EventType::kAgentRegistered, .agentId = agent.id.value,
                      .message = "agent on " + agent.info.hostname + " with " + agent.info.resources.toString()});
  agent.awaitingRegistered = true;
  state.agentsByPeer[peer] = agent.id;
  auto& stored = state.agents[agent.id] = std::move(agent);
  ctx_.watch([&](StateWatcher& w) { w.agentAdded(stored); });
  replyRegistered(peer, stored.id, false);

  // The agent ran here before as another agent whose tasks did not survive
  // (its host rebooted, or it was started with --recover=cleanup).
  AgentID previous{text(message.getPreviousAgentId())};
  if (!previous.empty() && previous != stored.id) {
    std::string why = text(message.getPreviousAgentEnded());
    gone(previous, TaskReason::kAgentRestarted,
         "agent " + previous.value + " on " + stored.info.hostname + " came back as a new agent" +
             (why.empty() ? std::string() : " (" + why + ")"));
  }
  ctx_.requestAllocation();
}

void AgentBook::reregisterAgent(const std::string& peer, const std::string& principal, const AgentID& id,
                                wire::RegisterAgent::Reader message) {
  auto& state = ctx_.state;
  auto info = wire::fromWire(message.getInfo());
  if (info.resources.empty()) throw wire::MalformedMessage("agent advertises no resources");

  auto existing = state.agents.find(id);
  if (existing != state.agents.end() && existing->second.principal != principal) {
    // Another host's key claiming this agent (and its tasks): refused. The
    // agent itself comes back with its own key.
    spdlog::warn("refused a re-registration of agent {} from principal '{}': it registered as '{}'", id.value,
                 principal, existing->second.principal);
    return;
  }
  if (const auto* record = ctx_.registry.agent(id);
      existing == state.agents.end() && record != nullptr && record->mark == AgentMark::kGone) {
    return shutdown(peer, "agent " + id.value + " was removed from the cluster; shut down its tasks and "
                          "register as a new agent");
  }
  awaitingReregistration_.erase(id);
  if (existing != state.agents.end() && existing->second.reachable && existing->second.peer == peer) {
    // A retried registration from the connection that is registered already
    // (its reply crossed it): answer again, unless the first reply is still
    // to go, and change nothing, least of all the tasks, which the first
    // registration settled.
    ++state.metrics.agentRegistrationsRepeated;
    if (existing->second.awaitingRegistered) return;
    return replyRegistered(peer, id, true);
  }
  Reregistration r;
  if (existing != state.agents.end()) {
    takeBack(r, existing);
  } else if (const auto* record = ctx_.registry.agent(id)) {
    r.wasUnreachable = record->mark == AgentMark::kUnreachable;
  }

  r.agent.id = id;
  r.agent.peer = peer;
  r.agent.principal = principal;
  r.agent.info = std::move(info);
  applyReservations(ctx_.registry, r.agent);
  r.agent.registeredAt = ctx_.wallNow();
  if (auto admitted = ctx_.registry.admit({id, r.agent.info.hostname, AgentMark::kAdmitted, r.agent.registeredAt});
      !admitted) {
    spdlog::error("cannot re-admit agent {}: {}", id.value, admitted.error().message);
    return;
  }
  for (auto reported : message.getTasks()) adoptTask(r, reported);
  adoptExecutors(r, message);
  settleMissingTasks(r);
  finishReregistration(peer, r);
}

void AgentBook::takeBack(Reregistration& r, std::map<AgentID, AgentEntry>::iterator existing) {
  auto& state = ctx_.state;
  const AgentID id = existing->first;
  r.wasUnreachable = !existing->second.reachable;
  r.wasReachable = existing->second.reachable;
  if (!r.wasUnreachable) {
    // Already registered (a retried message, or the agent restarted):
    // take the new connection, forget the old offers.
    offers_.rescindAll(existing->second.offers, false);
    ctx_.allocator.removeAgent(id);
  }
  state.agentsByPeer.erase(existing->second.peer);
  // Tasks are rebuilt from the agent's report; remember what was known, to
  // account for tasks the agent no longer has.
  for (const auto& [frameworkId, taskId] : existing->second.tasks) {
    auto fw = state.frameworks.find(frameworkId);
    if (fw == state.frameworks.end()) continue;
    auto task = fw->second.tasks.find(taskId);
    if (task == fw->second.tasks.end()) continue;
    r.previous.emplace(std::make_pair(frameworkId, taskId), std::move(task->second));
    fw->second.tasks.erase(task);
  }
  state.agents.erase(existing);
}

void AgentBook::adoptTask(Reregistration& r, wire::RunningTask::Reader reported) {
  const AgentID& id = r.agent.id;
  FrameworkID frameworkId{text(reported.getFrameworkId())};
  TaskInfo taskInfo = wire::fromWire(reported.getTask());
  auto taskState = parseTaskState(text(reported.getState()));
  if (!taskState) return;
  // An ended task is reported while its framework has updates of it to
  // acknowledge: it is kept, ended, for them to be relayed.
  bool ended = isTerminal(*taskState);
  if (frameworks_.removedBecause(frameworkId) != nullptr) {
    if (!ended) r.toKill.emplace_back(frameworkId, taskInfo.taskId);
    return;
  }
  // A framework this master has not seen yet (the master restarted) keeps
  // its tasks until it re-subscribes.
  auto& fw = frameworks_.adopt(frameworkId, wire::fromWire(reported.getFrameworkInfo()));
  if (r.wasUnreachable && !fw.info.partitionAware) {
    // Its tasks were reported LOST when the agent went away; they must not
    // come back to life.
    if (!ended) r.toKill.emplace_back(frameworkId, taskInfo.taskId);
    return;
  }
  Task task;
  std::optional<TaskState> knownState;
  if (auto before = r.previous.find({frameworkId, taskInfo.taskId}); before != r.previous.end()) {
    task = std::move(before->second);
    knownState = task.state;
    r.previous.erase(before);
    if (task.killPending && !ended) r.toKill.emplace_back(frameworkId, taskInfo.taskId);
    task.killPending = false;
  }
  task.info = taskInfo;
  task.info.agentId = id;
  task.frameworkId = frameworkId;
  task.state = *taskState;
  if (task.createdAt == 0) task.createdAt = ctx_.wallNow();
  if (reported.hasLastStatus()) {
    // Its uuid is what the framework's acknowledgement of the end names.
    task.lastStatus = wire::fromWire(reported.getLastStatus());
  } else {
    task.lastStatus = TaskStatus{};
    task.lastStatus.taskId = taskInfo.taskId;
  }
  task.lastStatus.state = *taskState;
  task.lastStatus.agentId = id;
  if (!ended) {
    r.agent.used += taskInfo.resources;
    r.agent.tasks.emplace(frameworkId, taskInfo.taskId);
  }
  auto& stored = fw.tasks[taskInfo.taskId] = std::move(task);
  if (!knownState) ctx_.watch([&](StateWatcher& w) { w.taskAdded(stored); });
  bool changed = knownState && *knownState != stored.state;  // while the agent was away
  if (ended && knownState) {
    // It ended while the agent was away (or before): the agent relays its
    // update itself.
    tasks_.endTask(fw, stored, stored.lastStatus, {.tell = false, .record = changed});
  } else if (r.wasUnreachable && !ended) {
    // The framework was told it was unreachable (its last status stays the
    // agent's, whose uuid acknowledgements name).
    auto status =
        tasks_.masterStatus(stored, stored.state, TaskReason::kReconciliation, "the agent is reachable again");
    tasks_.recordState(frameworkId, status);
    tasks_.sendStatus(fw, status);
  } else if (changed) {
    tasks_.recordState(frameworkId, stored.lastStatus);
  }
}

void AgentBook::adoptExecutors(Reregistration& r, wire::RegisterAgent::Reader message) {
  // The frameworks' executors it runs. Those of removed frameworks go.
  for (auto reported : message.getExecutors()) {
    FrameworkID frameworkId{text(reported.getFrameworkId())};
    ExecutorInfo executor = wire::fromWire(reported.getInfo());
    if (frameworks_.removedBecause(frameworkId) != nullptr || ctx_.state.frameworks.count(frameworkId) == 0) {
      r.toShutDown.insert(frameworkId);
      continue;
    }
    r.agent.used += executor.resources;
    r.agent.executors[{frameworkId, executor.executorId}] = std::move(executor);
  }
}

void AgentBook::settleMissingTasks(Reregistration& r) {
  // One still staging never reached the agent (it was down when the launch
  // went out, or lost it from its launch queue): it is sent again. One that
  // had started is lost.
  for (auto& [key, task] : r.previous) {
    auto fw = ctx_.state.frameworks.find(key.first);
    if (fw == ctx_.state.frameworks.end() || isTerminal(task.state)) continue;
    if (task.state == TaskState::kStaging && !r.wasUnreachable) {
      if (task.killPending) {
        tasks_.endTask(fw->second, task,
                       tasks_.masterStatus(task, TaskState::kKilled, TaskReason::kKilledByFramework,
                                           "killed before it reached its agent"),
                       {.then = TaskEnd::Record::kForget});
        continue;
      }
      r.agent.used += task.info.resources;
      r.agent.tasks.emplace(key.first, key.second);
      r.relaunch.emplace_back(key.first, task.info);
      fw->second.tasks[key.second] = std::move(task);
      continue;
    }
    TaskState state = masterTaskState(TaskFate::kMissingOnAgent, fw->second.info.partitionAware);
    tasks_.endTask(fw->second, task,
                   tasks_.masterStatus(task, state, TaskReason::kAgentRestarted,
                                       "the agent re-registered without this task"),
                   {.then = TaskEnd::Record::kForget});
  }
}

void AgentBook::finishReregistration(const std::string& peer, Reregistration& r) {
  auto& state = ctx_.state;
  const AgentID id = r.agent.id;
  ++state.metrics.agentsReregistered;
  spdlog::info("re-registered agent {} at {} with {} task(s)", id.value, r.agent.info.hostname,
               r.agent.tasks.size());
  ctx_.events.record({.type = EventType::kAgentReregistered, .agentId = id.value,
                      .message = "agent on " + r.agent.info.hostname + " with " +
                                 std::to_string(r.agent.tasks.size()) + " task(s)" +
                                 (r.wasUnreachable ? ", reachable again" : "")});
  r.agent.awaitingRegistered = true;
  state.agentsByPeer[peer] = id;
  const auto& stored = state.agents[id] = std::move(r.agent);
  if (!r.wasReachable) ctx_.watch([&](StateWatcher& w) { w.agentAdded(stored); });
  // The reply, and what follows it, once the admission is on disk.
  ctx_.registry.afterDurable([this, peer, id, toKill = std::move(r.toKill), toShutDown = std::move(r.toShutDown),
                              relaunch = std::move(r.relaunch)] {
    if (!confirm(peer, id, true)) return;
    auto agent = ctx_.state.agents.find(id);
    for (const auto& [frameworkId, taskId] : toKill) tasks_.killOnAgent(agent->second, frameworkId, taskId, 0);
    for (const auto& frameworkId : toShutDown) {
      capnp::MallocMessageBuilder shutdown;
      shutdown.initRoot<wire::Envelope>().initShutdownFramework().setFrameworkId(frameworkId.value);
      ctx_.send(peer, shutdown);
    }
    for (const auto& [frameworkId, taskInfo] : relaunch) {
      auto fw = ctx_.state.frameworks.find(frameworkId);
      if (fw == ctx_.state.frameworks.end()) continue;
      spdlog::info("sending task {} to agent {} again: it never arrived", taskInfo.taskId.value, id.value);
      tasks_.sendRunTask(fw->second, agent->second, taskInfo);
    }
  });
  ctx_.requestAllocation();
}

// ------------------------------------------------------------ liveness

void AgentBook::onPong(const std::string& peer) {
  if (auto* agent = byPeer(peer)) {
    agent->pongSeen = true;
    agent->missedPings = 0;
  } else {
    askToReregister(peer, "the master does not know this agent");
  }
}

void AgentBook::executorExited(AgentEntry& agent, wire::ExecutorExited::Reader message) {
  FrameworkID frameworkId{text(message.getFrameworkId())};
  ExecutorID executorId{text(message.getExecutorId())};
  ++ctx_.state.metrics.executorsExited;
  auto it = agent.executors.find({frameworkId, executorId});
  if (it != agent.executors.end()) {
    Resources freed = it->second.resources;
    agent.used -= freed;
    agent.executors.erase(it);
    if (!freed.empty()) {
      ctx_.allocator.recoverResources(frameworkId, agent.id, freed, std::nullopt);
      ctx_.requestAllocation();
    }
  }
  auto fw = ctx_.state.frameworks.find(frameworkId);
  if (fw == ctx_.state.frameworks.end() || !fw->second.connected) return;
  capnp::MallocMessageBuilder forward;
  auto out = forward.initRoot<wire::Envelope>().initExecutorExited();
  out.setFrameworkId(frameworkId.value);
  out.setExecutorId(executorId.value);
  out.setAgentId(agent.id.value);
  out.setStatus(message.getStatus());
  out.setMessage(message.getMessage());
  ctx_.send(fw->second.peer, forward);
}

void AgentBook::ping() {
  const auto& flags = ctx_.flags;
  std::vector<AgentID> lost;
  for (auto& [id, agent] : ctx_.state.agents) {
    if (!agent.reachable || agent.awaitingRegistered) continue;
    if (!agent.pongSeen && ++agent.missedPings >= flags.maxAgentPingTimeouts) {
      lost.push_back(id);
      continue;
    }
    agent.pongSeen = false;
    capnp::MallocMessageBuilder message;
    message.initRoot<wire::Envelope>().initPing().setSequence(++pingSequence_);
    ctx_.send(agent.peer, message);
  }
  size_t deferred = 0;
  for (const auto& id : lost) {
    if (!removalAllowed()) {
      // It stays registered, missing pings, until the limit lets it go; an
      // answer before then keeps it.
      ++deferred;
      continue;
    }
    unreachable(id, "missed " + std::to_string(flags.maxAgentPingTimeouts) + " pings");
  }
  if (deferred > 0) {
    ctx_.state.metrics.agentRemovalsDeferred += deferred;
    spdlog::warn("{} agent(s) missed their pings but wait their turn (--agent-removal-rate-limit {}/{} ms)",
                 deferred, flags.agentRemovalRateCount, toMs(flags.agentRemovalRatePeriod));
  }
  checkDeadlines();
}

bool AgentBook::removalAllowed() {
  if (ctx_.flags.agentRemovalRateCount <= 0) return true;
  double now = ctx_.now();
  double period = toSeconds(ctx_.flags.agentRemovalRatePeriod);
  while (!recentRemovals_.empty() && now - recentRemovals_.front() >= period) recentRemovals_.pop_front();
  if (recentRemovals_.size() >= static_cast<size_t>(ctx_.flags.agentRemovalRateCount)) return false;
  recentRemovals_.push_back(now);
  return true;
}

void AgentBook::checkDeadlines() {
  double wallNow = ctx_.wallNow();
  double removalAfter = toSeconds(ctx_.flags.agentRemovalTimeout);
  std::vector<AgentID> expired;
  for (const auto& [id, agent] : ctx_.state.agents) {
    if (!agent.reachable && wallNow - agent.unreachableSince >= removalAfter) expired.push_back(id);
  }
  // Agents marked unreachable before a master restart that never came back.
  for (const auto& [id, record] : ctx_.registry.agents()) {
    if (record.mark == AgentMark::kUnreachable && ctx_.state.agents.count(id) == 0 &&
        wallNow - record.markedAt >= removalAfter) {
      expired.push_back(id);
    }
  }
  for (const auto& id : expired) {
    gone(id, TaskReason::kAgentRemoved,
         "agent " + id.value + " was unreachable for longer than --agent-removal-timeout (" +
             std::to_string(toMs(ctx_.flags.agentRemovalTimeout)) + " ms)");
  }
  if (awaitingReregistration_.empty() || ctx_.now() < reregisterDeadline_) return;
  markUnreturnedUnreachable();
}

void AgentBook::markUnreturnedUnreachable() {
  for (const auto& id : std::set<AgentID>(awaitingReregistration_)) {
    if (!removalAllowed()) break;
    spdlog::warn("agent {} did not re-register within --agent-reregister-timeout after the master restarted; "
                 "marking it unreachable",
                 id.value);
    ++ctx_.state.metrics.agentsLost;
    ctx_.events.record({.type = EventType::kAgentUnreachable, .agentId = id.value,
                        .message = "did not re-register within --agent-reregister-timeout after the master "
                                   "restarted"});
    if (auto marked = ctx_.registry.mark(id, AgentMark::kUnreachable, ctx_.wallNow()); !marked) {
      spdlog::error("cannot mark agent {} unreachable in the registry: {}", id.value, marked.error().message);
      break;
    }
    awaitingReregistration_.erase(id);
  }
}

// ------------------------------------------------------------ unreachable, gone

void AgentBook::tellAgentLost(const AgentID& id) {
  for (auto& [frameworkId, fw] : ctx_.state.frameworks) {
    if (!fw.connected) continue;
    capnp::MallocMessageBuilder message;
    message.initRoot<wire::Envelope>().initAgentLost().setAgentId(id.value);
    ctx_.sendWhenDurable(fw.peer, message);
  }
}

void AgentBook::gone(const AgentID& id, TaskReason reason, const std::string& why) {
  auto& state = ctx_.state;
  const auto* record = ctx_.registry.agent(id);
  auto it = state.agents.find(id);
  if (it == state.agents.end() && (record == nullptr || record->mark == AgentMark::kGone)) return;
  spdlog::warn("agent {} is gone: {}", id.value, why);
  ctx_.events.record({.type = EventType::kAgentRemoved, .agentId = id.value, .message = why});
  ++state.metrics.agentsGone;
  if (auto marked = ctx_.registry.mark(id, AgentMark::kGone, ctx_.wallNow()); !marked) {
    spdlog::error("cannot mark agent {} gone in the registry: {}", id.value, marked.error().message);
  }
  awaitingReregistration_.erase(id);
  if (it == state.agents.end()) return;

  auto& agent = it->second;
  bool wasReachable = agent.reachable;
  if (wasReachable) {
    ctx_.watch([&](StateWatcher& w) { w.agentRemoved(id); });
    offers_.rescindAll(agent.offers, false);
    ctx_.allocator.removeAgent(id);
    state.agentsByPeer.erase(agent.peer);
    shutdown(agent.peer, why);
  }
  for (const auto& [frameworkId, taskId] : agent.tasks) {
    auto fw = state.frameworks.find(frameworkId);
    if (fw == state.frameworks.end()) continue;
    auto task = fw->second.tasks.find(taskId);
    if (task == fw->second.tasks.end() || isTerminal(task->second.state)) continue;
    TaskState ended = masterTaskState(TaskFate::kAgentGone, fw->second.info.partitionAware);
    tasks_.endTask(fw->second, task->second, tasks_.masterStatus(task->second, ended, reason, why),
                   {.durable = true, .then = TaskEnd::Record::kRetire});
  }
  state.agents.erase(it);
  if (!wasReachable) return;  // frameworks heard of it when it became unreachable
  tellAgentLost(id);
  ctx_.requestAllocation();
}

void AgentBook::unreachable(const AgentID& id, const std::string& why) {
  auto& state = ctx_.state;
  auto it = state.agents.find(id);
  if (it == state.agents.end() || !it->second.reachable) return;
  auto& agent = it->second;
  spdlog::warn("agent {} at {} is unreachable: {}", id.value, agent.info.hostname, why);
  ctx_.events.record({.type = EventType::kAgentUnreachable, .agentId = id.value, .message = why});
  ++state.metrics.agentsLost;
  agent.reachable = false;
  agent.unreachableSince = ctx_.wallNow();
  ctx_.watch([&](StateWatcher& w) { w.agentRemoved(id); });
  if (auto marked = ctx_.registry.mark(id, AgentMark::kUnreachable, agent.unreachableSince); !marked) {
    spdlog::error("cannot mark agent {} unreachable in the registry: {}", id.value, marked.error().message);
  }
  offers_.rescindAll(agent.offers, false);
  ctx_.allocator.removeAgent(id);
  state.agentsByPeer.erase(agent.peer);

  for (const auto& [frameworkId, taskId] : agent.tasks) {
    auto fw = state.frameworks.find(frameworkId);
    if (fw == state.frameworks.end()) continue;
    auto task = fw->second.tasks.find(taskId);
    if (task == fw->second.tasks.end()) continue;
    bool aware = fw->second.info.partitionAware;
    auto status = tasks_.masterStatus(task->second, masterTaskState(TaskFate::kAgentUnreachable, aware),
                                      TaskReason::kAgentUnreachable, "agent " + id.value + " is unreachable: " + why);
    if (aware) {
      tasks_.changeState(fw->second, task->second, status, /*durable=*/true);
    } else {
      tasks_.endTask(fw->second, task->second, status, {.durable = true, .then = TaskEnd::Record::kRetire});
    }
  }
  // Partition-aware frameworks' tasks stay listed as unreachable until the
  // agent returns; the others' were retired above.
  for (auto t = agent.tasks.begin(); t != agent.tasks.end();) {
    auto fw = state.frameworks.find(t->first);
    if (fw == state.frameworks.end() || fw->second.tasks.count(t->second) == 0) {
      t = agent.tasks.erase(t);
    } else {
      ++t;
    }
  }
  agent.used = Resources();
  agent.executors.clear();  // the agent reports them again if it returns
  tellAgentLost(id);
}

}  // namespace clusternodes::master
