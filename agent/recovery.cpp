// Recovery after a restart on the same boot, --recover=cleanup, and the
// checkpoint the agent keeps for them (checkpoint.hpp): what is staged, and
// the end-of-turn commit that everything acknowledged waits for.
#include <signal.h>

#include <spdlog/spdlog.h>

#include "agent/agent.hpp"
#include "agent/agent_runs.hpp"

namespace clusternodes::agent {
namespace {

using std::chrono::milliseconds;
using wire::text;

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
      for (const auto& [id, executor] : checkpoints_.executors()) cleanupExecutor(executor);
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
  removeOrphanContainers(agentId_);
}

void Agent::cleanupRun(const RunCheckpoint& saved) {
  FrameworkID frameworkId;
  FrameworkInfo frameworkInfo;
  TaskInfo task;
  if (!decodeRunTask(saved, frameworkId, frameworkInfo, task)) return;
  Containerizer& containerizer = task.docker ? *docker_ : *native_;
  RecoveredContainer container{saved.containerId, saved.sandbox, saved.executorPid, task.taskId, 0};
  if (containerizer.recover(container, {})) {
    spdlog::info("--recover=cleanup: killing the executor of task {} (pid {})", task.taskId.value,
                 saved.executorPid);
    containerizer.kill(saved.containerId);
  }
  containerizer.destroy(saved.containerId);
}

void Agent::cleanupExecutor(const ExecutorCheckpoint& saved) {
  RecoveredContainer container{saved.containerId, saved.sandbox, saved.pid, TaskID{}, saved.startTime};
  if (executorContainers_->recover(container, {})) {
    spdlog::info("--recover=cleanup: killing framework executor pid {}", saved.pid);
    executorContainers_->kill(saved.containerId);
  }
  executorContainers_->destroy(saved.containerId);
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
  run->recovered = true;
  run->checkpointed = true;
  // The updates its framework had not acknowledged go out again once the
  // agent is registered (resendAll); the newest is the task's latest state.
  recoverUpdates(*run, saved);
  // A task that had not ended is handed to its executor again once it
  // re-registers (it ignores a task it has).
  run->moveTo(isTerminal(run->state) ? RunPhase::kExited : RunPhase::kAwaitingExecutor);
  TaskKey key{run->frameworkId, run->task.taskId};
  Run& stored = *(runs_[key] = std::move(run));
  // A framework's executor was recovered first (recoverExecutors); a
  // built-in one is its run's.
  auto executor = executorsByKey_.find(stored.executorKey());
  bool alive = stored.custom() ? executor != executorsByKey_.end() && !executor->second->builtIn()
                               : recoverBuiltInExecutor(stored);
  if (alive) {
    auto& taken = *executorsByKey_.at(stored.executorKey());
    taken.tasks.insert(key.second);
    stored.pid = taken.pid;
    return true;
  }
  if (!stored.exited()) {
    endRun(stored, TaskState::kFailed, TaskReason::kExecutorTerminated,
           (stored.custom() ? "executor " + stored.executorKey().second.value : std::string("the executor")) +
               " ended while the agent was down, before the task ended");
  }
  if (!stored.custom()) {
    containerizerOf(stored.docker() ? ExecutorKind::kDocker : ExecutorKind::kCommand).destroy(stored.containerId);
  }
  forgetIfDone(key);
  return false;
}

bool Agent::recoverBuiltInExecutor(Run& run) {
  ExecutorKind kind = run.docker() ? ExecutorKind::kDocker : ExecutorKind::kCommand;
  if (executorsByKey_.count(run.executorKey()) != 0) {
    // An earlier release let a framework's executor take the id of one of
    // its built-in tasks; that executor keeps it, and the task ends.
    spdlog::warn("task {} of framework {} shares its id with a framework's executor; killing its executor",
                 run.task.taskId.value, run.frameworkId.value);
    RecoveredContainer container{run.containerId, run.sandbox, run.pid, run.task.taskId, 0};
    if (containerizerOf(kind).recover(container, {})) containerizerOf(kind).kill(run.containerId);
    return false;
  }
  auto executor = std::make_unique<Executor>();
  executor->frameworkId = run.frameworkId;
  executor->frameworkInfo = run.frameworkInfo;
  executor->kind = kind;
  executor->info.executorId = ExecutorID{run.task.taskId.value};
  executor->info.name = run.docker() ? "docker executor" : "command executor";
  executor->phase = ExecutorPhase::kStarted;
  executor->containerId = run.containerId;
  executor->sandbox = run.sandbox;
  executor->pid = run.pid;
  executor->recovered = true;
  executor->tasks.insert(run.task.taskId);
  ExecutorKey key = executor->key();
  auto& stored = *(executorsByKey_[key] = std::move(executor));
  RecoveredContainer container{run.containerId, run.sandbox, run.pid, run.task.taskId, 0};
  if (!containerizerOf(stored.kind).recover(
          container, [this, key](std::optional<ExitStatus> exit) { executorExited(key, exit); })) {
    executorsByKey_.erase(key);
    return false;
  }
  // It re-registers once it notices this agent; one that does not is shut
  // down.
  armRegistrationTimeout(stored);
  return true;
}

void Agent::recoverUpdates(Run& run, const RunCheckpoint& saved) {
  if (saved.updates.empty()) return;
  auto stream = std::make_unique<UpdateStream>(time_);
  stream->frameworkId = run.frameworkId;
  stream->backoff = flags_.statusUpdateRetry;
  for (const auto& bytes : saved.updates) {
    try {
      auto decoded = wire::decode(bytes);
      if (!decoded || (*decoded)->which() != wire::Envelope::STATUS_UPDATE) {
        throw wire::MalformedMessage("not a StatusUpdate");
      }
      stream->pending.push_back(wire::fromWire((*decoded)->envelope().getStatusUpdate().getStatus()));
    } catch (const std::exception& e) {
      spdlog::warn("dropping an unreadable status update of task {}: {}", run.task.taskId.value, e.what());
    }
  }
  if (stream->pending.empty()) return;
  run.state = stream->pending.back().state;
  streams_[{run.frameworkId, run.task.taskId}] = std::move(stream);
}

void Agent::removeOrphanContainers(const AgentID& agentId) {
  if (containerizers_.count("docker") == 0 || agentId.empty()) return;
  std::set<std::string> known;
  for (const auto& [key, run] : runs_) {
    if (run->docker()) known.insert(run->containerId);
  }
  docker_->removeOrphans(agentId, known);
}

// ------------------------------------------------------------ checkpoint

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

}  // namespace clusternodes::agent
