// The Mesos v1 operator HTTP API (POST /api/v1) driven by @dcos/mesos-client
// under node (tests/integration/programs/mesos-client/operator.js; its
// packages come from scripts/node.sh), against a real master, an agent and
// an SDK framework with a task running. What the client changes must be
// what the master's own endpoints then show.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "tests/harness/cluster.hpp"

using namespace clusternodes;
using namespace clusternodes::testing;

namespace {

const std::string kClientDir = std::string(CN_SOURCE_DIR) + "/tests/integration/programs/mesos-client";

// The last line of a program's output, as JSON.
nlohmann::json lastLineJson(std::string out) {
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return nlohmann::json::parse(out.substr(out.rfind('\n') + 1), nullptr, false);
}

// A master and one agent, once the client is known to be installed.
void startWithClient(TestCluster& cluster) {
  const std::string why = "no @dcos/mesos-client in " + kClientDir + "/node_modules: scripts/node.sh installs it";
  REQUIRE_MESSAGE(std::filesystem::exists(kClientDir + "/node_modules/@dcos/mesos-client"), why);
  cluster.startMaster();
  cluster.startAgent("cpus:2;mem:1024;disk:1024");
  cluster.waitForAgents(1);
}

}  // namespace

TEST_CASE("Mesos v1 operator API: @dcos/mesos-client reads the state, and changes weights and quota") {
  TestCluster cluster;
  startWithClient(cluster);
  Process framework({binary("launch-tasks"), "--master=" + cluster.master(), "--tasks=1", "--command=sleep 120",
                     "--role=eng"},
                    cluster.dir() + "/launch-tasks.log");
  REQUIRE(eventually([&] {
    auto state = nlohmann::json::parse(cluster.masterGet("/state"), nullptr, false);
    if (!state.is_object()) return false;
    for (const auto& task : state["tasks"]) {
      if (task.value("state", "") == "TASK_RUNNING") return true;
    }
    return false;
  }));

  auto result = runProgram({"/usr/bin/node", kClientDir + "/operator.js", cluster.masterHttp()}, std::chrono::seconds(60));
  INFO("operator.js said:\n", result.output);
  REQUIRE(result.exitCode == 0);
  auto seen = lastLineJson(result.output);
  REQUIRE(seen.is_object());
  CHECK(seen["task_id"] == "task-0");
  CHECK(seen["weight"] == 3);
  CHECK(seen["refused"].get<std::string>().find("UPDATE_QUOTA") != std::string::npos);

  // The same books: the master's own endpoints show what the client set.
  auto weights = nlohmann::json::parse(cluster.masterGet("/api/v1/weights"));
  CHECK(weights["weights"]["eng"] == 3);
  auto quotas = nlohmann::json::parse(cluster.masterGet("/api/v1/quota"));
  CHECK(quotas["quotas"]["eng"]["guarantee"] == "cpus:1");
}

TEST_CASE("Mesos v1 operator API: protobuf answers, Mesos's status codes for bad calls, 501 for what is not served") {
  TestCluster cluster;
  cluster.startMaster();
  // curl, for the Accept header (and the body written to a file, bytes as they are).
  struct Answer {
    int status = 0;
    std::string body;
  };
  int calls = 0;
  auto post = [&](const std::string& body, const std::string& type, const std::string& accept = "") {
    std::string file = cluster.dir() + "/call-" + std::to_string(calls++);
    std::ofstream(file, std::ios::binary) << body;
    std::vector<std::string> argv = {"/usr/bin/curl", "-sS", "-X", "POST", "--data-binary", "@" + file,
                                     "-H", "Content-Type: " + type, "-w", "\n%{http_code}"};
    if (!accept.empty()) argv.insert(argv.end(), {"-H", "Accept: " + accept});
    argv.push_back(cluster.masterHttp() + "/api/v1");
    auto result = runProgram(argv, std::chrono::seconds(20));
    REQUIRE(result.exitCode == 0);
    size_t last = result.output.rfind('\n');
    return Answer{std::atoi(result.output.c_str() + last + 1), result.output.substr(0, last)};
  };
  // GET_HEALTH in protobuf: Call{type = 1}; Response{type = 1, get_health{healthy = true}}.
  auto health = post(std::string("\x08\x01", 2), "application/x-protobuf", "application/x-protobuf");
  CHECK(health.status == 200);
  CHECK(health.body == std::string("\x08\x01\x12\x02\x08\x01", 6));
  CHECK(post(R"({"type": "GET_HEALTH"})", "application/json", "text/html").status == 406);
  CHECK(post(R"({"type": "GET_HEALTH"})", "text/plain").status == 415);
  CHECK(post("{not json", "application/json").status == 400);
  CHECK(post(R"({})", "application/json").status == 400);
  auto metrics = post(R"({"type": "GET_METRICS"})", "application/json");
  CHECK(metrics.status == 501);
  CHECK(metrics.body.find("GET_METRICS") != std::string::npos);

  // SUBSCRIBE in protobuf (Call{type = 18}): the stream stays open, and its
  // first record is Event{type = SUBSCRIBED (1), subscribed = {...}}.
  std::string call = cluster.dir() + "/subscribe";
  std::ofstream(call, std::ios::binary) << std::string("\x08\x12", 2);
  auto stream = runProgram({"/usr/bin/curl", "-sS", "-N", "--max-time", "2", "-X", "POST", "--data-binary", "@" + call,
                            "-H", "Content-Type: application/x-protobuf", "-H", "Accept: application/x-protobuf",
                            cluster.masterHttp() + "/api/v1"},
                           std::chrono::seconds(20));
  CHECK(stream.exitCode == 28);  // curl gave up waiting: the stream was still open
  size_t newline = stream.output.find('\n');
  REQUIRE(newline != std::string::npos);
  size_t length = std::stoul(stream.output.substr(0, newline));
  REQUIRE(stream.output.size() >= newline + 1 + length);
  CHECK(stream.output.substr(newline + 1, 3) == std::string("\x08\x01\x12", 3));
}

TEST_CASE("Mesos v1 operator API: @dcos/mesos-client's event stream sees agents, a framework and its task come "
          "and go") {
  TestCluster cluster;
  startWithClient(cluster);
  Process follower({"/usr/bin/node", kClientDir + "/events.js", cluster.masterHttp()}, cluster.dir() + "/events.log");
  // What the client printed so far: one JSON object per event.
  auto events = [&] {
    std::vector<nlohmann::json> out;
    std::ifstream in(follower.logFile());
    for (std::string line; std::getline(in, line);) {
      auto event = nlohmann::json::parse(line, nullptr, false);
      if (event.is_object() && event.contains("type")) out.push_back(std::move(event));
    }
    return out;
  };
  // The index of the first event of `type` whose fields include `fields`.
  auto find = [&](const std::string& type, const nlohmann::json& fields = nlohmann::json::object()) {
    auto seen = events();
    for (size_t i = 0; i < seen.size(); ++i) {
      if (seen[i]["type"] != type) continue;
      bool all = true;
      for (const auto& [key, value] : fields.items()) all = all && seen[i].value(key, nlohmann::json()) == value;
      if (all) return static_cast<int>(i);
    }
    return -1;
  };
  auto log = [&] {
    std::ifstream in(follower.logFile());
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  auto await = [&](const std::string& type, const nlohmann::json& fields = nlohmann::json::object(),
                   std::chrono::seconds within = std::chrono::seconds(20)) {
    INFO("waiting for ", type, " ", fields.dump(), "; the client printed:\n", log());
    REQUIRE(eventually([&] { return find(type, fields) >= 0; }, within));
    return find(type, fields);
  };

  // First the snapshot, as GET_STATE gives it.
  CHECK(await("SUBSCRIBED", {{"agents", 1}, {"frameworks", 0}, {"tasks", 0}}) == 0);
  CHECK(events()[0]["heartbeat_interval_seconds"] == 15);
  REQUIRE(eventually([&] {
    return cluster.masterGet("/metrics").find("clusternodes_master_operator_api_streams 1") != std::string::npos;
  }));

  // An agent joins.
  size_t second = cluster.startAgent("cpus:1;mem:512;disk:512");
  cluster.waitForAgents(2);
  int agentAdded = await("AGENT_ADDED", {{"cpus", 1}});
  std::string secondId = events()[agentAdded]["agent_id"];

  // A framework comes, runs its task and goes.
  Process framework({binary("launch-tasks"), "--master=" + cluster.master(), "--tasks=1", "--command=sleep 1"},
                    cluster.dir() + "/launch-tasks.log");
  int frameworkAdded = await("FRAMEWORK_ADDED", {{"name", "launch-tasks"}, {"connected", true}});
  std::string frameworkId = events()[frameworkAdded]["framework_id"];
  int taskAdded = await("TASK_ADDED", {{"task_id", "task-0"}, {"framework_id", frameworkId}, {"state", "TASK_STAGING"}});
  int running = await("TASK_UPDATED", {{"task_id", "task-0"}, {"state", "TASK_RUNNING"}});
  int finished = await("TASK_UPDATED", {{"task_id", "task-0"}, {"framework_id", frameworkId}, {"state", "TASK_FINISHED"}});
  int removed = await("FRAMEWORK_REMOVED", {{"framework_id", frameworkId}, {"name", "launch-tasks"}});
  CHECK(frameworkAdded < taskAdded);
  CHECK(taskAdded < running);
  CHECK(running < finished);
  CHECK(finished < removed);
  CHECK(framework.wait(std::chrono::seconds(20)) == 0);

  // The second agent is cut off (killed; fast pings make it unreachable).
  cluster.agent(second).signalGroup(SIGKILL);
  CHECK(await("AGENT_REMOVED", {{"agent_id", secondId}}) > removed);

  // Heartbeats, every 15 seconds.
  await("HEARTBEAT", nlohmann::json::object(), std::chrono::seconds(25));
  CHECK(follower.alive());
  // Each once: nothing the test did not cause.
  std::map<std::string, int> counts;  // by type, and TASK_UPDATED by state
  for (const auto& event : events()) {
    std::string type = event["type"];
    ++counts[type == "TASK_UPDATED" ? type + " " + event["state"].get<std::string>() : type];
  }
  CHECK(counts["SUBSCRIBED"] == 1);
  CHECK(counts["AGENT_ADDED"] == 1);
  CHECK(counts["AGENT_REMOVED"] == 1);
  CHECK(counts["FRAMEWORK_ADDED"] == 1);
  CHECK(counts["FRAMEWORK_REMOVED"] == 1);
  CHECK(counts["TASK_ADDED"] == 1);
  CHECK(counts["TASK_UPDATED TASK_RUNNING"] == 1);
  CHECK(counts["TASK_UPDATED TASK_FINISHED"] == 1);
}
