// Frameworks' own executors with real daemons: the agent starts
// example-executor once per framework and executor id and hands it every
// task that names it; framework messages both ways; an executor that dies,
// a framework that goes away, and an agent restart.
#include <doctest/doctest.h>

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "clusternodes/scheduler.hpp"
#include "common/http_client.hpp"
#include "tests/harness/cluster.hpp"
#include "tests/harness/driver.hpp"
#include "tests/harness/recording_scheduler.hpp"
#include "tests/harness/text.hpp"

using namespace clusternodes;
using namespace clusternodes::testing;
using namespace std::chrono_literals;

namespace {

// The agent's /state entry of its executor `id`, or null.
nlohmann::json agentExecutor(const TestCluster& cluster, size_t agent, const std::string& id) {
  auto state = cluster.agentState(agent);
  if (!state.is_object()) return nullptr;
  for (const auto& executor : state["executors"]) {
    if (executor["id"] == id) return executor;
  }
  return nullptr;
}

void startOneAgent(TestCluster& cluster) {
  cluster.startMaster();
  cluster.startAgent("cpus:2;mem:1024;disk:1024");
  cluster.waitForAgents(1);
}

// Launches the tasks `plan` makes on the next offer.
void launchNext(RecordingScheduler& scheduler, Plan plan) { launchOnOffers(scheduler, {{"", std::move(plan)}}); }

bool processAlive(int pid) { return pid > 0 && ::kill(pid, 0) == 0; }

double usedCpus(const TestCluster& cluster) {
  auto state = cluster.state();
  double cpus = 0;
  for (const auto& agent : state["agents"]) cpus += agent["used_resources"].value("cpus", 0.0);
  return cpus;
}

}  // namespace

TEST_CASE("one executor per framework and executor id runs every task that names it") {
  TestCluster cluster;
  startOneAgent(cluster);
  RecordingScheduler scheduler;
  launchNext(scheduler, [](const Offer& offer) {
    return std::vector<TaskInfo>{executorTask("a", offer, "sleep:0.5"), executorTask("b", offer, "sleep:0.5"),
                                 executorTask("c", offer, "wait")};
  });
  auto driver = startDriver(scheduler, cluster, "executors");

  auto a = scheduler.waitForState(TaskID{"a"}, TaskState::kFinished, 30s);
  auto b = scheduler.waitForState(TaskID{"b"}, TaskState::kFinished, 30s);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->source == TaskSource::kExecutor);
  // The same process ran both.
  CHECK(a->data.rfind("pid=", 0) == 0);
  CHECK(a->data == b->data);
  REQUIRE(scheduler.waitForState(TaskID{"c"}, TaskState::kRunning));

  auto executor = agentExecutor(cluster, 0, "example");
  REQUIRE(executor.is_object());
  CHECK(executor["registered"] == true);
  CHECK("pid=" + std::to_string(executor["pid"].get<int>()) == a->data);
  // a and b are done, and forgotten once acknowledged.
  CHECK(eventually([&] { return agentExecutor(cluster, 0, "example")["tasks"].size() == 1; }));
  CHECK(std::filesystem::is_directory(executor["sandbox"].get<std::string>()));
  auto metrics = httpGet(cluster.agentHttp(0) + "/metrics");
  REQUIRE(metrics.ok());
  CHECK(metrics->body.find("\nclusternodes_agent_framework_executors 1\n") != std::string::npos);
  // The master counts the executor's resources beside the task's: 0.1 + 0.2.
  CHECK(eventually([&] { return std::abs(usedCpus(cluster) - 0.3) < 1e-6; }));

  // A kill reaches the executor; it reports the task killed.
  driver->killTask(TaskID{"c"});
  auto killed = terminalStatus(scheduler, "c");
  REQUIRE(killed);
  CHECK(toString(killed->state) == std::string("TASK_KILLED"));
  // The executor lives on without tasks, holding its own resources.
  CHECK(eventually([&] { return std::abs(usedCpus(cluster) - 0.1) < 1e-6; }));
  CHECK(processAlive(executor["pid"].get<int>()));
  driver->stop();
}

TEST_CASE("framework messages go both ways between a scheduler and its executor") {
  TestCluster cluster;
  startOneAgent(cluster);
  RecordingScheduler scheduler;
  launchNext(scheduler, [](const Offer& offer) {
    return std::vector<TaskInfo>{executorTask("teller", offer, "tell:hello scheduler"),
                                 executorTask("waiter", offer, "wait")};
  });
  auto driver = startDriver(scheduler, cluster, "messages");
  REQUIRE(scheduler.waitForState(TaskID{"teller"}, TaskState::kFinished, 30s));
  REQUIRE(scheduler.waitFor([&] { return !scheduler.messages().empty(); }));
  auto first = scheduler.messages().front();
  CHECK(first.data == "hello scheduler");
  CHECK(first.executorId.value == "example");
  CHECK(first.agentId.value == agentId(cluster, 0));

  // Bytes that are not text go through unchanged.
  std::string binaryData("ping\0\xff\x01", 7);
  driver->sendFrameworkMessage(ExecutorID{"example"}, first.agentId, binaryData);
  REQUIRE(scheduler.waitFor([&] { return scheduler.messages().size() >= 2; }));
  CHECK(scheduler.messages()[1].data == "echo:" + binaryData);
  // A message for an executor that does not run is dropped by the master,
  // as its log says, not delivered elsewhere.
  driver->sendFrameworkMessage(ExecutorID{"nobody"}, first.agentId, "lost");
  CHECK(eventually([&] {
    return readFile(cluster.dir() + "/master.log").find("dropping a message to executor nobody") != std::string::npos;
  }));
  CHECK(scheduler.messages().size() == 2);
  auto metrics = cluster.state()["metrics"];
  CHECK(metrics["framework_messages"].get<int>() == 3);
  driver->stop();
}

TEST_CASE("an executor that exits fails its unfinished tasks and the scheduler hears executorLost") {
  TestCluster cluster;
  startOneAgent(cluster);
  RecordingScheduler scheduler;
  launchNext(scheduler, [](const Offer& offer) { return std::vector<TaskInfo>{executorTask("long", offer, "wait")}; });
  auto driver = startDriver(scheduler, cluster, "crashes");
  REQUIRE(scheduler.waitForState(TaskID{"long"}, TaskState::kRunning, 30s));
  auto executor = agentExecutor(cluster, 0, "example");
  REQUIRE(executor.is_object());

  // A second task makes the executor exit with status 7.
  launchNext(scheduler,
             [](const Offer& offer) { return std::vector<TaskInfo>{executorTask("crash", offer, "exit:7")}; });
  // Offers it holds go back, to come again to the new plan.
  for (const auto& offer : scheduler.offers()) driver->declineOffer(offer.id, Filters{0});
  auto failed = terminalStatus(scheduler, "long");
  REQUIRE(failed);
  CHECK(toString(failed->state) == std::string("TASK_FAILED"));
  CHECK(toString(failed->reason) == std::string("REASON_EXECUTOR_TERMINATED"));
  CHECK(failed->message.find("exited with status 7") != std::string::npos);
  REQUIRE(scheduler.waitFor([&] { return !scheduler.lostExecutors().empty(); }));
  auto lost = scheduler.lostExecutors().front();
  CHECK(lost.executorId.value == "example");
  CHECK(lost.agentId.value == agentId(cluster, 0));
  CHECK(lost.status == 7);
  // Its resources are free again, and the agent forgot it.
  CHECK(eventually([&] { return usedCpus(cluster) < 1e-6; }));
  CHECK(eventually([&] { return agentExecutor(cluster, 0, "example").is_null(); }));
  CHECK(cluster.state()["metrics"]["executors_exited"].get<int>() == 1);
  driver->stop();
}

TEST_CASE("an executor is shut down when its framework goes away") {
  TestCluster cluster;
  startOneAgent(cluster);
  RecordingScheduler scheduler;
  launchNext(scheduler, [](const Offer& offer) { return std::vector<TaskInfo>{executorTask("w", offer, "wait")}; });
  auto driver = startDriver(scheduler, cluster, "goes-away");
  REQUIRE(scheduler.waitForState(TaskID{"w"}, TaskState::kRunning, 30s));
  auto executor = agentExecutor(cluster, 0, "example");
  REQUIRE(executor.is_object());
  int pid = executor["pid"];
  REQUIRE(processAlive(pid));
  driver->stop();  // no failover: the framework is torn down
  CHECK(eventually([&] { return !processAlive(pid); }, 20s));
  CHECK(eventually([&] { return agentExecutor(cluster, 0, "example").is_null(); }));
  CHECK(eventually([&] { return usedCpus(cluster) < 1e-6; }));
}

TEST_CASE("an executor and its tasks survive an agent restart") {
  TestCluster cluster;
  // The agent is down for the task's last second and more: the master must
  // not count it unreachable meanwhile (the harness's default is 2 s), or a
  // framework that is not partition-aware loses the tasks.
  cluster.startMaster({"--agent-ping-timeout=500ms", "--max-agent-ping-timeouts=20"});
  // The executor waits up to 10 s for its agent to come back.
  cluster.startAgent("cpus:2;mem:1024;disk:1024", {"--recovery-timeout=10s"});
  cluster.waitForAgents(1);
  RecordingScheduler scheduler;
  launchNext(scheduler, [](const Offer& offer) {
    return std::vector<TaskInfo>{executorTask("stays", offer, "wait"), executorTask("ends", offer, "sleep:1")};
  });
  auto driver = startDriver(scheduler, cluster, "restarts");
  REQUIRE(scheduler.waitForState(TaskID{"stays"}, TaskState::kRunning, 30s));
  REQUIRE(scheduler.waitForState(TaskID{"ends"}, TaskState::kRunning, 30s));
  // The task's second started as the executor reported it running.
  const auto endsBy = std::chrono::steady_clock::now() + 1s;
  auto before = agentExecutor(cluster, 0, "example");
  REQUIRE(before.is_object());
  int pid = before["pid"];

  // Killed hard; "ends" finishes while the agent is down, and the agent is
  // back within the executor's recovery timeout.
  cluster.agent(0).signal(SIGKILL);
  REQUIRE(cluster.agent(0).wait(5s) != -1);
  // Not a wait for something to happen but the scenario: the task's second
  // runs out while the agent is down. The executor, which holds the update,
  // shows nothing of it until the agent is back (checked below).
  std::this_thread::sleep_until(endsBy + 1s);
  CHECK(processAlive(pid));
  cluster.restartAgent(0);

  auto ended = scheduler.waitForState(TaskID{"ends"}, TaskState::kFinished, 30s);
  REQUIRE(ended);
  CHECK(ended->data == "pid=" + std::to_string(pid));
  REQUIRE(eventually([&] {
    auto back = agentExecutor(cluster, 0, "example");
    return back.is_object() && back["registered"] == true;
  }));
  CHECK(agentExecutor(cluster, 0, "example")["pid"] == pid);
  // The update of "ends" was made while the agent was down: the executor
  // held it and sent it again.
  CHECK(readFile(before["sandbox"].get<std::string>() + "/stdout")
            .find("re-sending 1 status update(s)") != std::string::npos);

  // The same executor takes new tasks and kills old ones.
  launchNext(scheduler,
             [](const Offer& offer) { return std::vector<TaskInfo>{executorTask("after", offer, "sleep:0.2")}; });
  // Offers it holds go back, to come again to the new plan.
  for (const auto& offer : scheduler.offers()) driver->declineOffer(offer.id, Filters{0});
  auto after = scheduler.waitForState(TaskID{"after"}, TaskState::kFinished, 30s);
  REQUIRE(after);
  CHECK(after->data == "pid=" + std::to_string(pid));
  driver->killTask(TaskID{"stays"});
  auto killed = terminalStatus(scheduler, "stays");
  REQUIRE(killed);
  CHECK(toString(killed->state) == std::string("TASK_KILLED"));
  // Nothing was lost or seen twice.
  CHECK(scheduler.statusesOf(TaskID{"ends"}).size() == 2);  // RUNNING, FINISHED
  CHECK(scheduler.lostExecutors().empty());
  driver->stop();
}

TEST_CASE("tasks that name an executor wrongly get TASK_ERROR with the reason") {
  TestCluster cluster;
  startOneAgent(cluster);
  RecordingScheduler scheduler;
  launchNext(scheduler, [](const Offer& offer) {
    auto other = exampleExecutor();
    other.command.arguments = {"/bin/true"};
    auto docker = executorTask("docker", offer, "wait");
    docker.docker = DockerInfo{"busybox"};
    auto greedy = exampleExecutor("greedy");
    greedy.resources = *Resources::parse("cpus:100;mem:32");
    return std::vector<TaskInfo>{executorTask("first", offer, "wait"), executorTask("changed", offer, "wait", other),
                                 docker, executorTask("too-big", offer, "wait", greedy)};
  });
  auto driver = startDriver(scheduler, cluster, "invalid");
  REQUIRE(scheduler.waitForState(TaskID{"first"}, TaskState::kRunning, 30s));
  auto changed = terminalStatus(scheduler, "changed");
  REQUIRE(changed);
  CHECK(toString(changed->state) == std::string("TASK_ERROR"));
  CHECK(changed->message.find("already runs on this agent with another command") != std::string::npos);
  auto docker = terminalStatus(scheduler, "docker");
  REQUIRE(docker);
  CHECK(toString(docker->state) == std::string("TASK_ERROR"));
  CHECK(docker->message.find("cannot also be a Docker task") != std::string::npos);
  auto big = terminalStatus(scheduler, "too-big");
  REQUIRE(big);
  CHECK(toString(big->state) == std::string("TASK_ERROR"));
  CHECK(big->message.find("its executor 'greedy'") != std::string::npos);
  driver->stop();
}

TEST_CASE("an executor killed at its container's memory limit fails its tasks with REASON_MEMORY_LIMIT") {
  TestCluster cluster;
  startOneAgent(cluster);
  // The kernel enforces the limit through cgroups, which the test command's
  // machine has (and the agent uses as root).
  auto isolation = cluster.agentState(0)["isolation"];
  REQUIRE_MESSAGE(isolation != "none", "the agent runs without cgroups: isolation " << isolation.dump());
  RecordingScheduler scheduler;
  // The container holds the executor's 32 MiB and the task's 32 MiB.
  launchNext(scheduler, [](const Offer& offer) { return std::vector<TaskInfo>{executorTask("hog", offer, "hog:512")}; });
  auto driver = startDriver(scheduler, cluster, "hogs");
  auto failed = terminalStatus(scheduler, "hog");
  REQUIRE(failed);
  CHECK(toString(failed->state) == std::string("TASK_FAILED"));
  CHECK(toString(failed->reason) == std::string("REASON_MEMORY_LIMIT"));
  CHECK(failed->message.find("memory limit of 64 MiB") != std::string::npos);
  REQUIRE(scheduler.waitFor([&] { return !scheduler.lostExecutors().empty(); }));
  CHECK(scheduler.lostExecutors().front().status == 128 + SIGKILL);
  driver->stop();
}
