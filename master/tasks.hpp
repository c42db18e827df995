// The task book: the tasks the master knows, by framework (FrameworkEntry::
// tasks, and the agent's AgentEntry::tasks), from the launch an ACCEPT asks
// for to the acknowledgement of their end. Every task that ends goes through
// one endTask(); what the master says of a task it has lost track of is one
// pure function, masterTaskState().
#pragma once

#include <set>
#include <string>

#include "master/context.hpp"
#include "master/offers.hpp"

namespace clusternodes::master {

// Why the master, rather than the task's agent, says what became of a task.
enum class TaskFate {
  kAgentUnreachable,  // its agent missed its pings (or is marked unreachable)
  kAgentGone,         // its agent was removed for good
  kMissingOnAgent,    // its agent re-registered without it
  kUnknown,           // the master has no record of it
};

// The state the master reports for a task of that fate. A partition-aware
// framework is told precisely (UNREACHABLE, GONE, DROPPED, UNKNOWN); any
// other is told TASK_LOST, as Mesos does. Pure.
TaskState masterTaskState(TaskFate fate, bool partitionAware);

// How endTask() finishes a task off.
struct TaskEnd {
  bool tell = true;      // relay the status to the framework (when connected)
  bool record = true;    // add the state change to the event log
  bool release = false;  // free its resources on its agent and offer them again
  // Tell the framework only once the registry change that ended it (its
  // agent's mark) is on disk.
  bool durable = false;
  // What becomes of the record: kept (until the framework acknowledges the
  // terminal update), moved to the framework's completed tasks now, or
  // forgotten (the caller holds a task that is in no map).
  enum class Record { kKeep, kRetire, kForget } then = Record::kKeep;
};

class TaskBook {
 public:
  TaskBook(MasterContext& context, OfferBook& offers) : ctx_(context), offers_(offers) {}

  // A status of `task` that the master itself issues.
  TaskStatus masterStatus(const Task& task, TaskState state, TaskReason reason, const std::string& message) const;
  // Adds a task's new state, as `status` tells it, to the event log, and
  // tells the watcher unless the task is not `held` in the books (a refused
  // launch's, or a launch's first, which the watcher hears of as added).
  void recordState(const FrameworkID& frameworkId, const TaskStatus& status, bool held = true);
  // Relays `status` to the framework if it is connected (agents retry
  // updates until acknowledged; master-issued ones are answered again on
  // reconciliation).
  // With `durable`, only once every registry change so far is on disk.
  void sendStatus(const FrameworkEntry& framework, const TaskStatus& status, bool durable = false);

  // Moves `task` to `status` (not terminal: the task lives on), logs it and
  // tells the framework.
  void changeState(FrameworkEntry& framework, Task& task, const TaskStatus& status, bool durable = false);
  // Ends `task` of `framework` with the terminal `status`: its state, the
  // event log, the framework, the tasksTerminal and completed counts, and
  // then what `how` says. The only place a task ends.
  void endTask(FrameworkEntry& framework, Task& task, TaskStatus status, TaskEnd how);

  // Records a task of `framework` as staging on `agent`, its resources
  // offered to `role`, and sends it there.
  void launch(FrameworkEntry& framework, AgentEntry& agent, const TaskInfo& task, const std::string& role);
  void sendRunTask(const FrameworkEntry& framework, const AgentEntry& agent, const TaskInfo& task);
  void killOnAgent(const AgentEntry& agent, const FrameworkID& frameworkId, const TaskID& taskId,
                   int64_t gracePeriodMs);

  // ACCEPT from a subscribed framework: reservations and launches on the
  // offers' agent; what is left goes back to the allocator.
  void accept(FrameworkEntry& framework, wire::Accept::Reader message);
  // ACCEPT from a peer that is not the subscribed framework it names (stale
  // offers after a master restart): each launch is answered TASK_DROPPED,
  // each reservation change OperationRefused.
  void refuseLaunches(const std::string& peer, wire::Accept::Reader message);

  // A status update from the agent `agent` (reachable).
  void statusUpdate(const std::string& peer, const AgentEntry& agent, wire::StatusUpdate::Reader message);
  void containerUsages(const AgentEntry& agent, wire::ContainerUsages::Reader message);
  void kill(FrameworkEntry& framework, wire::Kill::Reader message);
  // SHUTDOWN of one of the framework's executors: passed to its agent, which
  // shuts it down and reports its tasks' ends. An executor the master does
  // not know on a reachable agent is logged and left alone, as Mesos does.
  void killExecutor(FrameworkEntry& framework, wire::KillExecutor::Reader message);
  void acknowledge(FrameworkEntry& framework, wire::StatusUpdateAck::Reader message);
  // Answers with each task's state; tasks it does not know are answered by
  // what it knows of their agent. Agents in `awaitingReregistration` will
  // report their tasks: those are not answered.
  void reconcile(FrameworkEntry& framework, wire::Reconcile::Reader message,
                 const std::set<AgentID>& awaitingReregistration);

 private:
  // Moves an ended task from the framework's tasks to its completed ones.
  void retire(FrameworkEntry& framework, const TaskID& id);
  // Frees an ended task's resources on its agent.
  void release(FrameworkEntry& framework, Task& task);
  // A task of an ACCEPT that is not launched: logged, told and counted.
  void refuse(FrameworkEntry& framework, const Task& task, TaskState state, TaskReason reason,
              const std::string& why);
  // Tells `peer` that an offer operation other than a launch was refused,
  // and why (a launch is answered by a status update instead).
  void refuseOperation(const std::string& peer, const FrameworkID& framework, const char* operation,
                       const std::string& reason);
  // Whether the ACLs let the framework's principal run the task as its
  // user (common/users.hpp taskUser); the error is the TASK_ERROR's message.
  Result<void> authorizeRun(const FrameworkEntry& framework, const TaskInfo& task) const;
  // One LAUNCH's task, against what is left of the offers (to `role`).
  void launchOne(FrameworkEntry& framework, AgentEntry* agent, const std::string& offerError, const std::string& role,
                 const TaskInfo& task, Resources& remaining, std::set<TaskID>& used);
  // What the master can say of a task it does not know on `agentId`, or
  // nothing when the agent will report it.
  std::optional<TaskStatus> unknownTaskStatus(const FrameworkEntry& framework, const TaskID& taskId,
                                              const AgentID& agentId,
                                              const std::set<AgentID>& awaitingReregistration) const;

  MasterContext& ctx_;
  OfferBook& offers_;
};

}  // namespace clusternodes::master
