#include "agent/agent.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <thread>

#include "agent/agent_runs.hpp"
#include "agent/containerizer/docker.hpp"
#include "agent/containerizer/framework_executor.hpp"
#include "agent/resource_detection.hpp"
#include "agent/sandbox_files.hpp"
#include "common/curve.hpp"
#include "common/fingerprint.hpp"
#include "common/tls.hpp"
#include "common/process.hpp"

namespace clusternodes::agent {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

using wire::text;

constexpr auto kSweepInterval = std::chrono::minutes(10);
// The registration back-off doubles up to this (the delay, up to twice it).
constexpr auto kMaxRegistrationBackoff = std::chrono::seconds(4);

double seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

Result<void> validateContainerizers(const std::string& value) {
  std::set<std::string> seen;
  size_t start = 0;
  while (start <= value.size()) {
    size_t end = value.find(',', start);
    if (end == std::string::npos) end = value.size();
    std::string name = value.substr(start, end - start);
    if (name != "native" && name != "docker") {
      return invalid("--containerizers: '" + name + "' is neither native nor docker");
    }
    if (!seen.insert(name).second) return invalid("--containerizers: " + name + " is listed twice");
    start = end + 1;
  }
  return {};
}

namespace {

AgentEnvironment withFiles(std::unique_ptr<FileSystem> files) {
  AgentEnvironment environment;
  environment.files = std::move(files);
  return environment;
}

}  // namespace

Agent::Agent(Loop& loop, zmq::context_t& context, AgentFlags flags, std::unique_ptr<FileSystem> files)
    : Agent(loop, context, std::move(flags), withFiles(std::move(files))) {}

Agent::Agent(Loop& loop, zmq::context_t& context, AgentFlags flags, AgentEnvironment environment)
    : loop_(loop),
      context_(context),
      flags_(std::move(flags)),
      time_(environment.time != nullptr ? *environment.time : loop.time()),
      master_(std::move(environment.master)),
      executors_(std::move(environment.executors)),
      backoff_(flags_.registrationBackoff, kMaxRegistrationBackoff),
      registrationTimer_(time_),
      masterWatchTimer_(time_),
      silenceCheck_(time_),
      native_(std::move(environment.native)),
      docker_(std::move(environment.docker)),
      executorContainers_(std::move(environment.frameworkExecutors)),
      usageTimer_(time_),
      sweepTimer_(time_),
      files_(environment.files ? std::move(environment.files) : makeFileSystem()),
      checkpoints_(flags_.workDir, *files_, [this] { commitHook_.arm(); }),
      commitHook_(loop, [this] { commitCheckpoints(); }),
      commitRetry_(time_) {}

Agent::~Agent() = default;

uint64_t Agent::httpTlsFailures() const { return http_ != nullptr ? http_->tlsFailures() : 0; }

Result<void> Agent::start() {
  std::error_code ec;
  std::filesystem::create_directories(flags_.workDir + "/sandboxes", ec);
  if (ec) return internalError("cannot create the work dir " + flags_.workDir + ": " + ec.message());

  maxStarting_ = flags_.maxStartingExecutors > 0
                     ? flags_.maxStartingExecutors
                     : std::max(8, 4 * static_cast<int>(std::thread::hardware_concurrency()));

  auto resources = detectResources(flags_.workDir, flags_.resources);
  if (!resources) return resources.error();
  flags_.isolation.cpus = resources->cpus();
  auto isolator = makeIsolator(flags_.isolation);
  if (!isolator) return isolator.error();
  isolator_ = std::move(*isolator);
  if (auto valid = validateContainerizers(flags_.containerizers); !valid) return valid;
  for (size_t start = 0; start <= flags_.containerizers.size();) {
    size_t end = std::min(flags_.containerizers.find(',', start), flags_.containerizers.size());
    containerizers_.insert(flags_.containerizers.substr(start, end - start));
    start = end + 1;
  }
  auto attributes = parseAttributes(flags_.attributes);
  if (!attributes) return attributes.error();
  if (flags_.hostname.empty()) {
    char name[256] = {};
    gethostname(name, sizeof name - 1);
    flags_.hostname = name;
  }
  if (flags_.launcherDir.empty()) {
    flags_.launcherDir = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path().string();
  }
  if (!std::filesystem::exists(flags_.launcherDir + "/clusternodes-executor")) {
    return invalid("no clusternodes-executor in " + flags_.launcherDir + " (set --launcher-dir)");
  }
  // The launcher runs the native containerizer's executors (none when the
  // environment gives a containerizer of its own).
  if (flags_.nativeLauncher == "shared" && !native_ &&
      !std::filesystem::exists(flags_.launcherDir + "/clusternodes-launcher")) {
    return invalid("no clusternodes-launcher in " + flags_.launcherDir + " (set --launcher-dir)");
  }
  // Tasks that name the agent's own user need no lookup.
  if (auto self = currentUser()) selfUser_ = self->name;
  info_.hostname = flags_.hostname;
  info_.resources = *resources;
  info_.attributes = *attributes;
  info_.bootId = bootId();

  if (!executors_) executors_ = std::make_unique<ZmqSocket>(loop_, context_, ZmqSocket::Kind::kRouter);
  executors_->onMessage([this](std::string_view peer, std::string_view bytes, std::string_view) { onExecutorMessage(peer, bytes); });
  // Executors run on this host: the port is on loopback only, so that no
  // other host can pose as one (it was on --ip).
  auto bound = executors_->bind("tcp://127.0.0.1:" + std::to_string(flags_.port));
  if (!bound) return bound.error();
  executorEndpoint_ = *bound;
  startContainerizers();

  auto policy = loadHttpAuthPolicy(flags_.httpAuthenticate, flags_.httpCredentialsFile);
  if (!policy) return policy.error();
  policy->open = {"/health"};
  policy->refused = std::make_shared<uint64_t>(0);
  policy->queryToken = [this](const HttpRequest& request) {
    auto nowMs = static_cast<int64_t>(time_.wallSeconds() * 1000.0);
    return sandboxTokenPrincipal(flags_.workDir + "/sandboxes", sandboxKey_, agentId_.value, request, nowMs);
  };
  httpAuth_ = std::make_shared<const HttpAuthPolicy>(std::move(*policy));
  auto tls = tlsFromFlags(flags_.tlsCertFile, flags_.tlsKeyFile);
  if (!tls) return tls.error();
  http_ = std::make_unique<HttpServer>(loop_);
  if (*tls) http_->tls(*tls);
  http_->gate(httpAuthGate(httpAuth_));
  installEndpoints();
  auto httpBound = http_->listen(flags_.ip, flags_.httpPort);
  if (!httpBound) return httpBound.error();
  httpPort_ = *httpBound;
  info_.httpPort = httpPort_;
  info_.ip = flags_.ip;
  info_.httpTls = http_->servesTls();

  if (!master_) {
    auto socket = std::make_unique<ZmqSocket>(loop_, context_, ZmqSocket::Kind::kDealer, "agent-" + randomUuid());
    if (auto secured = secureMasterLink(*socket); !secured) return secured.error();
    master_ = std::move(socket);
  }
  master_->onMessage([this](std::string_view, std::string_view bytes, std::string_view) { onMasterMessage(bytes); });
  // A master that restarted (or a network that came back) is re-registered
  // with at once, not after the pings have been missed.
  master_->onConnectionChange([this](bool connected) {
    if (!connected) return;
    if (registered_) return masterLost("the connection to the master was made again");
    backoff_.reset();
    registerWithMaster();
  });
  if (isZkUrl(flags_.master)) {
    auto url = parseZkUrl(flags_.master);
    if (!url) return url.error();
    leaderDetector_ = std::make_unique<LeaderDetector>(
        loop_, *url, kDefaultZkSessionTimeout, [this](const std::optional<LeaderInfo>& leader) {
          if (leader) followMaster(leader->address(), "master " + leader->id + " leads");
        });
    if (auto detecting = leaderDetector_->start(); !detecting) return detecting.error();
  } else {
    masterAddress_ = flags_.master;
    if (auto connected = master_->connect("tcp://" + masterAddress_); !connected) return connected.error();
  }

  gc_ = std::make_unique<GarbageCollector>(time_, flags_.workDir + "/sandboxes", flags_.gc);
  gc_->start({});
  usageTimer_.start(flags_.usageInterval, [this] { sampleUsage(); }, flags_.usageInterval);
  sweepContainers();
  sweepTimer_.start(kSweepInterval, [this] { sweepContainers(); }, kSweepInterval);

  spdlog::info("agent on {} ({}) with {}; isolation {}; executors connect to {}", info_.hostname, flags_.ip,
               info_.resources.toString(), isolator_->name(), executorEndpoint_);
  recover();
  if (launcher_) {
    // Started now, not by the first task, which would wait for it.
    if (auto started = launcher_->prestart(); !started) {
      spdlog::warn("{}; trying again at the first task", started.error().message);
    }
  }
  registerWithMaster();
  return {};
}

void Agent::startContainerizers() {
  reaper_ = std::make_unique<Reaper>(loop_, time_);
  destroyer_ = std::make_unique<Destroyer>(*isolator_, time_);
  if (flags_.nativeLauncher == "shared" && !native_ && !launcher_) {
    launcher_ = std::make_unique<LauncherClient>(
        loop_, *reaper_, *executors_,
        LauncherOptions{flags_.launcherDir + "/clusternodes-launcher", executorEndpoint_, flags_.workDir + "/launcher",
                        flags_.recoveryTimeout, flags_.executorRegistrationTimeout});
  }
  containerizerContext_ = std::make_unique<ContainerizerContext>(ContainerizerContext{
      *reaper_, *isolator_, *destroyer_, flags_.launcherDir, executorEndpoint_, flags_.recoveryTimeout,
      flags_.isolation.enableCfs, launcher_.get()});
  if (!native_) native_ = std::make_unique<NativeContainerizer>(*containerizerContext_);
  if (!executorContainers_) {
    executorContainers_ = std::make_unique<FrameworkExecutorContainerizer>(*containerizerContext_);
  }
  if (!docker_) {
    // Made whether or not Docker tasks are run here, for what an earlier
    // agent's checkpoint may name; only asked to launch with docker.
    auto docker = std::make_unique<DockerContainerizer>(*containerizerContext_, flags_.dockerSocket);
    if (containerizers_.count("docker") != 0) docker->checkDocker();
    docker_ = std::move(docker);
  }
}

// ------------------------------------------------------------ master

void Agent::dropMessage(const std::string& reason) {
  ++metrics_.messagesDropped;
  spdlog::warn("dropped a malformed message ({} so far): {}", metrics_.messagesDropped, reason);
}

void Agent::sendToMaster(capnp::MallocMessageBuilder& message) { master_->send(wire::encode(message)); }

Result<void> Agent::secureMasterLink(ZmqSocket& socket) {
  bool curve = !flags_.keyFile.empty();
  if (curve != !flags_.masterKeyFile.empty()) return invalid("--key and --master-key go together");
  std::string fingerprint;
  std::string principal;
  if (curve) {
    auto keys = readCurveClientKeys(flags_.keyFile, "--key", flags_.masterKeyFile, "--master-key");
    if (!keys) return keys.error();
    if (auto used = socket.useCurveClient(keys->own, keys->serverPublicKey); !used) return used;
    principal = keys->own.principal;
    fingerprint = keyFingerprint(keys->own.publicKey);
    spdlog::info("the link to the master is encrypted with CURVE: this agent is '{}' (key {}), the master's key is {}",
                 principal, fingerprint, keyFingerprint(keys->serverPublicKey));
  }
  socket.onHandshakeFailure([this, curve, principal, fingerprint](ZmqSocket::HandshakeFailure failure, int) {
    if (reportedHandshakeFailures_.count(failure) != 0) return;
    reportedHandshakeFailures_.insert(failure);
    using Failure = ZmqSocket::HandshakeFailure;
    std::string at = masterAddress_.empty() ? std::string("the master") : "the master at " + masterAddress_;
    if (!curve) {
      spdlog::error("{} requires CURVE: give this agent --key and --master-key; retrying", at);
    } else if (failure == Failure::kRefused) {
      spdlog::error("{} refused this agent's key {} ('{}'): add {}.pub to its credentials file, under [agents]; "
                    "retrying",
                    at, fingerprint, principal, principal);
    } else if (failure == Failure::kMechanism) {
      spdlog::error("{} does not use CURVE (start it with --key), or it is not a master; retrying", at);
    } else {
      spdlog::error("the CURVE handshake with {} failed: {} (is --master-key the master's public key?); retrying", at,
                    ZmqSocket::describe(failure));
    }
  });
  return {};
}

void Agent::onMasterMessage(std::string_view bytes) {
  ++metrics_.messagesReceived;
  auto decoded = wire::decode(bytes);
  if (!decoded) return dropMessage(decoded.error().message);
  auto envelope = (*decoded)->envelope();
  wire::dispatchSafely([&] { dispatchFromMaster(envelope); },
                       [&](const std::string& reason) { dropMessage(reason); });
}

void Agent::dispatchFromMaster(const wire::Envelope::Reader& envelope) {
  switch (envelope.which()) {
    case wire::Envelope::AGENT_REGISTERED: return onRegistered(envelope.getAgentRegistered());
    case wire::Envelope::PING: {
      lastPing_ = time_.now();
      if (!registered_) return;
      capnp::MallocMessageBuilder pong;
      pong.initRoot<wire::Envelope>().initPong().setSequence(envelope.getPing().getSequence());
      sendToMaster(pong);
      return;
    }
    case wire::Envelope::RUN_TASK: return runTask(envelope.getRunTask());
    case wire::Envelope::KILL_TASK: {
      auto kill = envelope.getKillTask();
      return killTask(FrameworkID{text(kill.getFrameworkId())}, TaskID{text(kill.getTaskId())},
                      kill.getKillGracePeriodMs());
    }
    case wire::Envelope::STATUS_UPDATE_ACK: return onAck(envelope.getStatusUpdateAck());
    case wire::Envelope::SHUTDOWN_FRAMEWORK:
      return shutdownFramework(FrameworkID{text(envelope.getShutdownFramework().getFrameworkId())});
    case wire::Envelope::KILL_EXECUTOR: {
      auto kill = envelope.getKillExecutor();
      ExecutorKey key{FrameworkID{text(kill.getFrameworkId())}, ExecutorID{text(kill.getExecutorId())}};
      auto executor = executorsByKey_.find(key);
      // Only a framework's own executors: the built-in ones are not its to end.
      if (executor == executorsByKey_.end() || executor->second->builtIn()) return;
      return shutdownExecutor(*executor->second, "its framework asked (SHUTDOWN)");
    }
    case wire::Envelope::REREGISTER:
      return masterLost("the master asked: " + text(envelope.getReregister().getReason()));
    case wire::Envelope::NOT_LEADER: {
      // A standby named the leader. With zk:// the election's own word is
      // followed instead.
      std::string leader = text(envelope.getNotLeader().getLeader());
      if (leaderDetector_ || leader.empty()) return;
      return followMaster(leader, "the master at " + masterAddress_ + " stands by");
    }
    case wire::Envelope::SHUTDOWN_AGENT:
      return shutdownByMaster(text(envelope.getShutdownAgent().getReason()));
    case wire::Envelope::FRAMEWORK_MESSAGE: return frameworkMessageFromMaster(envelope.getFrameworkMessage());
    default:
      throw wire::MalformedMessage(std::string("the agent does not accept ") + wire::name(envelope.which()) +
                                   " from the master");
  }
}

void Agent::registerWithMaster() {
  capnp::MallocMessageBuilder message;
  auto reg = message.initRoot<wire::Envelope>().initRegisterAgent();
  reg.setAgentId(agentId_.value);
  if (agentId_.empty() && !previousAgentId_.empty()) {
    reg.setPreviousAgentId(previousAgentId_.value);
    reg.setPreviousAgentEnded(previousAgentEnded_);
  }
  wire::toWire(info_, reg.initInfo());
  // Every task still running, and every ended one whose updates are still
  // to be acknowledged.
  std::vector<std::pair<const Run*, const TaskStatus*>> reported;
  for (const auto& [key, run] : runs_) {
    if (run->abandoned) continue;
    auto stream = streams_.find(key);
    const TaskStatus* newest =
        stream != streams_.end() && !stream->second->pending.empty() ? &stream->second->pending.back() : nullptr;
    if (!isTerminal(run->state) || newest != nullptr) reported.emplace_back(run.get(), newest);
  }
  auto tasks = reg.initTasks(static_cast<unsigned>(reported.size()));
  for (unsigned i = 0; i < reported.size(); ++i) {
    const Run& run = *reported[i].first;
    tasks[i].setFrameworkId(run.frameworkId.value);
    wire::toWire(run.task, tasks[i].initTask());
    tasks[i].setState(toString(run.state));
    wire::toWire(run.frameworkInfo, tasks[i].initFrameworkInfo());
    if (reported[i].second != nullptr) wire::toWire(*reported[i].second, run.frameworkId, tasks[i].initLastStatus());
  }
  std::vector<const Executor*> running;
  for (const auto& [key, executor] : executorsByKey_) {
    if (!executor->exited() && !executor->builtIn()) running.push_back(executor.get());
  }
  auto executors = reg.initExecutors(static_cast<unsigned>(running.size()));
  for (unsigned i = 0; i < running.size(); ++i) {
    executors[i].setFrameworkId(running[i]->frameworkId.value);
    wire::toWire(running[i]->info, executors[i].initInfo());
  }
  sendToMaster(message);
  ++metrics_.registrations;
  lastRegistrationSent_ = time_.now();

  // Re-sent until answered, after a random delay that grows (RetryBackoff):
  // thousands of agents registering at once do not re-send in step.
  registrationTimer_.start(backoff_.next(), [this] {
    if (!registered_) registerWithMaster();
  });
}

void Agent::onRegistered(wire::AgentRegistered::Reader message) {
  AgentID id{text(message.getAgentId())};
  if (id.empty()) throw wire::MalformedMessage("registration reply without an agent id");
  auto key = message.getSandboxKey();
  sandboxKey_.assign(reinterpret_cast<const char*>(key.begin()), key.size());
  if (registered_ && id == agentId_) return;  // a duplicate reply
  if (!agentId_.empty() && id != agentId_) {
    spdlog::warn("the master gave a new agent id {} (was {})", id.value, agentId_.value);
  }
  agentId_ = id;
  registered_ = true;
  reportedHandshakeFailures_.clear();
  previousAgentId_ = AgentID{};
  if (auto saved = checkpoints_.saveAgent({agentId_, info_.bootId}); !saved) {
    // Nothing depends on it until a restart; it is written again at the
    // next registration.
    ++metrics_.checkpointWriteFailures;
    spdlog::error("cannot checkpoint the agent id: {}", saved.error().message);
  }
  registrationTimer_.stop();
  backoff_.reset();
  // Bounded whatever the master sent: their product is a duration the
  // silence check multiplies, which must neither overflow nor be zero.
  pingInterval_ = std::chrono::milliseconds(std::clamp<int64_t>(message.getPingIntervalMs(), 1, 86'400'000));
  maxPingTimeouts_ = static_cast<int>(std::clamp<uint32_t>(message.getMaxPingTimeouts(), 1, 1000));
  lastPing_ = time_.now();
  spdlog::info("{} with the master as agent {}", message.getReregistered() ? "re-registered" : "registered",
               agentId_.value);

  watchMaster();
  resendAll();
}

void Agent::masterLost(const std::string& why) {
  // Every message the master does not know the sender of asks for a
  // re-registration: one is enough while it is on its way.
  if (!registered_ && time_.now() - lastRegistrationSent_ < 0.1) return;
  spdlog::warn("re-registering with the master: {}", why);
  registered_ = false;
  masterWatchTimer_.stop();
  backoff_.reset();
  registerWithMaster();
}

void Agent::followMaster(const std::string& address, const std::string& why) {
  if (address == masterAddress_) return;
  spdlog::info("following the master at {}: {}", address, why);
  if (!masterAddress_.empty()) (void)master_->disconnect("tcp://" + masterAddress_);
  masterAddress_ = address;
  if (auto connected = master_->connect("tcp://" + address); !connected) {
    spdlog::error("cannot connect to the master at {}: {}", address, connected.error().message);
    return;
  }
  registered_ = false;
  masterWatchTimer_.stop();
  backoff_.reset();
  registerWithMaster();
}

void Agent::watchMaster() {
  // The master pings every interval; silence for longer than it allows means
  // it failed over or restarted.
  masterWatchTimer_.start(
      pingInterval_,
      [this] {
        auto silent = time_.now() - lastPing_;
        if (registered_ && silent > seconds(pingInterval_) * (maxPingTimeouts_ + 1) && !silenceCheck_.active()) {
          // A process stopped and resumed (SIGSTOP, a paused VM) wakes to its
          // timers before its input: let what the master sent meanwhile
          // (pings, launches) arrive before deciding it is gone, so that a
          // re-registration reports every task the master sent.
          silenceCheck_.start(std::min<std::chrono::nanoseconds>(pingInterval_, milliseconds(250)), [this] {
            master_->receivePending();
            auto silent = time_.now() - lastPing_;
            if (registered_ && silent > seconds(pingInterval_) * (maxPingTimeouts_ + 1)) {
              masterLost("no ping for " + std::to_string(static_cast<int64_t>(silent * 1000)) + " ms");
            }
          });
        }
      },
      pingInterval_);
}

void Agent::shutdownByMaster(const std::string& reason) {
  spdlog::warn("the master removed agent {}: {}; killing its tasks and registering as a new agent",
               agentId_.value.empty() ? "(none)" : agentId_.value, reason);
  std::vector<TaskKey> keys;
  for (auto& [key, run] : runs_) {
    run->abandoned = true;
    keys.push_back(key);
  }
  holdLaunches_ = true;
  for (const auto& key : keys) killTask(key.first, key.second, -1);
  std::vector<ExecutorKey> own;
  for (const auto& [key, executor] : executorsByKey_) {
    if (!executor->builtIn()) own.push_back(key);
  }
  // One by one: a shutdown may end (and erase) its executor at once.
  for (const auto& key : own) {
    if (auto it = executorsByKey_.find(key); it != executorsByKey_.end()) shutdownExecutor(*it->second, "the master removed this agent");
  }
  holdLaunches_ = false;
  launchQueued();
  // Their updates go to the master as the new agent's; it acknowledges what
  // it no longer tracks.
  agentId_ = AgentID{};
  previousAgentId_ = AgentID{};
  registered_ = false;
  masterWatchTimer_.stop();
  backoff_.reset();
  registerWithMaster();
}

}  // namespace clusternodes::agent
