// `clusternodes run --detach`, `scale` and `kill` against a real master and
// agent, with containers from the local image clusternodes/busybox: the
// service keeps its instances running when a container goes behind its
// back, follows a scale down, and leaves no task, container or process
// after a kill. Without Docker the service test fails (scripts/docker.sh
// starts it and builds the image).
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/docker/client.hpp"
#include "common/http_client.hpp"
#include "tests/harness/cluster.hpp"
#include "tests/harness/docker.hpp"
#include "tests/harness/text.hpp"

using namespace clusternodes;
using namespace clusternodes::testing;
using namespace std::chrono_literals;

namespace {

// The agent's ports are this test's own (tests/harness/cluster.hpp): Docker
// publishes them on the host.
std::string agentResources() { return "cpus:4;mem:2048;disk:1024;" + portsResource(11); }
// Leaves at once on the SIGTERM of a kill.
const std::string kServeForever = "trap \"exit 0\" TERM; while true; do sleep 0.2; done";

std::string uniqueName(const std::string& prefix) {
  return prefix + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000007);
}

// `clusternodes COMMAND --master=... --work-dir=... ARGS...` (before ARGS,
// which may end with `-- CMD...`).
ProgramResult cli(const TestCluster& cluster, const std::string& workDir, const std::vector<std::string>& args,
                  std::chrono::milliseconds timeout = 60s) {
  std::vector<std::string> argv = {binary("clusternodes"), args.front(), "--master=" + cluster.master(),
                                   "--work-dir=" + workDir};
  argv.insert(argv.end(), args.begin() + 1, args.end());
  return runProgram(argv, timeout);
}

// The service's scheduler processes, found by their command line.
std::vector<pid_t> schedulerProcesses(const std::string& name) {
  return processesMatching("service-scheduler --name=" + name + " ");
}

// Ids of the service's TASK_RUNNING tasks in the master's /state.
std::set<std::string> runningTasks(const TestCluster& cluster, const std::string& name) {
  const auto state = cluster.state();
  std::set<std::string> frameworks;
  for (const auto& framework : state["frameworks"]) {
    if (framework["name"] == "docker:" + name) frameworks.insert(framework["id"].get<std::string>());
  }
  std::set<std::string> ids;
  for (const auto& task : state["tasks"]) {
    if (frameworks.count(task["framework_id"].get<std::string>()) != 0 && task["state"] == "TASK_RUNNING") {
      ids.insert(task["id"].get<std::string>());
    }
  }
  return ids;
}

// Waits up to 30 s until the service runs `count` tasks, none of them
// `without`; `ids` holds the ones seen last.
bool runsEventually(const TestCluster& cluster, const std::string& name, size_t count, std::set<std::string>& ids,
                    const std::string& without = "") {
  return eventually(
      [&] {
        ids = runningTasks(cluster, name);
        return ids.size() == count && ids.count(without) == 0;
      },
      30s);
}

bool frameworkListed(const TestCluster& cluster, const std::string& name) {
  const auto state = cluster.state();
  for (const auto& framework : state["frameworks"]) {
    if (framework["name"] == "docker:" + name) return true;
  }
  return false;
}

// Containers of the service's tasks ("NAME.INSTANCE.ATTEMPT"), stopped ones
// included.
std::vector<docker::ContainerSummary> serviceContainers(const std::string& name) {
  docker::Client client;
  auto all = client.list({{"clusternodes.task-id", ""}});
  std::vector<docker::ContainerSummary> ours;
  if (!all) return ours;
  for (const auto& container : *all) {
    auto label = container.labels.find("clusternodes.task-id");
    if (label != container.labels.end() && label->second.rfind(name + ".", 0) == 0) ours.push_back(container);
  }
  return ours;
}

// Ends the service when the test leaves, even after a failed assertion:
// `kill` first, then SIGKILL for a scheduler still there, then the removal
// of any container left (the cluster's teardown SIGKILLs agent and
// executors, which would leave the containers running). Declared after the
// cluster, so it runs while the cluster is still up.
struct ServiceReaper {
  const TestCluster& cluster;
  std::string workDir;
  std::string name;
  ~ServiceReaper() {
    if (!schedulerProcesses(name).empty()) (void)cli(cluster, workDir, {"kill", name}, 40s);
    for (pid_t pid : schedulerProcesses(name)) ::kill(pid, SIGKILL);
    docker::Client client;
    for (const auto& container : serviceContainers(name)) (void)client.remove(container.id);
  }
};

}  // namespace

TEST_CASE("cli service: a service with three instances is back to three after one container is killed") {
  REQUIRE_DOCKER();
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent(agentResources());
  cluster.waitForAgents(1);
  const std::string workDir = cluster.dir() + "/cli";
  const std::string name = uniqueName("web");
  ServiceReaper reaper{cluster, workDir, name};

  // --detach returns while the service runs on: cli() waits 60 s at most.
  auto run = cli(cluster, workDir,
                 {"run", "--detach", "--instances=3", "--name=" + name, "--image=" + kDockerTestImage, "--", "sh",
                  "-c", kServeForever});
  INFO("run: " << run.output);
  REQUIRE(run.exitCode == 0);
  CHECK(run.output.rfind("service " + name + ": 3 instance(s) of " + kDockerTestImage + " (framework ", 0) == 0);
  REQUIRE(schedulerProcesses(name).size() == 1);
  CHECK(std::filesystem::exists(workDir + "/services/" + name + ".pid"));
  CHECK(std::filesystem::exists(workDir + "/services/" + name + ".log"));

  // The name is taken while the service runs.
  auto again = cli(cluster, workDir, {"run", "--detach", "--name=" + name, "--image=" + kDockerTestImage});
  CHECK(again.exitCode == 1);
  CHECK(again.output.find("service " + name + " is already running") != std::string::npos);

  std::set<std::string> before;
  REQUIRE(runsEventually(cluster, name, 3, before));

  // Its control API, which the master announces, tells the same.
  std::string controlUrl;
  const auto state = cluster.state();
  for (const auto& framework : state["frameworks"]) {
    if (framework["name"] == "docker:" + name) controlUrl = framework["webui_url"].get<std::string>();
  }
  REQUIRE(controlUrl.rfind("http://127.0.0.1:", 0) == 0);
  auto status = httpGet(controlUrl + "/status");
  REQUIRE(status);
  auto statusJson = nlohmann::json::parse(status->body);
  CHECK(statusJson["name"] == name);
  CHECK(statusJson["image"] == kDockerTestImage);
  CHECK(statusJson["instances"] == 3);
  CHECK(statusJson["tasks"].size() == 3);

  // A container goes behind the cluster's back: its instance gets a new task.
  const std::string victim = *before.begin();
  docker::Client client;
  auto containers = client.list({{"clusternodes.task-id", victim}});
  REQUIRE(containers);
  REQUIRE(containers->size() == 1);
  REQUIRE(client.remove(containers->front().id));
  std::set<std::string> after;
  CHECK(runsEventually(cluster, name, 3, after, victim));
  CAPTURE(after.size());

  auto scale = cli(cluster, workDir, {"scale", name, "--instances=1"});
  INFO("scale: " << scale.output);
  CHECK(scale.exitCode == 0);
  CHECK(scale.output == "service " + name + ": 1 instance(s)\n");
  // Exactly one, and it stays one: nothing relaunches the killed ones.
  CHECK(eventually([&] { return runningTasks(cluster, name).size() == 1 && serviceContainers(name).size() == 1; },
                   30s));
  // A negative check: time for a relaunch, were there one, to show.
  std::this_thread::sleep_for(1500ms);
  CHECK(runningTasks(cluster, name).size() == 1);

  // Scaled back up, an instance number comes back with a task id of its own.
  auto up = cli(cluster, workDir, {"scale", name, "--instances=2"});
  CHECK(up.exitCode == 0);
  std::set<std::string> seen = before;
  seen.insert(after.begin(), after.end());
  std::set<std::string> two;
  CHECK(runsEventually(cluster, name, 2, two));
  for (const auto& id : two) {
    if (id.rfind(name + ".1.", 0) == 0) CHECK(seen.count(id) == 0);
  }

  auto kill = cli(cluster, workDir, {"kill", name});
  INFO("kill: " << kill.output);
  CHECK(kill.exitCode == 0);
  CHECK(kill.output == "service " + name + ": stopped\n");
  CHECK_FALSE(frameworkListed(cluster, name));
  CHECK(eventually([&] { return serviceContainers(name).empty(); }, 30s));
  CHECK(eventually([&] { return schedulerProcesses(name).empty(); }, 10s));
  CHECK_FALSE(std::filesystem::exists(workDir + "/services/" + name + ".pid"));
}

TEST_CASE("cli service: --detach needs a name, and scale or kill of an unknown service exits 1") {
  TestCluster cluster;
  cluster.startMaster();
  const std::string workDir = cluster.dir() + "/cli";

  auto noName = cli(cluster, workDir, {"run", "--detach", "--image=" + kDockerTestImage, "--", "true"}, 20s);
  CHECK(noName.exitCode == 2);
  CHECK(noName.output == "clusternodes: --detach needs the service's name: --name=NAME\n");
  auto badName = cli(cluster, workDir, {"run", "--detach", "--name=a.b", "--image=" + kDockerTestImage}, 20s);
  CHECK(badName.exitCode == 2);
  CHECK(badName.output.rfind("clusternodes: --name: 'a.b' is not a service name", 0) == 0);
  auto noDetach = cli(cluster, workDir, {"run", "--instances=2", "--image=" + kDockerTestImage}, 20s);
  CHECK(noDetach.exitCode == 2);

  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"scale", "nosuch", "--instances=2"}, std::vector<std::string>{"kill", "nosuch"}}) {
    CAPTURE(args.front());
    auto result = cli(cluster, workDir, args, 20s);
    CHECK(result.exitCode == 1);
    CHECK(result.output == "clusternodes: no service nosuch is running\n");
  }
  CHECK(cluster.state()["frameworks"].empty());
}

namespace {

// Seconds since midnight of a service log line ("2026-12-06 14:12:52.355 I
// service NAME: ..."), or -1.
double logSeconds(const std::string& line) {
  if (line.size() < 23 || line[4] != '-' || line[13] != ':') return -1;
  return std::stoi(line.substr(11, 2)) * 3600.0 + std::stoi(line.substr(14, 2)) * 60.0 + std::stod(line.substr(17, 6));
}

// The first line of `log` holding `text`, or "".
std::string lineWith(const std::string& log, const std::string& text) {
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    if (line.find(text) != std::string::npos) return line;
  }
  return "";
}

}  // namespace

TEST_CASE("cli service: a container that keeps failing is relaunched after 1, 2 and 4 s, never sooner") {
  REQUIRE_DOCKER();
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent(agentResources());
  cluster.waitForAgents(1);
  const std::string workDir = cluster.dir() + "/cli";
  const std::string name = uniqueName("crash");
  ServiceReaper reaper{cluster, workDir, name};

  auto run = cli(cluster, workDir,
                 {"run", "--detach", "--name=" + name, "--image=" + kDockerTestImage, "--", "sh", "-c", "exit 3"});
  INFO("run: " << run.output);
  REQUIRE(run.exitCode == 0);
  const std::string logPath = workDir + "/services/" + name + ".log";
  std::string log;
  // The fourth task's launch: three ends and three relaunches before it.
  bool fourth = eventually(
      [&] {
        log = readFile(logPath);
        return !lineWith(log, "launching task " + name + ".0.4").empty();
      },
      120s);
  INFO("log:\n" << log);
  REQUIRE(fourth);
  const std::vector<std::string> waits = {"1.0", "2.0", "4.0"};
  for (size_t attempt = 1; attempt <= waits.size(); ++attempt) {
    const std::string task = name + ".0." + std::to_string(attempt);
    const std::string next = name + ".0." + std::to_string(attempt + 1);
    const std::string ended = lineWith(log, "task " + task + " ended (TASK_FAILED");
    CAPTURE(task);
    REQUIRE_FALSE(ended.empty());
    CHECK(ended.find("relaunching in " + waits[attempt - 1] + " s") != std::string::npos);
    // The next task is not launched before its wait is over.
    const std::string launched = lineWith(log, "launching task " + next);
    REQUIRE_FALSE(launched.empty());
    double gap = logSeconds(launched) - logSeconds(ended);
    if (gap < -43200) gap += 86400;  // across midnight
    CHECK(gap >= std::stod(waits[attempt - 1]) - 0.01);
  }
}
