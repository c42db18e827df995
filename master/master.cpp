#include "master/master.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>

#include "master/validation.hpp"

namespace clusternodes::master {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

using wire::text;

int64_t toMs(std::chrono::nanoseconds d) { return duration_cast<milliseconds>(d).count(); }

// The same resources, unreserved.
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

}  // namespace

Master::Master(Loop& loop, zmq::context_t& context, MasterFlags flags)
    : loop_(loop),
      flags_(std::move(flags)),
      registry_(makeFileStore(flags_.workDir)),
      allocator_(makeDrfAllocator(clock_)),
      socket_(std::make_unique<ZmqSocket>(loop, context, ZmqSocket::Kind::kRouter)),
      allocationTimer_(loop),
      periodicAllocationTimer_(loop),
      pingTimer_(loop),
      heartbeatTimer_(loop) {
  state_.masterId = randomUuid();
  state_.startedAt = Loop::wallSeconds();
}

Master::~Master() = default;

Result<void> Master::start() {
  if (auto recovered = registry_.recover(); !recovered) return recovered.error();

  allocator_->initialize([this](const FrameworkID& id, std::vector<Allocation> allocations) {
    sendOffers(id, std::move(allocations));
  });
  allocator_->updateWeights(flags_.weights);
  // What the operator set through the API overrides --weights.
  allocator_->updateWeights(registry_.weights());
  for (const auto& [role, quota] : registry_.quotas()) allocator_->updateQuota(role, quota);

  // Frameworks come back disconnected: each has its failover timeout, from
  // now, to subscribe again before it is removed and its tasks killed.
  for (const auto& [id, record] : registry_.frameworks()) {
    FrameworkEntry entry;
    entry.id = id;
    entry.info = record.info;
    entry.recovered = true;
    entry.disconnectedAt = clock_.now();
    entry.registeredAt = record.registeredAt;
    allocator_->addFramework(id, {subscribedRoles(entry.info), false}, {});
    state_.frameworks.emplace(id, std::move(entry));
  }
  // Admitted agents have --agent-reregister-timeout to come back.
  for (const auto& [id, record] : registry_.agents()) {
    if (record.mark == AgentMark::kAdmitted) awaitingReregistration_.insert(id);
  }
  reregisterDeadline_ = clock_.now() + std::chrono::duration<double>(flags_.agentReregisterTimeout).count();
  if (!registry_.frameworks().empty() || !awaitingReregistration_.empty()) {
    spdlog::info("recovered {} framework(s) and {} agent(s) to take back from the registry",
                 registry_.frameworks().size(), awaitingReregistration_.size());
  }

  socket_->onMessage([this](std::string_view peer, std::string_view bytes) { onMessage(peer, bytes); });
  auto bound = socket_->bind("tcp://" + flags_.ip + ":" + std::to_string(flags_.port));
  if (!bound) return bound.error();
  endpoint_ = *bound;

  http_ = std::make_unique<HttpServer>(loop_);
  installMasterEndpoints(*http_, *this);
  auto httpBound = http_->listen(flags_.ip, flags_.httpPort);
  if (!httpBound) return httpBound.error();
  httpPort_ = *httpBound;

  auto pingEvery = std::max(flags_.agentPingTimeout, std::chrono::nanoseconds(milliseconds(10)));
  pingTimer_.start(pingEvery, [this] { pingAgents(); }, pingEvery);
  auto heartbeatEvery = std::max(flags_.frameworkHeartbeatInterval, std::chrono::nanoseconds(milliseconds(10)));
  heartbeatTimer_.start(heartbeatEvery, [this] { heartbeatFrameworks(); }, heartbeatEvery);
  // The periodic pass only catches expired filters and offer timeouts;
  // everything else allocates on its event.
  periodicAllocationTimer_.start(
      std::chrono::seconds(1),
      [this] {
        expireOffers();
        requestAllocation();
      },
      std::chrono::seconds(1));

  spdlog::info("master {} listening on {} (http {}:{}), work dir {}", state_.masterId, endpoint_, flags_.ip,
               httpPort_, flags_.workDir);
  return {};
}

// ------------------------------------------------------------ operator API

Result<void> Master::setWeights(const std::map<std::string, double>& weights) {
  if (weights.empty()) return invalid("no weights given");
  for (const auto& [role, weight] : weights) {
    if (auto valid = validateRole(role); !valid) return valid.error();
    if (!std::isfinite(weight) || weight <= 0) {
      return invalid("the weight of role '" + role + "' must be a positive number");
    }
  }
  if (auto saved = registry_.setWeights(weights); !saved) return saved.error();
  allocator_->updateWeights(weights);
  spdlog::info("role weights updated: {} role(s)", weights.size());
  requestAllocation();
  return {};
}

Result<void> Master::setQuota(const std::string& role, const Quota& quota) {
  if (auto valid = validateRole(role); !valid) return valid.error();
  if (role == kDefaultRole) return invalid("role '*' cannot have a quota");
  for (const auto* part : {&quota.guarantee, &quota.limit}) {
    for (const auto& e : part->entries()) {
      if (e.isRanges) return invalid("quota is for scalar resources only, not '" + e.name + "'");
      if (e.role != kDefaultRole) return invalid("quota resources must be unreserved, not '" + e.name + "(" + e.role + ")'");
    }
  }
  for (const auto& e : quota.guarantee.entries()) {
    bool limited = false;
    for (const auto& l : quota.limit.entries()) limited |= l.name == e.name;
    if (limited && quota.limit.scalar(e.name) < e.scalar) {
      return invalid("the guarantee of " + e.name + " exceeds its limit");
    }
  }
  if (auto saved = registry_.setQuota(role, quota); !saved) return saved.error();
  allocator_->updateQuota(role, quota);
  spdlog::info("quota of role {}: guarantee '{}', limit '{}'", role, quota.guarantee.toString(),
               quota.limit.toString());
  requestAllocation();
  return {};
}

// ------------------------------------------------------------ transport

void Master::onMessage(std::string_view peerView, std::string_view bytes) {
  ++state_.metrics.messagesReceived;
  std::string peer(peerView);
  auto decoded = wire::decode(bytes);
  if (!decoded) {
    dropMessage(peer, decoded.error().message);
    return;
  }
  auto envelope = (*decoded)->envelope();
  wire::dispatchSafely([&] { dispatch(peer, envelope); },
                       [&](const std::string& reason) {
                         dropMessage(peer, std::string(wire::name((*decoded)->which())) + ": " + reason);
                       });
}

void Master::dropMessage(const std::string& peer, const std::string& reason) {
  ++state_.metrics.messagesDropped;
  spdlog::warn("dropped a malformed message ({} so far): {}", state_.metrics.messagesDropped, reason);
}

void Master::sendTo(const std::string& peer, capnp::MallocMessageBuilder& message) {
  socket_->sendTo(peer, wire::encode(message));
}

void Master::dispatch(const std::string& peer, const wire::Envelope::Reader& envelope) {
  switch (envelope.which()) {
    case wire::Envelope::REGISTER_AGENT: return registerAgent(peer, envelope.getRegisterAgent());
    case wire::Envelope::PONG: return onPong(peer);
    case wire::Envelope::CONTAINER_USAGES: return containerUsages(peer, envelope.getContainerUsages());
    case wire::Envelope::STATUS_UPDATE: return statusUpdate(peer, envelope.getStatusUpdate());
    case wire::Envelope::EXECUTOR_EXITED: return executorExited(peer, envelope.getExecutorExited());
    case wire::Envelope::FRAMEWORK_MESSAGE: return frameworkMessage(peer, envelope.getFrameworkMessage());
    case wire::Envelope::SUBSCRIBE: return subscribe(peer, envelope.getSubscribe());
    case wire::Envelope::ACCEPT: return accept(peer, envelope.getAccept());
    case wire::Envelope::DECLINE: return decline(peer, envelope.getDecline());
    case wire::Envelope::REVIVE: return revive(peer, envelope.getRevive());
    case wire::Envelope::SUPPRESS: return suppress(peer, envelope.getSuppress());
    case wire::Envelope::KILL: return kill(peer, envelope.getKill());
    case wire::Envelope::ACKNOWLEDGE: return acknowledge(peer, envelope.getAcknowledge());
    case wire::Envelope::RECONCILE: return reconcile(peer, envelope.getReconcile());
    case wire::Envelope::TEARDOWN: return teardown(peer, FrameworkID{text(envelope.getTeardown().getFrameworkId())});
    case wire::Envelope::GET_MASTER_INFO: {
      capnp::MallocMessageBuilder reply;
      auto info = reply.initRoot<wire::Envelope>().initMasterInfo();
      info.setId(state_.masterId);
      info.setIp(flags_.ip);
      info.setHttpPort(static_cast<uint16_t>(httpPort_));
      sendTo(peer, reply);
      return;
    }
    case wire::Envelope::HEARTBEAT: {
      callingFramework(peer, text(envelope.getHeartbeat().getFrameworkId()));
      return;
    }
    default:
      throw wire::MalformedMessage(std::string("the master does not accept ") + wire::name(envelope.which()));
  }
}

// ------------------------------------------------------------ agents

AgentEntry* Master::agentByPeer(const std::string& peer) {
  auto it = state_.agentsByPeer.find(peer);
  if (it == state_.agentsByPeer.end()) return nullptr;
  auto agent = state_.agents.find(it->second);
  if (agent == state_.agents.end() || !agent->second.reachable) return nullptr;
  return &agent->second;
}

void Master::askToReregister(const std::string& peer, const std::string& reason) {
  capnp::MallocMessageBuilder message;
  message.initRoot<wire::Envelope>().initReregister().setReason(reason);
  sendTo(peer, message);
}

void Master::registerAgent(const std::string& peer, wire::RegisterAgent::Reader message) {
  AgentID claimed{text(message.getAgentId())};
  if (!claimed.empty()) return reregisterAgent(peer, claimed, message);

  // A retried registration whose reply was lost: answer with the same id.
  if (auto* existing = agentByPeer(peer)) return replyAgentRegistered(peer, existing->id, false);

  AgentEntry agent;
  agent.id.value = state_.masterId + "-S" + std::to_string(nextAgent_++);
  agent.peer = peer;
  agent.info = wire::fromWire(message.getInfo());
  agent.registeredAt = Loop::wallSeconds();
  if (agent.info.resources.empty()) throw wire::MalformedMessage("agent advertises no resources");

  if (auto admitted = registry_.admit({agent.id, agent.info.hostname, AgentMark::kAdmitted, agent.registeredAt});
      !admitted) {
    spdlog::error("cannot admit agent {}: {}", agent.id.value, admitted.error().message);
    return;  // the agent retries
  }
  ++state_.metrics.agentsRegistered;
  spdlog::info("registered agent {} at {} with {}", agent.id.value, agent.info.hostname,
               agent.info.resources.toString());
  events_.record({.type = EventType::kAgentRegistered, .agentId = agent.id.value,
                  .message = "agent on " + agent.info.hostname + " with " + agent.info.resources.toString()});
  state_.agentsByPeer[peer] = agent.id;
  auto& stored = state_.agents[agent.id] = std::move(agent);
  addAgentToAllocator(stored);
  replyAgentRegistered(peer, stored.id, false);

  // The agent ran here before as another agent whose tasks did not survive
  // (its host rebooted, or it was started with --recover=cleanup).
  AgentID previous{text(message.getPreviousAgentId())};
  if (!previous.empty() && previous != stored.id) {
    std::string why = text(message.getPreviousAgentEnded());
    agentGone(previous, TaskReason::kAgentRestarted,
              "agent " + previous.value + " on " + stored.info.hostname + " came back as a new agent" +
                  (why.empty() ? std::string() : " (" + why + ")"));
  }
  requestAllocation();
}

void Master::reregisterAgent(const std::string& peer, const AgentID& id, wire::RegisterAgent::Reader message) {
  auto info = wire::fromWire(message.getInfo());
  if (info.resources.empty()) throw wire::MalformedMessage("agent advertises no resources");

  auto existing = state_.agents.find(id);
  if (const auto* record = registry_.agent(id);
      existing == state_.agents.end() && record != nullptr && record->mark == AgentMark::kGone) {
    return shutdownAgent(peer, "agent " + id.value + " was removed from the cluster; shut down its tasks and "
                               "register as a new agent");
  }
  awaitingReregistration_.erase(id);
  if (existing != state_.agents.end() && existing->second.reachable && existing->second.peer == peer) {
    // A retried registration from the connection that is registered already
    // (its reply crossed it): answer again, and change nothing, least of all
    // the tasks, which the first registration settled.
    return replyAgentRegistered(peer, id, true);
  }
  bool wasUnreachable = false;
  std::map<std::pair<FrameworkID, TaskID>, Task> previous;
  if (existing != state_.agents.end()) {
    wasUnreachable = !existing->second.reachable;
    if (!wasUnreachable) {
      // Already registered (a retried message, or the agent restarted):
      // take the new connection, forget the old offers.
      for (auto offer : std::set<OfferID>(existing->second.offers)) rescindOffer(offer, false);
      allocator_->removeAgent(id);
    }
    state_.agentsByPeer.erase(existing->second.peer);
    // Tasks are rebuilt from the agent's report below; remember what was
    // known, to account for tasks the agent no longer has.
    for (const auto& [frameworkId, taskId] : existing->second.tasks) {
      auto fw = state_.frameworks.find(frameworkId);
      if (fw == state_.frameworks.end()) continue;
      auto task = fw->second.tasks.find(taskId);
      if (task == fw->second.tasks.end()) continue;
      previous.emplace(std::make_pair(frameworkId, taskId), std::move(task->second));
      fw->second.tasks.erase(task);
    }
    state_.agents.erase(existing);
  } else if (const auto* record = registry_.agent(id)) {
    wasUnreachable = record->mark == AgentMark::kUnreachable;
  }

  AgentEntry agent;
  agent.id = id;
  agent.peer = peer;
  agent.info = std::move(info);
  applyReservations(agent);
  agent.registeredAt = Loop::wallSeconds();
  if (auto admitted = registry_.admit({id, agent.info.hostname, AgentMark::kAdmitted, agent.registeredAt});
      !admitted) {
    spdlog::error("cannot re-admit agent {}: {}", id.value, admitted.error().message);
    return;
  }

  std::vector<std::pair<FrameworkID, TaskID>> toKill;
  for (auto reported : message.getTasks()) {
    FrameworkID frameworkId{text(reported.getFrameworkId())};
    TaskInfo taskInfo = wire::fromWire(reported.getTask());
    auto taskState = parseTaskState(text(reported.getState()));
    if (!taskState) continue;
    // An ended task is reported while its framework has updates of it to
    // acknowledge: it is kept, ended, for them to be relayed.
    bool ended = isTerminal(*taskState);
    if (removedFrameworks_.count(frameworkId) != 0) {
      if (!ended) toKill.emplace_back(frameworkId, taskInfo.taskId);
      continue;
    }
    auto fw = state_.frameworks.find(frameworkId);
    if (fw == state_.frameworks.end()) {
      // A framework this master has not seen yet (the master restarted): keep
      // its tasks until it re-subscribes.
      FrameworkEntry entry;
      entry.id = frameworkId;
      entry.info = wire::fromWire(reported.getFrameworkInfo());
      entry.info.id = frameworkId;
      entry.recovered = true;
      entry.disconnectedAt = clock_.now();
      entry.registeredAt = Loop::wallSeconds();
      fw = state_.frameworks.emplace(frameworkId, std::move(entry)).first;
      allocator_->addFramework(frameworkId, {subscribedRoles(fw->second.info), false}, {});
    }
    if (wasUnreachable && !fw->second.info.partitionAware) {
      // Its tasks were reported LOST when the agent went away; they must not
      // come back to life.
      if (!ended) toKill.emplace_back(frameworkId, taskInfo.taskId);
      continue;
    }
    Task task;
    bool known = false;
    std::optional<TaskState> knownState;
    if (auto before = previous.find({frameworkId, taskInfo.taskId}); before != previous.end()) {
      task = std::move(before->second);
      knownState = task.state;
      previous.erase(before);
      known = true;
      if (task.killPending && !ended) toKill.emplace_back(frameworkId, taskInfo.taskId);
      task.killPending = false;
    }
    task.info = taskInfo;
    task.info.agentId = id;
    task.frameworkId = frameworkId;
    task.state = *taskState;
    if (task.createdAt == 0) task.createdAt = Loop::wallSeconds();
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
      agent.used += taskInfo.resources;
      agent.tasks.emplace(frameworkId, taskInfo.taskId);
    } else if (known) {
      ++state_.metrics.tasksTerminal[toString(task.state)];
      ++fw->second.completedTasks;
    }
    bool tellFramework = wasUnreachable && !ended;
    auto& stored = fw->second.tasks[taskInfo.taskId] = std::move(task);
    if (tellFramework) {
      auto status = masterStatus(stored, stored.state, TaskReason::kReconciliation, "the agent is reachable again");
      recordTaskState(frameworkId, status);
      sendStatus(fw->second, status);
    } else if (knownState && *knownState != stored.state) {
      recordTaskState(frameworkId, stored.lastStatus);  // it changed while the agent was away
    }
  }

  // The frameworks' executors it runs. Those of removed frameworks go.
  std::set<FrameworkID> toShutDown;
  for (auto reported : message.getExecutors()) {
    FrameworkID frameworkId{text(reported.getFrameworkId())};
    ExecutorInfo executor = wire::fromWire(reported.getInfo());
    if (removedFrameworks_.count(frameworkId) != 0 || state_.frameworks.count(frameworkId) == 0) {
      toShutDown.insert(frameworkId);
      continue;
    }
    agent.used += executor.resources;
    agent.executors[{frameworkId, executor.executorId}] = std::move(executor);
  }

  // Tasks the master sent there that the agent does not report. One still
  // staging never reached it (the agent was down when the launch went out,
  // or lost it from its launch queue): it is sent again. One that had
  // started is lost.
  std::vector<std::pair<FrameworkID, TaskInfo>> relaunch;
  for (auto& [key, task] : previous) {
    auto fw = state_.frameworks.find(key.first);
    if (fw == state_.frameworks.end() || isTerminal(task.state)) continue;
    if (task.state == TaskState::kStaging && !wasUnreachable) {
      if (task.killPending) {
        auto status = masterStatus(task, TaskState::kKilled, TaskReason::kKilledByFramework,
                                   "killed before it reached its agent");
        recordTaskState(key.first, status);
        sendStatus(fw->second, status);
        ++state_.metrics.tasksTerminal[toString(TaskState::kKilled)];
        ++fw->second.completedTasks;
        continue;
      }
      agent.used += task.info.resources;
      agent.tasks.emplace(key.first, key.second);
      relaunch.emplace_back(key.first, task.info);
      fw->second.tasks[key.second] = std::move(task);
      continue;
    }
    auto status = masterStatus(task, fw->second.info.partitionAware ? TaskState::kDropped : TaskState::kLost,
                               TaskReason::kAgentRestarted, "the agent re-registered without this task");
    recordTaskState(key.first, status);
    sendStatus(fw->second, status);
    ++state_.metrics.tasksTerminal[toString(status.state)];
    ++fw->second.completedTasks;
  }

  ++state_.metrics.agentsReregistered;
  spdlog::info("re-registered agent {} at {} with {} task(s)", id.value, agent.info.hostname, agent.tasks.size());
  events_.record({.type = EventType::kAgentReregistered, .agentId = id.value,
                  .message = "agent on " + agent.info.hostname + " with " + std::to_string(agent.tasks.size()) +
                             " task(s)" + (wasUnreachable ? ", reachable again" : "")});
  state_.agentsByPeer[peer] = id;
  auto& stored = state_.agents[id] = std::move(agent);
  addAgentToAllocator(stored);
  replyAgentRegistered(peer, id, true);
  for (const auto& [frameworkId, taskId] : toKill) killTaskOnAgent(stored, frameworkId, taskId, 0);
  for (const auto& frameworkId : toShutDown) {
    capnp::MallocMessageBuilder shutdown;
    shutdown.initRoot<wire::Envelope>().initShutdownFramework().setFrameworkId(frameworkId.value);
    sendTo(peer, shutdown);
  }
  for (const auto& [frameworkId, taskInfo] : relaunch) {
    spdlog::info("sending task {} to agent {} again: it never arrived", taskInfo.taskId.value, id.value);
    sendRunTask(state_.frameworks.at(frameworkId), stored, taskInfo);
  }
  requestAllocation();
}

void Master::applyReservations(AgentEntry& agent) {
  Resources reserved = registry_.reservations(agent.id);
  if (reserved.empty()) return;
  Resources from = asUnreserved(reserved);
  if (!agent.info.resources.contains(from)) {
    spdlog::warn("agent {} advertises {}, too little for its reservations {}; they are not applied",
                 agent.id.value, agent.info.resources.toString(), reserved.toString());
    return;
  }
  agent.info.resources = agent.info.resources - from + reserved;
}

Result<void> Master::reserveOrUnreserve(FrameworkEntry& framework, AgentEntry& agent, const std::string& role,
                                        Resources& remaining, const Resources& resources, bool reserve) {
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
  Resources from = reserve ? asUnreserved(resources) : resources;
  Resources to = reserve ? resources : asUnreserved(resources);
  if (!remaining.contains(from)) {
    return invalid(std::string(what) + " of " + resources.toString() + ": the offers hold only " +
                   remaining.toString());
  }
  Resources reserved = registry_.reservations(agent.id);
  if (reserve) {
    reserved += resources;
  } else {
    reserved -= resources;
  }
  if (auto saved = registry_.setReservations(agent.id, reserved); !saved) return saved.error();
  remaining = remaining - from + to;
  agent.info.resources = agent.info.resources - from + to;
  allocator_->transformAllocation(framework.id, agent.id, from, to);
  ++state_.metrics.reservationsChanged;
  spdlog::info("framework {} {} {} on agent {}", framework.id.value, reserve ? "reserved" : "unreserved",
               resources.toString(), agent.id.value);
  return {};
}

void Master::addAgentToAllocator(const AgentEntry& agent) {
  std::map<FrameworkID, Resources> used;
  for (const auto& [frameworkId, taskId] : agent.tasks) {
    used[frameworkId] += state_.frameworks.at(frameworkId).tasks.at(taskId).info.resources;
  }
  for (const auto& [key, executor] : agent.executors) used[key.first] += executor.resources;
  allocator_->addAgent(agent.id, agent.info.hostname, agent.info.resources, used);
}

void Master::replyAgentRegistered(const std::string& peer, const AgentID& id, bool reregistered) {
  capnp::MallocMessageBuilder message;
  auto reply = message.initRoot<wire::Envelope>().initAgentRegistered();
  reply.setAgentId(id.value);
  reply.setPingIntervalMs(toMs(flags_.agentPingTimeout));
  reply.setMaxPingTimeouts(static_cast<uint32_t>(flags_.maxAgentPingTimeouts));
  reply.setReregistered(reregistered);
  sendTo(peer, message);
}

void Master::onPong(const std::string& peer) {
  if (auto* agent = agentByPeer(peer)) {
    agent->pongSeen = true;
    agent->missedPings = 0;
  } else {
    askToReregister(peer, "the master does not know this agent");
  }
}

void Master::containerUsages(const std::string& peer, wire::ContainerUsages::Reader message) {
  auto* agent = agentByPeer(peer);
  if (agent == nullptr) return askToReregister(peer, "the master does not know this agent");
  for (auto entry : message.getContainers()) {
    auto fw = state_.frameworks.find(FrameworkID{text(entry.getFrameworkId())});
    if (fw == state_.frameworks.end()) continue;
    auto task = fw->second.tasks.find(TaskID{text(entry.getTaskId())});
    // Only the agent that runs a task speaks for it.
    if (task == fw->second.tasks.end() || task->second.info.agentId != agent->id) continue;
    task->second.usage = wire::fromWire(entry);
  }
}

void Master::pingAgents() {
  std::vector<AgentID> lost;
  for (auto& [id, agent] : state_.agents) {
    if (!agent.reachable) continue;
    if (!agent.pongSeen && ++agent.missedPings >= flags_.maxAgentPingTimeouts) {
      lost.push_back(id);
      continue;
    }
    agent.pongSeen = false;
    capnp::MallocMessageBuilder message;
    message.initRoot<wire::Envelope>().initPing().setSequence(++pingSequence_);
    sendTo(agent.peer, message);
  }
  size_t deferred = 0;
  for (const auto& id : lost) {
    if (!removalAllowed()) {
      // It stays registered, missing pings, until the limit lets it go; an
      // answer before then keeps it.
      ++deferred;
      continue;
    }
    agentUnreachable(id, "missed " + std::to_string(flags_.maxAgentPingTimeouts) + " pings");
  }
  if (deferred > 0) {
    state_.metrics.agentRemovalsDeferred += deferred;
    spdlog::warn("{} agent(s) missed their pings but wait their turn (--agent-removal-rate-limit {}/{} ms)",
                 deferred, flags_.agentRemovalRateCount, toMs(flags_.agentRemovalRatePeriod));
  }
  checkAgentDeadlines();
}

bool Master::removalAllowed() {
  if (flags_.agentRemovalRateCount <= 0) return true;
  double now = clock_.now();
  double period = std::chrono::duration<double>(flags_.agentRemovalRatePeriod).count();
  while (!recentRemovals_.empty() && now - recentRemovals_.front() >= period) recentRemovals_.pop_front();
  if (recentRemovals_.size() >= static_cast<size_t>(flags_.agentRemovalRateCount)) return false;
  recentRemovals_.push_back(now);
  return true;
}

void Master::checkAgentDeadlines() {
  double wallNow = Loop::wallSeconds();
  double removalAfter = std::chrono::duration<double>(flags_.agentRemovalTimeout).count();
  std::vector<AgentID> gone;
  for (const auto& [id, agent] : state_.agents) {
    if (!agent.reachable && wallNow - agent.unreachableSince >= removalAfter) gone.push_back(id);
  }
  // Agents marked unreachable before a master restart that never came back.
  for (const auto& [id, record] : registry_.agents()) {
    if (record.mark == AgentMark::kUnreachable && state_.agents.count(id) == 0 &&
        wallNow - record.markedAt >= removalAfter) {
      gone.push_back(id);
    }
  }
  for (const auto& id : gone) {
    agentGone(id, TaskReason::kAgentRemoved,
              "agent " + id.value + " was unreachable for longer than --agent-removal-timeout (" +
                  std::to_string(toMs(flags_.agentRemovalTimeout)) + " ms)");
  }

  if (awaitingReregistration_.empty() || clock_.now() < reregisterDeadline_) return;
  for (const auto& id : std::set<AgentID>(awaitingReregistration_)) {
    if (!removalAllowed()) break;
    spdlog::warn("agent {} did not re-register within --agent-reregister-timeout after the master restarted; "
                 "marking it unreachable",
                 id.value);
    ++state_.metrics.agentsLost;
    events_.record({.type = EventType::kAgentUnreachable, .agentId = id.value,
                    .message = "did not re-register within --agent-reregister-timeout after the master restarted"});
    if (auto marked = registry_.mark(id, AgentMark::kUnreachable, wallNow); !marked) {
      spdlog::error("cannot mark agent {} unreachable in the registry: {}", id.value, marked.error().message);
      break;
    }
    awaitingReregistration_.erase(id);
  }
}

void Master::shutdownAgent(const std::string& peer, const std::string& reason) {
  capnp::MallocMessageBuilder message;
  message.initRoot<wire::Envelope>().initShutdownAgent().setReason(reason);
  sendTo(peer, message);
}

void Master::agentGone(const AgentID& id, TaskReason reason, const std::string& why) {
  const auto* record = registry_.agent(id);
  auto it = state_.agents.find(id);
  if (it == state_.agents.end() && (record == nullptr || record->mark == AgentMark::kGone)) return;
  spdlog::warn("agent {} is gone: {}", id.value, why);
  events_.record({.type = EventType::kAgentRemoved, .agentId = id.value, .message = why});
  ++state_.metrics.agentsGone;
  if (auto marked = registry_.mark(id, AgentMark::kGone, Loop::wallSeconds()); !marked) {
    spdlog::error("cannot mark agent {} gone in the registry: {}", id.value, marked.error().message);
  }
  awaitingReregistration_.erase(id);
  if (it == state_.agents.end()) return;

  auto& agent = it->second;
  bool wasReachable = agent.reachable;
  if (wasReachable) {
    for (auto offer : std::set<OfferID>(agent.offers)) rescindOffer(offer, false);
    allocator_->removeAgent(id);
    state_.agentsByPeer.erase(agent.peer);
    shutdownAgent(agent.peer, why);
  }
  for (const auto& [frameworkId, taskId] : agent.tasks) {
    auto fw = state_.frameworks.find(frameworkId);
    if (fw == state_.frameworks.end()) continue;
    auto task = fw->second.tasks.find(taskId);
    if (task == fw->second.tasks.end() || isTerminal(task->second.state)) continue;
    bool aware = fw->second.info.partitionAware;
    auto status = masterStatus(task->second, aware ? TaskState::kGone : TaskState::kLost, reason, why);
    task->second.state = status.state;
    task->second.lastStatus = status;
    recordTaskState(frameworkId, status);
    sendStatus(fw->second, status);
    ++state_.metrics.tasksTerminal[toString(status.state)];
    ++fw->second.completedTasks;
    retireTask(fw->second, task);
  }
  state_.agents.erase(it);
  if (!wasReachable) return;  // frameworks heard of it when it became unreachable
  for (auto& [frameworkId, fw] : state_.frameworks) {
    if (!fw.connected) continue;
    capnp::MallocMessageBuilder message;
    message.initRoot<wire::Envelope>().initAgentLost().setAgentId(id.value);
    sendTo(fw.peer, message);
  }
  requestAllocation();
}

void Master::agentUnreachable(const AgentID& id, const std::string& why) {
  auto it = state_.agents.find(id);
  if (it == state_.agents.end() || !it->second.reachable) return;
  auto& agent = it->second;
  spdlog::warn("agent {} at {} is unreachable: {}", id.value, agent.info.hostname, why);
  events_.record({.type = EventType::kAgentUnreachable, .agentId = id.value, .message = why});
  ++state_.metrics.agentsLost;
  agent.reachable = false;
  agent.unreachableSince = Loop::wallSeconds();
  if (auto marked = registry_.mark(id, AgentMark::kUnreachable, agent.unreachableSince); !marked) {
    spdlog::error("cannot mark agent {} unreachable in the registry: {}", id.value, marked.error().message);
  }
  for (auto offer : std::set<OfferID>(agent.offers)) rescindOffer(offer, false);
  allocator_->removeAgent(id);
  state_.agentsByPeer.erase(agent.peer);

  for (const auto& [frameworkId, taskId] : agent.tasks) {
    auto fw = state_.frameworks.find(frameworkId);
    if (fw == state_.frameworks.end()) continue;
    auto task = fw->second.tasks.find(taskId);
    if (task == fw->second.tasks.end()) continue;
    bool aware = fw->second.info.partitionAware;
    auto status = masterStatus(task->second, aware ? TaskState::kUnreachable : TaskState::kLost,
                               TaskReason::kAgentUnreachable, "agent " + id.value + " is unreachable: " + why);
    task->second.state = status.state;
    task->second.lastStatus = status;
    recordTaskState(frameworkId, status);
    sendStatus(fw->second, status);
    if (!aware) {
      ++state_.metrics.tasksTerminal[toString(TaskState::kLost)];
      ++fw->second.completedTasks;
      retireTask(fw->second, task);
    }
  }
  // Partition-aware frameworks' tasks stay listed as unreachable until the
  // agent returns; the others' were removed above.
  for (auto t = agent.tasks.begin(); t != agent.tasks.end();) {
    auto fw = state_.frameworks.find(t->first);
    if (fw == state_.frameworks.end() || fw->second.tasks.count(t->second) == 0) {
      t = agent.tasks.erase(t);
    } else {
      ++t;
    }
  }
  agent.used = Resources();
  agent.executors.clear();  // the agent reports them again if it returns

  for (auto& [frameworkId, fw] : state_.frameworks) {
    if (!fw.connected) continue;
    capnp::MallocMessageBuilder message;
    message.initRoot<wire::Envelope>().initAgentLost().setAgentId(id.value);
    sendTo(fw.peer, message);
  }
}

void Master::statusUpdate(const std::string& peer, wire::StatusUpdate::Reader message) {
  auto* agent = agentByPeer(peer);
  if (agent == nullptr) return askToReregister(peer, "the master does not know this agent");
  FrameworkID frameworkId{text(message.getFrameworkId())};
  TaskStatus status = wire::fromWire(message.getStatus());
  status.agentId = agent->id;
  ++state_.metrics.statusUpdates;

  auto fw = state_.frameworks.find(frameworkId);
  Task* task = nullptr;
  if (fw != state_.frameworks.end()) {
    auto it = fw->second.tasks.find(status.taskId);
    if (it != fw->second.tasks.end()) task = &it->second;
  }
  if (task == nullptr) {
    // The framework is gone, or the task was already reported ended (lost
    // with its agent, say): nobody will acknowledge this update, so the
    // master does, and the agent stops re-sending it.
    ++state_.metrics.statusUpdatesUnknownTask;
    capnp::MallocMessageBuilder ack;
    auto a = ack.initRoot<wire::Envelope>().initStatusUpdateAck();
    a.setFrameworkId(frameworkId.value);
    a.setAgentId(agent->id.value);
    a.setTaskId(status.taskId.value);
    a.setUuid(status.uuid);
    sendTo(peer, ack);
    return;
  }
  // The agent sends a task's next update only once the last one is
  // acknowledged, so an update with the last one's uuid is a retry.
  if (!status.uuid.empty() && status.uuid == task->lastStatus.uuid) ++state_.metrics.statusUpdatesDuplicate;
  if (!isTerminal(task->state)) {
    if (task->state != status.state) recordTaskState(frameworkId, status);
    task->state = status.state;
    task->lastStatus = status;
    if (isTerminal(status.state)) taskTerminated(fw->second, *task);
  }
  // A re-sent update is relayed again: the framework may not have seen it.
  sendStatus(fw->second, status);
}

// ------------------------------------------------------------ frameworks

FrameworkEntry* Master::callingFramework(const std::string& peer, const std::string& claimed) {
  auto byPeer = state_.frameworksByPeer.find(peer);
  if (byPeer != state_.frameworksByPeer.end() && byPeer->second.value == claimed) {
    auto& fw = state_.frameworks.at(byPeer->second);
    fw.lastSeen = clock_.now();
    return &fw;
  }
  capnp::MallocMessageBuilder message;
  message.initRoot<wire::Envelope>().initReregister().setReason("framework '" + claimed +
                                                               "' is not subscribed on this connection");
  sendTo(peer, message);
  return nullptr;
}

void Master::subscribe(const std::string& peer, wire::Subscribe::Reader message) {
  FrameworkInfo info = wire::fromWire(message.getInfo());
  if (auto valid = validateFrameworkInfo(info); !valid) {
    capnp::MallocMessageBuilder error;
    error.initRoot<wire::Envelope>().initFrameworkError().setMessage(valid.error().message);
    sendTo(peer, error);
    return;
  }

  if (auto removed = removedFrameworks_.find(info.id); !info.id.empty() && removed != removedFrameworks_.end()) {
    capnp::MallocMessageBuilder error;
    error.initRoot<wire::Envelope>().initFrameworkError().setMessage("framework " + info.id.value +
                                                                     " was removed: " + removed->second);
    sendTo(peer, error);
    return;
  }

  bool reregistered = false;
  FrameworkEntry* fw = nullptr;
  if (!info.id.empty()) {
    auto it = state_.frameworks.find(info.id);
    if (it != state_.frameworks.end()) {
      fw = &it->second;
      reregistered = true;
      if (!fw->peer.empty() && fw->peer != peer) state_.frameworksByPeer.erase(fw->peer);
      fw->info = info;
    }
  } else if (auto byPeer = state_.frameworksByPeer.find(peer); byPeer != state_.frameworksByPeer.end()) {
    // A retried subscription whose reply was lost.
    fw = &state_.frameworks.at(byPeer->second);
  }

  if (fw == nullptr) {
    FrameworkEntry entry;
    entry.id = info.id.empty() ? FrameworkID{state_.masterId + "-" + std::to_string(nextFramework_++)} : info.id;
    reregistered = !info.id.empty();
    info.id = entry.id;
    entry.info = info;
    entry.registeredAt = Loop::wallSeconds();
    fw = &state_.frameworks.emplace(entry.id, std::move(entry)).first->second;
    allocator_->addFramework(fw->id, {subscribedRoles(info), true}, {});
    ++state_.metrics.frameworksRegistered;
  }
  fw->peer = peer;
  fw->connected = true;
  fw->recovered = false;
  fw->lastSeen = clock_.now();
  state_.frameworksByPeer[peer] = fw->id;
  allocator_->activateFramework(fw->id);
  persistFramework(*fw);
  spdlog::info("{} framework {} ({}) roles {} principal '{}'", reregistered ? "re-registered" : "registered",
               fw->id.value, fw->info.name, fmt::join(subscribedRoles(fw->info), ","), fw->info.principal);
  events_.record({.type = reregistered ? EventType::kFrameworkReregistered : EventType::kFrameworkRegistered,
                  .frameworkId = fw->id.value,
                  .message = fmt::format("{} (roles {})", fw->info.name, fmt::join(subscribedRoles(fw->info), ","))});

  capnp::MallocMessageBuilder reply;
  auto subscribed = reply.initRoot<wire::Envelope>().initSubscribed();
  subscribed.setFrameworkId(fw->id.value);
  subscribed.setHeartbeatIntervalMs(toMs(flags_.frameworkHeartbeatInterval));
  subscribed.setReregistered(reregistered);
  sendTo(peer, reply);
  requestAllocation();
}

void Master::persistFramework(const FrameworkEntry& framework) {
  FrameworkInfo info = framework.info;
  info.id = framework.id;
  if (auto saved = registry_.putFramework({info, framework.registeredAt}); !saved) {
    spdlog::error("cannot write framework {} to the registry: {}; a master restart would forget it",
                  framework.id.value, saved.error().message);
  }
}

void Master::sendStatus(FrameworkEntry& framework, const TaskStatus& status) {
  if (!framework.connected) return;  // agents retry acknowledged updates
  capnp::MallocMessageBuilder message;
  auto update = message.initRoot<wire::Envelope>().initStatusUpdate();
  update.setFrameworkId(framework.id.value);
  wire::toWire(status, framework.id, update.initStatus());
  sendTo(framework.peer, message);
}

TaskStatus Master::masterStatus(const Task& task, TaskState state, TaskReason reason, const std::string& message) {
  TaskStatus status;
  status.taskId = task.info.taskId;
  status.agentId = task.info.agentId;
  status.state = state;
  status.reason = reason;
  status.message = message;
  status.source = TaskSource::kMaster;
  status.timestamp = Loop::wallSeconds();
  return status;
}

void Master::recordTaskState(const FrameworkID& frameworkId, const TaskStatus& status) {
  events_.record({.type = EventType::kTaskStateChanged,
                  .agentId = status.agentId.value,
                  .frameworkId = frameworkId.value,
                  .taskId = status.taskId.value,
                  .state = toString(status.state),
                  .reason = status.reason == TaskReason::kNone ? "" : toString(status.reason),
                  .message = status.message});
}

void Master::accept(const std::string& peer, wire::Accept::Reader message) {
  auto* fw = callingFramework(peer, text(message.getFrameworkId()));
  if (fw == nullptr) {
    // Offers from before a master restart (or of another connection): the
    // tasks are not launched, and the framework hears so at once.
    FrameworkID claimed{text(message.getFrameworkId())};
    for (auto operation : message.getOperations()) {
      if (!operation.isLaunch()) continue;
      for (auto taskReader : operation.getLaunch()) {
        Task record;
        record.info = wire::fromWire(taskReader);
        capnp::MallocMessageBuilder dropped;
        auto update = dropped.initRoot<wire::Envelope>().initStatusUpdate();
        update.setFrameworkId(claimed.value);
        wire::toWire(masterStatus(record, TaskState::kDropped, TaskReason::kInvalidOffers,
                                  "task " + record.info.taskId.value +
                                      " not launched: its offers are not valid on this connection (the master "
                                      "restarted, or the framework is not subscribed)"),
                     claimed, update.initStatus());
        sendTo(peer, dropped);
        ++state_.metrics.tasksTerminal[toString(TaskState::kDropped)];
      }
    }
    return;
  }

  // Collect the offers; they must all be this framework's and on one agent.
  std::vector<OfferEntry> offers;
  std::string offerError;
  for (auto idText : message.getOfferIds()) {
    OfferID id{text(idText)};
    auto it = state_.offers.find(id);
    if (it == state_.offers.end()) {
      offerError = "offer " + id.value + " is no longer valid";
      continue;
    }
    if (it->second.frameworkId != fw->id) {
      offerError = "offer " + id.value + " belongs to another framework";
      continue;
    }
    if (!offers.empty() && offers.front().agentId != it->second.agentId) {
      offerError = "offers span more than one agent";
      continue;
    }
    offers.push_back(it->second);
  }
  if (offers.empty() && offerError.empty()) offerError = "no offers given";

  // Offers are used up by an ACCEPT whatever happens below.
  Resources remaining;
  for (const auto& offer : offers) {
    remaining += offer.resources;
    removeOffer(offer.id);
  }
  state_.metrics.offersAccepted += offers.size();

  std::set<TaskID> used;
  for (const auto& [id, task] : fw->tasks) used.insert(id);

  AgentEntry* agent = nullptr;
  if (!offers.empty()) {
    auto it = state_.agents.find(offers.front().agentId);
    if (it != state_.agents.end() && it->second.reachable) agent = &it->second;
  }

  const std::string role = offers.empty() ? std::string(kDefaultRole) : offers.front().role;
  for (auto operation : message.getOperations()) {
    if (operation.isReserve() || operation.isUnreserve()) {
      bool reserve = operation.isReserve();
      Resources resources = wire::fromWire(reserve ? operation.getReserve() : operation.getUnreserve());
      Result<void> done = !offerError.empty() ? Result<void>(invalid(offerError))
                          : agent == nullptr  ? Result<void>(invalid("the offers' agent is gone"))
                                              : reserveOrUnreserve(*fw, *agent, role, remaining, resources, reserve);
      if (!done) {
        ++state_.metrics.operationsDropped;
        spdlog::warn("framework {}: dropped an operation: {}", fw->id.value, done.error().message);
      }
      continue;
    }
    if (!operation.isLaunch()) continue;
    for (auto taskReader : operation.getLaunch()) {
      TaskInfo task = wire::fromWire(taskReader);
      Task record;
      record.info = task;
      record.frameworkId = fw->id;
      if (!offerError.empty() || agent == nullptr) {
        std::string why = offerError.empty() ? "the offers' agent is gone" : offerError;
        auto status = masterStatus(record, TaskState::kDropped, TaskReason::kInvalidOffers,
                                   "task " + task.taskId.value + " not launched: " + why);
        recordTaskState(fw->id, status);
        sendStatus(*fw, status);
        ++state_.metrics.tasksInvalid;
        ++state_.metrics.tasksTerminal[toString(TaskState::kDropped)];
        continue;
      }
      // A task that starts its framework's executor on the agent also pays
      // for the executor.
      const ExecutorInfo* running = nullptr;
      if (task.executor) {
        auto it = agent->executors.find({fw->id, task.executor->executorId});
        if (it != agent->executors.end()) running = &it->second;
      }
      auto valid = validateTask(task, agent->id, remaining, used, running);
      if (!valid) {
        ++state_.metrics.tasksInvalid;
        ++state_.metrics.tasksTerminal[toString(TaskState::kError)];
        auto status = masterStatus(record, TaskState::kError, TaskReason::kInvalidTask, valid.error().message);
        recordTaskState(fw->id, status);
        sendStatus(*fw, status);
        continue;
      }
      if (task.executor && running == nullptr) {
        remaining -= task.executor->resources;
        agent->used += task.executor->resources;
        agent->executors[{fw->id, task.executor->executorId}] = *task.executor;
      }
      remaining -= task.resources;
      used.insert(task.taskId);
      launch(*fw, *agent, task);
    }
  }

  // What the tasks did not use goes back, filtered as the framework asked.
  if (agent != nullptr && !remaining.empty()) {
    double refuse = message.getRefuseSeconds();
    std::optional<Filters> filters;
    if (refuse > 0) filters = Filters{refuse};
    allocator_->recoverResources(fw->id, agent->id, remaining, filters);
    requestAllocation();
  }
}

void Master::removeExecutors(AgentEntry& agent, const FrameworkID& frameworkId) {
  for (auto it = agent.executors.lower_bound({frameworkId, ExecutorID{}});
       it != agent.executors.end() && it->first.first == frameworkId;) {
    agent.used -= it->second.resources;
    it = agent.executors.erase(it);
  }
}

void Master::executorExited(const std::string& peer, wire::ExecutorExited::Reader message) {
  auto* agent = agentByPeer(peer);
  if (agent == nullptr) return askToReregister(peer, "the master does not know this agent");
  FrameworkID frameworkId{text(message.getFrameworkId())};
  ExecutorID executorId{text(message.getExecutorId())};
  ++state_.metrics.executorsExited;
  auto it = agent->executors.find({frameworkId, executorId});
  if (it != agent->executors.end()) {
    Resources freed = it->second.resources;
    agent->used -= freed;
    agent->executors.erase(it);
    if (!freed.empty()) {
      allocator_->recoverResources(frameworkId, agent->id, freed, std::nullopt);
      requestAllocation();
    }
  }
  auto fw = state_.frameworks.find(frameworkId);
  if (fw == state_.frameworks.end() || !fw->second.connected) return;
  capnp::MallocMessageBuilder forward;
  auto out = forward.initRoot<wire::Envelope>().initExecutorExited();
  out.setFrameworkId(frameworkId.value);
  out.setExecutorId(executorId.value);
  out.setAgentId(agent->id.value);
  out.setStatus(message.getStatus());
  out.setMessage(message.getMessage());
  sendTo(fw->second.peer, forward);
}

void Master::frameworkMessage(const std::string& peer, wire::FrameworkMessage::Reader message) {
  FrameworkID frameworkId{text(message.getFrameworkId())};
  ExecutorID executorId{text(message.getExecutorId())};
  if (auto* agent = agentByPeer(peer)) {
    // From an executor, through its agent: to the scheduler.
    auto fw = state_.frameworks.find(frameworkId);
    if (fw == state_.frameworks.end() || !fw->second.connected) return;
    ++state_.metrics.frameworkMessages;
    socket_->sendTo(fw->second.peer, wire::encodeFrameworkMessage(frameworkId.value, executorId.value,
                                                                  agent->id.value, message.getData()));
    return;
  }
  auto* fw = callingFramework(peer, frameworkId.value);
  if (fw == nullptr) return;
  AgentID agentId{text(message.getAgentId())};
  auto agent = state_.agents.find(agentId);
  if (agent == state_.agents.end() || !agent->second.reachable ||
      agent->second.executors.count({fw->id, executorId}) == 0) {
    spdlog::info("framework {}: dropping a message to executor {} on agent {}: it is not running there",
                 fw->id.value, executorId.value, agentId.value);
    return;
  }
  ++state_.metrics.frameworkMessages;
  socket_->sendTo(agent->second.peer,
                  wire::encodeFrameworkMessage(fw->id.value, executorId.value, agentId.value, message.getData()));
}

void Master::launch(FrameworkEntry& framework, AgentEntry& agent, const TaskInfo& taskInfo) {
  Task task;
  task.info = taskInfo;
  task.frameworkId = framework.id;
  task.state = TaskState::kStaging;
  task.createdAt = Loop::wallSeconds();
  task.lastStatus = masterStatus(task, TaskState::kStaging, TaskReason::kNone, "");
  recordTaskState(framework.id, task.lastStatus);
  framework.tasks[taskInfo.taskId] = task;
  agent.tasks.emplace(framework.id, taskInfo.taskId);
  agent.used += taskInfo.resources;
  ++state_.metrics.tasksLaunched;
  sendRunTask(framework, agent, taskInfo);
}

void Master::sendRunTask(const FrameworkEntry& framework, const AgentEntry& agent, const TaskInfo& taskInfo) {
  capnp::MallocMessageBuilder message;
  auto run = message.initRoot<wire::Envelope>().initRunTask();
  run.setFrameworkId(framework.id.value);
  wire::toWire(framework.info, run.initFrameworkInfo());
  wire::toWire(taskInfo, run.initTask());
  sendTo(agent.peer, message);
}

void Master::retireTask(FrameworkEntry& framework, std::map<TaskID, Task>::iterator task) {
  framework.completed.push_back(std::move(task->second));
  if (framework.completed.size() > FrameworkEntry::kMaxCompletedTasks) framework.completed.pop_front();
  framework.tasks.erase(task);
}

void Master::taskTerminated(FrameworkEntry& framework, Task& task) {
  ++state_.metrics.tasksTerminal[toString(task.state)];
  ++framework.completedTasks;
  auto agent = state_.agents.find(task.info.agentId);
  if (agent != state_.agents.end()) {
    agent->second.used -= task.info.resources;
    agent->second.tasks.erase({framework.id, task.info.taskId});
    if (agent->second.reachable) {
      allocator_->recoverResources(framework.id, agent->first, task.info.resources, std::nullopt);
      requestAllocation();
    }
  }
  // The record stays, in its terminal state, until the framework
  // acknowledges the terminal update (see acknowledge()).
}

void Master::decline(const std::string& peer, wire::Decline::Reader message) {
  auto* fw = callingFramework(peer, text(message.getFrameworkId()));
  if (fw == nullptr) return;
  double refuse = message.getRefuseSeconds();
  for (auto idText : message.getOfferIds()) {
    auto it = state_.offers.find(OfferID{text(idText)});
    if (it == state_.offers.end() || it->second.frameworkId != fw->id) continue;
    auto offer = it->second;
    removeOffer(offer.id);
    ++state_.metrics.offersDeclined;
    std::optional<Filters> filters;
    if (refuse > 0) filters = Filters{refuse};
    allocator_->recoverResources(fw->id, offer.agentId, offer.resources, filters);
  }
  requestAllocation();
}

void Master::revive(const std::string& peer, wire::FrameworkCall::Reader message) {
  auto* fw = callingFramework(peer, text(message.getFrameworkId()));
  if (fw == nullptr) return;
  allocator_->reviveOffers(fw->id, {});
  requestAllocation();
}

void Master::suppress(const std::string& peer, wire::FrameworkCall::Reader message) {
  auto* fw = callingFramework(peer, text(message.getFrameworkId()));
  if (fw == nullptr) return;
  allocator_->suppressOffers(fw->id, {});
}

void Master::kill(const std::string& peer, wire::Kill::Reader message) {
  auto* fw = callingFramework(peer, text(message.getFrameworkId()));
  if (fw == nullptr) return;
  TaskID taskId{text(message.getTaskId())};
  auto task = fw->tasks.find(taskId);
  if (task == fw->tasks.end()) {
    Task unknown;
    unknown.info.taskId = taskId;
    unknown.info.agentId.value = text(message.getAgentId());
    sendStatus(*fw, masterStatus(unknown, fw->info.partitionAware ? TaskState::kUnknown : TaskState::kLost,
                                 TaskReason::kTaskUnknown, "cannot kill task " + taskId.value + ": it is unknown"));
    return;
  }
  if (isTerminal(task->second.state)) return;  // its end is on the way
  auto agent = state_.agents.find(task->second.info.agentId);
  if (agent == state_.agents.end() || !agent->second.reachable) {
    // The agent is away; the kill is sent when it re-registers.
    task->second.killPending = true;
    return;
  }
  killTaskOnAgent(agent->second, fw->id, taskId, message.getKillGracePeriodMs());
}

void Master::killTaskOnAgent(const AgentEntry& agent, const FrameworkID& frameworkId, const TaskID& taskId,
                             int64_t gracePeriodMs) {
  capnp::MallocMessageBuilder message;
  auto kill = message.initRoot<wire::Envelope>().initKillTask();
  kill.setFrameworkId(frameworkId.value);
  kill.setTaskId(taskId.value);
  kill.setKillGracePeriodMs(gracePeriodMs);
  sendTo(agent.peer, message);
}

void Master::acknowledge(const std::string& peer, wire::StatusUpdateAck::Reader message) {
  auto* fw = callingFramework(peer, text(message.getFrameworkId()));
  if (fw == nullptr) return;
  AgentID agentId{text(message.getAgentId())};
  TaskID taskId{text(message.getTaskId())};
  auto task = fw->tasks.find(taskId);
  if (task != fw->tasks.end() && isTerminal(task->second.state) &&
      task->second.lastStatus.uuid == text(message.getUuid())) {
    retireTask(*fw, task);
  }
  auto agent = state_.agents.find(agentId);
  if (agent == state_.agents.end() || !agent->second.reachable) return;
  capnp::MallocMessageBuilder relay;
  auto ack = relay.initRoot<wire::Envelope>().initStatusUpdateAck();
  ack.setFrameworkId(fw->id.value);
  ack.setAgentId(agentId.value);
  ack.setTaskId(message.getTaskId());
  ack.setUuid(message.getUuid());
  sendTo(agent->second.peer, relay);
}

void Master::reconcile(const std::string& peer, wire::Reconcile::Reader message) {
  auto* fw = callingFramework(peer, text(message.getFrameworkId()));
  if (fw == nullptr) return;
  auto answer = [&](const Task& task) {
    sendStatus(*fw, masterStatus(task, task.state, TaskReason::kReconciliation, "reconciliation"));
  };
  if (message.getTasks().size() == 0) {
    for (const auto& [id, task] : fw->tasks) answer(task);
    return;
  }
  for (auto asked : message.getTasks()) {
    TaskID taskId{text(asked.getTaskId())};
    auto task = fw->tasks.find(taskId);
    if (task != fw->tasks.end()) {
      answer(task->second);
      continue;
    }
    Task unknown;
    unknown.info.taskId = taskId;
    unknown.info.agentId.value = text(asked.getAgentId());
    const AgentID& agentId = unknown.info.agentId;
    // What the master can say depends on what it knows of the task's agent.
    if (awaitingReregistration_.count(agentId) != 0) continue;  // the agent will report it
    bool aware = fw->info.partitionAware;
    TaskState answer = aware ? TaskState::kUnknown : TaskState::kLost;
    std::string why = "task " + taskId.value + " is unknown to the master";
    auto agent = state_.agents.find(agentId);
    const auto* record = registry_.agent(agentId);
    if (agent != state_.agents.end() && !agent->second.reachable) {
      answer = aware ? TaskState::kUnreachable : TaskState::kLost;
      why = "task " + taskId.value + " is unknown and its agent " + agentId.value + " is unreachable";
    } else if ((agent == state_.agents.end() && record != nullptr && record->mark != AgentMark::kAdmitted)) {
      answer = record->mark == AgentMark::kGone ? (aware ? TaskState::kGone : TaskState::kLost)
                                                : (aware ? TaskState::kUnreachable : TaskState::kLost);
      why = "task " + taskId.value + " is unknown and its agent " + agentId.value + " is " + agentMarkName(record->mark);
    }
    sendStatus(*fw, masterStatus(unknown, answer, TaskReason::kReconciliation, why));
  }
}

void Master::teardown(const std::string& peer, const FrameworkID& id) {
  auto* fw = callingFramework(peer, id.value);
  if (fw == nullptr) return;
  removeFramework(id, "the framework tore itself down");
}

void Master::heartbeatFrameworks() {
  double now = clock_.now();
  double silentLimit = std::chrono::duration<double>(flags_.frameworkHeartbeatInterval).count() *
                       std::max(1, flags_.maxAgentPingTimeouts);
  std::vector<FrameworkID> toRemove;
  for (auto& [id, fw] : state_.frameworks) {
    if (fw.connected) {
      if (now - fw.lastSeen > silentLimit) {
        frameworkDisconnected(fw);
      } else {
        capnp::MallocMessageBuilder message;
        message.initRoot<wire::Envelope>().initHeartbeat().setFrameworkId(id.value);
        sendTo(fw.peer, message);
      }
    }
    // A framework recovered from agents' reports after a master restart gets
    // a window to re-subscribe even with no failover timeout of its own.
    double timeout = fw.info.failoverTimeoutSeconds;
    if (fw.recovered) timeout = std::max(timeout, 2 * silentLimit);
    if (!fw.connected && now - fw.disconnectedAt > timeout) toRemove.push_back(id);
  }
  for (const auto& id : toRemove) removeFramework(id, "its failover timeout passed");
}

void Master::frameworkDisconnected(FrameworkEntry& framework) {
  spdlog::info("framework {} ({}) disconnected", framework.id.value, framework.info.name);
  events_.record({.type = EventType::kFrameworkDisconnected, .frameworkId = framework.id.value,
                  .message = framework.info.name});
  framework.connected = false;
  framework.disconnectedAt = clock_.now();
  state_.frameworksByPeer.erase(framework.peer);
  framework.peer.clear();
  allocator_->deactivateFramework(framework.id);
  for (auto offer : std::set<OfferID>(framework.offers)) rescindOffer(offer, true);
}

void Master::removeFramework(const FrameworkID& id, const std::string& why) {
  auto it = state_.frameworks.find(id);
  if (it == state_.frameworks.end()) return;
  auto& fw = it->second;
  spdlog::info("removing framework {} ({}): {}", id.value, fw.info.name, why);
  events_.record({.type = EventType::kFrameworkRemoved, .frameworkId = id.value, .message = fw.info.name + ": " + why});
  for (auto offer : std::set<OfferID>(fw.offers)) rescindOffer(offer, false);
  std::set<AgentID> agents;
  for (const auto& [taskId, task] : fw.tasks) {
    if (isTerminal(task.state)) continue;  // its resources are already free
    auto agent = state_.agents.find(task.info.agentId);
    if (agent == state_.agents.end()) continue;
    agent->second.used -= task.info.resources;
    agent->second.tasks.erase({id, taskId});
    agents.insert(agent->first);
  }
  for (auto& [agentId, agent] : state_.agents) {
    size_t before = agent.executors.size();
    removeExecutors(agent, id);
    if (agent.executors.size() != before) agents.insert(agentId);
  }
  for (const auto& agentId : agents) {
    auto& agent = state_.agents.at(agentId);
    if (!agent.reachable) continue;
    capnp::MallocMessageBuilder message;
    message.initRoot<wire::Envelope>().initShutdownFramework().setFrameworkId(id.value);
    sendTo(agent.peer, message);
  }
  if (!fw.peer.empty()) state_.frameworksByPeer.erase(fw.peer);
  allocator_->removeFramework(id);
  state_.frameworks.erase(it);
  ++state_.metrics.frameworksRemoved;
  if (auto removed = registry_.removeFramework(id); !removed) {
    spdlog::error("cannot remove framework {} from the registry: {}", id.value, removed.error().message);
  }
  if (removedFrameworks_.emplace(id, why).second) removedOrder_.push_back(id);
  while (removedOrder_.size() > kMaxRemovedFrameworks) {
    removedFrameworks_.erase(removedOrder_.front());
    removedOrder_.pop_front();
  }
  requestAllocation();
}

// ------------------------------------------------------------ offers

void Master::sendOffers(const FrameworkID& frameworkId, std::vector<Allocation> allocations) {
  auto fw = state_.frameworks.find(frameworkId);
  if (fw == state_.frameworks.end() || !fw->second.connected) {
    for (const auto& a : allocations) allocator_->recoverResources(frameworkId, a.agentId, a.resources, std::nullopt);
    return;
  }
  capnp::MallocMessageBuilder message;
  auto list = message.initRoot<wire::Envelope>().initResourceOffers().initOffers(
      static_cast<unsigned>(allocations.size()));
  unsigned i = 0;
  for (auto& allocation : allocations) {
    auto& agent = state_.agents.at(allocation.agentId);
    OfferEntry offer;
    offer.id.value = state_.masterId + "-O" + std::to_string(nextOffer_++);
    offer.frameworkId = frameworkId;
    offer.agentId = allocation.agentId;
    offer.role = allocation.role;
    offer.resources = allocation.resources;
    offer.createdAt = clock_.now();
    Offer value{offer.id,        frameworkId, offer.agentId, agent.info.hostname, offer.resources,
                agent.info.attributes, offer.role};
    wire::toWire(value, list[i++]);
    agent.offers.insert(offer.id);
    fw->second.offers.insert(offer.id);
    state_.offers.emplace(offer.id, std::move(offer));
    ++state_.metrics.offersSent;
  }
  sendTo(fw->second.peer, message);
}

void Master::removeOffer(const OfferID& id) {
  auto it = state_.offers.find(id);
  if (it == state_.offers.end()) return;
  if (auto agent = state_.agents.find(it->second.agentId); agent != state_.agents.end()) {
    agent->second.offers.erase(id);
  }
  if (auto fw = state_.frameworks.find(it->second.frameworkId); fw != state_.frameworks.end()) {
    fw->second.offers.erase(id);
  }
  state_.offers.erase(it);
}

void Master::rescindOffer(const OfferID& id, bool recover) {
  auto it = state_.offers.find(id);
  if (it == state_.offers.end()) return;
  auto offer = it->second;
  removeOffer(id);
  ++state_.metrics.offersRescinded;
  events_.record({.type = EventType::kOfferRescinded, .agentId = offer.agentId.value,
                  .frameworkId = offer.frameworkId.value,
                  .message = "offer " + id.value + " of " + offer.resources.toString()});
  auto fw = state_.frameworks.find(offer.frameworkId);
  if (fw != state_.frameworks.end() && fw->second.connected) {
    capnp::MallocMessageBuilder message;
    message.initRoot<wire::Envelope>().initRescindOffer().setOfferId(id.value);
    sendTo(fw->second.peer, message);
  }
  if (recover) {
    allocator_->recoverResources(offer.frameworkId, offer.agentId, offer.resources, std::nullopt);
    requestAllocation();
  }
}

void Master::expireOffers() {
  if (flags_.offerTimeout <= std::chrono::nanoseconds::zero()) return;
  double limit = std::chrono::duration<double>(flags_.offerTimeout).count();
  double now = clock_.now();
  std::vector<OfferID> expired;
  for (const auto& [id, offer] : state_.offers) {
    if (now - offer.createdAt >= limit) expired.push_back(id);
  }
  for (const auto& id : expired) rescindOffer(id, true);
}

void Master::requestAllocation() {
  if (allocationTimer_.active()) return;
  allocationTimer_.start(flags_.allocationInterval, [this] {
    auto started = std::chrono::steady_clock::now();
    allocator_->allocate();
    state_.metrics.allocationSeconds.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  });
}

}  // namespace clusternodes::master
