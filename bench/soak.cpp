// bench-soak: a steady task load on a local cluster while agents and the
// master are killed at random, then an account of every task: launched,
// finished, lost, duplicated, still unknown. Not run in CI: it takes minutes
// and its outcome depends on timing.
//
//   bench-soak [--duration=60s] [--agents=3] [--rate=5] [--task-seconds=1..5]
//              [--kill-interval=10s] [--seed=N] [--json]
//
// What it does:
//   1. Starts a master and --agents agents as processes on loopback through
//      the integration-test harness (TestCluster, its fast test timings: a
//      500 ms agent ping timeout with 4 misses, so a pause over about 2 s
//      makes an agent unreachable), the agents with --recovery-timeout=30s
//      so that their executors outlive any agent-kill below.
//   2. Registers an in-process framework on the SDK, partition aware, with a
//      failover timeout of an hour, and launches --rate tasks per second from
//      the offers it holds. Each task runs `sleep N; exit 0` (cpus 0.1, mem
//      16) under a unique id, and appends a "start" and an "end" line to a
//      log in the cluster's directory: the ground truth of how often each
//      task's command really ran.
//   3. Meanwhile a chaos thread, at random intervals (mean --kill-interval),
//      SIGKILLs an agent and restarts it on the same work dir after 0.5..3 s
//      (its executors live on), SIGKILLs the master and starts it again after
//      0.5..3 s (same ports, same registry), or SIGSTOPs an agent for 1..6 s
//      (shorter or longer than the master's ping budget) then SIGCONTs it.
//   4. The scheduler reconciles as Mesos advises: implicitly after every
//      (re-)registration, explicitly for each task without an update for
//      --reconcile-after seconds.
//   5. After --duration, the chaos and the launches stop; every launched task
//      gets --drain-timeout to reach a terminal state (reconciling), then the
//      report.
//
// A task is
//   finished    when its first terminal state is TASK_FINISHED;
//   lost        when its first terminal state is another one (broken down by
//               state and reason). A task whose command never started, heard
//               of from the master only, and whose offer's master or agent
//               was SIGKILLed between the offer and its end (the launch never
//               reached a live master, or a live agent), or that the master
//               refused because its offer had gone (REASON_INVALID_OFFERS), is
//               counted apart as "dropped in flight": a framework expects that
//               across a failover and launches again;
//   duplicated  when an update's uuid reached the scheduler twice, when it
//               got a second terminal update (or any update from an agent
//               after a terminal one), when the master reported it active
//               again after its end, when it ran on two agents, or when its
//               command started twice;
//   unknown     when it is still not terminal at the end.
//
// Exit status: 0 when nothing was lost (dropped in flight aside, unless
// --strict), duplicated or left unknown; 1 otherwise; 2 on a bad flag; 3 when
// the cluster could not be started or restarted.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/flags.hpp"
#include "bench/bench_common.hpp"
#include "clusternodes/scheduler.hpp"
#include "tests/harness/cluster.hpp"

using namespace clusternodes;
using namespace clusternodes::bench;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr double kCpusPerTask = 0.1;
constexpr double kMemPerTask = 16;
// How long a restarted daemon may take to start and register again, after
// which an offer made of its resources reaches it.
constexpr double kRegainSeconds = 2;
constexpr size_t kDetailsShown = 40;  // lost or duplicated tasks printed in full
// The agents' default here: longer than any agent-kill's down time.
constexpr const char* kAgentRecoveryTimeout = "--recovery-timeout=30s";

// Set by SIGINT / SIGTERM: end the soak early, but still report and clean up.
std::atomic<bool> interrupted{false};

void onInterrupt(int) { interrupted = true; }

// ------------------------------------------------------------ flags

// "120s", "2m", "1500ms", "1h" or a plain number of seconds.
std::optional<double> parseSeconds(const std::string& text) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  std::string unit = text.substr(used);
  double scale = unit == "" || unit == "s" ? 1 : unit == "ms" ? 0.001 : unit == "m" ? 60 : unit == "h" ? 3600 : -1;
  if (scale < 0 || value < 0) return std::nullopt;
  return value * scale;
}

// "3" (always 3 s) or "1..5" (a whole number of seconds from 1 to 5).
struct SecondsRange {
  double low = 1;
  double high = 5;
};

std::optional<SecondsRange> parseRange(const std::string& text) {
  auto dots = text.find("..");
  if (dots == std::string::npos) {
    auto one = parseSeconds(text);
    if (!one) return std::nullopt;
    return SecondsRange{*one, *one};
  }
  auto low = parseSeconds(text.substr(0, dots));
  auto high = parseSeconds(text.substr(dots + 2));
  if (!low || !high || *low > *high) return std::nullopt;
  return SecondsRange{*low, *high};
}

struct Options {
  double durationSeconds = 60;
  int agents = 3;
  double rate = 5;
  SecondsRange taskSeconds;
  double killIntervalSeconds = 10;
  uint64_t seed = 0;
  bool json = false;
  bool strict = false;
  std::set<std::string> chaos = {"agent-kill", "master-kill", "agent-stop"};
  double reconcileAfterSeconds = 10;
  double drainTimeoutSeconds = 120;
  std::string agentResources = "cpus:4;mem:4096;disk:1024";
  std::vector<std::string> masterFlags;
  std::vector<std::string> agentFlags;
  std::string logsDir = "/tmp/soak-logs";
  bool keepLogs = false;  // copy the logs even when nothing went wrong
};

// ------------------------------------------------------------ chaos

enum class ChaosKind { kAgentKill, kMasterKill, kAgentStop };

const char* chaosName(ChaosKind kind) {
  switch (kind) {
    case ChaosKind::kAgentKill: return "agent-kill";
    case ChaosKind::kMasterKill: return "master-kill";
    case ChaosKind::kAgentStop: return "agent-stop";
  }
  return "?";
}

struct ChaosEvent {
  ChaosKind kind = ChaosKind::kAgentKill;
  double at = 0;          // seconds since the soak began, when the signal went
  double downSeconds = 0;  // until the restart or the SIGCONT
  int agent = -1;         // the agent's index, for agent events
  std::string error;      // a restart that failed, if one did
};

// ------------------------------------------------------------ tasks

const char* sourceName(TaskSource source) {
  switch (source) {
    case TaskSource::kMaster: return "master";
    case TaskSource::kAgent: return "agent";
    case TaskSource::kExecutor: return "executor";
  }
  return "?";
}

struct Update {
  double at = 0;  // seconds since the soak began
  TaskStatus status;
};

struct TaskRecord {
  std::string id;
  AgentID agentId;       // where it was launched
  double offerAt = 0;    // when the offer it used arrived
  double launchAt = 0;
  double sleepSeconds = 0;
  std::vector<Update> updates;
  double lastHeardAt = 0;     // last update, or the launch
  double lastReconcileAt = -1;
  std::optional<size_t> firstTerminal;  // index into updates
  std::optional<size_t> firstRealTerminal;  // the same, reconciliation answers aside
  std::set<std::string> runningAgents;
  std::vector<std::string> duplicates;  // why it counts as duplicated
  bool unreachable = false;             // TASK_UNREACHABLE seen
  bool backFromUnreachable = false;     // ... and active again afterwards
  int starts = 0;                       // "start" lines in the runs log
  int ends = 0;                         // "end" lines

  bool terminal() const { return firstTerminal.has_value(); }
  const TaskStatus* terminalStatus() const { return terminal() ? &updates[*firstTerminal].status : nullptr; }
};

bool isReconciliation(const TaskStatus& status) {
  return status.source == TaskSource::kMaster && status.reason == TaskReason::kReconciliation;
}

// The framework: holds offers, launches from them when asked, and records
// every status update. Callbacks run on the driver's thread; the main thread
// calls launch() and staleTasks().
class SoakScheduler : public Scheduler {
 public:
  explicit SoakScheduler(Clock::time_point start) : start_(start) {}

  double now() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

  void registered(SchedulerDriver* driver, const FrameworkID& id, const MasterInfo&) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      frameworkId_ = id;
      connected_ = true;
      ++registrations_;
      offers_.clear();
    }
    changed_.notify_all();
    driver->reconcileTasks({});
  }

  void reregistered(SchedulerDriver* driver, const MasterInfo&) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      connected_ = true;
      ++registrations_;
      ++reregistrations_;
      offers_.clear();  // the old master's offers mean nothing to the new one
    }
    changed_.notify_all();
    driver->reconcileTasks({});  // implicit reconciliation, as Mesos advises
  }

  void disconnected(SchedulerDriver*) override {
    std::lock_guard<std::mutex> lock(mutex_);
    connected_ = false;
    ++disconnections_;
    offers_.clear();
  }

  void resourceOffers(SchedulerDriver*, const std::vector<Offer>& offers) override {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& offer : offers) offers_[offer.id] = {offer, now()};
  }

  void offerRescinded(SchedulerDriver*, const OfferID& id) override {
    std::lock_guard<std::mutex> lock(mutex_);
    offers_.erase(id);
  }

  void agentLost(SchedulerDriver*, const AgentID& id) override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++agentsLost_;
    for (auto it = offers_.begin(); it != offers_.end();) {
      it = it->second.offer.agentId == id ? offers_.erase(it) : std::next(it);
    }
  }

  void error(SchedulerDriver*, const std::string& message) override {
    std::lock_guard<std::mutex> lock(mutex_);
    errors_.push_back(message);
  }

  void statusUpdate(SchedulerDriver*, const TaskStatus& status) override {
    std::lock_guard<std::mutex> lock(mutex_);
    record(status);
    changed_.notify_all();
  }

  // A task for an offer, and the seconds its command sleeps.
  using TaskFactory = std::function<std::pair<TaskInfo, double>(const Offer&)>;

  // Launches up to `count` tasks from the offers held, as many per offer as
  // fit; `next` makes each task for its offer. Returns how many went out.
  // The records exist before launchTasks() is called, so no update can
  // arrive for a task not yet known.
  size_t launch(SchedulerDriver* driver, size_t count, const TaskFactory& next) {
    std::vector<std::pair<OfferID, std::vector<TaskInfo>>> batches;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!connected_) return 0;
      for (auto it = offers_.begin(); it != offers_.end() && count > 0;) {
        const Offer& offer = it->second.offer;
        auto fit = static_cast<size_t>(std::min(std::floor(offer.resources.cpus() / kCpusPerTask + 1e-9),
                                                std::floor(offer.resources.mem() / kMemPerTask + 1e-9)));
        size_t n = std::min(fit, count);
        if (n == 0) {
          ++it;
          continue;
        }
        std::vector<TaskInfo> tasks;
        for (size_t i = 0; i < n; ++i) {
          auto [task, sleep] = next(offer);
          tasks.push_back(std::move(task));
          TaskRecord r;
          r.id = tasks.back().taskId.value;
          r.sleepSeconds = sleep;
          r.agentId = offer.agentId;
          r.offerAt = it->second.receivedAt;
          r.launchAt = now();
          r.lastHeardAt = r.launchAt;
          tasks_[r.id] = std::move(r);
          order_.push_back(tasks.back().taskId.value);
        }
        count -= n;
        batches.emplace_back(offer.id, std::move(tasks));
        it = offers_.erase(it);
      }
    }
    size_t launched = 0;
    for (const auto& [offerId, tasks] : batches) {
      // No filter: what the tasks leave of the offer comes back at once.
      driver->launchTasks({offerId}, tasks, Filters{0});
      launched += tasks.size();
    }
    return launched;
  }

  // Tasks not terminal and silent for `silentSeconds` (and not asked about
  // in that time), marked as asked now: the explicit reconciliation's list.
  std::vector<TaskStatus> staleTasks(double silentSeconds) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<TaskStatus> out;
    double t = now();
    for (auto& [id, task] : tasks_) {
      if (task.terminal() || t - task.lastHeardAt < silentSeconds || t - task.lastReconcileAt < silentSeconds) {
        continue;
      }
      task.lastReconcileAt = t;
      TaskStatus s;
      s.taskId.value = id;
      s.agentId = task.agentId;
      out.push_back(s);
    }
    reconcileRequests_ += out.empty() ? 0 : 1;
    reconciledTasks_ += out.size();
    return out;
  }

  size_t active() {
    std::lock_guard<std::mutex> lock(mutex_);
    size_t n = 0;
    for (const auto& [id, task] : tasks_) n += task.terminal() ? 0 : 1;
    return n;
  }

  // Waits until every task is terminal or `timeout` passes, calling `tick`
  // (without the lock) every `every`.
  bool waitAllTerminal(std::chrono::milliseconds timeout, std::chrono::milliseconds every,
                       const std::function<void()>& tick) {
    auto deadline = Clock::now() + timeout;
    auto nextTick = Clock::now();
    while (true) {
      if (active() == 0) return true;
      if (Clock::now() >= deadline || interrupted) return false;
      if (Clock::now() >= nextTick) {
        tick();
        nextTick = Clock::now() + every;
      }
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait_for(lock, std::chrono::milliseconds(100));
    }
  }

  bool waitForRegistration(std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return registrations_ > 0 || !errors_.empty(); }) &&
           registrations_ > 0;
  }

  // What the report reads once the driver is quiet.
  struct Snapshot {
    std::vector<TaskRecord> tasks;  // in launch order
    int registrations = 0;
    int reregistrations = 0;
    int disconnections = 0;
    int agentsLost = 0;
    int uuidRepeats = 0;
    int reconcileRequests = 0;
    size_t reconciledTasks = 0;
    std::vector<std::string> errors;
    std::vector<std::string> unknownUpdates;  // updates for tasks never launched
  };
  Snapshot snapshot() {
    std::lock_guard<std::mutex> lock(mutex_);
    Snapshot s;
    for (const auto& id : order_) s.tasks.push_back(tasks_.at(id));
    s.registrations = registrations_;
    s.reregistrations = reregistrations_;
    s.disconnections = disconnections_;
    s.agentsLost = agentsLost_;
    s.uuidRepeats = uuidRepeats_;
    s.reconcileRequests = reconcileRequests_;
    s.reconciledTasks = reconciledTasks_;
    s.errors = errors_;
    s.unknownUpdates = unknownUpdates_;
    return s;
  }

 private:
  struct HeldOffer {
    Offer offer;
    double receivedAt = 0;
  };

  // Called with the lock held.
  void record(const TaskStatus& status) {
    double t = now();
    auto it = tasks_.find(status.taskId.value);
    if (it == tasks_.end()) {
      unknownUpdates_.push_back(status.taskId.value + " " + toString(status.state));
      return;
    }
    TaskRecord& task = it->second;
    const bool reconciliation = isReconciliation(status);
    task.updates.push_back({t, status});
    task.lastHeardAt = t;

    if (!status.uuid.empty() && !uuids_.insert(status.uuid).second) {
      ++uuidRepeats_;
      task.duplicates.push_back(std::string("update ") + toString(status.state) + " uuid " + status.uuid +
                                " delivered twice");
    }

    if (task.terminal()) {
      const TaskStatus& first = *task.terminalStatus();
      if (!reconciliation) {
        if (isTerminal(status.state)) {
          if (task.firstRealTerminal) {
            const TaskStatus& real = task.updates[*task.firstRealTerminal].status;
            task.duplicates.push_back(status.state == real.state
                                          ? std::string("terminal state ") + toString(status.state) +
                                                " delivered twice"
                                          : std::string("second terminal state ") + toString(status.state) +
                                                " after " + toString(real.state));
          } else if (status.state != first.state) {
            // The master had answered that the task was over, in another way.
            task.duplicates.push_back(std::string(toString(status.state)) + " from the " +
                                      sourceName(status.source) + " after the master's answer " +
                                      toString(first.state));
          }
          // Otherwise: the update a reconciliation answer announced.
        } else if (task.firstRealTerminal &&
                   (status.source != TaskSource::kMaster || status.state != TaskState::kUnreachable)) {
          // An agent or an executor speaking of the task after its end. (After
          // a mere reconciliation answer, an older update may still come.)
          task.duplicates.push_back(std::string(toString(status.state)) + " from the " + sourceName(status.source) +
                                    " after the terminal " + toString(first.state));
        }
      } else if (!isTerminal(status.state)) {
        // The master believes it active again after it ended.
        task.duplicates.push_back(std::string("the master reports it ") + toString(status.state) +
                                  " after the terminal " + toString(first.state));
      }
      // A reconciliation answer with a terminal state after the end (the
      // master forgot the task: UNKNOWN) is what reconciliation says of it.
    } else if (isTerminal(status.state)) {
      task.firstTerminal = task.updates.size() - 1;
    }
    if (!reconciliation && isTerminal(status.state) && !task.firstRealTerminal) {
      task.firstRealTerminal = task.updates.size() - 1;
    }

    if (status.state == TaskState::kRunning && !reconciliation) {
      task.runningAgents.insert(status.agentId.value);
      if (task.runningAgents.size() == 2) {
        std::string agents;
        for (const auto& a : task.runningAgents) agents += (agents.empty() ? "" : ", ") + a;
        task.duplicates.push_back("RUNNING on two agents: " + agents);
      }
    }
    if (status.state == TaskState::kUnreachable) task.unreachable = true;
    if (task.unreachable && (status.state == TaskState::kRunning || status.state == TaskState::kStarting)) {
      task.backFromUnreachable = true;
    }
  }

  Clock::time_point start_;
  std::mutex mutex_;
  std::condition_variable changed_;
  FrameworkID frameworkId_;
  bool connected_ = false;
  int registrations_ = 0;
  int reregistrations_ = 0;
  int disconnections_ = 0;
  int agentsLost_ = 0;
  int uuidRepeats_ = 0;
  int reconcileRequests_ = 0;
  size_t reconciledTasks_ = 0;
  std::map<OfferID, HeldOffer> offers_;
  std::map<std::string, TaskRecord> tasks_;
  std::vector<std::string> order_;
  std::set<std::string> uuids_;
  std::vector<std::string> errors_;
  std::vector<std::string> unknownUpdates_;
};

// ------------------------------------------------------------ chaos thread

// Kills and pauses daemons at random until stopped. The cluster's agents and
// master are touched by this thread only while it runs.
class Chaos {
 public:
  Chaos(testing::TestCluster& cluster, const Options& options, Clock::time_point start)
      : cluster_(cluster), options_(options), start_(start), random_(options.seed) {
    if (options.chaos.count("agent-kill")) kinds_.push_back(ChaosKind::kAgentKill);
    if (options.chaos.count("agent-kill")) kinds_.push_back(ChaosKind::kAgentKill);  // twice as likely
    if (options.chaos.count("master-kill")) kinds_.push_back(ChaosKind::kMasterKill);
    if (options.chaos.count("agent-stop")) kinds_.push_back(ChaosKind::kAgentStop);
  }

  void start() {
    if (!kinds_.empty()) thread_ = std::thread([this] { run(); });
  }

  // Ends the event under way (a stopped agent is continued, a killed daemon
  // restarted), then returns.
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  std::vector<ChaosEvent> events() {
    std::lock_guard<std::mutex> lock(mutex_);
    return events_;
  }

  // A restart that failed: the soak cannot go on.
  std::optional<std::string> fatal() {
    std::lock_guard<std::mutex> lock(mutex_);
    return fatal_;
  }

 private:
  double now() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

  // Sleeps `seconds`, or less when stopping; returns false when stopping.
  bool pause(double seconds) {
    std::unique_lock<std::mutex> lock(mutex_);
    return !wake_.wait_for(lock, std::chrono::duration<double>(seconds), [&] { return stopping_; });
  }

  double uniform(double low, double high) { return std::uniform_real_distribution<double>(low, high)(random_); }

  void run() {
    std::exponential_distribution<double> gap(1.0 / options_.killIntervalSeconds);
    while (true) {
      double wait = std::clamp(gap(random_), 0.2 * options_.killIntervalSeconds, 3 * options_.killIntervalSeconds);
      if (!pause(wait)) return;
      ChaosEvent event;
      event.kind = kinds_[std::uniform_int_distribution<size_t>(0, kinds_.size() - 1)(random_)];
      event.agent = static_cast<int>(std::uniform_int_distribution<int>(0, options_.agents - 1)(random_));
      event.downSeconds = event.kind == ChaosKind::kAgentStop ? uniform(1, 6) : uniform(0.5, 3);
      event.at = now();
      if (event.kind == ChaosKind::kMasterKill) event.agent = -1;
      std::fprintf(stderr, "soak: t=%.1f %s%s for %.1f s\n", event.at, chaosName(event.kind),
                   event.agent >= 0 ? (" " + std::to_string(event.agent)).c_str() : "", event.downSeconds);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        events_.push_back(event);
      }
      std::string error = apply(event);
      if (!error.empty()) {
        std::fprintf(stderr, "soak: %s\n", error.c_str());
        std::lock_guard<std::mutex> lock(mutex_);
        events_.back().error = error;
        fatal_ = error;
        return;
      }
    }
  }

  // Does one event to its end, down time included (not cut short by stop()).
  std::string apply(const ChaosEvent& event) {
    auto down = std::chrono::duration<double>(event.downSeconds);
    try {
      switch (event.kind) {
        case ChaosKind::kAgentKill: {
          auto& agent = cluster_.agent(static_cast<size_t>(event.agent));
          agent.signal(SIGKILL);
          agent.wait(std::chrono::seconds(10));
          std::this_thread::sleep_for(down);
          cluster_.restartAgent(static_cast<size_t>(event.agent));
          return "";
        }
        case ChaosKind::kMasterKill: {
          cluster_.stopMaster(SIGKILL);
          std::this_thread::sleep_for(down);
          // The harness keeps the first start's ports and flags.
          for (int attempt = 1;; ++attempt) {
            try {
              cluster_.startMaster();
              return "";
            } catch (const std::exception& e) {
              if (attempt == 3) return std::string("the master did not restart: ") + e.what();
              std::this_thread::sleep_for(std::chrono::seconds(1));
            }
          }
        }
        case ChaosKind::kAgentStop: {
          auto& agent = cluster_.agent(static_cast<size_t>(event.agent));
          agent.signal(SIGSTOP);
          std::this_thread::sleep_for(down);
          agent.signal(SIGCONT);
          return "";
        }
      }
    } catch (const std::exception& e) {
      return std::string(chaosName(event.kind)) + " failed: " + e.what();
    }
    return "";
  }

  testing::TestCluster& cluster_;
  const Options& options_;
  Clock::time_point start_;
  std::mt19937_64 random_;
  std::vector<ChaosKind> kinds_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::vector<ChaosEvent> events_;
  std::optional<std::string> fatal_;
};

// ------------------------------------------------------------ verdicts

// Counts "start ID PID" and "end ID PID" lines of the runs log into the
// records.
void readRunsLog(const std::string& path, std::vector<TaskRecord>& tasks) {
  std::map<std::string, TaskRecord*> byId;
  for (auto& t : tasks) byId[t.id] = &t;
  std::ifstream in(path);
  std::string word;
  std::string id;
  std::string pid;
  while (in >> word >> id >> pid) {
    auto it = byId.find(id);
    if (it == byId.end()) continue;
    if (word == "start") ++it->second->starts;
    if (word == "end") ++it->second->ends;
  }
  for (auto& t : tasks) {
    if (t.starts > 1) t.duplicates.push_back("its command started " + std::to_string(t.starts) + " times");
  }
}

enum class Verdict { kFinished, kLost, kDroppedInFlight, kUnknown };

// Whether a task that never started was dropped on its way in: its offer's
// master, or the agent it was sent to, was killed between the offer and the
// task's end, or the master refused the launch because the offer had gone.
// `agentIds` maps an agent's index to its id.
bool droppedInFlight(const TaskRecord& task, const std::vector<ChaosEvent>& events,
                     const std::vector<std::string>& agentIds) {
  if (task.starts > 0) return false;
  for (const auto& u : task.updates) {
    if (u.status.source != TaskSource::kMaster) return false;  // an agent had it
  }
  const TaskStatus* end = task.terminalStatus();
  if (end == nullptr) return false;
  if (end->state == TaskState::kDropped && end->reason == TaskReason::kInvalidOffers) return true;
  // The daemon was down (or not yet registered again: kRegainSeconds) at
  // some time between the offer and the task's end.
  double endAt = task.updates[*task.firstTerminal].at;
  for (const auto& e : events) {
    if (e.at > endAt || e.at + e.downSeconds + kRegainSeconds < task.offerAt) continue;
    if (e.kind == ChaosKind::kMasterKill) return true;
    if (e.kind == ChaosKind::kAgentKill && e.agent >= 0 && static_cast<size_t>(e.agent) < agentIds.size() &&
        agentIds[static_cast<size_t>(e.agent)] == task.agentId.value) {
      return true;
    }
  }
  return false;
}

Verdict verdictOf(const TaskRecord& task, const std::vector<ChaosEvent>& events,
                  const std::vector<std::string>& agentIds) {
  const TaskStatus* end = task.terminalStatus();
  if (end == nullptr) return Verdict::kUnknown;
  if (end->state == TaskState::kFinished) return Verdict::kFinished;
  return droppedInFlight(task, events, agentIds) ? Verdict::kDroppedInFlight : Verdict::kLost;
}

std::string describeEvent(const ChaosEvent& e, const std::vector<std::string>& agentIds) {
  std::ostringstream out;
  char at[32];
  std::snprintf(at, sizeof at, "t=%.2f", e.at);
  out << at << " " << chaosName(e.kind);
  if (e.agent >= 0) {
    out << " agent " << e.agent;
    if (static_cast<size_t>(e.agent) < agentIds.size()) out << " (" << agentIds[static_cast<size_t>(e.agent)] << ")";
  }
  char down[32];
  std::snprintf(down, sizeof down, " for %.2f s", e.downSeconds);
  out << down;
  if (!e.error.empty()) out << " (" << e.error << ")";
  return out.str();
}

struct Report {
  size_t launched = 0;
  size_t finished = 0;
  size_t lost = 0;
  size_t droppedInFlight = 0;
  size_t duplicated = 0;
  size_t unknown = 0;
  size_t backFromUnreachable = 0;
  std::map<std::string, size_t> lostBy;     // "TASK_LOST REASON_..." -> count
  std::map<std::string, size_t> droppedBy;  // same, for the dropped in flight
  std::vector<const TaskRecord*> flagged;   // lost, duplicated or unknown
};

std::string stateAndReason(const TaskStatus& s) { return std::string(toString(s.state)) + " " + toString(s.reason); }

Report judge(const std::vector<TaskRecord>& tasks, const std::vector<ChaosEvent>& events,
             const std::vector<std::string>& agentIds) {
  Report r;
  r.launched = tasks.size();
  for (const auto& t : tasks) {
    Verdict v = verdictOf(t, events, agentIds);
    bool flag = false;
    switch (v) {
      case Verdict::kFinished: ++r.finished; break;
      case Verdict::kLost:
        ++r.lost;
        ++r.lostBy[stateAndReason(*t.terminalStatus())];
        flag = true;
        break;
      case Verdict::kDroppedInFlight:
        ++r.droppedInFlight;
        ++r.droppedBy[stateAndReason(*t.terminalStatus())];
        break;
      case Verdict::kUnknown:
        ++r.unknown;
        flag = true;
        break;
    }
    if (!t.duplicates.empty()) {
      ++r.duplicated;
      flag = true;
    }
    if (t.backFromUnreachable) ++r.backFromUnreachable;
    if (flag) r.flagged.push_back(&t);
  }
  // Duplicates first: they are the rarer, and the list may be cut short.
  std::stable_partition(r.flagged.begin(), r.flagged.end(),
                        [](const TaskRecord* t) { return !t->duplicates.empty(); });
  return r;
}

const char* verdictName(Verdict v) {
  switch (v) {
    case Verdict::kFinished: return "finished";
    case Verdict::kLost: return "lost";
    case Verdict::kDroppedInFlight: return "dropped in flight";
    case Verdict::kUnknown: return "unknown";
  }
  return "?";
}

std::string shortUuid(const std::string& uuid) { return uuid.empty() ? "-" : uuid.substr(0, 8); }

// Several lines on one task, for a developer: where it ran, every update,
// and the chaos around it.
std::string taskDetails(const TaskRecord& t, const std::vector<ChaosEvent>& events,
                        const std::vector<std::string>& agentIds) {
  std::ostringstream out;
  auto index = std::find(agentIds.begin(), agentIds.end(), t.agentId.value);
  char head[256];
  std::snprintf(head, sizeof head, "%s [%s] launched t=%.2f on agent %d (%s), sleep %.0f s; command started %d, ended %d",
                t.id.c_str(), verdictName(verdictOf(t, events, agentIds)), t.launchAt,
                index == agentIds.end() ? -1 : static_cast<int>(index - agentIds.begin()), t.agentId.value.c_str(), t.sleepSeconds, t.starts,
                t.ends);
  out << "  " << head << "\n";
  for (const auto& d : t.duplicates) out << "    duplicated: " << d << "\n";
  for (const auto& u : t.updates) {
    char line[160];
    std::snprintf(line, sizeof line, "    t=%.2f %-16s %-28s from %-8s agent %s uuid %s", u.at,
                  toString(u.status.state), toString(u.status.reason), sourceName(u.status.source),
                  u.status.agentId.value.c_str(), shortUuid(u.status.uuid).c_str());
    out << line;
    if (!u.status.message.empty()) out << " '" << u.status.message << "'";
    out << "\n";
  }
  double last = t.updates.empty() ? t.launchAt : t.updates.back().at;
  for (const auto& e : events) {
    if (e.at + e.downSeconds >= t.offerAt - 1 && e.at <= last + 1) {
      out << "    chaos: " << describeEvent(e, agentIds) << "\n";
    }
  }
  return out.str();
}

nlohmann::json taskJson(const TaskRecord& t, const std::vector<ChaosEvent>& events,
                        const std::vector<std::string>& agentIds) {
  nlohmann::json updates = nlohmann::json::array();
  for (const auto& u : t.updates) {
    updates.push_back({{"at", u.at},
                       {"state", toString(u.status.state)},
                       {"reason", toString(u.status.reason)},
                       {"source", sourceName(u.status.source)},
                       {"agent_id", u.status.agentId.value},
                       {"uuid", u.status.uuid},
                       {"message", u.status.message}});
  }
  return {{"id", t.id},
          {"verdict", verdictName(verdictOf(t, events, agentIds))},
          {"agent_id", t.agentId.value},
          {"launched_at", t.launchAt},
          {"sleep_seconds", t.sleepSeconds},
          {"command_started", t.starts},
          {"command_ended", t.ends},
          {"duplicated", t.duplicates},
          {"updates", updates}};
}

// Copies the daemons' logs, the runs log and the sandboxes of `flagged`
// tasks from the cluster's directory to `to`. Returns an error or "".
std::string copyLogs(const std::string& from, const std::string& to, const std::vector<const TaskRecord*>& flagged) {
  std::error_code ec;
  fs::create_directories(to, ec);
  if (ec) return "cannot create " + to + ": " + ec.message();
  std::string failures;
  fs::directory_iterator entries(from, ec);
  if (ec) return "cannot list " + from + ": " + ec.message();
  for (; entries != fs::directory_iterator(); entries.increment(ec)) {
    if (ec) break;
    const auto& path = entries->path();
    std::error_code typeError;
    if (path.extension() != ".log" || !entries->is_regular_file(typeError)) continue;
    std::error_code copyError;
    fs::copy_file(path, fs::path(to) / path.filename(), fs::copy_options::overwrite_existing, copyError);
    if (copyError) failures += " " + path.filename().string() + ": " + copyError.message() + ";";
  }
  if (ec) failures += " listing " + from + ": " + ec.message() + ";";
  std::set<std::string> ids;
  for (const auto* t : flagged) ids.insert(t->id);
  if (ids.empty()) return failures.empty() ? "" : "could not copy" + failures;
  // Sandboxes are directories named after (or under one named after) the
  // task; copy each whole, once.
  std::set<std::string> copied;
  for (auto it = fs::recursive_directory_iterator(from, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (!it->is_directory(ec)) continue;
    const std::string name = it->path().filename().string();
    for (const auto& id : ids) {
      if (name.find(id) == std::string::npos) continue;
      auto relative = fs::relative(it->path(), from, ec).string();
      if (copied.count(relative)) continue;
      copied.insert(relative);
      fs::create_directories(fs::path(to) / "sandboxes" / relative, ec);
      fs::copy(it->path(), fs::path(to) / "sandboxes" / relative,
               fs::copy_options::recursive | fs::copy_options::overwrite_existing, ec);
      it.disable_recursion_pending();
      break;
    }
  }
  return failures.empty() ? "" : "could not copy" + failures;
}

// ------------------------------------------------------------ the soak

// The master's agent ping budget in seconds (ping timeout x misses): a
// stopped agent is declared unreachable after about this long.
double pingBudgetSeconds(const std::vector<std::string>& masterFlags) {
  double timeout = 0.5;  // the harness's defaults
  double misses = 4;
  for (const auto& flag : masterFlags) {
    auto eq = flag.find('=');
    if (eq == std::string::npos) continue;
    auto name = flag.substr(0, eq);
    auto value = flag.substr(eq + 1);
    if (name == "--agent-ping-timeout") timeout = parseSeconds(value).value_or(timeout);
    if (name == "--max-agent-ping-timeouts") misses = std::atof(value.c_str());
  }
  return timeout * misses;
}

std::string timestamp() {
  std::time_t t = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%d-%H%M%S", std::localtime(&t));
  return text;
}

struct ChaosCounts {
  int agentKills = 0;
  int masterKills = 0;
  int agentStops = 0;
  int longStops = 0;  // stops longer than the ping budget
};

ChaosCounts countChaos(const std::vector<ChaosEvent>& events, double pingBudget) {
  ChaosCounts c;
  for (const auto& e : events) {
    switch (e.kind) {
      case ChaosKind::kAgentKill: ++c.agentKills; break;
      case ChaosKind::kMasterKill: ++c.masterKills; break;
      case ChaosKind::kAgentStop:
        ++c.agentStops;
        c.longStops += e.downSeconds > pingBudget ? 1 : 0;
        break;
    }
  }
  return c;
}

std::string taskSecondsText(const SecondsRange& r) {
  char text[64];
  if (r.low == r.high) {
    std::snprintf(text, sizeof text, "%g", r.low);
  } else {
    std::snprintf(text, sizeof text, "%g..%g", r.low, r.high);
  }
  return text;
}

int soak(const Options& options) {
  const auto start = Clock::now();
  auto cluster = std::make_unique<testing::TestCluster>();
  const std::string dir = cluster->dir();
  const std::string runsLog = dir + "/soak-runs.log";
  const double pingBudget = pingBudgetSeconds(options.masterFlags);
  std::vector<std::string> agentIds;  // by index, as the chaos names them
  // The harness's agents give a vanished agent 2 s before their executors
  // kill their tasks (--recovery-timeout), less than a killed agent is away
  // here: the soak's default is long enough for the executors to survive.
  std::vector<std::string> agentFlags = options.agentFlags;
  bool recoveryGiven = std::any_of(agentFlags.begin(), agentFlags.end(), [](const std::string& f) {
    return f.rfind("--recovery-timeout=", 0) == 0;
  });
  if (!recoveryGiven) agentFlags.push_back(kAgentRecoveryTimeout);
  try {
    cluster->startMaster(options.masterFlags);
    for (int i = 0; i < options.agents; ++i) cluster->startAgent(options.agentResources, agentFlags);
    cluster->waitForAgents(static_cast<size_t>(options.agents));
    for (int i = 0; i < options.agents; ++i) {
      auto s = cluster->agentState(static_cast<size_t>(i));
      agentIds.push_back(s.is_object() ? s.value("id", "") : "");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-soak: %s\n", e.what());
    return 3;
  }
  std::fprintf(stderr, "soak: cluster in %s: a master and %d agent(s); seed %llu\n", dir.c_str(), options.agents,
               static_cast<unsigned long long>(options.seed));

  SoakScheduler scheduler(start);
  FrameworkInfo info;
  info.name = "soak";
  info.user = "root";
  info.failoverTimeoutSeconds = 3600;
  info.partitionAware = true;
  auto driver = SchedulerDriver::create(&scheduler, info, {.master = cluster->master()});
  if (driver->start() != DriverStatus::kRunning || !scheduler.waitForRegistration(std::chrono::seconds(30))) {
    std::fprintf(stderr, "bench-soak: the framework did not register\n");
    return 3;
  }

  // Each task: its id, its sleep, and two lines in the runs log around it.
  std::mt19937_64 taskRandom(options.seed + 1);
  size_t taskNumber = 0;
  SoakScheduler::TaskFactory makeTask = [&](const Offer& offer) {
    double sleep = options.taskSeconds.low;
    if (options.taskSeconds.low != options.taskSeconds.high) {
      sleep = std::uniform_int_distribution<int>(static_cast<int>(std::ceil(options.taskSeconds.low)),
                                                 static_cast<int>(std::floor(options.taskSeconds.high)))(taskRandom);
    }
    TaskInfo task;
    task.taskId.value = "soak-" + std::to_string(options.seed) + "-" + std::to_string(++taskNumber);
    task.name = task.taskId.value;
    task.agentId = offer.agentId;
    task.resources = *Resources::parse("cpus:0.1;mem:16");
    char sleepText[32];
    std::snprintf(sleepText, sizeof sleepText, "%g", sleep);
    const std::string& id = task.taskId.value;
    task.command.value = "echo start " + id + " $$ >> " + runsLog + "; sleep " + sleepText + "; echo end " + id +
                         " $$ >> " + runsLog + "; exit 0";
    return std::make_pair(task, sleep);
  };

  auto reconcileStale = [&] {
    auto stale = scheduler.staleTasks(options.reconcileAfterSeconds);
    if (!stale.empty()) driver->reconcileTasks(stale);
  };

  // The load, with the chaos beside it.
  Chaos chaos(*cluster, options, start);
  chaos.start();
  const auto loadStart = Clock::now();
  const auto loadEnd = loadStart + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(options.durationSeconds));
  const size_t maxBacklog = static_cast<size_t>(std::max(1.0, options.rate));
  size_t launched = 0;
  size_t skipped = 0;  // launches given up for want of offers
  auto nextReconcile = loadStart;
  auto nextProgress = loadStart + std::chrono::seconds(10);
  int exitCode = 0;
  while (Clock::now() < loadEnd && !interrupted) {
    double elapsed = std::chrono::duration<double>(Clock::now() - loadStart).count();
    auto wanted = static_cast<size_t>(elapsed * options.rate);
    size_t due = wanted > launched + skipped ? wanted - launched - skipped : 0;
    if (due > maxBacklog) {
      skipped += due - maxBacklog;
      due = maxBacklog;
    }
    if (due > 0) launched += scheduler.launch(driver.get(), due, makeTask);
    if (Clock::now() >= nextReconcile) {
      reconcileStale();
      nextReconcile = Clock::now() + std::chrono::seconds(1);
    }
    if (Clock::now() >= nextProgress) {
      std::fprintf(stderr, "soak: t=%.0f launched %zu, active %zu, skipped %zu\n", scheduler.now(), launched,
                   scheduler.active(), skipped);
      nextProgress += std::chrono::seconds(10);
    }
    if (chaos.fatal()) {
      exitCode = 3;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const double loadSeconds = std::chrono::duration<double>(Clock::now() - loadStart).count();
  chaos.stop();
  if (chaos.fatal()) exitCode = 3;
  std::fprintf(stderr, "soak: t=%.0f load and chaos stopped; %zu launched, %zu still active; draining\n",
               scheduler.now(), launched, scheduler.active());

  // Every task to a terminal state, then a few seconds more for late
  // (duplicate) updates.
  bool drained = false;
  if (exitCode == 0) {
    drained = scheduler.waitAllTerminal(
        std::chrono::milliseconds(static_cast<int64_t>(options.drainTimeoutSeconds * 1000)), std::chrono::seconds(1),
        reconcileStale);
    if (!interrupted) std::this_thread::sleep_for(std::chrono::seconds(5));
  }
  std::fprintf(stderr, "soak: t=%.0f %s\n", scheduler.now(),
               drained ? "every task is terminal" : "some tasks are not terminal; reporting them as unknown");

  auto snap = scheduler.snapshot();
  auto events = chaos.events();
  readRunsLog(runsLog, snap.tasks);
  Report report = judge(snap.tasks, events, agentIds);
  ChaosCounts counts = countChaos(events, pingBudget);

  bool passed = report.lost == 0 && report.duplicated == 0 && report.unknown == 0 &&
                (!options.strict || report.droppedInFlight == 0) && exitCode == 0;
  std::string logsCopied;
  if (!passed || options.keepLogs) {
    std::string to = options.logsDir + "/soak-" + timestamp() + "-seed" + std::to_string(options.seed);
    std::string error = copyLogs(dir, to, report.flagged);
    if (!error.empty()) std::fprintf(stderr, "bench-soak: %s\n", error.c_str());
    if (fs::is_directory(to)) logsCopied = to;
  }

  // Tear the framework down (the master kills what still runs), then the
  // cluster; then look for anything of it still alive.
  driver->stop(false);
  driver->join();
  driver.reset();
  cluster.reset();
  auto leftovers = testing::processesMatching(dir);
  for (pid_t pid : leftovers) ::kill(pid, SIGKILL);

  char summary[512];
  std::snprintf(summary, sizeof summary,
                "soak: %s %.0f s%s, %d agents: launched %zu, finished %zu, lost %zu, duplicated %zu, unknown %zu, "
                "dropped in flight %zu; chaos: %d agent kills, %d master kills, %d agent stops (%d over the %.1f s "
                "ping budget)",
                passed ? "PASS" : "FAIL", loadSeconds, interrupted ? " (interrupted)" : "", options.agents,
                report.launched, report.finished,
                report.lost, report.duplicated, report.unknown, report.droppedInFlight, counts.agentKills,
                counts.masterKills, counts.agentStops, counts.longStops, pingBudget);

  if (options.json) {
    nlohmann::json out;
    out["passed"] = passed;
    out["options"] = {{"duration_seconds", options.durationSeconds},
                      {"agents", options.agents},
                      {"rate", options.rate},
                      {"task_seconds", taskSecondsText(options.taskSeconds)},
                      {"kill_interval_seconds", options.killIntervalSeconds},
                      {"seed", options.seed},
                      {"chaos", options.chaos},
                      {"strict", options.strict}};
    out["machine"] = machineJson(describeMachine());
    nlohmann::json chaosEvents = nlohmann::json::array();
    for (const auto& e : events) {
      chaosEvents.push_back({{"kind", chaosName(e.kind)},
                             {"at", e.at},
                             {"down_seconds", e.downSeconds},
                             {"agent", e.agent},
                             {"error", e.error}});
    }
    out["chaos"] = {{"agent_kills", counts.agentKills},
                    {"master_kills", counts.masterKills},
                    {"agent_stops", counts.agentStops},
                    {"agent_stops_over_ping_budget", counts.longStops},
                    {"ping_budget_seconds", pingBudget},
                    {"events", chaosEvents}};
    out["tasks"] = {{"launched", report.launched},
                    {"finished", report.finished},
                    {"lost", report.lost},
                    {"lost_by_state_and_reason", report.lostBy},
                    {"dropped_in_flight", report.droppedInFlight},
                    {"dropped_in_flight_by_state_and_reason", report.droppedBy},
                    {"duplicated", report.duplicated},
                    {"unknown", report.unknown},
                    {"back_from_unreachable", report.backFromUnreachable},
                    {"launches_skipped_for_want_of_offers", skipped}};
    out["scheduler"] = {{"registrations", snap.registrations},
                        {"reregistrations", snap.reregistrations},
                        {"disconnections", snap.disconnections},
                        {"agents_lost", snap.agentsLost},
                        {"explicit_reconciliations", snap.reconcileRequests},
                        {"tasks_reconciled", snap.reconciledTasks},
                        {"updates_for_unknown_tasks", snap.unknownUpdates},
                        {"errors", snap.errors}};
    nlohmann::json flagged = nlohmann::json::array();
    for (const auto* t : report.flagged) flagged.push_back(taskJson(*t, events, agentIds));
    out["flagged_tasks"] = flagged;
    out["logs"] = logsCopied;
    out["leftover_processes"] = leftovers.size();
    out["summary"] = summary;
    std::cout << out.dump(2) << "\n";
  } else {
    std::printf("%s\n", summary);
    std::printf("\nload: %g tasks/s for %.0f s, each `sleep %s` (cpus 0.1, mem 16), framework partition aware, "
                "failover timeout 3600 s; seed %llu\n",
                options.rate, options.durationSeconds, taskSecondsText(options.taskSeconds).c_str(),
                static_cast<unsigned long long>(options.seed));
    std::printf("chaos (%zu events):\n", events.size());
    for (const auto& e : events) std::printf("  %s\n", describeEvent(e, agentIds).c_str());
    for (const auto& [key, n] : report.lostBy) std::printf("lost: %zu %s\n", n, key.c_str());
    for (const auto& [key, n] : report.droppedBy) std::printf("dropped in flight: %zu %s\n", n, key.c_str());
    std::printf("tasks back from TASK_UNREACHABLE: %zu; launches skipped for want of offers: %zu\n",
                report.backFromUnreachable, skipped);
    std::printf("scheduler: %d registration(s), %d re-registration(s), %d disconnection(s), %d agent(s) lost, "
                "%d explicit reconciliation(s) of %zu task(s), %zu update(s) for tasks it never launched\n",
                snap.registrations, snap.reregistrations, snap.disconnections, snap.agentsLost,
                snap.reconcileRequests, snap.reconciledTasks, snap.unknownUpdates.size());
    for (const auto& e : snap.errors) std::printf("scheduler error: %s\n", e.c_str());
    if (!report.flagged.empty()) {
      std::printf("\nlost, duplicated and unknown tasks (%zu):\n", report.flagged.size());
      for (size_t i = 0; i < report.flagged.size() && i < kDetailsShown; ++i) {
        std::printf("%s", taskDetails(*report.flagged[i], events, agentIds).c_str());
      }
      if (report.flagged.size() > kDetailsShown) {
        std::printf("  ... and %zu more (--json lists them all)\n", report.flagged.size() - kDetailsShown);
      }
    }
    if (!logsCopied.empty()) std::printf("logs copied to %s\n", logsCopied.c_str());
  }
  if (!leftovers.empty()) {
    std::fprintf(stderr, "bench-soak: %zu process(es) of the cluster outlived its clean-up; killed them\n",
                 leftovers.size());
  }
  if (exitCode != 0) return exitCode;
  return passed ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  std::string duration = "60s";
  std::string taskSeconds = "1..5";
  std::string killInterval = "10s";
  std::string reconcileAfter = "10s";
  std::string drainTimeout = "120s";
  std::string chaos = "agent-kill,master-kill,agent-stop";
  std::optional<uint64_t> seed;
  CLI::App app("Random kills of agents and the master under a steady task load; counts lost and duplicated tasks.",
               "bench-soak");
  app.add_option("--duration", duration, "How long the load and the chaos last (120s, 5m)")->capture_default_str();
  app.add_option("--agents", options.agents, "Agents")->capture_default_str()->check(CLI::Range(1, 64));
  app.add_option("--rate", options.rate, "Tasks launched per second")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 1000.0));
  app.add_option("--task-seconds", taskSeconds, "Each task's sleep: N, or A..B for a whole number at random")
      ->capture_default_str();
  app.add_option("--kill-interval", killInterval, "Mean time between chaos events")->capture_default_str();
  app.add_option("--chaos", chaos, "The chaos events to draw from, comma-separated")->capture_default_str();
  app.add_option("--seed", seed, "Seed of the chaos and the task lengths (default: random, printed)");
  app.add_flag("--json", options.json, "Print the report as JSON on stdout (progress stays on stderr)");
  app.add_flag("--strict", options.strict, "Count launches dropped in flight across a master kill as lost");
  app.add_option("--reconcile-after", reconcileAfter, "Reconcile a task explicitly after this long without an update")
      ->capture_default_str();
  app.add_option("--drain-timeout", drainTimeout, "How long the tasks get to end after the load stops")
      ->capture_default_str();
  app.add_option("--agent-resources", options.agentResources, "Each agent's --resources")->capture_default_str();
  app.add_option("--master-flag", options.masterFlags, "Extra flag for the master (repeatable)");
  app.add_option("--agent-flag", options.agentFlags, "Extra flag for each agent (repeatable)");
  app.add_option("--logs-dir", options.logsDir,
                 "Where the cluster's logs are copied (into a new directory) when a task was lost or duplicated")
      ->capture_default_str();
  app.add_flag("--keep-logs", options.keepLogs, "Copy the logs even when nothing went wrong");
  if (int code = parseCommandLine(app, argc, argv); code >= 0) return code;
  auto bad = [](const std::string& what) {
    std::cerr << "bench-soak: " << what << "\n";
    return 2;
  };
  auto durationSeconds = parseSeconds(duration);
  if (!durationSeconds || *durationSeconds <= 0) return bad("--duration: not a duration: " + duration);
  auto range = parseRange(taskSeconds);
  if (!range || range->low <= 0 || (range->low != range->high && std::floor(range->high) < std::ceil(range->low))) {
    return bad("--task-seconds: want N or A..B (seconds): " + taskSeconds);
  }
  auto interval = parseSeconds(killInterval);
  if (!interval || *interval <= 0) return bad("--kill-interval: not a duration: " + killInterval);
  auto reconcile = parseSeconds(reconcileAfter);
  if (!reconcile || *reconcile <= 0) return bad("--reconcile-after: not a duration: " + reconcileAfter);
  auto drain = parseSeconds(drainTimeout);
  if (!drain) return bad("--drain-timeout: not a duration: " + drainTimeout);
  options.chaos.clear();
  std::stringstream kinds(chaos);
  for (std::string kind; std::getline(kinds, kind, ',');) {
    if (kind.empty() || kind == "none") continue;
    if (kind != "agent-kill" && kind != "master-kill" && kind != "agent-stop") {
      return bad("--chaos: unknown event '" + kind + "' (agent-kill, master-kill, agent-stop, none)");
    }
    options.chaos.insert(kind);
  }
  options.durationSeconds = *durationSeconds;
  options.taskSeconds = *range;
  options.killIntervalSeconds = *interval;
  options.reconcileAfterSeconds = *reconcile;
  options.drainTimeoutSeconds = *drain;
  options.seed = seed ? *seed : std::random_device{}() % 1000000;

  // The SDK logs through spdlog's default logger, which writes to stdout:
  // keep stdout for the report (and valid JSON).
  spdlog::set_default_logger(spdlog::stderr_color_mt("bench-soak"));

  struct sigaction action {};
  action.sa_handler = onInterrupt;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
  return soak(options);
}
