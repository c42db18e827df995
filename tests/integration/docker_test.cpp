// Docker tasks on a real cluster and a real Docker engine: the master, an
// agent with the docker containerizer and the framework are processes on
// loopback; the containers run from the local image clusternodes/busybox
// (scripts/docker.sh builds it). Without Docker these tests fail, saying
// what is missing.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/docker/client.hpp"
#include "common/http_client.hpp"
#include "tests/harness/cluster.hpp"
#include "tests/harness/docker.hpp"
#include "tests/harness/driver.hpp"
#include "tests/harness/recording_scheduler.hpp"
#include "tests/harness/skip.hpp"

using namespace clusternodes;
using namespace clusternodes::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {


template <typename T>
std::string str(const T& value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

// A task running `command` through /bin/sh in the test image.
TaskInfo dockerTask(const std::string& id, const Offer& offer, const std::string& command,
                    const std::string& resources) {
  TaskInfo task = makeTask(id, offer, command, resources);
  task.docker = DockerInfo{};
  task.docker->image = kDockerTestImage;
  return task;
}

// The agent's /containers entry for `taskId` (null until it shows).
nlohmann::json containerOf(const TestCluster& cluster, size_t agent, const std::string& taskId) {
  nlohmann::json found;
  eventually([&] {
    auto r = httpGet(cluster.agentHttp(agent) + "/containers", 5);
    if (!r || r->status != 200) return false;
    for (const auto& c : nlohmann::json::parse(r->body, nullptr, false)) {
      if (c.is_object() && c["task_id"] == taskId) {
        found = c;
        return true;
      }
    }
    return false;
  });
  return found;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Containers that carry the task's label, stopped ones included.
std::vector<docker::ContainerSummary> containersOfTask(const std::string& taskId) {
  docker::Client client;
  auto listed = client.list({{"clusternodes.task-id", taskId}});
  REQUIRE(listed.ok());
  return *listed;
}

std::string uniqueId(const std::string& prefix) {
  return prefix + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000007);
}

}  // namespace

TEST_CASE("a Docker task runs in a labelled container with the task's limits, its output in the sandbox") {
  REQUIRE_DOCKER();
  TestCluster cluster;
  cluster.startMaster();
  // Ports of this test's own: the task's is published on the host.
  const int port = freePort();
  const std::string portText = std::to_string(port);
  size_t agent = cluster.startAgent("cpus:2;mem:1024;disk:1024;ports:[" + portText + "-" + portText + "]");
  cluster.waitForAgents(1);

  const std::string id = uniqueId("web");
  RecordingScheduler scheduler;
  launchOnOffers(scheduler, {{"", [&](const Offer& offer) {
                                TaskInfo task = dockerTask(
                                    id, offer,
                                    "echo to-stdout; echo to-stderr >&2; echo in-sandbox > $CLUSTERNODES_SANDBOX/made; "
                                    "mkdir -p /www && echo served-by-busybox > /www/index.html && "
                                    "exec httpd -f -p 8080 -h /www",
                                    "cpus:0.5;mem:64;ports:[" + portText + "-" + portText + "]");
                                task.cpuLimit = 1.5;
                                task.docker->portMappings = {{static_cast<uint32_t>(port), 8080, "tcp"}};
                                return std::vector<TaskInfo>{task};
                              }}});
  auto driver = startDriver(scheduler, cluster, "docker-limits");
  auto running = scheduler.waitForState(TaskID{id}, TaskState::kRunning, 60s);
  REQUIRE(running);

  auto container = containerOf(cluster, agent, id);
  REQUIRE(container.is_object());
  CHECK(container["isolation"] == "docker");
  const std::string name = container["docker_container"].get<std::string>();
  CHECK(name.rfind("clusternodes-", 0) == 0);
  CHECK(name == "clusternodes-" + container["container_id"].get<std::string>());

  // What Docker applied: 1024 shares per cpu, the cpu limit as a CFS quota,
  // mem as the memory limit with no swap beyond it, the agent's labels.
  docker::Client client;
  auto inspected = client.inspect(name);
  REQUIRE(inspected.ok());
  CHECK(inspected->running);
  CHECK(inspected->cpuShares == 512);
  CHECK(inspected->cpuQuotaUs == 150000);
  CHECK(inspected->cpuPeriodUs == 100000);
  CHECK(inspected->memoryBytes == 64ull * 1024 * 1024);
  CHECK(inspected->memorySwapBytes == 64ull * 1024 * 1024);
  CHECK(inspected->image == kDockerTestImage);
  CHECK(inspected->labels["clusternodes.task-id"] == id);
  CHECK(inspected->labels["clusternodes.agent-id"] == agentId(cluster, agent));
  CHECK(inspected->labels["clusternodes.framework-id"] == scheduler.frameworkId().value);
  CHECK(inspected->publishedPorts["8080/tcp"] == port);

  // The host port reaches the container's server.
  std::string body;
  CHECK(eventually([&] {
    auto page = httpGet("http://127.0.0.1:" + portText + "/index.html", 2);
    if (page && page->status == 200) body = page->body;
    return body.find("served-by-busybox") != std::string::npos;
  }));

  // Its stdout and stderr land in the sandbox files, and the sandbox is
  // mounted where the task's environment says.
  const std::string sandbox = container["sandbox"].get<std::string>();
  CHECK(eventually([&] {
    return slurp(sandbox + "/stdout").find("to-stdout\n") != std::string::npos &&
           slurp(sandbox + "/stderr").find("to-stderr\n") != std::string::npos;
  }));
  CHECK(slurp(sandbox + "/stdout").find("to-stderr") == std::string::npos);
  CHECK(slurp(sandbox + "/made") == "in-sandbox\n");

  driver->killTask(TaskID{id});
  auto end = terminalStatus(scheduler, id);
  REQUIRE(end);
  CHECK(str(end->state) == "TASK_KILLED");
  // The container is removed once it has stopped.
  CHECK(eventually([&] { return containersOfTask(id).empty(); }, 30s));
  driver->stop();
  driver->join();
}

TEST_CASE("a Docker task's states and exit code: STARTING, RUNNING, then FINISHED or FAILED with the code") {
  REQUIRE_DOCKER();
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent("cpus:2;mem:1024;disk:1024");
  cluster.waitForAgents(1);

  const std::string ok = uniqueId("ok");
  const std::string bad = uniqueId("bad");
  const std::string argv = uniqueId("argv");
  RecordingScheduler scheduler;
  launchOnOffers(scheduler, {{"", [&](const Offer& offer) {
                                TaskInfo args = dockerTask(argv, offer, "", "cpus:0.1;mem:32");
                                // Not a shell: the arguments replace the image's command.
                                args.command.shell = false;
                                args.command.arguments = {"sh", "-c", "echo argv-form; exit 0"};
                                return std::vector<TaskInfo>{dockerTask(ok, offer, "echo fine", "cpus:0.1;mem:32"),
                                                             dockerTask(bad, offer, "exit 7", "cpus:0.1;mem:32"),
                                                             args};
                              }}});
  auto driver = startDriver(scheduler, cluster, "docker-states");

  auto finished = terminalStatus(scheduler, ok, 60s);
  REQUIRE(finished);
  CHECK(str(finished->state) == "TASK_FINISHED");
  REQUIRE(finished->exitCode.has_value());
  CHECK(*finished->exitCode == 0);
  std::vector<std::string> states;
  for (const auto& status : scheduler.statusesOf(TaskID{ok})) states.push_back(str(status.state));
  CHECK(states == std::vector<std::string>{"TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"});

  auto failed = terminalStatus(scheduler, bad, 60s);
  REQUIRE(failed);
  INFO("status: " << failed->message);
  CHECK(str(failed->state) == "TASK_FAILED");
  CHECK(str(failed->reason) == "REASON_COMMAND_EXITED");
  REQUIRE(failed->exitCode.has_value());
  CHECK(*failed->exitCode == 7);
  CHECK(failed->message.find("status 7") != std::string::npos);

  auto args = terminalStatus(scheduler, argv, 60s);
  REQUIRE(args);
  CHECK(str(args->state) == "TASK_FINISHED");
  driver->stop();
  driver->join();
}

TEST_CASE("a Docker task that allocates past its memory is TASK_FAILED with the memory reason") {
  REQUIRE_DOCKER();
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent("cpus:2;mem:1024;disk:1024");
  cluster.waitForAgents(1);

  const std::string id = uniqueId("hog");
  RecordingScheduler scheduler;
  launchOnOffers(scheduler, {{"", [&](const Offer& offer) {
                                return std::vector<TaskInfo>{dockerTask(
                                    id, offer, "x=$(head -c 100000000 /dev/zero | tr \"\\0\" a); echo ${#x}",
                                    "cpus:0.5;mem:32")};
                              }}});
  auto driver = startDriver(scheduler, cluster, "docker-hog");
  auto end = terminalStatus(scheduler, id, 60s);
  REQUIRE(end);
  INFO("status: " << end->state << " " << end->reason << ": " << end->message);
  CHECK(str(end->state) == "TASK_FAILED");
  CHECK(str(end->reason) == "REASON_MEMORY_LIMIT");
  CHECK(end->message.find("OOMKilled") != std::string::npos);
  CHECK(end->message.find("32.0 MiB") != std::string::npos);
  driver->stop();
  driver->join();
}

TEST_CASE("a Docker task whose image is missing and cannot be pulled fails with a reason naming the image") {
  REQUIRE_DOCKER();
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent("cpus:2;mem:1024;disk:1024");
  cluster.waitForAgents(1);

  const std::string id = uniqueId("ghost");
  const std::string image = "clusternodes/no-such-image-" + std::to_string(::getpid()) + ":1.0";
  RecordingScheduler scheduler;
  launchOnOffers(scheduler, {{"", [&](const Offer& offer) {
                                TaskInfo task = dockerTask(id, offer, "true", "cpus:0.1;mem:32");
                                task.docker->image = image;
                                return std::vector<TaskInfo>{task};
                              }}});
  auto driver = startDriver(scheduler, cluster, "docker-ghost");
  auto end = terminalStatus(scheduler, id, 120s);
  REQUIRE(end);
  INFO("status: " << end->state << " " << end->reason << ": " << end->message);
  CHECK(str(end->state) == "TASK_FAILED");
  CHECK(str(end->reason) == "REASON_IMAGE_UNAVAILABLE");
  CHECK(end->message.find(image) != std::string::npos);
  CHECK(containersOfTask(id).empty());
  driver->stop();
  driver->join();
}

TEST_CASE("a kill stops a Docker task with SIGTERM, and with SIGKILL once its grace period is over") {
  REQUIRE_DOCKER();
  TestCluster cluster;
  cluster.startMaster();
  size_t agent = cluster.startAgent("cpus:2;mem:1024;disk:1024");
  cluster.waitForAgents(1);

  const std::string polite = uniqueId("polite");
  const std::string stubborn = uniqueId("stubborn");
  RecordingScheduler scheduler;
  launchOnOffers(scheduler, {{"", [&](const Offer& offer) {
                                // Leaves on SIGTERM, and says so in its sandbox.
                                TaskInfo leaves = dockerTask(
                                    polite, offer,
                                    "trap 'echo got-term > $CLUSTERNODES_SANDBOX/term; exit 0' TERM; "
                                    "while true; do sleep 0.1; done",
                                    "cpus:0.1;mem:32");
                                leaves.killGracePeriodSeconds = 20;
                                // Ignores SIGTERM: only SIGKILL ends it.
                                TaskInfo stays =
                                    dockerTask(stubborn, offer, "trap '' TERM; while true; do sleep 0.1; done",
                                               "cpus:0.1;mem:32");
                                stays.killGracePeriodSeconds = 1;
                                return std::vector<TaskInfo>{leaves, stays};
                              }}});
  auto driver = startDriver(scheduler, cluster, "docker-kill");
  REQUIRE(scheduler.waitForState(TaskID{polite}, TaskState::kRunning, 60s));
  REQUIRE(scheduler.waitForState(TaskID{stubborn}, TaskState::kRunning, 60s));
  auto politeSandbox = containerOf(cluster, agent, polite)["sandbox"].get<std::string>();

  driver->killTask(TaskID{polite});
  driver->killTask(TaskID{stubborn});
  auto politeEnd = terminalStatus(scheduler, polite, 30s);
  auto stubbornEnd = terminalStatus(scheduler, stubborn, 30s);
  REQUIRE(politeEnd);
  REQUIRE(stubbornEnd);
  CHECK(str(politeEnd->state) == "TASK_KILLED");
  CHECK(str(stubbornEnd->state) == "TASK_KILLED");
  // The polite one heard SIGTERM and left on it: after its 20 s grace it
  // would have been killed (exit 137).
  CHECK(slurp(politeSandbox + "/term") == "got-term\n");
  REQUIRE(politeEnd->exitCode.has_value());
  CHECK(*politeEnd->exitCode == 0);
  // The stubborn one needed SIGKILL (exit 137), after its 1 s grace.
  REQUIRE(stubbornEnd->exitCode.has_value());
  CHECK(*stubbornEnd->exitCode == 137);
  driver->stop();
  driver->join();
}

TEST_CASE("an agent without the docker containerizer refuses Docker tasks with a reason") {
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent("cpus:2;mem:1024;disk:1024", {"--containerizers=native"});
  cluster.waitForAgents(1);

  RecordingScheduler scheduler;
  launchOnOffers(scheduler, {{"", [&](const Offer& offer) {
                                return std::vector<TaskInfo>{dockerTask("boxed", offer, "true", "cpus:0.1;mem:32"),
                                                             makeTask("plain", offer, "true", "cpus:0.1;mem:32")};
                              }}});
  auto driver = startDriver(scheduler, cluster, "docker-refused");
  auto refused = terminalStatus(scheduler, "boxed");
  REQUIRE(refused);
  CHECK(str(refused->state) == "TASK_FAILED");
  CHECK(str(refused->reason) == "REASON_CONTAINERIZER_UNSUPPORTED");
  CHECK(refused->message.find("does not run docker tasks") != std::string::npos);
  auto plain = terminalStatus(scheduler, "plain");
  REQUIRE(plain);
  CHECK(str(plain->state) == "TASK_FINISHED");
  driver->stop();
  driver->join();

  auto bad = runProgram({binary("clusternodes-agent"), "--containerizers=native,lxc", "--master=127.0.0.1:1"}, 10s);
  CHECK(bad.exitCode != 0);
  CHECK(bad.output.find("'lxc' is neither native nor docker") != std::string::npos);
}

namespace {

// Containers a test makes by hand, removed when it ends.
struct HandMadeContainers {
  docker::Client client;
  std::vector<std::string> names;

  std::string run(const std::string& name, const std::map<std::string, std::string>& labels) {
    docker::ContainerSpec spec;
    spec.name = name;
    spec.image = kDockerTestImage;
    spec.cmd = {"sleep", "300"};
    spec.labels = labels;
    auto created = client.create(spec);
    REQUIRE_MESSAGE(created.ok(), (created.ok() ? "" : created.error().message));
    names.push_back(name);
    REQUIRE(client.start(*created).ok());
    return *created;
  }
  bool running(const std::string& name) {
    auto state = client.inspect(name);
    return state.ok() && state->running;
  }
  ~HandMadeContainers() {
    for (const auto& name : names) (void)client.remove(name);
  }
};

}  // namespace

TEST_CASE("a Docker task runs on through an agent restart, and the agent removes only its own orphans") {
  REQUIRE_DOCKER();
  TestCluster cluster;
  // The restart must not look like a lost agent.
  cluster.startMaster({"--agent-ping-timeout=5secs", "--max-agent-ping-timeouts=6"});
  size_t agent = cluster.startAgent("cpus:2;mem:1024;disk:1024", {"--recovery-timeout=60secs"});
  cluster.waitForAgents(1);

  const std::string id = uniqueId("survivor");
  RecordingScheduler scheduler;
  launchOnOffers(scheduler, {{"", [&](const Offer& offer) {
                                return std::vector<TaskInfo>{dockerTask(
                                    id, offer, "while true; do echo tick; sleep 0.2; done", "cpus:0.1;mem:32")};
                              }}});
  auto driver = startDriver(scheduler, cluster, "docker-restart");
  REQUIRE(scheduler.waitForState(TaskID{id}, TaskState::kRunning, 60s));
  const std::string agentBefore = agentId(cluster, agent);
  auto container = containerOf(cluster, agent, id);
  REQUIRE(container.is_object());
  const std::string name = container["docker_container"].get<std::string>();
  const std::string sandbox = container["sandbox"].get<std::string>();

  // Beside it: a container with this agent's label that no task knows (an
  // orphan), one of another agent, and one without labels.
  HandMadeContainers others;
  const std::string suffix = std::to_string(::getpid());
  others.run("cn-test-orphan-" + suffix, {{"clusternodes.agent-id", agentBefore}, {"clusternodes.task-id", "ghost"}});
  others.run("cn-test-foreign-" + suffix, {{"clusternodes.agent-id", "another-agent"}});
  others.run("cn-test-unlabelled-" + suffix, {});

  cluster.agent(agent).signal(SIGKILL);
  REQUIRE(cluster.agent(agent).wait(10s) != -1);
  // With no agent, the container runs on and its output still lands.
  size_t ticks = slurp(sandbox + "/stdout").size();
  CHECK(eventually([&] { return slurp(sandbox + "/stdout").size() > ticks; }));
  CHECK(others.running(name));

  cluster.restartAgent(agent);
  // The same agent again, with its task.
  CHECK(eventually([&] {
    auto s = cluster.agentState(agent);
    return s.is_object() && s.value("registered", false) && s.value("id", "") == agentBefore;
  }));
  CHECK(eventually([&] { return !others.client.inspect("cn-test-orphan-" + suffix).ok(); }));
  CHECK(others.running("cn-test-foreign-" + suffix));
  CHECK(others.running("cn-test-unlabelled-" + suffix));
  CHECK(others.running(name));
  auto state = nlohmann::json::parse(cluster.masterGet("/state"), nullptr, false);
  bool runningAtMaster = false;
  for (const auto& task : state["tasks"]) runningAtMaster |= task["id"] == id && task["state"] == "TASK_RUNNING";
  CHECK(runningAtMaster);

  // Its executor is back with the agent: a kill reaches the container.
  driver->killTask(TaskID{id});
  auto end = terminalStatus(scheduler, id, 60s);
  REQUIRE(end);
  INFO("status: " << end->state << " " << end->reason << ": " << end->message);
  CHECK(str(end->state) == "TASK_KILLED");
  CHECK(str(end->reason) == "REASON_KILLED_BY_FRAMEWORK");
  CHECK(eventually([&] { return containersOfTask(id).empty(); }, 30s));
  for (const auto& status : scheduler.statusesOf(TaskID{id})) {
    CHECK(str(status.state) != "TASK_LOST");
    CHECK(str(status.state) != "TASK_FAILED");
  }
  driver->stop();
  driver->join();
}

TEST_CASE("a Docker task runs as its user's uid and gid, in a sandbox that is theirs") {
  REQUIRE_DOCKER();
  if (::geteuid() != 0) skipTest("needs root: the agent switches to the tasks' users");
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent("cpus:2;mem:1024;disk:1024");
  cluster.waitForAgents(1);

  const std::string id = uniqueId("as-nobody");
  RecordingScheduler scheduler;
  launchOnOffers(scheduler, {{"", [&](const Offer& offer) {
                                TaskInfo task = dockerTask(id, offer, "id -u; id -g; touch \"$CLUSTERNODES_SANDBOX/mine\"",
                                                           "cpus:0.1;mem:32");
                                task.command.user = "nobody";
                                return std::vector<TaskInfo>{task};
                              }}});
  auto driver = startDriver(scheduler, cluster, "docker-user");
  auto ended = terminalStatus(scheduler, id, 60s);
  REQUIRE(ended);
  INFO("status: " << ended->message);
  CHECK(str(ended->state) == "TASK_FINISHED");
  std::string out;
  bool ownsItsFile = false;
  for (const auto& entry : fs::recursive_directory_iterator(cluster.dir() + "/agent-0/sandboxes")) {
    if (entry.path().string().find("/" + id + "/") == std::string::npos) continue;
    if (entry.path().filename() == "stdout") out = slurp(entry.path().string());
    struct stat st {};
    if (entry.path().filename() == "mine" && ::stat(entry.path().c_str(), &st) == 0) ownsItsFile = st.st_uid == 65534;
  }
  CHECK(out == "65534\n65534\n");
  CHECK(ownsItsFile);
  driver->stop();
  driver->join();
}
