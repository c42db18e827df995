// The working cluster end to end: real master, agents, executors and
// frameworks as processes on loopback.
#include <doctest/doctest.h>
#include <signal.h>

#include <fstream>
#include <string>
#include <thread>

#include "clusternodes/scheduler.hpp"
#include "common/http_client.hpp"
#include "tests/harness/cluster.hpp"
#include "tests/harness/driver.hpp"
#include "tests/harness/recording_scheduler.hpp"

using namespace clusternodes;
using namespace clusternodes::testing;
using namespace std::chrono_literals;

namespace {

}  // namespace

TEST_CASE("200 tasks across two agents all finish") {
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent("cpus:2;mem:2048;disk:1024");
  cluster.startAgent("cpus:2;mem:2048;disk:1024");
  cluster.waitForAgents(2);

  auto result = runProgram({binary("launch-tasks"), "--master=" + cluster.master(), "--tasks=200", "--cpus=0.1",
                            "--mem=16", "--command=true", "--timeout=120"});
  INFO(result.output);
  CHECK(result.exitCode == 0);
  CHECK(result.output.find("finished 200/200") != std::string::npos);

  // Both agents took a share of the work.
  for (size_t i = 0; i < 2; ++i) {
    auto s = cluster.agentState(i);
    REQUIRE(s.is_object());
    CHECK(s["metrics"]["tasks_launched"].get<int>() > 0);
  }
  // Nothing is left allocated once every task ended and the framework left.
  CHECK(eventually([&] {
    auto s = cluster.state();
    for (const auto& a : s["agents"]) {
      if (a["used_resources"]["cpus"].get<double>() != 0) return false;
    }
    return s["tasks"].empty();
  }));
}

TEST_CASE("a command exiting 3 is TASK_FAILED with exit status 3") {
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent();
  cluster.waitForAgents(1);

  // Through the example program: one failure line and an exit code of 1.
  auto result = runProgram({binary("launch-tasks"), "--master=" + cluster.master(), "--tasks=1",
                            "--command=exit 3", "--timeout=60"});
  INFO(result.output);
  CHECK(result.exitCode == 1);
  CHECK(result.output.find("task-0 TASK_FAILED: command exited with status 3") != std::string::npos);
  CHECK(result.output.find("finished 0/1") != std::string::npos);

  // Through the SDK: the status carries the code and the reason.
  RecordingScheduler scheduler;
  scheduler.onOffer = [](SchedulerDriver* driver, const Offer& offer) {
    driver->launchTasks({offer.id}, {makeTask("exits-3", offer, "echo out; echo err >&2; exit 3")});
  };
  auto driver = startDriver(scheduler, cluster, frameworkInfo("exit-3"));
  auto failed = scheduler.waitForState(TaskID{"exits-3"}, TaskState::kFailed);
  REQUIRE(failed);
  CHECK(failed->exitCode == 3);
  CHECK(std::string(toString(failed->reason)) == "REASON_COMMAND_EXITED");
  CHECK(failed->message == "command exited with status 3");

  // It went through STARTING and RUNNING first, in order.
  auto states = scheduler.statusesOf(TaskID{"exits-3"});
  REQUIRE(states.size() == 3);
  CHECK(std::string(toString(states[0].state)) == "TASK_STARTING");
  CHECK(std::string(toString(states[1].state)) == "TASK_RUNNING");
  CHECK(std::string(toString(states[2].state)) == "TASK_FAILED");
  driver->stop();
  driver->join();
}

TEST_CASE("a killed task is TASK_KILLED and leaves no process behind") {
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent();
  cluster.waitForAgents(1);

  // A shell with two children in its process group; SIGTERM is ignored by
  // the shell so the grace period has to end in SIGKILL.
  const std::string marker = "60.4242";
  RecordingScheduler scheduler;
  scheduler.onOffer = [&](SchedulerDriver* driver, const Offer& offer) {
    static bool launched = false;
    if (launched) return;
    launched = true;
    auto task = makeTask("sleeper", offer, "trap '' TERM; sleep " + marker + " & sleep " + marker + "; wait");
    task.killGracePeriodSeconds = 0.5;
    driver->launchTasks({offer.id}, {task});
  };
  auto driver = startDriver(scheduler, cluster, frameworkInfo("killer"));
  REQUIRE(scheduler.waitForState(TaskID{"sleeper"}, TaskState::kRunning));
  REQUIRE(eventually([&] { return cluster.processesMatching("sleep " + marker, /*exact=*/true).size() == 2; }));

  driver->killTask(TaskID{"sleeper"});
  auto killed = scheduler.waitForState(TaskID{"sleeper"}, TaskState::kKilled);
  REQUIRE(killed);
  CHECK(std::string(toString(killed->reason)) == "REASON_KILLED_BY_FRAMEWORK");
  CHECK(cluster.processesMatching("sleep " + marker).empty());
  driver->stop();
  driver->join();
}

TEST_CASE("a task asking more than its offer is TASK_ERROR with a reason") {
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent("cpus:1;mem:512;disk:100");
  cluster.waitForAgents(1);

  RecordingScheduler scheduler;
  scheduler.onOffer = [](SchedulerDriver* driver, const Offer& offer) {
    static bool launched = false;
    if (launched) return;
    launched = true;
    driver->launchTasks({offer.id}, {makeTask("too-big", offer, "true", "cpus:3;mem:64"),
                                     makeTask("", offer, "true"),
                                     makeTask("no-command", offer, "")});
  };
  auto driver = startDriver(scheduler, cluster, frameworkInfo("greedy"));
  auto error = scheduler.waitForState(TaskID{"too-big"}, TaskState::kError);
  REQUIRE(error);
  CHECK(std::string(toString(error->reason)) == "REASON_INVALID_TASK");
  CHECK(error->message.find("asks for cpus:3;mem:64") != std::string::npos);
  CHECK(error->message.find("cpus:1") != std::string::npos);

  auto emptyId = scheduler.waitForState(TaskID{""}, TaskState::kError);
  REQUIRE(emptyId);
  CHECK(emptyId->message == "task id is empty");
  auto noCommand = scheduler.waitForState(TaskID{"no-command"}, TaskState::kError);
  REQUIRE(noCommand);
  CHECK(noCommand->message == "task has an empty command");

  // The refused resources come back in a later offer.
  REQUIRE(scheduler.waitForOffer());
  auto again = scheduler.waitForOffer(10s);
  REQUIRE(again);
  CHECK(again->resources.cpus() == doctest::Approx(1.0));
  driver->stop();
  driver->join();
}

TEST_CASE("an agent killed with SIGKILL turns its tasks LOST or UNREACHABLE and leaves the offers") {
  TestCluster cluster;
  cluster.startMaster();
  size_t doomed = cluster.startAgent("cpus:1;mem:512;disk:100");
  cluster.waitForAgents(1);

  // One plain and one partition-aware framework, each with a task there.
  RecordingScheduler plain;
  RecordingScheduler aware;
  auto launchOnce = [](const std::string& id) {
    return [id, launched = false](SchedulerDriver* driver, const Offer& offer) mutable {
      if (launched) {
        driver->declineOffer(offer.id, Filters{0});
        return;
      }
      launched = true;
      driver->launchTasks({offer.id}, {makeTask(id, offer, "sleep 60.5151", "cpus:0.2;mem:32")}, Filters{0});
    };
  };
  plain.onOffer = launchOnce("plain-task");
  aware.onOffer = launchOnce("aware-task");
  auto plainDriver = startDriver(plain, cluster, frameworkInfo("plain"));
  auto awareDriver = startDriver(aware, cluster, frameworkInfo("aware", true));
  REQUIRE(plain.waitForState(TaskID{"plain-task"}, TaskState::kRunning));
  REQUIRE(aware.waitForState(TaskID{"aware-task"}, TaskState::kRunning));

  // A second, healthy agent keeps offers flowing.
  cluster.startAgent("cpus:1;mem:512;disk:100");
  cluster.waitForAgents(2);
  cluster.agent(doomed).signal(SIGKILL);

  // Ping timeout 500 ms x 4 misses: the master notices within about two seconds.
  auto lost = plain.waitForState(TaskID{"plain-task"}, TaskState::kLost, 10s);
  REQUIRE(lost);
  CHECK(std::string(toString(lost->reason)) == "REASON_AGENT_UNREACHABLE");
  auto unreachable = aware.waitForState(TaskID{"aware-task"}, TaskState::kUnreachable, 10s);
  REQUIRE(unreachable);
  CHECK(plain.waitFor([&] { return !plain.lostAgents().empty(); }, 5s));

  auto state = cluster.state();
  std::string doomedId;
  for (const auto& a : state["agents"]) {
    if (!a["reachable"].get<bool>()) doomedId = a["id"];
  }
  REQUIRE(!doomedId.empty());
  // Offers made after the loss never name the lost agent.
  size_t before = plain.offers().size() + aware.offers().size();
  REQUIRE(plain.waitFor([&] { return plain.offers().size() + aware.offers().size() > before + 1; }, 10s));
  auto offers = plain.offers();
  auto more = aware.offers();
  offers.insert(offers.end(), more.begin(), more.end());
  for (size_t i = before; i < offers.size(); ++i) CHECK(offers[i].agentId.value != doomedId);

  // The orphaned executor gives up after the recovery timeout (2 s): no
  // process of the task outlives the agent for long.
  CHECK(eventually([&] { return cluster.processesMatching("sleep 60.5151").empty(); }, 15s));
  plainDriver->stop();
  awareDriver->stop();
  plainDriver->join();
  awareDriver->join();
}

TEST_CASE("status updates are re-sent until the framework acknowledges them") {
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent();
  cluster.waitForAgents(1);

  RecordingScheduler scheduler;
  scheduler.onOffer = [launched = false](SchedulerDriver* driver, const Offer& offer) mutable {
    if (launched) return;
    launched = true;
    driver->launchTasks({offer.id}, {makeTask("acked-late", offer, "true")});
  };
  auto driver = startDriver(scheduler, cluster, frameworkInfo("manual-acks"), /*implicitAcks=*/false);
  auto starting = scheduler.waitForState(TaskID{"acked-late"}, TaskState::kStarting);
  REQUIRE(starting);

  // Unacknowledged, the agent keeps the update and re-sends it; the SDK
  // shows it to the scheduler only once.
  REQUIRE(eventually([&] {
    auto s = cluster.agentState(0);
    return s.is_object() && s["metrics"]["status_update_retries"].get<int>() >= 2;
  }));
  CHECK(scheduler.statusesOf(TaskID{"acked-late"}).size() == 1);
  CHECK(cluster.agentState(0)["pending_status_updates"].get<int>() >= 1);

  // Acknowledging releases the stream: RUNNING and FINISHED follow, each once.
  driver->acknowledgeStatusUpdate(*starting);
  auto running = scheduler.waitForState(TaskID{"acked-late"}, TaskState::kRunning);
  REQUIRE(running);
  driver->acknowledgeStatusUpdate(*running);
  auto finished = scheduler.waitForState(TaskID{"acked-late"}, TaskState::kFinished);
  REQUIRE(finished);
  driver->acknowledgeStatusUpdate(*finished);
  CHECK(eventually([&] { return cluster.agentState(0)["pending_status_updates"].get<int>() == 0; }));
  CHECK(scheduler.statusesOf(TaskID{"acked-late"}).size() == 3);
  driver->stop();
  driver->join();
}

TEST_CASE("a restarted master takes back its admitted agents from the registry") {
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent();
  cluster.waitForAgents(1);
  std::string agentId = cluster.state()["agents"][0]["id"];

  cluster.stopMaster(SIGKILL);
  cluster.startMaster();
  // The agent notices the silence and re-registers under its old id.
  REQUIRE(eventually([&] {
    auto s = cluster.state();
    return s.is_object() && s["agents"].size() == 1 && s["agents"][0]["id"] == agentId &&
           s["agents"][0]["reachable"].get<bool>();
  }));
  // And it is usable at once.
  auto result = runProgram({binary("launch-tasks"), "--master=" + cluster.master(), "--tasks=5",
                            "--command=true", "--timeout=60"});
  INFO(result.output);
  CHECK(result.output.find("finished 5/5") != std::string::npos);
}

TEST_CASE("the master runs under its own name after it executes itself with its heap settings") {
  TestCluster cluster;
  cluster.startMaster();
  // What ps, top and pgrep show (the kernel keeps 15 characters of it);
  // executed again through /proc/self/exe it was "exe".
  std::ifstream comm("/proc/" + std::to_string(cluster.masterProcess().pid()) + "/comm");
  std::string name;
  std::getline(comm, name);
  CHECK(name == "clusternodes-ma");
}
