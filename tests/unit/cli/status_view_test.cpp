#include <doctest/doctest.h>

#include "cli/status_view.hpp"

using namespace clusternodes;
using namespace clusternodes::cli;

namespace {

// A /state document in the master's format (master/http/master_http.cpp).
nlohmann::json sampleState() {
  return nlohmann::json::parse(R"({
    "id": "m1",
    "agents": [
      {"id": "m1-S0", "hostname": "node-a", "reachable": true, "task_count": 2,
       "resources": {"cpus": 2, "mem": 4096, "disk": 100, "ports": "[31000-31999]"},
       "used_resources": {"cpus": 0.2, "mem": 32, "disk": 0}},
      {"id": "m1-S1", "hostname": "node-bb", "reachable": false, "task_count": 0,
       "resources": {"cpus": 1.5, "mem": 512, "disk": 0},
       "used_resources": {"cpus": 0, "mem": 0, "disk": 0}}
    ],
    "frameworks": [
      {"id": "m1-0", "name": "launch-tasks", "role": "*", "connected": true,
       "task_count": 2, "dominant_share": 0.0571}
    ],
    "tasks": [
      {"id": "task-0", "framework_id": "m1-0", "agent_id": "m1-S0", "state": "TASK_RUNNING"},
      {"id": "task-1", "framework_id": "m1-0", "agent_id": "m1-S0", "state": "TASK_STAGING"},
      {"id": "task-2", "framework_id": "m1-0", "agent_id": "m1-S0", "state": "TASK_FINISHED"}
    ]
  })");
}

}  // namespace

TEST_CASE("cli: renderStatus prints aligned agents, frameworks and running tasks") {
  auto text = renderStatus(sampleState());
  REQUIRE(text);
  CHECK(*text ==
        "AGENTS\n"
        "ID     HOSTNAME  STATE         CPUS  MEM (MiB)  TASKS\n"
        "m1-S0  node-a    reachable    0.2/2    32/4096      2\n"
        "m1-S1  node-bb   unreachable  0/1.5      0/512      0\n"
        "\n"
        "FRAMEWORKS\n"
        "ID    NAME          ROLE  CONNECTED  TASKS  SHARE\n"
        "m1-0  launch-tasks  *     yes            2   5.7%\n"
        "\n"
        "RUNNING TASKS\n"
        "ID      FRAMEWORK  AGENT  STATE\n"
        "task-0  m1-0       m1-S0  TASK_RUNNING\n"
        "task-1  m1-0       m1-S0  TASK_STAGING\n");
}

TEST_CASE("cli: renderStatus says when a section is empty") {
  auto text = renderStatus(nlohmann::json::parse(R"({"agents": [], "frameworks": [], "tasks": []})"));
  REQUIRE(text);
  CHECK(*text == "AGENTS\nno agents\n\nFRAMEWORKS\nno frameworks\n\nRUNNING TASKS\nno running tasks\n");
}

TEST_CASE("cli: renderStatus tolerates missing and mistyped fields") {
  auto state = nlohmann::json::parse(R"({
    "agents": [{"id": 7, "hostname": null, "resources": "lots", "reachable": "yes"}, 42],
    "frameworks": [{}],
    "tasks": [{"id": "t", "state": 3}]
  })");
  auto text = renderStatus(state);
  REQUIRE(text);
  CHECK(text->find("7") != std::string::npos);
  CHECK(text->find("RUNNING TASKS\nID") != std::string::npos);
}

TEST_CASE("cli: renderStatus refuses a document that is not the master's state") {
  CHECK(!renderStatus(nlohmann::json::array()));
  CHECK(!renderStatus(nlohmann::json::parse(R"({"agents": []})")));
  CHECK(!renderStatus(nlohmann::json::parse(R"({"agents": {}, "frameworks": [], "tasks": []})")));
  nlohmann::json discarded = nlohmann::json::parse("{", nullptr, false);
  CHECK(!renderStatus(discarded));
}

TEST_CASE("cli: terminal task states") {
  CHECK(isTerminalTaskState("TASK_FINISHED"));
  CHECK(isTerminalTaskState("TASK_FAILED"));
  CHECK(isTerminalTaskState("TASK_KILLED"));
  CHECK(isTerminalTaskState("TASK_LOST"));
  CHECK(!isTerminalTaskState("TASK_RUNNING"));
  CHECK(!isTerminalTaskState("TASK_UNREACHABLE"));
  CHECK(!isTerminalTaskState(""));
}
