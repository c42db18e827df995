#include "mapreduce/executor.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "support/program.hpp"
#include "mapreduce/map_task.hpp"
#include "mapreduce/util.hpp"

namespace clusternodes::mapreduce {

namespace fs = std::filesystem;

namespace {

TaskStatus statusOf(const TaskID& taskId, TaskState state, std::string message = "", std::string data = "") {
  TaskStatus status;
  status.taskId = taskId;
  status.state = state;
  status.message = std::move(message);
  status.data = std::move(data);
  return status;
}

}  // namespace

TaskTracker::TaskTracker(std::string sandbox, Fetcher fetch) : fetch_(std::move(fetch)) {
  if (sandbox.empty()) {
    const char* env = std::getenv("CLUSTERNODES_SANDBOX");
    sandbox = env != nullptr && *env != '\0' ? env : fs::current_path().string();
  }
  std::error_code ec;
  auto absolute = fs::absolute(sandbox, ec);
  sandbox_ = ec ? sandbox : absolute.lexically_normal().string();
}

TaskTracker::~TaskTracker() { cancelAndJoin(); }

std::string TaskTracker::downloadUrl(const std::string& agentHttpUrl, const std::string& path) {
  std::string base = agentHttpUrl;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/files/download?path=" + support::urlEncode(path);
}

void TaskTracker::registered(ExecutorDriver*, const ExecutorInfo&, const FrameworkID& frameworkId,
                             const FrameworkInfo&, const ExecutorAgentInfo& agent) {
  std::lock_guard<std::mutex> lock(mutex_);
  agentHttpUrl_ = agent.httpUrl;
  spdlog::info("tasktracker of framework {} registered with agent {} ({}), sandbox {}", frameworkId.value,
               agent.id.value, agent.httpUrl, sandbox_);
}

void TaskTracker::reregistered(ExecutorDriver*, const ExecutorAgentInfo& agent) {
  std::lock_guard<std::mutex> lock(mutex_);
  agentHttpUrl_ = agent.httpUrl;
}

void TaskTracker::launchTask(ExecutorDriver* driver, const TaskInfo& task) {
  auto spec = decodeTaskSpec(task.data);
  if (!spec) {
    driver->sendStatusUpdate(statusOf(task.taskId, TaskState::kFailed, spec.error().message));
    return;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  reapFinished();
  if (tasks_.count(task.taskId.value) > 0) {
    spdlog::warn("task {} launched twice; ignoring the second launch", task.taskId.value);
    return;
  }
  auto running = std::make_shared<Running>();
  tasks_[task.taskId.value] = running;
  driver->sendStatusUpdate(statusOf(task.taskId, TaskState::kRunning));
  running->thread = std::thread(&TaskTracker::run, this, driver, task.taskId, std::move(*spec), running);
}

void TaskTracker::killTask(ExecutorDriver* driver, const TaskID& taskId) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = tasks_.find(taskId.value);
  if (it == tasks_.end()) {
    driver->sendStatusUpdate(statusOf(taskId, TaskState::kKilled, "not running here"));
    return;
  }
  it->second->cancel = true;  // its thread reports TASK_KILLED (or its result, if already done)
}

void TaskTracker::shutdown(ExecutorDriver*) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [id, running] : tasks_) running->cancel = true;
}

void TaskTracker::error(ExecutorDriver*, const std::string& message) {
  spdlog::error("tasktracker: {}", message);
}

void TaskTracker::reapFinished() {
  for (auto it = tasks_.begin(); it != tasks_.end();) {
    if (it->second->done) {
      if (it->second->thread.joinable()) it->second->thread.join();
      it = tasks_.erase(it);
    } else {
      ++it;
    }
  }
}

void TaskTracker::joinAll() {
  std::map<std::string, std::shared_ptr<Running>> tasks;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    tasks.swap(tasks_);
  }
  for (auto& [id, running] : tasks) {
    if (running->thread.joinable()) running->thread.join();
  }
}

void TaskTracker::cancelAndJoin() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [id, running] : tasks_) running->cancel = true;
  }
  joinAll();
}

void TaskTracker::run(ExecutorDriver* driver, TaskID taskId, TaskSpec spec, std::shared_ptr<Running> running) {
  TaskStatus status;
  try {
    if (spec.type == TaskType::kMap) {
      std::string dir = sandbox_ + "/map-" + std::to_string(spec.index) + "-a" + std::to_string(spec.attempt);
      MapOutput output = runMapTask(spec.job, spec.split, dir, &running->cancel);
      std::string agentUrl;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        agentUrl = agentHttpUrl_;
      }
      if (agentUrl.empty()) throw TaskError("the agent's HTTP address is unknown (the executor is not registered)");
      std::vector<std::string> urls;
      for (const auto& file : output.files) urls.push_back(downloadUrl(agentUrl, file));
      status = statusOf(taskId, TaskState::kFinished, "",
                        encodeMapResult(urls, output.stats.bytesRead, output.stats.recordsIn, output.stats.recordsOut,
                                        output.stats.partitionBytes));
    } else {
      ReduceOutcome outcome = runReduceTask(spec.job, spec.index, spec.inputs, spec.output,
                                            attemptId(spec.task, spec.attempt), fetch_, &running->cancel);
      if (!outcome.fetchFailed.empty()) {
        status = statusOf(taskId, TaskState::kFailed, outcome.fetchError,
                          encodeFetchFailure(outcome.fetchFailed, outcome.fetchError));
      } else {
        status = statusOf(taskId, TaskState::kFinished, "",
                          encodeReduceResult(outcome.outputFile, outcome.stats.bytesFetched, outcome.stats.recordsIn,
                                             outcome.stats.recordsOut, outcome.stats.bytesOut));
      }
    }
  } catch (const TaskCancelled&) {
    status = statusOf(taskId, TaskState::kKilled, "killed");
  } catch (const std::exception& e) {
    status = statusOf(taskId, TaskState::kFailed, e.what());
  }
  if (status.state != TaskState::kKilled && running->cancel && status.state != TaskState::kFinished) {
    status = statusOf(taskId, TaskState::kKilled, "killed");
  }
  driver->sendStatusUpdate(status);
  running->done = true;
}

}  // namespace clusternodes::mapreduce
