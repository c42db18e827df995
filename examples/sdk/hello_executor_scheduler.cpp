// hello-executor-scheduler [MASTER] [EXECUTOR]: runs three tasks through the
// framework's own executor, hello-executor, instead of as commands. It
// prints every status update (a finished task's carries the executor's
// greeting) and every framework message, and exits 0 once all three have
// finished. MASTER is the master's HOST:PORT (127.0.0.1:5050); EXECUTOR is
// hello-executor's path on the agents (by default: beside this program).
#include <clusternodes/scheduler.hpp>

#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

using namespace clusternodes;

class GreetingScheduler : public Scheduler {
 public:
  explicit GreetingScheduler(const std::string& executorPath) {
    executor_.executorId.value = "hello";  // one executor per framework and id on an agent
    executor_.name = "hello-executor";
    executor_.command.shell = false;
    executor_.command.arguments = {executorPath};
    executor_.resources = *Resources::parse("cpus:0.1;mem:32");  // its own, for its whole life
  }

  void resourceOffers(SchedulerDriver* driver, const std::vector<Offer>& offers) override {
    const Resources perTask = *Resources::parse("cpus:0.1;mem:32");
    for (const Offer& offer : offers) {
      Resources left = offer.resources;
      std::vector<TaskInfo> tasks;
      while (launched_ < names_.size()) {
        // The first task on an agent starts the executor there: the offer pays for both.
        bool startsExecutor = tasks.empty() && !executorOn_.contains(offer.agentId);
        Resources needed = startsExecutor ? perTask + executor_.resources : perTask;
        if (!left.contains(needed)) break;
        TaskInfo task;
        task.taskId.value = "greet-" + std::to_string(launched_);
        task.name = task.taskId.value;
        task.agentId = offer.agentId;
        task.resources = perTask;
        task.executor = executor_;         // no command: the executor knows what to do
        task.data = names_[launched_++];  // opaque bytes for the executor
        left -= needed;
        tasks.push_back(task);
      }
      if (tasks.empty()) {
        driver->declineOffer(offer.id, Filters{60});
        continue;
      }
      driver->launchTasks({offer.id}, tasks);
      executorOn_.insert(offer.agentId);
    }
  }

  void statusUpdate(SchedulerDriver* driver, const TaskStatus& status) override {
    const std::string& text = status.data.empty() ? status.message : status.data;
    std::printf("%s %s %s\n", status.taskId.value.c_str(), toString(status.state), text.c_str());
    if (!isTerminal(status.state)) return;
    if (status.state == TaskState::kFinished) ++finished_;
    if (++ended_ == names_.size()) driver->stop();
  }

  void frameworkMessage(SchedulerDriver* driver, const ExecutorID& executorId, const AgentID& agentId,
                        const std::string& data) override {
    std::printf("message from executor %s: %s\n", executorId.value.c_str(), data.c_str());
  }

  bool allFinished() const { return finished_ == names_.size(); }

 private:
  const std::vector<std::string> names_ = {"Ada", "Grace", "Barbara"};
  ExecutorInfo executor_;
  std::set<AgentID> executorOn_;  // agents where a task of ours started the executor
  size_t launched_ = 0;
  size_t ended_ = 0;
  size_t finished_ = 0;
};

int main(int argc, char** argv) {
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
  GreetingScheduler scheduler(argc > 2 ? argv[2] : (self.parent_path() / "hello-executor").string());
  FrameworkInfo framework;
  framework.name = "hello-executor";
  auto driver = SchedulerDriver::create(&scheduler, framework, {.master = argc > 1 ? argv[1] : "127.0.0.1:5050"});
  driver->run();
  return scheduler.allFinished() ? 0 : 1;
}
