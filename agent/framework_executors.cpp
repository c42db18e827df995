// Frameworks' own executors (TaskInfo::executor): started once per
// framework and executor id, handed every task that names them, shut down
// with their framework, and taken back after an agent restart.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <filesystem>

#include "agent/agent.hpp"
#include "agent/agent_runs.hpp"
#include "common/cgroup_files.hpp"

extern char** environ;

namespace clusternodes::agent {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using wire::text;

std::string describeExit(const ExitStatus& exit) {
  return exit.signal != 0 ? "was killed by signal " + std::to_string(exit.signal)
                          : "exited with status " + std::to_string(exit.code);
}

}  // namespace

void Agent::runOnExecutor(const TaskKey& key) {
  auto& run = *runs_.at(key);
  ExecutorKey executorKey = run.executorKey();
  auto it = frameworkExecutors_.find(executorKey);
  if (it != frameworkExecutors_.end() && (it->second->exited || it->second->shuttingDown)) {
    run.state = TaskState::kFailed;
    run.executorExited = true;
    enqueueStatus(key.first, agentStatus(run, TaskState::kFailed, TaskReason::kExecutorTerminated,
                                         "executor " + executorKey.second.value + " is shutting down"));
    return;
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
  auto failed = [&](const std::string& why) {
    spdlog::warn("cannot start executor {} of framework {}: {}", key.second.value, key.first.value, why);
    frameworkExecutorExited(key, -1, "could not start: " + why);
  };
  std::error_code ec;
  std::filesystem::create_directories(executor.sandbox, ec);
  if (ec) return failed("cannot create the sandbox " + executor.sandbox + ": " + ec.message());
  if (executor.info.command.value.empty() && executor.info.command.arguments.empty()) {
    return failed("the executor has no command");
  }
  auto limits = containerLimits(executor.info.resources.cpus(), executor.info.resources.mem(), std::nullopt,
                                flags_.isolation.enableCfs);
  if (auto prepared = isolator_->prepare(executor.containerId, limits); !prepared) {
    return failed("cannot isolate it: " + prepared.error().message);
  }
  executor.containerPrepared = true;

  SpawnOptions options;
  const auto& command = executor.info.command;
  if (command.shell) {
    options.file = "/bin/sh";
    options.args = {"sh", "-c", command.value};
  } else {
    options.args = command.arguments;
    options.file = command.value.empty() ? command.arguments.front() : command.value;
    if (options.args.empty()) options.args = {options.file};
  }
  std::map<std::string, std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    auto equals = text.find('=');
    if (equals != std::string_view::npos) env[std::string(text.substr(0, equals))] = text.substr(equals + 1);
  }
  for (const auto& [name, value] : command.environment) env[name] = value;
  env["CLUSTERNODES_AGENT_ENDPOINT"] = executorEndpoint_;
  env["CLUSTERNODES_AGENT_ID"] = agentId_.value;
  env["CLUSTERNODES_AGENT_PID"] = std::to_string(::getpid());
  env["CLUSTERNODES_FRAMEWORK_ID"] = key.first.value;
  env["CLUSTERNODES_EXECUTOR_ID"] = key.second.value;
  env["CLUSTERNODES_SANDBOX"] = executor.sandbox;
  env["CLUSTERNODES_RECOVERY_TIMEOUT_MS"] =
      std::to_string(duration_cast<milliseconds>(flags_.recoveryTimeout).count());
  std::vector<std::string> entries;
  for (const auto& [name, value] : env) entries.push_back(name + "=" + value);
  options.environment = std::move(entries);
  options.workingDirectory = executor.sandbox;
  options.newSession = true;
  int out = ::open((executor.sandbox + "/stdout").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int err = ::open((executor.sandbox + "/stderr").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  options.stdoutFd = out;
  options.stderrFd = err;

  // The executor starts inside its container: this thread enters the
  // container's cgroups for the fork and leaves them again.
  for (const auto& dir : isolator_->joinDirs(executor.containerId)) {
    if (auto moved = cgroup::moveThisThread(dir); !moved) spdlog::warn("{}", moved.error().message);
  }
  auto child = ChildProcess::spawn(loop_, options, [this, key](const ExitStatus& exit) {
    frameworkExecutorExited(key, exit.signal != 0 ? 128 + exit.signal : exit.code, describeExit(exit));
  });
  for (const auto& dir : isolator_->returnDirs()) {
    if (auto moved = cgroup::moveThisThread(dir); !moved) spdlog::warn("{}", moved.error().message);
  }
  if (out >= 0) ::close(out);
  if (err >= 0) ::close(err);
  if (!child) return failed(child.error().message);
  executor.process = std::move(child.value());
  executor.pid = executor.process->pid();
  executor.startTime = processStartTime(executor.pid).value_or(0);
  checkpointExecutor(executor);
  spdlog::info("started executor {} of framework {} (pid {}) in {}", key.second.value, key.first.value,
               executor.pid, executor.sandbox);

  executor.registrationTimer = std::make_unique<Timer>(loop_);
  executor.registrationTimer->start(flags_.executorRegistrationTimeout, [this, key] {
    auto found = frameworkExecutors_.find(key);
    if (found == frameworkExecutors_.end() || !found->second->peer.empty() || found->second->exited) return;
    spdlog::warn("executor {} did not register within {} ms; killing it", key.second.value,
                 duration_cast<milliseconds>(flags_.executorRegistrationTimeout).count());
    found->second->registrationTimedOut = true;
    ::kill(-found->second->pid, SIGKILL);
    isolator_->killAll(found->second->containerId, found->second->pid);
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
    if (run == runs_.end() || run->second->executorExited) continue;
    if (run->second->killRequested) {
      if (back) killOnExecutor(*run->second);
      continue;
    }
    if (!run->second->delivered) sendTaskToExecutor(executor, *run->second);
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
  run.delivered = true;
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
    bool duplicate = run.executorExited;
    if (auto stream = streams_.find(key); stream != streams_.end()) {
      for (const auto& pending : stream->second->pending) duplicate |= pending.uuid == status.uuid;
    }
    if (!duplicate) {
      run.state = status.state;
      status.agentId = agentId_;
      status.source = TaskSource::kExecutor;
      if (isTerminal(status.state)) run.executorExited = true;
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
  if (it == frameworkExecutors_.end() || it->second->exited || run.executorExited) return;
  auto& executor = *it->second;
  run.killRequested = true;
  if (!executor.peer.empty()) {
    capnp::MallocMessageBuilder message;
    auto kill = message.initRoot<wire::Envelope>().initKillTask();
    kill.setFrameworkId(run.frameworkId.value);
    kill.setTaskId(run.task.taskId.value);
    kill.setKillGracePeriodMs(run.killGraceMs);
    executors_->sendTo(executor.peer, wire::encode(message));
    return;
  }
  // A recovered executor hears of the kill when it is back.
  if (executor.recovered) return;
  // It has not registered: the task never reached it.
  run.state = TaskState::kKilled;
  run.executorExited = true;
  enqueueStatus(run.frameworkId,
                agentStatus(run, TaskState::kKilled, TaskReason::kKilledByFramework, "killed before it started"));
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
    auto& e = *found->second;
    if (e.pid > 0 && (e.process != nullptr || processStartTime(e.pid).value_or(0) == e.startTime)) {
      ::kill(-e.pid, SIGKILL);
      ::kill(e.pid, SIGKILL);
    }
    isolator_->killAll(e.containerId, e.pid);
    // A recovered executor is not this agent's child: its exit is noticed
    // by the recovery watch.
  };
  if (executor.peer.empty()) return killNow();
  capnp::MallocMessageBuilder message;
  message.initRoot<wire::Envelope>().setShutdownExecutor();
  executors_->sendTo(executor.peer, wire::encode(message));
  executor.shutdownTimer = std::make_unique<Timer>(loop_);
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
  if (executor.containerPrepared) {
    // Killed at its container's memory limit (its resources and its tasks'):
    // say so, rather than leave a bare signal.
    if (auto usage = isolator_->usage(executor.containerId, executor.pid); usage && usage->oomKills > 0) {
      ++metrics_.memoryLimitKills;
      reason = TaskReason::kMemoryLimit;
      what += " after the kernel killed a process at the container's memory limit of " +
              std::to_string(usage->memLimitBytes >> 20) + " MiB (its own mem and its tasks')";
    }
  }
  if (executor.shuttingDown) {
    spdlog::info("{} (framework {}, {} task(s))", what, key.first.value, executor.tasks.size());
  } else {
    spdlog::warn("{} (framework {}, {} task(s))", what, key.first.value, executor.tasks.size());
  }
  std::vector<TaskID> tasks(executor.tasks.begin(), executor.tasks.end());
  for (const auto& taskId : tasks) {
    TaskKey taskKey{key.first, taskId};
    auto run = runs_.find(taskKey);
    if (run == runs_.end()) continue;
    auto& r = *run->second;
    if (!r.executorExited) {
      r.executorExited = true;
      if (!isTerminal(r.state)) {
        bool killed = r.killRequested;
        r.state = killed ? TaskState::kKilled : TaskState::kFailed;
        enqueueStatus(key.first, agentStatus(r, r.state, killed ? TaskReason::kKilledByFramework : reason,
                                             what + " before the task ended"));
        checkpoint(r, false);
      }
    }
    forgetIfDone(taskKey);
  }
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
  if (executor.containerPrepared) {
    ++metrics_.containersDestroyed;
    isolator_->killAll(executor.containerId, 0);
    if (!isolator_->remove(executor.containerId)) {
      destroying_[executor.containerId] = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      if (!destroyTimer_.active()) {
        destroyTimer_.start(milliseconds(10), [this] { retryDestroys(); }, milliseconds(10));
      }
    }
  }
  checkpoints_.removeExecutor(executor.containerId);
  frameworkExecutors_.erase(it);
}

ContainerLimits Agent::executorLimits(const FrameworkExecutor& executor) const {
  double cpus = executor.info.resources.cpus();
  double mem = executor.info.resources.mem();
  for (const auto& taskId : executor.tasks) {
    auto run = runs_.find({executor.frameworkId, taskId});
    if (run == runs_.end() || run->second->executorExited) continue;
    cpus += run->second->task.resources.cpus();
    mem += run->second->task.resources.mem();
  }
  return containerLimits(cpus, mem, std::nullopt, flags_.isolation.enableCfs);
}

void Agent::resizeExecutor(FrameworkExecutor& executor) {
  if (!executor.containerPrepared || executor.exited) return;
  auto limits = executorLimits(executor);
  if (auto updated = isolator_->update(executor.containerId, limits); !updated) {
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
    executor->containerPrepared = true;
    executor->recovered = true;
    ExecutorKey key{executor->frameworkId, executor->info.executorId};
    bool alive = saved.pid > 0 && saved.startTime != 0 && processStartTime(saved.pid) == saved.startTime;
    auto& stored = *(frameworkExecutors_[key] = std::move(executor));
    if (!alive) {
      frameworkExecutorExited(key, -1, "ended while the agent was down");
      continue;
    }
    spdlog::info("recovered executor {} of framework {} (pid {})", key.second.value, key.first.value, saved.pid);
    // It re-registers once it notices this agent; one that does not is
    // killed.
    stored.registrationTimer = std::make_unique<Timer>(loop_);
    stored.registrationTimer->start(flags_.executorRegistrationTimeout, [this, key] {
      auto found = frameworkExecutors_.find(key);
      if (found == frameworkExecutors_.end() || !found->second->peer.empty()) return;
      shutdownExecutor(*found->second, "it did not re-register after the agent restarted");
    });
  }
}

}  // namespace clusternodes::agent
