// Promises the documentation makes that no other test held the code to, each
// checked against real processes: the master's --agent-reregister-timeout
// after a restart, a framework started before its master, an executor that
// died while its agent was down, and an agent started while Docker is down.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "clusternodes/scheduler.hpp"
#include "tests/harness/cluster.hpp"
#include "tests/harness/docker.hpp"
#include "tests/harness/driver.hpp"
#include "tests/harness/recording_scheduler.hpp"

using namespace clusternodes;
using namespace clusternodes::testing;
using namespace std::chrono_literals;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every state the scheduler saw for the task, in order, as text.
std::string history(RecordingScheduler& scheduler, const std::string& taskId) {
  std::string out;
  for (const auto& status : scheduler.statusesOf(TaskID{taskId})) {
    out += std::string(out.empty() ? "" : " ") + toString(status.state) + "(" + toString(status.reason) + ")";
  }
  return out;
}

// How many of the task's updates carry `reason`.
size_t withReason(RecordingScheduler& scheduler, const std::string& taskId, TaskReason reason) {
  size_t n = 0;
  for (const auto& status : scheduler.statusesOf(TaskID{taskId})) n += status.reason == reason ? 1 : 0;
  return n;
}

// The master's kept events of `type` about `agentId`.
std::vector<nlohmann::json> agentEvents(const TestCluster& cluster, const std::string& type,
                                        const std::string& agentId) {
  std::vector<nlohmann::json> out;
  auto body = nlohmann::json::parse(cluster.masterGet("/api/v1/events?since=0"), nullptr, false);
  if (!body.is_object()) return out;
  for (const auto& event : body["events"]) {
    if (event.value("type", "") == type && event.value("agent_id", "") == agentId) out.push_back(event);
  }
  return out;
}

// The agent's mark in the master's registry.json ("" when it has none).
std::string registryMark(const TestCluster& cluster, const std::string& agentId) {
  auto registry = nlohmann::json::parse(slurp(cluster.dir() + "/master/registry.json"), nullptr, false);
  if (!registry.is_object()) return "";
  for (const auto& agent : registry["agents"]) {
    if (agent.value("id", "") == agentId) return agent.value("mark", "");
  }
  return "";
}

// A specific process has ended: it no longer exists, or is a zombie that
// its parent has not reaped yet.
bool processGone(pid_t pid) {
  if (::kill(pid, 0) != 0) return errno == ESRCH;
  std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z';
}

std::string cmdlineOf(pid_t pid) {
  std::string cmdline = slurp("/proc/" + std::to_string(pid) + "/cmdline");
  for (auto& c : cmdline) {
    if (c == '\0') c = ' ';
  }
  return cmdline;
}

// A reconciliation query for a task on an agent.
TaskStatus query(const std::string& taskId, const std::string& agentId) {
  TaskStatus status;
  status.taskId = TaskID{taskId};
  status.agentId = AgentID{agentId};
  return status;
}

FrameworkInfo withFailover(FrameworkInfo info, double seconds) {
  info.failoverTimeoutSeconds = seconds;
  return info;
}

// One task on the first offer from `agent` ("" for any agent).
void launchOne(RecordingScheduler& scheduler, const std::string& agent, const std::string& taskId,
               const std::string& command) {
  launchOnOffers(scheduler, {{agent, [=](const Offer& offer) {
                                return std::vector<TaskInfo>{makeTask(taskId, offer, command)};
                              }}});
}

// A RecordingScheduler that also counts first registrations apart from
// re-registrations.
class CountingScheduler : public RecordingScheduler {
 public:
  std::atomic<int> registeredCalls{0};
  std::atomic<int> reregisteredCalls{0};
  void registered(SchedulerDriver* driver, const FrameworkID& id, const MasterInfo& master) override {
    ++registeredCalls;
    RecordingScheduler::registered(driver, id, master);
  }
  void reregistered(SchedulerDriver* driver, const MasterInfo& master) override {
    ++reregisteredCalls;
    RecordingScheduler::reregistered(driver, master);
  }
};

}  // namespace

// docs/architecture.md, "After a restart": the master has
// --agent-reregister-timeout for the registry's admitted agents to
// re-register; those that do not are marked unreachable. Reconciliation then
// answers for their tasks TASK_UNREACHABLE (partition-aware) or TASK_LOST,
// and, until then, gives no answer for a task on such an agent.
TEST_CASE("after a master restart an agent that misses --agent-reregister-timeout is marked unreachable, one that returns stays") {
  TestCluster cluster;
  // Far beyond the few seconds an agent takes to notice the new master (4
  // missed pings of 500 ms), so the one that returns is in time.
  cluster.startMaster({"--agent-reregister-timeout=12s"});
  cluster.startAgent("cpus:1;mem:512;disk:100");
  cluster.startAgent("cpus:1;mem:512;disk:100");
  cluster.waitForAgents(2);
  const std::string back = agentId(cluster, 0);
  const std::string away = agentId(cluster, 1);

  // A partition-aware framework with a task on each agent; one that is not,
  // with a task on the agent that will not come back. Both keep their tasks
  // across the master's restart (failover timeout).
  CountingScheduler aware;
  launchOnOffers(aware, {{back, [](const Offer& offer) {
                            return std::vector<TaskInfo>{makeTask("aware-back", offer, "sleep 600.41421")};
                          }},
                         {away, [](const Offer& offer) {
                            return std::vector<TaskInfo>{makeTask("aware-away", offer, "sleep 600.41421")};
                          }}});
  auto awareDriver = startDriver(aware, cluster, withFailover(frameworkInfo("aware", true), 120));
  REQUIRE(aware.waitForState(TaskID{"aware-back"}, TaskState::kRunning));
  REQUIRE(aware.waitForState(TaskID{"aware-away"}, TaskState::kRunning));
  CountingScheduler plain;
  launchOne(plain, away, "plain-away", "sleep 600.41421");
  auto plainDriver = startDriver(plain, cluster, withFailover(frameworkInfo("plain"), 120));
  REQUIRE(plain.waitForState(TaskID{"plain-away"}, TaskState::kRunning));

  // The master restarts; meanwhile one agent dies for good.
  cluster.stopMaster(SIGKILL);
  cluster.agent(1).signal(SIGKILL);
  REQUIRE(cluster.agent(1).wait(10s) != -1);
  cluster.startMaster();

  // The agent that is alive re-registers with its task.
  REQUIRE(eventually(
      [&] {
        auto agent = masterEntry(cluster, "agents", back);
        auto task = masterEntry(cluster, "tasks", "aware-back");
        return agent.is_object() && agent["reachable"].get<bool>() && task.is_object() &&
               task["state"] == "TASK_RUNNING";
      },
      30s));
  REQUIRE(aware.waitFor([&] { return aware.reregisteredCalls >= 1; }, 30s));
  REQUIRE(plain.waitFor([&] { return plain.reregisteredCalls >= 1; }, 30s));

  // Before the deadline, a task on the missing agent gets no answer: the
  // agent may still come and report it.
  awareDriver->reconcileTasks({query("aware-away", away)});
  plainDriver->reconcileTasks({query("plain-away", away)});
  // A deliberate negative wait: time for an answer to arrive, were one sent.
  std::this_thread::sleep_for(1s);
  if (agentEvents(cluster, "agent_unreachable", away).empty()) {
    INFO(history(aware, "aware-away") << " / " << history(plain, "plain-away"));
    CHECK(withReason(aware, "aware-away", TaskReason::kReconciliation) == 0);
    CHECK(withReason(plain, "plain-away", TaskReason::kReconciliation) == 0);
  } else {
    MESSAGE("the deadline passed before the negative check could be made; skipping it");
  }

  // Past the deadline the missing agent is marked unreachable, saying why.
  REQUIRE(eventually([&] { return !agentEvents(cluster, "agent_unreachable", away).empty(); }, 40s));
  auto marked = agentEvents(cluster, "agent_unreachable", away).front();
  CHECK(marked.value("message", "").find("--agent-reregister-timeout") != std::string::npos);
  CHECK(registryMark(cluster, away) == "unreachable");
  CHECK(cluster.state()["metrics"]["agents_lost"].get<int>() == 1);

  // The one that came back in time stays reachable, with its task running.
  CHECK(agentEvents(cluster, "agent_unreachable", back).empty());
  CHECK(registryMark(cluster, back) == "admitted");
  auto backAgent = masterEntry(cluster, "agents", back);
  REQUIRE(backAgent.is_object());
  CHECK(backAgent["reachable"].get<bool>());
  auto backTask = masterEntry(cluster, "tasks", "aware-back");
  REQUIRE(backTask.is_object());
  CHECK(backTask["state"] == "TASK_RUNNING");

  // Reconciliation now reports the missing agent's tasks unreachable (lost
  // to a framework that is not partition-aware), and the other task running.
  awareDriver->reconcileTasks({query("aware-away", away), query("aware-back", back)});
  plainDriver->reconcileTasks({query("plain-away", away)});
  auto unreachable = aware.waitForState(TaskID{"aware-away"}, TaskState::kUnreachable);
  REQUIRE(unreachable);
  CHECK(std::string(toString(unreachable->reason)) == "REASON_RECONCILIATION");
  auto lost = plain.waitForState(TaskID{"plain-away"}, TaskState::kLost);
  REQUIRE(lost);
  CHECK(std::string(toString(lost->reason)) == "REASON_RECONCILIATION");
  REQUIRE(aware.waitFor([&] { return withReason(aware, "aware-back", TaskReason::kReconciliation) >= 1; }));
  for (const auto& status : aware.statusesOf(TaskID{"aware-back"})) {
    if (status.reason == TaskReason::kReconciliation) CHECK(std::string(toString(status.state)) == "TASK_RUNNING");
  }

  awareDriver->stop();
  plainDriver->stop();
  awareDriver->join();
  plainDriver->join();
}

// docs/sdk-guide.md: "a master that is not there yet is retried until it is".
TEST_CASE("a framework started before its master is up registers once the master comes up, and gets offers") {
  TestCluster cluster;
  // The harness picks the master's address when it first starts it: start
  // it once to fix the address, stop it and forget its work dir, so that
  // nothing listens there when the driver starts and the master it meets
  // later is a new one.
  cluster.startMaster();
  cluster.stopMaster(SIGKILL);
  std::filesystem::remove_all(cluster.dir() + "/master");
  REQUIRE(cluster.masterGet("/health").empty());

  CountingScheduler scheduler;
  launchOne(scheduler, "", "early", "true");
  auto driver = SchedulerDriver::create(&scheduler, frameworkInfo("early-bird"), {.master = cluster.master()});
  REQUIRE(driver->start() == DriverStatus::kRunning);
  // A deliberate negative wait: with no master the driver neither registers
  // nor gives up.
  CHECK_FALSE(scheduler.waitFor([&] { return !scheduler.frameworkId().value.empty(); }, 1500ms));
  CHECK(scheduler.errors().empty());

  cluster.startMaster();
  cluster.startAgent("cpus:1;mem:512;disk:100");
  REQUIRE(scheduler.waitForRegistration());
  const std::string agent = agentId(cluster, 0);
  auto offer = scheduler.waitForOffer(30s);
  REQUIRE(offer);
  CHECK(offer->agentId.value == agent);
  // The offer is good: a task launched on it runs.
  auto finished = scheduler.waitForState(TaskID{"early"}, TaskState::kFinished, 30s);
  REQUIRE(finished);
  INFO(history(scheduler, "early"));

  // One framework, registered once, though its driver asked many times.
  auto state = cluster.state();
  REQUIRE(state.is_object());
  REQUIRE(state["frameworks"].size() == 1);
  CHECK(state["frameworks"][0]["id"] == scheduler.frameworkId().value);
  CHECK(state["frameworks"][0]["connected"].get<bool>());
  CHECK(scheduler.registeredCalls == 1);
  CHECK(scheduler.reregisteredCalls == 0);
  CHECK(scheduler.errors().empty());
  driver->stop();
  driver->join();
}

// docs/operations.md, "Restarting an agent": tasks whose executors died
// meanwhile end TASK_FAILED (REASON_EXECUTOR_TERMINATED). The executor is
// the agent's launcher (which runs every native task's executor), or with
// --native-launcher=process the task's own clusternodes-executor.
TEST_CASE("a task whose executor died while its agent was down fails with REASON_EXECUTOR_TERMINATED, and its process is gone") {
  std::string mode;
  std::string executorMark;
  SUBCASE("the launcher") {
    mode = "shared";
    executorMark = "clusternodes-launcher";
  }
  SUBCASE("an executor process") {
    mode = "process";
    executorMark = "--task-id=orphaned";
  }
  TestCluster cluster;
  // Pings slow enough (12 s of silence) that the master does not notice the
  // agent's restart: the task's end comes from the agent.
  cluster.startMaster({"--agent-ping-timeout=3s"});
  cluster.startAgent("cpus:1;mem:512;disk:100", {"--native-launcher=" + mode});
  cluster.waitForAgents(1);
  const std::string agent = agentId(cluster, 0);

  // The task writes its pid (the shell's, which execs the sleep).
  const std::string pidFile = cluster.dir() + "/orphaned.pid";
  CountingScheduler scheduler;
  launchOne(scheduler, "", "orphaned", "echo $$ > " + pidFile + " && exec sleep 600.27182");
  auto driver = startDriver(scheduler, cluster, "executor-died");
  REQUIRE(scheduler.waitForState(TaskID{"orphaned"}, TaskState::kRunning));

  pid_t executor = 0;
  REQUIRE(eventually([&] {
    auto state = cluster.agentState(0);
    if (!state.is_object()) return false;
    for (const auto& task : state["tasks"]) {
      if (task["id"] == "orphaned") executor = task["executor_pid"].get<pid_t>();
    }
    return executor > 0;
  }));
  pid_t task = 0;
  REQUIRE(eventually([&] {
    std::string text = slurp(pidFile);
    task = text.empty() ? 0 : static_cast<pid_t>(std::atoi(text.c_str()));
    return task > 0 && cmdlineOf(task).find("sleep 600.27182") != std::string::npos;
  }));
  REQUIRE(cmdlineOf(executor).find(executorMark) != std::string::npos);

  cluster.agent(0).signal(SIGKILL);
  REQUIRE(cluster.agent(0).wait(10s) != -1);
  REQUIRE(::kill(executor, SIGKILL) == 0);
  REQUIRE(eventually([&] { return processGone(executor); }, 10s));
  // The task's process runs on in its own session: ending it is the agent's job.
  CHECK_FALSE(processGone(task));
  cluster.restartAgent(0);

  auto end = terminalStatus(scheduler, "orphaned", 30s);
  REQUIRE(end);
  INFO(history(scheduler, "orphaned"));
  CHECK(std::string(toString(end->state)) == "TASK_FAILED");
  CHECK(std::string(toString(end->reason)) == "REASON_EXECUTOR_TERMINATED");
  CHECK(eventually([&] { return processGone(task); }, 15s));
  // The agent came back as itself, and the master never thought it lost.
  CHECK(agentId(cluster, 0) == agent);
  CHECK(cluster.state()["metrics"]["agents_lost"].get<int>() == 0);
  driver->stop();
  driver->join();
}

// docs/operations.md, "Docker": if Docker is not up when the agent starts,
// the agent says so and its Docker tasks fail with a reason.
TEST_CASE("an agent started while Docker is down registers, fails Docker tasks with a reason, and runs native tasks") {
  TestCluster cluster;
  cluster.startMaster();
  const std::string socket = cluster.dir() + "/no-docker.sock";  // nothing listens here
  cluster.startAgent("cpus:1;mem:512;disk:100", {"--containerizers=native,docker", "--docker-socket=" + socket});
  cluster.waitForAgents(1);
  CHECK(eventually([&] {
    return slurp(cluster.agent(0).logFile()).find("Docker does not answer on " + socket) != std::string::npos;
  }));

  CountingScheduler scheduler;
  launchOnOffers(scheduler, {{"", [](const Offer& offer) {
                                TaskInfo inDocker = makeTask("in-docker", offer, "echo from-docker");
                                inDocker.docker = DockerInfo{};
                                inDocker.docker->image = kDockerTestImage;
                                return std::vector<TaskInfo>{inDocker, makeTask("native", offer, "echo native-ran")};
                              }}});
  auto driver = startDriver(scheduler, cluster, "docker-down");

  auto failed = terminalStatus(scheduler, "in-docker", 60s);
  REQUIRE(failed);
  INFO(history(scheduler, "in-docker") << ": " << failed->message);
  CHECK(std::string(toString(failed->state)) == "TASK_FAILED");
  CHECK(std::string(toString(failed->reason)) == "REASON_CONTAINER_LAUNCH_FAILED");
  CHECK(failed->message.find("cannot reach Docker at " + socket) != std::string::npos);

  auto finished = terminalStatus(scheduler, "native", 30s);
  REQUIRE(finished);
  INFO(history(scheduler, "native"));
  CHECK(std::string(toString(finished->state)) == "TASK_FINISHED");
  REQUIRE(finished->exitCode);
  CHECK(*finished->exitCode == 0);
  CHECK(scheduler.waitForState(TaskID{"native"}, TaskState::kRunning, 1s));
  auto agentState = cluster.agentState(0);
  REQUIRE(agentState.is_object());
  CHECK(agentState["registered"].get<bool>());
  driver->stop();
  driver->join();
}
