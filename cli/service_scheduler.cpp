// The service scheduler: the process that `clusternodes run --detach`
// starts (as the hidden `clusternodes service-scheduler`). It registers the
// framework "docker:NAME" and keeps the wanted number of instances of one
// Docker task running: an instance whose task ends, however it ends, gets a
// new task after a backoff. Its control API on 127.0.0.1, announced as the
// framework's webui_url, reports (GET /status), scales (POST /scale) and
// stops it (POST /kill).
//
// Threads: the SDK calls the scheduler on the driver's thread; the HTTP
// server and a timer run on this process's own loop in the main thread. Both
// work on one Service under its mutex.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <spdlog/spdlog.h>

#include "cli/commands.hpp"
#include "cli/docker_task.hpp"
#include "cli/local_cluster.hpp"
#include "cli/master_target.hpp"
#include "cli/restart_backoff.hpp"
#include "cli/services.hpp"
#include "cli/task_files.hpp"
#include "clusternodes/scheduler.hpp"
#include "common/http_server.hpp"
#include "common/logging.hpp"
#include "common/loop.hpp"

namespace clusternodes::cli {
namespace {

using Clock = std::chrono::steady_clock;

// How often the loop looks at backoffs, the end of a kill and driver errors.
constexpr auto kTick = std::chrono::milliseconds(200);
// An offer declined while an instance waits is refused for this long only;
// once nothing waits, for long (offers are suppressed too).
constexpr double kNoFitRefuseSeconds = 2;
constexpr double kIdleRefuseSeconds = 60;
// How long /kill waits for the tasks to end: the agent's default grace
// between SIGTERM and SIGKILL and time for the statuses to come back. The
// master kills what is left when the framework leaves.
constexpr auto kKillDeadline = std::chrono::seconds(3 + 15);
constexpr auto kRegisterDeadline = std::chrono::seconds(30);

// One of the copies the service keeps, numbered from 0.
struct Instance {
  std::optional<TaskID> taskId;  // its task while one lives
  TaskState state = TaskState::kStaging;
  AgentID agentId;
  std::string hostname;
  std::optional<Clock::time_point> runningSince;
  Clock::time_point notBefore{};  // no new task before this
  RestartBackoff backoff;         // the wait after its task ends
  int restarts = 0;
  bool killRequested = false;  // by a scale down or a kill
  bool reviveWhenDue = false;  // offers are wanted again once notBefore passes
  std::string lastEnd;         // how its previous task ended
};

class Service : public Scheduler {
 public:
  Service(std::string name, std::string image, TaskInfo task, Resources scalars, std::vector<PortRequest> ports,
          int wanted)
      : name_(std::move(name)),
        image_(std::move(image)),
        task_(std::move(task)),
        scalars_(std::move(scalars)),
        ports_(std::move(ports)),
        wanted_(wanted) {
    for (int index = 0; index < wanted_; ++index) instances_[index];
  }

  // REQUIRES: before the driver starts.
  void setDriver(SchedulerDriver* driver) { driver_ = driver; }

  // The driver's calls below, and every other method, hold mutex_ while
  // they call the driver: its methods only queue work for its own thread,
  // in order, so a suppress decided here can never overtake a revive decided
  // on the loop, or the other way round.

  void registered(SchedulerDriver*, const FrameworkID& frameworkId, const MasterInfo& master) override {
    std::lock_guard<std::mutex> lock(mutex_);
    frameworkId_ = frameworkId;
    spdlog::info("registered framework {} with the master at {}", frameworkId.value, master.address);
    changed_.notify_all();
  }

  void reregistered(SchedulerDriver*, const MasterInfo& master) override {
    spdlog::info("re-registered with the master at {}", master.address);
  }

  void disconnected(SchedulerDriver*) override {
    spdlog::warn("lost the master; the driver keeps trying to re-register");
  }

  void resourceOffers(SchedulerDriver* driver, const std::vector<Offer>& offers) override {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto now = Clock::now();
    for (const auto& offer : offers) {
      Resources available = offer.resources;
      std::vector<TaskInfo> tasks;
      for (auto& [index, instance] : instances_) {
        if (!launchable(index, instance, now)) continue;
        auto task = placeTask(taskFor(index, attempts_[index] + 1), scalars_, ports_, offer.agentId, available);
        // Every instance asks for the same: when one does not fit, none does.
        if (!task) break;
        available -= task->resources;
        ++attempts_[index];
        instance.taskId = task->taskId;
        instance.state = TaskState::kStaging;
        instance.agentId = offer.agentId;
        instance.hostname = offer.hostname;
        instance.runningSince.reset();
        instance.reviveWhenDue = false;
        spdlog::info("instance {}: launching {}", index, describeLaunch(*task, offer.hostname));
        tasks.push_back(std::move(*task));
      }
      const Filters filters{waiting() ? kNoFitRefuseSeconds : kIdleRefuseSeconds};
      if (tasks.empty()) {
        driver->declineOffer(offer.id, filters);
      } else {
        driver->launchTasks({offer.id}, tasks, filters);
      }
    }
    if (!waiting() && !suppressed_) {
      suppressed_ = true;
      driver->suppressOffers();
    }
  }

  void statusUpdate(SchedulerDriver*, const TaskStatus& status) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = std::find_if(instances_.begin(), instances_.end(),
                              [&](const auto& entry) { return entry.second.taskId == status.taskId; });
    // An update of an instance's earlier task, or of one it gave up.
    if (found == instances_.end()) return;
    Instance& instance = found->second;
    instance.state = status.state;
    if (!status.agentId.empty()) instance.agentId = status.agentId;
    if (status.state == TaskState::kRunning && !instance.runningSince) {
      instance.runningSince = Clock::now();
      spdlog::info("instance {}: task {} is running", found->first, status.taskId.value);
    }
    if (isTerminal(status.state)) ended(found, status);
  }

  void error(SchedulerDriver*, const std::string& message) override {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = message;
    changed_.notify_all();
  }

  // Waits until the master has registered the framework; fails with the
  // master's refusal, or when it takes longer than `timeout`.
  Result<FrameworkID> awaitRegistration(Clock::duration timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_for(lock, timeout, [this] { return !frameworkId_.empty() || !error_.empty(); });
    if (!error_.empty()) return Error{ErrorCode::kUnavailable, "the master refused the framework: " + error_};
    if (frameworkId_.empty()) return Error{ErrorCode::kUnavailable, "the master did not register the framework in time"};
    return frameworkId_;
  }

  nlohmann::json status() const {
    std::lock_guard<std::mutex> lock(mutex_);
    nlohmann::json instances = nlohmann::json::array();
    for (const auto& [index, instance] : instances_) {
      instances.push_back({
          {"instance", index},
          {"task_id", instance.taskId ? instance.taskId->value : ""},
          {"state", instance.taskId ? toString(instance.state) : "waiting"},
          {"agent_id", instance.taskId ? instance.agentId.value : ""},
          {"agent_hostname", instance.taskId ? instance.hostname : ""},
          {"restarts", instance.restarts},
          {"last_end", instance.lastEnd},
      });
    }
    return {
        {"name", name_},
        {"image", image_},
        {"framework_id", frameworkId_.value},
        {"pid", ::getpid()},
        {"instances", wanted_},
        {"stopping", stopping_},
        {"tasks", instances},
    };
  }

  // Keeps `wanted` instances from now on: the ones numbered `wanted` and up
  // are killed, missing ones are launched. Fails (kConflict) once stopping.
  Result<void> scale(int wanted) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return Error{ErrorCode::kConflict, "the service is stopping"};
    spdlog::info("scaling from {} to {} instance(s)", wanted_, wanted);
    wanted_ = wanted;
    dropInstancesFrom(wanted_);
    bool more = false;
    for (int index = 0; index < wanted_; ++index) more = instances_.try_emplace(index).second || more;
    if (more) revive();
    return {};
  }

  // Kills every task; tick() reports kStopped once they have all ended, or
  // kKillDeadline has passed.
  void stop() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return;
    spdlog::info("stopping: killing every task");
    stopping_ = true;
    stopDeadline_ = Clock::now() + kKillDeadline;
    wanted_ = 0;
    dropInstancesFrom(0);
  }

  enum class Next { kGoOn, kStopped, kFailed };

  // The loop's periodic look: revives offers for instances whose backoff
  // has passed, and says when the process should leave.
  Next tick() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!error_.empty()) return Next::kFailed;
    const auto now = Clock::now();
    if (stopping_) {
      if (instances_.empty()) return Next::kStopped;
      if (now >= stopDeadline_) {
        spdlog::warn("{} task(s) did not end within {} s of the kill; leaving them to the master", instances_.size(),
                     std::chrono::duration_cast<std::chrono::seconds>(kKillDeadline).count());
        return Next::kStopped;
      }
      return Next::kGoOn;
    }
    bool due = false;
    for (auto& [index, instance] : instances_) {
      if (instance.reviveWhenDue && launchable(index, instance, now)) {
        instance.reviveWhenDue = false;
        due = true;
      }
    }
    if (due) revive();
    return Next::kGoOn;
  }

  std::string error() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return error_;
  }

 private:
  using Instances = std::map<int, Instance>;

  // Whether the instance should get a task now. REQUIRES: mutex_ held.
  bool launchable(int index, const Instance& instance, Clock::time_point now) const {
    return !stopping_ && index < wanted_ && !instance.taskId && now >= instance.notBefore;
  }

  // Whether any instance lacks a task, now or after its backoff.
  // REQUIRES: mutex_ held.
  bool waiting() const {
    if (stopping_) return false;
    return std::any_of(instances_.begin(), instances_.end(),
                       [this](const auto& entry) { return entry.first < wanted_ && !entry.second.taskId; });
  }

  // REQUIRES: mutex_ held.
  void revive() {
    suppressed_ = false;
    driver_->reviveOffers();
  }

  // The task of an instance's attempt: "NAME.INDEX.ATTEMPT".
  TaskInfo taskFor(int index, int attempt) const {
    TaskInfo task = task_;
    task.name = name_ + "." + std::to_string(index);
    task.taskId.value = task.name + "." + std::to_string(attempt);
    return task;
  }

  // Kills the tasks of the instances numbered `first` and up, and forgets
  // those without a task; the others go when their tasks end.
  // REQUIRES: mutex_ held.
  void dropInstancesFrom(int first) {
    for (auto it = instances_.lower_bound(first); it != instances_.end();) {
      Instance& instance = it->second;
      if (!instance.taskId) {
        it = instances_.erase(it);
        continue;
      }
      if (!instance.killRequested) {
        instance.killRequested = true;
        spdlog::info("instance {}: killing task {}", it->first, instance.taskId->value);
        driver_->killTask(*instance.taskId);
      }
      ++it;
    }
  }

  // The instance's task ended: it gets a new one after its backoff (at once
  // when a scale down killed it and a scale up wanted it back), or goes
  // when it is no longer wanted. REQUIRES: mutex_ held.
  void ended(Instances::iterator found, const TaskStatus& status) {
    const auto now = Clock::now();
    const int index = found->first;
    Instance& instance = found->second;
    instance.lastEnd = toString(status.state);
    if (!status.message.empty()) instance.lastEnd += ": " + status.message;
    instance.taskId.reset();
    const bool requested = instance.killRequested;
    instance.killRequested = false;
    if (stopping_ || index >= wanted_) {
      spdlog::info("instance {}: task {} ended ({}); the instance is no longer wanted", index,
                   status.taskId.value, instance.lastEnd);
      instances_.erase(found);
      return;
    }
    ++instance.restarts;
    auto delay = Clock::duration::zero();
    if (!requested) {
      std::optional<RestartBackoff::Duration> ranFor;
      if (instance.runningSince) {
        ranFor = std::chrono::duration_cast<RestartBackoff::Duration>(now - *instance.runningSince);
      }
      delay = instance.backoff.ended(ranFor);
    }
    instance.notBefore = now + delay;
    instance.runningSince.reset();
    instance.reviveWhenDue = true;
    spdlog::warn("instance {}: task {} ended ({}); relaunching in {:.1f} s", index, status.taskId.value,
                 instance.lastEnd, std::chrono::duration<double>(delay).count());
  }

  const std::string name_;
  const std::string image_;
  const TaskInfo task_;  // the template: no id, agent or resources
  const Resources scalars_;
  const std::vector<PortRequest> ports_;
  SchedulerDriver* driver_ = nullptr;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  FrameworkID frameworkId_;
  std::string error_;  // the driver's unrecoverable error; "" while none
  int wanted_;
  Instances instances_;
  // The last attempt of each instance number, kept when a scale down drops
  // the instance: a task id is never used twice in the framework.
  std::map<int, int> attempts_;
  bool suppressed_ = false;
  bool stopping_ = false;
  Clock::time_point stopDeadline_{};
};

// The framework with this name that the master registered before `ours`,
// if any: of two services started with one name at once, the later leaves.
std::optional<std::string> olderNamesake(const std::string& masterHttp, const std::string& frameworkName,
                                         const FrameworkID& ours) {
  auto state = getJson(masterHttp + "/state");
  if (!state || !state->contains("frameworks")) return std::nullopt;
  double ourTime = 0;
  for (const auto& framework : (*state)["frameworks"]) {
    if (framework.value("id", "") == ours.value) ourTime = framework.value("registered_time", 0.0);
  }
  for (const auto& framework : (*state)["frameworks"]) {
    const std::string id = framework.value("id", "");
    if (id == ours.value || framework.value("name", "") != frameworkName) continue;
    const double time = framework.value("registered_time", 0.0);
    if (time < ourTime || (time == ourTime && id < ours.value)) return id;
  }
  return std::nullopt;
}

HttpResponse handleScale(Service& service, const HttpRequest& request) {
  auto body = nlohmann::json::parse(request.body, nullptr, false);
  if (!body.is_object() || !body.contains("instances") || !body["instances"].is_number_integer() ||
      body["instances"].get<int64_t>() < 0 || body["instances"].get<int64_t>() > 1000) {
    return HttpResponse::jsonError(400, "the body must be {\"instances\": K} with K from 0 to 1000");
  }
  const int wanted = static_cast<int>(body["instances"].get<int64_t>());
  if (auto scaled = service.scale(wanted); !scaled) return HttpResponse::jsonError(409, scaled.error().message);
  return HttpResponse::json(200, nlohmann::json{{"instances", wanted}}.dump());
}

}  // namespace

int runServiceScheduler(const RunOptions& options) {
  (void)setupLogging("service " + options.name, "info");
  auto plan = checkRunOptions(options);
  if (!plan) {
    spdlog::error("{}", plan.error().message);
    return 2;
  }
  if (auto valid = checkServiceName(options.name); !valid) {
    spdlog::error("{}", valid.error().message);
    return 2;
  }
  auto workDir = localWorkDir(options.workDir, /*create=*/true);
  if (!workDir) {
    spdlog::error("{}", workDir.error().message);
    return 1;
  }
  int exitCode = 1;
  auto master = findMaster(options.master, options.workDir, exitCode, options.keyFile, options.masterKeyFile);
  if (!master) return exitCode;
  // A daemon holds no directory it happened to be started from.
  if (::chdir("/") != 0) spdlog::warn("cannot change to /: {}", std::strerror(errno));

  Loop loop;
  HttpServer http(loop);
  auto port = http.listen("127.0.0.1", 0);
  if (!port) {
    spdlog::error("cannot listen for control requests: {}", port.error().message);
    return 1;
  }
  Service service(options.name, options.image, dockerTaskTemplate(options, *plan), scalarResources(options),
                  plan->ports, options.instances);
  FrameworkInfo info;
  info.name = serviceFrameworkName(options.name);
  info.webuiUrl = "http://127.0.0.1:" + std::to_string(*port);
  auto driver = SchedulerDriver::create(
      &service, info, {.master = master->endpoint, .keyFile = master->keyFile, .masterKeyFile = master->masterKeyFile});
  service.setDriver(driver.get());
  if (driver->start() != DriverStatus::kRunning) {
    spdlog::error("cannot register a framework with {}", master->described);
    return 1;
  }
  auto leave = [&driver](int status) {
    driver->stop();
    driver->join();
    return status;
  };
  auto frameworkId = service.awaitRegistration(kRegisterDeadline);
  if (!frameworkId) {
    spdlog::error("{}", frameworkId.error().message);
    return leave(1);
  }
  if (auto rival = olderNamesake(master->httpUrl, info.name, *frameworkId)) {
    spdlog::error("service {} is already running (framework {}); leaving", options.name, *rival);
    return leave(1);
  }

  // The pid, for operators and tests that must end the service without its
  // control API.
  const std::string pidFile = servicesDir(*workDir) + "/" + options.name + ".pid";
  std::error_code ignored;
  std::filesystem::create_directories(servicesDir(*workDir), ignored);
  if (!(std::ofstream(pidFile) << ::getpid() << "\n")) spdlog::warn("cannot write {}", pidFile);

  http.route("GET", "/status", [&service](const HttpRequest&) {
    return HttpResponse::json(200, service.status().dump());
  });
  http.route("POST", "/scale", [&service](const HttpRequest& request) { return handleScale(service, request); });
  http.route("POST", "/kill", [&service](const HttpRequest&) {
    service.stop();
    return HttpResponse::json(200, R"({"stopping": true})");
  });
  // SIGTERM and SIGINT stop the service as /kill does.
  SignalWatcher terminated(loop, SIGTERM, [&service] { service.stop(); });
  SignalWatcher interrupted(loop, SIGINT, [&service] { service.stop(); });
  Timer ticker(loop);
  ticker.start(
      kTick,
      [&] {
        switch (service.tick()) {
          case Service::Next::kGoOn: return;
          case Service::Next::kStopped: exitCode = 0; break;
          case Service::Next::kFailed:
            spdlog::error("the master dropped the framework: {}", service.error());
            exitCode = 1;
            break;
        }
        loop.stop();
      },
      kTick);

  spdlog::info("keeping {} instance(s) of {}; control API at {}", options.instances, options.image, info.webuiUrl);
  loop.run();
  std::filesystem::remove(pidFile, ignored);
  spdlog::info("{}", exitCode == 0 ? "stopped" : "failed");
  return leave(exitCode);
}

}  // namespace clusternodes::cli
