// Native task isolation with real cgroups: limits in the kernel's files,
// the memory-limit kill and its reason, kills that reach double-forked
// processes, the reasons a command fails, usage on the agent and the master,
// removal of finished containers' cgroups and sandboxes, and
// --isolation=none.
//
// Tests that need cgroups fail unless they run as root on a host that mounts
// cgroups v1 (cpu and memory) or a cgroup2 hierarchy with the cpu and memory
// controllers, as the test command's machine does; the memory-limit test
// skips (ctest says so) on a host that swaps without swap accounting. Each
// test gives its agents a cgroup root of its own ("cn-test-<random>"), so
// that tests running in parallel never see each other's containers, and
// removes it again at the end. The tests of failure reasons and of sandbox
// collection, which do not depend on cgroups, run with --isolation=none
// where cgroups are unavailable.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "clusternodes/scheduler.hpp"
#include "common/http_client.hpp"
#include "tests/harness/cluster.hpp"
#include "tests/harness/driver.hpp"
#include "tests/harness/recording_scheduler.hpp"
#include "tests/harness/skip.hpp"

using namespace clusternodes;
using namespace clusternodes::testing;
using namespace std::chrono_literals;

namespace {

namespace fs = std::filesystem;

// ------------------------------------------------------------ the host's cgroups

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

std::vector<std::string> words(const std::string& text, char separator = ' ') {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string word; std::getline(in, word, separator);) {
    if (!word.empty()) out.push_back(word);
  }
  return out;
}

// What the host mounts, read independently of the agent's own parser.
struct HostCgroups {
  int version = 0;                          // what the agent will use: 1, 2, or 0 (none usable)
  std::map<std::string, std::string> v1;    // controller -> mount point
  std::string v2;                           // cgroup2 mount point

  // Every hierarchy an agent may keep containers in: v1 cpu, cpuacct,
  // memory, freezer and pids where mounted; the cgroup2 mount.
  std::vector<std::string> mounts() const {
    std::vector<std::string> out;
    if (version == 1) {
      for (const char* controller : {"cpu", "cpuacct", "memory", "freezer", "pids"}) {
        auto it = v1.find(controller);
        if (it != v1.end() && std::find(out.begin(), out.end(), it->second) == out.end()) out.push_back(it->second);
      }
    } else if (version == 2) {
      out.push_back(v2);
    }
    return out;
  }
  // Those it must use: what limits, measures and freezes (v1 cpu, cpuacct,
  // memory, and freezer where mounted), or the cgroup2 mount.
  std::vector<std::string> required() const {
    std::vector<std::string> out;
    for (const auto& mount : mounts()) {
      if (version == 2 || v1.count("pids") == 0 || mount != v1.at("pids")) out.push_back(mount);
    }
    return out;
  }
  // Those the agent running with `root` made its root in.
  std::vector<std::string> used(const std::string& root) const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& mount : mounts()) {
      if (fs::is_directory(mount + "/" + root, ec)) out.push_back(mount);
    }
    return out;
  }
  // The container's directory in every hierarchy the agent uses.
  std::vector<std::string> containerDirs(const std::string& root, const std::string& id) const {
    std::vector<std::string> out;
    for (const auto& mount : used(root)) out.push_back(mount + "/" + root + "/" + id);
    return out;
  }
  // The container's directory for `controller` (v1), or its only one (v2).
  std::string dirFor(const std::string& controller, const std::string& root, const std::string& id) const {
    if (version == 2) return v2 + "/" + root + "/" + id;
    auto it = v1.find(controller);
    return it == v1.end() ? std::string() : it->second + "/" + root + "/" + id;
  }
};

HostCgroups hostCgroups() {
  HostCgroups host;
  std::stringstream mountinfo(slurp("/proc/self/mountinfo"));
  for (std::string line; std::getline(mountinfo, line);) {
    auto fields = words(line);
    auto dash = std::find(fields.begin(), fields.end(), "-");
    if (fields.size() < 5 || dash == fields.end() || std::distance(dash, fields.end()) < 4) continue;
    const std::string& type = *(dash + 1);
    if (type == "cgroup2" && host.v2.empty()) host.v2 = fields[4];
    if (type != "cgroup") continue;
    for (const auto& option : words(*(dash + 3), ',')) {
      if (host.v1.count(option) == 0) host.v1[option] = fields[4];
    }
  }
  if (host.v1.count("cpu") != 0 && host.v1.count("memory") != 0) {
    host.version = 1;
  } else if (!host.v2.empty()) {
    auto controllers = words(trimmed(slurp(host.v2 + "/cgroup.controllers")));
    bool cpu = std::find(controllers.begin(), controllers.end(), "cpu") != controllers.end();
    bool memory = std::find(controllers.begin(), controllers.end(), "memory") != controllers.end();
    if (cpu && memory) host.version = 2;
  }
  return host;
}

// Why the cgroups tests cannot run here, or "" when they can.
std::string cgroupsUnavailable() {
  if (::geteuid() != 0) return "the cgroups tests need root";
  if (hostCgroups().version == 0) {
    return "this host mounts neither cgroups v1 cpu and memory nor a cgroup2 hierarchy with cpu and memory";
  }
  return "";
}

// Fails the test, with the reason, unless it can use the host's cgroups.
#define REQUIRE_CGROUPS()                          \
  do {                                             \
    const std::string why = cgroupsUnavailable();  \
    REQUIRE_MESSAGE(why.empty(), why);             \
  } while (false)

std::string randomDigits(size_t count) {
  static std::mutex mutex;
  static std::mt19937_64 generator(std::random_device{}() ^ static_cast<uint64_t>(::getpid()));
  std::lock_guard<std::mutex> lock(mutex);
  std::string out;
  for (size_t i = 0; i < count; ++i) out += static_cast<char>('0' + generator() % 10);
  return out;
}

// A cgroup root of the test's own. Declare it before the TestCluster: it is
// then removed after the cluster killed the agents and every task, taking
// with it the containers a killed agent could not remove (empty by then).
struct CgroupRoot {
  std::string name = "cn-test-" + randomDigits(12);

  std::string flag() const { return "--cgroups-root=" + name; }

  ~CgroupRoot() {
    auto host = hostCgroups();
    std::vector<std::string> mounts = host.mounts();
    if (!host.v2.empty() && std::find(mounts.begin(), mounts.end(), host.v2) == mounts.end()) {
      mounts.push_back(host.v2);
    }
    for (const auto& mount : mounts) {
      std::string root = mount + "/" + name;
      std::error_code ec;
      if (!fs::is_directory(root, ec)) continue;
      // Containers left behind go once their killed processes are gone.
      eventually(
          [&] {
            bool empty = true;
            for (const auto& child : fs::directory_iterator(root, ec)) {
              if (child.is_directory(ec) && ::rmdir(child.path().c_str()) != 0) empty = false;
            }
            return empty;
          },
          5s);
      if (::rmdir(root.c_str()) != 0) MESSAGE("could not remove the test's cgroup root " << root);
    }
  }
};

// An agent's flags to isolate with cgroups under `root`, or with none where
// the host or user cannot (for tests whose subject is not cgroups).
std::vector<std::string> isolationFlags(const CgroupRoot& root) {
  if (auto why = cgroupsUnavailable(); !why.empty()) {
    MESSAGE("running with --isolation=none: " << why);
    return {"--isolation=none"};
  }
  return {root.flag()};
}

// ------------------------------------------------------------ the cluster

nlohmann::json containers(const TestCluster& cluster, size_t agent) {
  auto r = httpGet(cluster.agentHttp(agent) + "/containers", 5);
  if (!r || r->status != 200) return nullptr;
  return nlohmann::json::parse(r->body, nullptr, false);
}

// The agent's /containers entry of `taskId`, waiting for it (null if none).
nlohmann::json containerOf(const TestCluster& cluster, size_t agent, const std::string& taskId) {
  nlohmann::json found;
  eventually([&] {
    auto all = containers(cluster, agent);
    if (!all.is_array()) return false;
    for (const auto& c : all) {
      if (c["task_id"] == taskId) {
        found = c;
        return true;
      }
    }
    return false;
  });
  return found;
}

// The value of a counter or gauge in the agent's /metrics (-1 if absent).
double agentMetric(const TestCluster& cluster, size_t agent, const std::string& name) {
  auto r = httpGet(cluster.agentHttp(agent) + "/metrics", 5);
  if (!r || r->status != 200) return -1;
  std::stringstream in(r->body);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return -1;
}

// The master's /state entry of a task, running or completed (null if none).
nlohmann::json masterTask(const TestCluster& cluster, const std::string& taskId) {
  auto s = cluster.state();
  if (!s.is_object()) return nullptr;
  for (const char* list : {"tasks", "completed_tasks"}) {
    for (const auto& t : s[list]) {
      if (t["id"] == taskId) return t;
    }
  }
  return nullptr;
}

std::set<pid_t> cgroupProcs(const std::string& dir) {
  std::set<pid_t> out;
  std::stringstream in(slurp(dir + "/cgroup.procs"));
  for (pid_t pid; in >> pid;) out.insert(pid);
  return out;
}

std::string str(TaskState state) { return toString(state); }
std::string str(TaskReason reason) { return toString(reason); }

bool anyExists(const std::vector<std::string>& paths) {
  std::error_code ec;
  return std::any_of(paths.begin(), paths.end(), [&](const std::string& p) { return fs::exists(p, ec); });
}

// A task that runs until the test creates `go` in its sandbox, then exits 0.
const char* kWaitForGo = "while [ ! -e go ]; do sleep 0.05; done";

void letGo(const std::string& sandbox) { std::ofstream(sandbox + "/go") << "go\n"; }

}  // namespace

// ------------------------------------------------------------ memory limit

TEST_CASE("a task allocating beyond its mem is killed by the kernel and fails with REASON_MEMORY_LIMIT") {
  REQUIRE_CGROUPS();
  // Without swap accounting (v1 memory.memsw.*) a task may swap beyond its
  // limit instead of being killed: a kernel boot option (swapaccount=1) that
  // no test command can set. Skipped before anything starts.
  auto host = hostCgroups();
  std::string meminfo = slurp("/proc/meminfo");
  auto swapTotal = meminfo.find("SwapTotal:");
  bool swap = swapTotal != std::string::npos && std::stoull(meminfo.substr(swapTotal + 10)) > 0;
  if (host.version == 1 && swap && !fs::exists(host.v1.at("memory") + "/memory.memsw.limit_in_bytes")) {
    skipTest("this host swaps and has no cgroup swap accounting (swapaccount=1), so the limit is not a kill");
  }
  CgroupRoot root;
  TestCluster cluster;
  cluster.startMaster();
  size_t agent = cluster.startAgent("cpus:2;mem:1024;disk:1024", {root.flag()});
  cluster.waitForAgents(1);

  RecordingScheduler scheduler;
  launchOnOffers(scheduler, {{"", [](const Offer& offer) {
                                return std::vector<TaskInfo>{makeTask(
                                    "hog", offer, "x=$(head -c 100000000 /dev/zero | tr \"\\0\" a); echo ${#x}",
                                    "cpus:0.5;mem:32")};
                              }}});
  auto driver = startDriver(scheduler, cluster, "memory-hog");

  auto end = terminalStatus(scheduler, "hog");
  REQUIRE(end);
  INFO("status: " << end->state << " " << end->reason << ": " << end->message);
  CHECK(str(end->state) == "TASK_FAILED");
  CHECK(str(end->reason) == "REASON_MEMORY_LIMIT");
  CHECK(end->message.find("memory limit") != std::string::npos);
  CHECK(end->message.find("of its 32.0 MiB limit") != std::string::npos);
  CHECK(end->message.find("used up to ") != std::string::npos);
  // The peak is reported, and it reached the limit (give or take a page).
  auto at = end->message.find("used up to ");
  if (at != std::string::npos) {
    double peakMiB = std::stod(end->message.substr(at + std::string("used up to ").size()));
    CHECK(peakMiB >= 31.0);
    CHECK(peakMiB <= 32.1);
  }
  CHECK(eventually([&] { return agentMetric(cluster, agent, "clusternodes_agent_memory_limit_kills_total") == 1; }));
  // The master shows the reason too.
  CHECK(eventually([&] {
    auto t = masterTask(cluster, "hog");
    return t.is_object() && t["status_reason"] == "REASON_MEMORY_LIMIT";
  }));
  driver->stop();
  driver->join();
}

// ------------------------------------------------------------ limits in the kernel

TEST_CASE("a task's cgroup holds its cpu shares, cpu quota and memory limit, and its processes but not the executor") {
  REQUIRE_CGROUPS();
  auto host = hostCgroups();
  CgroupRoot root;
  TestCluster cluster;
  cluster.startMaster();
  size_t plain = cluster.startAgent("cpus:2;mem:1024;disk:1024", {root.flag()});
  size_t cfs = cluster.startAgent("cpus:2;mem:1024;disk:1024", {root.flag(), "--cgroups-enable-cfs"});
  cluster.waitForAgents(2);

  const std::string marker = "30." + randomDigits(9);  // the tasks' unique sleep
  RecordingScheduler scheduler;
  launchOnOffers(scheduler,
                 {{agentId(cluster, plain),
                   [&](const Offer& offer) {
                     TaskInfo capped = makeTask("capped", offer, "sleep " + marker, "cpus:0.5;mem:64");
                     capped.cpuLimit = 1.5;
                     return std::vector<TaskInfo>{makeTask("shares", offer, "sleep " + marker, "cpus:0.5;mem:64"),
                                                  capped};
                   }},
                  {agentId(cluster, cfs), [&](const Offer& offer) {
                     return std::vector<TaskInfo>{makeTask("cfs", offer, "sleep " + marker, "cpus:0.5;mem:64")};
                   }}});
  auto driver = startDriver(scheduler, cluster, "limits");
  for (const char* task : {"shares", "capped", "cfs"}) {
    REQUIRE(scheduler.waitForState(TaskID{task}, TaskState::kRunning));
  }
  // The agents made their root in every hierarchy that limits, measures or
  // freezes.
  auto used = host.used(root.name);
  for (const auto& mount : host.required()) {
    INFO("hierarchy " << mount);
    CHECK(std::find(used.begin(), used.end(), mount) != used.end());
  }

  struct Expected {
    const char* task;
    size_t agent;
    std::optional<uint64_t> quotaUs;  // over a 100 ms period
  };
  std::vector<std::string> containerDirs;  // the three tasks' cgroups, in every hierarchy
  for (const Expected& expected : {Expected{"shares", plain, std::nullopt}, Expected{"capped", plain, 150000},
                                   Expected{"cfs", cfs, 50000}}) {
    INFO("task " << std::string(expected.task));
    auto container = containerOf(cluster, expected.agent, expected.task);
    REQUIRE(container.is_object());
    const std::string id = container["container_id"].get<std::string>();
    CHECK(container["limits"]["cpus"].get<double>() == doctest::Approx(0.5));
    CHECK(container["limits"]["mem_bytes"].get<uint64_t>() == 67108864);
    if (expected.quotaUs) {
      CHECK(container["limits"]["cpu_quota"].get<double>() == doctest::Approx(*expected.quotaUs / 100000.0));
    } else {
      CHECK(container["limits"]["cpu_quota"].is_null());
    }
    // The run id in the sandbox path is the container (cgroup) id.
    CHECK(fs::path(container["sandbox"].get<std::string>()).filename() == id);

    std::string cpu = host.dirFor("cpu", root.name, id);
    std::string memory = host.dirFor("memory", root.name, id);
    CHECK(container["cgroup"] == memory);
    // The containers' parent weighs the agent's 2 cpus against the host's
    // other processes.
    std::string parent = fs::path(cpu).parent_path().string();
    CHECK(trimmed(slurp(parent + (host.version == 1 ? "/cpu.shares" : "/cpu.weight"))) ==
          (host.version == 1 ? "2048" : "200"));
    if (host.version == 1) {
      CHECK(container["isolation"] == "cgroups-v1");
      CHECK(trimmed(slurp(cpu + "/cpu.shares")) == "512");
      CHECK(trimmed(slurp(memory + "/memory.limit_in_bytes")) == "67108864");
      if (expected.quotaUs) {
        CHECK(trimmed(slurp(cpu + "/cpu.cfs_quota_us")) == std::to_string(*expected.quotaUs));
        CHECK(trimmed(slurp(cpu + "/cpu.cfs_period_us")) == "100000");
      } else {
        CHECK(trimmed(slurp(cpu + "/cpu.cfs_quota_us")) == "-1");
      }
    } else {
      CHECK(container["isolation"] == "cgroups-v2");
      // 512 shares on the kernel documentation's mapping to weights.
      CHECK(trimmed(slurp(cpu + "/cpu.weight")) == "20");
      CHECK(trimmed(slurp(memory + "/memory.max")) == "67108864");
      CHECK(trimmed(slurp(cpu + "/cpu.max")) ==
            (expected.quotaUs ? std::to_string(*expected.quotaUs) : std::string("max")) + " 100000");
    }

    // The task's processes are in the container in every hierarchy; its
    // executor is in none of them.
    pid_t executor = container["executor_pid"].get<pid_t>();
    CHECK(executor > 0);
    for (const auto& dir : host.containerDirs(root.name, id)) {
      INFO("cgroup " << dir);
      auto procs = cgroupProcs(dir);
      CHECK(!procs.empty());
      CHECK(procs.count(executor) == 0);
      containerDirs.push_back(dir);
    }
  }
  // Every process running the tasks' command is in one of their containers.
  // The shell may fork `sleep` after the task is reported running, so the
  // cgroups are read again until they show each one.
  std::string missing;
  CHECK_MESSAGE(eventually([&] {
                  std::set<pid_t> seen;
                  for (const auto& dir : containerDirs) {
                    auto procs = cgroupProcs(dir);
                    seen.insert(procs.begin(), procs.end());
                  }
                  auto running = processesMatching("sleep " + marker);
                  missing.clear();
                  for (pid_t pid : running) {
                    if (seen.count(pid) == 0) {
                      missing += std::to_string(pid) + " (" + slurp("/proc/" + std::to_string(pid) + "/cmdline") + ") ";
                    }
                  }
                  return !running.empty() && missing.empty();
                }),
                "processes outside the tasks' cgroups: " << missing);

  for (const char* task : {"shares", "capped", "cfs"}) driver->killTask(TaskID{task});
  for (const char* task : {"shares", "capped", "cfs"}) CHECK(scheduler.waitForState(TaskID{task}, TaskState::kKilled));
  CHECK(eventually([&] { return processesMatching("sleep " + marker).empty(); }));
  driver->stop();
  driver->join();
}

// ------------------------------------------------------------ kills reach everything

TEST_CASE("killing a task that double-forked a child leaves no process and removes its cgroups") {
  REQUIRE_CGROUPS();
  auto host = hostCgroups();
  CgroupRoot root;
  TestCluster cluster;
  cluster.startMaster();
  size_t agent = cluster.startAgent("cpus:2;mem:1024;disk:1024", {root.flag()});
  cluster.waitForAgents(1);

  // Every process of the task has `marker` on its command line; the
  // grandchild runs `sh -c "sleep <marker>; true"` in a session of its own.
  const std::string marker = "1000." + randomDigits(9);
  const std::string daemon = "sleep " + marker + "; true";
  RecordingScheduler scheduler;
  launchOnOffers(scheduler, {{"", [&](const Offer& offer) {
                                return std::vector<TaskInfo>{makeTask(
                                    "forker", offer, "(setsid sh -c \"" + daemon + "\" &); sleep " + marker,
                                    "cpus:0.2;mem:64")};
                              }}});
  auto driver = startDriver(scheduler, cluster, "double-fork");
  REQUIRE(scheduler.waitForState(TaskID{"forker"}, TaskState::kRunning));
  auto container = containerOf(cluster, agent, "forker");
  REQUIRE(container.is_object());
  auto dirs = host.containerDirs(root.name, container["container_id"].get<std::string>());
  // The grandchild exists, in a session of its own.
  std::vector<pid_t> grandchild;
  REQUIRE(eventually([&] {
    grandchild = processesMatching("sh -c " + daemon, true);
    return grandchild.size() == 1;
  }));
  CHECK(::getsid(grandchild[0]) == grandchild[0]);

  driver->killTask(TaskID{"forker"});
  auto end = terminalStatus(scheduler, "forker");
  REQUIRE(end);
  CHECK(str(end->state) == "TASK_KILLED");
  CHECK(str(end->reason) == "REASON_KILLED_BY_FRAMEWORK");
  CHECK(eventually([&] { return processesMatching(marker).empty(); }));
  CHECK(eventually([&] { return !anyExists(dirs); }));
  driver->stop();
  driver->join();
}

TEST_CASE("a task that exits 0 leaving a daemonized child finishes, and the child does not survive it") {
  REQUIRE_CGROUPS();
  CgroupRoot root;
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent("cpus:2;mem:1024;disk:1024", {root.flag()});
  cluster.waitForAgents(1);

  // The daemon touches `started` (in the sandbox, its working directory)
  // before it sleeps; the task exits 0 once it has.
  const std::string marker = "1000." + randomDigits(9);
  const std::string command = "(setsid sh -c \"touch started; sleep " + marker +
                              "; true\" &); while [ ! -e started ]; do sleep 0.02; done; exit 0";
  RecordingScheduler scheduler;
  launchOnOffers(scheduler, {{"", [&](const Offer& offer) {
                                return std::vector<TaskInfo>{makeTask("daemonizer", offer, command, "cpus:0.2;mem:64")};
                              }}});
  auto driver = startDriver(scheduler, cluster, "daemonizer");

  auto end = terminalStatus(scheduler, "daemonizer");
  REQUIRE(end);
  INFO("status: " << end->state << " " << end->reason << ": " << end->message);
  CHECK(str(end->state) == "TASK_FINISHED");
  CHECK(end->exitCode == 0);
  CHECK(eventually([&] { return processesMatching(marker).empty(); }));
  driver->stop();
  driver->join();
}

// ------------------------------------------------------------ reasons

TEST_CASE("a failed command says why: not found, not executable, signaled, or its exit status") {
  CgroupRoot root;
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent("cpus:4;mem:2048;disk:1024", isolationFlags(root));
  cluster.waitForAgents(1);

  // A script without execute permission (root may run a file only when some
  // execute bit is set).
  const std::string script = cluster.dir() + "/not-executable.sh";
  std::ofstream(script) << "#!/bin/sh\nexit 0\n";
  ::chmod(script.c_str(), 0644);

  auto direct = [](TaskInfo task, std::vector<std::string> argv) {
    task.command.value.clear();
    task.command.shell = false;
    task.command.arguments = std::move(argv);
    return task;
  };
  RecordingScheduler scheduler;
  launchOnOffers(scheduler, {{"", [&](const Offer& offer) {
                                return std::vector<TaskInfo>{
                                    makeTask("missing-shell", offer, "nosuchcommand-xyz"),
                                    direct(makeTask("missing-direct", offer, ""), {"/nonexistent/prog"}),
                                    direct(makeTask("noexec-direct", offer, ""), {script}),
                                    makeTask("noexec-shell", offer, script),
                                    makeTask("segv", offer, "kill -SEGV $$"),
                                    makeTask("exit3", offer, "exit 3"),
                                };
                              }}});
  auto driver = startDriver(scheduler, cluster, "reasons");

  auto ended = [&](const std::string& task) {
    auto end = terminalStatus(scheduler, task);
    REQUIRE(end);
    INFO("task " << task << ": " << end->state << " " << end->reason << ": " << end->message);
    CHECK(str(end->state) == "TASK_FAILED");
    return *end;
  };
  {
    auto end = ended("missing-shell");
    INFO(end.message);
    CHECK(str(end.reason) == "REASON_COMMAND_NOT_FOUND");
    CHECK(end.message.find("not found") != std::string::npos);
  }
  {
    auto end = ended("missing-direct");
    INFO(end.message);
    CHECK(str(end.reason) == "REASON_COMMAND_NOT_FOUND");
    CHECK(end.message.find("/nonexistent/prog") != std::string::npos);
  }
  for (const std::string task : {"noexec-direct", "noexec-shell"}) {
    auto end = ended(task);
    INFO(task << ": " << end.message);
    CHECK(str(end.reason) == "REASON_COMMAND_NOT_EXECUTABLE");
  }
  {
    auto end = ended("segv");
    INFO(end.message);
    CHECK(str(end.reason) == "REASON_COMMAND_SIGNALED");
    CHECK(end.message.find("SIGSEGV") != std::string::npos);
    CHECK(end.signal == 11);
    CHECK(!end.exitCode);
  }
  {
    auto end = ended("exit3");
    INFO(end.message);
    CHECK(str(end.reason) == "REASON_COMMAND_EXITED");
    CHECK(end.exitCode == 3);
    CHECK(!end.signal);
  }
  driver->stop();
  driver->join();
}

// ------------------------------------------------------------ usage

TEST_CASE("a running container's cpu and memory use shows on the agent's /containers and the master's /state") {
  REQUIRE_CGROUPS();
  CgroupRoot root;
  TestCluster cluster;
  cluster.startMaster();
  size_t agent = cluster.startAgent("cpus:2;mem:1024;disk:1024", {root.flag(), "--usage-interval=200ms"});
  cluster.waitForAgents(1);

  // Holds a 20 MB string and then spins.
  RecordingScheduler scheduler;
  launchOnOffers(scheduler, {{"", [](const Offer& offer) {
                                return std::vector<TaskInfo>{makeTask(
                                    "burner", offer,
                                    "x=$(head -c 20000000 /dev/zero | tr \"\\0\" a); while :; do :; done",
                                    "cpus:0.5;mem:128")};
                              }}});
  auto driver = startDriver(scheduler, cluster, "usage");
  REQUIRE(scheduler.waitForState(TaskID{"burner"}, TaskState::kRunning));

  nlohmann::json usage;
  bool measured = eventually([&] {
    auto container = containerOf(cluster, agent, "burner");
    if (!container.is_object()) return false;
    usage = container["usage"];
    return usage["cpu_seconds"].get<double>() > 0 && usage["mem_bytes"].get<uint64_t>() > 10'000'000;
  });
  INFO("usage: " << usage.dump());
  CHECK(measured);
  CHECK(usage["processes"].get<int>() >= 1);
  CHECK(usage["mem_limit_bytes"].get<uint64_t>() == 128ull * 1024 * 1024);
  CHECK(usage["mem_peak_bytes"].get<uint64_t>() >= usage["mem_bytes"].get<uint64_t>());
  CHECK(usage["timestamp"].get<double>() > 0);

  nlohmann::json onMaster;
  CHECK(eventually([&] {
    onMaster = masterTask(cluster, "burner");
    return onMaster.is_object() && onMaster.contains("usage") && onMaster["usage"]["cpu_seconds"].get<double>() > 0;
  }));
  INFO("master: " << onMaster.dump());
  if (onMaster.contains("usage")) {
    CHECK(onMaster["usage"]["mem_limit_bytes"].get<uint64_t>() == 128ull * 1024 * 1024);
  }

  driver->killTask(TaskID{"burner"});
  CHECK(scheduler.waitForState(TaskID{"burner"}, TaskState::kKilled));
  driver->stop();
  driver->join();
}

// ------------------------------------------------------------ garbage collection

TEST_CASE("finished sandboxes are collected after --gc-delay, at once without disk headroom, and kept by default") {
  CgroupRoot root;
  auto flags = [&](std::vector<std::string> extra) {
    auto out = isolationFlags(root);
    out.insert(out.end(), extra.begin(), extra.end());
    return out;
  };
  TestCluster cluster;
  cluster.startMaster();
  size_t quick = cluster.startAgent("cpus:2;mem:1024;disk:1024", flags({"--gc-delay=1secs"}));
  size_t full = cluster.startAgent("cpus:2;mem:1024;disk:1024", flags({"--gc-disk-headroom=1"}));
  size_t keeper = cluster.startAgent("cpus:2;mem:1024;disk:1024", flags({}));
  cluster.waitForAgents(3);

  RecordingScheduler scheduler;
  std::map<std::string, Plan> plans;
  const std::map<size_t, std::string> tasks = {{quick, "quick"}, {full, "full"}, {keeper, "keeper"}};
  for (const auto& [agent, task] : tasks) {
    plans[agentId(cluster, agent)] = [task = task](const Offer& offer) {
      return std::vector<TaskInfo>{makeTask(task, offer, kWaitForGo)};
    };
  }
  launchOnOffers(scheduler, plans);
  auto driver = startDriver(scheduler, cluster, "gc");

  std::map<std::string, std::string> sandboxes;
  for (const auto& [agent, task] : tasks) {
    REQUIRE(scheduler.waitForState(TaskID{task}, TaskState::kRunning));
    auto container = containerOf(cluster, agent, task);
    REQUIRE(container.is_object());
    sandboxes[task] = container["sandbox"].get<std::string>();
    REQUIRE(fs::is_directory(sandboxes[task]));
  }
  for (const auto& [task, sandbox] : sandboxes) letGo(sandbox);
  for (const auto& [agent, task] : tasks) {
    auto end = terminalStatus(scheduler, task);
    REQUIRE(end);
    CHECK(str(end->state) == "TASK_FINISHED");
  }

  // The default agent destroyed the container and keeps its sandbox.
  CHECK(eventually([&] { return agentMetric(cluster, keeper, "clusternodes_agent_containers_destroyed_total") == 1; }));
  CHECK(eventually([&] { return agentMetric(cluster, keeper, "clusternodes_agent_sandboxes_pending_gc") == 1; }));

  for (size_t agent : {quick, full}) {
    const std::string& task = tasks.at(agent);
    INFO("task " << task << ", sandbox " << sandboxes[task]);
    CHECK(eventually([&] { return !fs::exists(sandboxes[task]); }));
    auto s = cluster.agentState(agent);
    REQUIRE(s.is_object());
    CHECK(s["sandboxes_collected"].get<int>() >= 1);
    CHECK(s["sandboxes_pending_gc"].get<int>() == 0);
    // The task's and framework's directories went with it, once empty.
    CHECK(!fs::exists(fs::path(sandboxes[task]).parent_path()));
  }

  // After all the waits above the default agent still keeps its sandbox,
  // unless this disk is so full that the headroom (10%) calls for removal.
  struct statvfs disk{};
  double used = ::statvfs(sandboxes["keeper"].c_str(), &disk) == 0 && disk.f_blocks > 0
                    ? 1.0 - static_cast<double>(disk.f_bavail) / static_cast<double>(disk.f_blocks)
                    : 0;
  if (used < 0.85) {
    CHECK(fs::is_directory(sandboxes["keeper"]));
    CHECK(fs::exists(sandboxes["keeper"] + "/stdout"));
    auto s = cluster.agentState(keeper);
    REQUIRE(s.is_object());
    CHECK(s["sandboxes_collected"].get<int>() == 0);
  } else {
    MESSAGE("not checking that the default agent keeps its sandbox: the disk is " << used * 100 << "% full");
  }
  driver->stop();
  driver->join();
}

// ------------------------------------------------------------ cgroups removed

TEST_CASE("a finished container's cgroups are removed from every hierarchy") {
  REQUIRE_CGROUPS();
  auto host = hostCgroups();
  CgroupRoot root;
  TestCluster cluster;
  cluster.startMaster();
  size_t agent = cluster.startAgent("cpus:2;mem:1024;disk:1024", {root.flag()});
  cluster.waitForAgents(1);

  RecordingScheduler scheduler;
  launchOnOffers(scheduler, {{"", [](const Offer& offer) {
                                return std::vector<TaskInfo>{
                                    makeTask("short", offer, kWaitForGo),
                                    makeTask("failing", offer, std::string(kWaitForGo) + "; exit 7")};
                              }}});
  auto driver = startDriver(scheduler, cluster, "cgroups-removed");

  std::map<std::string, std::vector<std::string>> dirs;
  for (const std::string task : {"short", "failing"}) {
    INFO("task " << task);
    REQUIRE(scheduler.waitForState(TaskID{task}, TaskState::kRunning));
    auto container = containerOf(cluster, agent, task);
    REQUIRE(container.is_object());
    const std::string id = container["container_id"].get<std::string>();
    dirs[task] = host.containerDirs(root.name, id);
    // At least in every hierarchy that limits, measures or freezes it.
    for (const auto& mount : host.required()) {
      INFO("hierarchy " << mount);
      CHECK(std::find(dirs[task].begin(), dirs[task].end(), mount + "/" + root.name + "/" + id) != dirs[task].end());
    }
    for (const auto& dir : dirs[task]) {
      INFO("cgroup " << dir);
      CHECK(fs::is_directory(dir));
    }
    letGo(container["sandbox"].get<std::string>());
  }
  auto finished = terminalStatus(scheduler, "short");
  REQUIRE(finished);
  CHECK(str(finished->state) == "TASK_FINISHED");
  auto failed = terminalStatus(scheduler, "failing");
  REQUIRE(failed);
  CHECK(str(failed->state) == "TASK_FAILED");
  CHECK(failed->exitCode == 7);

  for (const auto& [task, taskDirs] : dirs) {
    for (const auto& dir : taskDirs) {
      INFO("task " << task << ", cgroup " << dir);
      CHECK(eventually([&] { return !fs::exists(dir); }));
    }
  }
  // The agent's root stays for the next containers.
  for (const auto& mount : host.required()) CHECK(fs::is_directory(mount + "/" + root.name));
  CHECK(eventually([&] { return agentMetric(cluster, agent, "clusternodes_agent_containers_destroyed_total") == 2; }));
  driver->stop();
  driver->join();
}

// ------------------------------------------------------------ --isolation

TEST_CASE("an agent with --isolation=none runs tasks, and refuses an unknown isolation") {
  TestCluster cluster;
  cluster.startMaster();
  size_t agent = cluster.startAgent("cpus:2;mem:1024;disk:1024", {"--isolation=none"});
  cluster.waitForAgents(1);
  auto s = cluster.agentState(agent);
  REQUIRE(s.is_object());
  CHECK(s["isolation"] == "none");

  RecordingScheduler scheduler;
  launchOnOffers(scheduler, {{"", [](const Offer& offer) {
                                return std::vector<TaskInfo>{makeTask("plain", offer, kWaitForGo)};
                              }}});
  auto driver = startDriver(scheduler, cluster, "no-isolation");
  REQUIRE(scheduler.waitForState(TaskID{"plain"}, TaskState::kRunning));
  auto container = containerOf(cluster, agent, "plain");
  REQUIRE(container.is_object());
  CHECK(container["isolation"] == "none");
  CHECK(container["cgroup"] == "");
  CHECK(container["usage"]["processes"].get<int>() >= 1);
  letGo(container["sandbox"].get<std::string>());
  auto end = terminalStatus(scheduler, "plain");
  REQUIRE(end);
  CHECK(str(end->state) == "TASK_FINISHED");
  CHECK(end->exitCode == 0);
  driver->stop();
  driver->join();

  auto bad = runProgram({binary("clusternodes-agent"), "--isolation=bogus", "--master=127.0.0.1:1",
                         "--work-dir=" + cluster.dir() + "/bad-agent"},
                        30s);
  INFO("output: " << bad.output);
  CHECK(bad.exitCode == 2);
  CHECK(std::count(bad.output.begin(), bad.output.end(), '\n') == 1);
  CHECK(bad.output.find("--isolation") != std::string::npos);
  CHECK(bad.output.find("bogus") != std::string::npos);
}

TEST_CASE("an agent refuses a --cgroups-root outside its hierarchy") {
  TestCluster cluster;
  for (const std::string& bad : {std::string("../escape"), std::string("/absolute")}) {
    auto result = runProgram({binary("clusternodes-agent"), "--cgroups-root=" + bad, "--master=127.0.0.1:1",
                              "--ip=127.0.0.1", "--port=0", "--http-port=0", "--work-dir=" + cluster.dir() + "/agent"},
                             30s);
    INFO("--cgroups-root=" << bad << ": " << result.output);
    CHECK(result.exitCode == 1);
    CHECK(result.output.find("--cgroups-root: '" + bad + "' must be a relative path") != std::string::npos);
  }
}
