// `clusternodes run --image=IMAGE -- CMD...`: one Docker task in the
// foreground, as `docker run` runs a container. A framework of its own
// ("clusternodes-run") takes the first offer that fits, launches the task,
// copies the container's stdout and stderr from the task's sandbox (the
// agent's /files endpoints) to ours while it runs, and leaves with the
// container's exit status.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <iostream>
#include <mutex>
#include <optional>
#include <random>
#include <spdlog/spdlog.h>
#include <thread>

#include "cli/commands.hpp"
#include "cli/docker_task.hpp"
#include "cli/master_target.hpp"
#include "cli/task_files.hpp"
#include "clusternodes/scheduler.hpp"
#include "common/logging.hpp"

namespace clusternodes::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kFrameworkName = "clusternodes-run";
constexpr const char* kLoggerName = "clusternodes";
// How often the sandbox files are read while the task runs.
constexpr auto kPollInterval = std::chrono::milliseconds(250);
// An offer that does not fit is declined for this long only: what frees up
// on its agent meanwhile should reach us soon.
constexpr double kNoFitRefuseSeconds = 2;
// Once the task is launched nothing more is wanted (offers are suppressed
// too; this covers offers already on their way).
constexpr double kDoneRefuseSeconds = 60;
// How long a kill may take: the agent's default grace between SIGTERM and
// SIGKILL (the task sets none), and time for the container to go and its
// status to travel back.
// When to say that no offer fits yet, and how often again.
constexpr double kFirstWaitNotice = 2;
constexpr double kWaitNoticeEvery = 10;
constexpr auto kKillDeadline = std::chrono::seconds(3 + 15);

// Exit statuses, as `docker run` has them.
constexpr int kExitNotRun = 125;         // the container never ran
constexpr int kExitNotExecutable = 126;  // its command may not be executed
constexpr int kExitNotFound = 127;       // its command does not exist
constexpr int kExitInterrupted = 130;    // 128 + SIGINT

// "run-" and six random hex digits.
std::string randomTaskId() {
  std::random_device random;
  std::uniform_int_distribution<uint32_t> digits(0, 0xffffff);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "run-";
  uint32_t value = digits(random);
  for (int shift = 20; shift >= 0; shift -= 4) id += kHex[(value >> shift) & 0xf];
  return id;
}

// The task as the options describe it, with neither agent nor resources yet.
TaskInfo taskTemplate(const RunOptions& options, const Plan& plan) {
  TaskInfo task = dockerTaskTemplate(options, plan);
  task.taskId.value = options.name.empty() ? randomTaskId() : options.name;
  task.name = options.name.empty() ? options.image : options.name;
  return task;
}

// What the driver's callbacks and the signal watcher tell the main thread.
struct Events {
  std::mutex mutex;
  std::condition_variable changed;
  FrameworkID frameworkId;
  std::optional<TaskInfo> launched;  // the task as sent
  std::string agentHostname;         // of the agent it was sent to
  std::optional<TaskStatus> terminal;
  std::string error;  // the driver's unrecoverable error; "" while none
  int interrupts = 0;
};

// Launches the task on the first offer that fits and declines the rest.
class RunScheduler : public Scheduler {
 public:
  RunScheduler(Events& events, TaskInfo task, Resources scalars, std::vector<PortRequest> ports)
      : events_(events), task_(std::move(task)), scalars_(std::move(scalars)), ports_(std::move(ports)) {}

  void registered(SchedulerDriver*, const FrameworkID& frameworkId, const MasterInfo&) override {
    std::lock_guard<std::mutex> lock(events_.mutex);
    events_.frameworkId = frameworkId;
  }

  void resourceOffers(SchedulerDriver* driver, const std::vector<Offer>& offers) override {
    for (const auto& offer : offers) {
      bool wanted = false;
      {
        std::lock_guard<std::mutex> lock(events_.mutex);
        wanted = !events_.launched && events_.interrupts == 0;
      }
      auto task = wanted ? fit(offer) : std::nullopt;
      if (!task) {
        driver->declineOffer(offer.id, Filters{wanted ? kNoFitRefuseSeconds : kDoneRefuseSeconds});
        continue;
      }
      driver->launchTasks({offer.id}, {*task});
      driver->suppressOffers();
      std::lock_guard<std::mutex> lock(events_.mutex);
      events_.launched = *task;
      events_.agentHostname = offer.hostname;
      events_.changed.notify_all();
    }
  }

  void statusUpdate(SchedulerDriver*, const TaskStatus& status) override {
    if (status.taskId != task_.taskId || !isTerminal(status.state)) return;
    std::lock_guard<std::mutex> lock(events_.mutex);
    if (!events_.terminal) events_.terminal = status;
    events_.changed.notify_all();
  }

  void error(SchedulerDriver*, const std::string& message) override {
    std::lock_guard<std::mutex> lock(events_.mutex);
    events_.error = message;
    events_.changed.notify_all();
  }

 private:
  // The task placed on `offer`, or nullopt when the offer lacks cpus, mem or
  // a host port for each container port.
  std::optional<TaskInfo> fit(const Offer& offer) const {
    return placeTask(task_, scalars_, ports_, offer.agentId, offer.resources);
  }

  Events& events_;
  const TaskInfo task_;
  const Resources scalars_;
  const std::vector<PortRequest> ports_;  // each gets a host port of its own
};

// Takes SIGINT and SIGTERM from their default action while it lives: they
// are blocked in this thread and in every thread started after it (threads
// inherit the mask), and one thread of its own takes them with sigtimedwait
// and calls `onSignal` there, as ordinary code rather than in a handler.
class SignalWatcher {
 public:
  explicit SignalWatcher(std::function<void()> onSignal) : onSignal_(std::move(onSignal)) {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals_, &previous_);
    thread_ = std::thread([this] { watch(); });
  }
  ~SignalWatcher() {
    stop_ = true;
    // Wakes the watch at once rather than at its next tick: the signal is
    // blocked, so it only ends the thread's wait.
    pthread_kill(thread_.native_handle(), SIGTERM);
    thread_.join();
    // The command is leaving: a signal that came after the watch ended is
    // answered already, and must not kill it once unblocked.
    timespec none{0, 0};
    while (sigtimedwait(&signals_, nullptr, &none) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  void watch() {
    timespec tick{0, 100'000'000};  // how soon the destructor is heard
    while (!stop_) {
      if (sigtimedwait(&signals_, nullptr, &tick) > 0 && !stop_) onSignal_();
    }
  }

  std::function<void()> onSignal_;
  sigset_t signals_{};
  sigset_t previous_{};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Copies the task's stdout and stderr from its sandbox to ours, each call
// going on from where the last one stopped.
class OutputCopier {
 public:
  OutputCopier(std::string masterHttp, std::string frameworkId, std::string taskId, std::string agentId)
      : masterHttp_(std::move(masterHttp)),
        frameworkId_(std::move(frameworkId)),
        taskId_(std::move(taskId)),
        agentId_(std::move(agentId)) {}

  // Copies all that is new in both files. Fails while the sandbox or a file
  // is not there yet (kNotFound) or the agent does not answer; the next
  // call tries again.
  Result<void> copyNew() {
    if (run_.empty()) {
      if (agentHttp_.empty()) {
        auto state = getJson(masterHttp_ + "/state");
        if (!state) return state.error();
        auto agent = agentHttpUrl(*state, agentId_);
        if (!agent) return agent.error();
        agentHttp_ = *agent;
      }
      auto run = newestSandboxRun(agentHttp_, frameworkId_, taskId_);
      if (!run) return run.error();
      run_ = *run;
    }
    auto out = copyFile("stdout", stdoutOffset_, std::cout);
    auto err = copyFile("stderr", stderrOffset_, std::cerr);
    if (!out) return out;
    return err;
  }

 private:
  Result<void> copyFile(const std::string& name, int64_t& offset, std::ostream& to) {
    for (;;) {
      auto chunk = readSandboxFile(agentHttp_, run_ + "/" + name, offset);
      if (!chunk) return chunk.error();
      if (chunk->data.empty()) return {};
      to << chunk->data << std::flush;
      offset = chunk->nextOffset;
    }
  }

  const std::string masterHttp_;
  const std::string frameworkId_;
  const std::string taskId_;
  const std::string agentId_;
  std::string agentHttp_;
  std::string run_;  // the sandbox run directory, relative to the agent's sandboxes
  int64_t stdoutOffset_ = 0;
  int64_t stderrOffset_ = 0;
};

// The exit status for the task's last status (after printing why, when the
// status alone does not say it), as `docker run` would leave.
int exitStatusOf(const TaskStatus& status, bool killRequested) {
  // A status a process can leave with, or -1.
  const int code = status.exitCode && *status.exitCode >= 0 && *status.exitCode <= 255 ? *status.exitCode : -1;
  if (status.state == TaskState::kFinished) return code >= 0 ? code : 0;
  if (status.state == TaskState::kKilled && killRequested) return code >= 0 ? code : kExitInterrupted;
  if (status.state == TaskState::kFailed && status.reason == TaskReason::kCommandExited && code >= 0) return code;

  std::string message = status.message.empty() ? toString(status.state) : status.message;
  const char* what = status.state == TaskState::kKilled ? " was killed: " : " failed: ";
  std::cerr << "clusternodes: task " << status.taskId.value << what << message << " (" << toString(status.reason)
            << ")\n";
  switch (status.reason) {
    case TaskReason::kCommandNotFound: return kExitNotFound;
    case TaskReason::kCommandNotExecutable: return kExitNotExecutable;
    case TaskReason::kMemoryLimit: return code >= 0 ? code : 128 + SIGKILL;
    default: break;
  }
  if (code >= 0) return code;
  if (status.signal) return 128 + *status.signal;
  return kExitNotRun;
}

// The SDK logs through spdlog, whose default logger writes to stdout, which
// here is the container's: its warnings go to stderr instead.
void sdkLogsToStderr() {
  if (spdlog::get(kLoggerName) == nullptr) (void)setupLogging(kLoggerName, "warn");
}

}  // namespace

int runRun(const RunOptions& options) {
  auto plan = checkRunOptions(options);
  if (!plan) {
    std::cerr << "clusternodes: " << plan.error().message << "\n";
    return 2;
  }
  int exitCode = 1;
  auto master = findMaster(options.master, options.workDir, exitCode, options.keyFile, options.masterKeyFile);
  if (!master) return exitCode;
  // The local record names a master that may be gone; a framework would wait
  // for it forever.
  if (auto state = getJson(master->httpUrl + "/state"); !state) {
    std::cerr << "clusternodes: " << master->described << " does not answer: " << state.error().message << "\n";
    return 1;
  }
  sdkLogsToStderr();

  Events events;
  SignalWatcher signals([&events] {
    std::lock_guard<std::mutex> lock(events.mutex);
    ++events.interrupts;
    events.changed.notify_all();
  });
  const Resources scalars = scalarResources(options);
  const TaskInfo task = taskTemplate(options, *plan);
  const std::string& taskId = task.taskId.value;
  RunScheduler scheduler(events, task, scalars, plan->ports);
  FrameworkInfo info;
  info.name = kFrameworkName;
  auto driver = SchedulerDriver::create(
      &scheduler, info,
      {.master = master->endpoint, .keyFile = master->keyFile, .masterKeyFile = master->masterKeyFile});
  if (driver->start() != DriverStatus::kRunning) {
    std::cerr << "clusternodes: cannot register a framework with " << master->described << "\n";
    return 1;
  }
  // Every way out tears the framework down; the master then kills a task
  // that still runs.
  auto leave = [&driver](int status) {
    driver->stop();
    driver->join();
    return status;
  };

  const auto started = Clock::now();
  double nextWaitNotice = kFirstWaitNotice;
  std::optional<Clock::time_point> killDeadline;
  std::optional<OutputCopier> output;
  int interruptsHandled = 0;
  for (;;) {
    FrameworkID frameworkId;
    std::optional<TaskInfo> launched;
    std::string hostname;
    std::optional<TaskStatus> terminal;
    std::string error;
    int interrupts = 0;
    {
      std::unique_lock<std::mutex> lock(events.mutex);
      events.changed.wait_for(lock, kPollInterval, [&] {
        return events.interrupts != interruptsHandled || events.terminal || !events.error.empty() ||
               (events.launched && !output);
      });
      frameworkId = events.frameworkId;
      launched = events.launched;
      hostname = events.agentHostname;
      terminal = events.terminal;
      error = events.error;
      interrupts = events.interrupts;
    }
    if (!error.empty()) {
      std::cerr << "clusternodes: " << master->described << " refused the framework: " << error << "\n";
      return leave(1);
    }
    // A second interrupt: no more waiting.
    if (interrupts >= 2) return leave(kExitInterrupted);
    if (interrupts > interruptsHandled) {
      interruptsHandled = interrupts;
      if (!launched) return leave(kExitInterrupted);
      if (!terminal) {
        std::cerr << "clusternodes: killing task " << taskId << "\n";
        driver->killTask(task.taskId);
        killDeadline = Clock::now() + kKillDeadline;
      }
    }
    if (!launched) {
      auto waited = std::chrono::duration<double>(Clock::now() - started).count();
      // Progress while no offer fits: after 2 s, then every 10 s.
      if (waited >= nextWaitNotice) {
        std::cerr << "clusternodes: waiting for an offer of " << scalars.toString() << " (" << static_cast<int>(waited)
                  << " s so far; 'clusternodes agents' shows what is in use)\n";
        nextWaitNotice = waited + kWaitNoticeEvery;
      }
      if (options.timeoutSeconds > 0 && waited >= options.timeoutSeconds) {
        std::string ports = plan->ports.empty() ? "" : " and " + std::to_string(plan->ports.size()) + " port(s)";
        std::cerr << "clusternodes: no agent offered " << scalars.toString() << ports << " within "
                  << options.timeoutSeconds << " s\n";
        return leave(1);
      }
      continue;
    }
    if (!output) {
      std::cerr << "clusternodes: " << describeLaunch(*launched, hostname) << "\n";
      output.emplace(master->httpUrl, frameworkId.value, taskId, launched->agentId.value);
    }
    auto copied = output->copyNew();
    if (terminal) {
      // The executor writes all the container's output to the sandbox before
      // it reports the end, so the copy above took the rest.
      if (!copied && copied.error().code != ErrorCode::kNotFound) {
        std::cerr << "clusternodes: cannot read the task's output: " << copied.error().message << "\n";
      }
      return leave(exitStatusOf(*terminal, killDeadline.has_value()));
    }
    if (killDeadline && Clock::now() >= *killDeadline) {
      std::cerr << "clusternodes: task " << taskId << " did not end within "
                << std::chrono::duration_cast<std::chrono::seconds>(kKillDeadline).count()
                << " s of the kill; leaving it to the master\n";
      return leave(kExitInterrupted);
    }
  }
}

}  // namespace clusternodes::cli
