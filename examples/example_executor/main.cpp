// example-executor: a small custom executor, the SDK guide's example and the
// integration tests' executor. One process runs every task its framework
// sends to it on the agent; what a task does is its TaskInfo::data:
//
//   sleep:SECONDS   run that long, then finish
//   wait            run until killed
//   fail            fail at once
//   exit:CODE       make the whole executor exit with CODE (a crash)
//   tell:TEXT       send TEXT to the scheduler as a framework message, then finish
//   hog:MB          touch that many MiB of memory, then finish
//
// A finished task's TaskStatus::data is "pid=<the executor's pid>", so a
// scheduler can see that its tasks shared one executor. A framework message
// from the scheduler is answered with "echo:<message>".
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "clusternodes/executor.hpp"

using namespace clusternodes;

namespace {

class ExampleExecutor : public Executor {
 public:
  // Ends the tasks' threads; called while the driver still exists, since
  // they report through it.
  void stopAll() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto& [id, killed] : killed_) killed = true;
    }
    changed_.notify_all();
    for (auto& worker : workers_) worker.join();
    workers_.clear();
  }

  void launchTask(ExecutorDriver* driver, const TaskInfo& task) override {
    report(driver, task.taskId, TaskState::kRunning, "");
    const std::string& what = task.data;
    if (what == "fail") return report(driver, task.taskId, TaskState::kFailed, "the task was told to fail");
    if (what.rfind("exit:", 0) == 0) std::_Exit(std::atoi(what.c_str() + 5));
    if (what.rfind("tell:", 0) == 0) {
      driver->sendFrameworkMessage(what.substr(5));
      return finish(driver, task.taskId);
    }
    if (what.rfind("hog:", 0) == 0) {
      std::vector<char> memory(static_cast<size_t>(std::atol(what.c_str() + 4)) << 20);
      for (size_t i = 0; i < memory.size(); i += 4096) memory[i] = 1;
      return finish(driver, task.taskId);
    }
    double seconds = what.rfind("sleep:", 0) == 0 ? std::atof(what.c_str() + 6) : -1;
    std::lock_guard<std::mutex> lock(mutex_);
    killed_[task.taskId] = false;
    workers_.emplace_back([this, driver, taskId = task.taskId, seconds] {
      std::unique_lock<std::mutex> lock(mutex_);
      auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds < 0 ? 1e9 : seconds);
      bool killed = changed_.wait_until(lock, until, [&] { return killed_[taskId]; });
      lock.unlock();
      if (killed) {
        report(driver, taskId, TaskState::kKilled, "killed");
      } else {
        finish(driver, taskId);
      }
    });
  }

  void killTask(ExecutorDriver* driver, const TaskID& taskId) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = killed_.find(taskId);
    if (it == killed_.end()) return;
    it->second = true;
    changed_.notify_all();
  }

  void frameworkMessage(ExecutorDriver* driver, const std::string& data) override {
    driver->sendFrameworkMessage("echo:" + data);
  }

  // Every task is killed, and its TASK_KILLED handed to the driver, before
  // this returns: the driver sends what the shutdown reported, then ends.
  void shutdown(ExecutorDriver* driver) override { stopAll(); }

 private:
  static void report(ExecutorDriver* driver, const TaskID& taskId, TaskState state, const std::string& message,
                     const std::string& data = "") {
    TaskStatus status;
    status.taskId = taskId;
    status.state = state;
    status.message = message;
    status.data = data;
    driver->sendStatusUpdate(status);
  }
  static void finish(ExecutorDriver* driver, const TaskID& taskId) {
    report(driver, taskId, TaskState::kFinished, "", "pid=" + std::to_string(::getpid()));
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<TaskID, bool> killed_;
  std::vector<std::thread> workers_;
};

}  // namespace

int main() {
  ExampleExecutor executor;
  auto driver = ExecutorDriver::create(&executor);
  auto status = driver->run();
  executor.stopAll();
  return status == DriverStatus::kStopped ? 0 : 1;
}
