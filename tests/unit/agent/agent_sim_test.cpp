// The Agent in-process, on simulated time: its master and executor sockets
// are in-memory (tests/harness/fake_transport.hpp), its containerizers
// a double that starts no process, and its clock a SimulatedTime the test
// advances by hand. Each case runs in milliseconds and means the same on
// every run: the retries and backoffs the agent promises its users, what it
// does while its checkpoint cannot be written, and how it registers again
// with a master that came back.
#include <doctest/doctest.h>

#include <uv.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/agent.hpp"
#include "agent/agent_runs.hpp"
#include "tests/harness/fake_transport.hpp"
#include "tests/harness/faulty_file_system.hpp"
#include "tests/harness/simulated_time.hpp"
#include "tests/harness/temp_dir.hpp"

using namespace clusternodes;
using namespace clusternodes::agent;
using clusternodes::testing::FakeTransport;
using clusternodes::testing::FaultyFileSystem;
using clusternodes::testing::FileFaults;
using clusternodes::testing::SimulatedTime;
using clusternodes::testing::TempDir;
using std::chrono::milliseconds;
using std::chrono::seconds;
using wire::text;

namespace {

// Containers that are only records: launch() "starts" an executor with a
// made-up pid, and the test ends it with exit().
class FakeContainerizer final : public Containerizer {
 public:
  struct Container {
    ContainerLaunch launch;
    OnExit onExit;
    bool killed = false;
    bool destroyed = false;
  };

  LaunchResult launch(const ContainerLaunch& launch, OnExit onExit) override {
    containers[launch.containerId] = {launch, std::move(onExit)};
    return {nextPid++, std::nullopt, {}};
  }
  bool recover(const RecoveredContainer& saved, OnExit onExit) override {
    recovered.push_back(saved.containerId);
    if (recoverAlive) containers[saved.containerId].onExit = std::move(onExit);
    return recoverAlive;
  }
  void describe(const std::string&, const ContainerLimits&, wire::ExecutorContainer::Builder) const override {}
  Result<void> update(const std::string&, const ContainerLimits&) override { return {}; }
  void kill(const std::string& id) override { containers[id].killed = true; }
  bool destroy(const std::string& id) override {
    containers[id].destroyed = true;
    return false;
  }
  bool measures(const std::string&) const override { return false; }
  Result<ContainerUsage> usage(const std::string& id) const override { return notFound("not measured: " + id); }

  std::map<std::string, Container> containers;
  std::vector<std::string> recovered;
  bool recoverAlive = true;
  pid_t nextPid = 40000;
};

// ---- messages as the master and an executor send them

std::string agentRegistered(const std::string& agentId, bool again = false) {
  capnp::MallocMessageBuilder message;
  auto registered = message.initRoot<wire::Envelope>().initAgentRegistered();
  registered.setAgentId(agentId);
  // Pings that the tests do not send are not missed for an hour.
  registered.setPingIntervalMs(10 * 60 * 1000);
  registered.setMaxPingTimeouts(5);
  registered.setReregistered(again);
  return wire::encode(message);
}

std::string statusAck(const std::string& frameworkId, const std::string& taskId, const std::string& uuid) {
  capnp::MallocMessageBuilder message;
  auto ack = message.initRoot<wire::Envelope>().initStatusUpdateAck();
  ack.setFrameworkId(frameworkId);
  ack.setTaskId(taskId);
  ack.setUuid(uuid);
  return wire::encode(message);
}

std::string killTask(const std::string& frameworkId, const std::string& taskId) {
  capnp::MallocMessageBuilder message;
  auto kill = message.initRoot<wire::Envelope>().initKillTask();
  kill.setFrameworkId(frameworkId);
  kill.setTaskId(taskId);
  kill.setKillGracePeriodMs(-1);
  return wire::encode(message);
}

std::string reregister(const std::string& reason) {
  capnp::MallocMessageBuilder message;
  message.initRoot<wire::Envelope>().initReregister().setReason(reason);
  return wire::encode(message);
}

// Task `taskId` for its built-in executor, or for the framework's own
// executor `executorId` when one is named.
std::string runTask(const std::string& frameworkId, const std::string& taskId, const std::string& executorId = "") {
  capnp::MallocMessageBuilder message;
  auto run = message.initRoot<wire::Envelope>().initRunTask();
  run.setFrameworkId(frameworkId);
  FrameworkInfo framework;
  framework.name = "sim";
  framework.id.value = frameworkId;
  wire::toWire(framework, run.initFrameworkInfo());
  TaskInfo task;
  task.taskId.value = taskId;
  task.name = taskId;
  task.resources = *Resources::parse("cpus:0.5;mem:64");
  task.command.value = "sleep 1000";
  if (!executorId.empty()) {
    ExecutorInfo executor;
    executor.executorId.value = executorId;
    executor.command.value = "./my-executor";
    executor.resources = *Resources::parse("cpus:0.1;mem:32");
    task.executor = executor;
  }
  wire::toWire(task, run.initTask());
  return wire::encode(message);
}

// A built-in executor registers by executor id, its task's id.
std::string registerExecutor(const std::string& frameworkId, const std::string& taskId) {
  capnp::MallocMessageBuilder message;
  auto registration = message.initRoot<wire::Envelope>().initRegisterExecutor();
  registration.setFrameworkId(frameworkId);
  registration.setExecutorId(taskId);
  registration.setPid(40000);
  return wire::encode(message);
}

// As built-in executors of earlier releases do: by task id.
std::string registerExecutorByTask(const std::string& frameworkId, const std::string& taskId) {
  capnp::MallocMessageBuilder message;
  auto registration = message.initRoot<wire::Envelope>().initRegisterExecutor();
  registration.setFrameworkId(frameworkId);
  registration.setTaskId(taskId);
  registration.setPid(40000);
  return wire::encode(message);
}

std::string executorStatus(const std::string& frameworkId, const std::string& taskId, TaskState state,
                           const std::string& uuid) {
  capnp::MallocMessageBuilder message;
  TaskStatus status;
  status.taskId.value = taskId;
  status.state = state;
  status.source = TaskSource::kExecutor;
  status.uuid = uuid;
  wire::toWire(status, FrameworkID{frameworkId}, message.initRoot<wire::Envelope>().initExecutorStatus().initStatus());
  return wire::encode(message);
}

// ---- what the agent sent

// The sent messages of one kind, decoded.
std::vector<std::unique_ptr<wire::Decoded>> ofKind(const std::vector<FakeTransport::Sent>& sent,
                                                   wire::Envelope::Which which) {
  return FakeTransport::Wire::ofKind(sent, which);
}

// An agent with its environment, started on a work dir that outlives it (so
// that a second one can take over from it).
class SimAgent {
 public:
  SimAgent(Loop& loop, SimulatedTime& time, const std::string& root, std::unique_ptr<FileSystem> files = nullptr,
           int maxStartingExecutors = 0)
      : loop_(loop) {
    std::ofstream(root + "/clusternodes-executor").put('\n');  // start() checks it is there
    AgentFlags flags;
    flags.workDir = root + "/work";
    flags.launcherDir = root;
    flags.httpPort = 0;
    flags.port = 0;
    flags.resources = "cpus:4;mem:4096;disk:1000;ports:[31000-32000]";
    flags.isolation.isolation = "none";
    flags.containerizers = "native";
    flags.maxStartingExecutors = maxStartingExecutors;
    AgentEnvironment environment;
    environment.time = &time;
    auto master = std::make_unique<FakeTransport>();
    auto executors = std::make_unique<FakeTransport>();
    auto native = std::make_unique<FakeContainerizer>();
    master_ = master->wire();
    executors_ = executors->wire();
    native_ = native.get();
    environment.master = std::move(master);
    environment.executors = std::move(executors);
    environment.native = std::move(native);
    environment.docker = std::make_unique<FakeContainerizer>();
    environment.frameworkExecutors = std::make_unique<FakeContainerizer>();
    environment.files = std::move(files);
    agent_ = std::make_unique<Agent>(loop, context_, flags, std::move(environment));
    auto started = agent_->start();
    if (!started) FAIL("the agent did not start: " << started.error().message);
    turn();
  }

  // One turn of the loop: what the agent staged this turn is written, and
  // what waited for it is sent.
  void turn() { uv_run(loop_.raw(), UV_RUN_NOWAIT); }

  // The master's message, then the turn it ends.
  void fromMaster(const std::string& bytes) {
    master_->deliver("", bytes);
    turn();
  }
  void fromExecutor(const std::string& peer, const std::string& bytes) {
    executors_->deliver(peer, bytes);
    turn();
  }

  Agent& agent() { return *agent_; }
  FakeTransport::Wire& master() { return *master_; }
  FakeTransport::Wire& executors() { return *executors_; }
  FakeContainerizer& native() { return *native_; }

 private:
  Loop& loop_;
  zmq::context_t context_{0};
  std::unique_ptr<Agent> agent_;
  std::shared_ptr<FakeTransport::Wire> master_;
  std::shared_ptr<FakeTransport::Wire> executors_;
  FakeContainerizer* native_ = nullptr;
};

// Registers `sim` as agent `agentId` and forgets what it sent until then.
void registerAs(SimAgent& sim, const std::string& agentId) {
  REQUIRE(ofKind(sim.master().takeAll(), wire::Envelope::REGISTER_AGENT).size() == 1);
  sim.fromMaster(agentRegistered(agentId));
  sim.master().takeAll();
}

// Launches task `taskId` of framework "fw" and has its executor register
// from `peer` and report it RUNNING (update `uuid`), which the master
// acknowledges.
void runningTask(SimAgent& sim, const std::string& taskId, const std::string& peer, const std::string& uuid) {
  sim.fromMaster(runTask("fw", taskId));
  REQUIRE(sim.native().containers.size() == 1);
  sim.fromExecutor(peer, registerExecutor("fw", taskId));
  auto sent = sim.executors().takeAll();
  REQUIRE(ofKind(sent, wire::Envelope::EXECUTOR_REGISTERED).size() == 1);
  REQUIRE(ofKind(sent, wire::Envelope::RUN_TASK).size() == 1);
  sim.fromExecutor(peer, executorStatus("fw", taskId, TaskState::kRunning, uuid));
  REQUIRE(ofKind(sim.executors().takeAll(), wire::Envelope::EXECUTOR_ACK).size() == 1);
  REQUIRE(ofKind(sim.master().takeAll(), wire::Envelope::STATUS_UPDATE).size() == 1);
  sim.fromMaster(statusAck("fw", taskId, uuid));
}

}  // namespace

TEST_CASE("agent, simulated: an unacknowledged status update is re-sent after 1 s, then 2, 4, ... up to 32 s, "
          "until the master acknowledges it") {
  TempDir dir("cn-agent-sim");
  Loop loop;
  SimulatedTime time;
  SimAgent sim(loop, time, dir.path);
  registerAs(sim, "agent-1");

  // A kill of a task the agent does not know is answered with TASK_LOST,
  // an update the agent itself makes and must deliver.
  sim.fromMaster(killTask("fw", "ghost"));
  auto first = ofKind(sim.master().takeAll(), wire::Envelope::STATUS_UPDATE);
  REQUIRE(first.size() == 1);
  auto status = wire::fromWire(first[0]->envelope().getStatusUpdate().getStatus());
  CHECK(std::string(toString(status.state)) == "TASK_LOST");
  CHECK((status.reason == TaskReason::kTaskUnknown));
  std::string uuid = status.uuid;

  // --status-update-retry-interval (1 s), doubling up to 32 times it.
  for (int interval : {1, 2, 4, 8, 16, 32, 32, 32}) {
    time.advance(seconds(interval) - milliseconds(1));
    CHECK_MESSAGE(sim.master().takeAll().empty(), "re-sent before " << interval << " s");
    time.advance(milliseconds(1));
    auto again = ofKind(sim.master().takeAll(), wire::Envelope::STATUS_UPDATE);
    REQUIRE_MESSAGE(again.size() == 1, "not re-sent after " << interval << " s");
    CHECK(text(again[0]->envelope().getStatusUpdate().getStatus().getUuid()) == uuid);
  }
  CHECK(sim.agent().metrics().statusUpdateRetries == 8);

  // Acknowledged: never sent again.
  sim.fromMaster(statusAck("fw", "ghost", uuid));
  time.advance(seconds(600));
  CHECK(ofKind(sim.master().takeAll(), wire::Envelope::STATUS_UPDATE).empty());
  CHECK(sim.agent().metrics().statusUpdateRetries == 8);

  // An acknowledgement of another uuid does not stop the retries of the
  // update the agent sent.
  sim.fromMaster(killTask("fw", "ghost-2"));
  auto second = ofKind(sim.master().takeAll(), wire::Envelope::STATUS_UPDATE);
  REQUIRE(second.size() == 1);
  sim.fromMaster(statusAck("fw", "ghost-2", "not-its-uuid"));
  time.advance(seconds(1));
  CHECK(ofKind(sim.master().takeAll(), wire::Envelope::STATUS_UPDATE).size() == 1);
}

TEST_CASE("agent, simulated: while the checkpoint cannot be written an executor's update is neither acknowledged "
          "nor forwarded, /health fails and the failures are counted, and once it can, both happen and nothing is lost") {
  TempDir dir("cn-agent-sim");
  Loop loop;
  SimulatedTime time;
  auto faults = std::make_shared<FileFaults>();
  {
    SimAgent sim(loop, time, dir.path, std::make_unique<FaultyFileSystem>(faults));
    registerAs(sim, "agent-1");
    runningTask(sim, "t1", "exec-1", "u-running");
    CHECK_FALSE(sim.agent().unhealthy().has_value());

    faults->failWrites = true;
    sim.fromExecutor("exec-1", executorStatus("fw", "t1", TaskState::kFinished, "u-finished"));
    CHECK(ofKind(sim.executors().takeAll(), wire::Envelope::EXECUTOR_ACK).empty());
    CHECK(ofKind(sim.master().takeAll(), wire::Envelope::STATUS_UPDATE).empty());
    REQUIRE(sim.agent().unhealthy().has_value());
    CHECK(sim.agent().unhealthy()->find("No space left on device") != std::string::npos);
    uint64_t failures = sim.agent().metrics().checkpointWriteFailures;
    CHECK(failures >= 1);

    // The executor re-sends what it has not heard acknowledged; the agent
    // retries the write on its own. Still nothing is acknowledged.
    for (int i = 0; i < 5; ++i) {
      time.advance(milliseconds(100));
      sim.fromExecutor("exec-1", executorStatus("fw", "t1", TaskState::kFinished, "u-finished"));
    }
    CHECK(ofKind(sim.executors().takeAll(), wire::Envelope::EXECUTOR_ACK).empty());
    CHECK(ofKind(sim.master().takeAll(), wire::Envelope::STATUS_UPDATE).empty());
    CHECK(sim.agent().metrics().checkpointWriteFailures > failures);
    CHECK(sim.agent().unhealthy().has_value());

    faults->failWrites = false;
    time.advance(milliseconds(100));
    sim.turn();
    auto acks = ofKind(sim.executors().takeAll(), wire::Envelope::EXECUTOR_ACK);
    REQUIRE_FALSE(acks.empty());
    for (const auto& ack : acks) CHECK(text(ack->envelope().getExecutorAck().getUuid()) == "u-finished");
    auto forwarded = ofKind(sim.master().takeAll(), wire::Envelope::STATUS_UPDATE);
    REQUIRE(forwarded.size() == 1);  // the re-sends were the same update
    CHECK(text(forwarded[0]->envelope().getStatusUpdate().getStatus().getUuid()) == "u-finished");
    CHECK_FALSE(sim.agent().unhealthy().has_value());
    // The agent stops here, before the framework acknowledged the update.
  }
  SimAgent restarted(loop, time, dir.path);
  auto registration = ofKind(restarted.master().takeAll(), wire::Envelope::REGISTER_AGENT);
  REQUIRE(registration.size() == 1);
  CHECK(text(registration[0]->envelope().getRegisterAgent().getAgentId()) == "agent-1");
  restarted.fromMaster(agentRegistered("agent-1", true));
  auto resent = ofKind(restarted.master().takeAll(), wire::Envelope::STATUS_UPDATE);
  REQUIRE(resent.size() == 1);
  auto status = wire::fromWire(resent[0]->envelope().getStatusUpdate().getStatus());
  CHECK(status.uuid == "u-finished");
  CHECK(std::string(toString(status.state)) == "TASK_FINISHED");
}

TEST_CASE("agent, simulated: when the master's connection comes back, or the master asks, the agent registers "
          "again under its id with its running tasks, retrying with backoff until the master answers") {
  TempDir dir("cn-agent-sim");
  Loop loop;
  SimulatedTime time;
  SimAgent sim(loop, time, dir.path);
  registerAs(sim, "agent-1");
  runningTask(sim, "t1", "exec-1", "u-running");

  auto checkReregistration = [&](const wire::Decoded& decoded) {
    auto registration = decoded.envelope().getRegisterAgent();
    CHECK(text(registration.getAgentId()) == "agent-1");
    REQUIRE(registration.getTasks().size() == 1);
    auto task = registration.getTasks()[0];
    CHECK(text(task.getFrameworkId()) == "fw");
    CHECK(text(task.getTask().getTaskId()) == "t1");
    CHECK(text(task.getState()) == "TASK_RUNNING");
  };

  // The master restarted: its socket connects again.
  sim.master().connectionChanged(true);
  sim.turn();
  auto again = ofKind(sim.master().takeAll(), wire::Envelope::REGISTER_AGENT);
  REQUIRE(again.size() == 1);
  checkReregistration(*again[0]);

  // No answer yet: re-sent after a random delay between the back-off and
  // twice it, the back-off starting at --registration-backoff (1 s) and
  // doubling up to 4 s.
  std::set<int> delays;
  for (int backoff : {1000, 2000, 4000, 4000, 4000, 4000}) {
    time.advance(milliseconds(backoff - 1));
    CHECK_MESSAGE(sim.master().takeAll().empty(), "re-sent before the back-off of " << backoff << " ms");
    int waited = backoff - 1;
    std::vector<std::unique_ptr<wire::Decoded>> retried;
    while (retried.empty() && waited < 2 * backoff) {
      time.advance(milliseconds(1));
      ++waited;
      retried = ofKind(sim.master().takeAll(), wire::Envelope::REGISTER_AGENT);
    }
    REQUIRE_MESSAGE(retried.size() == 1, "not re-sent within twice the back-off of " << backoff << " ms");
    checkReregistration(*retried[0]);
    delays.insert(waited - backoff);
  }
  // Drawn at random, not all at the back-off itself.
  CHECK(delays.size() > 1);
  sim.fromMaster(agentRegistered("agent-1", true));
  time.advance(seconds(60));
  CHECK(ofKind(sim.master().takeAll(), wire::Envelope::REGISTER_AGENT).empty());

  // A master that does not know the agent (it failed over) asks for it.
  sim.fromMaster(reregister("unknown agent"));
  auto asked = ofKind(sim.master().takeAll(), wire::Envelope::REGISTER_AGENT);
  REQUIRE(asked.size() == 1);
  checkReregistration(*asked[0]);

  // A launch while it re-registers is not lost: the task is reported too.
  sim.fromMaster(agentRegistered("agent-1", true));
  sim.fromMaster(runTask("fw", "t2"));
  sim.master().connectionChanged(true);
  sim.turn();
  auto withBoth = ofKind(sim.master().takeAll(), wire::Envelope::REGISTER_AGENT);
  REQUIRE(withBoth.size() == 1);
  CHECK(withBoth[0]->envelope().getRegisterAgent().getTasks().size() == 2);
}

TEST_CASE("agent, simulated: a master silent for longer than its pings allow is registered with again") {
  TempDir dir("cn-agent-sim");
  Loop loop;
  SimulatedTime time;
  SimAgent sim(loop, time, dir.path);
  REQUIRE(ofKind(sim.master().takeAll(), wire::Envelope::REGISTER_AGENT).size() == 1);
  capnp::MallocMessageBuilder message;
  auto registered = message.initRoot<wire::Envelope>().initAgentRegistered();
  registered.setAgentId("agent-1");
  registered.setPingIntervalMs(1000);
  registered.setMaxPingTimeouts(2);
  sim.fromMaster(wire::encode(message));

  // Pings every second keep it registered.
  for (uint64_t sequence = 1; sequence <= 10; ++sequence) {
    time.advance(seconds(1));
    capnp::MallocMessageBuilder ping;
    ping.initRoot<wire::Envelope>().initPing().setSequence(sequence);
    sim.fromMaster(wire::encode(ping));
  }
  auto sent = sim.master().takeAll();
  CHECK(ofKind(sent, wire::Envelope::REGISTER_AGENT).empty());
  CHECK(ofKind(sent, wire::Envelope::PONG).size() == 10);

  // Silence: after (2 + 1) intervals and the check that lets late input in,
  // it registers again.
  time.advance(seconds(3));
  CHECK(ofKind(sim.master().takeAll(), wire::Envelope::REGISTER_AGENT).empty());
  time.advance(seconds(1) + milliseconds(250));
  auto again = ofKind(sim.master().takeAll(), wire::Envelope::REGISTER_AGENT);
  REQUIRE(again.size() == 1);
  CHECK(text(again[0]->envelope().getRegisterAgent().getAgentId()) == "agent-1");
}

TEST_CASE("agent, simulated: absurd ping settings from the master are bounded, and the agent stays registered") {
  TempDir dir("cn-agent-sim");
  Loop loop;
  SimulatedTime time;
  SimAgent sim(loop, time, dir.path);
  REQUIRE(ofKind(sim.master().takeAll(), wire::Envelope::REGISTER_AGENT).size() == 1);
  capnp::MallocMessageBuilder message;
  auto registered = message.initRoot<wire::Envelope>().initAgentRegistered();
  registered.setAgentId("agent-1");
  // Their product overflowed 64 bits: the silence check's deadline wrapped.
  registered.setPingIntervalMs(std::numeric_limits<int64_t>::max());
  registered.setMaxPingTimeouts(std::numeric_limits<uint32_t>::max());
  sim.fromMaster(wire::encode(message));
  time.advance(std::chrono::hours(24));
  capnp::MallocMessageBuilder ping;
  ping.initRoot<wire::Envelope>().initPing().setSequence(1);
  sim.fromMaster(wire::encode(ping));
  auto sent = sim.master().takeAll();
  CHECK(ofKind(sent, wire::Envelope::REGISTER_AGENT).empty());
  CHECK(ofKind(sent, wire::Envelope::PONG).size() == 1);
}

TEST_CASE("agent, simulated: an executor that does not register within --executor-registration-timeout is "
          "killed and its task fails with REASON_EXECUTOR_REGISTRATION_TIMEOUT") {
  TempDir dir("cn-agent-sim");
  Loop loop;
  SimulatedTime time;
  SimAgent sim(loop, time, dir.path);
  registerAs(sim, "agent-1");
  sim.fromMaster(runTask("fw", "t1"));
  REQUIRE(sim.native().containers.size() == 1);
  auto& container = sim.native().containers.begin()->second;

  time.advance(std::chrono::minutes(1) - milliseconds(1));
  sim.turn();
  CHECK_FALSE(container.killed);
  CHECK(ofKind(sim.master().takeAll(), wire::Envelope::STATUS_UPDATE).empty());
  time.advance(milliseconds(1));
  sim.turn();
  CHECK(container.killed);
  auto failed = ofKind(sim.master().takeAll(), wire::Envelope::STATUS_UPDATE);
  REQUIRE(failed.size() == 1);
  auto status = wire::fromWire(failed[0]->envelope().getStatusUpdate().getStatus());
  CHECK(std::string(toString(status.state)) == "TASK_FAILED");
  CHECK((status.reason == TaskReason::kExecutorRegistrationTimeout));

  // Its end removes its container, and a late registration is told to
  // shut down.
  container.onExit(ExitStatus{0, 9});
  sim.turn();
  CHECK(container.destroyed);
  sim.fromExecutor("late", registerExecutor("fw", "t1"));
  CHECK(ofKind(sim.executors().takeAll(), wire::Envelope::SHUTDOWN_EXECUTOR).size() == 1);
}

TEST_CASE("agent, simulated: at most --max-starting-executors executors start at once, the rest wait in order, "
          "and one killed while it waits never starts") {
  TempDir dir("cn-agent-sim");
  Loop loop;
  SimulatedTime time;
  SimAgent sim(loop, time, dir.path, nullptr, 2);
  registerAs(sim, "agent-1");
  for (const char* task : {"t1", "t2", "t3", "t4"}) sim.fromMaster(runTask("fw", task));
  auto launched = [&] {
    std::vector<std::string> tasks;
    for (const auto& [id, container] : sim.native().containers) tasks.push_back(container.launch.taskId.value);
    std::sort(tasks.begin(), tasks.end());
    return tasks;
  };
  CHECK(launched() == std::vector<std::string>{"t1", "t2"});
  CHECK(sim.agent().metrics().launchesQueued == 2);

  // t3 is killed while it waits: TASK_KILLED, and it is never started.
  sim.fromMaster(killTask("fw", "t3"));
  auto killed = ofKind(sim.master().takeAll(), wire::Envelope::STATUS_UPDATE);
  REQUIRE(killed.size() == 1);
  CHECK(std::string(toString(wire::fromWire(killed[0]->envelope().getStatusUpdate().getStatus()).state)) ==
        "TASK_KILLED");

  // t1's task runs: its slot goes to the next in line, t4.
  sim.fromExecutor("exec-1", registerExecutor("fw", "t1"));
  sim.fromExecutor("exec-1", executorStatus("fw", "t1", TaskState::kRunning, "u1"));
  CHECK(launched() == std::vector<std::string>{"t1", "t2", "t4"});
}

TEST_CASE("agent, simulated: a run moves only along its legal phases") {
  using P = RunPhase;
  CHECK(canMove(P::kNew, P::kAwaitingExecutor));
  CHECK(canMove(P::kAwaitingExecutor, P::kLaunched));
  CHECK(canMove(P::kLaunched, P::kExited));
  CHECK(canMove(P::kNew, P::kExited));
  CHECK(canMove(P::kAwaitingExecutor, P::kExited));
  CHECK_FALSE(canMove(P::kExited, P::kLaunched));
  CHECK_FALSE(canMove(P::kExited, P::kAwaitingExecutor));
  CHECK_FALSE(canMove(P::kLaunched, P::kAwaitingExecutor));
  CHECK_FALSE(canMove(P::kNew, P::kLaunched));
}

TEST_CASE("agent, simulated: a built-in executor registers by executor id like any executor: ExecutorRegistered "
          "says how its container is made, its task comes as RunTask (once), a kill as KillTask") {
  TempDir dir("cn-agent-sim");
  Loop loop;
  SimulatedTime time;
  SimAgent sim(loop, time, dir.path);
  registerAs(sim, "agent-1");
  sim.fromMaster(runTask("fw", "t1"));
  REQUIRE(sim.native().containers.size() == 1);
  const auto& [containerId, container] = *sim.native().containers.begin();
  CHECK(container.launch.taskId.value == "t1");

  sim.fromExecutor("exec-1", registerExecutor("fw", "t1"));
  auto sent = sim.executors().takeAll();
  auto registered = ofKind(sent, wire::Envelope::EXECUTOR_REGISTERED);
  REQUIRE(registered.size() == 1);
  auto reply = registered[0]->envelope().getExecutorRegistered();
  CHECK(text(reply.getExecutor().getExecutorId()) == "t1");
  CHECK(text(reply.getAgentId()) == "agent-1");
  CHECK_FALSE(reply.getReregistered());
  CHECK(text(reply.getContainer().getSandbox()) == container.launch.sandbox);
  CHECK(text(reply.getContainer().getSandbox()).find("/sandboxes/fw/t1/" + containerId) != std::string::npos);
  CHECK(reply.getContainer().getKillGracePeriodMs() == 3000);
  auto tasks = ofKind(sent, wire::Envelope::RUN_TASK);
  REQUIRE(tasks.size() == 1);
  CHECK(text(tasks[0]->envelope().getRunTask().getTask().getTaskId()) == "t1");
  CHECK(text(tasks[0]->envelope().getRunTask().getTask().getAgentId()) == "agent-1");

  // A retried registration is answered again, with the task again (the
  // first answer may have been lost; the executor ignores a repeat).
  sim.fromExecutor("exec-1", registerExecutor("fw", "t1"));
  sent = sim.executors().takeAll();
  CHECK(ofKind(sent, wire::Envelope::EXECUTOR_REGISTERED).size() == 1);
  CHECK(ofKind(sent, wire::Envelope::RUN_TASK).size() == 1);

  sim.fromExecutor("exec-1", executorStatus("fw", "t1", TaskState::kRunning, "u1"));
  sim.executors().takeAll();
  sim.fromMaster(killTask("fw", "t1"));
  auto kills = ofKind(sim.executors().takeAll(), wire::Envelope::KILL_TASK);
  REQUIRE(kills.size() == 1);
  CHECK(text(kills[0]->envelope().getKillTask().getTaskId()) == "t1");
  CHECK(kills[0]->envelope().getKillTask().getKillGracePeriodMs() == 3000);
  // Registered again (the answer and the kill may have been lost with a
  // connection): the task and the kill go again.
  sim.fromExecutor("exec-1", registerExecutor("fw", "t1"));
  sent = sim.executors().takeAll();
  CHECK(ofKind(sent, wire::Envelope::RUN_TASK).size() == 1);
  CHECK(ofKind(sent, wire::Envelope::KILL_TASK).size() == 1);

  // Its terminal update, then its end: the container goes, and the task is
  // forgotten once the framework acknowledged the update.
  sim.fromExecutor("exec-1", executorStatus("fw", "t1", TaskState::kKilled, "u2"));
  CHECK(ofKind(sim.executors().takeAll(), wire::Envelope::EXECUTOR_ACK).size() == 1);
  sim.native().containers.begin()->second.onExit(ExitStatus{0, 0});
  sim.turn();
  CHECK(sim.native().containers.begin()->second.destroyed);
  // An executor's end is reported to the master for frameworks' executors
  // only.
  CHECK(ofKind(sim.master().takeAll(), wire::Envelope::EXECUTOR_EXITED).empty());
}

TEST_CASE("agent, simulated: a built-in executor of an earlier release, registered by task id, gets its task as "
          "LaunchCommand and a kill as KillCommand") {
  TempDir dir("cn-agent-sim");
  Loop loop;
  SimulatedTime time;
  SimAgent sim(loop, time, dir.path);
  registerAs(sim, "agent-1");
  sim.fromMaster(runTask("fw", "t1"));
  sim.fromExecutor("old-1", registerExecutorByTask("fw", "t1"));
  auto sent = sim.executors().takeAll();
  CHECK(ofKind(sent, wire::Envelope::EXECUTOR_REGISTERED).empty());
  auto launches = ofKind(sent, wire::Envelope::LAUNCH_COMMAND);
  REQUIRE(launches.size() == 1);
  auto launch = launches[0]->envelope().getLaunchCommand();
  CHECK(text(launch.getTask().getTaskId()) == "t1");
  CHECK(text(launch.getSandbox()).find("/sandboxes/fw/t1/") != std::string::npos);
  CHECK(launch.getKillGracePeriodMs() == 3000);

  sim.fromExecutor("old-1", executorStatus("fw", "t1", TaskState::kRunning, "u1"));
  CHECK(ofKind(sim.executors().takeAll(), wire::Envelope::EXECUTOR_ACK).size() == 1);
  sim.fromMaster(killTask("fw", "t1"));
  auto kills = ofKind(sim.executors().takeAll(), wire::Envelope::KILL_COMMAND);
  REQUIRE(kills.size() == 1);
  CHECK(kills[0]->envelope().getKillCommand().getKillGracePeriodMs() == 3000);
}

TEST_CASE("agent, simulated: after a restart a built-in executor re-registers, hears it was taken back and gets "
          "its task again (which it ignores), and one that does not come back is shut down") {
  TempDir dir("cn-agent-sim");
  Loop loop;
  SimulatedTime time;
  {
    SimAgent sim(loop, time, dir.path);
    registerAs(sim, "agent-1");
    runningTask(sim, "t1", "exec-1", "u1");
    sim.fromMaster(runTask("fw", "t2"));
    sim.fromExecutor("exec-2", registerExecutor("fw", "t2"));
    sim.fromExecutor("exec-2", executorStatus("fw", "t2", TaskState::kRunning, "u2"));
    sim.fromMaster(statusAck("fw", "t2", "u2"));
    // t3 ended and the framework heard it; its executor had not yet exited.
    sim.fromMaster(runTask("fw", "t3"));
    sim.fromExecutor("exec-3", registerExecutor("fw", "t3"));
    sim.fromExecutor("exec-3", executorStatus("fw", "t3", TaskState::kFinished, "u5"));
    sim.fromMaster(statusAck("fw", "t3", "u5"));
  }
  SimAgent restarted(loop, time, dir.path);
  CHECK(restarted.native().recovered.size() == 3);
  restarted.fromMaster(agentRegistered("agent-1", true));
  restarted.fromExecutor("exec-1b", registerExecutor("fw", "t1"));
  auto sent = restarted.executors().takeAll();
  auto registered = ofKind(sent, wire::Envelope::EXECUTOR_REGISTERED);
  REQUIRE(registered.size() == 1);
  CHECK(registered[0]->envelope().getExecutorRegistered().getReregistered());
  REQUIRE(ofKind(sent, wire::Envelope::RUN_TASK).size() == 1);
  // Its updates are heard from its new connection.
  restarted.fromExecutor("exec-1b", executorStatus("fw", "t1", TaskState::kFinished, "u3"));
  CHECK(ofKind(restarted.executors().takeAll(), wire::Envelope::EXECUTOR_ACK).size() == 1);
  auto finished = ofKind(restarted.master().takeAll(), wire::Envelope::STATUS_UPDATE);
  REQUIRE(finished.size() == 1);
  CHECK(text(finished[0]->envelope().getStatusUpdate().getStatus().getUuid()) == "u3");

  // t3's executor is heard (it may have updates to deliver), then told to
  // go: its task ended.
  restarted.fromExecutor("exec-3b", registerExecutor("fw", "t3"));
  sent = restarted.executors().takeAll();
  CHECK(ofKind(sent, wire::Envelope::EXECUTOR_REGISTERED).size() == 1);
  CHECK(ofKind(sent, wire::Envelope::RUN_TASK).empty());
  CHECK(ofKind(sent, wire::Envelope::SHUTDOWN_EXECUTOR).size() == 1);

  // t2's executor never comes back: after --executor-registration-timeout
  // it is shut down (killed: it is not connected).
  time.advance(std::chrono::minutes(1));
  restarted.turn();
  bool t2Killed = false;
  for (const auto& [id, container] : restarted.native().containers) t2Killed |= container.killed;
  CHECK(t2Killed);
}

TEST_CASE("agent, simulated: a framework's executor id that a built-in executor's task holds is refused with "
          "TASK_ERROR, and so is a task whose id a framework's executor holds") {
  TempDir dir("cn-agent-sim");
  Loop loop;
  SimulatedTime time;
  SimAgent sim(loop, time, dir.path);
  registerAs(sim, "agent-1");
  sim.fromMaster(runTask("fw", "t1"));
  sim.fromMaster(runTask("fw", "t2", "t1"));
  sim.fromMaster(runTask("fw", "t3", "ex"));
  sim.fromMaster(runTask("fw", "ex"));
  sim.fromMaster(runTask("fw", "t4", "t1"));
  std::map<std::string, TaskStatus> last;
  auto fromAgent = sim.master().takeAll();
  for (const auto& update : ofKind(fromAgent, wire::Envelope::STATUS_UPDATE)) {
    auto status = wire::fromWire(update->envelope().getStatusUpdate().getStatus());
    last[status.taskId.value] = status;
  }
  REQUIRE(last.count("t2") == 1);
  CHECK(std::string(toString(last["t2"].state)) == "TASK_ERROR");
  CHECK((last["t2"].reason == TaskReason::kInvalidTask));
  CHECK(last["t2"].message.find("executor id t1 is taken") != std::string::npos);
  REQUIRE(last.count("ex") == 1);
  CHECK(std::string(toString(last["ex"].state)) == "TASK_ERROR");
  CHECK(last.count("t1") == 0);
  CHECK(last.count("t3") == 0);
  CHECK(std::string(toString(last["t4"].state)) == "TASK_ERROR");
  // The master, which booked executor t1 with t2's launch, hears once that
  // it is not running here.
  auto exited = ofKind(fromAgent, wire::Envelope::EXECUTOR_EXITED);
  REQUIRE(exited.size() == 1);
  CHECK(text(exited[0]->envelope().getExecutorExited().getExecutorId()) == "t1");

  // Acknowledged, the refused tasks are forgotten (t1, whose built-in
  // executor holds their executor's id, runs on).
  for (const char* task : {"t2", "t4", "ex"}) sim.fromMaster(statusAck("fw", task, last[task].uuid));
  sim.fromMaster(reregister("check"));
  auto again = ofKind(sim.master().takeAll(), wire::Envelope::REGISTER_AGENT);
  REQUIRE(again.size() == 1);
  std::vector<std::string> reported;
  for (auto task : again[0]->envelope().getRegisterAgent().getTasks()) reported.push_back(text(task.getTask().getTaskId()));
  std::sort(reported.begin(), reported.end());
  CHECK(reported == std::vector<std::string>{"t1", "t3"});
}

TEST_CASE("agent, simulated: a framework's shutdown kills its tasks without starting the executors that waited "
          "for a slot") {
  TempDir dir("cn-agent-sim");
  Loop loop;
  SimulatedTime time;
  SimAgent sim(loop, time, dir.path, nullptr, 1);
  registerAs(sim, "agent-1");
  sim.fromMaster(runTask("fw", "a"));
  sim.fromMaster(runTask("fw", "b"));
  REQUIRE(sim.native().containers.size() == 1);
  capnp::MallocMessageBuilder message;
  message.initRoot<wire::Envelope>().initShutdownFramework().setFrameworkId("fw");
  sim.fromMaster(wire::encode(message));
  CHECK(sim.native().containers.size() == 1);
  CHECK(sim.native().containers.begin()->second.launch.taskId.value == "a");
  CHECK(sim.native().containers.begin()->second.killed);
  std::map<std::string, std::string> states;
  for (const auto& update : ofKind(sim.master().takeAll(), wire::Envelope::STATUS_UPDATE)) {
    auto status = wire::fromWire(update->envelope().getStatusUpdate().getStatus());
    states[status.taskId.value] = toString(status.state);
  }
  CHECK(states["a"] == "TASK_KILLED");
  CHECK(states["b"] == "TASK_KILLED");
}

TEST_CASE("agent, simulated: a framework's executor whose tasks were all killed before it registered gives its "
          "start slot to the next executor") {
  TempDir dir("cn-agent-sim");
  Loop loop;
  SimulatedTime time;
  SimAgent sim(loop, time, dir.path, nullptr, 1);
  registerAs(sim, "agent-1");
  sim.fromMaster(runTask("fw", "a", "E"));
  sim.fromMaster(runTask("fw", "b"));
  CHECK(sim.native().containers.empty());  // b waits for E's slot
  sim.fromMaster(killTask("fw", "a"));
  CHECK(sim.native().containers.size() == 1);
  // E registers with nothing to run; it is not sent the killed task.
  sim.fromExecutor("exec-E", registerExecutor("fw", "E"));
  auto sent = sim.executors().takeAll();
  CHECK(ofKind(sent, wire::Envelope::EXECUTOR_REGISTERED).size() == 1);
  CHECK(ofKind(sent, wire::Envelope::RUN_TASK).empty());
}
