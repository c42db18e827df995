// The agent's tasks: launch (or refusal), kill, a framework's shutdown, and
// what their containers use. Their executors are executors.cpp's.
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
  // A user that does not exist here is the task's error (TASK_ERROR).
  std::optional<std::pair<TaskReason, std::string>> refused;
  if (auto user = runAs(*run); user) {
    run->user = std::move(*user);
    refused = refusal(*run);
  } else {
    bool unknown = user.error().code == ErrorCode::kNotFound;
    refused.emplace(unknown ? TaskReason::kInvalidTask : TaskReason::kContainerLaunchFailed, user.error().message);
  }
  Run& stored = *(runs_[key] = std::move(run));
  if (refused) {
    TaskState state = refused->first == TaskReason::kInvalidTask ? TaskState::kError : TaskState::kFailed;
    endRun(stored, state, refused->first, refused->second);
    // The master booked the framework's executor with the launch: it will
    // not run here (unless one of that id runs already, which reports its
    // own end).
    // Once for a batch of such tasks: while another refused task names the
    // executor, the master has heard.
    auto executor = executorsByKey_.find(stored.executorKey());
    bool told = std::any_of(runs_.begin(), runs_.end(), [&](const auto& entry) {
      return entry.second.get() != &stored && entry.second->custom() &&
             entry.second->executorKey() == stored.executorKey();
    });
    if (stored.custom() && !told && (executor == executorsByKey_.end() || executor->second->builtIn())) {
      reportExecutorExited(stored.executorKey(), -1, "not started: " + refused->second);
    }
    return;
  }
  stored.moveTo(RunPhase::kAwaitingExecutor);
  runOnExecutor(stored);
}

std::optional<std::pair<TaskReason, std::string>> Agent::refusal(const Run& run) const {
  using Refusal = std::pair<TaskReason, std::string>;
  ExecutorKey executorKey = run.executorKey();
  const std::string& id = executorKey.second.value;
  auto executor = executorsByKey_.find(executorKey);
  if (run.custom()) {
    if (run.docker()) {
      return Refusal{TaskReason::kContainerizerUnsupported, "a task of a framework's executor cannot also be a Docker task"};
    }
    if (containerizers_.count("native") == 0) {
      return Refusal{TaskReason::kContainerizerUnsupported,
                     "this agent does not run native executors (--containerizers=" + flags_.containerizers + ")"};
    }
    if (executor == executorsByKey_.end()) return std::nullopt;
    if (executor->second->builtIn()) {
      return Refusal{TaskReason::kInvalidTask, "executor id " + id + " is taken by the built-in executor of task " +
                                                   id + " of this framework"};
    }
    if (executor->second->exited() || executor->second->shuttingDown) {
      return Refusal{TaskReason::kExecutorTerminated, "executor " + id + " is shutting down"};
    }
    return std::nullopt;
  }
  const char* kind = run.docker() ? "docker" : "native";
  if (containerizers_.count(kind) == 0) {
    return Refusal{TaskReason::kContainerizerUnsupported, std::string("this agent does not run ") + kind +
                                                              " tasks (--containerizers=" + flags_.containerizers + ")"};
  }
  // A built-in executor's id is its task's: a framework's executor with that
  // id would take its messages.
  if (executor != executorsByKey_.end()) {
    return Refusal{TaskReason::kInvalidTask, "task id " + id + " is taken here by executor " + id +
                                                 " of this framework, and a task's built-in executor is named by it"};
  }
  return std::nullopt;
}

Result<std::optional<UserIds>> Agent::runAs(const Run& run) const {
  std::string name = taskUser(run.task, run.frameworkInfo);
  if (name.empty() || name == selfUser_ || !flags_.switchUser) return std::optional<UserIds>();
  auto user = lookupUser(name);
  if (!user) {
    if (user.error().code != ErrorCode::kNotFound) return user.error();
    return notFound("user '" + name + "' does not exist on agent " + info_.hostname);
  }
  if (user->uid == ::geteuid()) return std::optional<UserIds>();
  if (::geteuid() != 0) {
    return Error{ErrorCode::kDenied, "the agent runs as uid " + std::to_string(::geteuid()) +
                                         ", not root, and cannot run tasks as user '" + name +
                                         "' (run it as root, or with --switch-user=false)"};
  }
  return std::optional<UserIds>(std::move(*user));
}

void Agent::endRun(Run& run, TaskState state, TaskReason reason, const std::string& message) {
  run.state = state;
  run.moveTo(RunPhase::kExited);
  enqueueStatus(run.frameworkId, agentStatus(run, state, reason, message));
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
  killOnExecutor(run);
}

void Agent::shutdownFramework(const FrameworkID& frameworkId) {
  std::vector<TaskID> tasks;
  for (const auto& [key, run] : runs_) {
    if (key.first == frameworkId) tasks.push_back(key.second);
  }
  spdlog::info("shutting down framework {} ({} task(s))", frameworkId.value, tasks.size());
  holdLaunches_ = true;
  for (const auto& taskId : tasks) killTask(frameworkId, taskId, -1);
  std::vector<ExecutorKey> own;
  for (const auto& [key, executor] : executorsByKey_) {
    if (key.first == frameworkId && !executor->builtIn()) own.push_back(key);
  }
  // One by one: a shutdown may end (and erase) its executor at once.
  for (const auto& key : own) {
    if (auto it = executorsByKey_.find(key); it != executorsByKey_.end()) shutdownExecutor(*it->second, "its framework was shut down");
  }
  holdLaunches_ = false;
  launchQueued();
}

// ------------------------------------------------------------ containers

void Agent::explainFailure(Run& run, TaskStatus& status) {
  auto executor = executorsByKey_.find(run.executorKey());
  if (executor == executorsByKey_.end()) return;
  auto usage = containerizerOf(executor->second->kind).usage(executor->second->containerId);
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

ContainerUsage Agent::usageOf(Run& run, Executor& executor) {
  auto measured = containerizerOf(executor.kind).usage(executor.containerId);
  ContainerUsage usage = measured ? *measured : ContainerUsage{};
  run.memPeak = std::max(run.memPeak, usage.memBytes);
  usage.memPeakBytes = std::max(usage.memPeakBytes, run.memPeak);
  usage.timestamp = time_.wallSeconds();
  return usage;
}

Agent::Executor* Agent::measured(const Run& run) {
  if (run.custom() || run.exited()) return nullptr;
  auto executor = executorsByKey_.find(run.executorKey());
  if (executor == executorsByKey_.end() || executor->second->exited()) return nullptr;
  if (!containerizerOf(executor->second->kind).measures(executor->second->containerId)) return nullptr;
  return executor->second.get();
}

void Agent::sweepContainers() {
  std::set<std::string> active = destroyer_->pending();
  for (const auto& [key, run] : runs_) active.insert(run->containerId);
  for (const auto& [key, executor] : executorsByKey_) active.insert(executor->containerId);
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
    Executor* executor = measured(*run);
    if (executor == nullptr || isTerminal(run->state)) continue;
    samples.emplace_back(run.get(), usageOf(*run, *executor));
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
