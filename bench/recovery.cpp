// bench-recovery: how long a restarted master takes to take back its agents
// and their tasks, and how long a restarted agent takes to take back its
// running tasks (issue 6).
//
//   bench-recovery [--agents=1000] [--tasks-per-agent=10] [--rounds=3]
//                  [--agent-tasks=500] [--agent-rounds=1] [--part=both] [--json]
//
// 1. Master failover. A real clusternodes-master runs as a process; the
//    agents are simulated in child processes of this one (sim_agents.hpp:
//    --agents-per-process each), one ZeroMQ DEALER peer an agent (ZMTP over
//    a libuv TCP handle, zmtp_dealer.hpp), driven by one libuv loop a
//    process, speaking the wire protocol a real agent speaks. Each round:
//      a. cold: every agent connects and sends registerAgent with no id once
//         connected; timed from the first connection until the last agent
//         got agentRegistered, and until
//         /state lists every agent reachable (and the master's /metrics count
//         exactly as many new agents);
//      b. agent restart: every agent connects again under a new identity and
//         re-registers with its id and --tasks-per-agent RunningTasks
//         (TASK_RUNNING), which is how the master learns of tasks it did not
//         launch; timed until /state lists all the tasks;
//      c. failover: the master is SIGKILLed and started again on the same
//         ports and work dir (its registry keeps the admitted agents); once
//         its /health answers, every agent sends its re-registration (id and
//         tasks) on its existing connection, which it makes again by itself.
//         Timed from the spawn and from /health until every agent got
//         agentRegistered and until /state lists all agents and tasks.
//    Unanswered registrations are re-sent with the agent's own back-off
//    (RetryBackoff: after a random delay from [b, 2b), b = 1 s doubling up
//    to 4 s); pings are answered.
// 2. Agent recovery. A real master and agent (TestCluster) and an SDK
//    framework in this process launch --agent-tasks tasks `sleep 600`. Once
//    all run, the agent is SIGKILLed (its executors live on) and started
//    again; timed until the agent's executors are all back (its log), its
//    /state lists every task TASK_RUNNING, and the master's /state lists the
//    re-registered agent with every task. The executors' and the agent's
//    logs then say where the time went.
//
// With --store=zk the master failover runs two masters with --zk under a
// real ZooKeeper server; phase c SIGKILLs the leader and times, from the
// kill, the standby's election, every agent's re-registration and an SDK
// framework subscribing again through the zk:// URL (the MTTR).
//
// Exit status: 0 when every round completed; 1 when one did not (the run
// stops there, with the reason on stderr); 2 on a bad flag. It measures and
// never judges: no figure is compared with a threshold.
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <capnp/message.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "common/flags.hpp"
#include "bench/bench_common.hpp"
#include "bench/sim_agents.hpp"
#include "clusternodes/result.hpp"
#include "clusternodes/scheduler.hpp"
#include "common/http_client.hpp"
#include "common/loop.hpp"
#include "common/malloc_tunables.hpp"
#include "common/transport.hpp"
#include "common/wire.hpp"
#include "common/leader.hpp"
#include "tests/harness/cluster.hpp"
#include "tests/harness/recording_scheduler.hpp"
#include "tests/harness/zookeeper.hpp"

using namespace clusternodes;
using namespace clusternodes::bench;

namespace {

using Clock = std::chrono::steady_clock;

// Mesos 1.5: 10,000 agents with 100,000 tasks re-registered with a failed-over
// master in about 4.5 s (issue 6).
constexpr double kMesosSeconds = 4.5;
constexpr double kMesosAgents = 10000;

constexpr auto kSettle = std::chrono::seconds(2);  // pause between rounds

double secondsBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

double wallNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The value at fraction `q` (0..1) of `values`, nearest rank; 0 when empty.
double quantile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  auto rank = static_cast<size_t>(q * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(rank, values.size() - 1)];
}

// CPU seconds (user + system) a process has used, from /proc/PID/stat; 0
// when it is gone.
double processCpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  auto close = stat.rfind(')');  // comm may hold spaces and parentheses
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::vector<std::string> f;
  std::string field;
  while (fields >> field) f.push_back(field);
  if (f.size() < 13) return 0;  // f[0] is field 3 (state); utime, stime are 14, 15
  return (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// Lets this process and the daemons it starts (they inherit the limit) hold
// `wanted` descriptors, as far as it may: a simulated agent takes one in
// its process (its TCP connection) and one in the master.
// Returns the limit now in force.
rlim_t raiseFileLimit(rlim_t wanted) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur >= wanted) return limit.rlim_cur;
  rlimit raised = limit;
  raised.rlim_cur = wanted;
  // Above the hard limit only with CAP_SYS_RESOURCE; else the hard limit.
  if (raised.rlim_max < wanted) raised.rlim_max = wanted;
  if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
  ::getrlimit(RLIMIT_NOFILE, &limit);
  return limit.rlim_cur;
}

// ------------------------------------------------------------ logs

// The wall-clock time of a daemon's log line ("2026-11-22 09:40:01.123 I
// agent: ..."), or nullopt when the line does not start with one.
std::optional<double> logLineTime(const std::string& line) {
  if (line.size() < 23 || line[19] != '.') return std::nullopt;
  std::tm tm{};
  if (::strptime(line.c_str(), "%Y-%m-%d %H:%M:%S", &tm) == nullptr) return std::nullopt;
  tm.tm_isdst = -1;
  std::time_t seconds = std::mktime(&tm);
  if (seconds == -1) return std::nullopt;
  return static_cast<double>(seconds) + std::atoi(line.substr(20, 3).c_str()) / 1000.0;
}

// The times of the lines of `path` that contain `needle` (and `also`, when
// given), in file order.
std::vector<double> logTimes(const std::string& path, const std::string& needle, const std::string& also = "") {
  std::ifstream in(path);
  std::vector<double> times;
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(needle) == std::string::npos) continue;
    if (!also.empty() && line.find(also) == std::string::npos) continue;
    if (auto t = logLineTime(line)) times.push_back(*t);
  }
  return times;
}

// ------------------------------------------------------------ master process

// What the master's /state says about agents and tasks.
struct StateCounts {
  bool ok = false;
  size_t agents = 0;
  size_t reachable = 0;
  size_t hostnames = 0;  // distinct hostnames of the agents: each simulated agent has its own
  size_t tasks = 0;    // in the top-level "tasks" list
  size_t running = 0;  // of those, TASK_RUNNING
};

StateCounts countState(const nlohmann::json& state) {
  StateCounts c;
  if (!state.is_object()) return c;
  c.ok = true;
  if (!state.contains("agents") || !state.contains("tasks")) return c;
  std::set<std::string> hostnames;
  for (const auto& agent : state["agents"]) {
    ++c.agents;
    c.reachable += agent.value("reachable", false) ? 1 : 0;
    hostnames.insert(agent.value("hostname", ""));
  }
  c.hostnames = hostnames.size();
  for (const auto& task : state["tasks"]) {
    ++c.tasks;
    c.running += task.value("state", "") == "TASK_RUNNING" ? 1 : 0;
  }
  return c;
}

// A temporary directory of this benchmark's own, removed with what is in it
// unless CN_KEEP_TEST_DIRS is set. Not the harness's /tmp/cn-test-*: on a
// machine shared with test runs, something that clears those could take the
// master's work dir and logs away in the middle of a round.
class ScratchDir {
 public:
  ScratchDir() {
    char path[] = "/tmp/cn-bench-recovery-XXXXXX";
    if (::mkdtemp(path) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = path;
  }
  ~ScratchDir() {
    std::error_code ec;
    if (std::getenv("CN_KEEP_TEST_DIRS") == nullptr) std::filesystem::remove_all(dir_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

// A master process on fixed loopback ports and a work dir that survive its
// restarts.
class FailoverMaster {
 public:
  explicit FailoverMaster(std::vector<std::string> extraFlags) {
    using testing::binary;
    port_ = testing::freePort();
    httpPort_ = testing::freePort();
    argv_ = {binary("clusternodes-master"), "--ip=127.0.0.1", "--port=" + std::to_string(port_),
             "--http-port=" + std::to_string(httpPort_), "--work-dir=" + scratch_.dir() + "/master",
             // The simulated agents answer pings, but a 2-core machine busy
             // re-registering thousands of them must not lose one to a late
             // pong: what is timed is the registration, not the pings.
             "--agent-ping-timeout=10s"};
    argv_.insert(argv_.end(), extraFlags.begin(), extraFlags.end());
  }

  // Starts the master; returns the time just before the spawn.
  Clock::time_point spawn() {
    ++starts_;
    auto at = Clock::now();
    process_ = std::make_unique<testing::Process>(
        argv_, scratch_.dir() + "/master" + (starts_ == 1 ? "" : "." + std::to_string(starts_)) + ".log");
    return at;
  }

  // Polls /health every 2 ms; the time it first answered, or nullopt after
  // `timeout` or when the process died.
  std::optional<Clock::time_point> waitHealthy(std::chrono::seconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline && process_->alive()) {
      auto r = httpGet(http() + "/health", 1);
      if (r && r->status == 200) return Clock::now();
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return std::nullopt;
  }

  void kill() {
    process_->signal(SIGKILL);
    process_->wait(std::chrono::seconds(10));
  }

  // Polls /state until it lists `agents` reachable agents and `tasks` tasks
  // TASK_RUNNING; the time the answer that did arrived, or nullopt after
  // `timeout`. `last` gets the last counts seen.
  std::optional<Clock::time_point> waitState(size_t agents, size_t tasks, std::chrono::seconds timeout,
                                             StateCounts& last) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      auto r = httpGet(http() + "/state", 60);
      auto at = Clock::now();
      if (r && r->status == 200) {
        last = countState(nlohmann::json::parse(r->body, nullptr, false));
        if (last.reachable == agents && last.agents == agents && last.hostnames == agents && last.running == tasks &&
            last.tasks == tasks) {
          return at;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return std::nullopt;
  }

  // The value of the sample `name` (with its labels, as printed) in the
  // master's /metrics; nullopt when it cannot be read.
  std::optional<double> metric(const std::string& name) const {
    auto r = httpGet(http() + "/metrics", 10);
    if (!r || r->status != 200) return std::nullopt;
    std::istringstream lines(r->body);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.rfind(name + " ", 0) == 0) return std::atof(line.c_str() + name.size() + 1);
    }
    return std::nullopt;
  }

  std::string endpoint() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  std::string http() const { return "http://127.0.0.1:" + std::to_string(httpPort_); }
  pid_t pid() const { return process_->pid(); }
  std::string registryPath() const { return scratch_.dir() + "/master/registry.json"; }
  const std::string& dir() const { return scratch_.dir(); }

 private:
  ScratchDir scratch_;  // declared first: removed after the process is killed
  int port_ = 0;
  int httpPort_ = 0;
  std::vector<std::string> argv_;
  int starts_ = 0;
  std::unique_ptr<testing::Process> process_;
};

// ------------------------------------------------------------ master failover

struct FailoverOptions {
  size_t agents = 1000;
  int tasksPerAgent = 10;
  int timeoutSeconds = 300;
  Duration retryBackoff = std::chrono::seconds(1);  // the agent's --registration-backoff
  // Simulated agents per child process: each holds a descriptor there.
  size_t agentsPerProcess = 5000;
  bool coldOnly = false;  // phase a only: the first registration
  // Memory this process touches and frees before phase a (see warmMemory).
  size_t warmMemoryMb = 1024;
  std::vector<std::string> masterFlags;
  // "file": one master restarted on its work dir; "zk": two masters under
  // a real ZooKeeper server, the leader SIGKILLed and the standby taking over.
  std::string store = "file";
  std::chrono::milliseconds zkSessionTimeout{1000};
};

struct FailoverResult {
  // a. first registration: send -> last reply, send -> /state lists them all
  double coldConnect = 0;    // first connection -> every simulated agent connected
  double coldReplies = 0;
  double coldState = 0;
  double coldMasterCpu = 0;  // CPU seconds of the master, send -> last reply
  double coldSimCpu = 0;     // of the simulated agents' processes, the same
  double coldAdmitted = 0;   // the master's count of new agents registered (/metrics)
  uint64_t coldRegistryWrites = 0;  // registry writes the master made, send -> last reply (/metrics)
  // b. every agent re-registers with its tasks into the running master
  double warmReplies = 0;
  double warmState = 0;
  // c. failover
  double startup = 0;        // spawn -> /health
  double replies = 0;        // /health -> every agent got agentRegistered
  double state = 0;          // /health -> /state lists every agent and task
  double total = 0;          // spawn -> /state lists every agent and task
  double replyMedian = 0;    // one agent's reply, after the send
  double replyP99 = 0;
  double masterCpu = 0;      // CPU seconds the new master used, spawn -> state
  double frameworkBack = 0;  // zk: SIGKILL -> the framework subscribed to the new leader
  SimPhase cold;
  SimPhase warm;
  SimPhase failover;
  uintmax_t registryBytes = 0;
  std::string loadAverage;
};

// Touches `mb` MiB and gives them back. On this benchmark's virtual machine
// the host takes back memory the guest has left free for a while, and the
// guest's next first touch of it is dear: a process touching 700 MB took
// 1.2 s after the machine sat idle for 30 s, 0.04 s right after another
// had freed as much. A master holding 10,000 connections touches about
// that much, so whichever round ran first after a pause paid a second more
// than the others. Touching it here first (the kernel hands the pages just
// freed to the next taker) takes that cost, which a host without the
// balloon does not have, out of the timed phase; --warm-memory-mb=0 leaves
// it in.
void warmMemory(size_t mb) {
  if (mb == 0) return;
  size_t bytes = mb << 20;
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return;
  ::madvise(p, bytes, MADV_HUGEPAGE);
  auto* bytesAt = static_cast<volatile char*>(p);
  for (size_t i = 0; i < bytes; i += 4096) bytesAt[i] = 1;
  ::munmap(p, bytes);
}

// Phases a and b against `master`: the first registration of every agent,
// then every agent restarting and re-registering with its tasks.
Result<void> registerAndRestartAgents(const FailoverOptions& o, FailoverMaster& master, SimFleet& sims,
                                      FailoverResult& r, StateCounts& seen) {
  const auto timeout = std::chrono::seconds(o.timeoutSeconds);
  const size_t n = o.agents;
  const size_t tasks = n * static_cast<size_t>(o.tasksPerAgent);
  auto failed = [&](const std::string& phase, const SimPhase& p) {
    return internalError(phase + ": " + std::to_string(p.acked) + "/" + std::to_string(n) +
                         " agents answered, /state lists " + std::to_string(seen.reachable) + " reachable agents and " +
                         std::to_string(seen.running) + " running tasks, within " +
                         std::to_string(o.timeoutSeconds) + " s; logs in " + master.dir());
  };

  // a. cold
  warmMemory(o.warmMemoryMb);
  std::fprintf(stderr, "  first registration of %zu agents in %zu process(es)\n", n, sims.processes());
  sims.prepare(false);
  auto cpu = [&] {
    double sim = 0;
    for (pid_t pid : sims.pids()) sim += processCpuSeconds(pid);
    return std::make_pair(processCpuSeconds(master.pid()), sim);
  };
  const char* writesMetric = "clusternodes_master_registry_write_seconds_count";
  auto writesBefore = master.metric(writesMetric);
  auto cpuBefore = cpu();
  // Each agent connects and sends its registration once connected, as
  // an agent process does when it starts (a few hundred connections being
  // made at a time).
  auto sent = sims.connectAndRegister(master.endpoint(), "a");
  r.coldConnect = secondsBetween(sent, std::chrono::steady_clock::now());
  bool acked = sims.waitAcked(timeout);
  auto cpuAfter = cpu();
  r.cold = sims.endPhase();
  auto listed = acked ? master.waitState(n, 0, timeout, seen) : std::nullopt;
  if (!listed) return failed("first registration", r.cold);
  r.coldReplies = quantile(r.cold.replySeconds, 1);
  r.coldState = secondsBetween(sent, *listed);
  r.coldMasterCpu = cpuAfter.first - cpuBefore.first;
  r.coldSimCpu = cpuAfter.second - cpuBefore.second;
  // Every agent registered exactly once: as many admissions as agents, and
  // /state (above) lists that many agents with as many hostnames.
  r.coldAdmitted = master.metric("clusternodes_master_agent_registrations_total{type=\"new\"}").value_or(-1);
  if (r.coldAdmitted != static_cast<double>(n)) {
    return internalError("first registration: the master admitted " + std::to_string(r.coldAdmitted) + " agents for " +
                         std::to_string(n) + "; logs in " + master.dir());
  }
  if (auto writesAfter = master.metric(writesMetric); writesBefore && writesAfter) {
    r.coldRegistryWrites = static_cast<uint64_t>(*writesAfter - *writesBefore);
  }

  if (o.coldOnly) return {};
  // b. each agent restarts and re-registers with its tasks
  std::fprintf(stderr, "  re-registration with %d tasks each into the running master\n", o.tasksPerAgent);
  sims.connect(master.endpoint(), "b");
  sims.prepare(true);
  sent = sims.registerAll();
  acked = sims.waitAcked(timeout);
  r.warm = sims.endPhase();
  listed = acked ? master.waitState(n, tasks, timeout, seen) : std::nullopt;
  if (!listed) return failed("agent re-registration", r.warm);
  r.warmReplies = quantile(r.warm.replySeconds, 1);
  r.warmState = secondsBetween(sent, *listed);
  return {};
}

// Every agent re-registers with its tasks at `master` after the failover;
// fills r.failover and returns when the replies came and when /state listed
// them all.
Result<std::pair<Clock::time_point, Clock::time_point>> reregisterAfterFailover(const FailoverOptions& o,
                                                                                 FailoverMaster& master,
                                                                                 SimFleet& sims, FailoverResult& r) {
  const auto timeout = std::chrono::seconds(o.timeoutSeconds);
  const size_t n = o.agents;
  sims.registerAll();
  bool acked = sims.waitAcked(timeout);
  auto repliedAt = Clock::now();
  r.failover = sims.endPhase();
  StateCounts seen;
  auto listed = acked ? master.waitState(n, n * static_cast<size_t>(o.tasksPerAgent), timeout, seen) : std::nullopt;
  r.masterCpu = processCpuSeconds(master.pid());
  if (!listed) {
    return internalError("re-registration after the failover: " + std::to_string(r.failover.acked) + "/" +
                         std::to_string(n) + " agents answered, /state lists " + std::to_string(seen.reachable) +
                         " reachable agents; logs in " + master.dir());
  }
  if (r.failover.reregisteredReplies != n) {
    return internalError("after the failover only " + std::to_string(r.failover.reregisteredReplies) + "/" +
                         std::to_string(n) + " replies said reregistered");
  }
  r.replyMedian = quantile(r.failover.replySeconds, 0.5);
  r.replyP99 = quantile(r.failover.replySeconds, 0.99);
  return std::make_pair(repliedAt, *listed);
}

// Runs one round: a fresh master, the three phases, and the tear-down.
Result<FailoverResult> failoverRound(const FailoverOptions& o) {
  FailoverResult r;
  r.loadAverage = loadAverage();
  FailoverMaster master(o.masterFlags);
  master.spawn();
  if (!master.waitHealthy(std::chrono::seconds(20))) {
    return internalError("the master did not come up; see " + master.dir() + "/master.log");
  }
  SimFleet sims(o.agents, o.agentsPerProcess, {.tasksPerAgent = o.tasksPerAgent, .retryBackoff = o.retryBackoff});
  StateCounts seen;
  if (auto ok = registerAndRestartAgents(o, master, sims, r, seen); !ok) return ok.error();
  if (o.coldOnly) return r;

  // c. failover
  std::error_code ec;
  r.registryBytes = std::filesystem::file_size(master.registryPath(), ec);
  std::fprintf(stderr, "  master SIGKILLed and restarted\n");
  master.kill();
  auto spawned = master.spawn();
  auto healthy = master.waitHealthy(std::chrono::seconds(60));
  if (!healthy) return internalError("the restarted master did not come up; see " + master.dir() + "/master.2.log");
  auto back = reregisterAfterFailover(o, master, sims, r);
  if (!back) return back.error();
  r.startup = secondsBetween(spawned, *healthy);
  r.replies = secondsBetween(*healthy, back->first);
  r.state = secondsBetween(*healthy, back->second);
  r.total = secondsBetween(spawned, back->second);
  return r;
}

// Follows the leader through ZooKeeper on a loop of its own, as each agent's
// and driver's detector does, and remembers when it saw each leader.
class LeaderWatch {
 public:
  explicit LeaderWatch(const std::string& url) {
    auto parsed = parseZkUrl(url);
    if (!parsed) throw std::runtime_error(parsed.error().message);
    thread_ = std::thread([this, zk = *parsed] {
      Timer keepAlive(loop_);
      keepAlive.start(std::chrono::seconds(1), [] {}, std::chrono::seconds(1));
      LeaderDetector detector(loop_, zk, kDefaultZkSessionTimeout, [this](const std::optional<LeaderInfo>& leader) {
        std::lock_guard<std::mutex> lock(mutex_);
        leader_ = leader;
        seenAt_ = Clock::now();
        changed_.notify_all();
      });
      if (auto started = detector.start(); !started) std::fprintf(stderr, "%s\n", started.error().message.c_str());
      loop_.run();
    });
  }
  ~LeaderWatch() {
    loop_.post([this] { loop_.stop(); });
    thread_.join();
  }
  // Waits for a leader with id `id`; the time it was seen.
  std::optional<Clock::time_point> waitFor(const std::string& id, std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!changed_.wait_for(lock, timeout, [&] { return leader_ && leader_->id == id; })) return std::nullopt;
    return seenAt_;
  }

 private:
  Loop loop_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<LeaderInfo> leader_;
  Clock::time_point seenAt_;
  std::thread thread_;
};

// The id of the master behind `http` once its /state says it leads.
std::optional<std::string> waitLeading(const FailoverMaster& master, std::chrono::seconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    auto r = httpGet(master.http() + "/state", 5);
    if (r && r->status == 200) {
      auto j = nlohmann::json::parse(r->body, nullptr, false);
      if (j.is_object() && j.value("leading", false)) return j.value("id", "");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return std::nullopt;
}

// The zk round: two masters elected through a real ZooKeeper server; the
// leader is SIGKILLed and its session left to time out, as when a host dies.
// Timed from the kill: the standby elected and seen leading by the agents'
// detector, every agent re-registered, /state listing them all, and an SDK
// framework (master = the zk:// URL) subscribed again.
Result<FailoverResult> zkFailoverRound(const FailoverOptions& o) {
  FailoverResult r;
  r.loadAverage = loadAverage();
  ScratchDir scratch;
  testing::ZooKeeperServer zk(scratch.dir() + "/zk");
  std::string url = "zk://" + zk.connectString() + "/bench";
  auto flags = o.masterFlags;
  flags.push_back("--zk=" + url);
  flags.push_back("--zk-session-timeout=" + std::to_string(o.zkSessionTimeout.count()) + "ms");
  FailoverMaster first(flags);
  FailoverMaster second(flags);
  first.spawn();
  auto firstId = waitLeading(first, std::chrono::seconds(30));
  if (!firstId) return internalError("no master was elected; see " + first.dir() + "/master.log");
  second.spawn();
  if (!second.waitHealthy(std::chrono::seconds(30))) return internalError("the standby did not come up");
  LeaderWatch watch(url);
  if (!watch.waitFor(*firstId, std::chrono::seconds(30))) return internalError("the leader is not in ZooKeeper");

  SimFleet sims(o.agents, o.agentsPerProcess, {.tasksPerAgent = o.tasksPerAgent, .retryBackoff = o.retryBackoff});
  StateCounts seen;
  if (auto ok = registerAndRestartAgents(o, first, sims, r, seen); !ok) return ok.error();
  if (o.coldOnly) return r;
  testing::RecordingScheduler scheduler;
  FrameworkInfo info;
  info.name = "bench-recovery-zk";
  info.user = "root";
  info.failoverTimeoutSeconds = 600;
  auto driver = SchedulerDriver::create(&scheduler, info, {.master = url});
  driver->start();
  if (!scheduler.waitForRegistration(1)) return internalError("the framework did not subscribe");

  std::fprintf(stderr, "  leading master SIGKILLed; its session times out after %lld ms\n",
               static_cast<long long>(o.zkSessionTimeout.count()));
  auto killedAt = Clock::now();
  first.kill();
  auto secondId = waitLeading(second, std::chrono::seconds(60));
  if (!secondId) return internalError("the standby was not elected; see " + second.dir() + "/master.log");
  auto seenAt = watch.waitFor(*secondId, std::chrono::seconds(60));
  if (!seenAt) return internalError("the new leader is not in ZooKeeper");
  // The agents' detectors move them to the new leader at once (a new
  // connection to it), as LeaderDetector moves a real agent.
  sims.connect(second.endpoint(), "c");
  auto back = reregisterAfterFailover(o, second, sims, r);
  if (!back) return back.error();
  if (!scheduler.waitForRegistration(2)) return internalError("the framework did not subscribe again");
  auto frameworkAt = Clock::now();  // within the 20 ms the scheduler polls at
  r.startup = secondsBetween(killedAt, *seenAt);
  r.replies = secondsBetween(*seenAt, back->first);
  r.state = secondsBetween(*seenAt, back->second);
  r.total = secondsBetween(killedAt, std::max(back->first, frameworkAt));
  r.frameworkBack = secondsBetween(killedAt, frameworkAt);
  driver->stop();
  return r;
}

double mesosScaled(size_t agents) { return kMesosSeconds * static_cast<double>(agents) / kMesosAgents; }

nlohmann::json phaseJson(const SimPhase& p) {
  return {{"answered", p.acked},
          {"reregistered_replies", p.reregisteredReplies},
          {"reply_seconds_median", quantile(p.replySeconds, 0.5)},
          {"reply_seconds_p99", quantile(p.replySeconds, 0.99)},
          {"reply_seconds_max", quantile(p.replySeconds, 1)},
          {"retries", p.retries},
          {"reregister_asks", p.reregisterAsks},
          {"duplicate_replies", p.duplicateReplies}};
}

nlohmann::json failoverJson(const FailoverResult& r, size_t agents) {
  return {{"load_average_at_start", r.loadAverage},
          {"cold_registration", {{"connect_seconds", r.coldConnect}, {"replies_seconds", r.coldReplies}, {"state_seconds", r.coldState},
                                 {"master_cpu_seconds", r.coldMasterCpu}, {"sim_cpu_seconds", r.coldSimCpu},
                                 {"admitted", r.coldAdmitted}, {"registry_writes", r.coldRegistryWrites},
                                 {"agents", phaseJson(r.cold)}}},
          {"agent_reregistration", {{"replies_seconds", r.warmReplies}, {"state_seconds", r.warmState},
                                    {"agents", phaseJson(r.warm)}}},
          {"failover",
           {{"spawn_to_health_seconds", r.startup},
            {"health_to_all_reregistered_seconds", r.replies},
            {"health_to_state_seconds", r.state},
            {"spawn_to_state_seconds", r.total},
            {"master_cpu_seconds", r.masterCpu},
            {"kill_to_framework_subscribed_seconds", r.frameworkBack},
            {"registry_bytes", r.registryBytes},
            {"ratio_vs_mesos_scaled", r.replies / mesosScaled(agents)},
            {"agents", phaseJson(r.failover)}}}};
}

// Runs the rounds and prints them; returns the exit code.
int runFailover(const FailoverOptions& o, int rounds, bool json, nlohmann::json& out) {
  const size_t tasks = o.agents * static_cast<size_t>(o.tasksPerAgent);
  if (!json) {
    std::printf("\nMaster failover: %zu simulated agents x %d tasks (%zu tasks), one master process; %d round(s)\n",
                o.agents, o.tasksPerAgent, tasks, rounds);
    std::printf("Mesos 1.5 scaled to %zu agents (4.5 s per 10,000 agents with 100,000 tasks): %.3f s\n\n", o.agents,
                mesosScaled(o.agents));
    std::printf("%-7s %10s %10s %10s %10s %10s %10s %10s %10s %9s\n", "round", "cold rep", "cold s", "agents s",
                "master up", "re-reg s", "state s", "total s", "÷Mesos", "master cpu");
  }
  std::vector<FailoverResult> results;
  for (int i = 1; i <= rounds; ++i) {
    if (i > 1) std::this_thread::sleep_for(kSettle);
    std::fprintf(stderr, "failover round %d/%d (load average %s)\n", i, rounds, loadAverage().c_str());
    Result<FailoverResult> r = internalError("not run");
    try {
      r = o.store == "zk" ? zkFailoverRound(o) : failoverRound(o);
    } catch (const std::exception& e) {
      r = internalError(e.what());
    }
    if (!r) {
      std::fprintf(stderr, "bench-recovery: failover round %d: %s\n", i, r.error().message.c_str());
      return 1;
    }
    results.push_back(*r);
    if (!json) {
      std::printf("%-7d %10.3f %10.3f %10.3f %10.3f %10.3f %10.3f %10.3f %10.3f %9.2f\n", i, r->coldReplies,
                  r->coldState, r->warmState, r->startup, r->replies, r->state, r->total,
                  r->replies / mesosScaled(o.agents), r->masterCpu);
      std::fflush(stdout);
    }
    std::fprintf(stderr,
                 "  first registration: all connected %.3f s, last reply %.3f s, /state %.3f s; %llu re-sent, "
                 "%llu duplicate replies, %llu registry writes; CPU s: master %.2f, simulated agents %.2f\n",
                 r->coldConnect, r->coldReplies, r->coldState, static_cast<unsigned long long>(r->cold.retries),
                 static_cast<unsigned long long>(r->cold.duplicateReplies),
                 static_cast<unsigned long long>(r->coldRegistryWrites), r->coldMasterCpu, r->coldSimCpu);
    std::fprintf(stderr,
                 "  replies after the failover: median %.3f s, p99 %.3f s, last %.3f s; %llu re-sent, %llu "
                 "reregister asks; registry %ju bytes\n",
                 r->replyMedian, r->replyP99, quantile(r->failover.replySeconds, 1),
                 static_cast<unsigned long long>(r->failover.retries),
                 static_cast<unsigned long long>(r->failover.reregisterAsks), r->registryBytes);
  }
  auto of = [&](auto field) {
    std::vector<double> v;
    for (const auto& r : results) v.push_back(field(r));
    return median(v);
  };
  double coldReplies = of([](const FailoverResult& r) { return r.coldReplies; });
  double cold = of([](const FailoverResult& r) { return r.coldState; });
  double coldCpu = of([](const FailoverResult& r) { return r.coldMasterCpu; });
  double warm = of([](const FailoverResult& r) { return r.warmState; });
  double startup = of([](const FailoverResult& r) { return r.startup; });
  double replies = of([](const FailoverResult& r) { return r.replies; });
  double state = of([](const FailoverResult& r) { return r.state; });
  double total = of([](const FailoverResult& r) { return r.total; });
  double ratio = of([&](const FailoverResult& r) { return r.replies / mesosScaled(o.agents); });
  double cpu = of([](const FailoverResult& r) { return r.masterCpu; });
  if (json) {
    nlohmann::json f;
    f["agents"] = o.agents;
    f["store"] = o.store;
    if (o.store == "zk") f["zk_session_timeout_ms"] = o.zkSessionTimeout.count();
    f["tasks_per_agent"] = o.tasksPerAgent;
    f["mesos_scaled_seconds"] = mesosScaled(o.agents);
    f["rounds"] = nlohmann::json::array();
    for (const auto& r : results) f["rounds"].push_back(failoverJson(r, o.agents));
    f["agents_per_process"] = o.agentsPerProcess;
    f["median"] = {{"cold_replies_seconds", coldReplies},
                   {"cold_state_seconds", cold},
                   {"cold_master_cpu_seconds", coldCpu},
                   {"agent_reregistration_state_seconds", warm},
                   {"spawn_to_health_seconds", startup},
                   {"health_to_all_reregistered_seconds", replies},
                   {"health_to_state_seconds", state},
                   {"spawn_to_state_seconds", total},
                   {"ratio_vs_mesos_scaled", ratio},
                   {"master_cpu_seconds", cpu}};
    out["master_failover"] = f;
  } else {
    std::printf("%-7s %10.3f %10.3f %10.3f %10.3f %10.3f %10.3f %10.3f %10.3f %9.2f\n", "median", coldReplies, cold,
                warm, startup, replies, state, total, ratio, cpu);
    if (o.store == "zk") {
      std::printf("\nzk: two masters under one ZooKeeper server (--zk-session-timeout=%lld ms); the leader is\n"
                  "SIGKILLed. master up: kill -> the agents' detector sees the standby lead; re-reg: that -> every\n"
                  "agent got agentRegistered; state: that -> /state lists all agents and tasks; total: kill -> every\n"
                  "agent re-registered and an SDK framework (master = the zk:// URL) subscribed again (MTTR).\n",
                  static_cast<long long>(o.zkSessionTimeout.count()));
    }
    std::printf("\ncold rep: first registration, the first registerAgent sent -> the last agentRegistered received;\n"
                "cold: the same, -> /state lists all agents; agents: every agent restarts and\n"
                "re-registers with its tasks, send -> /state lists all tasks; master up: spawn -> /health;\n"
                "re-reg: /health -> every agent got agentRegistered; state: /health -> /state lists all agents\n"
                "and tasks; total: spawn -> that; ÷Mesos: re-reg ÷ Mesos scaled (median of per-round ratios);\n"
                "master cpu: CPU seconds of the restarted master, spawn -> state\n");
  }
  return 0;
}

// ------------------------------------------------------------ agent recovery

// Launches `total` tasks `sleep 600` into the offers and counts those that
// run. Threads: callbacks on the driver thread; the wait methods from any
// other.
class SleepScheduler : public Scheduler {
 public:
  explicit SleepScheduler(int total) : total_(total) {
    perTask_.addScalar("cpus", 0.1);
    perTask_.addScalar("mem", 16);
  }

  void registered(SchedulerDriver*, const FrameworkID&, const MasterInfo&) override {
    std::lock_guard<std::mutex> lock(mutex_);
    registered_ = true;
    changed_.notify_all();
  }

  void resourceOffers(SchedulerDriver* driver, const std::vector<Offer>& offers) override {
    for (const auto& offer : offers) {
      auto tasks = packTasks(offer, perTask_, "sleep", "sleep 600", total_, launched_);
      Filters filters{launched_ < total_ ? 0.0 : 3600.0};
      if (tasks.empty()) {
        driver->declineOffer(offer.id, filters);
      } else {
        driver->launchTasks({offer.id}, tasks, filters);
      }
    }
    if (launched_ >= total_) driver->suppressOffers();
  }

  void statusUpdate(SchedulerDriver*, const TaskStatus& status) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (status.state == TaskState::kRunning) {
      running_.insert(status.taskId.value);
    } else if (isTerminal(status.state)) {
      running_.erase(status.taskId.value);
      if (!tornDown_) failures_.push_back(status.taskId.value + " " + toString(status.state) + ": " + status.message);
    }
    changed_.notify_all();
  }

  void error(SchedulerDriver*, const std::string& message) override {
    std::lock_guard<std::mutex> lock(mutex_);
    failures_.push_back("driver error: " + message);
    changed_.notify_all();
  }

  bool waitRegistered(std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [this] { return registered_ || !failures_.empty(); }) && registered_;
  }

  // Waits until every task is TASK_RUNNING, or a task failed, or `timeout`.
  bool waitAllRunning(std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [this] {
      return static_cast<int>(running_.size()) == total_ || !failures_.empty();
    }) && failures_.empty();
  }

  // From now on terminal updates are the tear-down's, not failures.
  void tearingDown() {
    std::lock_guard<std::mutex> lock(mutex_);
    tornDown_ = true;
  }

  std::vector<std::string> failures() {
    std::lock_guard<std::mutex> lock(mutex_);
    return failures_;
  }

  size_t running() {
    std::lock_guard<std::mutex> lock(mutex_);
    return running_.size();
  }

 private:
  const int total_;
  Resources perTask_;
  int launched_ = 0;  // driver thread only

  std::mutex mutex_;
  std::condition_variable changed_;
  bool registered_ = false;
  bool tornDown_ = false;
  std::set<std::string> running_;
  std::vector<std::string> failures_;
};

struct AgentOptions {
  int tasks = 500;
  int timeoutSeconds = 300;
  std::vector<std::string> agentFlags;
};

struct AgentResult {
  double launch = 0;            // launchTasks -> all TASK_RUNNING (not part of the recovery)
  // From the restarted agent's spawn:
  double health = 0;            // its /health answers
  double recovered = 0;         // it logged "recovering as agent" (checkpoints read)
  double reregistered = 0;      // it logged "re-registered with the master"
  double executorsFirst = 0;    // first "the executor of task ... is back"
  double executorsMedian = 0;
  double executorsLast = 0;     // the last of them: every executor is back
  double agentState = 0;        // its /state lists every task TASK_RUNNING, registered
  double masterState = 0;       // the master's /state lists it reachable with every task
  double done = 0;              // the latest of executorsLast, agentState, masterState
  // From the SIGKILL: when each executor noticed the agent was gone.
  double noticedMedian = 0;
  double noticedMax = 0;
  size_t noticed = 0;           // executors that logged it
  double agentCpu = 0;          // CPU seconds of the restarted agent until done
  std::string loadAverage;
};

// One round: a fresh cluster, the launch, the agent's restart, the tear-down.
Result<AgentResult> agentRound(const AgentOptions& o) {
  AgentResult r;
  r.loadAverage = loadAverage();
  const auto timeout = std::chrono::seconds(o.timeoutSeconds);
  const size_t total = static_cast<size_t>(o.tasks);
  testing::TestCluster cluster;
  // A 2-core machine starting hundreds of executors must not miss the
  // harness's fast pings (500 ms, 4 misses): that would be a lost agent,
  // not a recovery.
  cluster.startMaster({"--agent-ping-timeout=5s", "--max-agent-ping-timeouts=5"});
  char resources[96];
  std::snprintf(resources, sizeof resources, "cpus:%g;mem:%g;disk:1024", std::max(64.0, total * 0.1 + 1),
                std::max(65536.0, total * 16.0 + 1024));
  // The daemon's own timings instead of the harness's test timings, with a
  // recovery timeout long enough that no executor gives up while measured.
  std::vector<std::string> flags = {"--registration-backoff=250ms", "--status-update-retry-interval=1s",
                                    "--recovery-timeout=5min"};
  flags.insert(flags.end(), o.agentFlags.begin(), o.agentFlags.end());
  cluster.startAgent(resources, flags);
  cluster.waitForAgents(1);

  SleepScheduler scheduler(o.tasks);
  FrameworkInfo info;
  info.name = "bench-recovery";
  info.user = "root";
  auto driver = SchedulerDriver::create(&scheduler, info, {.master = cluster.master()});
  struct StopDriver {  // however the round ends, the framework goes, and its tasks with it
    SchedulerDriver* driver;
    SleepScheduler* scheduler;
    testing::TestCluster* cluster;
    ~StopDriver() {
      scheduler->tearingDown();
      driver->stop();
      // Let the agent kill the tasks and remove their cgroups before the
      // harness SIGKILLs everything in the directory.
      testing::eventually(
          [&] {
            auto s = cluster->agentState(0);
            if (!s.is_object()) return true;
            for (const auto& t : s["tasks"]) {
              auto state = parseTaskState(t.value("state", ""));
              if (!state || !isTerminal(*state)) return false;
            }
            return true;
          },
          std::chrono::seconds(60));
      driver->join();
    }
  } stopDriver{driver.get(), &scheduler, &cluster};

  if (driver->start() != DriverStatus::kRunning) return internalError("cannot start the scheduler driver");
  if (!scheduler.waitRegistered(std::chrono::seconds(30))) return internalError("the framework did not register");
  std::fprintf(stderr, "  launching %d tasks `sleep 600`\n", o.tasks);
  auto launchStart = Clock::now();
  if (!scheduler.waitAllRunning(timeout)) {
    auto failures = scheduler.failures();
    return internalError(std::to_string(scheduler.running()) + "/" + std::to_string(total) + " tasks running" +
                         (failures.empty() ? "" : "; first failure: " + failures.front()));
  }
  r.launch = secondsBetween(launchStart, Clock::now());

  // The agent has checkpointed every task as running and holds no update
  // back, and the master knows them all.
  bool settled = testing::eventually(
      [&] {
        auto s = cluster.agentState(0);
        if (!s.is_object() || s.value("pending_status_updates", 1) != 0 || s["tasks"].size() != total) return false;
        for (const auto& t : s["tasks"]) {
          if (t.value("state", "") != "TASK_RUNNING") return false;
        }
        auto m = countState(cluster.state());
        return m.running == total;
      },
      std::chrono::seconds(60));
  if (!settled) return internalError("the agent and the master did not settle with every task running");

  std::fprintf(stderr, "  agent SIGKILLed and restarted\n");
  double killWall = wallNow();
  cluster.agent(0).signal(SIGKILL);
  cluster.agent(0).wait(std::chrono::seconds(10));
  double spawnWall = wallNow();
  auto spawned = Clock::now();
  cluster.restartAgent(0);
  const std::string log = cluster.dir() + "/agent-0.restart-1.log";

  std::optional<Clock::time_point> health, agentState, masterState, executorsBack;
  auto deadline = spawned + timeout;
  auto lastHttp = Clock::time_point{};
  while (Clock::now() < deadline && !(agentState && masterState && executorsBack)) {
    auto now = Clock::now();
    if (!executorsBack && logTimes(log, "the executor of task", "is back").size() == total) executorsBack = now;
    if (now - lastHttp >= std::chrono::milliseconds(50)) {
      lastHttp = now;
      if (!health) {
        auto h = httpGet(cluster.agentHttp(0) + "/health", 1);
        if (h && h->status == 200) health = Clock::now();
      }
      if (health && !agentState) {
        auto s = cluster.agentState(0);
        auto at = Clock::now();
        size_t running = 0;
        if (s.is_object() && s.value("registered", false)) {
          for (const auto& t : s["tasks"]) running += t.value("state", "") == "TASK_RUNNING" ? 1 : 0;
        }
        if (running == total) agentState = at;
      }
      if (!masterState) {
        auto m = cluster.state();
        auto at = Clock::now();
        if (m.is_object() && m["agents"].size() == 1) {
          const auto& a = m["agents"][0];
          if (a.value("reachable", false) && a.value("registered_time", 0.0) >= killWall &&
              a.value("task_count", size_t{0}) == total && countState(m).running == total) {
            masterState = at;
          }
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  r.agentCpu = processCpuSeconds(cluster.agent(0).pid());
  if (!(agentState && masterState && executorsBack)) {
    return internalError("the restarted agent did not recover every task within " +
                         std::to_string(o.timeoutSeconds) + " s: executors back " +
                         std::to_string(logTimes(log, "the executor of task", "is back").size()) + "/" + std::to_string(total) +
                         (agentState ? "" : ", agent /state not all running") +
                         (masterState ? "" : ", master /state not all running") + "; logs in " + cluster.dir());
  }

  // Where the time went, from the logs (1 ms resolution, wall clock).
  auto since = [&](double wall) { return wall - spawnWall; };
  auto back = logTimes(log, "the executor of task", "is back");
  if (auto t = logTimes(log, "recovering as agent"); !t.empty()) r.recovered = since(t.front());
  if (auto t = logTimes(log, "re-registered with the master"); !t.empty()) r.reregistered = since(t.front());
  std::vector<double> backSince;
  for (double t : back) backSince.push_back(since(t));
  r.executorsFirst = quantile(backSince, 0);
  r.executorsMedian = quantile(backSince, 0.5);
  r.executorsLast = quantile(backSince, 1);
  r.health = secondsBetween(spawned, *health);
  r.agentState = secondsBetween(spawned, *agentState);
  r.masterState = secondsBetween(spawned, *masterState);
  r.done = std::max({r.executorsLast, r.agentState, r.masterState});
  std::vector<double> noticed;
  auto s = cluster.agentState(0);
  if (s.is_object()) {
    for (const auto& t : s["tasks"]) {
      auto gone = logTimes(t.value("sandbox", "") + "/executor.log", "is gone");
      if (!gone.empty()) noticed.push_back(gone.back() - killWall);
    }
  }
  r.noticed = noticed.size();
  r.noticedMedian = quantile(noticed, 0.5);
  r.noticedMax = quantile(noticed, 1);
  return r;
}

nlohmann::json agentJson(const AgentResult& r) {
  return {{"load_average_at_start", r.loadAverage},
          {"launch_seconds", r.launch},
          {"since_restart_seconds",
           {{"health", r.health},
            {"checkpoints_recovered", r.recovered},
            {"reregistered_with_master", r.reregistered},
            {"first_executor_back", r.executorsFirst},
            {"median_executor_back", r.executorsMedian},
            {"last_executor_back", r.executorsLast},
            {"agent_state_all_running", r.agentState},
            {"master_state_all_running", r.masterState},
            {"done", r.done}}},
          {"executor_noticed_kill_seconds", {{"median", r.noticedMedian}, {"max", r.noticedMax}, {"count", r.noticed}}},
          {"agent_cpu_seconds", r.agentCpu}};
}

int runAgentRecovery(const AgentOptions& o, int rounds, bool json, nlohmann::json& out) {
  if (!json) {
    std::printf("\nAgent recovery: %d tasks `sleep 600` (cpus 0.1, mem 16) on one agent, SIGKILLed and restarted; "
                "%d round(s)\n",
                o.tasks, rounds);
    std::printf("seconds since the restarted agent's spawn\n\n");
    std::printf("%-7s %8s %8s %9s %10s %10s %10s %10s %10s %8s\n", "round", "health", "recover", "master rr",
                "exec first", "exec med", "exec last", "agent st", "master st", "done");
  }
  std::vector<AgentResult> results;
  for (int i = 1; i <= rounds; ++i) {
    if (i > 1) std::this_thread::sleep_for(kSettle);
    std::fprintf(stderr, "agent recovery round %d/%d (load average %s)\n", i, rounds, loadAverage().c_str());
    Result<AgentResult> r = internalError("not run");
    try {
      r = agentRound(o);
    } catch (const std::exception& e) {
      r = internalError(e.what());
    }
    if (!r) {
      std::fprintf(stderr, "bench-recovery: agent recovery round %d: %s\n", i, r.error().message.c_str());
      return 1;
    }
    results.push_back(*r);
    if (!json) {
      std::printf("%-7d %8.3f %8.3f %9.3f %10.3f %10.3f %10.3f %10.3f %10.3f %8.3f\n", i, r->health, r->recovered,
                  r->reregistered, r->executorsFirst, r->executorsMedian, r->executorsLast, r->agentState,
                  r->masterState, r->done);
      std::fflush(stdout);
    }
    std::fprintf(stderr,
                 "  launch took %.2f s; executors noticed the kill after %.3f s (median), %.3f s (max, %zu of them "
                 "logged it); restarted agent used %.2f CPU s\n",
                 r->launch, r->noticedMedian, r->noticedMax, r->noticed, r->agentCpu);
  }
  auto of = [&](auto field) {
    std::vector<double> v;
    for (const auto& r : results) v.push_back(field(r));
    return median(v);
  };
  AgentResult mid;
  mid.health = of([](const AgentResult& r) { return r.health; });
  mid.recovered = of([](const AgentResult& r) { return r.recovered; });
  mid.reregistered = of([](const AgentResult& r) { return r.reregistered; });
  mid.executorsFirst = of([](const AgentResult& r) { return r.executorsFirst; });
  mid.executorsMedian = of([](const AgentResult& r) { return r.executorsMedian; });
  mid.executorsLast = of([](const AgentResult& r) { return r.executorsLast; });
  mid.agentState = of([](const AgentResult& r) { return r.agentState; });
  mid.masterState = of([](const AgentResult& r) { return r.masterState; });
  mid.done = of([](const AgentResult& r) { return r.done; });
  mid.noticedMedian = of([](const AgentResult& r) { return r.noticedMedian; });
  mid.noticedMax = of([](const AgentResult& r) { return r.noticedMax; });
  mid.agentCpu = of([](const AgentResult& r) { return r.agentCpu; });
  mid.launch = of([](const AgentResult& r) { return r.launch; });
  if (json) {
    nlohmann::json a;
    a["tasks"] = o.tasks;
    a["rounds"] = nlohmann::json::array();
    for (const auto& r : results) a["rounds"].push_back(agentJson(r));
    a["median"] = agentJson(mid);
    a["median"].erase("load_average_at_start");
    out["agent_recovery"] = a;
  } else {
    std::printf("%-7s %8.3f %8.3f %9.3f %10.3f %10.3f %10.3f %10.3f %10.3f %8.3f\n", "median", mid.health,
                mid.recovered, mid.reregistered, mid.executorsFirst, mid.executorsMedian, mid.executorsLast,
                mid.agentState, mid.masterState, mid.done);
    std::printf("\nhealth: /health answers; recover: checkpoints read (log); master rr: re-registered with the\n"
                "master (log); exec: executors re-registered with the agent (log, first/median/last); agent st:\n"
                "/state lists every task TASK_RUNNING; master st: the master's /state lists the agent, reachable,\n"
                "with every task; done: the latest of exec last, agent st, master st. Executors noticed the kill\n"
                "%.3f s after it (median), %.3f s at most; the restarted agent used %.2f CPU s.\n",
                mid.noticedMedian, mid.noticedMax, mid.agentCpu);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  FailoverOptions failover;
  AgentOptions agent;
  int rounds = 3;
  int agentRounds = 1;
  int retryMs = 1000;
  std::string part = "both";
  bool json = false;
  CLI::App app("Recovery times: a restarted master taking back simulated agents and their tasks, and a restarted "
               "agent taking back its running tasks.",
               "bench-recovery");
  app.add_option("--agents", failover.agents, "Simulated agents for the master failover")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--tasks-per-agent", failover.tasksPerAgent, "Tasks each simulated agent reports")
      ->capture_default_str()
      ->check(CLI::Range(0, 10000));
  app.add_option("--rounds", rounds, "Master failover rounds; the medians are reported")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  app.add_option("--agent-tasks", agent.tasks, "Tasks `sleep 600` on the agent that restarts")
      ->capture_default_str()
      ->check(CLI::Range(1, 5000));
  app.add_option("--agent-rounds", agentRounds, "Agent recovery rounds")->capture_default_str()->check(CLI::Range(1, 100));
  app.add_option("--part", part, "What to run: master, agent or both")
      ->capture_default_str()
      ->check(CLI::IsMember({"master", "agent", "both"}));
  app.add_option("--retry-backoff-ms", retryMs,
                 "A simulated agent's first registration back-off, as the agent's --registration-backoff: re-sent "
                 "after a random delay from [b, 2b), b doubling up to 4 s; 0: never")
      ->capture_default_str()
      ->check(CLI::Range(0, 60000));
  app.add_option("--agents-per-process", failover.agentsPerProcess,
                 "Simulated agents per child process (each holds a descriptor there)")
      ->capture_default_str()
      ->check(CLI::Range(1, 9000));
  std::string simWorker;
  app.add_option("--sim-worker", simWorker, "Internal: run simulated agents FIRST:COUNT for the parent process")
      ->group("");
  app.add_option("--timeout", failover.timeoutSeconds, "Seconds one phase may take before the round fails")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--master-flag", failover.masterFlags,
                 "Extra flag for the failover's master (repeatable), e.g. --master-flag=--agent-ping-timeout=15s");
  app.add_option("--agent-flag", agent.agentFlags,
                 "Extra flag for the recovering agent (repeatable), e.g. --agent-flag=--isolation=none");
  app.add_option("--store", failover.store,
                 "file: one master restarted on its work dir; zk: two masters under ZooKeeper, the leader SIGKILLed")
      ->capture_default_str()
      ->check(CLI::IsMember({"file", "zk"}));
  int zkTimeoutMs = static_cast<int>(failover.zkSessionTimeout.count());
  app.add_option("--zk-session-timeout-ms", zkTimeoutMs, "The masters' --zk-session-timeout with --store=zk")
      ->capture_default_str()
      ->check(CLI::Range(1000, 600000));
  app.add_option("--warm-memory-mb", failover.warmMemoryMb,
                 "MiB this process touches and frees before each first registration, so that the host's taking "
                 "back of idle guest memory is not paid inside the timed phase; 0: not done")
      ->check(CLI::Range(0, 65536))
      ->capture_default_str();
  app.add_flag("--cold-only", failover.coldOnly,
               "Master failover rounds run the first registration only (no restart, no failover)");
  app.add_flag("--json", json, "Print the figures as JSON on stdout (progress stays on stderr)");
  if (int code = parseCommandLine(app, argc, argv); code >= 0) return code;
  if (!simWorker.empty()) {
    // As the master does: thousands of connections in one process.
    execWithMallocTunables(argv);
    size_t first = 0, count = 0;
    if (std::sscanf(simWorker.c_str(), "%zu:%zu", &first, &count) != 2 || count == 0) {
      std::cerr << "bench-recovery: --sim-worker takes FIRST:COUNT\n";
      return 2;
    }
    return runSimWorker(first, count, {.tasksPerAgent = failover.tasksPerAgent,
                                       .retryBackoff = std::chrono::milliseconds(retryMs)});
  }
  // The SDK and the leader detector log through spdlog's default logger,
  // which writes to stdout: keep stdout for the figures (--json).
  spdlog::set_default_logger(spdlog::stderr_color_mt("bench-recovery"));
  failover.zkSessionTimeout = std::chrono::milliseconds(zkTimeoutMs);
  failover.retryBackoff = std::chrono::milliseconds(retryMs);
  agent.timeoutSeconds = failover.timeoutSeconds;
  // The simulated agents run in child processes (--agents-per-process
  // each, a descriptor an agent); the master, which inherits this
  // process's limit, holds one an agent.
  const auto neededFiles = static_cast<rlim_t>(failover.agents) + 512;
  rlim_t files = raiseFileLimit(neededFiles + 4096);
  if (part != "agent" && files < neededFiles) {
    // Past the limit, the last agents' sockets cannot connect and the round
    // would wait for them until --timeout.
    std::cerr << "bench-recovery: " << failover.agents << " simulated agents, " << failover.agentsPerProcess
              << " a process, need about " << neededFiles << " open files; the limit is " << files
              << " and cannot be raised (that takes CAP_SYS_RESOURCE); use fewer --agents or --agents-per-process\n";
    return 1;
  }

  Machine machine = describeMachine();
  nlohmann::json out;
  if (json) {
    out["machine"] = machineJson(machine);
  } else {
    printMachine(machine);
  }
  int code = 0;
  if (part != "agent") code = runFailover(failover, rounds, json, out);
  if (code == 0 && part != "master") {
    if (part == "both") std::this_thread::sleep_for(kSettle);
    code = runAgentRecovery(agent, agentRounds, json, out);
  }
  if (json) std::cout << out.dump(2) << "\n";
  return code;
}
