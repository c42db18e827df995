// launch-tasks: launches N copies of a command across whatever offers
// arrive, waits until every task has ended, and reports.
//
//   launch-tasks --master=127.0.0.1:5050 --tasks=100 --cpus=0.1 --mem=32 --command='echo hi'
//
// Prints one line per task that did not finish ("task-7 TASK_FAILED: command
// exited with status 3") and a last line "finished K/N"; exits 0 only when
// every task finished.
#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>

#include "clusternodes/scheduler.hpp"

using namespace clusternodes;

namespace {

class LaunchScheduler : public Scheduler {
 public:
  LaunchScheduler(int tasks, Resources perTask, std::string command, std::string prefix)
      : total_(tasks), perTask_(std::move(perTask)), command_(std::move(command)), prefix_(std::move(prefix)) {}

  void registered(SchedulerDriver*, const FrameworkID& id, const MasterInfo& master) override {
    std::fprintf(stderr, "registered as framework %s with %s\n", id.value.c_str(), master.address.c_str());
  }

  void resourceOffers(SchedulerDriver* driver, const std::vector<Offer>& offers) override {
    for (const auto& offer : offers) {
      Resources remaining = offer.resources;
      std::vector<TaskInfo> tasks;
      while (launched_ < total_ && remaining.contains(perTask_)) {
        TaskInfo task;
        task.taskId.value = prefix_ + std::to_string(launched_);
        task.name = task.taskId.value;
        task.agentId = offer.agentId;
        task.resources = perTask_;
        task.command.value = command_;
        remaining -= perTask_;
        tasks.push_back(std::move(task));
        ++launched_;
      }
      if (tasks.empty()) {
        // Nothing left to launch, or the offer is too small: do not ask again soon.
        driver->declineOffer(offer.id, Filters{launched_ < total_ ? 1.0 : 3600.0});
        continue;
      }
      // While tasks remain, what this offer has left must come back at once.
      driver->launchTasks({offer.id}, tasks, Filters{launched_ < total_ ? 0.0 : 3600.0});
    }
    if (launched_ >= total_) driver->suppressOffers();
  }

  void statusUpdate(SchedulerDriver* driver, const TaskStatus& status) override {
    if (!isTerminal(status.state)) return;
    std::lock_guard<std::mutex> lock(mutex_);
    if (status.state == TaskState::kFinished) {
      ++finished_;
    } else {
      std::printf("%s %s: %s\n", status.taskId.value.c_str(), toString(status.state), status.message.c_str());
      std::fflush(stdout);
    }
    if (++ended_ == total_) {
      done_ = true;
      changed_.notify_all();
    }
  }

  void error(SchedulerDriver*, const std::string& message) override {
    std::fprintf(stderr, "error: %s\n", message.c_str());
    std::lock_guard<std::mutex> lock(mutex_);
    failed_ = true;
    changed_.notify_all();
  }

  // Waits until every task ended, an error, or the timeout (0: none).
  bool wait(double timeoutSeconds) {
    std::unique_lock<std::mutex> lock(mutex_);
    auto ready = [this] { return done_ || failed_; };
    if (timeoutSeconds <= 0) {
      changed_.wait(lock, ready);
      return done_;
    }
    return changed_.wait_for(lock, std::chrono::duration<double>(timeoutSeconds), ready) && done_;
  }

  int finished() {
    std::lock_guard<std::mutex> lock(mutex_);
    return finished_;
  }

 private:
  int total_;
  Resources perTask_;
  std::string command_;
  std::string prefix_;
  int launched_ = 0;  // driver thread only
  std::mutex mutex_;
  std::condition_variable changed_;
  int finished_ = 0;
  int ended_ = 0;
  bool done_ = false;
  bool failed_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  std::string master = "127.0.0.1:5050";
  int tasks = 1;
  double cpus = 0.1;
  double mem = 32;
  std::string command;
  std::string name = "launch-tasks";
  std::string role = "*";
  double timeout = 0;
  CLI::App app("Launches N tasks running a command and waits for them all.", "launch-tasks");
  app.add_option("--master", master, "The master, HOST:PORT or zk://HOST:PORT[,...]/PATH")->capture_default_str();
  std::string keyFile, masterKeyFile;
  app.add_option("--key", keyFile, "The framework's CURVE key pair (NAME.key), for a master started with --key");
  app.add_option("--master-key", masterKeyFile, "The master's public CURVE key (its .pub), with --key");
  app.add_option("--tasks", tasks, "How many tasks")->capture_default_str()->check(CLI::Range(1, 10000000));
  app.add_option("--cpus", cpus, "cpus per task")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--mem", mem, "mem (MiB) per task")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--command", command, "Shell command each task runs")->required();
  app.add_option("--name", name, "Framework name")->capture_default_str();
  app.add_option("--role", role, "Role to take offers from")->capture_default_str();
  app.add_option("--timeout", timeout, "Give up after this many seconds (0: wait forever)")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {
      std::cout << app.help();
      return 0;
    }
    std::cerr << "launch-tasks: " << e.what() << "\n";
    return 2;
  }
  if (command.empty()) {
    std::cerr << "launch-tasks: --command is empty\n";
    return 2;
  }

  Resources perTask;
  perTask.addScalar("cpus", cpus);
  if (mem > 0) perTask.addScalar("mem", mem);

  LaunchScheduler scheduler(tasks, perTask, command, "task-");
  FrameworkInfo info;
  info.name = name;
  info.role = role;
  info.user = std::getenv("USER") != nullptr ? std::getenv("USER") : "root";
  auto driver = SchedulerDriver::create(&scheduler, info, {.master = master, .keyFile = keyFile, .masterKeyFile = masterKeyFile});
  if (driver->start() != DriverStatus::kRunning) {
    std::cerr << "launch-tasks: cannot start the driver\n";
    return 1;
  }
  bool complete = scheduler.wait(timeout);
  driver->stop();
  driver->join();
  int finished = scheduler.finished();
  std::printf("finished %d/%d\n", finished, tasks);
  if (!complete) std::fprintf(stderr, "launch-tasks: not every task ended in time\n");
  return finished == tasks ? 0 : 1;
}
