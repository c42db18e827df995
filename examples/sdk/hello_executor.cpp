// hello-executor: a framework's own executor, for hello-executor-scheduler.
// The agent starts it with the framework's first task on that agent and
// hands it the framework's later tasks there too. A task's data is a name:
// the executor's answer, a greeting, goes back in the task's last status
// update. On registering, it tells the scheduler who it is by a framework
// message. It runs until the agent shuts it down (its framework ended).
#include <clusternodes/executor.hpp>

#include <unistd.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

using namespace clusternodes;

class HelloExecutor : public Executor {
 public:
  void registered(ExecutorDriver* driver, const ExecutorInfo& executor, const FrameworkID& frameworkId,
                  const FrameworkInfo& framework, const ExecutorAgentInfo& agent) override {
    driver->sendFrameworkMessage("executor " + executor.executorId.value + " is up on " + agent.hostname +
                                 " as pid " + std::to_string(::getpid()));
  }

  void launchTask(ExecutorDriver* driver, const TaskInfo& task) override {
    update(driver, task.taskId, TaskState::kRunning, "");
    // Callbacks should return at once: the work runs on a thread of its own.
    workers_.emplace_back([driver, task] {
      std::printf("greeting %s for %s\n", task.data.c_str(), task.taskId.value.c_str());  // to the sandbox's stdout
      std::fflush(stdout);
      update(driver, task.taskId, TaskState::kFinished, "hello, " + task.data + "!");
    });
  }

  // No killTask(): these tasks end as soon as they start, so there is
  // nothing to kill. A longer task would stop and report TASK_KILLED.

  // After the driver stopped: waits for the tasks' threads.
  void joinWorkers() {
    for (std::thread& worker : workers_) worker.join();
  }

 private:
  static void update(ExecutorDriver* driver, const TaskID& taskId, TaskState state, const std::string& data) {
    TaskStatus status;
    status.taskId = taskId;
    status.state = state;
    status.data = data;  // bytes for the scheduler, with the update
    driver->sendStatusUpdate(status);
  }

  std::vector<std::thread> workers_;  // callbacks run one at a time, on the driver's thread
};

int main() {
  HelloExecutor executor;
  auto driver = ExecutorDriver::create(&executor);  // finds its agent from CLUSTERNODES_* variables
  DriverStatus status = driver->run();               // until the agent shuts the executor down
  executor.joinWorkers();
  return status == DriverStatus::kStopped ? 0 : 1;
}
