// bench-launch-throughput: how fast a local Clusternodes cluster launches and
// finishes tasks running `true`, beside how fast this machine itself spawns
// the same command, measured in the same run and reported as a ratio.
//
//   bench-launch-throughput [--tasks=1000] [--rounds=3] [--json]
//
// Each round does, in this order:
//   1. Spawn loops: N/2 times posix_spawn + waitpid, one child at a time, of
//      `/bin/true`, then of `/bin/sh -c true` (how a task's command runs),
//      then of `clusternodes-executor --help` (what exec, loading and static
//      initialisation of the executor cost before it does any work).
//   2. Cluster: a fresh master and two agents, real processes on loopback
//      started with the daemons' default timings (see BenchCluster); an
//      in-process SDK scheduler registers, then packs N tasks `true` (cpus
//      0.1, mem 16) into the offers as they arrive. Timed from the first
//      launchTasks() call to the last terminal status update. Starting the
//      cluster and registering are not timed.
//   3. The spawn loops again, the other N/2 times; each spawn rate is over
//      both halves, so the loops bracket the cluster run.
// Each figure is printed per round, then the median of each column over the
// rounds. The ratios compare Clusternodes' tasks/s with the spawn rates.
//
// --compare-isolation, --compare-curve and --compare-api run the cluster
// launch twice a round instead, with no spawn loops: agents without and with
// cgroups, links plain and CURVE, or the framework on the SDK and on the
// Mesos v1 HTTP scheduler API (bench/v1_http_scheduler.hpp, JSON).
//
// Exit status: 0 when every task of every round finished; 1 when one did not
// (the run stops there and prints the first failures, with no figures for
// that round) or the cluster could not start; 2 on a bad flag.
// Nothing here compares a figure against a threshold: it measures, it does
// not judge.
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/flags.hpp"
#include "bench/bench_common.hpp"
#include "bench/v1_http_scheduler.hpp"
#include "clusternodes/result.hpp"
#include "clusternodes/scheduler.hpp"
#include "common/curve.hpp"
#include "common/http_client.hpp"
#include "tests/harness/cluster.hpp"

extern char** environ;

using namespace clusternodes;
using namespace clusternodes::bench;

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kFailuresShown = 20;  // failed tasks printed per round
constexpr auto kSettle = std::chrono::seconds(2);  // pause between rounds

double secondsBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// ------------------------------------------------------------ CPU time

// CPU seconds (user + system) this process has used, and those of its
// children it has reaped.
struct OwnCpu {
  double self = 0;
  double children = 0;
};

double seconds(const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; }

OwnCpu ownCpu() {
  rusage self{};
  rusage children{};
  ::getrusage(RUSAGE_SELF, &self);
  ::getrusage(RUSAGE_CHILDREN, &children);
  return {seconds(self.ru_utime) + seconds(self.ru_stime), seconds(children.ru_utime) + seconds(children.ru_stime)};
}

// CPU seconds of another process (utime + stime) and of the children it has
// reaped (cutime + cstime), from /proc/PID/stat; zeros when it is gone.
struct ProcessCpu {
  double self = 0;
  double children = 0;
};

ProcessCpu processCpu(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  auto close = stat.rfind(')');  // comm may hold spaces and parentheses
  if (close == std::string::npos) return {};
  std::istringstream fields(stat.substr(close + 2));
  std::vector<std::string> f;
  std::string field;
  while (fields >> field) f.push_back(field);
  // f[0] is field 3 (state); utime, stime, cutime, cstime are fields 14-17.
  if (f.size() < 15) return {};
  double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  return {(std::stod(f[11]) + std::stod(f[12])) / tick, (std::stod(f[13]) + std::stod(f[14])) / tick};
}

// ------------------------------------------------------------ spawn loop

struct SpawnResult {
  int count = 0;            // spawns
  double seconds = 0;       // wall time of the whole loop
  double perSecond = 0;     // spawns completed per second
  double cpuMsPerSpawn = 0;  // CPU of parent and child together, per spawn

  // Two loops of the same command as one.
  SpawnResult plus(const SpawnResult& other, int otherCount) const {
    SpawnResult sum;
    sum.count = count + otherCount;
    sum.seconds = seconds + other.seconds;
    sum.perSecond = sum.seconds > 0 ? sum.count / sum.seconds : 0;
    sum.cpuMsPerSpawn = sum.count > 0 ? (cpuMsPerSpawn * count + other.cpuMsPerSpawn * otherCount) / sum.count : 0;
    return sum;
  }
};

// Runs `argv` (argv[0] an absolute path) `count` times, one child at a time:
// posix_spawn, then waitpid. Its stdin, stdout and stderr are /dev/null. Fails
// when a spawn fails or a child does not exit with status 0.
Result<SpawnResult> spawnLoop(const std::vector<std::string>& argv, int count) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);

  std::optional<Error> failure;
  OwnCpu cpuBefore = ownCpu();
  auto start = Clock::now();
  for (int i = 0; i < count && !failure; ++i) {
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
    if (rc != 0) {
      failure = internalError("cannot spawn " + argv[0] + ": " + std::strerror(rc));
      break;
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      failure = internalError(argv[0] + " did not exit with status 0 (wait status " + std::to_string(status) + ")");
    }
  }
  auto end = Clock::now();
  OwnCpu cpuAfter = ownCpu();
  posix_spawn_file_actions_destroy(&actions);
  if (failure) return *failure;

  SpawnResult r;
  r.seconds = secondsBetween(start, end);
  r.perSecond = count / r.seconds;
  r.cpuMsPerSpawn =
      ((cpuAfter.self - cpuBefore.self) + (cpuAfter.children - cpuBefore.children)) * 1000.0 / count;
  return r;
}

// ------------------------------------------------------------ scheduler

// Launches `total` tasks `true` into whatever offers arrive and records when
// the first launch was sent and when the last task ended.
// Threads: the callbacks run on the driver thread; the wait and accessor
// methods may be called from any other thread.
class ThroughputScheduler : public Scheduler {
 public:
  explicit ThroughputScheduler(int total) : total_(total) {
    perTask_.addScalar("cpus", 0.1);
    perTask_.addScalar("mem", 16);
  }

  void registered(SchedulerDriver*, const FrameworkID&, const MasterInfo&) override {
    std::lock_guard<std::mutex> lock(mutex_);
    registered_ = true;
    changed_.notify_all();
  }

  void resourceOffers(SchedulerDriver* driver, const std::vector<Offer>& offers) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      offers_ += static_cast<int>(offers.size());
    }
    for (const auto& offer : offers) {
      auto tasks = packTasks(offer, perTask_, "task", "true", total_, launched_);
      if (tasks.empty()) {
        driver->declineOffer(offer.id, Filters{launched_ < total_ ? 0.0 : 3600.0});
        continue;
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!firstLaunch_) firstLaunch_ = Clock::now();
        ++launchCalls_;
      }
      // While tasks remain, what this offer has left must come back at once.
      driver->launchTasks({offer.id}, tasks, Filters{launched_ < total_ ? 0.0 : 3600.0});
    }
    if (launched_ >= total_) driver->suppressOffers();
  }

  void statusUpdate(SchedulerDriver*, const TaskStatus& status) override {
    if (!isTerminal(status.state)) return;
    auto now = Clock::now();
    std::lock_guard<std::mutex> lock(mutex_);
    if (!firstEnd_) firstEnd_ = now;
    if (status.state == TaskState::kFinished) {
      ++finished_;
    } else {
      failures_.push_back(status.taskId.value + " " + toString(status.state) + ": " + status.message);
    }
    if (++ended_ == total_) {
      lastEnd_ = now;
      changed_.notify_all();
    }
  }

  void error(SchedulerDriver*, const std::string& message) override {
    std::lock_guard<std::mutex> lock(mutex_);
    failures_.push_back("driver error: " + message);
    failed_ = true;
    changed_.notify_all();
  }

  // Waits until the framework is registered (or a driver error).
  bool waitRegistered(std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [this] { return registered_ || failed_; }) && registered_;
  }

  // Waits until every task ended (or a driver error).
  bool waitDone(std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [this] { return lastEnd_.has_value() || failed_; }) &&
           lastEnd_.has_value();
  }

  struct Outcome {
    std::optional<Clock::time_point> firstLaunch;
    std::optional<Clock::time_point> firstEnd;
    std::optional<Clock::time_point> lastEnd;
    int launchCalls = 0;
    int offers = 0;
    int finished = 0;
    int ended = 0;
    std::vector<std::string> failures;
  };

  Outcome outcome() {
    std::lock_guard<std::mutex> lock(mutex_);
    return {firstLaunch_, firstEnd_, lastEnd_, launchCalls_, offers_, finished_, ended_, failures_};
  }

 private:
  const int total_;
  Resources perTask_;
  int launched_ = 0;  // driver thread only

  std::mutex mutex_;
  std::condition_variable changed_;
  bool registered_ = false;
  bool failed_ = false;
  std::optional<Clock::time_point> firstLaunch_;
  std::optional<Clock::time_point> firstEnd_;
  std::optional<Clock::time_point> lastEnd_;
  int launchCalls_ = 0;
  int offers_ = 0;  // received
  int finished_ = 0;
  int ended_ = 0;
  std::vector<std::string> failures_;
};

// ------------------------------------------------------------ cluster round

// A master and two agents as processes on loopback, with the daemons' own
// default timings plus any extra flags. The harness's TestCluster shortens
// the master's ping timeout (200 ms, 3 misses) and the agents' status-update
// retry (200 ms) for tests; under a burst of hundreds of launches on a small
// machine the master then declares the agents unreachable mid-run. This
// class reuses the harness's Process and a TestCluster for its temporary
// directory, whose destructor kills the executors and tasks left in it.
class BenchCluster {
 public:
  // Starts the master and `agents` agents advertising `resources`, and waits
  // until every agent is registered and reachable.
  Result<void> start(size_t agents, const std::string& resources, const std::vector<std::string>& masterFlags,
                     const std::vector<std::string>& agentFlags) {
    using testing::binary;
    using testing::freePort;
    const std::string& dir = scratch_.dir();
    masterPort_ = freePort();
    masterHttpPort_ = freePort();
    std::vector<std::string> argv = {binary("clusternodes-master"), "--ip=127.0.0.1",
                                     "--port=" + std::to_string(masterPort_),
                                     "--http-port=" + std::to_string(masterHttpPort_), "--work-dir=" + dir + "/master"};
    argv.insert(argv.end(), masterFlags.begin(), masterFlags.end());
    master_ = std::make_unique<testing::Process>(argv, dir + "/master.log");
    if (!testing::eventually([&] { return httpGet(masterHttp() + "/health", 1).ok(); })) {
      return internalError("the master did not come up; see " + dir + "/master.log");
    }
    for (size_t i = 0; i < agents; ++i) {
      int port = freePort();
      int httpPort = freePort();
      std::string name = "agent-" + std::to_string(i);
      argv = {binary("clusternodes-agent"),
              "--master=" + master(),
              "--ip=127.0.0.1",
              "--port=" + std::to_string(port),
              "--http-port=" + std::to_string(httpPort),
              "--work-dir=" + dir + "/" + name,
              "--resources=" + resources};
      argv.insert(argv.end(), agentFlags.begin(), agentFlags.end());
      agents_.push_back(std::make_unique<testing::Process>(argv, dir + "/" + name + ".log"));
      agentHttp_.push_back("http://127.0.0.1:" + std::to_string(httpPort));
    }
    bool registered = testing::eventually([&] {
      auto state = getJson(masterHttp() + "/state");
      if (!state.is_object() || !state["agents"].is_array()) return false;
      size_t reachable = 0;
      for (const auto& a : state["agents"]) reachable += a.value("reachable", false) ? 1 : 0;
      return reachable >= agents;
    });
    if (!registered) return internalError("the agents did not register; see the logs in " + dir);
    return {};
  }

  std::string master() const { return "127.0.0.1:" + std::to_string(masterPort_); }
  int masterHttpPort() const { return masterHttpPort_; }
  pid_t masterPid() const { return master_->pid(); }
  const std::string& dir() const { return scratch_.dir(); }
  pid_t agentPid(size_t index) const { return agents_.at(index)->pid(); }
  // The agent's /state, or null when it does not answer.
  nlohmann::json agentState(size_t index) const { return getJson(agentHttp_.at(index) + "/state"); }

 private:
  std::string masterHttp() const { return "http://127.0.0.1:" + std::to_string(masterHttpPort_); }

  static nlohmann::json getJson(const std::string& url) {
    auto r = httpGet(url, 5);
    if (!r || r->status != 200) return nullptr;
    return nlohmann::json::parse(r->body, nullptr, false);
  }

  // Members are destroyed in reverse order: the agents, the master, then the
  // scratch cluster's clean-up of what is left in its directory.
  testing::TestCluster scratch_;  // only its directory and clean-up; starts nothing
  int masterPort_ = 0;
  int masterHttpPort_ = 0;
  std::unique_ptr<testing::Process> master_;
  std::vector<std::unique_ptr<testing::Process>> agents_;
  std::vector<std::string> agentHttp_;
};

struct ClusterOptions {
  int tasks = 1000;
  int timeoutSeconds = 300;
  std::string agentResources;            // "" for agentResources(tasks)
  std::vector<std::string> masterFlags;  // appended to the master's command line
  std::vector<std::string> agentFlags;   // appended to each agent's
  // Every link CURVE, authenticated: keys made in the round's directory, the
  // master with --key, --credentials and both --authenticate flags.
  bool curve = false;
  // The framework speaks the Mesos v1 HTTP scheduler API (JSON) rather than
  // the SDK's ZeroMQ protocol (bench/v1_http_scheduler.hpp).
  bool http = false;
};

struct ClusterResult {
  double seconds = 0;      // first launchTasks() to the last terminal update
  double perSecond = 0;    // tasks / seconds
  double firstEndSeconds = 0;  // first launchTasks() to the first terminal update
  int launchCalls = 0;     // launchTasks() calls (offers used)
  double offersPerSecond = 0;  // offers received over the launch
  int finished = 0;
  std::vector<std::string> failures;  // one line per task that did not finish
  // CPU milliseconds per task over the launch, by process; the agents'
  // figure excludes the executors and tasks, counted apart.
  double masterCpuMs = 0;
  double agentCpuMs = 0;
  double executorCpuMs = 0;  // executors and the shells they ran
  double schedulerCpuMs = 0;  // this process (the SDK's driver thread)
  int64_t statusUpdateRetries = 0;  // re-sent by the agents for lack of an ack
};

// Each agent advertises room for half the tasks and a few more (advertised,
// not enforced), so every task can run at once and the first offer cannot
// take them all: the two agents share the work about evenly.
std::string agentResources(int tasks) {
  double half = std::ceil(tasks / 2.0);
  double cpus = half * 0.1 + 0.5;
  double mem = half * 16 + 1024;
  char text[128];
  std::snprintf(text, sizeof text, "cpus:%g;mem:%g;disk:1024", cpus, mem);
  return text;
}

// Starts a fresh cluster, times one launch of options.tasks tasks, and tears
// it all down. Fails when the cluster or the framework cannot start; a task
// that does not finish is part of the result (ClusterResult::failures).
Result<ClusterResult> clusterRound(const ClusterOptions& options, std::vector<std::string>& dirs) {
  BenchCluster cluster;
  dirs.push_back(cluster.dir());
  std::string resources = options.agentResources.empty() ? agentResources(options.tasks) : options.agentResources;
  std::vector<std::string> masterFlags = options.masterFlags, agentFlags = options.agentFlags;
  SchedulerDriverOptions driverOptions;
  if (options.curve) {
    const std::string keys = cluster.dir() + "/keys";
    std::filesystem::create_directories(keys);
    for (const char* name : {"master", "agent", "bench"}) {
      if (auto written = writeCurveKey(generateCurveKey(name), keys, true); !written) return written.error();
    }
    if (auto added = addCredential(keys + "/credentials.toml", PeerKind::kAgent, *readCurveKey(keys + "/agent.pub", false));
        !added) {
      return added.error();
    }
    if (auto added =
            addCredential(keys + "/credentials.toml", PeerKind::kFramework, *readCurveKey(keys + "/bench.pub", false));
        !added) {
      return added.error();
    }
    for (const auto& flag : {"--key=" + keys + "/master.key", "--credentials=" + keys + "/credentials.toml",
                             std::string("--authenticate-agents"), std::string("--authenticate-frameworks")}) {
      masterFlags.push_back(flag);
    }
    agentFlags.push_back("--key=" + keys + "/agent.key");
    agentFlags.push_back("--master-key=" + keys + "/master.pub");
    driverOptions.keyFile = keys + "/bench.key";
    driverOptions.masterKeyFile = keys + "/master.pub";
  }
  if (auto started = cluster.start(2, resources, masterFlags, agentFlags); !started) {
    return started.error();
  }

  ThroughputScheduler scheduler(options.tasks);
  FrameworkInfo info;
  info.name = "bench-launch-throughput";
  driverOptions.master = cluster.master();
  std::unique_ptr<SchedulerDriver> driver;
  if (options.http) {
    driver = std::make_unique<V1HttpDriver>(&scheduler, info, "127.0.0.1", cluster.masterHttpPort());
  } else {
    driver = SchedulerDriver::create(&scheduler, info, driverOptions);
  }

  std::vector<pid_t> daemons = {cluster.masterPid(), cluster.agentPid(0), cluster.agentPid(1)};
  std::vector<ProcessCpu> before;
  for (pid_t pid : daemons) before.push_back(processCpu(pid));
  // Unless --native-launcher=process, each agent's executors run in its
  // launcher, started with the agent: its CPU and its tasks' count as the
  // executors'. It writes its pid file once it runs, which may be just
  // after its agent registered.
  bool shared = std::find(options.agentFlags.begin(), options.agentFlags.end(), "--native-launcher=process") ==
                options.agentFlags.end();
  std::vector<pid_t> launchers;
  for (size_t i = 0; shared && i < 2; ++i) {
    pid_t pid = 0;
    testing::eventually([&] {
      std::ifstream in(cluster.dir() + "/agent-" + std::to_string(i) + "/launcher/launcher.pid");
      return in >> pid && pid > 0;
    });
    if (pid > 0) launchers.push_back(pid);
  }
  if (shared && launchers.size() != 2) return internalError("an agent's launcher did not start");
  std::vector<ProcessCpu> launchersBefore;
  for (pid_t pid : launchers) launchersBefore.push_back(processCpu(pid));
  OwnCpu selfBefore = ownCpu();

  if (driver->start() != DriverStatus::kRunning) return internalError("cannot start the scheduler driver");
  if (!scheduler.waitRegistered(std::chrono::seconds(30))) {
    auto failures = scheduler.outcome().failures;
    return internalError("the framework did not register" + (failures.empty() ? "" : ": " + failures.front()));
  }
  bool done = scheduler.waitDone(std::chrono::seconds(options.timeoutSeconds));
  auto outcome = scheduler.outcome();
  OwnCpu selfAfter = ownCpu();

  // Let the agents forget the acknowledged tasks and reap the last
  // executors, so their CPU is in the agents' cutime.
  testing::eventually(
      [&] {
        for (size_t i = 0; i < 2; ++i) {
          auto state = cluster.agentState(i);
          if (!state.is_object() || !state["tasks"].empty()) return false;
        }
        return true;
      },
      std::chrono::seconds(10));
  std::vector<ProcessCpu> after;
  for (pid_t pid : daemons) after.push_back(processCpu(pid));
  std::vector<ProcessCpu> launchersAfter;
  for (pid_t pid : launchers) launchersAfter.push_back(processCpu(pid));
  int64_t retries = 0;
  for (size_t i = 0; i < 2; ++i) {
    auto state = cluster.agentState(i);
    if (state.is_object()) retries += state["metrics"].value("status_update_retries", int64_t{0});
  }

  driver->stop();
  driver->join();

  ClusterResult r;
  r.launchCalls = outcome.launchCalls;
  r.finished = outcome.finished;
  r.failures = outcome.failures;
  r.statusUpdateRetries = retries;
  if (!done) {
    r.failures.push_back(std::to_string(options.tasks - outcome.ended) + " task(s) did not end within " +
                         std::to_string(options.timeoutSeconds) + " s");
  }
  if (outcome.firstLaunch && outcome.lastEnd) {
    r.seconds = secondsBetween(*outcome.firstLaunch, *outcome.lastEnd);
    r.perSecond = options.tasks / r.seconds;
    r.offersPerSecond = outcome.offers / r.seconds;
  }
  if (outcome.firstLaunch && outcome.firstEnd) {
    r.firstEndSeconds = secondsBetween(*outcome.firstLaunch, *outcome.firstEnd);
  }
  double perTask = 1000.0 / options.tasks;
  r.masterCpuMs = (after[0].self - before[0].self) * perTask;
  for (size_t i = 1; i < daemons.size(); ++i) {
    r.agentCpuMs += (after[i].self - before[i].self) * perTask;
    r.executorCpuMs += (after[i].children - before[i].children) * perTask;
  }
  for (size_t i = 0; i < launchers.size(); ++i) {
    r.executorCpuMs += ((launchersAfter[i].self - launchersBefore[i].self) +
                        (launchersAfter[i].children - launchersBefore[i].children)) *
                       perTask;
  }
  r.schedulerCpuMs = (selfAfter.self - selfBefore.self) * perTask;
  return r;
}

// ------------------------------------------------------------ report

struct Round {
  std::string loadAverage;  // when the round began
  SpawnResult spawnTrue;
  SpawnResult spawnShell;
  SpawnResult spawnExecutor;
  ClusterResult cluster;
  double ratioTrue() const { return cluster.perSecond / spawnTrue.perSecond; }
  double ratioShell() const { return cluster.perSecond / spawnShell.perSecond; }
};

// One row of figures: per round, or the medians.
struct Row {
  std::string label;
  double spawnTrue, spawnShell, spawnExecutor, tasks, ratioTrue, ratioShell, seconds;
  double masterCpu, agentCpu, executorCpu, schedulerCpu, spawnShellCpu, spawnExecutorCpu;
};

Row rowOf(const std::string& label, const Round& r) {
  return {label,
          r.spawnTrue.perSecond,
          r.spawnShell.perSecond,
          r.spawnExecutor.perSecond,
          r.cluster.perSecond,
          r.ratioTrue(),
          r.ratioShell(),
          r.cluster.seconds,
          r.cluster.masterCpuMs,
          r.cluster.agentCpuMs,
          r.cluster.executorCpuMs,
          r.cluster.schedulerCpuMs,
          r.spawnShell.cpuMsPerSpawn,
          r.spawnExecutor.cpuMsPerSpawn};
}

// Each column's median over the rounds, so the ratios' medians are medians
// of per-round ratios, not ratios of the medians.
Row medianRow(const std::vector<Round>& rounds) {
  auto of = [&](auto field) {
    std::vector<double> v;
    for (const auto& r : rounds) v.push_back(field(rowOf("", r)));
    return median(v);
  };
  return {"median",
          of([](const Row& r) { return r.spawnTrue; }),
          of([](const Row& r) { return r.spawnShell; }),
          of([](const Row& r) { return r.spawnExecutor; }),
          of([](const Row& r) { return r.tasks; }),
          of([](const Row& r) { return r.ratioTrue; }),
          of([](const Row& r) { return r.ratioShell; }),
          of([](const Row& r) { return r.seconds; }),
          of([](const Row& r) { return r.masterCpu; }),
          of([](const Row& r) { return r.agentCpu; }),
          of([](const Row& r) { return r.executorCpu; }),
          of([](const Row& r) { return r.schedulerCpu; }),
          of([](const Row& r) { return r.spawnShellCpu; }),
          of([](const Row& r) { return r.spawnExecutorCpu; })};
}

nlohmann::json toJson(const Row& r) {
  return {{"spawn_true_per_s", r.spawnTrue},
          {"spawn_sh_c_true_per_s", r.spawnShell},
          {"spawn_executor_help_per_s", r.spawnExecutor},
          {"clusternodes_tasks_per_s", r.tasks},
          {"clusternodes_seconds", r.seconds},
          {"ratio_vs_spawn_true", r.ratioTrue},
          {"ratio_vs_spawn_sh_c_true", r.ratioShell},
          {"cpu_ms_per_task",
           {{"master", r.masterCpu},
            {"agents", r.agentCpu},
            {"executors_and_tasks", r.executorCpu},
            {"scheduler", r.schedulerCpu}}},
          {"cpu_ms_per_spawn_sh_c_true", r.spawnShellCpu},
          {"cpu_ms_per_spawn_executor_help", r.spawnExecutorCpu}};
}

void printHeader(const Machine& machine, int tasks, int rounds) {
  printMachine(machine);
  std::printf("%d tasks running `true` (cpus 0.1, mem 16) on a master and two agents; %d round(s)\n\n", tasks,
              rounds);
  std::printf("%-7s %14s %14s %14s %14s %9s %10s %9s\n", "round", "spawn true/s", "sh -c true/s", "executor/s",
              "tasks/s", "seconds", "÷true", "÷sh");
}

void printRow(const Row& r) {
  std::printf("%-7s %14.0f %14.0f %14.0f %14.1f %9.2f %10.3f %9.3f\n", r.label.c_str(), r.spawnTrue, r.spawnShell,
              r.spawnExecutor, r.tasks, r.seconds, r.ratioTrue, r.ratioShell);
}

void printCpu(const std::vector<Row>& rows) {
  std::printf(
      "\nCPU ms per task (user + system, all cores): master, agents, executors with their shells, scheduler;\n"
      "and per spawn of `sh -c true` and of `clusternodes-executor --help` (parent and child)\n");
  std::printf("%-7s %9s %9s %11s %11s %9s %11s %11s\n", "round", "master", "agents", "executors", "scheduler",
              "total", "sh spawn", "exec spawn");
  for (const auto& r : rows) {
    std::printf("%-7s %9.2f %9.2f %11.2f %11.2f %9.2f %11.2f %11.2f\n", r.label.c_str(), r.masterCpu, r.agentCpu,
                r.executorCpu, r.schedulerCpu, r.masterCpu + r.agentCpu + r.executorCpu + r.schedulerCpu,
                r.spawnShellCpu, r.spawnExecutorCpu);
  }
}

// ------------------------------------------------------------ isolation

// Two ways of running the same launch, compared: --isolation=none against
// --isolation=cgroups, or plain links against CURVE.
struct Comparison {
  std::string a, b;  // the sides' names: "none" and "cgroups", "plain" and "curve"
  std::string what;  // for the header
  std::function<void(ClusterOptions&, bool isB)> apply;
};

// One round of a comparison: the same launch on either side.
struct ComparisonRound {
  ClusterResult a;
  ClusterResult b;
  double ratio() const { return b.perSecond / a.perSecond; }
};

// Runs `rounds` rounds, each launching the tasks once per side, in an order
// that alternates from round to round so that a drift in the shared
// machine's speed weighs on both sides alike. Prints per-round figures and
// the medians; returns the exit code.
int compareSides(const Comparison& comparison, const ClusterOptions& base, int rounds, bool json,
                 const Machine& machine, std::vector<std::string>& dirs) {
  const std::string& a = comparison.a;
  const std::string& b = comparison.b;
  std::vector<ComparisonRound> results;
  if (!json) {
    std::printf("%d tasks running `true` (cpus 0.1, mem 16) on a master and two agents, %s; %d round(s)\n\n",
                base.tasks, comparison.what.c_str(), rounds);
    std::printf("%-7s %12s %12s %14s %16s %16s %18s\n", "round", (a + " tasks/s").c_str(), (b + "/s").c_str(),
                (b + "/" + a).c_str(), "master ms/task", "agent ms/task", "executor ms/task");
  }
  for (int i = 1; i <= rounds; ++i) {
    ComparisonRound round;
    const bool aFirst = i % 2 == 1;
    for (int side = 0; side < 2; ++side) {
      const bool isB = (side == 0) != aFirst;
      const std::string& name = isB ? b : a;
      if (i > 1 || side > 0) std::this_thread::sleep_for(kSettle);
      ClusterOptions options = base;
      comparison.apply(options, isB);
      std::fprintf(stderr, "round %d/%d: cluster, %d tasks, %s\n", i, rounds, base.tasks, name.c_str());
      Result<ClusterResult> cluster = internalError("not run");
      try {
        cluster = clusterRound(options, dirs);
      } catch (const std::exception& e) {
        cluster = internalError(e.what());
      }
      if (!cluster) {
        std::fprintf(stderr, "bench-launch-throughput: %s\n", cluster.error().message.c_str());
        return 1;
      }
      if (cluster->finished != base.tasks) {
        std::fprintf(stderr, "round %d (%s): finished %d/%d; no figures\n", i, name.c_str(), cluster->finished,
                     base.tasks);
        for (size_t f = 0; f < cluster->failures.size() && f < kFailuresShown; ++f) {
          std::fprintf(stderr, "  %s\n", cluster->failures[f].c_str());
        }
        return 1;
      }
      (isB ? round.b : round.a) = *cluster;
    }
    results.push_back(round);
    if (!json) {
      std::printf("%-7d %12.1f %12.1f %14.3f %7.2f / %-6.2f %7.2f / %-6.2f %8.2f / %-7.2f\n", i, round.a.perSecond,
                  round.b.perSecond, round.ratio(), round.a.masterCpuMs, round.b.masterCpuMs, round.a.agentCpuMs,
                  round.b.agentCpuMs, round.a.executorCpuMs, round.b.executorCpuMs);
      std::fflush(stdout);
    }
  }
  auto of = [&](auto field) {
    std::vector<double> v;
    for (const auto& r : results) v.push_back(field(r));
    return median(v);
  };
  double aRate = of([](const ComparisonRound& r) { return r.a.perSecond; });
  double bRate = of([](const ComparisonRound& r) { return r.b.perSecond; });
  double ratio = of([](const ComparisonRound& r) { return r.ratio(); });
  double aMaster = of([](const ComparisonRound& r) { return r.a.masterCpuMs; });
  double bMaster = of([](const ComparisonRound& r) { return r.b.masterCpuMs; });
  if (json) {
    nlohmann::json out;
    out["command"] = "true";
    out["tasks"] = base.tasks;
    out["machine"] = machineJson(machine);
    out["rounds"] = nlohmann::json::array();
    for (const auto& r : results) {
      out["rounds"].push_back({{a + "_tasks_per_second", r.a.perSecond},
                               {b + "_tasks_per_second", r.b.perSecond},
                               {"ratio_" + b + "_vs_" + a, r.ratio()},
                               {a + "_offers_per_second", r.a.offersPerSecond},
                               {b + "_offers_per_second", r.b.offersPerSecond},
                               {a + "_master_cpu_ms_per_task", r.a.masterCpuMs},
                               {b + "_master_cpu_ms_per_task", r.b.masterCpuMs},
                               {a + "_scheduler_cpu_ms_per_task", r.a.schedulerCpuMs},
                               {b + "_scheduler_cpu_ms_per_task", r.b.schedulerCpuMs},
                               {a + "_agent_cpu_ms_per_task", r.a.agentCpuMs},
                               {b + "_agent_cpu_ms_per_task", r.b.agentCpuMs},
                               {a + "_executor_cpu_ms_per_task", r.a.executorCpuMs},
                               {b + "_executor_cpu_ms_per_task", r.b.executorCpuMs}});
    }
    out["median"] = {{a + "_tasks_per_second", aRate},
                     {b + "_tasks_per_second", bRate},
                     {a + "_offers_per_second", of([](const ComparisonRound& r) { return r.a.offersPerSecond; })},
                     {b + "_offers_per_second", of([](const ComparisonRound& r) { return r.b.offersPerSecond; })},
                     {"ratio_" + b + "_vs_" + a, ratio},
                     {a + "_master_cpu_ms_per_task", aMaster},
                     {b + "_master_cpu_ms_per_task", bMaster}};
    std::cout << out.dump(2) << "\n";
  } else {
    std::printf("%-7s %12.1f %12.1f %14.3f %7.2f / %-6.2f\n", "median", aRate, bRate, ratio, aMaster, bMaster);
    std::printf("\n%s cost %.1f%% of the launch throughput (median of the per-round ratios)\n", b.c_str(),
                (1.0 - ratio) * 100);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int tasks = 1000;
  int rounds = 3;
  bool json = false;
  ClusterOptions clusterOptions;
  CLI::App app("Launch throughput of a local Clusternodes cluster against the machine's spawn rate.",
               "bench-launch-throughput");
  app.add_option("--tasks", tasks, "Tasks per round, and spawns per spawn loop")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--rounds", rounds, "Rounds; the medians are reported")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  app.add_flag("--json", json, "Print the figures as JSON on stdout (progress stays on stderr)");
  app.add_option("--timeout", clusterOptions.timeoutSeconds, "Seconds a round may take before it fails")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--agent-resources", clusterOptions.agentResources,
                 "Each agent's --resources; by default room for half the tasks and a few more, so all run at once");
  app.add_option("--master-flag", clusterOptions.masterFlags,
                 "Extra flag for the master, e.g. --master-flag=--allocation-interval=1ms (repeatable)");
  app.add_option("--agent-flag", clusterOptions.agentFlags, "Extra flag for each agent (repeatable)");
  bool isolation = false;
  app.add_flag("--compare-isolation", isolation,
               "Compare launches with --isolation=cgroups against --isolation=none instead of the spawn rate");
  bool curve = false;
  app.add_flag("--compare-curve", curve,
               "Compare launches over CURVE links (keys, authenticated agents and framework) against plain ones "
               "instead of the spawn rate");
  bool api = false;
  app.add_flag("--compare-api", api,
               "Compare launches by a framework on the Mesos v1 HTTP scheduler API (JSON) against one on the SDK "
               "(ZeroMQ) instead of the spawn rate");
  if (int code = parseCommandLine(app, argc, argv); code >= 0) return code;
  clusterOptions.tasks = tasks;

  Machine machine = describeMachine();
  if (!json && !isolation && !curve && !api) printHeader(machine, tasks, rounds);

  // Each round's directory (sandboxes, logs) is removed only after the last
  // round. This machine's ext4 has no journal, and without one ext4 skips
  // inodes deleted in the last 60 to 300 seconds when it allocates new
  // ones, one inode table lookup per skipped inode. Removing a round's ~5,000
  // files right before the next round made that round's mkdir and open
  // calls scan them all: the agents' CPU per task doubled from round to round.
  struct ScratchDirs {
    bool keep = std::getenv("CN_KEEP_TEST_DIRS") != nullptr;
    std::vector<std::string> dirs;
    ~ScratchDirs() {
      if (keep) return;
      for (const auto& dir : dirs) {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
      }
    }
  } scratchDirs;
  ::setenv("CN_KEEP_TEST_DIRS", "1", 1);  // the harness's clean-up then leaves them to us

  if (isolation) {
    if (!json) printMachine(machine);
    Comparison comparison{"none", "cgroups", "with --isolation=none and --isolation=cgroups",
                          [](ClusterOptions& options, bool isB) {
                            options.agentFlags.push_back(isB ? "--isolation=cgroups" : "--isolation=none");
                          }};
    return compareSides(comparison, clusterOptions, rounds, json, machine, scratchDirs.dirs);
  }
  if (api) {
    if (!json) printMachine(machine);
    Comparison comparison{"sdk", "http", "through the SDK (ZeroMQ) and through the Mesos v1 HTTP scheduler API (JSON)",
                          [](ClusterOptions& options, bool isB) { options.http = isB; }};
    return compareSides(comparison, clusterOptions, rounds, json, machine, scratchDirs.dirs);
  }
  if (curve) {
    if (!json) printMachine(machine);
    Comparison comparison{"plain", "curve", "over plain links and over CURVE links (authenticated, encrypted)",
                          [](ClusterOptions& options, bool isB) { options.curve = isB; }};
    return compareSides(comparison, clusterOptions, rounds, json, machine, scratchDirs.dirs);
  }

  std::vector<Round> results;
  std::vector<Row> rows;
  for (int i = 1; i <= rounds; ++i) {
    Round round;
    // Let the previous round's teardown (a thousand exits, the sandboxes'
    // removal) settle before timing spawns.
    if (i > 1) std::this_thread::sleep_for(kSettle);
    round.loadAverage = describeMachine().load;
    // The spawn loops bracket the cluster run, half of each before it and
    // half after, so that a change in the machine's speed during the round
    // (it is shared) weighs on both sides of the ratio alike.
    std::fprintf(stderr, "round %d/%d: spawn loops (load average %s)\n", i, rounds, round.loadAverage.c_str());
    const std::vector<std::vector<std::string>> loops = {
        {"/bin/true"}, {"/bin/sh", "-c", "true"}, {testing::binary("clusternodes-executor"), "--help"}};
    const int before = tasks / 2;
    const int after = tasks - before;
    std::vector<SpawnResult> spawned(loops.size());
    auto runLoops = [&](int count) -> bool {
      for (size_t l = 0; l < loops.size(); ++l) {
        auto r = spawnLoop(loops[l], count);
        if (!r) {
          std::fprintf(stderr, "bench-launch-throughput: %s\n", r.error().message.c_str());
          return false;
        }
        spawned[l] = spawned[l].plus(*r, count);
      }
      return true;
    };
    if (!runLoops(before)) return 1;

    std::fprintf(stderr, "round %d/%d: cluster, %d tasks\n", i, rounds, tasks);
    Result<ClusterResult> cluster = internalError("not run");
    try {
      cluster = clusterRound(clusterOptions, scratchDirs.dirs);
    } catch (const std::exception& e) {  // the harness throws when a daemon does not come up
      cluster = internalError(e.what());
    }
    if (!cluster) {
      std::fprintf(stderr, "bench-launch-throughput: %s\n", cluster.error().message.c_str());
      return 1;
    }
    std::fprintf(stderr, "round %d/%d: spawn loops again\n", i, rounds);
    if (!runLoops(after)) return 1;
    round.spawnTrue = spawned[0];
    round.spawnShell = spawned[1];
    round.spawnExecutor = spawned[2];
    round.cluster = *cluster;
    if (round.cluster.finished != tasks) {
      // A round with a lost or failed task measured something else: report
      // it and stop, with no figures.
      FILE* out = json ? stderr : stdout;
      const auto& failures = round.cluster.failures;
      std::fprintf(out, "round %d: finished %d/%d; no figures\n", i, round.cluster.finished, tasks);
      for (size_t f = 0; f < failures.size() && f < kFailuresShown; ++f) {
        std::fprintf(out, "  %s\n", failures[f].c_str());
      }
      if (failures.size() > kFailuresShown) std::fprintf(out, "  ... and %zu more\n", failures.size() - kFailuresShown);
      return 1;
    }
    results.push_back(round);
    rows.push_back(rowOf(std::to_string(i), round));
    if (!json) {
      printRow(rows.back());
      std::fflush(stdout);
    }
    std::fprintf(stderr, "round %d/%d: %.1f tasks/s (%d launch call(s), first task ended after %.3f s, %lld status "
                 "update retries)\n",
                 i, rounds, round.cluster.perSecond, round.cluster.launchCalls, round.cluster.firstEndSeconds,
                 static_cast<long long>(round.cluster.statusUpdateRetries));
  }
  Row mid = medianRow(results);

  if (json) {
    nlohmann::json out;
    out["command"] = "true";
    out["tasks"] = tasks;
    out["machine"] = machineJson(machine);
    out["rounds"] = nlohmann::json::array();
    for (size_t i = 0; i < results.size(); ++i) {
      auto r = toJson(rows[i]);
      r["load_average_at_start"] = results[i].loadAverage;
      r["launch_calls"] = results[i].cluster.launchCalls;
      r["finished"] = results[i].cluster.finished;
      r["first_end_seconds"] = results[i].cluster.firstEndSeconds;
      r["status_update_retries"] = results[i].cluster.statusUpdateRetries;
      out["rounds"].push_back(r);
    }
    out["median"] = toJson(mid);
    std::cout << out.dump(2) << "\n";
  } else {
    printRow(mid);
    rows.push_back(mid);
    printCpu(rows);
  }
  return 0;
}
