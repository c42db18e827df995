#include "agent/agent.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <thread>
#include <nlohmann/json.hpp>

#include "agent/agent_runs.hpp"
#include "agent/cgroups.hpp"
#include "agent/resource_detection.hpp"
#include "agent/sandbox_files.hpp"
#include "common/json.hpp"
#include "common/process.hpp"

namespace clusternodes::agent {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

using wire::text;

constexpr auto kMaxStatusBackoffFactor = 32;
constexpr auto kSweepInterval = std::chrono::minutes(10);
constexpr auto kSweepMinAge = std::chrono::minutes(10);

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

Agent::Agent(Loop& loop, zmq::context_t& context, AgentFlags flags, std::unique_ptr<FileSystem> files)
    : loop_(loop),
      context_(context),
      flags_(std::move(flags)),
      backoff_(flags_.registrationBackoff),
      registrationTimer_(loop),
      masterWatchTimer_(loop),
      silenceCheck_(loop),
      destroyTimer_(loop),
      usageTimer_(loop),
      sweepTimer_(loop),
      recoveryWatch_(loop),
      files_(files ? std::move(files) : makeFileSystem()),
      checkpoints_(flags_.workDir, *files_, [this] { commitHook_.arm(); }),
      commitHook_(loop, [this] { commitCheckpoints(); }),
      commitRetry_(loop) {}

Agent::~Agent() = default;

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
  if (containerizers_.count("docker") != 0) {
    dockerClient_ = std::make_unique<docker::Client>(flags_.dockerSocket);
    docker_ = std::make_unique<WorkerThread>();
    // Docker may come up after the agent: its tasks fail with the reason
    // until it does.
    if (auto ping = dockerClient_->ping(); !ping) {
      spdlog::warn("Docker does not answer on {} ({}); Docker tasks will fail until it does", flags_.dockerSocket,
                   ping.error().message);
    }
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
  info_.hostname = flags_.hostname;
  info_.resources = *resources;
  info_.attributes = *attributes;
  info_.bootId = bootId();

  executors_ = std::make_unique<ZmqSocket>(loop_, context_, ZmqSocket::Kind::kRouter);
  executors_->onMessage([this](std::string_view peer, std::string_view bytes) { onExecutorMessage(peer, bytes); });
  auto bound = executors_->bind("tcp://" + flags_.ip + ":" + std::to_string(flags_.port));
  if (!bound) return bound.error();
  executorEndpoint_ = *bound;

  http_ = std::make_unique<HttpServer>(loop_);
  installEndpoints();
  auto httpBound = http_->listen(flags_.ip, flags_.httpPort);
  if (!httpBound) return httpBound.error();
  httpPort_ = *httpBound;
  info_.httpPort = httpPort_;
  info_.ip = flags_.ip;

  master_ = std::make_unique<ZmqSocket>(loop_, context_, ZmqSocket::Kind::kDealer, "agent-" + randomUuid());
  master_->onMessage([this](std::string_view, std::string_view bytes) { onMasterMessage(bytes); });
  // A master that restarted (or a network that came back) is re-registered
  // with at once, not after the pings have been missed.
  master_->onConnectionChange([this](bool connected) {
    if (!connected) return;
    if (registered_) return masterLost("the connection to the master was made again");
    backoff_ = flags_.registrationBackoff;
    registerWithMaster();
  });
  if (auto connected = master_->connect("tcp://" + flags_.master); !connected) return connected.error();

  gc_ = std::make_unique<GarbageCollector>(loop_, flags_.workDir + "/sandboxes", flags_.gc);
  gc_->start({});
  usageTimer_.start(flags_.usageInterval, [this] { sampleUsage(); }, flags_.usageInterval);
  sweepContainers();
  sweepTimer_.start(kSweepInterval, [this] { sweepContainers(); }, kSweepInterval);

  spdlog::info("agent on {} ({}) with {}; isolation {}; executors connect to {}", info_.hostname, flags_.ip,
               info_.resources.toString(), isolator_->name(), executorEndpoint_);
  recover();
  registerWithMaster();
  return {};
}

// ------------------------------------------------------------ master

void Agent::dropMessage(const std::string& reason) {
  ++metrics_.messagesDropped;
  spdlog::warn("dropped a malformed message ({} so far): {}", metrics_.messagesDropped, reason);
}

void Agent::sendToMaster(capnp::MallocMessageBuilder& message) { master_->send(wire::encode(message)); }

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
      lastPing_ = std::chrono::steady_clock::now();
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
    case wire::Envelope::REREGISTER:
      return masterLost("the master asked: " + text(envelope.getReregister().getReason()));
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
  std::vector<const FrameworkExecutor*> running;
  for (const auto& [key, executor] : frameworkExecutors_) {
    if (!executor->exited) running.push_back(executor.get());
  }
  auto executors = reg.initExecutors(static_cast<unsigned>(running.size()));
  for (unsigned i = 0; i < running.size(); ++i) {
    executors[i].setFrameworkId(running[i]->frameworkId.value);
    wire::toWire(running[i]->info, executors[i].initInfo());
  }
  sendToMaster(message);
  ++metrics_.registrations;
  lastRegistrationSent_ = std::chrono::steady_clock::now();

  registrationTimer_.start(backoff_, [this] {
    if (!registered_) registerWithMaster();
  });
  backoff_ = std::min(backoff_ * 2, std::chrono::nanoseconds(std::chrono::seconds(4)));
}

void Agent::onRegistered(wire::AgentRegistered::Reader message) {
  AgentID id{text(message.getAgentId())};
  if (id.empty()) throw wire::MalformedMessage("registration reply without an agent id");
  if (registered_ && id == agentId_) return;  // a duplicate reply
  if (!agentId_.empty() && id != agentId_) {
    spdlog::warn("the master gave a new agent id {} (was {})", id.value, agentId_.value);
  }
  agentId_ = id;
  registered_ = true;
  previousAgentId_ = AgentID{};
  if (auto saved = checkpoints_.saveAgent({agentId_, info_.bootId}); !saved) {
    // Nothing depends on it until a restart; it is written again at the
    // next registration.
    ++metrics_.checkpointWriteFailures;
    spdlog::error("cannot checkpoint the agent id: {}", saved.error().message);
  }
  registrationTimer_.stop();
  backoff_ = flags_.registrationBackoff;
  pingInterval_ = std::chrono::milliseconds(std::max<int64_t>(1, message.getPingIntervalMs()));
  maxPingTimeouts_ = static_cast<int>(std::max<uint32_t>(1, message.getMaxPingTimeouts()));
  lastPing_ = std::chrono::steady_clock::now();
  spdlog::info("{} with the master as agent {}", message.getReregistered() ? "re-registered" : "registered",
               agentId_.value);

  // The master pings every interval; silence for longer than it allows means
  // it failed over or restarted.
  masterWatchTimer_.start(
      pingInterval_,
      [this] {
        auto silent = std::chrono::steady_clock::now() - lastPing_;
        if (registered_ && silent > pingInterval_ * (maxPingTimeouts_ + 1) && !silenceCheck_.active()) {
          // A process stopped and resumed (SIGSTOP, a paused VM) wakes to its
          // timers before its input: let what the master sent meanwhile
          // (pings, launches) arrive before deciding it is gone, so that a
          // re-registration reports every task the master sent.
          silenceCheck_.start(std::min<std::chrono::nanoseconds>(pingInterval_, milliseconds(250)), [this] {
            master_->receivePending();
            auto silent = std::chrono::steady_clock::now() - lastPing_;
            if (registered_ && silent > pingInterval_ * (maxPingTimeouts_ + 1)) {
              masterLost("no ping for " + std::to_string(duration_cast<milliseconds>(silent).count()) + " ms");
            }
          });
        }
      },
      pingInterval_);
  resendAll();
}

void Agent::masterLost(const std::string& why) {
  // Every message the master does not know the sender of asks for a
  // re-registration: one is enough while it is on its way.
  auto now = std::chrono::steady_clock::now();
  if (!registered_ && now - lastRegistrationSent_ < milliseconds(100)) return;
  spdlog::warn("re-registering with the master: {}", why);
  registered_ = false;
  masterWatchTimer_.stop();
  backoff_ = flags_.registrationBackoff;
  registerWithMaster();
}

void Agent::shutdownByMaster(const std::string& reason) {
  spdlog::warn("the master removed agent {}: {}; killing its tasks and registering as a new agent",
               agentId_.value.empty() ? "(none)" : agentId_.value, reason);
  std::vector<TaskKey> keys;
  for (auto& [key, run] : runs_) {
    run->abandoned = true;
    keys.push_back(key);
  }
  for (const auto& key : keys) killTask(key.first, key.second, -1);
  for (auto& [key, executor] : frameworkExecutors_) shutdownExecutor(*executor, "the master removed this agent");
  // Their updates go to the master as the new agent's; it acknowledges what
  // it no longer tracks.
  agentId_ = AgentID{};
  previousAgentId_ = AgentID{};
  registered_ = false;
  masterWatchTimer_.stop();
  backoff_ = flags_.registrationBackoff;
  registerWithMaster();
}

void Agent::runTask(wire::RunTask::Reader message) {
  // Between a lost master and the re-registration the task still runs: the
  // re-registration reports it.
  if (agentId_.empty()) return;
  auto run = std::make_unique<Run>();
  run->frameworkId.value = text(message.getFrameworkId());
  run->frameworkInfo = wire::fromWire(message.getFrameworkInfo());
  run->task = wire::fromWire(message.getTask());
  TaskKey key{run->frameworkId, run->task.taskId};
  if (runs_.count(key) != 0 || finished_.count(key) != 0) {
    // The master sends a launch again when the agent re-registered without
    // it; the first may have arrived after all.
    spdlog::warn("ignoring a second launch of task {}", key.second.value);
    return;
  }
  ++metrics_.tasksLaunched;
  run->containerId = randomUuid();
  if (run->custom()) {
    if (run->docker() || containerizers_.count("native") == 0) {
      run->state = TaskState::kFailed;
      run->executorExited = true;
      TaskStatus failed = agentStatus(*run, TaskState::kFailed, TaskReason::kContainerizerUnsupported,
                                      run->docker() ? "a task of a framework's executor cannot also be a Docker task"
                                                    : "this agent does not run native executors (--containerizers=" +
                                                          flags_.containerizers + ")");
      runs_[key] = std::move(run);
      enqueueStatus(key.first, failed);
      return;
    }
    runs_[key] = std::move(run);
    return runOnExecutor(key);
  }
  run->sandbox = flags_.workDir + "/sandboxes/" + run->frameworkId.value + "/" + run->task.taskId.value + "/" +
                 run->containerId;
  const char* kind = run->docker() ? "docker" : "native";
  if (containerizers_.count(kind) == 0) {
    run->state = TaskState::kFailed;
    run->executorExited = true;
    TaskStatus failed = agentStatus(*run, TaskState::kFailed, TaskReason::kContainerizerUnsupported,
                                    std::string("this agent does not run ") + kind + " tasks (--containerizers=" +
                                        flags_.containerizers + ")");
    runs_[key] = std::move(run);
    enqueueStatus(key.first, failed);
    return;
  }
  runs_[key] = std::move(run);
  runs_[key]->queued = true;
  launchQueue_.push_back(key);
  if (starting_ >= maxStarting_) ++metrics_.launchesQueued;
  launchQueued();
}

void Agent::launchQueued() {
  while (starting_ < maxStarting_ && !launchQueue_.empty()) {
    TaskKey key = launchQueue_.front();
    launchQueue_.pop_front();
    auto it = runs_.find(key);
    if (it == runs_.end() || !it->second->queued) continue;  // killed while it waited
    auto& run = *it->second;
    run.queued = false;
    launchExecutor(run);
    if (run.process == nullptr) continue;  // failed to start; already reported
    run.starting = true;
    ++starting_;
    run.registrationTimer = std::make_unique<Timer>(loop_);
    run.registrationTimer->start(flags_.executorRegistrationTimeout, [this, key] {
      auto found = runs_.find(key);
      if (found == runs_.end()) return;
      auto& late = *found->second;
      if (!late.executorPeer.empty() || late.executorExited) return;
      spdlog::warn("the executor of task {} did not register within {} ms; killing it", key.second.value,
                   duration_cast<milliseconds>(flags_.executorRegistrationTimeout).count());
      late.state = TaskState::kFailed;
      enqueueStatus(late.frameworkId,
                    agentStatus(late, TaskState::kFailed, TaskReason::kExecutorRegistrationTimeout,
                                "the executor did not register within " +
                                    std::to_string(duration_cast<milliseconds>(
                                                       flags_.executorRegistrationTimeout)
                                                       .count()) +
                                    " ms"));
      if (late.pid > 0) ::kill(-late.pid, SIGKILL);
      doneStarting(late);
    });
  }
}

void Agent::doneStarting(Run& run) {
  if (run.registrationTimer) run.registrationTimer->stop();
  if (!run.starting) return;
  run.starting = false;
  --starting_;
  launchQueued();  // starts other runs only; `run` stays as it is
}

void Agent::launchExecutor(Run& run) {
  TaskKey key{run.frameworkId, run.task.taskId};
  std::error_code ec;
  std::filesystem::create_directories(run.sandbox, ec);
  if (ec) {
    run.state = TaskState::kFailed;
    enqueueStatus(run.frameworkId, agentStatus(run, TaskState::kFailed, TaskReason::kExecutorFailedToStart,
                                               "cannot create the sandbox " + run.sandbox + ": " + ec.message()));
    run.executorExited = true;
    return;
  }
  run.sandboxCreated = true;
  auto limits = containerLimits(run.task.resources.cpus(), run.task.resources.mem(), run.task.cpuLimit,
                                flags_.isolation.enableCfs);
  // Docker makes a Docker task's cgroups itself.
  auto prepared = run.docker() ? Result<void>() : isolator_->prepare(run.containerId, limits);
  if (!prepared) {
    run.state = TaskState::kFailed;
    enqueueStatus(run.frameworkId, agentStatus(run, TaskState::kFailed, TaskReason::kContainerLaunchFailed,
                                               "cannot isolate the task: " + prepared.error().message));
    run.executorExited = true;
    destroyContainer(run);
    return;
  }
  run.containerPrepared = !run.docker();

  std::string executor =
      flags_.launcherDir + (run.docker() ? "/clusternodes-docker-executor" : "/clusternodes-executor");
  std::vector<std::string> args = {
      executor,
      "--agent=" + executorEndpoint_,
      "--framework-id=" + run.frameworkId.value,
      "--task-id=" + run.task.taskId.value,
      "--recovery-timeout=" + std::to_string(duration_cast<milliseconds>(flags_.recoveryTimeout).count()) + "ms",
  };
  int logFd = ::open((run.sandbox + "/executor.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  SpawnOptions options;
  options.file = executor;
  options.args = std::move(args);
  options.workingDirectory = run.sandbox;
  options.stdoutFd = logFd;
  options.stderrFd = logFd;
  // Its own session: a signal to the agent's terminal does not reach it.
  options.newSession = true;
  auto child = ChildProcess::spawn(loop_, options, [this, key](const ExitStatus& exit) {
    executorExited(key, exit.code, exit.signal);
  });
  if (logFd >= 0) ::close(logFd);
  if (!child) {
    run.executorExited = true;
    run.state = TaskState::kFailed;
    enqueueStatus(run.frameworkId, agentStatus(run, TaskState::kFailed, TaskReason::kExecutorFailedToStart,
                                               "cannot start the executor: " + child.error().message));
    destroyContainer(run);
    return;
  }
  run.process = std::move(child.value());
  run.pid = run.process->pid();
  checkpoint(run, true);
}

void Agent::checkpoint(Run& run, bool withTask) {
  RunCheckpoint saved;
  saved.containerId = run.containerId;
  saved.sandbox = run.sandbox;
  saved.executorPid = run.pid;
  saved.state = run.state;
  if (withTask) {
    capnp::MallocMessageBuilder message;
    auto runTask = message.initRoot<wire::Envelope>().initRunTask();
    runTask.setFrameworkId(run.frameworkId.value);
    wire::toWire(run.frameworkInfo, runTask.initFrameworkInfo());
    wire::toWire(run.task, runTask.initTask());
    saved.runTask = wire::encode(message);
  }
  if (withTask) {
    checkpoints_.saveRun(saved);
    run.checkpointed = true;
  } else {
    checkpoints_.saveRunState(saved.containerId, saved.sandbox, saved.executorPid, saved.state);
  }
}

void Agent::checkpointUpdates(const TaskKey& key) {
  auto run = runs_.find(key);
  if (run == runs_.end()) return;
  if (!run->second->checkpointed) checkpoint(*run->second, true);
  std::vector<std::string> encoded;
  if (auto stream = streams_.find(key); stream != streams_.end()) {
    for (const auto& status : stream->second->pending) {
      capnp::MallocMessageBuilder message;
      auto update = message.initRoot<wire::Envelope>().initStatusUpdate();
      update.setFrameworkId(key.first.value);
      wire::toWire(status, key.first, update.initStatus());
      encoded.push_back(wire::encode(message));
    }
  }
  checkpoints_.saveUpdates(run->second->containerId, encoded);
}

void Agent::whenDurable(std::function<void()> fn) {
  afterCommit_.push_back(std::move(fn));
  if (!commitRetry_.active()) commitHook_.arm();
}

void Agent::commitCheckpoints() {
  // While writes fail, the retry timer decides when to try again, not every
  // loop turn that stages more.
  if (commitRetry_.active()) return;
  // What the callbacks stage is written in the same turn: a few rounds at
  // most (an acknowledgement forwards the next update, which stages nothing).
  for (int round = 0; round < 4 && (checkpoints_.staged() || !afterCommit_.empty()); ++round) {
    if (auto written = checkpoints_.commit(); !written) {
      ++metrics_.checkpointWriteFailures;
      if (!checkpointFailure_) {
        spdlog::error("cannot write the checkpoint: {}; withholding acknowledgements until it can", written.error().message);
      }
      checkpointFailure_ = written.error().message;
      // Senders retry meanwhile; try again shortly, not on every turn.
      commitRetry_.start(milliseconds(100), [this] { commitCheckpoints(); });
      return;
    }
    if (checkpointFailure_) {
      spdlog::info("the checkpoint is written again");
      checkpointFailure_.reset();
    }
    ++metrics_.checkpointCommits;
    std::vector<std::function<void()>> durable;
    durable.swap(afterCommit_);
    for (auto& fn : durable) fn();
  }
  if (checkpoints_.staged() || !afterCommit_.empty()) commitHook_.arm();
}

void Agent::executorExited(const TaskKey& key, int64_t exitStatus, int termSignal) {
  auto it = runs_.find(key);
  if (it == runs_.end()) return;
  auto& run = *it->second;
  run.executorExited = true;
  doneStarting(run);
  if (!run.executorPeer.empty()) runsByPeer_.erase(run.executorPeer);
  if (!isTerminal(run.state)) {
    if (run.killRequested) {
      run.state = TaskState::kKilled;
      enqueueStatus(run.frameworkId,
                    agentStatus(run, TaskState::kKilled, TaskReason::kKilledByFramework, "killed before it started"));
    } else {
      std::string how = termSignal != 0  ? "was killed by signal " + std::to_string(termSignal)
                        : exitStatus < 0 ? "ended while the agent was down or reconnecting"
                                         : "exited with status " + std::to_string(exitStatus);
      run.state = TaskState::kFailed;
      enqueueStatus(run.frameworkId, agentStatus(run, TaskState::kFailed, TaskReason::kExecutorTerminated,
                                                 "the executor " + how + " before the task ended"));
    }
  }
  destroyContainer(run);
  forgetIfDone(key);
}

void Agent::killTask(const FrameworkID& frameworkId, const TaskID& taskId, int64_t gracePeriodMs) {
  auto it = runs_.find({frameworkId, taskId});
  if (it == runs_.end()) {
    Run unknown;
    unknown.frameworkId = frameworkId;
    unknown.task.taskId = taskId;
    enqueueStatus(frameworkId, agentStatus(unknown, TaskState::kLost, TaskReason::kTaskUnknown,
                                           "cannot kill task " + taskId.value + ": the agent does not know it"));
    return;
  }
  auto& run = *it->second;
  if (isTerminal(run.state) || run.executorExited) return;
  run.killRequested = true;
  int64_t grace = gracePeriodMs;
  if (grace < 0 && run.task.killGracePeriodSeconds) grace = static_cast<int64_t>(*run.task.killGracePeriodSeconds * 1000);
  if (grace < 0) grace = duration_cast<milliseconds>(flags_.defaultGracePeriod).count();
  run.killGraceMs = grace;
  if (run.custom()) return killOnExecutor(run);
  if (run.queued) {
    // Still waiting for a start slot: nothing was started.
    run.queued = false;
    run.executorExited = true;
    run.state = TaskState::kKilled;
    enqueueStatus(run.frameworkId,
                  agentStatus(run, TaskState::kKilled, TaskReason::kKilledByFramework, "killed before it started"));
    return;
  }
  if (run.executorPeer.empty()) {
    // A recovered executor gets the kill when it reconnects.
    if (run.recovered) return;
    // Not registered yet: nothing has started; stop the executor itself.
    if (run.pid > 0) ::kill(run.pid, SIGKILL);
    return;
  }
  capnp::MallocMessageBuilder message;
  message.initRoot<wire::Envelope>().initKillCommand().setKillGracePeriodMs(grace);
  executors_->sendTo(run.executorPeer, wire::encode(message));
}

void Agent::shutdownFramework(const FrameworkID& frameworkId) {
  std::vector<TaskID> tasks;
  for (const auto& [key, run] : runs_) {
    if (key.first == frameworkId) tasks.push_back(key.second);
  }
  spdlog::info("shutting down framework {} ({} task(s))", frameworkId.value, tasks.size());
  for (const auto& taskId : tasks) killTask(frameworkId, taskId, -1);
  for (auto& [key, executor] : frameworkExecutors_) {
    if (key.first == frameworkId) shutdownExecutor(*executor, "its framework was shut down");
  }
}

// ------------------------------------------------------------ executors

void Agent::onExecutorMessage(std::string_view peerView, std::string_view bytes) {
  ++metrics_.messagesReceived;
  std::string peer(peerView);
  auto decoded = wire::decode(bytes);
  if (!decoded) return dropMessage(decoded.error().message);
  auto envelope = (*decoded)->envelope();
  wire::dispatchSafely(
      [&] {
        if (auto executor = frameworkExecutorsByPeer_.find(peer); executor != frameworkExecutorsByPeer_.end()) {
          // A framework's executor.
          switch (envelope.which()) {
            case wire::Envelope::REGISTER_EXECUTOR: return executorRegisteredBack(peer, envelope.getRegisterExecutor());
            case wire::Envelope::EXECUTOR_STATUS:
              return frameworkExecutorStatus(peer, executor->second,
                                             wire::fromWire(envelope.getExecutorStatus().getStatus()));
            case wire::Envelope::FRAMEWORK_MESSAGE:
              return frameworkMessageFromExecutor(executor->second, envelope.getFrameworkMessage());
            default:
              throw wire::MalformedMessage(std::string("the agent does not accept ") + wire::name(envelope.which()) +
                                           " from an executor");
          }
        }
        switch (envelope.which()) {
          case wire::Envelope::REGISTER_EXECUTOR:
            if (envelope.getRegisterExecutor().hasExecutorId() &&
                envelope.getRegisterExecutor().getExecutorId().size() > 0) {
              return executorRegisteredBack(peer, envelope.getRegisterExecutor());
            }
            return executorRegistered(peer, envelope.getRegisterExecutor());
          case wire::Envelope::EXECUTOR_STATUS: return executorStatus(peer, envelope.getExecutorStatus());
          default:
            throw wire::MalformedMessage(std::string("the agent does not accept ") + wire::name(envelope.which()) +
                                         " from an executor");
        }
      },
      [&](const std::string& reason) { dropMessage(reason); });
}

void Agent::executorRegistered(const std::string& peer, wire::RegisterExecutor::Reader message) {
  TaskKey key{FrameworkID{text(message.getFrameworkId())}, TaskID{text(message.getTaskId())}};
  auto it = runs_.find(key);
  capnp::MallocMessageBuilder reply;
  auto envelope = reply.initRoot<wire::Envelope>();
  bool recovered = it != runs_.end() && it->second->recovered;
  if (it == runs_.end() || it->second->executorExited || (it->second->killRequested && !recovered) ||
      isTerminal(it->second->state)) {
    envelope.setShutdownExecutor();
    executors_->sendTo(peer, wire::encode(reply));
    return;
  }
  auto& run = *it->second;
  if (!run.executorPeer.empty() && run.executorPeer != peer) runsByPeer_.erase(run.executorPeer);
  if (recovered && run.executorPeer.empty()) spdlog::info("the executor of task {} is back", key.second.value);
  run.executorPeer = peer;
  runsByPeer_[peer] = key;
  if (recovered && run.killRequested) {
    // Killed while its executor was reconnecting.
    capnp::MallocMessageBuilder kill;
    kill.initRoot<wire::Envelope>().initKillCommand().setKillGracePeriodMs(run.killGraceMs);
    executors_->sendTo(peer, wire::encode(kill));
  }
  auto launch = envelope.initLaunchCommand();
  launch.setAgentPid(::getpid());
  wire::toWire(run.task, launch.initTask());
  launch.setSandbox(run.sandbox);
  int64_t grace = run.task.killGracePeriodSeconds
                      ? static_cast<int64_t>(*run.task.killGracePeriodSeconds * 1000)
                      : duration_cast<milliseconds>(flags_.defaultGracePeriod).count();
  launch.setKillGracePeriodMs(grace);
  if (run.docker()) {
    auto limits = containerLimits(run.task.resources.cpus(), run.task.resources.mem(), run.task.cpuLimit,
                                  flags_.isolation.enableCfs);
    auto docker = launch.initDocker();
    docker.setSocket(flags_.dockerSocket);
    docker.setContainerName(run.containerName());
    docker.setCpuShares(cpuShares(limits.cpus));
    if (limits.cpuQuota) {
      docker.setCpuQuotaUs(static_cast<int64_t>(cfsQuotaUs(*limits.cpuQuota)));
      docker.setCpuPeriodUs(static_cast<int64_t>(kCfsPeriodUs));
    }
    docker.setMemoryBytes(limits.memBytes);
    executors_->sendTo(peer, wire::encode(reply));
    return;
  }
  auto join = isolator_->joinDirs(run.containerId);
  auto cgroups = launch.initCgroups(static_cast<unsigned>(join.size()));
  for (unsigned i = 0; i < join.size(); ++i) cgroups.set(i, join[i]);
  auto back = isolator_->returnDirs();
  auto returns = launch.initReturnCgroups(static_cast<unsigned>(back.size()));
  for (unsigned i = 0; i < back.size(); ++i) returns.set(i, back[i]);
  executors_->sendTo(peer, wire::encode(reply));
}

void Agent::executorStatus(const std::string& peer, wire::ExecutorStatus::Reader message) {
  auto byPeer = runsByPeer_.find(peer);
  if (byPeer == runsByPeer_.end()) {
    // A re-send from an executor that has since exited: its update is queued
    // already (or was settled by its exit). Not malformed; nothing to do.
    spdlog::debug("ignoring a status from an executor that is gone");
    return;
  }
  auto& run = *runs_.at(byPeer->second);
  TaskStatus status = wire::fromWire(message.getStatus());
  if (status.taskId != run.task.taskId) throw wire::MalformedMessage("an executor reported another task");
  if (status.uuid.empty()) throw wire::MalformedMessage("an executor status without a uuid");

  // Acknowledge to the executor once the update is queued here; duplicates
  // (a retried send) are acknowledged again but queued once.
  bool duplicate = (isTerminal(run.state) && isTerminal(status.state)) || run.executorUpdates.count(status.uuid) != 0;
  if (auto stream = streams_.find(byPeer->second); stream != streams_.end()) {
    for (const auto& pending : stream->second->pending) duplicate |= pending.uuid == status.uuid;
  }
  if (!duplicate) {
    run.executorUpdates.insert(status.uuid);
    run.state = status.state;
    if (status.state != TaskState::kStarting) doneStarting(run);
    status.agentId = agentId_;
    status.source = TaskSource::kExecutor;
    if (status.state == TaskState::kFailed) explainFailure(run, status);
    // On disk before the executor hears it was received: the update itself
    // (enqueueStatus), then the run's state.
    enqueueStatus(run.frameworkId, status);
    checkpoint(run, false);
  }
  // A duplicate too: the first copy may still be on its way to disk.
  ackWhenDurable(peer, status.uuid);
}

void Agent::ackWhenDurable(const std::string& peer, const std::string& uuid) {
  whenDurable([this, peer, uuid] {
    capnp::MallocMessageBuilder ack;
    ack.initRoot<wire::Envelope>().initExecutorAck().setUuid(uuid);
    executors_->sendTo(peer, wire::encode(ack));
  });
}

// ------------------------------------------------------------ recovery

namespace {

// Whether `pid` is the executor of `taskId` (and not a process that got its
// number since).
bool isExecutorOf(pid_t pid, const TaskID& taskId) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
  return cmdline.find("clusternodes-") != std::string::npos &&
         cmdline.find(" --task-id=" + taskId.value + " ") != std::string::npos;
}

}  // namespace

void Agent::recover() {
  auto saved = checkpoints_.loadAgent();
  if (!saved) {
    if (saved.error().code != ErrorCode::kNotFound) {
      spdlog::warn("ignoring the agent's checkpoint: {}", saved.error().message);
    }
    checkpoints_.clear();
    return;
  }
  bool rebooted = saved->bootId != info_.bootId;
  if (rebooted || flags_.recover == "cleanup") {
    // Nothing the old agent ran survived a reboot; with cleanup, nothing may.
    // The master hears which agent this one replaces and reports its tasks
    // lost.
    previousAgentId_ = saved->agentId;
    previousAgentEnded_ = rebooted ? "the host rebooted" : "the agent restarted with --recover=cleanup";
    spdlog::info("{} since agent {} ran here; registering as a new agent", previousAgentEnded_,
                 saved->agentId.value);
    if (!rebooted) {
      checkpoints_.load();
      for (const auto& [id, run] : checkpoints_.runs()) cleanupRun(run);
      for (const auto& [id, executor] : checkpoints_.executors()) {
        if (executor.pid > 0 && executor.startTime != 0 && processStartTime(executor.pid) == executor.startTime) {
          spdlog::info("--recover=cleanup: killing framework executor pid {}", executor.pid);
          ::kill(-executor.pid, SIGKILL);
          ::kill(executor.pid, SIGKILL);
        }
        isolator_->killAll(executor.containerId, 0);
        if (!isolator_->remove(executor.containerId)) {
          destroying_[executor.containerId] = std::chrono::steady_clock::now() + std::chrono::seconds(30);
          if (!destroyTimer_.active()) {
            destroyTimer_.start(milliseconds(10), [this] { retryDestroys(); }, milliseconds(10));
          }
        }
      }
    }
    checkpoints_.clear();
    removeOrphanContainers(saved->agentId);
    return;
  }
  agentId_ = saved->agentId;
  checkpoints_.load();
  recoverExecutors();
  auto runs = checkpoints_.runs();  // a copy: recoverRun() removes what it cannot take back
  size_t alive = 0;
  for (const auto& [id, run] : runs) alive += recoverRun(run) ? 1 : 0;
  commitHook_.arm();
  spdlog::info("recovering as agent {}: {} executor(s) still running, {} ended while the agent was down",
               agentId_.value, alive, runs.size() - alive);
  recoveryWatch_.start(milliseconds(500), [this] { watchRecovered(); }, milliseconds(500));
  removeOrphanContainers(agentId_);
}

namespace {

// The framework and task of a checkpointed run; false when unreadable.
bool decodeRunTask(const RunCheckpoint& saved, FrameworkID& frameworkId, FrameworkInfo& frameworkInfo,
                   TaskInfo& task) {
  try {
    auto decoded = wire::decode(saved.runTask);
    if (!decoded || (*decoded)->which() != wire::Envelope::RUN_TASK) throw wire::MalformedMessage("not a RunTask");
    auto message = (*decoded)->envelope().getRunTask();
    frameworkId.value = text(message.getFrameworkId());
    frameworkInfo = wire::fromWire(message.getFrameworkInfo());
    task = wire::fromWire(message.getTask());
    return true;
  } catch (const std::exception& e) {
    spdlog::warn("dropping the unreadable checkpoint of run {}: {}", saved.containerId, e.what());
    return false;
  }
}

}  // namespace

void Agent::cleanupRun(const RunCheckpoint& saved) {
  FrameworkID frameworkId;
  FrameworkInfo frameworkInfo;
  TaskInfo task;
  if (!decodeRunTask(saved, frameworkId, frameworkInfo, task)) return;
  if (saved.executorPid > 0 && isExecutorOf(saved.executorPid, task.taskId)) {
    spdlog::info("--recover=cleanup: killing the executor of task {} (pid {})", task.taskId.value,
                 saved.executorPid);
    if (!task.docker) isolator_->killAll(saved.containerId, saved.executorPid);
    ::kill(saved.executorPid, SIGKILL);
  }
  if (task.docker) return;  // removeOrphanContainers() removes its container
  isolator_->killAll(saved.containerId, 0);
  if (isolator_->remove(saved.containerId)) return;
  destroying_[saved.containerId] = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  if (!destroyTimer_.active()) {
    destroyTimer_.start(milliseconds(10), [this] { retryDestroys(); }, milliseconds(10));
  }
}

bool Agent::recoverRun(const RunCheckpoint& saved) {
  auto run = std::make_unique<Run>();
  if (!decodeRunTask(saved, run->frameworkId, run->frameworkInfo, run->task)) {
    checkpoints_.removeRun(saved.containerId);
    return false;
  }
  run->containerId = saved.containerId;
  run->sandbox = saved.sandbox;
  run->pid = saved.executorPid;
  run->state = saved.state;
  run->sandboxCreated = true;
  run->containerPrepared = !run->docker();
  run->recovered = true;
  run->checkpointed = true;
  TaskKey key{run->frameworkId, run->task.taskId};
  if (run->custom()) {
    // Its executor was recovered first; the task lives on with it.
    run->sandboxCreated = false;
    run->containerPrepared = false;
    run->executorExited = isTerminal(run->state);
    run->delivered = false;
  }
  // The updates its framework had not acknowledged go out again once the
  // agent is registered (resendAll); the newest is the task's latest state.
  if (!saved.updates.empty()) {
    auto stream = std::make_unique<UpdateStream>(loop_);
    stream->frameworkId = run->frameworkId;
    stream->backoff = flags_.statusUpdateRetry;
    for (const auto& bytes : saved.updates) {
      try {
        auto decoded = wire::decode(bytes);
        if (!decoded || (*decoded)->which() != wire::Envelope::STATUS_UPDATE) {
          throw wire::MalformedMessage("not a StatusUpdate");
        }
        stream->pending.push_back(wire::fromWire((*decoded)->envelope().getStatusUpdate().getStatus()));
      } catch (const std::exception& e) {
        spdlog::warn("dropping an unreadable status update of task {}: {}", run->task.taskId.value, e.what());
      }
    }
    if (!stream->pending.empty()) {
      run->state = stream->pending.back().state;
      streams_[key] = std::move(stream);
    }
  }
  if (run->custom()) {
    if (!run->executorExited && isTerminal(run->state)) run->executorExited = true;
    auto executor = frameworkExecutors_.find(run->executorKey());
    bool alive = executor != frameworkExecutors_.end() && !executor->second->exited;
    Run& stored = *(runs_[key] = std::move(run));
    if (alive) {
      executor->second->tasks.insert(key.second);
      stored.pid = executor->second->pid;
      return true;
    }
    if (!stored.executorExited) {
      stored.executorExited = true;
      stored.state = TaskState::kFailed;
      enqueueStatus(key.first, agentStatus(stored, TaskState::kFailed, TaskReason::kExecutorTerminated,
                                           "executor " + stored.task.executor->executorId.value +
                                               " ended while the agent was down, before the task ended"));
    }
    forgetIfDone(key);
    return false;
  }
  bool alive = saved.executorPid > 0 && isExecutorOf(saved.executorPid, run->task.taskId);
  if (alive) run->executorStart = processStartTime(saved.executorPid);
  alive = alive && run->executorStart.has_value();
  runs_[key] = std::move(run);
  if (!alive) executorExited(key, -1, 0);
  return alive;
}

void Agent::watchRecovered() {
  std::vector<TaskKey> gone;
  bool watching = false;
  for (const auto& [key, run] : runs_) {
    if (!run->recovered || run->executorExited || run->custom()) continue;
    watching = true;
    if (processStartTime(run->pid) != run->executorStart) gone.push_back(key);
  }
  for (const auto& key : gone) executorExited(key, -1, 0);
  std::vector<ExecutorKey> executorsGone;
  for (const auto& [key, executor] : frameworkExecutors_) {
    if (!executor->recovered || executor->exited) continue;
    watching = true;
    if (processStartTime(executor->pid).value_or(0) != executor->startTime) executorsGone.push_back(key);
  }
  for (const auto& key : executorsGone) frameworkExecutorExited(key, -1, "ended while the agent was away");
  if (!watching) recoveryWatch_.stop();
}

void Agent::removeOrphanContainers(const AgentID& agentId) {
  if (docker_ == nullptr || agentId.empty()) return;
  std::set<std::string> known;
  for (const auto& [key, run] : runs_) {
    if (run->docker()) known.insert(run->containerName());
  }
  // Only containers labelled with this agent's id: never one it did not
  // start.
  docker_->post([client = dockerClient_.get(), id = agentId.value, known] {
    auto listed = client->list({{"clusternodes.agent-id", id}});
    if (!listed) {
      spdlog::warn("cannot list this agent's Docker containers: {}", listed.error().message);
      return;
    }
    for (const auto& container : *listed) {
      if (known.count(container.name) != 0) continue;
      auto removed = client->remove(container.id);
      if (removed) {
        spdlog::info("removed orphan container {} (task {})", container.name,
                     container.labels.count("clusternodes.task-id") ? container.labels.at("clusternodes.task-id") : "");
      } else {
        spdlog::warn("cannot remove orphan container {}: {}", container.name, removed.error().message);
      }
    }
  });
}

// ------------------------------------------------------------ containers

namespace {

std::string mebibytes(uint64_t bytes) {
  char out[32];
  std::snprintf(out, sizeof out, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return out;
}

}  // namespace

void Agent::destroyContainer(Run& run) {
  if (run.destroyed) return;
  run.destroyed = true;
  if (run.sandboxCreated) gc_->schedule(run.sandbox);
  if (run.docker() && run.pid > 0) {
    // The executor removes its container; if it died first, the container
    // goes here.
    docker_->post([client = dockerClient_.get(), name = run.containerName()] {
      auto removed = client->remove(name);
      if (removed.ok()) spdlog::info("removed container {}, left by its executor", name);
    });
  }
  if (!run.containerPrepared) return;
  ++metrics_.containersDestroyed;
  // The executor is gone, so its pid may name another process by now: the
  // cgroups alone say what is left.
  isolator_->killAll(run.containerId, 0);
  if (isolator_->remove(run.containerId)) return;
  destroying_[run.containerId] = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  if (!destroyTimer_.active()) {
    destroyTimer_.start(milliseconds(10), [this] { retryDestroys(); }, milliseconds(10));
  }
}

void Agent::retryDestroys() {
  auto now = std::chrono::steady_clock::now();
  for (auto it = destroying_.begin(); it != destroying_.end();) {
    isolator_->killAll(it->first, 0);
    if (isolator_->remove(it->first)) {
      it = destroying_.erase(it);
    } else if (now > it->second) {
      spdlog::warn("container {} still has processes after 30 s; leaving its cgroups", it->first);
      it = destroying_.erase(it);
    } else {
      ++it;
    }
  }
  if (destroying_.empty()) destroyTimer_.stop();
}

void Agent::explainFailure(Run& run, TaskStatus& status) {
  if (!run.containerPrepared) return;
  auto usage = isolator_->usage(run.containerId, run.pid);
  if (!usage || usage->oomKills == 0) return;
  ++metrics_.memoryLimitKills;
  status.reason = TaskReason::kMemoryLimit;
  std::string limit = mebibytes(usage->memLimitBytes);
  if (usage->memPeakBytes > 0) {
    status.message = "memory limit exceeded: the task used up to " + mebibytes(usage->memPeakBytes) + " of its " +
                     limit + " limit, and the kernel killed it there (" + status.message + ")";
  } else {
    // No peak counter (cgroup v2 before Linux 5.19): the sampled high mark
    // may be far below what it reached.
    status.message = "memory limit exceeded: the task reached its " + limit + " limit (the highest use sampled was " +
                     mebibytes(std::max(usage->memBytes, run.memPeak)) +
                     "), and the kernel killed it there (" + status.message + ")";
  }
}

ContainerUsage Agent::usageOf(Run& run) {
  auto measured = isolator_->usage(run.containerId, run.pid);
  ContainerUsage usage = measured ? *measured : ContainerUsage{};
  run.memPeak = std::max(run.memPeak, usage.memBytes);
  usage.memPeakBytes = std::max(usage.memPeakBytes, run.memPeak);
  usage.timestamp = Loop::wallSeconds();
  return usage;
}

void Agent::sweepContainers() {
  std::set<std::string> active;
  for (const auto& [key, run] : runs_) active.insert(run->containerId);
  for (const auto& [key, executor] : frameworkExecutors_) active.insert(executor->containerId);
  for (const auto& id : destroying_) active.insert(id.first);
  // Older than any container of a live agent can be while empty: one whose
  // executor has not yet started the command is at most
  // --executor-registration-timeout old.
  auto minAge = std::max<std::chrono::seconds>(
      kSweepMinAge, 2 * std::chrono::duration_cast<std::chrono::seconds>(flags_.executorRegistrationTimeout));
  if (size_t swept = isolator_->sweep(active, minAge); swept > 0) {
    spdlog::info("removed {} container cgroup(s) that an earlier agent left empty", swept);
  }
}

void Agent::sampleUsage() {
  std::vector<std::pair<Run*, ContainerUsage>> samples;
  for (auto& [key, run] : runs_) {
    if (!run->containerPrepared || run->executorExited || isTerminal(run->state)) continue;
    samples.emplace_back(run.get(), usageOf(*run));
  }
  if (samples.empty() || !registered_) return;
  capnp::MallocMessageBuilder message;
  auto list = message.initRoot<wire::Envelope>().initContainerUsages().initContainers(
      static_cast<unsigned>(samples.size()));
  for (unsigned i = 0; i < samples.size(); ++i) {
    wire::toWire(samples[i].second, list[i]);
    list[i].setFrameworkId(samples[i].first->frameworkId.value);
    list[i].setTaskId(samples[i].first->task.taskId.value);
  }
  sendToMaster(message);
}

// ------------------------------------------------------------ status updates

TaskStatus Agent::agentStatus(const Run& run, TaskState state, TaskReason reason, const std::string& message) {
  TaskStatus status;
  status.taskId = run.task.taskId;
  status.agentId = agentId_;
  status.state = state;
  status.reason = reason;
  status.message = message;
  status.source = TaskSource::kAgent;
  status.timestamp = Loop::wallSeconds();
  status.uuid = randomUuid();
  return status;
}

void Agent::enqueueStatus(const FrameworkID& frameworkId, TaskStatus status) {
  TaskKey key{frameworkId, status.taskId};
  auto& stream = streams_[key];
  if (!stream) {
    stream = std::make_unique<UpdateStream>(loop_);
    stream->frameworkId = frameworkId;
  }
  stream->pending.push_back(std::move(status));
  checkpointUpdates(key);
  // Forwarded once on disk, so that an update the framework saw is one a
  // restarted agent still has.
  if (!stream->inFlight) whenDurable([this, key] { startStream(key); });
}

void Agent::startStream(const TaskKey& key) {
  auto it = streams_.find(key);
  if (it == streams_.end() || it->second->inFlight || it->second->pending.empty()) return;
  it->second->inFlight = true;
  it->second->backoff = flags_.statusUpdateRetry;
  sendHead(*it->second, key);
}

void Agent::sendHead(UpdateStream& stream, const TaskKey& key) {
  if (stream.pending.empty()) return;
  if (registered_) {
    capnp::MallocMessageBuilder message;
    auto update = message.initRoot<wire::Envelope>().initStatusUpdate();
    update.setFrameworkId(stream.frameworkId.value);
    wire::toWire(stream.pending.front(), stream.frameworkId, update.initStatus());
    sendToMaster(message);
    ++metrics_.statusUpdatesSent;
  }
  stream.retry.start(stream.backoff, [this, key] {
    auto it = streams_.find(key);
    if (it == streams_.end()) return;
    auto& s = *it->second;
    ++metrics_.statusUpdateRetries;
    s.backoff = std::min(s.backoff * 2, flags_.statusUpdateRetry * kMaxStatusBackoffFactor);
    sendHead(s, key);
  });
}

void Agent::resendAll() {
  whenDurable([this] {
    for (auto& [key, stream] : streams_) {
      if (stream->pending.empty()) continue;
      stream->inFlight = true;
      stream->backoff = flags_.statusUpdateRetry;
      sendHead(*stream, key);
    }
  });
}

void Agent::onAck(wire::StatusUpdateAck::Reader message) {
  TaskKey key{FrameworkID{text(message.getFrameworkId())}, TaskID{text(message.getTaskId())}};
  auto it = streams_.find(key);
  if (it == streams_.end()) return;
  auto& stream = *it->second;
  if (stream.pending.empty() || stream.pending.front().uuid != text(message.getUuid())) return;
  stream.pending.pop_front();
  stream.retry.stop();
  stream.inFlight = false;
  if (!stream.pending.empty()) {
    checkpointUpdates(key);
    whenDurable([this, key] { startStream(key); });
    return;
  }
  forgetIfDone(key);
  // A run that goes on keeps an empty list: the acknowledged update must not
  // be re-sent after a restart.
  if (runs_.count(key) != 0) checkpointUpdates(key);
}

void Agent::forgetIfDone(const TaskKey& key) {
  auto stream = streams_.find(key);
  bool streamEmpty = stream == streams_.end() || stream->second->pending.empty();
  if (!streamEmpty) return;
  auto run = runs_.find(key);
  if (run != runs_.end()) {
    if (!isTerminal(run->second->state) || !run->second->executorExited) return;
    checkpoints_.removeRun(run->second->containerId);
    if (run->second->custom()) {
      if (auto executor = frameworkExecutors_.find(run->second->executorKey()); executor != frameworkExecutors_.end()) {
        executor->second->tasks.erase(key.second);
      }
    }
    runs_.erase(run);
    if (finished_.insert(key).second) finishedOrder_.push_back(key);
    while (finishedOrder_.size() > kRememberFinished) {
      finished_.erase(finishedOrder_.front());
      finishedOrder_.pop_front();
    }
  }
  if (stream != streams_.end()) streams_.erase(stream);
}

// ------------------------------------------------------------ http

uint64_t Agent::droppedMessages() const {
  uint64_t frames = executors_ ? executors_->malformedFrames() : 0;
  if (master_) frames += master_->malformedFrames();
  return metrics_.messagesDropped + frames;
}

void Agent::installEndpoints() {
  http_->route("GET", "/health", [this](const HttpRequest&) {
    // Unhealthy while the checkpoint cannot be written: updates are then
    // neither acknowledged nor forwarded.
    if (checkpointFailure_) return HttpResponse::text(503, "checkpoint writes fail: " + *checkpointFailure_ + "\n");
    return HttpResponse::text(200, "ok\n");
  });
  installFileEndpoints(*http_, flags_.workDir + "/sandboxes");
  http_->route("GET", "/state", [this](const HttpRequest&) {
    nlohmann::json j;
    j["id"] = agentId_.value;
    j["hostname"] = info_.hostname;
    j["registered"] = registered_;
    j["master"] = flags_.master;
    j["isolation"] = isolator_->name();
    j["resources"] = toJson(info_.resources);
    j["tasks"] = nlohmann::json::array();
    Resources used;
    for (const auto& [key, run] : runs_) {
      if (!isTerminal(run->state)) used += run->task.resources;
      j["tasks"].push_back({{"id", key.second.value},
                            {"framework_id", key.first.value},
                            {"state", toString(run->state)},
                            {"sandbox", run->sandbox},
                            {"container_id", run->containerId},
                            {"executor_pid", run->pid},
                            {"resources", toJson(run->task.resources)}});
    }
    j["executors"] = nlohmann::json::array();
    for (const auto& [key, executor] : frameworkExecutors_) {
      if (!executor->exited) used += executor->info.resources;
      nlohmann::json tasks = nlohmann::json::array();
      for (const auto& taskId : executor->tasks) tasks.push_back(taskId.value);
      j["executors"].push_back({{"id", key.second.value},
                                {"framework_id", key.first.value},
                                {"name", executor->info.name},
                                {"pid", executor->pid},
                                {"registered", !executor->peer.empty()},
                                {"container_id", executor->containerId},
                                {"sandbox", executor->sandbox},
                                {"tasks", tasks},
                                {"resources", toJson(executor->info.resources)}});
    }
    j["used_resources"] = toJson(used);
    size_t pending = 0;
    for (const auto& [key, stream] : streams_) pending += stream->pending.size();
    j["pending_status_updates"] = pending;
    j["sandboxes_pending_gc"] = gc_->pending();
    j["sandboxes_collected"] = gc_->collected();
    j["metrics"] = {{"messages_received", metrics_.messagesReceived},
                    {"messages_dropped", droppedMessages()},
                    {"tasks_launched", metrics_.tasksLaunched},
                    {"launches_queued", metrics_.launchesQueued},
                    {"executors_starting", starting_},
                    {"launches_waiting", std::count_if(runs_.begin(), runs_.end(),
                                                       [](const auto& entry) { return entry.second->queued; })},
                    {"status_updates_sent", metrics_.statusUpdatesSent},
                    {"status_update_retries", metrics_.statusUpdateRetries}};
    return HttpResponse::json(200, j.dump());
  });
  // Every live container: its limits and what it uses now.
  http_->route("GET", "/containers", [this](const HttpRequest&) {
    nlohmann::json out = nlohmann::json::array();
    for (auto& [key, run] : runs_) {
      if (!(run->containerPrepared || (run->docker() && run->process != nullptr)) || run->executorExited) continue;
      auto limits = containerLimits(run->task.resources.cpus(), run->task.resources.mem(), run->task.cpuLimit,
                                    flags_.isolation.enableCfs);
      nlohmann::json limitsJson = {{"cpus", limits.cpus}, {"mem_bytes", limits.memBytes}, {"cpu_quota", nullptr}};
      if (limits.cpuQuota) limitsJson["cpu_quota"] = *limits.cpuQuota;
      nlohmann::json container = {{"container_id", run->containerId},
                                  {"framework_id", key.first.value},
                                  {"task_id", key.second.value},
                                  {"state", toString(run->state)},
                                  {"executor_pid", run->pid},
                                  {"sandbox", run->sandbox},
                                  {"limits", limitsJson}};
      if (run->docker()) {
        // Docker measures its containers (docker stats).
        container["isolation"] = "docker";
        container["docker_container"] = run->containerName();
        container["image"] = run->task.docker->image;
      } else {
        container["isolation"] = isolator_->name();
        container["cgroup"] = isolator_->location(run->containerId);
        container["usage"] = toJson(usageOf(*run));
      }
      out.push_back(std::move(container));
    }
    return HttpResponse::json(200, out.dump());
  });
  http_->route("GET", "/metrics", [this](const HttpRequest&) {
    auto response = HttpResponse::text(200, metricsText());
    response.contentType = "text/plain; version=0.0.4; charset=utf-8";
    return response;
  });
}

}  // namespace clusternodes::agent
