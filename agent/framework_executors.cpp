// Frameworks' own executors (TaskInfo::executor): started once per
// framework and executor id, handed every task that names them, shut down
// with their framework, and taken back after an agent restart.
#include <spdlog/spdlog.h>

#include <filesystem>

#include "agent/agent.hpp"
#include "agent/agent_runs.hpp"

namespace clusternodes::agent {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using wire::text;

// How a framework's executor ended, for people, and as ExecutorExited's
// status (exit code, 128 + signal, or -1: unknown).
std::pair<int, std::string> describeExit(const std::optional<ExitStatus>& exit) {
  if (!exit) return {-1, "ended while the agent was away"};
  if (exit->signal != 0) return {128 + exit->signal, "was killed by signal " + std::to_string(exit->signal)};
  return {exit->code, "exited with status " + std::to_string(exit->code)};
}

}  // namespace

void Agent::runOnExecutor(const TaskKey& key) {
  auto& run = *runs_.at(key);
  ExecutorKey executorKey = run.executorKey();
  auto it = frameworkExecutors_.find(executorKey);
  if (it != frameworkExecutors_.end() && (it->second->exited || it->second->shuttingDown)) {
    return endRun(run, TaskState::kFailed, TaskReason::kExecutorTerminated,
                  "executor " + executorKey.second.value + " is shutting down");
  }
  bool fresh = it == frameworkExecutors_.end();
  if (fresh) {
    auto executor = std::make_unique<FrameworkExecutor>();
    executor->frameworkId = key.first;
    executor->frameworkInfo = run.frameworkInfo;
    executor->info = *run.task.executor;
    executor->containerId = randomUuid();
    executor->sandbox = flags_.workDir + "/sandboxes/" + key.first.value + "/executors/" +
                        executorKey.second.value + "/" + executor->containerId;
    it = frameworkExecutors_.emplace(executorKey, std::move(executor)).first;
  }
  auto& executor = *it->second;
  executor.tasks.insert(key.second);
  run.sandbox = executor.sandbox;
  if (fresh) {
    startExecutor(executor);
    // A failed start ended the task with it.
    if (executor.exited) return;
  }
  run.pid = executor.pid;
  checkpoint(run, true);
  resizeExecutor(executor);
  if (!executor.peer.empty()) sendTaskToExecutor(executor, run);
}

void Agent::startExecutor(FrameworkExecutor& executor) {
  ExecutorKey key{executor.frameworkId, executor.info.executorId};
  ContainerLaunch launch;
  launch.containerId = executor.containerId;
  launch.sandbox = executor.sandbox;
  launch.frameworkId = executor.frameworkId;
  launch.executor = executor.info;
  launch.agentId = agentId_;
  launch.limits = containerLimits(executor.info.resources.cpus(), executor.info.resources.mem(), std::nullopt,
                                  flags_.isolation.enableCfs);
  auto launched = executorContainers_->launch(launch, [this, key](std::optional<ExitStatus> exit) {
    auto [status, how] = describeExit(exit);
    frameworkExecutorExited(key, status, how);
  });
  if (launched.failure) {
    spdlog::warn("cannot start executor {} of framework {}: {}", key.second.value, key.first.value, launched.error);
    return frameworkExecutorExited(key, -1, "could not start: " + launched.error);
  }
  executor.pid = launched.pid;
  executor.startTime = reaper_->startTime(executor.containerId);
  checkpointExecutor(executor);
  spdlog::info("started executor {} of framework {} (pid {}) in {}", key.second.value, key.first.value,
               executor.pid, executor.sandbox);

  executor.registrationTimer = std::make_unique<Timer>(time_);
  executor.registrationTimer->start(flags_.executorRegistrationTimeout, [this, key] {
    auto found = frameworkExecutors_.find(key);
    if (found == frameworkExecutors_.end() || !found->second->peer.empty() || found->second->exited) return;
    spdlog::warn("executor {} did not register within {} ms; killing it", key.second.value,
                 duration_cast<milliseconds>(flags_.executorRegistrationTimeout).count());
    found->second->registrationTimedOut = true;
    executorContainers_->kill(found->second->containerId);
  });
}

void Agent::checkpointExecutor(FrameworkExecutor& executor) {
  capnp::MallocMessageBuilder message;
  auto info = message.initRoot<wire::Envelope>().initExecutorRegistered();
  wire::toWire(executor.info, info.initExecutor());
  info.setFrameworkId(executor.frameworkId.value);
  wire::toWire(executor.frameworkInfo, info.initFrameworkInfo());
  ExecutorCheckpoint saved{executor.containerId, wire::encode(message), executor.sandbox, executor.pid,
                           executor.startTime};
  checkpoints_.saveExecutor(saved);
}

void Agent::executorRegisteredBack(const std::string& peer, wire::RegisterExecutor::Reader message) {
  ExecutorKey key{FrameworkID{text(message.getFrameworkId())}, ExecutorID{text(message.getExecutorId())}};
  auto it = frameworkExecutors_.find(key);
  if (it == frameworkExecutors_.end() || it->second->exited || it->second->shuttingDown) {
    capnp::MallocMessageBuilder reply;
    reply.initRoot<wire::Envelope>().setShutdownExecutor();
    executors_->sendTo(peer, wire::encode(reply));
    return;
  }
  auto& executor = *it->second;
  bool first = executor.peer.empty();
  bool back = first && executor.recovered;
  if (!executor.peer.empty() && executor.peer != peer) frameworkExecutorsByPeer_.erase(executor.peer);
  executor.peer = peer;
  frameworkExecutorsByPeer_[peer] = key;
  if (executor.registrationTimer) executor.registrationTimer->stop();

  capnp::MallocMessageBuilder reply;
  auto registered = reply.initRoot<wire::Envelope>().initExecutorRegistered();
  wire::toWire(executor.info, registered.initExecutor());
  registered.setFrameworkId(key.first.value);
  wire::toWire(executor.frameworkInfo, registered.initFrameworkInfo());
  registered.setAgentId(agentId_.value);
  registered.setHostname(info_.hostname);
  registered.setHttpUrl("http://" + flags_.ip + ":" + std::to_string(httpPort_));
  registered.setAgentPid(::getpid());
  registered.setReregistered(executor.recovered);
  executors_->sendTo(peer, wire::encode(reply));
  if (!first) return;  // a retried registration: its tasks went with the first
  if (back) spdlog::info("executor {} of framework {} is back", key.second.value, key.first.value);

  // Tasks that waited for it, and after an agent restart every task it may
  // not have received (it ignores those it has); kills asked for meanwhile.
  for (const auto& taskId : executor.tasks) {
    auto run = runs_.find({key.first, taskId});
    if (run == runs_.end() || run->second->exited()) continue;
    if (run->second->killRequested()) {
      if (back) killOnExecutor(*run->second);
      continue;
    }
    if (run->second->phase == RunPhase::kAwaitingExecutor) sendTaskToExecutor(executor, *run->second);
  }
}

void Agent::sendTaskToExecutor(FrameworkExecutor& executor, Run& run) {
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

void Agent::frameworkExecutorStatus(const std::string& peer, const ExecutorKey& executorKey, TaskStatus status) {
  TaskKey key{executorKey.first, status.taskId};
  auto it = runs_.find(key);
  if (status.uuid.empty()) throw wire::MalformedMessage("an executor status without a uuid");
  if (it == runs_.end()) {
    // An update re-sent after the task was settled and forgotten: it was
    // had already.
    if (finished_.count(key) == 0) throw wire::MalformedMessage("an executor reported a task it does not run");
  } else {
    auto& run = *it->second;
    if (!run.custom() || run.executorKey() != executorKey) {
      throw wire::MalformedMessage("an executor reported a task it does not run");
    }
    bool duplicate = run.exited();
    if (auto stream = streams_.find(key); stream != streams_.end()) {
      for (const auto& pending : stream->second->pending) duplicate |= pending.uuid == status.uuid;
    }
    if (!duplicate) {
      run.state = status.state;
      status.agentId = agentId_;
      status.source = TaskSource::kExecutor;
      if (isTerminal(status.state)) run.moveTo(RunPhase::kExited);
      enqueueStatus(run.frameworkId, status);
      checkpoint(run, false);
      if (isTerminal(status.state)) {
        if (auto executor = frameworkExecutors_.find(executorKey); executor != frameworkExecutors_.end()) {
          resizeExecutor(*executor->second);
        }
      }
    }
  }
  ackWhenDurable(peer, status.uuid);
}

void Agent::killOnExecutor(Run& run) {
  auto it = frameworkExecutors_.find(run.executorKey());
  if (it == frameworkExecutors_.end() || it->second->exited || run.exited()) return;
  auto& executor = *it->second;
  if (!executor.peer.empty()) {
    capnp::MallocMessageBuilder message;
    auto kill = message.initRoot<wire::Envelope>().initKillTask();
    kill.setFrameworkId(run.frameworkId.value);
    kill.setTaskId(run.task.taskId.value);
    kill.setKillGracePeriodMs(run.killGraceMs.value_or(-1));
    executors_->sendTo(executor.peer, wire::encode(message));
    return;
  }
  // A recovered executor hears of the kill when it is back.
  if (executor.recovered) return;
  // It has not registered: the task never reached it.
  endRun(run, TaskState::kKilled, TaskReason::kKilledByFramework, "killed before it started");
  checkpoint(run, false);
  resizeExecutor(executor);
}

void Agent::frameworkMessageFromMaster(wire::FrameworkMessage::Reader message) {
  ExecutorKey key{FrameworkID{text(message.getFrameworkId())}, ExecutorID{text(message.getExecutorId())}};
  auto it = frameworkExecutors_.find(key);
  if (it == frameworkExecutors_.end() || it->second->peer.empty() || it->second->exited) {
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

void Agent::shutdownExecutor(FrameworkExecutor& executor, const std::string& why) {
  if (executor.exited || executor.shuttingDown) return;
  executor.shuttingDown = true;
  ExecutorKey key{executor.frameworkId, executor.info.executorId};
  spdlog::info("shutting down executor {} of framework {}: {}", key.second.value, key.first.value, why);
  auto killNow = [this, key] {
    auto found = frameworkExecutors_.find(key);
    if (found == frameworkExecutors_.end() || found->second->exited) return;
    // Its end comes to frameworkExecutorExited through the reaper.
    executorContainers_->kill(found->second->containerId);
  };
  if (executor.peer.empty()) return killNow();
  capnp::MallocMessageBuilder message;
  message.initRoot<wire::Envelope>().setShutdownExecutor();
  executors_->sendTo(executor.peer, wire::encode(message));
  executor.shutdownTimer = std::make_unique<Timer>(time_);
  executor.shutdownTimer->start(flags_.defaultGracePeriod, killNow);
}

void Agent::frameworkExecutorExited(const ExecutorKey& key, int status, const std::string& how) {
  auto it = frameworkExecutors_.find(key);
  if (it == frameworkExecutors_.end() || it->second->exited) return;
  auto& executor = *it->second;
  executor.exited = true;
  if (executor.registrationTimer) executor.registrationTimer->stop();
  if (executor.shutdownTimer) executor.shutdownTimer->stop();
  if (!executor.peer.empty()) frameworkExecutorsByPeer_.erase(executor.peer);
  bool failedToStart = executor.pid == 0;
  TaskReason reason = failedToStart                    ? TaskReason::kExecutorFailedToStart
                      : executor.registrationTimedOut ? TaskReason::kExecutorRegistrationTimeout
                                                      : TaskReason::kExecutorTerminated;
  std::string what = "executor " + key.second.value + " " + how;
  // Killed at its container's memory limit (its resources and its tasks'):
  // say so, rather than leave a bare signal.
  if (auto usage = executorContainers_->usage(executor.containerId); usage && usage->oomKills > 0) {
    ++metrics_.memoryLimitKills;
    reason = TaskReason::kMemoryLimit;
    what += " after the kernel killed a process at the container's memory limit of " +
            std::to_string(usage->memLimitBytes >> 20) + " MiB (its own mem and its tasks')";
  }
  if (executor.shuttingDown) {
    spdlog::info("{} (framework {}, {} task(s))", what, key.first.value, executor.tasks.size());
  } else {
    spdlog::warn("{} (framework {}, {} task(s))", what, key.first.value, executor.tasks.size());
  }
  endExecutorTasks(executor, reason, what);
  if (registered_) {
    capnp::MallocMessageBuilder message;
    auto exited = message.initRoot<wire::Envelope>().initExecutorExited();
    exited.setFrameworkId(key.first.value);
    exited.setExecutorId(key.second.value);
    exited.setAgentId(agentId_.value);
    exited.setStatus(status);
    exited.setMessage(what);
    sendToMaster(message);
  }
  if (std::filesystem::exists(executor.sandbox)) gc_->schedule(executor.sandbox);
  if (executorContainers_->destroy(executor.containerId)) ++metrics_.containersDestroyed;
  checkpoints_.removeExecutor(executor.containerId);
  frameworkExecutors_.erase(it);
}

void Agent::endExecutorTasks(FrameworkExecutor& executor, TaskReason reason, const std::string& what) {
  std::vector<TaskID> tasks(executor.tasks.begin(), executor.tasks.end());
  for (const auto& taskId : tasks) {
    TaskKey taskKey{executor.frameworkId, taskId};
    auto run = runs_.find(taskKey);
    if (run == runs_.end()) continue;
    auto& r = *run->second;
    if (!r.exited()) {
      if (isTerminal(r.state)) {
        r.moveTo(RunPhase::kExited);
      } else {
        bool killed = r.killRequested();
        endRun(r, killed ? TaskState::kKilled : TaskState::kFailed,
               killed ? TaskReason::kKilledByFramework : reason, what + " before the task ended");
        checkpoint(r, false);
      }
    }
    forgetIfDone(taskKey);
  }
}

ContainerLimits Agent::executorLimits(const FrameworkExecutor& executor) const {
  double cpus = executor.info.resources.cpus();
  double mem = executor.info.resources.mem();
  for (const auto& taskId : executor.tasks) {
    auto run = runs_.find({executor.frameworkId, taskId});
    if (run == runs_.end() || run->second->exited()) continue;
    cpus += run->second->task.resources.cpus();
    mem += run->second->task.resources.mem();
  }
  return containerLimits(cpus, mem, std::nullopt, flags_.isolation.enableCfs);
}

void Agent::resizeExecutor(FrameworkExecutor& executor) {
  if (executor.exited) return;
  auto limits = executorLimits(executor);
  if (auto updated = executorContainers_->update(executor.containerId, limits); !updated) {
    spdlog::debug("cannot resize executor {}'s container: {}", executor.info.executorId.value,
                  updated.error().message);
  }
}

void Agent::recoverExecutors() {
  auto executors = checkpoints_.executors();  // a copy: unreadable ones are removed below
  for (const auto& [containerId, saved] : executors) {
    auto executor = std::make_unique<FrameworkExecutor>();
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
    executor->containerId = saved.containerId;
    executor->sandbox = saved.sandbox;
    executor->pid = saved.pid;
    executor->startTime = saved.startTime;
    executor->recovered = true;
    ExecutorKey key{executor->frameworkId, executor->info.executorId};
    auto& stored = *(frameworkExecutors_[key] = std::move(executor));
    RecoveredContainer container{saved.containerId, saved.sandbox, saved.pid, TaskID{}, saved.startTime};
    bool alive = executorContainers_->recover(container, [this, key](std::optional<ExitStatus> exit) {
      auto [status, how] = describeExit(exit);
      frameworkExecutorExited(key, status, how);
    });
    if (!alive) {
      frameworkExecutorExited(key, -1, "ended while the agent was down");
      continue;
    }
    spdlog::info("recovered executor {} of framework {} (pid {})", key.second.value, key.first.value, saved.pid);
    // It re-registers once it notices this agent; one that does not is
    // killed.
    stored.registrationTimer = std::make_unique<Timer>(time_);
    stored.registrationTimer->start(flags_.executorRegistrationTimeout, [this, key] {
      auto found = frameworkExecutors_.find(key);
      if (found == frameworkExecutors_.end() || !found->second->peer.empty()) return;
      shutdownExecutor(*found->second, "it did not re-register after the agent restarted");
    });
  }
}

}  // namespace clusternodes::agent
