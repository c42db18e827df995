// Every executor, built-in or a framework's own, through one protocol: made
// for a task, queued for a start slot, started in its kind's container,
// registered by executor id (ExecutorRegistered, then its tasks as RunTask,
// kills as KillTask), its tasks' status updates, shutdown, its end, and
// after an agent restart taken back. Executors of earlier releases that
// register by task id are answered as they expect (registeredByTask).
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <filesystem>

#include "agent/agent.hpp"
#include "agent/agent_runs.hpp"

namespace clusternodes::agent {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using wire::text;

// How an executor ended, for people, and as ExecutorExited's status (exit
// code, 128 + signal, or -1: unknown).
std::pair<int, std::string> describeExit(const std::optional<ExitStatus>& exit) {
  if (!exit) return {-1, "ended while the agent was down or reconnecting"};
  if (exit->signal != 0) return {128 + exit->signal, "was killed by signal " + std::to_string(exit->signal)};
  return {exit->code, "exited with status " + std::to_string(exit->code)};
}

ExecutorKind kindOf(const TaskInfo& task) {
  if (task.executor) return ExecutorKind::kCustom;
  return task.docker ? ExecutorKind::kDocker : ExecutorKind::kCommand;
}

// In a task's status: "the executor" of a built-in one, "executor ID" of a
// framework's.
std::string nameOf(const std::pair<FrameworkID, ExecutorID>& key, bool builtIn) {
  return builtIn ? "the executor" : "executor " + key.second.value;
}

// In the agent's log.
std::string logName(const std::pair<FrameworkID, ExecutorID>& key, bool builtIn) {
  return (builtIn ? "the executor of task " : "executor ") + key.second.value + " of framework " + key.first.value;
}

}  // namespace

// ------------------------------------------------------------ starting

void Agent::runOnExecutor(Run& run) {
  ExecutorKey key = run.executorKey();
  auto it = executorsByKey_.find(key);
  bool fresh = it == executorsByKey_.end();
  Executor& executor = fresh ? newExecutor(run) : *it->second;
  executor.tasks.insert(run.task.taskId);
  run.sandbox = executor.sandbox;
  if (fresh) {
    launchQueue_.push_back(key);
    if (starting_ >= maxStarting_) ++metrics_.launchesQueued;
    // May start it now, or fail its start and end it (and the run).
    launchQueued();
  }
  it = executorsByKey_.find(key);
  run.pid = it != executorsByKey_.end() ? it->second->pid : 0;
  // Checkpointed once its executor's pid is known, when it started now.
  if (!run.exited() || !run.checkpointed) checkpoint(run, true);
  if (fresh || it == executorsByKey_.end()) return;
  if (!executor.builtIn()) resizeExecutor(executor);
  if (executor.phase == ExecutorPhase::kRegistered) sendTaskToExecutor(executor, run);
}

Agent::Executor& Agent::newExecutor(const Run& run) {
  auto executor = std::make_unique<Executor>();
  executor->frameworkId = run.frameworkId;
  executor->frameworkInfo = run.frameworkInfo;
  executor->kind = kindOf(run.task);
  executor->user = run.user;
  if (run.custom()) {
    executor->info = *run.task.executor;
    executor->containerId = randomUuid();
    executor->sandbox = flags_.workDir + "/sandboxes/" + run.frameworkId.value + "/executors/" +
                        executor->info.executorId.value + "/" + executor->containerId;
  } else {
    // A built-in executor is named by its task, and its container is the
    // run's.
    executor->info.executorId = ExecutorID{run.task.taskId.value};
    executor->info.name = executor->kind == ExecutorKind::kDocker ? "docker executor" : "command executor";
    executor->containerId = run.containerId;
    executor->sandbox = flags_.workDir + "/sandboxes/" + run.frameworkId.value + "/" + run.task.taskId.value + "/" +
                        run.containerId;
  }
  ExecutorKey key = executor->key();
  return *(executorsByKey_[key] = std::move(executor));
}

void Agent::launchQueued() {
  while (!holdLaunches_ && starting_ < maxStarting_ && !launchQueue_.empty()) {
    ExecutorKey key = launchQueue_.front();
    launchQueue_.pop_front();
    auto it = executorsByKey_.find(key);
    if (it == executorsByKey_.end() || it->second->phase != ExecutorPhase::kQueued) continue;
    auto& executor = *it->second;
    // Every task it was made for was killed while it waited: it never starts.
    bool wanted = false;
    for (const auto& taskId : executor.tasks) {
      auto run = runs_.find({key.first, taskId});
      wanted |= run != runs_.end() && !run->second->exited();
    }
    if (!wanted) {
      executorExited(key, std::nullopt, std::make_pair(TaskReason::kKilledByFramework, "killed before it started"));
      continue;
    }
    if (!startExecutor(executor)) continue;  // its tasks failed, and say why
    executor.starting = true;
    ++starting_;
  }
}

bool Agent::startExecutor(Executor& executor) {
  ExecutorKey key = executor.key();
  ContainerLaunch launch;
  launch.containerId = executor.containerId;
  launch.sandbox = executor.sandbox;
  launch.frameworkId = executor.frameworkId;
  if (executor.builtIn()) {
    launch.taskId = TaskID{key.second.value};
  } else {
    launch.executor = executor.info;
  }
  launch.agentId = agentId_;
  launch.limits = limitsOf(executor);
  launch.user = executor.user;
  // Started from here on: what a failed launch made is destroyed too.
  executor.phase = ExecutorPhase::kStarted;
  auto launched = containerizerOf(executor.kind).launch(
      launch, [this, key](std::optional<ExitStatus> exit) { executorExited(key, exit); });
  if (launched.failure) {
    spdlog::warn("cannot start {}: {}", logName(key, executor.builtIn()), launched.error);
    executorExited(key, std::nullopt, std::make_pair(*launched.failure, launched.error));
    return false;
  }
  executor.pid = launched.pid;
  if (!executor.builtIn()) {
    executor.startTime = reaper_->startTime(executor.containerId);
    checkpointExecutor(executor);
    spdlog::info("started executor {} of framework {} (pid {}) in {}", key.second.value, key.first.value,
                 executor.pid, executor.sandbox);
  }
  // Tasks checkpointed while it waited for its slot note its pid.
  for (const auto& taskId : executor.tasks) {
    auto run = runs_.find({key.first, taskId});
    if (run == runs_.end()) continue;
    run->second->pid = executor.pid;
    if (run->second->checkpointed) checkpoint(*run->second, false);
  }
  armRegistrationTimeout(executor);
  return true;
}

void Agent::armRegistrationTimeout(Executor& executor) {
  ExecutorKey key = executor.key();
  executor.registrationTimer = std::make_unique<Timer>(time_);
  executor.registrationTimer->start(flags_.executorRegistrationTimeout, [this, key] {
    auto found = executorsByKey_.find(key);
    if (found == executorsByKey_.end() || found->second->phase != ExecutorPhase::kStarted) return;
    auto& late = *found->second;
    auto ms = duration_cast<milliseconds>(flags_.executorRegistrationTimeout).count();
    if (late.recovered) {
      return shutdownExecutor(late, "it did not re-register after the agent restarted");
    }
    spdlog::warn("{} did not register within {} ms; killing it", logName(key, late.builtIn()), ms);
    endExecutorTasks(late, TaskReason::kExecutorRegistrationTimeout,
                     nameOf(key, late.builtIn()) + " did not register within " + std::to_string(ms) + " ms");
    containerizerOf(late.kind).kill(late.containerId);
    doneStarting(late);
  });
}

void Agent::doneStarting(Executor& executor) {
  if (executor.registrationTimer && executor.phase != ExecutorPhase::kStarted) executor.registrationTimer->stop();
  if (!executor.starting) return;
  executor.starting = false;
  --starting_;
  launchQueued();  // starts other executors only; `executor` stays as it is
}

Containerizer& Agent::containerizerOf(ExecutorKind kind) {
  switch (kind) {
    case ExecutorKind::kCommand: return *native_;
    case ExecutorKind::kDocker: return *docker_;
    case ExecutorKind::kCustom: break;
  }
  return *executorContainers_;
}

ContainerLimits Agent::limitsOf(const Executor& executor) const {
  double cpus = executor.info.resources.cpus();
  double mem = executor.info.resources.mem();
  std::optional<double> cpuLimit;
  for (const auto& taskId : executor.tasks) {
    auto run = runs_.find({executor.frameworkId, taskId});
    if (run == runs_.end() || (run->second->exited() && !executor.builtIn())) continue;
    cpus += run->second->task.resources.cpus();
    mem += run->second->task.resources.mem();
    // A built-in executor's one task may ask for a hard cpu limit.
    if (executor.builtIn()) cpuLimit = run->second->task.cpuLimit;
  }
  return containerLimits(cpus, mem, cpuLimit, flags_.isolation.enableCfs);
}

// ------------------------------------------------------------ the protocol

void Agent::onExecutorMessage(std::string_view peerView, std::string_view bytes) {
  ++metrics_.messagesReceived;
  std::string peer(peerView);
  auto decoded = wire::decode(bytes);
  if (!decoded) return dropMessage(decoded.error().message);
  auto envelope = (*decoded)->envelope();
  auto refuse = [&] {
    throw wire::MalformedMessage(std::string("the agent does not accept ") + wire::name(envelope.which()) +
                                 " from " + (executorsByPeer_.count(peer) != 0 ? "an executor" : "an unregistered peer"));
  };
  wire::dispatchSafely(
      [&] {
        switch (envelope.which()) {
          case wire::Envelope::REGISTER_EXECUTOR: return executorRegistered(peer, envelope.getRegisterExecutor());
          case wire::Envelope::EXECUTOR_STATUS: {
            auto executor = executorsByPeer_.find(peer);
            if (executor == executorsByPeer_.end()) {
              // A re-send from an executor that has since exited: its update
              // is queued already (or was settled by its exit). Not
              // malformed; nothing to do.
              spdlog::debug("ignoring a status from an executor that is gone");
              return;
            }
            return executorStatus(peer, executor->second, wire::fromWire(envelope.getExecutorStatus().getStatus()));
          }
          case wire::Envelope::FRAMEWORK_MESSAGE: {
            auto executor = executorsByPeer_.find(peer);
            if (executor == executorsByPeer_.end()) return refuse();
            return frameworkMessageFromExecutor(executor->second, envelope.getFrameworkMessage());
          }
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
  // Earlier releases' built-in executors register by task id, which is now
  // their executor id.
  bool byTask = message.getExecutorId().size() == 0;
  ExecutorKey key{FrameworkID{text(message.getFrameworkId())},
                  ExecutorID{text(byTask ? message.getTaskId() : message.getExecutorId())}};
  auto it = executorsByKey_.find(key);
  bool unwanted = it == executorsByKey_.end() || it->second->exited() || it->second->shuttingDown ||
                  it->second->phase == ExecutorPhase::kQueued || (byTask && !it->second->builtIn());
  // A built-in executor whose one task ended (it was killed before the
  // executor had it); one taken back after a restart is heard first, for
  // the updates it may still have to deliver.
  Run* builtInRun = nullptr;
  if (!unwanted && it->second->builtIn()) {
    auto run = runs_.find({key.first, TaskID{key.second.value}});
    bool ended = run == runs_.end() || run->second->exited() || isTerminal(run->second->state);
    unwanted = ended && !it->second->recovered;
    if (!ended) builtInRun = run->second.get();
  }
  if (unwanted) {
    capnp::MallocMessageBuilder reply;
    reply.initRoot<wire::Envelope>().setShutdownExecutor();
    executors_->sendTo(peer, wire::encode(reply));
    return;
  }
  auto& executor = *it->second;
  bool first = executor.phase != ExecutorPhase::kRegistered;
  bool back = first && executor.recovered;
  if (!executor.peer.empty() && executor.peer != peer) executorsByPeer_.erase(executor.peer);
  executor.peer = peer;
  executor.byTask = byTask;
  executor.phase = ExecutorPhase::kRegistered;
  executorsByPeer_[peer] = key;
  if (executor.registrationTimer) executor.registrationTimer->stop();
  if (back) spdlog::info("{} is back", logName(key, executor.builtIn()));
  if (executor.builtIn() && builtInRun == nullptr) {
    // Taken back with its task ended: it delivers what it has not had
    // acknowledged, and goes.
    if (!byTask) sendExecutorRegistered(executor, nullptr);
    return shutdownExecutor(executor, "its task ended while the agent was away");
  }
  if (byTask) return registeredByTask(executor, *builtInRun);
  sendExecutorRegistered(executor, builtInRun);
  // A retried registration of a framework's executor: its tasks went with
  // the first. A built-in executor gets its task again (it ignores a
  // repeat): the first may have been lost with the first answer.
  if (!first && !executor.builtIn()) return;

  // Tasks that waited for it, and after an agent restart every task it may
  // not have received (it ignores those it has); kills asked for meanwhile.
  for (const auto& taskId : executor.tasks) {
    auto run = runs_.find({key.first, taskId});
    if (run == runs_.end() || run->second->exited()) continue;
    if (run->second->phase == RunPhase::kAwaitingExecutor || executor.builtIn()) {
      sendTaskToExecutor(executor, *run->second);
    }
    // A built-in executor's kill goes again with its task: both may have
    // been lost with the first answer (a repeated kill changes nothing).
    if (run->second->killRequested() && (first || executor.builtIn())) killOnExecutor(*run->second);
  }
  if (!executor.builtIn()) resizeExecutor(executor);
  releaseIfIdle(executor);
}

int64_t Agent::defaultGraceMs(const Run& run) const {
  if (run.task.killGracePeriodSeconds) return static_cast<int64_t>(*run.task.killGracePeriodSeconds * 1000);
  return duration_cast<milliseconds>(flags_.defaultGracePeriod).count();
}

void Agent::sendExecutorRegistered(Executor& executor, const Run* builtInRun) {
  ExecutorKey key = executor.key();
  capnp::MallocMessageBuilder reply;
  auto registered = reply.initRoot<wire::Envelope>().initExecutorRegistered();
  wire::toWire(executor.info, registered.initExecutor());
  registered.setFrameworkId(key.first.value);
  wire::toWire(executor.frameworkInfo, registered.initFrameworkInfo());
  registered.setAgentId(agentId_.value);
  registered.setHostname(info_.hostname);
  registered.setHttpUrl(info_.httpUrl());
  registered.setAgentPid(::getpid());
  registered.setReregistered(executor.recovered);
  if (executor.builtIn()) {
    auto container = registered.initContainer();
    container.setSandbox(executor.sandbox);
    container.setKillGracePeriodMs(builtInRun != nullptr
                                       ? defaultGraceMs(*builtInRun)
                                       : duration_cast<milliseconds>(flags_.defaultGracePeriod).count());
    containerizerOf(executor.kind).describe(executor.containerId, limitsOf(executor), container);
    if (executor.user) {
      auto user = container.initUser();
      user.setName(executor.user->name);
      user.setUid(executor.user->uid);
      user.setGid(executor.user->gid);
      auto groups = user.initGroups(static_cast<unsigned>(executor.user->groups.size()));
      for (unsigned i = 0; i < executor.user->groups.size(); ++i) groups.set(i, executor.user->groups[i]);
    }
  }
  executors_->sendTo(executor.peer, wire::encode(reply));
}

void Agent::registeredByTask(Executor& executor, Run& run) {
  capnp::MallocMessageBuilder reply;
  auto launch = reply.initRoot<wire::Envelope>().initLaunchCommand();
  launch.setAgentPid(::getpid());
  wire::toWire(run.task, launch.initTask());
  launch.setSandbox(executor.sandbox);
  launch.setKillGracePeriodMs(defaultGraceMs(run));
  capnp::MallocMessageBuilder described;
  auto container = described.initRoot<wire::ExecutorContainer>();
  containerizerOf(executor.kind).describe(executor.containerId, limitsOf(executor), container);
  launch.setCgroups(container.getCgroups());
  launch.setReturnCgroups(container.getReturnCgroups());
  if (container.hasDocker()) launch.setDocker(container.getDocker());
  executors_->sendTo(executor.peer, wire::encode(reply));
  if (run.phase == RunPhase::kAwaitingExecutor) run.moveTo(RunPhase::kLaunched);
  if (run.killRequested()) killOnExecutor(run);
}

void Agent::releaseIfIdle(Executor& executor) {
  if (!executor.starting) return;
  for (const auto& taskId : executor.tasks) {
    auto run = runs_.find({executor.frameworkId, taskId});
    if (run != runs_.end() && !run->second->exited()) return;
  }
  doneStarting(executor);
}

void Agent::sendTaskToExecutor(Executor& executor, Run& run) {
  capnp::MallocMessageBuilder message;
  auto runTask = message.initRoot<wire::Envelope>().initRunTask();
  runTask.setFrameworkId(run.frameworkId.value);
  wire::toWire(run.frameworkInfo, runTask.initFrameworkInfo());
  TaskInfo task = run.task;
  task.agentId = agentId_;
  wire::toWire(task, runTask.initTask());
  executors_->sendTo(executor.peer, wire::encode(message));
  if (run.phase == RunPhase::kAwaitingExecutor) run.moveTo(RunPhase::kLaunched);
}

void Agent::executorStatus(const std::string& peer, const ExecutorKey& executorKey, TaskStatus status) {
  TaskKey key{executorKey.first, status.taskId};
  if (status.uuid.empty()) throw wire::MalformedMessage("an executor status without a uuid");
  auto it = runs_.find(key);
  if (it == runs_.end()) {
    // An update re-sent after the task was settled and forgotten: it was
    // had already.
    if (finished_.count(key) == 0) throw wire::MalformedMessage("an executor reported a task it does not run");
    return ackWhenDurable(peer, status.uuid);
  }
  auto& run = *it->second;
  if (run.executorKey() != executorKey) throw wire::MalformedMessage("an executor reported a task it does not run");
  // Queued once; a duplicate (a retried send) is acknowledged again.
  bool duplicate = run.exited() || run.executorUpdates.count(status.uuid) != 0;
  if (auto stream = streams_.find(key); stream != streams_.end()) {
    for (const auto& pending : stream->second->pending) duplicate |= pending.uuid == status.uuid;
  }
  if (!duplicate) {
    run.executorUpdates.insert(status.uuid);
    run.state = status.state;
    auto executor = executorsByKey_.find(executorKey);
    if (status.state != TaskState::kStarting && executor != executorsByKey_.end()) doneStarting(*executor->second);
    status.agentId = agentId_;
    status.source = TaskSource::kExecutor;
    // A framework's executor explains its own failures (its container is
    // shared by its tasks).
    if (status.state == TaskState::kFailed && !run.custom()) explainFailure(run, status);
    if (isTerminal(status.state)) run.moveTo(RunPhase::kExited);
    // On disk before the executor hears it was received: the update itself
    // (enqueueStatus), then the run's state.
    enqueueStatus(run.frameworkId, status);
    checkpoint(run, false);
    if (isTerminal(status.state) && executor != executorsByKey_.end() && !executor->second->builtIn()) {
      resizeExecutor(*executor->second);
    }
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

void Agent::killOnExecutor(Run& run) {
  auto it = executorsByKey_.find(run.executorKey());
  if (it == executorsByKey_.end() || it->second->exited() || run.exited()) return;
  auto& executor = *it->second;
  if (executor.phase == ExecutorPhase::kRegistered) {
    capnp::MallocMessageBuilder message;
    if (executor.byTask) {
      message.initRoot<wire::Envelope>().initKillCommand().setKillGracePeriodMs(run.killGraceMs.value_or(-1));
    } else {
      auto kill = message.initRoot<wire::Envelope>().initKillTask();
      kill.setFrameworkId(run.frameworkId.value);
      kill.setTaskId(run.task.taskId.value);
      kill.setKillGracePeriodMs(run.killGraceMs.value_or(-1));
    }
    executors_->sendTo(executor.peer, wire::encode(message));
    return;
  }
  // A recovered executor hears of the kill when it is back.
  if (executor.recovered) return;
  // It has not registered: the task never reached it. A built-in executor
  // has nothing else to do; it is stopped (or never started).
  endRun(run, TaskState::kKilled, TaskReason::kKilledByFramework, "killed before it started");
  checkpoint(run, false);
  if (executor.builtIn() && executor.phase == ExecutorPhase::kStarted) {
    containerizerOf(executor.kind).kill(executor.containerId);
  }
  if (!executor.builtIn()) resizeExecutor(executor);
  // Nothing left to start for: its start slot goes to the next.
  releaseIfIdle(executor);
}

void Agent::frameworkMessageFromMaster(wire::FrameworkMessage::Reader message) {
  ExecutorKey key{FrameworkID{text(message.getFrameworkId())}, ExecutorID{text(message.getExecutorId())}};
  auto it = executorsByKey_.find(key);
  if (it == executorsByKey_.end() || it->second->phase != ExecutorPhase::kRegistered || it->second->builtIn()) {
    spdlog::info("dropping a framework message for executor {} of framework {}: it is not running here",
                 key.second.value, key.first.value);
    return;
  }
  executors_->sendTo(it->second->peer, wire::encodeFrameworkMessage(key.first.value, key.second.value,
                                                                   agentId_.value, message.getData()));
}

void Agent::frameworkMessageFromExecutor(const ExecutorKey& key, wire::FrameworkMessage::Reader message) {
  if (!registered_) {
    spdlog::info("dropping a framework message from executor {}: no master", key.second.value);
    return;
  }
  // Who sent it is what its connection says, not what it claims.
  master_->send(wire::encodeFrameworkMessage(key.first.value, key.second.value, agentId_.value, message.getData()));
}

// ------------------------------------------------------------ ending

void Agent::shutdownExecutor(Executor& executor, const std::string& why) {
  if (executor.exited() || executor.shuttingDown) return;
  executor.shuttingDown = true;
  ExecutorKey key = executor.key();
  spdlog::info("shutting down {}: {}", logName(key, executor.builtIn()), why);
  auto killNow = [this, key] {
    auto found = executorsByKey_.find(key);
    if (found == executorsByKey_.end() || found->second->exited()) return;
    // Its end comes to executorExited through the reaper.
    containerizerOf(found->second->kind).kill(found->second->containerId);
  };
  if (executor.phase == ExecutorPhase::kQueued) {
    return executorExited(key, std::nullopt,
                          std::make_pair(TaskReason::kExecutorTerminated,
                                         nameOf(key, executor.builtIn()) + " was shut down before it started: " + why));
  }
  if (executor.phase != ExecutorPhase::kRegistered) return killNow();
  capnp::MallocMessageBuilder message;
  message.initRoot<wire::Envelope>().setShutdownExecutor();
  executors_->sendTo(executor.peer, wire::encode(message));
  executor.shutdownTimer = std::make_unique<Timer>(time_);
  executor.shutdownTimer->start(flags_.defaultGracePeriod, killNow);
}

void Agent::executorExited(const ExecutorKey& key, std::optional<ExitStatus> exit,
                           std::optional<std::pair<TaskReason, std::string>> startFailure) {
  auto it = executorsByKey_.find(key);
  if (it == executorsByKey_.end() || it->second->exited()) return;
  auto& executor = *it->second;
  bool started = executor.phase != ExecutorPhase::kQueued;
  executor.phase = ExecutorPhase::kExited;
  doneStarting(executor);
  if (executor.registrationTimer) executor.registrationTimer->stop();
  if (executor.shutdownTimer) executor.shutdownTimer->stop();
  if (!executor.peer.empty()) executorsByPeer_.erase(executor.peer);
  auto [status, how] = describeExit(exit);
  TaskReason reason = TaskReason::kExecutorTerminated;
  std::string what = nameOf(key, executor.builtIn()) + " " + how;
  if (startFailure) {
    reason = startFailure->first;
    what = startFailure->second;
  } else if (auto usage = containerizerOf(executor.kind).usage(executor.containerId);
             usage && usage->oomKills > 0 && !executor.builtIn()) {
    // Killed at its container's memory limit (its resources and its
    // tasks'): say so, rather than leave a bare signal.
    ++metrics_.memoryLimitKills;
    reason = TaskReason::kMemoryLimit;
    what += " after the kernel killed a process at the container's memory limit of " +
            std::to_string(usage->memLimitBytes >> 20) + " MiB (its own mem and its tasks')";
  }
  if (!executor.builtIn()) {
    if (executor.shuttingDown) {
      spdlog::info("{} (framework {}, {} task(s))", what, key.first.value, executor.tasks.size());
    } else {
      spdlog::warn("{} (framework {}, {} task(s))", what, key.first.value, executor.tasks.size());
    }
  }
  endExecutorTasks(executor, reason, startFailure ? what : what + " before the task ended");
  // The master books a framework's executor from the launch that names it,
  // started here or not.
  if (!executor.builtIn()) reportExecutorExited(key, startFailure ? -1 : status, what);
  std::error_code ec;
  if (started && std::filesystem::exists(executor.sandbox, ec)) gc_->schedule(executor.sandbox);
  if (started && containerizerOf(executor.kind).destroy(executor.containerId)) ++metrics_.containersDestroyed;
  if (!executor.builtIn()) checkpoints_.removeExecutor(executor.containerId);
  std::vector<TaskID> tasks(executor.tasks.begin(), executor.tasks.end());
  executorsByKey_.erase(it);
  for (const auto& taskId : tasks) forgetIfDone({key.first, taskId});
}

void Agent::reportExecutorExited(const ExecutorKey& key, int status, const std::string& message) {
  if (!registered_) return;
  capnp::MallocMessageBuilder envelope;
  auto exited = envelope.initRoot<wire::Envelope>().initExecutorExited();
  exited.setFrameworkId(key.first.value);
  exited.setExecutorId(key.second.value);
  exited.setAgentId(agentId_.value);
  exited.setStatus(status);
  exited.setMessage(message);
  sendToMaster(envelope);
}

void Agent::endExecutorTasks(Executor& executor, TaskReason reason, const std::string& what) {
  for (const auto& taskId : executor.tasks) {
    auto run = runs_.find({executor.frameworkId, taskId});
    if (run == runs_.end() || run->second->exited()) continue;
    auto& r = *run->second;
    if (isTerminal(r.state)) {
      r.moveTo(RunPhase::kExited);
      continue;
    }
    bool killed = r.killRequested() && reason != TaskReason::kExecutorRegistrationTimeout;
    endRun(r, killed ? TaskState::kKilled : TaskState::kFailed, killed ? TaskReason::kKilledByFramework : reason,
           killed && r.phase != RunPhase::kLaunched ? "killed before it started" : what);
    checkpoint(r, false);
  }
}

void Agent::resizeExecutor(Executor& executor) {
  if (executor.exited() || executor.phase == ExecutorPhase::kQueued) return;
  auto limits = limitsOf(executor);
  if (auto updated = containerizerOf(executor.kind).update(executor.containerId, limits); !updated) {
    spdlog::debug("cannot resize executor {}'s container: {}", executor.info.executorId.value,
                  updated.error().message);
  }
}

// ------------------------------------------------------------ recovery

void Agent::checkpointExecutor(Executor& executor) {
  capnp::MallocMessageBuilder message;
  auto info = message.initRoot<wire::Envelope>().initExecutorRegistered();
  wire::toWire(executor.info, info.initExecutor());
  info.setFrameworkId(executor.frameworkId.value);
  wire::toWire(executor.frameworkInfo, info.initFrameworkInfo());
  ExecutorCheckpoint saved{executor.containerId, wire::encode(message), executor.sandbox, executor.pid,
                           executor.startTime};
  checkpoints_.saveExecutor(saved);
}

void Agent::recoverExecutors() {
  auto executors = checkpoints_.executors();  // a copy: unreadable ones are removed below
  for (const auto& [containerId, saved] : executors) {
    auto executor = std::make_unique<Executor>();
    try {
      auto decoded = wire::decode(saved.info);
      if (!decoded || (*decoded)->which() != wire::Envelope::EXECUTOR_REGISTERED) {
        throw wire::MalformedMessage("not an ExecutorRegistered");
      }
      auto info = (*decoded)->envelope().getExecutorRegistered();
      executor->info = wire::fromWire(info.getExecutor());
      executor->frameworkId.value = text(info.getFrameworkId());
      executor->frameworkInfo = wire::fromWire(info.getFrameworkInfo());
    } catch (const std::exception& e) {
      spdlog::warn("dropping the unreadable checkpoint of executor container {}: {}", saved.containerId, e.what());
      checkpoints_.removeExecutor(saved.containerId);
      continue;
    }
    executor->kind = ExecutorKind::kCustom;
    executor->phase = ExecutorPhase::kStarted;
    executor->containerId = saved.containerId;
    executor->sandbox = saved.sandbox;
    executor->pid = saved.pid;
    executor->startTime = saved.startTime;
    executor->recovered = true;
    ExecutorKey key = executor->key();
    auto& stored = *(executorsByKey_[key] = std::move(executor));
    RecoveredContainer container{saved.containerId, saved.sandbox, saved.pid, TaskID{}, saved.startTime};
    bool alive = executorContainers_->recover(
        container, [this, key](std::optional<ExitStatus> exit) { executorExited(key, exit); });
    if (!alive) {
      executorExited(key, std::nullopt);
      continue;
    }
    spdlog::info("recovered executor {} of framework {} (pid {})", key.second.value, key.first.value, saved.pid);
    // It re-registers once it notices this agent; one that does not is shut
    // down.
    armRegistrationTimeout(stored);
  }
}

}  // namespace clusternodes::agent
