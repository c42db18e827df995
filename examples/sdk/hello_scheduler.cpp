// hello-scheduler [MASTER]: a framework from scratch. It runs three command
// tasks on offers that fit, prints every status update, and exits 0 once all
// three have finished. MASTER is the master's HOST:PORT (127.0.0.1:5050).
#include <clusternodes/scheduler.hpp>

#include <cstdio>
#include <string>
#include <vector>

using namespace clusternodes;

class HelloScheduler : public Scheduler {
 public:
  void resourceOffers(SchedulerDriver* driver, const std::vector<Offer>& offers) override {
    const Resources perTask = *Resources::parse("cpus:0.1;mem:32");
    for (const Offer& offer : offers) {
      Resources left = offer.resources;
      std::vector<TaskInfo> tasks;
      while (launched_ < kTasks && left.contains(perTask)) {
        TaskInfo task;
        task.taskId.value = "hello-" + std::to_string(launched_++);
        task.name = task.taskId.value;
        task.agentId = offer.agentId;
        task.resources = perTask;
        task.command.value = "echo hello from $CLUSTERNODES_TASK_ID on $(uname -n)";
        left -= perTask;
        tasks.push_back(task);
      }
      if (tasks.empty()) driver->declineOffer(offer.id, Filters{60});  // nothing to run here: not for a minute
      else driver->launchTasks({offer.id}, tasks);
    }
  }

  void statusUpdate(SchedulerDriver* driver, const TaskStatus& status) override {
    std::printf("%s %s %s\n", status.taskId.value.c_str(), toString(status.state), status.message.c_str());
    if (!isTerminal(status.state)) return;
    if (status.state == TaskState::kFinished) ++finished_;
    if (++ended_ == kTasks) driver->stop();  // tears the framework down; run() returns
  }

  bool allFinished() const { return finished_ == kTasks; }

 private:
  static constexpr int kTasks = 3;
  int launched_ = 0;  // no locks: callbacks run one at a time, on the driver's thread
  int ended_ = 0;
  int finished_ = 0;
};

int main(int argc, char** argv) {
  HelloScheduler scheduler;
  FrameworkInfo framework;
  framework.name = "hello";
  auto driver = SchedulerDriver::create(&scheduler, framework, {.master = argc > 1 ? argv[1] : "127.0.0.1:5050"});
  driver->run();  // registers, then blocks until stop() or an error
  return scheduler.allFinished() ? 0 : 1;
}
