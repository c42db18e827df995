#include "spark/local_backend.hpp"

#include <unistd.h>

#include <atomic>
#include <filesystem>

namespace clusternodes::spark {

namespace fs = std::filesystem;

struct LocalBackend::Executor {
  struct Queued {
    int64_t taskId;
    int stageId;
    int partition;
    int attempt;
    std::string encoded;
  };
  std::string id;
  std::string dir;
  std::unique_ptr<DirShuffleStore> shuffle;
  MemoryBlockCache cache;
  std::unique_ptr<TaskRunner> runner;
  std::deque<Queued> queue;
  std::condition_variable cv;
  bool lost = false;
  bool stopping = false;
  int running = 0;
  int completed = 0;
  std::vector<std::thread> threads;
};

namespace {

TaskResult lostResult(int64_t taskId, int stageId, int partition, int attempt, const std::string& executorId) {
  TaskResult r;
  r.taskId = taskId;
  r.stageId = stageId;
  r.partition = partition;
  r.attempt = attempt;
  r.executorId = executorId;
  r.status = TaskStatus::kExecutorLost;
  r.error = "executor " + executorId + " was lost";
  return r;
}

}  // namespace

LocalBackend::LocalBackend(const FunctionRegistry& registry, LocalOptions options)
    : registry_(registry), options_(std::move(options)) {}

LocalBackend::~LocalBackend() { stop(); }

Result<void> LocalBackend::start() {
  {
    std::lock_guard lock(mu_);
    if (started_) return {};
    started_ = true;
  }
  if (options_.executors < 1 || options_.coresPerExecutor < 1) {
    return invalid("local mode needs at least one executor with at least one core");
  }
  std::error_code ec;
  if (options_.scratchDir.empty()) {
    static std::atomic<int> counter{0};
    fs::path base = fs::temp_directory_path(ec);
    if (ec) base = "/tmp";
    scratch_ = (base / ("cn-spark-" + std::to_string(::getpid()) + "-" + std::to_string(++counter))).string();
    ownScratch_ = true;
  } else {
    scratch_ = options_.scratchDir;
  }
  fs::create_directories(scratch_, ec);
  if (ec) return internalError("cannot create " + scratch_ + ": " + ec.message());
  for (int i = 0; i < options_.executors; ++i) addExecutor();
  return {};
}

std::string LocalBackend::addExecutor() {
  std::lock_guard lock(mu_);
  auto e = std::make_unique<Executor>();
  e->id = "local-" + std::to_string(nextExecutor_++);
  e->dir = scratch_ + "/" + e->id;
  e->shuffle = std::make_unique<DirShuffleStore>(e->id, e->dir);
  e->runner = std::make_unique<TaskRunner>(e->id, registry_, *e->shuffle, e->cache);
  Executor* raw = e.get();
  for (int c = 0; c < options_.coresPerExecutor; ++c) raw->threads.emplace_back([this, raw] { work(raw); });
  executors_.push_back(std::move(e));
  BackendEvent event;
  event.kind = BackendEvent::Kind::kExecutorAdded;
  event.executorId = raw->id;
  push(std::move(event));
  return raw->id;
}

void LocalBackend::stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    for (auto& e : executors_) {
      e->stopping = true;
      e->cv.notify_all();
      for (auto& t : e->threads) threads.push_back(std::move(t));
      e->threads.clear();
    }
  }
  for (auto& t : threads) t.join();
  if (ownScratch_) {
    std::error_code ec;
    fs::remove_all(scratch_, ec);
  }
}

void LocalBackend::push(BackendEvent event) {
  events_.push_back(std::move(event));
  eventsCv_.notify_one();
}

void LocalBackend::submit(TaskDescription task) {
  std::lock_guard lock(mu_);
  Executor* chosen = nullptr;
  for (auto& e : executors_) {
    if (!e->lost && e->id == task.preferredExecutor) chosen = e.get();
  }
  if (chosen == nullptr) {
    // The least loaded live executor; ties go round-robin.
    size_t n = executors_.size();
    for (size_t k = 0; k < n; ++k) {
      Executor* e = executors_[(roundRobin_ + k) % n].get();
      if (e->lost) continue;
      if (chosen == nullptr || e->queue.size() + e->running < chosen->queue.size() + chosen->running) chosen = e;
    }
    ++roundRobin_;
  }
  if (chosen == nullptr || stopped_) {
    BackendEvent event;
    event.result = lostResult(task.taskId, task.stageId, task.partition, task.attempt, "");
    event.result.status = TaskStatus::kFailed;
    event.result.error = "no live executor to run the task";
    push(std::move(event));
    return;
  }
  chosen->queue.push_back({task.taskId, task.stageId, task.partition, task.attempt, encodeTask(task)});
  chosen->cv.notify_one();
}

void LocalBackend::work(Executor* e) {
  for (;;) {
    Executor::Queued item;
    {
      std::unique_lock lock(mu_);
      e->cv.wait(lock, [e] { return e->lost || e->stopping || !e->queue.empty(); });
      if (e->lost || e->stopping) return;
      item = std::move(e->queue.front());
      e->queue.pop_front();
      ++e->running;
    }
    TaskResult result;
    auto task = decodeTask(item.encoded);
    if (task) {
      result = e->runner->run(*task);
    } else {
      result = lostResult(item.taskId, item.stageId, item.partition, item.attempt, e->id);
      result.status = TaskStatus::kFailed;
      result.error = task.error().message;
    }
    auto decoded = decodeTaskResult(encodeTaskResult(result));
    std::lock_guard lock(mu_);
    --e->running;
    ++e->completed;
    BackendEvent event;
    if (e->lost) {
      event.result = lostResult(item.taskId, item.stageId, item.partition, item.attempt, e->id);
    } else if (decoded) {
      event.result = std::move(*decoded);
    } else {
      event.result = lostResult(item.taskId, item.stageId, item.partition, item.attempt, e->id);
      event.result.status = TaskStatus::kFailed;
      event.result.error = decoded.error().message;
    }
    push(std::move(event));
  }
}

std::optional<BackendEvent> LocalBackend::nextEvent(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (!eventsCv_.wait_for(lock, timeout, [this] { return !events_.empty(); })) return std::nullopt;
  BackendEvent event = std::move(events_.front());
  events_.pop_front();
  return event;
}

int LocalBackend::totalCores() const {
  std::lock_guard lock(mu_);
  int cores = 0;
  for (const auto& e : executors_) {
    if (!e->lost) cores += options_.coresPerExecutor;
  }
  return cores;
}

bool LocalBackend::loseExecutor(const std::string& executorId) {
  std::lock_guard lock(mu_);
  for (auto& e : executors_) {
    if (e->id != executorId || e->lost) continue;
    e->lost = true;
    e->cache.clear();
    std::error_code ec;
    fs::remove_all(e->dir, ec);
    BackendEvent lostEvent;
    lostEvent.kind = BackendEvent::Kind::kExecutorLost;
    lostEvent.executorId = e->id;
    lostEvent.reason = "lost on request";
    push(std::move(lostEvent));
    for (const auto& q : e->queue) {
      BackendEvent event;
      event.result = lostResult(q.taskId, q.stageId, q.partition, q.attempt, e->id);
      push(std::move(event));
    }
    e->queue.clear();
    e->cv.notify_all();
    return true;
  }
  return false;
}

std::vector<std::string> LocalBackend::executors() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> ids;
  for (const auto& e : executors_) {
    if (!e->lost) ids.push_back(e->id);
  }
  return ids;
}

std::map<std::string, int> LocalBackend::tasksRun() const {
  std::lock_guard lock(mu_);
  std::map<std::string, int> out;
  for (const auto& e : executors_) out[e->id] = e->completed;
  return out;
}

MemoryBlockCache* LocalBackend::cache(const std::string& executorId) {
  std::lock_guard lock(mu_);
  for (auto& e : executors_) {
    if (e->id == executorId && !e->lost) return &e->cache;
  }
  return nullptr;
}

}  // namespace clusternodes::spark
