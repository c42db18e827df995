#include "spark/executor.hpp"

#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "support/program.hpp"

namespace clusternodes::spark {

namespace fs = std::filesystem;

// ---- HttpShuffleStore -----------------------------------------------------------

HttpShuffleStore::HttpShuffleStore(std::string executorId, std::string dir, std::string fileUrl)
    : executorId_(std::move(executorId)), dir_(std::move(dir)), local_(executorId_, dir_) {
  while (!fileUrl.empty() && fileUrl.back() == '/') fileUrl.pop_back();
  address_ = fileUrl + "/files/download?path=" + support::urlEncode(dir_);
}

Result<MapOutputLocation> HttpShuffleStore::write(int shuffleId, int mapPartition,
                                                  const std::vector<std::string>& runs) {
  auto written = local_.write(shuffleId, mapPartition, runs);
  if (!written) return written.error();
  return MapOutputLocation{executorId_, address_};
}

Result<std::string> HttpShuffleStore::read(const MapOutputLocation& location, int shuffleId, int mapPartition,
                                           int reducePartition) {
  std::string run = "/" + DirShuffleStore::runPath(shuffleId, mapPartition, reducePartition);
  if (location.executorId == executorId_ && location.address == address_) {
    return local_.read(MapOutputLocation{executorId_, dir_}, shuffleId, mapPartition, reducePartition);
  }
  std::string url = location.address + support::urlEncode(run);
  Error last{ErrorCode::kUnavailable, "not tried"};
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200 * attempt));
    auto response = support::fetch(url, 120);
    if (!response) {
      last = Error{ErrorCode::kUnavailable, "cannot fetch shuffle output from executor " + location.executorId +
                                                ": " + response.error().message};
      continue;
    }
    if (response->status == 200) return std::move(response->body);
    if (response->status == 404) {
      return notFound("shuffle output " + run + " of executor " + location.executorId + " is gone (HTTP 404)");
    }
    last = Error{ErrorCode::kUnavailable, "HTTP " + std::to_string(response->status) + " fetching shuffle output " +
                                              run + " of executor " + location.executorId};
  }
  return last;
}

// ---- SparkExecutor ----------------------------------------------------------------

SparkExecutor::SparkExecutor(const FunctionRegistry& registry, std::string sandbox) : registry_(registry) {
  if (sandbox.empty()) {
    const char* env = std::getenv("CLUSTERNODES_SANDBOX");
    std::error_code ec;
    sandbox = env != nullptr && *env != '\0' ? env : fs::current_path(ec).string();
  }
  std::error_code ec;
  auto absolute = fs::absolute(sandbox, ec);
  sandbox_ = ec ? sandbox : absolute.lexically_normal().string();
}

SparkExecutor::~SparkExecutor() { stopWorkers(); }

void SparkExecutor::registered(ExecutorDriver* driver, const ExecutorInfo& executor, const FrameworkID& frameworkId,
                               const FrameworkInfo&, const ExecutorAgentInfo& agent) {
  std::lock_guard lock(mu_);
  driver_ = driver;
  if (runner_) return;  // registered again after an agent restart
  executorId_ = executor.executorId.value;
  fileUrl_ = agent.httpUrl;
  shuffle_ = std::make_unique<HttpShuffleStore>(executorId_, sandbox_ + "/shuffle", fileUrl_);
  runner_ = std::make_unique<TaskRunner>(executorId_, registry_, *shuffle_, cache_);
  spdlog::info("spark executor {} of framework {} registered with agent {} ({}), sandbox {}", executorId_,
               frameworkId.value, agent.id.value, agent.httpUrl, sandbox_);
}

void SparkExecutor::launchTask(ExecutorDriver* driver, const TaskInfo& task) {
  clusternodes::TaskStatus status;
  status.taskId = task.taskId;
  {
    std::lock_guard lock(mu_);
    driver_ = driver;
    if (!holder_.value.empty() || !runner_) {
      status.state = TaskState::kFailed;
      status.message = holder_.value.empty() ? "the executor is not registered"
                                             : "the executor already holds task " + holder_.value;
    } else {
      holder_ = task.taskId;
      cores_ = std::max(1, static_cast<int>(std::floor(task.resources.cpus() + 1e-9)));
      for (int i = 0; i < cores_; ++i) {
        ++alive_;
        workers_.emplace_back([this] { work(); });
      }
      heartbeat_ = std::thread([this] { beat(); });
      status.state = TaskState::kRunning;
      spdlog::info("spark executor {}: {} worker threads", executorId_, cores_);
    }
  }
  driver->sendStatusUpdate(status);
}

void SparkExecutor::killTask(ExecutorDriver* driver, const TaskID& taskId) {
  {
    std::lock_guard lock(mu_);
    if (taskId != holder_) return;
  }
  // The driver gives the executor up: report the holder killed, then go.
  clusternodes::TaskStatus status;
  status.taskId = taskId;
  status.state = TaskState::kKilled;
  driver->sendStatusUpdate(status);
  stopWorkers(std::chrono::milliseconds(0));
  driver->stop();
}

void SparkExecutor::frameworkMessage(ExecutorDriver* driver, const std::string& data) {
  auto message = decodeDriverMessage(data);
  if (!message) {
    spdlog::warn("spark executor {}: dropped a message from the driver: {}", executorId_, message.error().message);
    return;
  }
  std::lock_guard lock(mu_);
  driver_ = driver;
  if (message->kind == DriverMessage::Kind::kAck) {
    for (int64_t id : message->acked) {
      auto it = unacked_.find(id);
      if (it == unacked_.end()) continue;
      if (!it->second.file.empty()) {
        std::error_code ec;
        fs::remove(it->second.file, ec);
      }
      unacked_.erase(it);
    }
    return;
  }
  // A launch. The task id is all the executor needs to know it again; the
  // rest is decoded by the worker.
  auto task = decodeTask(message->task);
  if (!task) {
    spdlog::warn("spark executor {}: dropped a malformed task: {}", executorId_, task.error().message);
    return;
  }
  int64_t id = task->taskId;
  if (!seen_.insert(id).second) {
    // Launched again: the driver missed the result (re-send it) or the
    // launch crossed a heartbeat (nothing to do).
    if (auto it = unacked_.find(id); it != unacked_.end()) {
      it->second.sentAt = std::chrono::steady_clock::now();
      send(it->second.message);
    }
    return;
  }
  spdlog::debug("spark executor {}: task {}", executorId_, id);
  queue_.emplace_back(id, std::move(message->task));
  cv_.notify_all();  // the heartbeat waits on cv_ too
}

void SparkExecutor::shutdown(ExecutorDriver*) { stopWorkers(std::chrono::milliseconds(0)); }

void SparkExecutor::error(ExecutorDriver*, const std::string& message) {
  spdlog::error("spark executor {}: {}", executorId_, message);
}

void SparkExecutor::send(const std::string& message) {
  if (driver_ != nullptr) driver_->sendFrameworkMessage(message);
}

std::string SparkExecutor::resultMessage(int64_t taskId, const std::string& encoded, std::string& file) {
  if (encoded.size() <= kInlineResultLimit) return encodeResult(encoded);
  std::error_code ec;
  fs::create_directories(sandbox_ + "/results", ec);
  file = sandbox_ + "/results/task-" + std::to_string(taskId);
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(encoded.data(), static_cast<std::streamsize>(encoded.size()));
  out.close();
  if (!out) {
    // Say so in a small result rather than lose the task.
    file.clear();
    auto decoded = decodeTaskResult(encoded);
    TaskResult failed;
    if (decoded) failed = std::move(*decoded);
    failed.taskId = taskId;
    failed.status = TaskStatus::kFailed;
    failed.error = "cannot write a " + std::to_string(encoded.size()) + "-byte result to " + sandbox_ + "/results";
    failed.result.clear();
    failed.cachedBlocks.clear();
    return encodeResult(encodeTaskResult(failed));
  }
  return encodeResultFile(ResultFile{taskId, file, static_cast<int64_t>(encoded.size())});
}

void SparkExecutor::work() {
  for (;;) {
    std::pair<int64_t, std::string> item;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) break;
      item = std::move(queue_.front());
      queue_.pop_front();
      running_.insert(item.first);
    }
    TaskResult result;
    auto task = decodeTask(item.second);
    if (task) {
      result = runner_->run(*task);
    } else {
      result.taskId = item.first;
      result.executorId = executorId_;
      result.status = TaskStatus::kFailed;
      result.error = task.error().message;
    }
    spdlog::debug("spark executor {}: task {} ended {}{}", executorId_, item.first, toString(result.status),
                  result.error.empty() ? "" : ": " + result.error);
    std::string file;
    std::string message = resultMessage(item.first, encodeTaskResult(result), file);
    std::lock_guard lock(mu_);
    running_.erase(item.first);
    unacked_[item.first] = Unacked{message, std::chrono::steady_clock::now(), file};
    send(message);
  }
  std::lock_guard lock(mu_);
  --alive_;
  cv_.notify_all();
}

void SparkExecutor::beat() {
  using namespace std::chrono_literals;
  std::unique_lock lock(mu_);
  while (!stopping_) {
    Heartbeat h;
    h.executorId = executorId_;
    h.cores = cores_;
    h.fileUrl = fileUrl_;
    h.sandbox = sandbox_;
    for (const auto& q : queue_) h.tasks.push_back(q.first);
    h.tasks.insert(h.tasks.end(), running_.begin(), running_.end());
    auto now = std::chrono::steady_clock::now();
    for (auto& [id, u] : unacked_) {
      h.tasks.push_back(id);
      if (now - u.sentAt >= 2s) {
        u.sentAt = now;
        send(u.message);
      }
    }
    send(encodeHeartbeat(h));
    cv_.wait_for(lock, 1s, [this] { return stopping_; });
  }
}

bool SparkExecutor::stopWorkers(std::chrono::milliseconds wait) {
  std::vector<std::thread> workers;
  std::thread heartbeat;
  {
    std::unique_lock lock(mu_);
    stopping_ = true;
    cv_.notify_all();
    workers.swap(workers_);
    heartbeat.swap(heartbeat_);
  }
  if (heartbeat.joinable()) {
    if (heartbeat.get_id() == std::this_thread::get_id()) {
      heartbeat.detach();
    } else {
      heartbeat.join();
    }
  }
  bool ended;
  {
    std::unique_lock lock(mu_);
    ended = cv_.wait_for(lock, wait, [this] { return alive_ == 0; });
  }
  for (auto& t : workers) {
    if (ended) {
      t.join();
    } else {
      t.detach();  // still in a task; the process exits without it
      detached_ = true;
    }
  }
  return !detached_;
}

int runExecutor(const FunctionRegistry& registry) {
  // The agent keeps the executor's stderr in its sandbox.
  const char* level = std::getenv("CLUSTERNODES_SPARK_LOG_LEVEL");
  if (auto logging = support::setupLogging("spark-executor", level != nullptr && *level != '\0' ? level : "info"); !logging) {
    std::fprintf(stderr, "spark executor: %s\n", logging.error().message.c_str());
  }
  auto executor = std::make_unique<SparkExecutor>(registry);
  DriverStatus status;
  bool clean;
  {
    auto driver = ExecutorDriver::create(executor.get());
    status = driver->run();
    clean = executor->stopWorkers();
  }
  int code = status == DriverStatus::kStopped ? 0 : 1;
  if (!clean) {
    // A worker is still inside a task that holds the executor: leave
    // without destroying what it uses.
    std::fflush(nullptr);
    std::_Exit(code);
  }
  executor.reset();
  return code;
}

}  // namespace clusternodes::spark
