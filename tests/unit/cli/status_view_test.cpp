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

TEST_CASE("cli: renderStatus names the leading master when masters are elected through ZooKeeper") {
  auto text = renderStatus(nlohmann::json::parse(R"({"id": "m2", "endpoint": "tcp://10.0.0.2:5050",
    "leading": true, "zk": "zk://zk1:2181/clusternodes", "agents": [], "frameworks": [], "tasks": []})"));
  REQUIRE(text);
  CHECK(text->rfind("MASTER\nm2 leads at tcp://10.0.0.2:5050, elected through zk://zk1:2181/clusternodes\n\nAGENTS\n", 0) ==
        0);
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

namespace {

// /state with what `agents`, `frameworks` and `tasks` show.
nlohmann::json richState() {
  return nlohmann::json::parse(R"({
    "agents": [
      {"id": "m1-S0", "hostname": "vm", "http_address": "127.0.0.1:5052", "reachable": true, "task_count": 1,
       "resources": {"cpus": 2, "mem": 4096, "disk": 1000}, "used_resources": {"cpus": 0.5, "mem": 64, "disk": 10},
       "attributes": {"rack": "r1", "zone": "a"}},
      {"id": "m1-S1", "hostname": "vm", "http_address": "127.0.0.1:5062", "reachable": false, "task_count": 0,
       "resources": {"cpus": 1, "mem": 512, "disk": 0}, "used_resources": {}, "attributes": {}}
    ],
    "frameworks": [
      {"id": "m1-0", "name": "spark", "role": "eng", "connected": true, "task_count": 1, "dominant_share": 0.25,
       "suppressed": false, "starved": false, "waiting_for_offers_seconds": 0},
      {"id": "m1-1", "name": "batch", "role": "*", "connected": false, "task_count": 0, "dominant_share": 0,
       "suppressed": false, "starved": true, "waiting_for_offers_seconds": 95},
      {"id": "m1-2", "name": "idle", "role": "*", "connected": true, "task_count": 0, "dominant_share": 0,
       "suppressed": true, "starved": false, "waiting_for_offers_seconds": 0},
      {"id": "m1-3", "name": "eager", "role": "*", "connected": true, "task_count": 0, "dominant_share": 0,
       "suppressed": false, "starved": false, "waiting_for_offers_seconds": 12.5}
    ],
    "tasks": [
      {"id": "exec-1", "framework_id": "m1-0", "agent_id": "m1-S0", "state": "TASK_RUNNING", "created_time": 1000,
       "resources": {"cpus": 0.5, "mem": 64}, "status_reason": "REASON_NONE", "status_message": ""}
    ],
    "completed_tasks": [
      {"id": "exec-0", "framework_id": "m1-0", "agent_id": "m1-S1", "state": "TASK_FAILED", "created_time": 400,
       "resources": {"cpus": 0.5, "mem": 64}, "status_reason": "REASON_COMMAND_EXITED",
       "status_message": "exited with status 3"}
    ]
  })");
}

}  // namespace

TEST_CASE("cli: agents and frameworks tables show health, usage, attributes and what the offers look like") {
  auto agents = renderAgents(richState());
  REQUIRE(agents);
  CHECK(*agents ==
        "ID     HOSTNAME  ADDRESS         STATE         CPUS  MEM (MiB)  DISK (MiB)  TASKS  ATTRIBUTES\n"
        "m1-S0  vm        127.0.0.1:5052  reachable    0.5/2    64/4096     10/1000      1  rack=r1,zone=a\n"
        "m1-S1  vm        127.0.0.1:5062  unreachable    0/1      0/512         0/0      0\n");

  auto frameworks = renderFrameworks(richState());
  REQUIRE(frameworks);
  CHECK(*frameworks ==
        "ID    NAME   ROLE  CONNECTED  TASKS  SHARE  OFFERS\n"
        "m1-0  spark  eng   yes            1  25.0%  -\n"
        "m1-1  batch  *     no             0   0.0%  starved 1m35s\n"
        "m1-2  idle   *     yes            0   0.0%  suppressed\n"
        "m1-3  eager  *     yes            0   0.0%  wanted 12s\n");
  CHECK(renderAgents(nlohmann::json::parse(R"({"agents": []})")).value() == "no agents\n");
  CHECK(!renderFrameworks(nlohmann::json::parse(R"({"agents": []})")));
}

TEST_CASE("cli: tasks are filtered by state and framework, with ages, agents and reasons") {
  auto active = selectTasks(richState(), {});
  REQUIRE(active);
  REQUIRE(active->size() == 1);
  CHECK((*active)[0]["framework_name"] == "spark");
  CHECK((*active)[0]["agent_hostname"] == "vm (S0)");  // two agents share "vm"

  auto all = selectTasks(richState(), {true, "", ""});
  REQUIRE(all);
  CHECK(renderTasks(*all, 1125) ==
        "ID      FRAMEWORK  AGENT    STATE           AGE  CPUS  MEM (MiB)  REASON\n"
        "exec-0  spark      vm (S1)  TASK_FAILED   12m5s   0.5         64  REASON_COMMAND_EXITED: exited with status 3\n"
        "exec-1  spark      vm (S0)  TASK_RUNNING   2m5s   0.5         64\n");

  CHECK(selectTasks(richState(), {true, "failed", ""})->size() == 1);
  CHECK(selectTasks(richState(), {true, "Task_Running", "spark"})->size() == 1);
  CHECK(selectTasks(richState(), {true, "", "m1-0"})->size() == 2);
  CHECK(selectTasks(richState(), {true, "", "batch"})->empty());
  auto typo = selectTasks(richState(), {true, "runing", ""});
  REQUIRE(!typo);
  CHECK(typo.error().message.find("running") != std::string::npos);
  CHECK(renderTasks(nlohmann::json::array(), 0) == "no tasks\n");
}

TEST_CASE("cli: ages in at most two units") {
  CHECK(formatAge(0) == "0s");
  CHECK(formatAge(59.9) == "59s");
  CHECK(formatAge(60) == "1m");
  CHECK(formatAge(3725) == "1h2m");
  CHECK(formatAge(2 * 86400 + 7200 + 5) == "2d2h");
  CHECK(formatAge(-1) == "");
}
