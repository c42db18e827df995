// Custom executors: a framework's own long-lived program on an agent, which
// runs many of its tasks. A scheduler names it in TaskInfo::executor; the
// agent starts it once per framework and executor id, in its own sandbox
// (its working directory) and container, and hands it every task that names
// it. The program builds an Executor and runs an ExecutorDriver:
//
//   class MyExecutor : public clusternodes::Executor {
//     void launchTask(ExecutorDriver* driver, const TaskInfo& task) override {
//       driver->sendStatusUpdate(running(task));
//       std::thread([=] { ...work...; driver->sendStatusUpdate(finished(task)); }).detach();
//     }
//   };
//
//   int main() {
//     MyExecutor executor;
//     auto driver = ExecutorDriver::create(&executor);
//     return driver->run() == DriverStatus::kStopped ? 0 : 1;
//   }
//
// The driver finds its agent through the variables the agent sets
// (CLUSTERNODES_AGENT_ENDPOINT, _FRAMEWORK_ID, _EXECUTOR_ID, _SANDBOX, ...);
// a program started by hand fails start() with what is missing.
//
// Status updates are reliable: the driver keeps each one until the agent
// has it, re-sending it as needed, across an agent restart too (the executor
// and its tasks keep running while the agent is away, and re-register with
// the agent that comes back). The agent then delivers them to the scheduler
// in order, per task, until acknowledged.
//
// The executor lives until it stops its driver, its framework goes away, or
// the agent shuts it down; it may keep running with no task. If it exits
// while tasks are unfinished, the agent ends them as TASK_FAILED
// (REASON_EXECUTOR_TERMINATED) and the scheduler hears executorLost().
//
// Threads: callbacks run one at a time on the driver's own thread and should
// return quickly (run the work elsewhere). Every ExecutorDriver method is safe
// to call from callbacks and from any other thread, except join() and run().
#pragma once

#include <memory>
#include <string>

#include "clusternodes/resources.hpp"
#include "clusternodes/scheduler.hpp"
#include "clusternodes/values.hpp"

namespace clusternodes {

class ExecutorDriver;

// The agent an executor runs on.
struct ExecutorAgentInfo {
  AgentID id;
  std::string hostname;
  // The agent's HTTP address ("http://IP:PORT"), whose /files endpoints serve
  // the executor's sandbox to others (a reducer fetching map output, say).
  std::string httpUrl;
};

class Executor {
 public:
  virtual ~Executor() = default;

  // The agent accepted the executor. `sandbox` is its directory (also its
  // working directory and CLUSTERNODES_SANDBOX).
  virtual void registered(ExecutorDriver* driver, const ExecutorInfo& executor, const FrameworkID& frameworkId,
                          const FrameworkInfo& framework, const ExecutorAgentInfo& agent) {}
  // A restarted agent took the executor back.
  virtual void reregistered(ExecutorDriver* driver, const ExecutorAgentInfo& agent) {}
  // The agent is gone; the driver waits for it to come back (its recovery
  // timeout, then shutdown()).
  virtual void disconnected(ExecutorDriver* driver) {}
  // A task to run. Report TASK_RUNNING and, in time, a terminal state.
  virtual void launchTask(ExecutorDriver* driver, const TaskInfo& task) {}
  // Kill the task and report its terminal state (TASK_KILLED).
  virtual void killTask(ExecutorDriver* driver, const TaskID& taskId) {}
  // Bytes the scheduler sent with SchedulerDriver::sendFrameworkMessage().
  virtual void frameworkMessage(ExecutorDriver* driver, const std::string& data) {}
  // The agent wants the executor gone (its framework ended, or the agent
  // gave up waiting): kill the tasks. The driver stops after this returns;
  // the agent kills what is left after a grace period.
  virtual void shutdown(ExecutorDriver* driver) {}
  virtual void error(ExecutorDriver* driver, const std::string& message) {}
};

class ExecutorDriver {
 public:
  // REQUIRES: `executor` outlives the driver.
  static std::unique_ptr<ExecutorDriver> create(Executor* executor);
  virtual ~ExecutorDriver() = default;

  // Connects to the agent and registers; returns at once. kAborted when the
  // agent's variables are missing (the program was not started by an agent).
  virtual DriverStatus start() = 0;
  // Stops the driver once the status updates sent so far have reached the
  // agent (or after a few seconds); the executor process may then exit.
  virtual DriverStatus stop() = 0;
  virtual DriverStatus abort() = 0;
  virtual DriverStatus join() = 0;
  virtual DriverStatus run() = 0;

  // Reports a task's state. agentId, source, timestamp and uuid are filled
  // in; taskId and state are the caller's.
  virtual DriverStatus sendStatusUpdate(const TaskStatus& status) = 0;
  // Bytes to the scheduler (Scheduler::frameworkMessage), through the agent
  // and the master; best effort, as in Mesos: not retried.
  virtual DriverStatus sendFrameworkMessage(const std::string& data) = 0;
};

}  // namespace clusternodes
