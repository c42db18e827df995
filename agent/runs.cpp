// The agent's tasks run by its own executors (native and Docker): launch
// (queued for a start slot), kill, the executors' registrations and status
// updates, their end, and their containers' usage.
#include <signal.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "agent/agent.hpp"
#include "agent/agent_runs.hpp"

namespace clusternodes::agent {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using wire::text;

constexpr auto kSweepMinAge = std::chrono::minutes(10);

std::string mebibytes(uint64_t bytes) {
  char out[32];
  std::snprintf(out, sizeof out, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return out;
}

}  // namespace

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
  std::string refused;
  if (run->custom()) {
    if (run->docker()) {
      refused = "a task of a framework's executor cannot also be a Docker task";
    } else if (containerizers_.count("native") == 0) {
      refused = "this agent does not run native executors (--containerizers=" + flags_.containerizers + ")";
    }
  } else {
    run->sandbox = flags_.workDir + "/sandboxes/" + run->frameworkId.value + "/" + run->task.taskId.value + "/" +
                   run->containerId;
    const char* kind = run->docker() ? "docker" : "native";
    if (containerizers_.count(kind) == 0) {
      refused = std::string("this agent does not run ") + kind + " tasks (--containerizers=" + flags_.containerizers +
                ")";
    }
  }
  Run& stored = *(runs_[key] = std::move(run));
  if (!refused.empty()) return endRun(stored, TaskState::kFailed, TaskReason::kContainerizerUnsupported, refused);
  if (stored.custom()) {
    stored.moveTo(RunPhase::kAwaitingExecutor);
    return runOnExecutor(key);
  }
  stored.moveTo(RunPhase::kQueued);
  launchQueue_.push_back(key);
  if (starting_ >= maxStarting_) ++metrics_.launchesQueued;
  launchQueued();
}

void Agent::endRun(Run& run, TaskState state, TaskReason reason, const std::string& message) {
  run.state = state;
  run.moveTo(RunPhase::kExited);
  enqueueStatus(run.frameworkId, agentStatus(run, state, reason, message));
}

void Agent::launchQueued() {
  while (starting_ < maxStarting_ && !launchQueue_.empty()) {
    TaskKey key = launchQueue_.front();
    launchQueue_.pop_front();
    auto it = runs_.find(key);
    if (it == runs_.end() || it->second->phase != RunPhase::kQueued) continue;  // killed while it waited
    auto& run = *it->second;
    if (!launchExecutor(run)) continue;  // failed to start; already reported
    run.moveTo(RunPhase::kStarting);
    ++starting_;
    run.registrationTimer = std::make_unique<Timer>(time_);
    run.registrationTimer->start(flags_.executorRegistrationTimeout, [this, key] {
      auto found = runs_.find(key);
      if (found == runs_.end()) return;
      auto& late = *found->second;
      if (!late.executorPeer.empty() || late.exited()) return;
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
      containerizerOf(late).kill(late.containerId);
      doneStarting(late);
    });
  }
}

void Agent::doneStarting(Run& run) {
  if (run.registrationTimer) run.registrationTimer->stop();
  if (run.phase != RunPhase::kStarting) return;
  run.moveTo(RunPhase::kLaunched);
  --starting_;
  launchQueued();  // starts other runs only; `run` stays as it is
}

Containerizer& Agent::containerizerOf(const Run& run) {
  if (run.custom()) return *executorContainers_;
  return run.docker() ? *docker_ : *native_;
}

ContainerLimits Agent::limitsOf(const Run& run) const {
  return containerLimits(run.task.resources.cpus(), run.task.resources.mem(), run.task.cpuLimit,
                         flags_.isolation.enableCfs);
}

bool Agent::launchExecutor(Run& run) {
  TaskKey key{run.frameworkId, run.task.taskId};
  ContainerLaunch launch;
  launch.containerId = run.containerId;
  launch.sandbox = run.sandbox;
  launch.frameworkId = run.frameworkId;
  launch.taskId = run.task.taskId;
  launch.agentId = agentId_;
  launch.limits = limitsOf(run);
  auto launched = containerizerOf(run).launch(
      launch, [this, key](std::optional<ExitStatus> exit) { executorExited(key, exit); });
  if (launched.failure) {
    endRun(run, TaskState::kFailed, *launched.failure, launched.error);
    destroyContainer(run);
    return false;
  }
  run.pid = launched.pid;
  checkpoint(run, true);
  return true;
}

void Agent::executorExited(const TaskKey& key, std::optional<ExitStatus> exit) {
  auto it = runs_.find(key);
  if (it == runs_.end()) return;
  auto& run = *it->second;
  doneStarting(run);
  if (!run.executorPeer.empty()) runsByPeer_.erase(run.executorPeer);
  if (!isTerminal(run.state)) {
    if (run.killRequested()) {
      endRun(run, TaskState::kKilled, TaskReason::kKilledByFramework, "killed before it started");
    } else {
      std::string how = !exit              ? "ended while the agent was down or reconnecting"
                        : exit->signal != 0 ? "was killed by signal " + std::to_string(exit->signal)
                                            : "exited with status " + std::to_string(exit->code);
      endRun(run, TaskState::kFailed, TaskReason::kExecutorTerminated,
             "the executor " + how + " before the task ended");
    }
  } else if (!run.exited()) {
    run.moveTo(RunPhase::kExited);
  }
  destroyContainer(run);
  forgetIfDone(key);
}

void Agent::destroyContainer(Run& run) {
  if (run.phase == RunPhase::kDestroyed) return;
  run.moveTo(RunPhase::kDestroyed);
  std::error_code ec;
  if (!run.sandbox.empty() && std::filesystem::exists(run.sandbox, ec)) gc_->schedule(run.sandbox);
  if (containerizerOf(run).destroy(run.containerId)) ++metrics_.containersDestroyed;
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
  if (isTerminal(run.state) || run.exited()) return;
  int64_t grace = gracePeriodMs;
  if (grace < 0 && run.task.killGracePeriodSeconds) grace = static_cast<int64_t>(*run.task.killGracePeriodSeconds * 1000);
  if (grace < 0) grace = duration_cast<milliseconds>(flags_.defaultGracePeriod).count();
  run.killGraceMs = grace;
  if (run.custom()) return killOnExecutor(run);
  if (run.phase == RunPhase::kQueued) {
    // Still waiting for a start slot: nothing was started.
    return endRun(run, TaskState::kKilled, TaskReason::kKilledByFramework, "killed before it started");
  }
  if (run.executorPeer.empty()) {
    // A recovered executor gets the kill when it reconnects.
    if (run.recovered) return;
    // Not registered yet: nothing has started; stop the executor itself.
    containerizerOf(run).kill(run.containerId);
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
  auto refuse = [&] {
    throw wire::MalformedMessage(std::string("the agent does not accept ") + wire::name(envelope.which()) +
                                 " from an executor");
  };
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
            default: return refuse();
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
          case wire::Envelope::REGISTER_LAUNCHER:
            if (!launcher_) return refuse();
            return launcher_->registered(peer, envelope.getRegisterLauncher());
          case wire::Envelope::EXECUTOR_ENDED:
            if (!launcher_) return refuse();
            return launcher_->executorEnded(peer, envelope.getExecutorEnded());
          case wire::Envelope::COMMAND_STARTED:
            if (!launcher_) return refuse();
            return launcher_->commandStarted(peer, envelope.getCommandStarted());
          default: return refuse();
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
  if (it == runs_.end() || it->second->exited() || (it->second->killRequested() && !recovered) ||
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
  if (recovered && run.killRequested()) {
    // Killed while its executor was reconnecting.
    capnp::MallocMessageBuilder kill;
    kill.initRoot<wire::Envelope>().initKillCommand().setKillGracePeriodMs(*run.killGraceMs);
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
  containerizerOf(run).describe(run.containerId, limitsOf(run), launch);
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

// ------------------------------------------------------------ containers

void Agent::explainFailure(Run& run, TaskStatus& status) {
  auto usage = containerizerOf(run).usage(run.containerId);
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
  auto measured = containerizerOf(run).usage(run.containerId);
  ContainerUsage usage = measured ? *measured : ContainerUsage{};
  run.memPeak = std::max(run.memPeak, usage.memBytes);
  usage.memPeakBytes = std::max(usage.memPeakBytes, run.memPeak);
  usage.timestamp = time_.wallSeconds();
  return usage;
}

bool Agent::measured(const Run& run) {
  return !run.custom() && !run.exited() && containerizerOf(run).measures(run.containerId);
}

void Agent::sweepContainers() {
  std::set<std::string> active = destroyer_->pending();
  for (const auto& [key, run] : runs_) active.insert(run->containerId);
  for (const auto& [key, executor] : frameworkExecutors_) active.insert(executor->containerId);
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
    if (!measured(*run) || isTerminal(run->state)) continue;
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

}  // namespace clusternodes::agent
