// Fault tolerance with real daemons and real failures: agents and masters
// killed with SIGKILL and restarted, agents stopped with SIGSTOP (a silent
// partition), schedulers failing over, and reconciliation.
#include <doctest/doctest.h>

#include <signal.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "clusternodes/scheduler.hpp"
#include "tests/harness/cluster.hpp"
#include "tests/harness/driver.hpp"
#include "tests/harness/recording_scheduler.hpp"

using namespace clusternodes;
using namespace clusternodes::testing;
using namespace std::chrono_literals;

namespace {

// How many of the task's updates the scheduler saw in `state`.
size_t seen(RecordingScheduler& scheduler, const std::string& taskId, TaskState state) {
  size_t n = 0;
  for (const auto& status : scheduler.statusesOf(TaskID{taskId})) n += status.state == state ? 1 : 0;
  return n;
}

// Every state the scheduler saw for the task, in order, as text.
std::string history(RecordingScheduler& scheduler, const std::string& taskId) {
  std::string out;
  for (const auto& status : scheduler.statusesOf(TaskID{taskId})) {
    out += std::string(out.empty() ? "" : " ") + toString(status.state) + "(" + toString(status.reason) + ")";
  }
  return out;
}

// Launches `count` tasks named PREFIX-0.. running `command` on the first
// offer (from any agent).
void launchOnFirstOffer(RecordingScheduler& scheduler, const std::string& prefix, int count,
                        const std::string& command) {
  launchOnOffers(scheduler, {{"", [=](const Offer& offer) {
                                std::vector<TaskInfo> tasks;
                                for (int i = 0; i < count; ++i) {
                                  tasks.push_back(makeTask(prefix + "-" + std::to_string(i), offer, command,
                                                           "cpus:0.1;mem:16"));
                                }
                                return tasks;
                              }}});
}

nlohmann::json masterTask(const TestCluster& cluster, const std::string& taskId) {
  return masterEntry(cluster, "tasks", taskId);
}

nlohmann::json masterAgent(const TestCluster& cluster, const std::string& agentId) {
  return masterEntry(cluster, "agents", agentId);
}

FrameworkInfo withFailover(FrameworkInfo info, double seconds) {
  info.failoverTimeoutSeconds = seconds;
  return info;
}

}  // namespace

TEST_CASE("tasks running through an agent restart finish, and the scheduler sees each update once") {
  TestCluster cluster;
  // The master gives a silent agent 12 s before it is unreachable.
  cluster.startMaster({"--agent-ping-timeout=3s"});
  // Executors wait up to 30 s for their agent to come back.
  cluster.startAgent("cpus:2;mem:1024;disk:100", {"--recovery-timeout=30s"});
  cluster.waitForAgents(1);
  std::string agent = agentId(cluster, 0);

  RecordingScheduler scheduler;
  // Two tasks outlive the agent's restart; one ends while the agent is down.
  // Its sleep's odd length tells its process from other tests' sleeps.
  launchOnOffers(scheduler, {{"", [](const Offer& offer) {
                                return std::vector<TaskInfo>{
                                    makeTask("long-0", offer, "sleep 6"),
                                    makeTask("long-1", offer, "sleep 6"),
                                    makeTask("short", offer, "sleep 1.5101"),
                                };
                              }}});
  auto driver = startDriver(scheduler, cluster, "agent-restart");
  for (const char* id : {"long-0", "long-1", "short"}) REQUIRE(scheduler.waitForState(TaskID{id}, TaskState::kRunning));

  cluster.agent(0).signal(SIGKILL);
  // "short" ends meanwhile; its executor holds the update.
  REQUIRE(eventually([&] { return cluster.processesMatching("sleep 1.5101").empty(); }, 10s));
  cluster.restartAgent(0);

  // The agent comes back as itself, with its running tasks.
  REQUIRE(eventually([&] {
    auto s = cluster.agentState(0);
    return s.is_object() && s["registered"].get<bool>() && s["id"] == agent;
  }));
  auto long0 = masterTask(cluster, "long-0");
  if (!long0.is_null()) CHECK(long0["agent_id"] == agent);

  for (const char* id : {"long-0", "long-1", "short"}) {
    auto end = terminalStatus(scheduler, id, 30s);
    REQUIRE(end);
    INFO(id << ": " << history(scheduler, id));
    CHECK(std::string(toString(end->state)) == "TASK_FINISHED");
    CHECK(seen(scheduler, id, TaskState::kRunning) == 1);
    CHECK(seen(scheduler, id, TaskState::kFinished) == 1);
    CHECK(scheduler.statusesOf(TaskID{id}).size() == seen(scheduler, id, TaskState::kStarting) + 2);
  }
  // The master never thought the agent was gone.
  CHECK(cluster.state()["metrics"]["agents_lost"].get<int>() == 0);
  driver->stop();
  driver->join();
}

TEST_CASE("status updates the framework has not acknowledged survive an agent restart, in order") {
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent();
  cluster.waitForAgents(1);

  RecordingScheduler scheduler;
  launchOnFirstOffer(scheduler, "unacked", 1, "true");
  auto driver = startDriver(scheduler, cluster, frameworkInfo("manual-acks"), /*implicitAcks=*/false);
  auto starting = scheduler.waitForState(TaskID{"unacked-0"}, TaskState::kStarting);
  REQUIRE(starting);
  // The task has ended and its executor is gone: RUNNING and FINISHED wait
  // at the agent, behind the unacknowledged STARTING, and only on its disk.
  REQUIRE(eventually([&] {
    auto s = cluster.agentState(0);
    return s.is_object() && s["pending_status_updates"].get<int>() == 3 &&
           cluster.processesMatching("--task-id=unacked-0").empty();
  }));

  cluster.agent(0).signal(SIGKILL);
  cluster.restartAgent(0);
  cluster.waitForAgents(1);

  driver->acknowledgeStatusUpdate(*starting);
  auto running = scheduler.waitForState(TaskID{"unacked-0"}, TaskState::kRunning);
  REQUIRE(running);
  driver->acknowledgeStatusUpdate(*running);
  auto finished = scheduler.waitForState(TaskID{"unacked-0"}, TaskState::kFinished);
  REQUIRE(finished);
  driver->acknowledgeStatusUpdate(*finished);
  INFO(history(scheduler, "unacked-0"));
  CHECK(scheduler.statusesOf(TaskID{"unacked-0"}).size() == 3);
  REQUIRE(finished->exitCode);
  CHECK(*finished->exitCode == 0);
  CHECK(eventually([&] { return cluster.agentState(0)["pending_status_updates"].get<int>() == 0; }));
  driver->stop();
  driver->join();
}

TEST_CASE("an update produced while the master is down reaches the framework after it returns") {
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent();
  cluster.waitForAgents(1);

  RecordingScheduler scheduler;
  launchOnFirstOffer(scheduler, "while-down", 1, "sleep 1.5202");
  auto driver = startDriver(scheduler, cluster, withFailover(frameworkInfo("master-down"), 60));
  REQUIRE(scheduler.waitForState(TaskID{"while-down-0"}, TaskState::kRunning));

  cluster.stopMaster(SIGKILL);
  // The task ends while there is no master.
  REQUIRE(eventually([&] { return cluster.processesMatching("sleep 1.5202").empty(); }, 10s));
  // A negative check: time for an update to reach the framework, were there
  // a way without the master, so that it could show here.
  std::this_thread::sleep_for(500ms);
  CHECK(scheduler.statusesOf(TaskID{"while-down-0"}).size() == seen(scheduler, "while-down-0", TaskState::kStarting) + 1);
  cluster.startMaster();

  auto finished = scheduler.waitForState(TaskID{"while-down-0"}, TaskState::kFinished, 40s);
  REQUIRE(finished);
  INFO(history(scheduler, "while-down-0"));
  CHECK(seen(scheduler, "while-down-0", TaskState::kFinished) == 1);
  // The framework re-registered with its id.
  CHECK(scheduler.waitFor([&] { return cluster.state()["frameworks"].size() == 1; }));
  CHECK(cluster.state()["frameworks"][0]["id"] == scheduler.frameworkId().value);
  driver->stop();
  driver->join();
}

TEST_CASE("a master restart loses no running task, and keeps frameworks and their failover timeouts") {
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent("cpus:1;mem:512;disk:100");
  cluster.startAgent("cpus:1;mem:512;disk:100");
  cluster.waitForAgents(2);

  RecordingScheduler scheduler;
  launchOnOffers(scheduler, {{agentId(cluster, 0), [](const Offer& offer) {
                                std::vector<TaskInfo> tasks;
                                for (int i = 0; i < 4; ++i) tasks.push_back(makeTask("a0-" + std::to_string(i), offer, "sleep 600.7171"));
                                return tasks;
                              }},
                             {agentId(cluster, 1), [](const Offer& offer) {
                                std::vector<TaskInfo> tasks;
                                for (int i = 0; i < 4; ++i) tasks.push_back(makeTask("a1-" + std::to_string(i), offer, "sleep 600.7171"));
                                return tasks;
                              }}});
  auto driver = startDriver(scheduler, cluster, withFailover(frameworkInfo("survivor", true), 120));
  std::vector<std::string> ids;
  for (int a = 0; a < 2; ++a) {
    for (int i = 0; i < 4; ++i) ids.push_back("a" + std::to_string(a) + "-" + std::to_string(i));
  }
  for (const auto& id : ids) REQUIRE(scheduler.waitForState(TaskID{id}, TaskState::kRunning));

  // A second framework, idle and failed over (its scheduler gone), is known
  // only from the registry after the restart.
  RecordingScheduler idle;
  auto idleDriver = startDriver(idle, cluster, withFailover(frameworkInfo("idle"), 300));
  std::string idleId = idle.frameworkId().value;
  idleDriver->stop(/*failover=*/true);
  idleDriver->join();

  cluster.stopMaster(SIGKILL);
  cluster.startMaster();

  // Both agents re-register with their tasks; every task is running.
  REQUIRE(eventually(
      [&] {
        auto state = cluster.state();
        if (!state.is_object() || state["tasks"].size() != ids.size()) return false;
        for (const auto& task : state["tasks"]) {
          if (task["state"] != "TASK_RUNNING") return false;
        }
        return true;
      },
      30s));
  CHECK(cluster.processesMatching("sleep 600.7171", true).size() == ids.size());
  auto state = cluster.state();
  std::map<std::string, nlohmann::json> frameworks;
  for (const auto& fw : state["frameworks"]) frameworks[fw["id"]] = fw;
  REQUIRE(frameworks.count(idleId) == 1);
  CHECK(frameworks[idleId]["name"] == "idle");
  CHECK(frameworks[idleId]["failover_timeout"].get<double>() == 300);
  CHECK_FALSE(frameworks[idleId]["connected"].get<bool>());
  REQUIRE(frameworks.count(scheduler.frameworkId().value) == 1);
  CHECK(frameworks[scheduler.frameworkId().value]["failover_timeout"].get<double>() == 120);

  // The scheduler never heard of a loss, and reconciliation says RUNNING.
  for (const auto& id : ids) {
    INFO(id << ": " << history(scheduler, id));
    CHECK(scheduler.statusesOf(TaskID{id}).size() == seen(scheduler, id, TaskState::kStarting) + 1);
  }
  REQUIRE(scheduler.waitFor([&] { return cluster.state()["frameworks"].size() == 2 &&
                                         masterTask(cluster, ids[0]).is_object(); }));
  bool connected = eventually([&] {
    auto state = cluster.state();
    for (const auto& fw : state["frameworks"]) {
      if (fw["id"] == scheduler.frameworkId().value) return fw["connected"].get<bool>();
    }
    return false;
  });
  INFO(cluster.state()["frameworks"].dump());
  REQUIRE(connected);
  driver->reconcileTasks({});
  REQUIRE(scheduler.waitFor([&] {
    for (const auto& id : ids) {
      if (seen(scheduler, id, TaskState::kRunning) < 2) return false;
    }
    return true;
  }));
  for (const auto& id : ids) {
    auto statuses = scheduler.statusesOf(TaskID{id});
    CHECK(std::string(toString(statuses.back().reason)) == "REASON_RECONCILIATION");
  }
  driver->stop();
  driver->join();
}

TEST_CASE("a framework that fails over within its timeout keeps its tasks, one that does not loses them") {
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent();
  cluster.waitForAgents(1);

  // Both schedulers stop without tearing down (as a crashed scheduler does:
  // the master only sees it fall silent).
  RecordingScheduler patient;
  launchOnFirstOffer(patient, "kept", 1, "sleep 600.8181");
  auto patientDriver = startDriver(patient, cluster, withFailover(frameworkInfo("patient"), 60));
  REQUIRE(patient.waitForState(TaskID{"kept-0"}, TaskState::kRunning));
  FrameworkID patientId = patient.frameworkId();

  RecordingScheduler hasty;
  launchOnFirstOffer(hasty, "dropped", 1, "sleep 600.9191");
  auto hastyDriver = startDriver(hasty, cluster, withFailover(frameworkInfo("hasty"), 1));
  REQUIRE(hasty.waitForState(TaskID{"dropped-0"}, TaskState::kRunning));
  FrameworkID hastyId = hasty.frameworkId();

  patientDriver->stop(/*failover=*/true);
  hastyDriver->stop(/*failover=*/true);
  patientDriver->join();
  hastyDriver->join();

  // The hasty one is removed once silent for its second: its task is killed.
  REQUIRE(eventually([&] { return cluster.processesMatching("sleep 600.9191").empty(); }, 20s));
  REQUIRE(eventually([&] { return cluster.state()["frameworks"].size() == 1; }));
  CHECK(cluster.state()["frameworks"][0]["id"] == patientId.value);
  CHECK_FALSE(cluster.state()["frameworks"][0]["connected"].get<bool>());
  CHECK(cluster.processesMatching("sleep 600.8181", true).size() == 1);

  // The patient one comes back with its id and finds its task running.
  RecordingScheduler back;
  FrameworkInfo info = withFailover(frameworkInfo("patient"), 60);
  info.id = patientId;
  auto backDriver = startDriver(back, cluster, info);
  CHECK(back.frameworkId() == patientId);
  backDriver->reconcileTasks({TaskStatus{.taskId = TaskID{"kept-0"}}});
  auto running = back.waitForState(TaskID{"kept-0"}, TaskState::kRunning);
  REQUIRE(running);
  CHECK(std::string(toString(running->reason)) == "REASON_RECONCILIATION");

  // The hasty one may not come back under its old id.
  RecordingScheduler late;
  FrameworkInfo lateInfo = withFailover(frameworkInfo("hasty"), 1);
  lateInfo.id = hastyId;
  auto lateDriver = SchedulerDriver::create(&late, lateInfo, {.master = cluster.master()});
  lateDriver->start();
  REQUIRE(late.waitFor([&] { return !late.errors().empty(); }));
  CHECK(late.errors().front().find("was removed") != std::string::npos);
  lateDriver->join();

  backDriver->stop();
  backDriver->join();
}

TEST_CASE("a stopped agent's tasks go UNREACHABLE and come back RUNNING after SIGCONT, others' are killed") {
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent("cpus:1;mem:512;disk:100");
  cluster.waitForAgents(1);

  RecordingScheduler aware;
  RecordingScheduler plain;
  launchOnFirstOffer(aware, "aware", 1, "sleep 600.2323");
  launchOnFirstOffer(plain, "plain", 1, "sleep 600.3434");
  auto awareDriver = startDriver(aware, cluster, frameworkInfo("aware", true));
  REQUIRE(aware.waitForState(TaskID{"aware-0"}, TaskState::kRunning));
  auto plainDriver = startDriver(plain, cluster, frameworkInfo("plain"));
  REQUIRE(plain.waitForState(TaskID{"plain-0"}, TaskState::kRunning));

  // A silent partition: the agent neither answers nor closes anything.
  cluster.agent(0).signal(SIGSTOP);
  auto unreachable = aware.waitForState(TaskID{"aware-0"}, TaskState::kUnreachable, 15s);
  REQUIRE(unreachable);
  CHECK(std::string(toString(unreachable->reason)) == "REASON_AGENT_UNREACHABLE");
  auto lost = plain.waitForState(TaskID{"plain-0"}, TaskState::kLost, 15s);
  REQUIRE(lost);

  cluster.agent(0).signal(SIGCONT);
  auto back = aware.waitForState(TaskID{"aware-0"}, TaskState::kRunning, 20s);
  REQUIRE(seen(aware, "aware-0", TaskState::kRunning) >= 1);
  REQUIRE(aware.waitFor([&] { return seen(aware, "aware-0", TaskState::kRunning) == 2; }, 20s));
  auto statuses = aware.statusesOf(TaskID{"aware-0"});
  CHECK(std::string(toString(statuses.back().reason)) == "REASON_RECONCILIATION");
  CHECK(cluster.processesMatching("sleep 600.2323", true).size() == 1);
  // The plain framework was told LOST: its task must not live on.
  CHECK(eventually([&] { return cluster.processesMatching("sleep 600.3434").empty(); }, 20s));
  INFO(history(plain, "plain-0"));
  CHECK(seen(plain, "plain-0", TaskState::kRunning) == 1);
  auto task = masterTask(cluster, "aware-0");
  REQUIRE(task.is_object());
  CHECK(task["state"] == "TASK_RUNNING");
  awareDriver->stop();
  plainDriver->stop();
  awareDriver->join();
  plainDriver->join();
}

TEST_CASE("an agent unreachable past --agent-removal-timeout is gone: TASK_GONE, and it returns as a new agent") {
  TestCluster cluster;
  cluster.startMaster({"--agent-removal-timeout=2s"});
  cluster.startAgent("cpus:1;mem:512;disk:100");
  cluster.waitForAgents(1);
  std::string oldId = agentId(cluster, 0);

  RecordingScheduler aware;
  launchOnFirstOffer(aware, "doomed", 1, "sleep 600.4545");
  auto driver = startDriver(aware, cluster, frameworkInfo("aware", true));
  REQUIRE(aware.waitForState(TaskID{"doomed-0"}, TaskState::kRunning));

  cluster.agent(0).signal(SIGSTOP);
  REQUIRE(aware.waitForState(TaskID{"doomed-0"}, TaskState::kUnreachable, 15s));
  auto gone = aware.waitForState(TaskID{"doomed-0"}, TaskState::kGone, 15s);
  REQUIRE(gone);
  CHECK(std::string(toString(gone->reason)) == "REASON_AGENT_REMOVED");
  CHECK(masterAgent(cluster, oldId).is_null());
  CHECK(cluster.state()["metrics"]["agents_gone"].get<int>() == 1);

  // Back from the partition, it is told to shut its tasks down, and
  // registers again under a new id.
  cluster.agent(0).signal(SIGCONT);
  CHECK(eventually([&] { return cluster.processesMatching("sleep 600.4545").empty(); }, 20s));
  REQUIRE(eventually([&] {
    auto s = cluster.agentState(0);
    return s.is_object() && s["registered"].get<bool>() && s["id"] != oldId && !s["id"].get<std::string>().empty();
  }));
  cluster.waitForAgents(1);
  CHECK(masterAgent(cluster, oldId).is_null());
  INFO(history(aware, "doomed-0"));
  CHECK(seen(aware, "doomed-0", TaskState::kRunning) == 1);
  driver->stop();
  driver->join();
}

TEST_CASE("--agent-removal-rate-limit marks one silent agent unreachable at a time") {
  TestCluster cluster;
  cluster.startMaster({"--agent-removal-rate-limit=1/1h"});
  for (int i = 0; i < 3; ++i) cluster.startAgent("cpus:1;mem:256;disk:10");
  cluster.waitForAgents(3);

  cluster.agent(0).signal(SIGSTOP);
  cluster.agent(1).signal(SIGSTOP);
  auto unreachableCount = [&] {
    int n = 0;
    auto state = cluster.state();
    if (!state.is_object()) return -1;
    for (const auto& a : state["agents"]) n += a["reachable"].get<bool>() ? 0 : 1;
    return n;
  };
  REQUIRE(eventually([&] { return unreachableCount() == 1; }, 15s));
  // The other waits its turn, however long it stays silent.
  REQUIRE(eventually([&] { return cluster.state()["metrics"]["agent_removals_deferred"].get<int>() >= 3; }, 15s));
  CHECK(unreachableCount() == 1);
  CHECK(cluster.masterGet("/metrics").find("clusternodes_master_agent_removals_deferred_total") != std::string::npos);

  // Both come back: every agent is reachable again.
  cluster.agent(0).signal(SIGCONT);
  cluster.agent(1).signal(SIGCONT);
  REQUIRE(eventually([&] { return unreachableCount() == 0 && cluster.state()["agents"].size() == 3; }, 20s));
}

TEST_CASE("reconciliation answers for known and unknown tasks, explicitly and implicitly") {
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent();
  cluster.waitForAgents(1);
  std::string agent = agentId(cluster, 0);

  RecordingScheduler aware;
  launchOnFirstOffer(aware, "known", 2, "sleep 600.5656");
  auto awareDriver = startDriver(aware, cluster, frameworkInfo("aware", true));
  REQUIRE(aware.waitForState(TaskID{"known-0"}, TaskState::kRunning));
  REQUIRE(aware.waitForState(TaskID{"known-1"}, TaskState::kRunning));

  // Explicit: a known task, and one the master never heard of.
  awareDriver->reconcileTasks({TaskStatus{.taskId = TaskID{"known-0"}, .agentId = AgentID{agent}},
                               TaskStatus{.taskId = TaskID{"never-launched"}, .agentId = AgentID{agent}}});
  REQUIRE(aware.waitFor([&] { return seen(aware, "known-0", TaskState::kRunning) == 2; }));
  auto unknown = aware.waitForState(TaskID{"never-launched"}, TaskState::kUnknown);
  REQUIRE(unknown);
  CHECK(std::string(toString(unknown->reason)) == "REASON_RECONCILIATION");
  CHECK(aware.statusesOf(TaskID{"never-launched"}).size() == 1);
  CHECK(seen(aware, "known-1", TaskState::kRunning) == 1);  // not asked about

  // Implicit: every task of the framework.
  awareDriver->reconcileTasks({});
  REQUIRE(aware.waitFor([&] { return seen(aware, "known-1", TaskState::kRunning) == 2; }));
  REQUIRE(aware.waitFor([&] { return seen(aware, "known-0", TaskState::kRunning) == 3; }));
  CHECK(aware.statusesOf(TaskID{"never-launched"}).size() == 1);

  // A framework that is not partition-aware hears TASK_LOST for an unknown task.
  RecordingScheduler plain;
  auto plainDriver = startDriver(plain, cluster, frameworkInfo("plain"));
  plainDriver->reconcileTasks({TaskStatus{.taskId = TaskID{"ghost"}}});
  auto lost = plain.waitForState(TaskID{"ghost"}, TaskState::kLost);
  REQUIRE(lost);
  CHECK(std::string(toString(lost->reason)) == "REASON_RECONCILIATION");

  // While the agent is unreachable, an unknown task there is UNREACHABLE,
  // and the known ones are reported as they are.
  cluster.agent(0).signal(SIGSTOP);
  REQUIRE(aware.waitForState(TaskID{"known-0"}, TaskState::kUnreachable, 15s));
  awareDriver->reconcileTasks({TaskStatus{.taskId = TaskID{"elsewhere"}, .agentId = AgentID{agent}},
                               TaskStatus{.taskId = TaskID{"known-1"}, .agentId = AgentID{agent}}});
  auto there = aware.waitForState(TaskID{"elsewhere"}, TaskState::kUnreachable);
  REQUIRE(there);
  CHECK(std::string(toString(there->reason)) == "REASON_RECONCILIATION");
  REQUIRE(aware.waitFor([&] { return seen(aware, "known-1", TaskState::kUnreachable) == 2; }));
  cluster.agent(0).signal(SIGCONT);
  awareDriver->stop();
  plainDriver->stop();
  awareDriver->join();
  plainDriver->join();
}

TEST_CASE("after a host reboot the agent registers as a new agent and its old tasks are reported lost") {
  TestCluster cluster;
  // Pings slow enough that the restart, not the ping timeout, ends the old agent.
  cluster.startMaster({"--agent-ping-timeout=5s"});
  cluster.startAgent();
  cluster.waitForAgents(1);
  std::string oldId = agentId(cluster, 0);

  RecordingScheduler plain;
  RecordingScheduler aware;
  launchOnFirstOffer(plain, "rebooted", 1, "sleep 600.6767");
  launchOnFirstOffer(aware, "rebooted-aware", 1, "sleep 600.6767");
  auto plainDriver = startDriver(plain, cluster, frameworkInfo("plain"));
  REQUIRE(plain.waitForState(TaskID{"rebooted-0"}, TaskState::kRunning));
  auto awareDriver = startDriver(aware, cluster, frameworkInfo("aware", true));
  REQUIRE(aware.waitForState(TaskID{"rebooted-aware-0"}, TaskState::kRunning));

  // The "reboot": everything the agent ran dies with it, and the host comes
  // back with another boot id than the one the agent checkpointed.
  cluster.agent(0).signal(SIGKILL);
  for (auto pid : cluster.processesMatching("--task-id=rebooted")) ::kill(pid, SIGKILL);
  for (auto pid : cluster.processesMatching("sleep 600.6767")) ::kill(pid, SIGKILL);
  std::string checkpoint = cluster.dir() + "/agent-0/meta/agent.json";
  auto saved = nlohmann::json::parse(std::ifstream(checkpoint));
  saved["boot_id"] = "a-boot-before-the-reboot";
  std::ofstream(checkpoint) << saved.dump();
  cluster.restartAgent(0);

  auto lost = plain.waitForState(TaskID{"rebooted-0"}, TaskState::kLost, 15s);
  REQUIRE(lost);
  CHECK(std::string(toString(lost->reason)) == "REASON_AGENT_RESTARTED");
  auto gone = aware.waitForState(TaskID{"rebooted-aware-0"}, TaskState::kGone, 15s);
  REQUIRE(gone);
  CHECK(std::string(toString(gone->reason)) == "REASON_AGENT_RESTARTED");
  CHECK(gone->message.find("the host rebooted") != std::string::npos);
  std::string newId = agentId(cluster, 0);
  CHECK(newId != oldId);
  cluster.waitForAgents(1);
  CHECK(masterAgent(cluster, oldId).is_null());
  plainDriver->stop();
  awareDriver->stop();
  plainDriver->join();
  awareDriver->join();
}

TEST_CASE("--recover=cleanup kills what the previous agent ran and registers as a new agent") {
  TestCluster cluster;
  cluster.startMaster({"--agent-ping-timeout=5s"});
  cluster.startAgent("cpus:2;mem:1024;disk:100", {"--recovery-timeout=60s"});
  cluster.waitForAgents(1);
  std::string oldId = agentId(cluster, 0);

  RecordingScheduler scheduler;
  launchOnFirstOffer(scheduler, "cleaned", 2, "sleep 600.7878");
  auto driver = startDriver(scheduler, cluster, "cleanup");
  REQUIRE(scheduler.waitForState(TaskID{"cleaned-0"}, TaskState::kRunning));
  REQUIRE(scheduler.waitForState(TaskID{"cleaned-1"}, TaskState::kRunning));

  cluster.agent(0).signal(SIGKILL);
  cluster.restartAgent(0, {"--recover=cleanup"});
  CHECK(eventually([&] { return cluster.processesMatching("sleep 600.7878").empty(); }, 15s));
  CHECK(eventually([&] { return cluster.processesMatching("--task-id=cleaned").empty(); }, 15s));
  for (const char* id : {"cleaned-0", "cleaned-1"}) {
    auto lost = scheduler.waitForState(TaskID{id}, TaskState::kLost, 15s);
    REQUIRE(lost);
    CHECK(std::string(toString(lost->reason)) == "REASON_AGENT_RESTARTED");
    CHECK(lost->message.find("--recover=cleanup") != std::string::npos);
  }
  CHECK(agentId(cluster, 0) != oldId);
  cluster.waitForAgents(1);
  driver->stop();
  driver->join();
}

TEST_CASE("a launch sent while the agent was down is sent again when it re-registers") {
  TestCluster cluster;
  cluster.startMaster({"--agent-ping-timeout=5s"});
  cluster.startAgent();
  cluster.waitForAgents(1);

  RecordingScheduler scheduler;  // keeps its offers unanswered
  auto driver = startDriver(scheduler, cluster, "relaunch");
  auto offer = scheduler.waitForOffer();
  REQUIRE(offer);

  // The master still counts the agent as registered: the launch goes to a
  // connection nobody reads.
  cluster.agent(0).signal(SIGKILL);
  REQUIRE(cluster.agent(0).wait(10s) != -1);
  driver->launchTasks({offer->id}, {makeTask("late-launch", *offer, "true")});
  // The master took the launch (and sent it to the dead agent).
  REQUIRE(eventually([&] { return !masterTask(cluster, "late-launch").is_null(); }));
  cluster.restartAgent(0);

  auto finished = scheduler.waitForState(TaskID{"late-launch"}, TaskState::kFinished, 30s);
  REQUIRE(finished);
  INFO(history(scheduler, "late-launch"));
  CHECK(seen(scheduler, "late-launch", TaskState::kRunning) == 1);
  CHECK(seen(scheduler, "late-launch", TaskState::kLost) == 0);
  CHECK(seen(scheduler, "late-launch", TaskState::kDropped) == 0);
  driver->stop();
  driver->join();
}

TEST_CASE("a launch sent to a stopped agent runs once it resumes, and is not reported dropped") {
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent();
  cluster.waitForAgents(1);

  RecordingScheduler scheduler;  // keeps its offers unanswered
  auto driver = startDriver(scheduler, cluster, frameworkInfo("stopped-launch", true));
  auto offer = scheduler.waitForOffer();
  REQUIRE(offer);

  // The launch waits in the stopped agent's socket while the master gives up
  // on it; when it resumes, its timers run before it reads that socket.
  cluster.agent(0).signal(SIGSTOP);
  const auto stoppedAt = std::chrono::steady_clock::now();
  driver->launchTasks({offer->id}, {makeTask("while-stopped", *offer, "echo ran >> " + cluster.dir() + "/runs; sleep 1")});
  REQUIRE(scheduler.waitForState(TaskID{"while-stopped"}, TaskState::kUnreachable, 15s));
  // Not a wait for something to happen but the scenario: the agent stays
  // stopped past its own limit for the master's silence (5 ping intervals of
  // the harness's 500 ms), so that it wakes up with the master seemingly
  // gone. A stopped process shows nothing to wait for.
  std::this_thread::sleep_until(stoppedAt + 2500ms + 1s);
  cluster.agent(0).signal(SIGCONT);

  auto finished = scheduler.waitForState(TaskID{"while-stopped"}, TaskState::kFinished, 30s);
  REQUIRE(finished);
  INFO(history(scheduler, "while-stopped"));
  CHECK(seen(scheduler, "while-stopped", TaskState::kDropped) == 0);
  CHECK(seen(scheduler, "while-stopped", TaskState::kLost) == 0);
  CHECK(seen(scheduler, "while-stopped", TaskState::kFinished) == 1);
  std::ifstream runs(cluster.dir() + "/runs");
  std::string all((std::istreambuf_iterator<char>(runs)), std::istreambuf_iterator<char>());
  CHECK(all == "ran\n");
  driver->stop();
  driver->join();
}

TEST_CASE("a framework that suppressed its offers stays suppressed when it subscribes again to a restarted master") {
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent("cpus:1;mem:512;disk:100");
  cluster.waitForAgents(1);
  RecordingScheduler scheduler;
  auto driver = startDriver(scheduler, cluster, withFailover(frameworkInfo("quiet"), 120));
  auto offer = scheduler.waitForOffer();
  REQUIRE(offer);
  std::string id = scheduler.frameworkId().value;
  driver->suppressOffers();
  driver->declineOffer(offer->id);
  REQUIRE(eventually([&] { return masterEntry(cluster, "frameworks", id).value("suppressed", false); }));

  cluster.stopMaster(SIGKILL);
  cluster.startMaster();
  REQUIRE(eventually([&] { return masterEntry(cluster, "frameworks", id).value("connected", false); }, 30s));
  cluster.waitForAgents(1);  // its resources are there to offer
  CHECK(masterEntry(cluster, "frameworks", id)["suppressed"] == true);
  size_t before = scheduler.offers().size();
  std::this_thread::sleep_for(2s);  // allocation rounds run every few milliseconds
  CHECK(scheduler.offers().size() == before);

  driver->reviveOffers();
  CHECK(scheduler.waitForOffer());
  driver->stop();
  driver->join();
}
