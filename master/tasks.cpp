#include "master/tasks.hpp"

#include <spdlog/spdlog.h>

#include "common/users.hpp"
#include "master/reservations.hpp"
#include "master/validation.hpp"

namespace clusternodes::master {

using wire::text;

TaskState masterTaskState(TaskFate fate, bool partitionAware) {
  if (!partitionAware) return TaskState::kLost;
  switch (fate) {
    case TaskFate::kAgentUnreachable: return TaskState::kUnreachable;
    case TaskFate::kAgentGone: return TaskState::kGone;
    case TaskFate::kMissingOnAgent: return TaskState::kDropped;
    case TaskFate::kUnknown: return TaskState::kUnknown;
  }
  return TaskState::kLost;
}

// ------------------------------------------------------------ statuses

TaskStatus TaskBook::masterStatus(const Task& task, TaskState state, TaskReason reason,
                                  const std::string& message) const {
  TaskStatus status;
  status.taskId = task.info.taskId;
  status.agentId = task.info.agentId;
  status.state = state;
  status.reason = reason;
  status.message = message;
  status.source = TaskSource::kMaster;
  status.timestamp = ctx_.wallNow();
  return status;
}

void TaskBook::recordState(const FrameworkID& frameworkId, const TaskStatus& status, bool held) {
  if (held) ctx_.watch([&](StateWatcher& w) { w.taskUpdated(frameworkId, status); });
  ctx_.events.record({.type = EventType::kTaskStateChanged,
                      .agentId = status.agentId.value,
                      .frameworkId = frameworkId.value,
                      .taskId = status.taskId.value,
                      .state = toString(status.state),
                      .reason = status.reason == TaskReason::kNone ? "" : toString(status.reason),
                      .message = status.message});
}

void TaskBook::sendStatus(const FrameworkEntry& framework, const TaskStatus& status, bool durable) {
  if (!framework.connected) return;  // agents retry acknowledged updates
  capnp::MallocMessageBuilder message;
  auto update = message.initRoot<wire::Envelope>().initStatusUpdate();
  update.setFrameworkId(framework.id.value);
  wire::toWire(status, framework.id, update.initStatus());
  if (durable) return ctx_.sendWhenDurable(framework.peer, message);
  ctx_.send(framework.peer, message);
}

void TaskBook::changeState(FrameworkEntry& framework, Task& task, const TaskStatus& status, bool durable) {
  task.state = status.state;
  task.lastStatus = status;
  recordState(framework.id, status);
  sendStatus(framework, status, durable);
}

// ------------------------------------------------------------ the end

void TaskBook::endTask(FrameworkEntry& framework, Task& task, TaskStatus status, TaskEnd how) {
  task.state = status.state;
  task.lastStatus = status;
  if (how.record) recordState(framework.id, status);
  ++ctx_.state.metrics.tasksTerminal[toString(status.state)];
  ++framework.completedTasks;
  if (how.release) release(framework, task);
  if (how.tell) sendStatus(framework, status, how.durable);
  // Kept, the record stays in its terminal state until the framework
  // acknowledges the terminal update (see acknowledge()).
  if (how.then == TaskEnd::Record::kRetire) {
    TaskID id = task.info.taskId;  // retiring moves `task`
    retire(framework, id);
  }
}

void TaskBook::retire(FrameworkEntry& framework, const TaskID& id) {
  auto task = framework.tasks.find(id);
  if (task == framework.tasks.end()) return;
  framework.completed.push_back(std::move(task->second));
  if (framework.completed.size() > FrameworkEntry::kMaxCompletedTasks) framework.completed.pop_front();
  framework.tasks.erase(task);
}

void TaskBook::release(FrameworkEntry& framework, Task& task) {
  auto agent = ctx_.state.agents.find(task.info.agentId);
  if (agent == ctx_.state.agents.end()) return;
  agent->second.used -= task.info.resources;
  agent->second.tasks.erase({framework.id, task.info.taskId});
  if (agent->second.reachable) {
    ctx_.allocator.recoverResources(framework.id, agent->first, task.info.resources, std::nullopt, task.role);
    ctx_.requestAllocation();
  }
}

// ------------------------------------------------------------ launches

void TaskBook::launch(FrameworkEntry& framework, AgentEntry& agent, const TaskInfo& taskInfo,
                      const std::string& role) {
  Task task;
  task.info = taskInfo;
  task.role = role;
  task.frameworkId = framework.id;
  task.state = TaskState::kStaging;
  task.createdAt = ctx_.wallNow();
  task.lastStatus = masterStatus(task, TaskState::kStaging, TaskReason::kNone, "");
  recordState(framework.id, task.lastStatus, false);
  const auto& held = framework.tasks[taskInfo.taskId] = task;
  ctx_.watch([&](StateWatcher& w) { w.taskAdded(held); });
  agent.tasks.emplace(framework.id, taskInfo.taskId);
  agent.used += taskInfo.resources;
  ++ctx_.state.metrics.tasksLaunched;
  sendRunTask(framework, agent, taskInfo);
}

void TaskBook::sendRunTask(const FrameworkEntry& framework, const AgentEntry& agent, const TaskInfo& taskInfo) {
  capnp::MallocMessageBuilder message;
  auto run = message.initRoot<wire::Envelope>().initRunTask();
  run.setFrameworkId(framework.id.value);
  wire::toWire(framework.info, run.initFrameworkInfo());
  wire::toWire(taskInfo, run.initTask());
  ctx_.send(agent.peer, message);
}

void TaskBook::killOnAgent(const AgentEntry& agent, const FrameworkID& frameworkId, const TaskID& taskId,
                           int64_t gracePeriodMs) {
  capnp::MallocMessageBuilder message;
  auto kill = message.initRoot<wire::Envelope>().initKillTask();
  kill.setFrameworkId(frameworkId.value);
  kill.setTaskId(taskId.value);
  kill.setKillGracePeriodMs(gracePeriodMs);
  ctx_.send(agent.peer, message);
}

void TaskBook::refuseLaunches(const std::string& peer, wire::Accept::Reader message) {
  FrameworkID claimed{text(message.getFrameworkId())};
  for (auto operation : message.getOperations()) {
    if (operation.isReserve() || operation.isUnreserve()) {
      refuseOperation(peer, claimed, operation.isReserve() ? "RESERVE" : "UNRESERVE",
                      "its offers are not valid on this connection (the master restarted, or the framework is not "
                      "subscribed)");
      continue;
    }
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
      ctx_.send(peer, dropped);
      ++ctx_.state.metrics.tasksTerminal[toString(TaskState::kDropped)];
    }
  }
}

void TaskBook::refuseOperation(const std::string& peer, const FrameworkID& framework, const char* operation,
                               const std::string& reason) {
  capnp::MallocMessageBuilder message;
  auto refused = message.initRoot<wire::Envelope>().initOperationRefused();
  refused.setFrameworkId(framework.value);
  refused.setOperation(operation);
  refused.setReason(reason);
  ctx_.send(peer, message);
}

void TaskBook::accept(FrameworkEntry& fw, wire::Accept::Reader message) {
  std::vector<OfferID> ids;
  for (auto idText : message.getOfferIds()) ids.push_back(OfferID{text(idText)});
  // Offers are used up by an ACCEPT whatever happens below.
  auto taken = offers_.take(fw, ids);
  Resources remaining = taken.resources;

  std::set<TaskID> used;
  for (const auto& [id, task] : fw.tasks) used.insert(id);

  AgentEntry* agent = nullptr;
  if (!taken.offers.empty()) {
    auto it = ctx_.state.agents.find(taken.offers.front().agentId);
    if (it != ctx_.state.agents.end() && it->second.reachable) agent = &it->second;
  }

  const std::string role = taken.offers.empty() ? std::string(kDefaultRole) : taken.offers.front().role;
  for (auto operation : message.getOperations()) {
    if (operation.isReserve() || operation.isUnreserve()) {
      bool reserve = operation.isReserve();
      Resources resources = wire::fromWire(reserve ? operation.getReserve() : operation.getUnreserve());
      Result<void> done =
          !taken.error.empty() ? Result<void>(invalid(taken.error))
          : agent == nullptr   ? Result<void>(invalid("the offers' agent is gone"))
                               : reserveOrUnreserve(ctx_, fw, *agent, role, remaining, resources, reserve);
      if (!done) {
        ++ctx_.state.metrics.operationsDropped;
        spdlog::warn("framework {}: dropped an operation: {}", fw.id.value, done.error().message);
        refuseOperation(fw.peer, fw.id, reserve ? "RESERVE" : "UNRESERVE", done.error().message);
      }
      continue;
    }
    if (!operation.isLaunch()) continue;
    for (auto taskReader : operation.getLaunch()) {
      launchOne(fw, agent, taken.error, role, wire::fromWire(taskReader), remaining, used);
    }
  }

  // What the tasks did not use goes back, filtered as the framework asked.
  if (agent != nullptr && !remaining.empty()) {
    double refuse = message.getRefuseSeconds();
    std::optional<Filters> filters;
    if (refuse > 0) filters = Filters{refuse};
    ctx_.allocator.recoverResources(fw.id, agent->id, remaining, filters, role);
    ctx_.requestAllocation();
  }
}

void TaskBook::launchOne(FrameworkEntry& fw, AgentEntry* agent, const std::string& offerError,
                         const std::string& role, const TaskInfo& task, Resources& remaining,
                         std::set<TaskID>& used) {
  Task record;
  record.info = task;
  record.frameworkId = fw.id;
  if (!offerError.empty() || agent == nullptr) {
    std::string why = offerError.empty() ? "the offers' agent is gone" : offerError;
    return refuse(fw, record, TaskState::kDropped, TaskReason::kInvalidOffers,
                  "task " + task.taskId.value + " not launched: " + why);
  }
  // A task that starts its framework's executor on the agent also pays for
  // the executor.
  const ExecutorInfo* running = nullptr;
  if (task.executor) {
    auto it = agent->executors.find({fw.id, task.executor->executorId});
    if (it != agent->executors.end()) running = &it->second;
  }
  auto valid = validateTask(task, agent->id, remaining, used, running);
  if (!valid) return refuse(fw, record, TaskState::kError, TaskReason::kInvalidTask, valid.error().message);
  if (auto may = authorizeRun(fw, task); !may) {
    ++ctx_.state.metrics.aclDenials[aclActionName(AclAction::kRunTask)];
    return refuse(fw, record, TaskState::kError, TaskReason::kTaskUnauthorized, may.error().message);
  }
  if (task.executor && running == nullptr) {
    remaining -= task.executor->resources;
    agent->used += task.executor->resources;
    agent->executors[{fw.id, task.executor->executorId}] = *task.executor;
  }
  remaining -= task.resources;
  used.insert(task.taskId);
  launch(fw, *agent, task, role);
}

Result<void> TaskBook::authorizeRun(const FrameworkEntry& fw, const TaskInfo& task) const {
  if (!ctx_.acls.configured()) return {};
  std::string user = taskUser(task, fw.info);
  if (user.empty()) {
    return Error{ErrorCode::kDenied, "task " + task.taskId.value +
                                         " names no user to run as, nor does its framework; the ACLs (" +
                                         ctx_.acls.path() + ") allow tasks only as named users"};
  }
  return ctx_.acls.authorize(AclAction::kRunTask, fw.principal, user);
}

void TaskBook::refuse(FrameworkEntry& framework, const Task& task, TaskState state, TaskReason reason,
                      const std::string& why) {
  ++ctx_.state.metrics.tasksInvalid;
  ++ctx_.state.metrics.tasksTerminal[toString(state)];
  auto status = masterStatus(task, state, reason, why);
  recordState(framework.id, status, false);
  sendStatus(framework, status);
}

// ------------------------------------------------------------ updates and calls

void TaskBook::statusUpdate(const std::string& peer, const AgentEntry& agent, wire::StatusUpdate::Reader message) {
  FrameworkID frameworkId{text(message.getFrameworkId())};
  TaskStatus status = wire::fromWire(message.getStatus());
  status.agentId = agent.id;
  ++ctx_.state.metrics.statusUpdates;

  auto fw = ctx_.state.frameworks.find(frameworkId);
  Task* task = nullptr;
  if (fw != ctx_.state.frameworks.end()) {
    auto it = fw->second.tasks.find(status.taskId);
    if (it != fw->second.tasks.end()) task = &it->second;
  }
  if (task == nullptr) {
    // The framework is gone, or the task was already reported ended (lost
    // with its agent, say): nobody will acknowledge this update, so the
    // master does, and the agent stops re-sending it.
    ++ctx_.state.metrics.statusUpdatesUnknownTask;
    capnp::MallocMessageBuilder ack;
    auto a = ack.initRoot<wire::Envelope>().initStatusUpdateAck();
    a.setFrameworkId(frameworkId.value);
    a.setAgentId(agent.id.value);
    a.setTaskId(status.taskId.value);
    a.setUuid(status.uuid);
    ctx_.send(peer, ack);
    return;
  }
  // The agent sends a task's next update only once the last one is
  // acknowledged, so an update with the last one's uuid is a retry.
  if (!status.uuid.empty() && status.uuid == task->lastStatus.uuid) ++ctx_.state.metrics.statusUpdatesDuplicate;
  if (!isTerminal(task->state) && isTerminal(status.state)) {
    return endTask(fw->second, *task, status, {.release = true});
  }
  if (!isTerminal(task->state)) {
    if (task->state != status.state) recordState(frameworkId, status);
    task->state = status.state;
    task->lastStatus = status;
  }
  // A re-sent update is relayed again: the framework may not have seen it.
  sendStatus(fw->second, status);
}

void TaskBook::containerUsages(const AgentEntry& agent, wire::ContainerUsages::Reader message) {
  for (auto entry : message.getContainers()) {
    auto fw = ctx_.state.frameworks.find(FrameworkID{text(entry.getFrameworkId())});
    if (fw == ctx_.state.frameworks.end()) continue;
    auto task = fw->second.tasks.find(TaskID{text(entry.getTaskId())});
    // Only the agent that runs a task speaks for it.
    if (task == fw->second.tasks.end() || task->second.info.agentId != agent.id) continue;
    task->second.usage = wire::fromWire(entry);
  }
}

void TaskBook::kill(FrameworkEntry& fw, wire::Kill::Reader message) {
  TaskID taskId{text(message.getTaskId())};
  auto task = fw.tasks.find(taskId);
  if (task == fw.tasks.end()) {
    Task unknown;
    unknown.info.taskId = taskId;
    unknown.info.agentId.value = text(message.getAgentId());
    sendStatus(fw, masterStatus(unknown, masterTaskState(TaskFate::kUnknown, fw.info.partitionAware),
                                TaskReason::kTaskUnknown, "cannot kill task " + taskId.value + ": it is unknown"));
    return;
  }
  if (isTerminal(task->second.state)) return;  // its end is on the way
  auto agent = ctx_.state.agents.find(task->second.info.agentId);
  if (agent == ctx_.state.agents.end() || !agent->second.reachable) {
    // The agent is away; the kill is sent when it re-registers.
    task->second.killPending = true;
    return;
  }
  killOnAgent(agent->second, fw.id, taskId, message.getKillGracePeriodMs());
}

void TaskBook::killExecutor(FrameworkEntry& fw, wire::KillExecutor::Reader message) {
  ExecutorID executorId{text(message.getExecutorId())};
  AgentID agentId{text(message.getAgentId())};
  auto agent = ctx_.state.agents.find(agentId);
  if (agent == ctx_.state.agents.end() || !agent->second.reachable ||
      agent->second.executors.count({fw.id, executorId}) == 0) {
    spdlog::info("framework {}: not shutting down executor {} on agent {}: it is not running there", fw.id.value,
                 executorId.value, agentId.value);
    return;
  }
  spdlog::info("framework {} shuts down its executor {} on agent {}", fw.id.value, executorId.value, agentId.value);
  capnp::MallocMessageBuilder out;
  auto kill = out.initRoot<wire::Envelope>().initKillExecutor();
  kill.setFrameworkId(fw.id.value);
  kill.setExecutorId(executorId.value);
  kill.setAgentId(agentId.value);
  ctx_.send(agent->second.peer, out);
}

void TaskBook::acknowledge(FrameworkEntry& fw, wire::StatusUpdateAck::Reader message) {
  AgentID agentId{text(message.getAgentId())};
  TaskID taskId{text(message.getTaskId())};
  auto task = fw.tasks.find(taskId);
  if (task != fw.tasks.end() && isTerminal(task->second.state) &&
      task->second.lastStatus.uuid == text(message.getUuid())) {
    retire(fw, taskId);
  }
  auto agent = ctx_.state.agents.find(agentId);
  if (agent == ctx_.state.agents.end() || !agent->second.reachable) return;
  capnp::MallocMessageBuilder relay;
  auto ack = relay.initRoot<wire::Envelope>().initStatusUpdateAck();
  ack.setFrameworkId(fw.id.value);
  ack.setAgentId(agentId.value);
  ack.setTaskId(message.getTaskId());
  ack.setUuid(message.getUuid());
  ctx_.send(agent->second.peer, relay);
}

void TaskBook::reconcile(FrameworkEntry& fw, wire::Reconcile::Reader message,
                         const std::set<AgentID>& awaitingReregistration) {
  auto answer = [&](const Task& task) {
    sendStatus(fw, masterStatus(task, task.state, TaskReason::kReconciliation, "reconciliation"));
  };
  if (message.getTasks().size() == 0) {
    for (const auto& [id, task] : fw.tasks) answer(task);
    return;
  }
  for (auto asked : message.getTasks()) {
    TaskID taskId{text(asked.getTaskId())};
    if (auto task = fw.tasks.find(taskId); task != fw.tasks.end()) {
      answer(task->second);
      continue;
    }
    auto status = unknownTaskStatus(fw, taskId, AgentID{text(asked.getAgentId())}, awaitingReregistration);
    if (status) sendStatus(fw, *status);
  }
}

std::optional<TaskStatus> TaskBook::unknownTaskStatus(const FrameworkEntry& fw, const TaskID& taskId,
                                                      const AgentID& agentId,
                                                      const std::set<AgentID>& awaitingReregistration) const {
  Task unknown;
  unknown.info.taskId = taskId;
  unknown.info.agentId = agentId;
  // What the master can say depends on what it knows of the task's agent.
  if (awaitingReregistration.count(agentId) != 0) return std::nullopt;  // the agent will report it
  TaskFate fate = TaskFate::kUnknown;
  std::string why = "task " + taskId.value + " is unknown to the master";
  auto agent = ctx_.state.agents.find(agentId);
  const auto* record = ctx_.registry.agent(agentId);
  if (agent != ctx_.state.agents.end() && !agent->second.reachable) {
    fate = TaskFate::kAgentUnreachable;
    why = "task " + taskId.value + " is unknown and its agent " + agentId.value + " is unreachable";
  } else if (agent == ctx_.state.agents.end() && record != nullptr && record->mark != AgentMark::kAdmitted) {
    fate = record->mark == AgentMark::kGone ? TaskFate::kAgentGone : TaskFate::kAgentUnreachable;
    why = "task " + taskId.value + " is unknown and its agent " + agentId.value + " is " + agentMarkName(record->mark);
  }
  return masterStatus(unknown, masterTaskState(fate, fw.info.partitionAware), TaskReason::kReconciliation, why);
}

}  // namespace clusternodes::master
