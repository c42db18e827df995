// The Mesos v1 scheduler HTTP API driven by a scheduler that is not ours:
// tests/integration/programs/v1_scheduler.py, written in Python from Apache
// Mesos's documents with the standard library only, against a real master
// and agent. Each scenario checks the protocol from the scheduler's side and
// prints what it saw; these tests check the master's side too.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "tests/harness/cluster.hpp"
#include "tests/harness/docker.hpp"

using namespace clusternodes;
using namespace clusternodes::testing;

namespace {

const std::string kScheduler = std::string(CN_SOURCE_DIR) + "/tests/integration/programs/v1_scheduler.py";

// Runs one scenario against the cluster; its JSON result.
nlohmann::json runScenario(TestCluster& cluster, const std::string& scenario,
                           const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv = {"/usr/bin/python3", kScheduler, "--master", cluster.masterHttp(), "--scenario", scenario};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto result = runProgram(argv, std::chrono::seconds(180));
  INFO("v1_scheduler.py --scenario ", scenario, " said:\n", result.output);
  REQUIRE(result.exitCode == 0);
  // Its result is its last line (the master's log lines are not in it).
  std::string out = result.output;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return nlohmann::json::parse(out.substr(out.rfind('\n') + 1));
}

nlohmann::json state(TestCluster& cluster) { return nlohmann::json::parse(cluster.masterGet("/state")); }

// The framework's entry in /state, or null.
nlohmann::json frameworkIn(const nlohmann::json& state, const std::string& id) {
  for (const auto& fw : state["frameworks"]) {
    if (fw["id"] == id) return fw;
  }
  return nullptr;
}

struct Cluster {
  TestCluster cluster;
  Cluster() {
    cluster.startMaster();
    cluster.startAgent("cpus:2;mem:1024;disk:1024");
    cluster.waitForAgents(1);
  }
};

}  // namespace

TEST_CASE("Mesos v1 scheduler API: a command task is offered, launched, acknowledged and finished") {
  Cluster c;
  auto result = runScenario(c.cluster, "launch");
  CHECK(result["states"] == nlohmann::json({"TASK_RUNNING", "TASK_FINISHED"}));
  // The same books as the SDK's frameworks: the task is in /state, done, and
  // the framework that tore itself down is gone.
  auto s = state(c.cluster);
  CHECK(frameworkIn(s, result["framework_id"]).is_null());
  auto metrics = c.cluster.masterGet("/metrics");
  CHECK(metrics.find("clusternodes_master_tasks_launched_total 1") != std::string::npos);
}

TEST_CASE("Mesos v1 scheduler API: a Docker task runs from a DOCKER ContainerInfo") {
  REQUIRE_DOCKER();
  Cluster c;
  auto result = runScenario(c.cluster, "docker", {"--image", kDockerTestImage});
  CHECK(result["state"] == "TASK_FINISHED");
}

TEST_CASE("Mesos v1 scheduler API: KILL with a kill policy ends a running task as TASK_KILLED") {
  Cluster c;
  auto result = runScenario(c.cluster, "kill");
  CHECK(result["state"] == "TASK_KILLED");
  CHECK(c.cluster.processesMatching("sleep 300").empty());
}

TEST_CASE("Mesos v1 scheduler API: explicit and implicit reconciliation") {
  Cluster c;
  auto result = runScenario(c.cluster, "reconcile");
  CHECK(result["known"] == "TASK_RUNNING");
  CHECK(result["implicit"] == "TASK_RUNNING");
  CHECK(result["unknown"] == "TASK_UNKNOWN");  // partition-aware, as Mesos answers it
}

TEST_CASE("Mesos v1 scheduler API: a scheduler that disconnects fails over within its timeout, its task running") {
  Cluster c;
  auto result = runScenario(c.cluster, "failover");
  CHECK(result["after_failover"] == "TASK_RUNNING");
  CHECK(result["replaced"] == "Framework failed over");
  // TEARDOWN at the end: the framework and its task are gone.
  CHECK(eventually([&] { return c.cluster.processesMatching("sleep 300").empty(); }));
  CHECK(frameworkIn(state(c.cluster), result["framework_id"]).is_null());
}

TEST_CASE("Mesos v1 scheduler API: heartbeats arrive at the interval SUBSCRIBED gives") {
  Cluster c;
  auto result = runScenario(c.cluster, "heartbeats");
  CHECK(result["heartbeats"].get<int>() >= 2);
}

TEST_CASE("Mesos v1 scheduler API: bad calls get Mesos's status codes and a message, and nothing is lost") {
  Cluster c;
  auto result = runScenario(c.cluster, "bad-calls");
  CHECK(result["malformed JSON"][0] == 400);
  CHECK(result["malformed protobuf"][0] == 400);
  CHECK(result["unsupported Content-Type"][0] == 415);
  CHECK(result["unacceptable Accept"][0] == 406);
  CHECK(result["a wrong stream id"][0] == 400);
  CHECK(result["no stream id"][0] == 400);
  CHECK(result["a framework that is not connected"][0] == 403);
  auto stolen = result["an offer that is not ours"];
  CHECK(stolen[1] == "TASK_DROPPED");
  // The master serves on, and counted no malformed wire message.
  CHECK(c.cluster.masterGet("/health") == "ok\n");
}

TEST_CASE("Mesos v1 scheduler API: protobuf calls and events, encoded by hand from the field numbers") {
  Cluster c;
  auto result = runScenario(c.cluster, "protobuf");
  CHECK(!result["framework_id"].get<std::string>().empty());
  CHECK(result["heartbeat_interval"].get<double>() > 0);
  CHECK(!result["offer"].get<std::string>().empty());
}

TEST_CASE("Mesos v1 scheduler API: suppressed_roles, REVIVE and SUPPRESS by role, and UPDATE_FRAMEWORK") {
  Cluster c;
  auto result = runScenario(c.cluster, "roles");
  const auto& seen = result["seen"];
  CHECK(seen["subscribed suppressing r1"] == nlohmann::json({"r2"}));
  CHECK(seen["r1 and r2 suppressed"] == nlohmann::json::array());
  CHECK(seen["r1 revived"] == nlohmann::json({"r1"}));
  CHECK(seen["suppress naming a role not its own"] == nlohmann::json({202, {"r1"}}));
  CHECK(seen["updated to r1 and r3, r1 suppressed"] == nlohmann::json({"r3"}));
  const auto& refused = seen["refused updates"];
  CHECK(refused["another user"][0] == 400);
  CHECK(refused["another user"][1].get<std::string>().find("user") != std::string::npos);
  CHECK(refused["a suppressed role outside its roles"][0] == 400);
  CHECK(refused["a suppressed role outside its roles"][1].get<std::string>().find("r9") != std::string::npos);
  CHECK(refused["an invalid role"][0] == 400);
  CHECK(refused["no framework_info.id"][0] == 400);
  CHECK(refused["no framework_info.id"][1].get<std::string>().find("framework_info.id") != std::string::npos);
  // The master's own view of the update, before the framework tore itself
  // down: its event log.
  auto events = nlohmann::json::parse(c.cluster.masterGet("/api/v1/events"));
  bool updated = false;
  for (const auto& event : events["events"]) {
    if (event["type"] == "framework_updated" && event["framework_id"] == result["framework_id"]) {
      updated = event["message"].get<std::string>().find("v1-roles-renamed (roles r1,r3)") != std::string::npos;
    }
  }
  CHECK(updated);
}

TEST_CASE("Mesos v1 scheduler API: SHUTDOWN ends a custom executor and its task") {
  Cluster c;
  auto result = runScenario(c.cluster, "shutdown", {"--executor", binary("example-executor")});
  INFO("the scheduler saw: ", result.dump());
  CHECK(result["ended"] == "TASK_KILLED");
  CHECK(result["failure_executor"] == "own-executor");
  // The agent runs no executor of the framework any more.
  REQUIRE(eventually([&] { return c.cluster.processesMatching("example-executor").empty(); }));
}
