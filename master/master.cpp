#include "master/master.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>

#include "common/fingerprint.hpp"
#include "common/sandbox_token.hpp"
#include "common/tls.hpp"
#include "master/validation.hpp"

namespace clusternodes::master {

using wire::text;

Master::Master(Loop& loop, zmq::context_t& context, MasterFlags flags)
    : Master(MasterEnvironment{loop.time(), std::make_unique<ZmqSocket>(loop, context, ZmqSocket::Kind::kRouter),
                               &loop},
             std::move(flags)) {
  zmqSocket_ = static_cast<ZmqSocket*>(socket_.get());
  zmqContext_ = &context;
}

Master::Master(MasterEnvironment environment, MasterFlags flags)
    : loop_(environment.loop),
      flags_(std::move(flags)),
      time_(environment.time),
      registry_(environment.files ? makeFileStore(flags_.workDir, std::move(environment.files))
                                  : makeFileStore(flags_.workDir)),
      allocator_(makeDrfAllocator(time_)),
      socket_(std::move(environment.transport)),
      peers_(*socket_),
      events_(EventLog::kDefaultCapacity, [this] { return time_.wallSeconds(); }),
      context_{flags_,   time_, state_, registry_, *allocator_, events_, peers_, acls_,
               [this] { requestAllocation(); }},
      offers_(context_),
      tasks_(context_, offers_),
      frameworks_(context_, offers_),
      agents_(context_, offers_, tasks_, frameworks_),
      allocationTimer_(time_),
      periodicAllocationTimer_(time_),
      pingTimer_(time_),
      heartbeatTimer_(time_),
      registryTimer_(time_) {
  authenticator_ = std::move(environment.authenticator);
  state_.masterId = randomUuid();
  state_.sandboxKey = generateSandboxKey();
  state_.startedAt = time_.wallSeconds();
}

Master::~Master() {
  context_.watcher = nullptr;  // the streams go before the books
  // What is staged and not yet written: a stopping master keeps it if it can.
  if (leading_ && registry_.dirty()) (void)registry_.commit();
}

Result<void> Master::secureLinks() {
  auto security = loadLinkSecurity(flags_);
  if (!security) return security.error();
  if (!*security) return {};
  if (zmqSocket_ == nullptr || loop_ == nullptr) return invalid("--key: CURVE needs the master's ZeroMQ socket");
  authenticator_ = std::make_unique<Authenticator>(std::move((*security)->credentials), flags_.authenticateAgents,
                                                   flags_.authenticateFrameworks);
  // Serving before the socket binds: no peer connects unasked.
  zap_ = std::make_unique<ZapHandler>(*loop_, *zmqContext_,
                                      [this](const ZapRequest& request) { return authenticator_->admit(request); });
  if (auto serving = zap_->start(); !serving) return serving.error();
  if (auto curve = zmqSocket_->useCurveServer((*security)->key); !curve) return curve.error();
  zmqSocket_->onHandshakeFailure([this](ZmqSocket::HandshakeFailure failure, int value) {
    authenticator_->handshakeFailed(failure, value);
  });
  spdlog::info("links are encrypted with CURVE (master key {}); {} known key(s); agents {}, frameworks {}",
               keyFingerprint((*security)->key.publicKey), authenticator_->knownKeys(),
               flags_.authenticateAgents ? "authenticated" : "may be anonymous",
               flags_.authenticateFrameworks ? "authenticated" : "may be anonymous");
  return {};
}

Result<void> Master::loadAcls() {
  if (flags_.aclsFile.empty()) {
    spdlog::warn("no --acls: every {} may register in any role, run tasks as any user (root included), reserve, "
                 "and change weights and quota",
                 authenticator_ ? "principal" : "peer");
    return {};
  }
  auto acls = Acls::load(flags_.aclsFile);
  if (!acls) return Error{acls.error().code, "--acls: " + acls.error().message};
  acls_ = std::move(*acls);
  spdlog::info("authorizing with {} rule(s) from {}; what no rule allows is denied", acls_.rules().size(),
               flags_.aclsFile);
  return {};
}

Result<void> Master::start() {
  if (auto secured = secureLinks(); !secured) return secured.error();
  if (auto loaded = loadAcls(); !loaded) return loaded.error();
  socket_->onMessage([this](std::string_view peer, std::string_view bytes, std::string_view principal) {
    onMessage(peer, bytes, principal);
  });
  auto bound = socket_->bind("tcp://" + flags_.ip + ":" + std::to_string(flags_.port));
  if (!bound) return bound.error();
  endpoint_ = *bound;
  if (auto served = serveHttp(); !served) return served.error();
  if (flags_.zk.empty()) return lead(nullptr);
  spdlog::info("master {} standing by on {} ({}) until elected through {}", state_.masterId, endpoint_,
               http_ ? fmt::format("http {}:{}", flags_.ip, httpPort_) : std::string("no http"), flags_.zk);
  return {};
}

Result<void> Master::lead(std::unique_ptr<RegistryStore> store) {
  if (leading_) return Error{ErrorCode::kConflict, "this master leads already"};
  if (store) registry_.useStore(std::move(store));
  if (auto recovered = registry_.recover(); !recovered) return recovered.error();
  leading_ = true;
  leader_.reset();
  // Group commit: the changes of one loop turn are written together, at its
  // end (a timer due at once runs after the turn's messages). A write that
  // took a while (a large registry, a slow disk, ZooKeeper) is followed by
  // as long a pause, in which messages are handled and their changes staged
  // for the next write: under an admission storm the loop spends at most
  // about half its time writing, and each write carries more admissions
  // the longer writes take, rather than one drain's worth each.
  registry_.stageChanges([this] {
    if (registryTimer_.active()) return;
    double wait = std::max(0.0, lastCommitSeconds_ - (time_.now() - lastCommitEnded_));
    registryTimer_.start(std::chrono::duration_cast<Duration>(std::chrono::duration<double>(wait)),
                         [this] { commitRegistry(); });
  });

  allocator_->initialize([this](const FrameworkID& id, std::vector<Allocation> allocations) {
    offers_.send(id, std::move(allocations));
  });
  allocator_->updateWeights(flags_.weights);
  // What the operator set through the API overrides --weights.
  allocator_->updateWeights(registry_.weights());
  for (const auto& [role, quota] : registry_.quotas()) allocator_->updateQuota(role, quota);

  // Frameworks come back disconnected: each has its failover timeout, from
  // now, to subscribe again before it is removed and its tasks killed.
  frameworks_.recover();
  // Admitted agents have --agent-reregister-timeout to come back.
  agents_.recover();
  if (!registry_.frameworks().empty() || !agents_.awaitingReregistration().empty()) {
    spdlog::info("recovered {} framework(s) and {} agent(s) to take back from the registry",
                 registry_.frameworks().size(), agents_.awaitingReregistration().size());
  }

  auto pingEvery = std::max(flags_.agentPingTimeout, std::chrono::nanoseconds(std::chrono::milliseconds(10)));
  pingTimer_.start(pingEvery, [this] { agents_.ping(); }, pingEvery);
  auto heartbeatEvery =
      std::max(flags_.frameworkHeartbeatInterval, std::chrono::nanoseconds(std::chrono::milliseconds(10)));
  heartbeatTimer_.start(heartbeatEvery, [this] { frameworks_.heartbeat(); }, heartbeatEvery);
  // The periodic pass only catches expired filters and offer timeouts;
  // everything else allocates on its event.
  periodicAllocationTimer_.start(
      std::chrono::seconds(1),
      [this] {
        offers_.expire();
        requestAllocation();
      },
      std::chrono::seconds(1));

  spdlog::info("master {} listening on {} ({}), leading; registry {}", state_.masterId, endpoint_,
               http_ ? fmt::format("http {}:{}", flags_.ip, httpPort_) : std::string("no http"),
               flags_.zk.empty() ? "in " + flags_.workDir : "in ZooKeeper at " + flags_.zk);
  return {};
}

void Master::commitRegistry() {
  double started = time_.now();
  auto written = registry_.commit();
  lastCommitEnded_ = time_.now();
  lastCommitSeconds_ = lastCommitEnded_ - started;
  state_.metrics.registryWriteSeconds.observe(lastCommitSeconds_);
  if (written) {
    if (registryFailing_) spdlog::info("the registry is written again; held replies go out");
    registryFailing_ = false;
    return;
  }
  ++state_.metrics.registryWriteFailures;
  if (!registryFailing_) {
    spdlog::error("cannot write the registry: {}; registrations and subscriptions wait unanswered, "
                  "retrying every {} s",
                  written.error().message, kRegistryRetry.count());
  }
  registryFailing_ = true;
  registryTimer_.start(kRegistryRetry, [this] { commitRegistry(); });
}

Result<void> Master::serveHttp() {
  httpPort_ = -1;
  if (flags_.httpPort < 0) return {};
  if (loop_ == nullptr) return invalid("an HTTP port is set but the master has no loop to serve it on");
  auto policy = loadHttpAuthPolicy(flags_.httpAuthenticate, flags_.httpCredentialsFile);
  if (!policy) return policy.error();
  // A probe and a browser's page load carry no token.
  policy->open = {"/health", "/", "/ui/"};
  policy->refused = std::make_shared<uint64_t>(0);
  if (policy->mode == HttpAuthentication::kNone) {
    spdlog::warn("HTTP requests need no token (--http-authenticate=none, or no --http-credentials): anyone who reaches "
                 "port {} is anonymous to the ACLs{}",
                 flags_.httpPort, flags_.aclsFile.empty() ? ", and without --acls may change weights and quota" : "");
  } else {
    spdlog::info("HTTP: {} token(s) from {}; {} need one", policy->tokens->size(), flags_.httpCredentialsFile,
                 policy->mode == HttpAuthentication::kAll ? "all requests (but /health and the web UI's files)"
                                                          : "writes");
  }
  httpAuth_ = std::make_shared<const HttpAuthPolicy>(std::move(*policy));
  auto tls = tlsFromFlags(flags_.tlsCertFile, flags_.tlsKeyFile);
  if (!tls) return tls.error();
  http_ = std::make_unique<HttpServer>(*loop_);
  if (*tls) http_->tls(*tls);
  http_->gate(httpAuthGate(httpAuth_));
  installMasterEndpoints(*http_, *this);
  schedulerApi_ = std::make_unique<SchedulerApi>(*loop_, *this);
  operatorStreams_ = std::make_unique<OperatorStreams>(*loop_, *this);
  context_.watcher = operatorStreams_.get();
  http_->route("POST", "/api/v1/scheduler", [this](const HttpRequest& r) { return schedulerApi_->handle(r); });
  peers_.setHttpPeers(
      [this](std::string_view peer, std::string_view bytes) { return schedulerApi_ && schedulerApi_->send(peer, bytes); });
  auto httpBound = http_->listen(flags_.ip, flags_.httpPort);
  if (!httpBound) return httpBound.error();
  httpPort_ = *httpBound;
  return {};
}

// ------------------------------------------------------------ operator API

Result<void> Master::setWeights(const std::string& principal, const std::map<std::string, double>& weights) {
  if (weights.empty()) return invalid("no weights given");
  for (const auto& [role, weight] : weights) {
    if (auto valid = validateRole(role); !valid) return valid.error();
    if (!std::isfinite(weight) || weight <= 0) {
      return invalid("the weight of role '" + role + "' must be a positive number");
    }
  }
  for (const auto& [role, weight] : weights) {
    if (auto may = acls_.authorize(AclAction::kUpdateWeights, principal, role); !may) {
      ++state_.metrics.aclDenials[aclActionName(AclAction::kUpdateWeights)];
      return may.error();
    }
  }
  if (auto saved = registry_.setWeights(weights); !saved) return saved.error();
  allocator_->updateWeights(weights);
  spdlog::info("role weights updated: {} role(s)", weights.size());
  requestAllocation();
  return {};
}

Result<void> Master::setQuota(const std::string& principal, const std::string& role, const Quota& quota) {
  if (auto valid = validateRole(role); !valid) return valid.error();
  if (role == kDefaultRole) return invalid("role '*' cannot have a quota");
  if (auto may = acls_.authorize(AclAction::kUpdateQuota, principal, role); !may) {
    ++state_.metrics.aclDenials[aclActionName(AclAction::kUpdateQuota)];
    return may.error();
  }
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

// ------------------------------------------------------------ the router

void Master::onMessage(std::string_view peerView, std::string_view bytes, std::string_view principalView) {
  ++state_.metrics.messagesReceived;
  std::string peer(peerView);
  if (isHttpPeer(peer)) return dropMessage(peer, "a ZeroMQ peer named like an HTTP scheduler's stream");
  auto decoded = wire::decode(bytes);
  if (!decoded) {
    dropMessage(peer, decoded.error().message);
    return;
  }
  auto envelope = (*decoded)->envelope();
  std::string principal(principalView);
  wire::dispatchSafely([&] { dispatch(peer, principal, envelope); },
                       [&](const std::string& reason) {
                         dropMessage(peer, std::string(wire::name((*decoded)->which())) + ": " + reason);
                       });
}

void Master::dropMessage(const std::string& peer, const std::string& reason) {
  ++state_.metrics.messagesDropped;
  spdlog::warn("dropped a malformed message ({} so far): {}", state_.metrics.messagesDropped, reason);
}

bool Master::sentAsRegistered(const std::string& peer, const std::string& principal,
                              const wire::Envelope::Reader& envelope) {
  const std::string* registeredAs = nullptr;
  if (auto agent = state_.agentsByPeer.find(peer); agent != state_.agentsByPeer.end()) {
    if (auto it = state_.agents.find(agent->second); it != state_.agents.end()) registeredAs = &it->second.principal;
  } else if (auto fw = state_.frameworksByPeer.find(peer); fw != state_.frameworksByPeer.end()) {
    if (auto it = state_.frameworks.find(fw->second); it != state_.frameworks.end()) {
      registeredAs = &it->second.info.principal;
    }
  }
  if (registeredAs == nullptr || *registeredAs == principal) return true;
  authenticator_->impostor(*registeredAs, principal, wire::name(envelope.which()));
  return false;
}

void Master::fromHttpScheduler(const std::string& peer, const std::string& principal, std::string_view bytes) {
  ++state_.metrics.messagesReceived;
  auto decoded = wire::decode(bytes);
  if (!decoded) return dropMessage(peer, decoded.error().message);
  auto envelope = (*decoded)->envelope();
  wire::dispatchSafely([&] { dispatch(peer, principal, envelope, true); },
                       [&](const std::string& reason) {
                         dropMessage(peer, std::string(wire::name((*decoded)->which())) + ": " + reason);
                       });
}

void Master::httpSchedulerGone(const std::string& peer) { frameworks_.connectionClosed(peer); }

Result<void> Master::updateFramework(const FrameworkID& id, FrameworkInfo info, const std::set<std::string>& suppressed) {
  auto fw = state_.frameworks.find(id);
  if (fw == state_.frameworks.end() || !fw->second.connected) return invalid("framework " + id.value + " is not subscribed");
  return frameworks_.update(fw->second, std::move(info), suppressed);
}

void Master::dispatch(const std::string& peer, const std::string& principal, const wire::Envelope::Reader& envelope,
                      bool http) {
  if (!leading_ && envelope.which() != wire::Envelope::GET_MASTER_INFO) {
    if (standbyCheck_ && time_.now() - lastStandbyCheck_ >= std::chrono::duration<double>(kStandbyCheckEvery).count()) {
      lastStandbyCheck_ = time_.now();
      standbyCheck_();
    }
    if (!leading_) return redirect(peer, envelope);
  }
  if (leading_ && leadingCheck_ && !leadingCheck_()) return;
  if (authenticator_ && !http && !sentAsRegistered(peer, principal, envelope)) return;
  switch (envelope.which()) {
    case wire::Envelope::REGISTER_AGENT:
      if (authenticator_ && !authenticator_->mayRegisterAgent(principal)) return;
      return agents_.registerAgent(peer, principal, envelope.getRegisterAgent());
    case wire::Envelope::PONG: return agents_.onPong(peer);
    case wire::Envelope::CONTAINER_USAGES:
    case wire::Envelope::STATUS_UPDATE:
    case wire::Envelope::EXECUTOR_EXITED: return dispatchFromAgent(peer, envelope);
    case wire::Envelope::FRAMEWORK_MESSAGE: return frameworkMessage(peer, envelope.getFrameworkMessage());
    case wire::Envelope::SUBSCRIBE: {
      bool authenticated = authenticator_ || (http && !principal.empty());
      if (!authenticated) return frameworks_.subscribe(peer, std::nullopt, envelope.getSubscribe());
      if (authenticator_) {
        if (auto may = authenticator_->maySubscribe(principal); !may) return frameworks_.refuse(peer, may.error().message);
      }
      return frameworks_.subscribe(peer, principal, envelope.getSubscribe());
    }
    case wire::Envelope::ACCEPT:
    case wire::Envelope::DECLINE:
    case wire::Envelope::REVIVE:
    case wire::Envelope::SUPPRESS:
    case wire::Envelope::KILL:
    case wire::Envelope::ACKNOWLEDGE:
    case wire::Envelope::RECONCILE:
    case wire::Envelope::TEARDOWN:
    case wire::Envelope::KILL_EXECUTOR:
    case wire::Envelope::HEARTBEAT: return dispatchFrameworkCall(peer, envelope);
    case wire::Envelope::GET_MASTER_INFO: return sendMasterInfo(peer);
    default:
      throw wire::MalformedMessage(std::string("the master does not accept ") + wire::name(envelope.which()));
  }
}

void Master::dispatchFromAgent(const std::string& peer, const wire::Envelope::Reader& envelope) {
  auto* agent = agents_.byPeer(peer);
  if (agent == nullptr) return agents_.askToReregister(peer, "the master does not know this agent");
  switch (envelope.which()) {
    case wire::Envelope::CONTAINER_USAGES: return tasks_.containerUsages(*agent, envelope.getContainerUsages());
    case wire::Envelope::STATUS_UPDATE: return tasks_.statusUpdate(peer, *agent, envelope.getStatusUpdate());
    case wire::Envelope::EXECUTOR_EXITED: return agents_.executorExited(*agent, envelope.getExecutorExited());
    default: return;
  }
}

// The framework a call names.
static std::string calledFramework(const wire::Envelope::Reader& envelope) {
  switch (envelope.which()) {
    case wire::Envelope::ACCEPT: return text(envelope.getAccept().getFrameworkId());
    case wire::Envelope::DECLINE: return text(envelope.getDecline().getFrameworkId());
    case wire::Envelope::REVIVE: return text(envelope.getRevive().getFrameworkId());
    case wire::Envelope::SUPPRESS: return text(envelope.getSuppress().getFrameworkId());
    case wire::Envelope::KILL: return text(envelope.getKill().getFrameworkId());
    case wire::Envelope::ACKNOWLEDGE: return text(envelope.getAcknowledge().getFrameworkId());
    case wire::Envelope::RECONCILE: return text(envelope.getReconcile().getFrameworkId());
    case wire::Envelope::TEARDOWN: return text(envelope.getTeardown().getFrameworkId());
    case wire::Envelope::HEARTBEAT: return text(envelope.getHeartbeat().getFrameworkId());
    case wire::Envelope::KILL_EXECUTOR: return text(envelope.getKillExecutor().getFrameworkId());
    default: return {};
  }
}

// The roles a REVIVE or SUPPRESS names; empty: all the framework's.
static std::set<std::string> calledRoles(wire::FrameworkCall::Reader call) {
  std::set<std::string> roles;
  for (auto role : call.getRoles()) roles.insert(text(role));
  return roles;
}

void Master::dispatchFrameworkCall(const std::string& peer, const wire::Envelope::Reader& envelope) {
  auto* fw = frameworks_.calling(peer, calledFramework(envelope));
  if (fw == nullptr) {
    // Offers from before a master restart (or of another connection): the
    // tasks are not launched, and the framework hears so at once.
    if (envelope.which() == wire::Envelope::ACCEPT) tasks_.refuseLaunches(peer, envelope.getAccept());
    return;
  }
  switch (envelope.which()) {
    case wire::Envelope::ACCEPT: return tasks_.accept(*fw, envelope.getAccept());
    case wire::Envelope::DECLINE: {
      auto decline = envelope.getDecline();
      std::vector<OfferID> ids;
      for (auto id : decline.getOfferIds()) ids.push_back(OfferID{text(id)});
      return offers_.decline(*fw, ids, decline.getRefuseSeconds());
    }
    case wire::Envelope::REVIVE:
      allocator_->reviveOffers(fw->id, calledRoles(envelope.getRevive()));
      return requestAllocation();
    case wire::Envelope::SUPPRESS: return allocator_->suppressOffers(fw->id, calledRoles(envelope.getSuppress()));
    case wire::Envelope::KILL_EXECUTOR: return tasks_.killExecutor(*fw, envelope.getKillExecutor());
    case wire::Envelope::KILL: return tasks_.kill(*fw, envelope.getKill());
    case wire::Envelope::ACKNOWLEDGE: return tasks_.acknowledge(*fw, envelope.getAcknowledge());
    case wire::Envelope::RECONCILE:
      return tasks_.reconcile(*fw, envelope.getReconcile(), agents_.awaitingReregistration());
    case wire::Envelope::TEARDOWN: return frameworks_.remove(fw->id, "the framework tore itself down");
    default: return;  // HEARTBEAT: being called was the point
  }
}

bool Master::servesTls() const { return http_ != nullptr && http_->servesTls(); }

uint64_t Master::httpTlsFailures() const { return http_ != nullptr ? http_->tlsFailures() : 0; }

void Master::sendMasterInfo(const std::string& peer) {
  capnp::MallocMessageBuilder reply;
  auto info = reply.initRoot<wire::Envelope>().initMasterInfo();
  info.setId(state_.masterId);
  info.setIp(flags_.ip);
  info.setHttpPort(static_cast<uint16_t>(std::max(httpPort_, 0)));
  info.setHttpTls(servesTls());
  info.setLeading(leading_);
  if (!leading_ && leader_) {
    info.setLeader(leader_->address());
    info.setLeaderHttp(leader_->httpUrl());
  }
  context_.send(peer, reply);
}

void Master::redirect(const std::string& peer, const wire::Envelope::Reader& envelope) {
  ++state_.metrics.redirectedMessages;
  // Agents and drivers that are told must not be told again at every retry
  // in the log: the count is in /metrics.
  spdlog::debug("standing by: told a peer sending {} that {} leads", wire::name(envelope.which()),
                leader_ ? leader_->address() : std::string("no master"));
  capnp::MallocMessageBuilder reply;
  auto notLeader = reply.initRoot<wire::Envelope>().initNotLeader();
  if (leader_) {
    notLeader.setLeader(leader_->address());
    notLeader.setLeaderHttp(leader_->httpUrl());
  }
  context_.send(peer, reply);
}

void Master::frameworkMessage(const std::string& peer, wire::FrameworkMessage::Reader message) {
  FrameworkID frameworkId{text(message.getFrameworkId())};
  ExecutorID executorId{text(message.getExecutorId())};
  if (auto* agent = agents_.byPeer(peer)) {
    // From an executor, through its agent: to the scheduler.
    auto fw = state_.frameworks.find(frameworkId);
    if (fw == state_.frameworks.end() || !fw->second.connected) return;
    ++state_.metrics.frameworkMessages;
    peers_.sendTo(fw->second.peer, wire::encodeFrameworkMessage(frameworkId.value, executorId.value,
                                                                  agent->id.value, message.getData()));
    return;
  }
  auto* fw = frameworks_.calling(peer, frameworkId.value);
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

void Master::requestAllocation() {
  if (allocationTimer_.active()) return;
  allocationTimer_.start(flags_.allocationInterval, [this] {
    double started = time_.now();
    allocator_->allocate();
    state_.metrics.allocationSeconds.observe(time_.now() - started);
  });
}

}  // namespace clusternodes::master
