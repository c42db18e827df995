#include "spark/cluster_backend.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "support/program.hpp"

namespace clusternodes::spark {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct ClusterBackend::Exec {
  enum class State { kLaunching, kReady, kLost };
  std::string id;
  std::string agentId;
  std::string hostname;
  std::string holderTask;
  State state = State::kLaunching;
  int cores = 0;
  std::string fileUrl;
  std::string sandbox;
  std::set<int64_t> running;  // outstanding task ids
  std::optional<Clock::time_point> lastHeartbeat;
  std::set<int64_t> heartbeatTasks;
  int tasksRun = 0;

  int free() const { return state == State::kReady ? cores - static_cast<int>(running.size()) : 0; }
};

namespace {

std::string shellQuote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted.push_back(c);
    }
  }
  return quoted + "'";
}

std::string selfCommand() {
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  // exec: the agent's pid for the executor is the program itself.
  return "exec " + shellQuote(ec ? std::string("/proc/self/exe") : self.string()) + " " + kExecutorFlag;
}

TaskResult lostResult(const TaskDescription& task, const std::string& executorId, const std::string& why) {
  TaskResult r;
  r.taskId = task.taskId;
  r.stageId = task.stageId;
  r.partition = task.partition;
  r.attempt = task.attempt;
  r.executorId = executorId;
  r.status = TaskStatus::kExecutorLost;
  r.error = why;
  return r;
}

std::string formatAmount(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

ClusterBackend::ClusterBackend(ClusterOptions options) : options_(std::move(options)) {
  if (options_.executorCommand.empty()) options_.executorCommand = selfCommand();
}

ClusterBackend::~ClusterBackend() { stop(); }

Result<void> ClusterBackend::start() {
  if (options_.executorCpus < 1) return invalid("--executor-cpus must be at least 1");
  if (options_.executorMem <= 0) return invalid("--executor-mem must be positive");
  if (options_.maxExecutors < 0) return invalid("--max-executors must not be negative");
  FrameworkInfo info;
  info.name = options_.name;
  const char* user = std::getenv("USER");
  info.user = user != nullptr ? user : "root";
  info.role = options_.role;
  {
    std::lock_guard lock(mu_);
    if (driver_) return invalid("the backend was started already");
    driver_ = SchedulerDriver::create(this, info, {.master = options_.master, .keyFile = options_.keyFile, .masterKeyFile = options_.masterKeyFile});
  }
  if (driver_->start() != DriverStatus::kRunning) return Error{ErrorCode::kUnavailable, "cannot start the scheduler driver"};
  auto deadline = Clock::now() + options_.startTimeout;
  std::unique_lock lock(mu_);
  for (;;) {
    if (!driverError_.empty()) return Error{ErrorCode::kUnavailable, driverError_};
    int ready = 0;
    int launching = 0;
    for (const auto& [id, e] : execs_) {
      if (e->state == Exec::State::kReady) ++ready;
      if (e->state == Exec::State::kLaunching) ++launching;
    }
    auto now = Clock::now();
    // Every executor asked for, or (no limit) the ones the first round of
    // offers gave, once none has come for 300 ms.
    if (ready > 0 && ((options_.maxExecutors > 0 && ready >= options_.maxExecutors) ||
                      (launching == 0 && now - lastReady_ >= 300ms))) {
      return {};
    }
    if (now >= deadline) {
      return Error{ErrorCode::kUnavailable, "no executor registered within " +
                         std::to_string(std::chrono::duration_cast<std::chrono::seconds>(options_.startTimeout).count()) +
                         " s (master " + options_.master + ")" + fitProblem()};
    }
    cv_.wait_until(lock, std::min(deadline, now + 100ms));
  }
}

void ClusterBackend::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopped_ || !driver_) {
      stopped_ = true;
      return;
    }
    stopped_ = true;
  }
  // Without failover: the master ends the holders, the agents the executors.
  driver_->stop();
  driver_->join();
}

std::string ClusterBackend::fitProblem() const {
  if (largestOffer_.empty()) return "";
  return "; an executor needs cpus:" + formatAmount(options_.executorCpus) + ";mem:" +
         formatAmount(options_.executorMem) + " but offers were smaller (for example " + largestOffer_ +
         "): lower --executor-cpus or --executor-mem";
}

int ClusterBackend::liveExecutors() const {
  int n = 0;
  for (const auto& [id, e] : execs_) n += e->state != Exec::State::kLost ? 1 : 0;
  return n;
}

void ClusterBackend::push(BackendEvent event) {
  events_.push_back(std::move(event));
  cv_.notify_all();
}

// ---- Scheduler callbacks --------------------------------------------------------

void ClusterBackend::registered(SchedulerDriver*, const FrameworkID& frameworkId, const MasterInfo& master) {
  std::lock_guard lock(mu_);
  frameworkId_ = frameworkId.value;
  if (!options_.quiet) {
    std::cerr << "spark: registered as framework " << frameworkId.value << " with master " << master.address
              << "\n";
  }
}

void ClusterBackend::resourceOffers(SchedulerDriver* driver, const std::vector<Offer>& offers) {
  std::lock_guard lock(mu_);
  for (const auto& offer : offers) {
    bool onAgent = false;
    for (const auto& [id, e] : execs_) {
      if (e->state != Exec::State::kLost && e->agentId == offer.agentId.value) onAgent = true;
    }
    bool full = options_.maxExecutors > 0 && liveExecutors() >= options_.maxExecutors;
    if (stopped_ || onAgent || full) {
      driver->declineOffer(offer.id, Filters{30});
      continue;
    }
    if (offer.resources.cpus() + 1e-9 < options_.executorCpus || offer.resources.mem() + 1e-9 < options_.executorMem) {
      largestOffer_ = "cpus:" + formatAmount(offer.resources.cpus()) + ";mem:" + formatAmount(offer.resources.mem()) +
                      " on " + offer.hostname;
      driver->declineOffer(offer.id, Filters{5});
      continue;
    }
    auto e = std::make_unique<Exec>();
    int n = nextExec_++;
    e->id = "exec-" + std::to_string(n);
    e->agentId = offer.agentId.value;
    e->hostname = offer.hostname;
    e->holderTask = "executor-" + std::to_string(n);
    TaskInfo task;
    task.taskId.value = e->holderTask;
    task.name = "spark executor " + e->id;
    task.agentId = offer.agentId;
    task.resources.addScalar("cpus", options_.executorCpus);
    task.resources.addScalar("mem", options_.executorMem);
    ExecutorInfo executor;
    executor.executorId.value = e->id;
    executor.name = options_.name + " executor";
    executor.command.value = options_.executorCommand;
    executor.command.shell = true;
    if (!options_.executorLogLevel.empty()) {
      executor.command.environment["CLUSTERNODES_SPARK_LOG_LEVEL"] = options_.executorLogLevel;
    }
    support::forwardHttpEnvironment(executor.command.environment);
    task.executor = executor;
    driver->launchTasks({offer.id}, {task}, Filters{30});
    holders_[e->holderTask] = e->id;
    if (!options_.quiet) {
      std::cerr << "spark: starting executor " << e->id << " on " << offer.hostname << " (agent "
                << offer.agentId.value << ")\n";
    }
    execs_[e->id] = std::move(e);
  }
  if (!suppressed_ && options_.maxExecutors > 0 && liveExecutors() >= options_.maxExecutors) {
    driver->suppressOffers();
    suppressed_ = true;
  }
}

void ClusterBackend::statusUpdate(SchedulerDriver*, const clusternodes::TaskStatus& status) {
  std::lock_guard lock(mu_);
  auto holder = holders_.find(status.taskId.value);
  if (holder == holders_.end() || !isTerminal(status.state)) return;
  auto it = execs_.find(holder->second);
  if (it == execs_.end()) return;
  std::string why = std::string("its holder task ended ") + toString(status.state);
  if (status.reason != TaskReason::kNone) why += std::string(" (") + toString(status.reason) + ")";
  if (!status.message.empty()) why += ": " + status.message;
  lose(*it->second, why);
}

void ClusterBackend::frameworkMessage(SchedulerDriver* driver, const ExecutorID& executorId, const AgentID& agentId,
                                      const std::string& data) {
  std::lock_guard lock(mu_);
  auto it = execs_.find(executorId.value);
  if (it == execs_.end() || it->second->state == Exec::State::kLost) return;
  Exec& e = *it->second;
  auto message = decodeExecutorMessage(data);
  if (!message) {
    spdlog::warn("spark: dropped a malformed message from executor {}: {}", e.id, message.error().message);
    return;
  }
  switch (message->kind) {
    case ExecutorMessage::Kind::kHeartbeat: {
      const Heartbeat& h = message->heartbeat;
      if (e.state == Exec::State::kLaunching) {
        e.state = Exec::State::kReady;
        e.cores = std::max(1, h.cores);
        e.fileUrl = h.fileUrl;
        e.sandbox = h.sandbox;
        lastReady_ = Clock::now();
        noExecutorSince_.reset();
        if (!options_.quiet) {
          std::cerr << "spark: executor " << e.id << " on " << e.hostname << " ready with " << e.cores
                    << " cores\n";
        }
        BackendEvent added;
        added.kind = BackendEvent::Kind::kExecutorAdded;
        added.executorId = e.id;
        push(std::move(added));
      }
      e.lastHeartbeat = Clock::now();
      e.heartbeatTasks = std::set<int64_t>(h.tasks.begin(), h.tasks.end());
      break;
    }
    case ExecutorMessage::Kind::kResult: {
      auto result = decodeTaskResult(message->result);
      if (!result) {
        spdlog::warn("spark: dropped a malformed result from executor {}: {}", e.id, result.error().message);
        return;
      }
      driver->sendFrameworkMessage(executorId, agentId, encodeAck({result->taskId}));
      spdlog::debug("spark: task {} ended {} on executor {}", result->taskId, toString(result->status), e.id);
      auto o = outstanding_.find(result->taskId);
      if (o == outstanding_.end() || o->second.executorId != e.id) break;  // a repeat
      outstanding_.erase(o);
      e.running.erase(result->taskId);
      ++e.tasksRun;
      BackendEvent ended;
      ended.result = std::move(*result);
      push(std::move(ended));
      break;
    }
    case ExecutorMessage::Kind::kResultFile: {
      auto o = outstanding_.find(message->file.taskId);
      if (o == outstanding_.end() || o->second.executorId != e.id) {
        driver->sendFrameworkMessage(executorId, agentId, encodeAck({message->file.taskId}));
        break;
      }
      if (o->second.fetching) break;
      o->second.fetching = true;
      files_.push_back(message->file);
      fileExecutors_[message->file.taskId] = e.id;
      cv_.notify_all();
      break;
    }
  }
  dispatch();
}

void ClusterBackend::agentLost(SchedulerDriver*, const AgentID& agentId) {
  std::lock_guard lock(mu_);
  for (auto& [id, e] : execs_) {
    if (e->agentId == agentId.value) lose(*e, "its agent " + agentId.value + " was lost");
  }
}

void ClusterBackend::executorLost(SchedulerDriver*, const ExecutorID& executorId, const AgentID&, int status) {
  std::lock_guard lock(mu_);
  auto it = execs_.find(executorId.value);
  if (it != execs_.end()) lose(*it->second, "it exited with status " + std::to_string(status));
}

void ClusterBackend::error(SchedulerDriver*, const std::string& message) {
  std::lock_guard lock(mu_);
  driverError_ = message.empty() ? "the scheduler driver failed" : "the scheduler driver failed: " + message;
  for (auto& [id, e] : execs_) lose(*e, driverError_);
  cv_.notify_all();
}

// ---- mu_ held --------------------------------------------------------------------

void ClusterBackend::lose(Exec& e, const std::string& reason) {
  if (e.state == Exec::State::kLost) return;
  bool wasReady = e.state == Exec::State::kReady;
  e.state = Exec::State::kLost;
  // A ready executor's loss is the Context's to report (with what it took).
  if (!options_.quiet && !wasReady) {
    std::cerr << "spark: executor " << e.id << " on " << e.hostname << " ended before it was ready: " << reason << "\n";
  }
  if (wasReady) {
    BackendEvent lost;
    lost.kind = BackendEvent::Kind::kExecutorLost;
    lost.executorId = e.id;
    lost.reason = reason;
    push(std::move(lost));
  }
  for (int64_t id : e.running) {
    auto o = outstanding_.find(id);
    if (o == outstanding_.end()) continue;
    BackendEvent ended;
    ended.result = lostResult(o->second.task, e.id, "executor " + e.id + " was lost: " + reason);
    push(std::move(ended));
    outstanding_.erase(o);
  }
  e.running.clear();
  if (driver_ && !stopped_) {
    driver_->killTask(TaskID{e.holderTask});  // when it is not already over
    driver_->reviveOffers();                  // for a replacement
  }
  suppressed_ = false;
}

void ClusterBackend::dispatch() {
  if (!driver_ || stopped_) return;
  auto now = Clock::now();
  for (auto it = queue_.begin(); it != queue_.end();) {
    Exec* target = nullptr;
    Exec* preferred = nullptr;
    if (!it->task.preferredExecutor.empty()) {
      auto p = execs_.find(it->task.preferredExecutor);
      if (p != execs_.end() && p->second->state == Exec::State::kReady) preferred = p->second.get();
    }
    bool anyFree = false;
    for (auto& [id, e] : execs_) {
      if (e->free() <= 0) continue;
      anyFree = true;
      if (target == nullptr || e->free() > target->free()) target = e.get();
    }
    if (!anyFree) break;
    if (preferred != nullptr) {
      if (preferred->free() > 0) {
        target = preferred;
      } else if (now - it->since < options_.localityWait) {
        ++it;
        continue;
      }
    }
    TaskDescription task = std::move(it->task);
    it = queue_.erase(it);
    std::string message = encodeLaunch(encodeTask(task));
    int64_t id = task.taskId;
    task.plan.reset();
    task.shuffleInputs.clear();
    target->running.insert(id);
    spdlog::debug("spark: task {} (stage {} partition {}) to executor {}", id, task.stageId, task.partition, target->id);
    driver_->sendFrameworkMessage(ExecutorID{target->id}, AgentID{target->agentId}, message);
    outstanding_[id] = Outstanding{std::move(task), target->id, std::move(message), now, false};
  }
}

void ClusterBackend::tick() {
  auto now = Clock::now();
  // Launches an executor's heartbeat says it never got: again.
  for (auto& [id, o] : outstanding_) {
    if (o.fetching) continue;
    auto it = execs_.find(o.executorId);
    if (it == execs_.end() || it->second->state != Exec::State::kReady) continue;
    Exec& e = *it->second;
    if (!e.lastHeartbeat || *e.lastHeartbeat < o.sentAt + 2s || e.heartbeatTasks.count(id) != 0) continue;
    spdlog::info("spark: executor {} does not hold task {}: sending it again", e.id, id);
    o.sentAt = now;
    if (driver_ && !stopped_) driver_->sendFrameworkMessage(ExecutorID{e.id}, AgentID{e.agentId}, o.message);
  }
  // Queued tasks with nowhere to go.
  bool anyReady = false;
  for (const auto& [id, e] : execs_) anyReady = anyReady || e->state == Exec::State::kReady;
  if (queue_.empty() || anyReady) {
    noExecutorSince_.reset();
  } else if (!noExecutorSince_) {
    noExecutorSince_ = now;
  } else if (!driverError_.empty() || now - *noExecutorSince_ >= options_.noExecutorTimeout) {
    std::string why = !driverError_.empty()
                          ? driverError_
                          : "no executor for " +
                                std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                                   options_.noExecutorTimeout)
                                                   .count()) +
                                " s" + fitProblem();
    for (auto& q : queue_) {
      BackendEvent ended;
      ended.result = lostResult(q.task, "", why);
      ended.result.status = TaskStatus::kFailed;
      push(std::move(ended));
    }
    queue_.clear();
    noExecutorSince_.reset();
  } else if (now - *noExecutorSince_ >= 5s && warned_.insert("no-executor").second && !options_.quiet) {
    std::cerr << "spark: waiting for an executor" << fitProblem() << "\n";
  }
  dispatch();
}

// ---- Backend ------------------------------------------------------------------

void ClusterBackend::submit(TaskDescription task) {
  std::lock_guard lock(mu_);
  if (stopped_) {
    BackendEvent ended;
    ended.result = lostResult(task, "", "the application is stopping");
    ended.result.status = TaskStatus::kFailed;
    push(std::move(ended));
    return;
  }
  queue_.push_back(Queued{std::move(task), Clock::now()});
  dispatch();
}

std::optional<BackendEvent> ClusterBackend::nextEvent(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::unique_lock lock(mu_);
  for (;;) {
    tick();
    if (!files_.empty()) {
      ResultFile file = files_.front();
      files_.pop_front();
      std::string executorId = fileExecutors_[file.taskId];
      fileExecutors_.erase(file.taskId);
      auto it = execs_.find(executorId);
      if (it == execs_.end()) continue;
      std::string url = it->second->fileUrl;
      std::string agentId = it->second->agentId;
      while (!url.empty() && url.back() == '/') url.pop_back();
      url += "/files/download?path=" + support::urlEncode(file.path);
      lock.unlock();
      auto response = support::fetch(url, 300);
      lock.lock();
      auto o = outstanding_.find(file.taskId);
      if (o == outstanding_.end() || o->second.executorId != executorId) continue;  // lost meanwhile
      std::optional<TaskResult> result;
      if (response && response->status == 200) {
        auto decoded = decodeTaskResult(response->body);
        if (decoded) result = std::move(*decoded);
      }
      if (!result) {
        // The executor offers it again (it is not acknowledged); try then.
        spdlog::warn("spark: cannot download the result of task {} from {}", file.taskId, url);
        o->second.fetching = false;
        continue;
      }
      if (driver_ && !stopped_) {
        driver_->sendFrameworkMessage(ExecutorID{executorId}, AgentID{agentId}, encodeAck({file.taskId}));
      }
      outstanding_.erase(o);
      auto& e = *it->second;
      e.running.erase(file.taskId);
      ++e.tasksRun;
      BackendEvent ended;
      ended.result = std::move(*result);
      push(std::move(ended));
      dispatch();
      continue;
    }
    if (!events_.empty()) {
      BackendEvent event = std::move(events_.front());
      events_.pop_front();
      return event;
    }
    auto now = Clock::now();
    if (now >= deadline) return std::nullopt;
    cv_.wait_until(lock, std::min(deadline, now + 250ms));
  }
}

int ClusterBackend::totalCores() const {
  std::lock_guard lock(mu_);
  int cores = 0;
  for (const auto& [id, e] : execs_) cores += e->state == Exec::State::kReady ? e->cores : 0;
  return cores;
}

std::vector<ExecutorView> ClusterBackend::executors() const {
  std::lock_guard lock(mu_);
  std::vector<ExecutorView> out;
  for (const auto& [id, e] : execs_) {
    const char* state = e->state == Exec::State::kLaunching ? "launching"
                        : e->state == Exec::State::kReady   ? "ready"
                                                            : "lost";
    out.push_back(ExecutorView{e->id, e->agentId, state, e->cores, e->tasksRun, e->sandbox});
  }
  return out;
}

std::string ClusterBackend::frameworkId() const {
  std::lock_guard lock(mu_);
  return frameworkId_;
}

}  // namespace clusternodes::spark
