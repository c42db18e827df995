// The master in-process, on simulated time and an in-memory transport: what
// agents and frameworks see when agents come back after a master restart,
// go silent, or go for good; when frameworks fail over; and when offers time
// out or lose their agent. Each case runs in milliseconds of real time,
// whatever the timeouts it goes through.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "master/http/metrics.hpp"
#include "master/master.hpp"
#include "tests/harness/faulty_file_system.hpp"
#include "tests/harness/fake_transport.hpp"
#include "tests/harness/simulated_time.hpp"
#include "tests/harness/temp_dir.hpp"

using namespace clusternodes;
using namespace clusternodes::master;
using clusternodes::testing::FakeTransport;
using clusternodes::testing::FaultyFileSystem;
using clusternodes::testing::FileFaults;
using clusternodes::testing::SimulatedTime;
using clusternodes::testing::TempDir;
using std::chrono::milliseconds;
using std::chrono::seconds;
using wire::text;

namespace {

using Sent = std::vector<std::unique_ptr<wire::Decoded>>;

Resources res(const std::string& text) {
  auto parsed = Resources::parse(text);
  REQUIRE(parsed.ok());
  return *parsed;
}

MasterFlags simFlags(const std::string& workDir) {
  MasterFlags flags;
  flags.workDir = workDir;
  flags.port = 0;
  flags.httpPort = -1;  // no HTTP server
  flags.agentPingTimeout = seconds(1);
  flags.maxAgentPingTimeouts = 3;
  flags.frameworkHeartbeatInterval = seconds(1);
  flags.agentRemovalTimeout = seconds(60);
  flags.agentReregisterTimeout = seconds(30);
  return flags;
}

// The messages of `sent` of one kind. The readers point into `sent`, which
// must outlive them (hence no temporaries).
std::vector<wire::Envelope::Reader> ofKind(Sent&& sent, wire::Envelope::Which which) = delete;
// How many messages of `sent` are of one kind.
size_t countOf(const Sent& sent, wire::Envelope::Which which) {
  size_t n = 0;
  for (const auto& m : sent) n += m->which() == which ? 1 : 0;
  return n;
}
std::vector<wire::Envelope::Reader> ofKind(const Sent& sent, wire::Envelope::Which which) {
  std::vector<wire::Envelope::Reader> out;
  for (const auto& m : sent) {
    if (m->which() == which) out.push_back(m->envelope());
  }
  return out;
}

// The task states a framework was told, in order, as "task:STATE".
std::vector<std::string> statesTold(const Sent& sent) {
  std::vector<std::string> out;
  for (auto e : ofKind(sent, wire::Envelope::STATUS_UPDATE)) {
    auto status = e.getStatusUpdate().getStatus();
    out.push_back(text(status.getTaskId()) + ":" + text(status.getState()));
  }
  return out;
}

// The ids of the offers in `sent` (on `agentId` only, when given).
std::vector<std::string> offerIds(const Sent& sent, const std::string& agentId = "") {
  std::vector<std::string> out;
  for (auto e : ofKind(sent, wire::Envelope::RESOURCE_OFFERS)) {
    for (auto offer : e.getResourceOffers().getOffers()) {
      if (agentId.empty() || text(offer.getAgentId()) == agentId) out.push_back(text(offer.getId()));
    }
  }
  return out;
}

TaskInfo sleeper(const std::string& id, const std::string& agentId) {
  TaskInfo task;
  task.name = id;
  task.taskId = TaskID{id};
  task.agentId = AgentID{agentId};
  task.resources = res("cpus:1;mem:128");
  task.command.value = "sleep 1000";
  return task;
}

// One master on simulated time, with the peers a test plays: agents
// (answering pings when `alive`) and frameworks (heartbeating when `alive`).
class Sim {
 public:
  // `files`: what the registry is written through (nullptr: the real disk).
  explicit Sim(SimulatedTime& time, const std::string& workDir, MasterFlags flags,
               std::shared_ptr<FileSystem> files = nullptr)
      : time_(time), flags_(std::move(flags)) {
    flags_.workDir = workDir;
    auto transport = std::make_unique<FakeTransport>();
    wire_ = transport->wire();
    master_ = std::make_unique<Master>(MasterEnvironment{time, std::move(transport), nullptr, std::move(files)},
                                       flags_);
    auto started = master_->start();
    REQUIRE_MESSAGE(started.ok(), (started.ok() ? "" : started.error().message));
  }

  Master& master() { return *master_; }
  FakeTransport::Wire& wire() { return *wire_; }

  // Delivers a message from `peer`, and ends the loop turn (the registry's
  // group commit runs, and what waited on it goes out).
  void deliver(const std::string& peer, capnp::MallocMessageBuilder& message) {
    wire_->deliver(peer, message);
    time_.advance(Duration::zero());
  }
  Sent take(const std::string& peer) { return wire_->take(peer); }

  // Registers an agent (no id: a new one) with `tasks` as it reports them.
  void registerAgent(const std::string& peer, const std::string& agentId,
                     const std::vector<std::pair<FrameworkInfo, TaskInfo>>& running = {}) {
    capnp::MallocMessageBuilder message;
    auto reg = message.initRoot<wire::Envelope>().initRegisterAgent();
    reg.setAgentId(agentId);
    wire::AgentInfoValue info;
    info.hostname = peer + ".example";
    info.resources = res("cpus:4;mem:4096");
    wire::toWire(info, reg.initInfo());
    auto tasks = reg.initTasks(static_cast<unsigned>(running.size()));
    for (unsigned i = 0; i < running.size(); ++i) {
      tasks[i].setFrameworkId(running[i].first.id.value);
      wire::toWire(running[i].second, tasks[i].initTask());
      tasks[i].setState("TASK_RUNNING");
      wire::toWire(running[i].first, tasks[i].initFrameworkInfo());
    }
    deliver(peer, message);
    alive(peer);
  }

  // The id the master gave the agent behind `peer` in its last reply.
  std::string registeredId(const Sent& sent) {
    auto replies = ofKind(sent, wire::Envelope::AGENT_REGISTERED);
    REQUIRE(!replies.empty());
    return text(replies.back().getAgentRegistered().getAgentId());
  }

  // Subscribes a framework; returns its id from SUBSCRIBED.
  std::string subscribe(const std::string& peer, FrameworkInfo info) {
    capnp::MallocMessageBuilder message;
    wire::toWire(info, message.initRoot<wire::Envelope>().initSubscribe().initInfo());
    deliver(peer, message);
    Sent takenReplies = take(peer);

    auto replies = ofKind(takenReplies, wire::Envelope::SUBSCRIBED);
    REQUIRE(replies.size() == 1);
    frameworkIds_[peer] = text(replies[0].getSubscribed().getFrameworkId());
    alive(peer);
    return frameworkIds_[peer];
  }

  void accept(const std::string& peer, const std::vector<std::string>& offers, const std::vector<TaskInfo>& tasks) {
    capnp::MallocMessageBuilder message;
    auto accept = message.initRoot<wire::Envelope>().initAccept();
    accept.setFrameworkId(frameworkIds_.at(peer));
    auto ids = accept.initOfferIds(static_cast<unsigned>(offers.size()));
    for (unsigned i = 0; i < offers.size(); ++i) ids.set(i, offers[i]);
    auto launch = accept.initOperations(1)[0].initLaunch(static_cast<unsigned>(tasks.size()));
    for (unsigned i = 0; i < tasks.size(); ++i) wire::toWire(tasks[i], launch[i]);
    deliver(peer, message);
  }

  void statusUpdate(const std::string& agentPeer, const std::string& frameworkId, const std::string& taskId,
                    const std::string& state, const std::string& uuid) {
    capnp::MallocMessageBuilder message;
    auto update = message.initRoot<wire::Envelope>().initStatusUpdate();
    update.setFrameworkId(frameworkId);
    auto status = update.initStatus();
    status.setTaskId(taskId);
    status.setState(state);
    status.setUuid(uuid);
    status.setSource(1);
    deliver(agentPeer, message);
  }

  void reconcileAll(const std::string& peer) {
    capnp::MallocMessageBuilder message;
    message.initRoot<wire::Envelope>().initReconcile().setFrameworkId(frameworkIds_.at(peer));
    deliver(peer, message);
  }

  // The peer answers pings (an agent) or heartbeats (a framework) from now
  // on, until silent().
  void alive(const std::string& peer) { alive_.insert(peer); }
  void silent(const std::string& peer) { alive_.erase(peer); }

  // Moves time forward in steps of 100 ms; after each, the live agents
  // answer the master's pings and the live frameworks heartbeat.
  void advance(std::chrono::nanoseconds by) {
    auto step = std::chrono::nanoseconds(milliseconds(100));
    for (std::chrono::nanoseconds done{0}; done < by; done += step) {
      time_.advance(std::min(step, by - done));
      for (const auto& peer : alive_) {
        capnp::MallocMessageBuilder message;
        auto envelope = message.initRoot<wire::Envelope>();
        if (auto fw = frameworkIds_.find(peer); fw != frameworkIds_.end()) {
          envelope.initHeartbeat().setFrameworkId(fw->second);
        } else {
          envelope.initPong();
        }
        wire_->deliver(peer, message);
      }
    }
  }

 private:
  SimulatedTime& time_;
  MasterFlags flags_;
  std::shared_ptr<FakeTransport::Wire> wire_;
  std::unique_ptr<Master> master_;
  std::set<std::string> alive_;
  std::map<std::string, std::string> frameworkIds_;  // by peer
};

FrameworkInfo frameworkInfo(const std::string& name, bool partitionAware = false, double failoverTimeout = 0) {
  FrameworkInfo info;
  info.name = name;
  info.user = "nobody";
  info.partitionAware = partitionAware;
  info.failoverTimeoutSeconds = failoverTimeout;
  return info;
}

// Launches `taskId` on the agent behind `agentPeer` from the framework
// behind `frameworkPeer`, and has the agent report it running.
void runTask(Sim& sim, const std::string& frameworkPeer, const std::string& frameworkId,
             const std::string& agentPeer, const std::string& agentId, const std::string& taskId) {
  sim.advance(milliseconds(100));  // an allocation round
  auto offers = offerIds(sim.take(frameworkPeer), agentId);
  REQUIRE(!offers.empty());
  sim.accept(frameworkPeer, {offers.back()}, {sleeper(taskId, agentId)});
  Sent takenToAgent = sim.take(agentPeer);

  auto toAgent = ofKind(takenToAgent, wire::Envelope::RUN_TASK);
  REQUIRE(toAgent.size() == 1);
  sim.statusUpdate(agentPeer, frameworkId, taskId, "TASK_RUNNING", taskId + "-running");
  REQUIRE(statesTold(sim.take(frameworkPeer)) == std::vector<std::string>{taskId + ":TASK_RUNNING"});
}

const Task* findTask(const Master& master, const std::string& frameworkId, const std::string& taskId) {
  auto fw = master.state().frameworks.find(FrameworkID{frameworkId});
  if (fw == master.state().frameworks.end()) return nullptr;
  auto task = fw->second.tasks.find(TaskID{taskId});
  return task == fw->second.tasks.end() ? nullptr : &task->second;
}

}  // namespace

TEST_CASE("sim: after a master restart a returning agent keeps its tasks, a missing one is unreachable in time") {
  SimulatedTime time;
  TempDir dir("cn-master-sim");
  auto flags = simFlags(dir.path);
  std::string keeperId, laggardId, frameworkId;
  FrameworkInfo info = frameworkInfo("keeper", false, 3600);
  {
    Sim first(time, dir.path, flags);
    first.registerAgent("agent-1", "");
    keeperId = first.registeredId(first.take("agent-1"));
    first.registerAgent("agent-2", "");
    laggardId = first.registeredId(first.take("agent-2"));
    frameworkId = first.subscribe("fw-1", info);
    runTask(first, "fw-1", frameworkId, "agent-1", keeperId, "t1");
  }  // the master stops; its registry stays in the work dir

  Sim second(time, dir.path, flags);
  const auto& registry = second.master().registry();
  REQUIRE(registry.agent(AgentID{keeperId}) != nullptr);
  REQUIRE(registry.agent(AgentID{laggardId}) != nullptr);

  second.advance(seconds(5));
  info.id = FrameworkID{frameworkId};
  second.registerAgent("agent-1b", keeperId, {{info, sleeper("t1", keeperId)}});
  Sent takenReply = second.take("agent-1b");

  auto reply = ofKind(takenReply, wire::Envelope::AGENT_REGISTERED);
  REQUIRE(reply.size() == 1);
  CHECK(text(reply[0].getAgentRegistered().getAgentId()) == keeperId);
  CHECK(reply[0].getAgentRegistered().getReregistered());

  // It keeps its task: the master knows it running there and kills nothing.
  const Task* task = findTask(second.master(), frameworkId, "t1");
  REQUIRE(task != nullptr);
  CHECK(toString(task->state) == std::string("TASK_RUNNING"));
  CHECK(task->info.agentId.value == keeperId);
  CHECK(second.master().state().agents.at(AgentID{keeperId}).tasks.size() == 1);

  // The other agent has until the timeout (30 s from the restart).
  second.advance(seconds(24));
  CHECK(registry.agent(AgentID{laggardId})->mark == AgentMark::kAdmitted);
  CHECK(second.master().state().metrics.agentsLost == 0);
  second.advance(seconds(2));
  CHECK(registry.agent(AgentID{laggardId})->mark == AgentMark::kUnreachable);
  CHECK(registry.agent(AgentID{keeperId})->mark == AgentMark::kAdmitted);
  CHECK(second.master().state().metrics.agentsLost == 1);

  // Meanwhile the re-registered agent was told nothing to stop.
  auto toKeeper = second.take("agent-1b");
  CHECK(ofKind(toKeeper, wire::Envelope::KILL_TASK).empty());
  CHECK(ofKind(toKeeper, wire::Envelope::SHUTDOWN_FRAMEWORK).empty());
  CHECK(ofKind(toKeeper, wire::Envelope::SHUTDOWN_AGENT).empty());
  CHECK(findTask(second.master(), frameworkId, "t1") != nullptr);
}

TEST_CASE("sim: a silent agent is unreachable then gone, its tasks UNREACHABLE then GONE, or LOST once") {
  SimulatedTime time;
  TempDir dir("cn-master-sim");
  Sim sim(time, dir.path, simFlags(dir.path));
  sim.registerAgent("agent-1", "");
  std::string agentId = sim.registeredId(sim.take("agent-1"));
  std::string aware = sim.subscribe("fw-aware", frameworkInfo("aware", true));
  runTask(sim, "fw-aware", aware, "agent-1", agentId, "a1");
  std::string plain = sim.subscribe("fw-plain", frameworkInfo("plain", false));
  runTask(sim, "fw-plain", plain, "agent-1", agentId, "p1");

  sim.silent("agent-1");
  sim.advance(seconds(2));
  CHECK(sim.master().state().agents.at(AgentID{agentId}).reachable);  // two missed pings of three
  sim.advance(seconds(2));
  CHECK_FALSE(sim.master().state().agents.at(AgentID{agentId}).reachable);
  CHECK(sim.master().registry().agent(AgentID{agentId})->mark == AgentMark::kUnreachable);

  auto toAware = sim.take("fw-aware");
  auto toPlain = sim.take("fw-plain");
  CHECK(statesTold(toAware) == std::vector<std::string>{"a1:TASK_UNREACHABLE"});
  CHECK(statesTold(toPlain) == std::vector<std::string>{"p1:TASK_LOST"});
  CHECK(ofKind(toAware, wire::Envelope::AGENT_LOST).size() == 1);
  CHECK(ofKind(toPlain, wire::Envelope::AGENT_LOST).size() == 1);
  // The partition-aware task is kept (it may come back); the other is over.
  REQUIRE(findTask(sim.master(), aware, "a1") != nullptr);
  CHECK(toString(findTask(sim.master(), aware, "a1")->state) == std::string("TASK_UNREACHABLE"));
  CHECK(findTask(sim.master(), plain, "p1") == nullptr);

  sim.advance(seconds(55));
  CHECK(sim.master().registry().agent(AgentID{agentId})->mark == AgentMark::kUnreachable);
  sim.advance(seconds(6));
  CHECK(sim.master().registry().agent(AgentID{agentId})->mark == AgentMark::kGone);
  CHECK(sim.master().state().agents.count(AgentID{agentId}) == 0);
  CHECK(statesTold(sim.take("fw-aware")) == std::vector<std::string>{"a1:TASK_GONE"});
  CHECK(statesTold(sim.take("fw-plain")).empty());  // LOST once, not again
  CHECK(findTask(sim.master(), aware, "a1") == nullptr);
  CHECK(sim.master().state().metrics.agentsGone == 1);

  // Back from the partition, it is told to shut down (and register anew).
  sim.registerAgent("agent-1", agentId);
  auto reply = sim.take("agent-1");
  CHECK(ofKind(reply, wire::Envelope::SHUTDOWN_AGENT).size() == 1);
  CHECK(ofKind(reply, wire::Envelope::AGENT_REGISTERED).empty());
}

TEST_CASE("sim: a framework failing over within its timeout keeps its tasks, past it they are shut down") {
  SimulatedTime time;
  TempDir dir("cn-master-sim");
  Sim sim(time, dir.path, simFlags(dir.path));
  sim.registerAgent("agent-1", "");
  std::string agentId = sim.registeredId(sim.take("agent-1"));
  FrameworkInfo info = frameworkInfo("failover", false, 10);
  std::string id = sim.subscribe("fw-1", info);
  runTask(sim, "fw-1", id, "agent-1", agentId, "t1");

  SUBCASE("within the timeout") {
    sim.silent("fw-1");
    sim.advance(seconds(5));  // disconnected after 3 silent heartbeats
    CHECK_FALSE(sim.master().state().frameworks.at(FrameworkID{id}).connected);
    info.id = FrameworkID{id};
    CHECK(sim.subscribe("fw-1b", info) == id);
    sim.advance(seconds(20));
    CHECK(sim.master().state().frameworks.at(FrameworkID{id}).connected);
    CHECK(countOf(sim.take("agent-1"), wire::Envelope::SHUTDOWN_FRAMEWORK) == 0);
    sim.take("fw-1b");
    sim.reconcileAll("fw-1b");
    CHECK(statesTold(sim.take("fw-1b")) == std::vector<std::string>{"t1:TASK_RUNNING"});
  }

  SUBCASE("past the timeout") {
    sim.silent("fw-1");
    sim.advance(seconds(12));  // 3-4 s to notice, then 10 s of failover timeout
    CHECK(sim.master().state().frameworks.count(FrameworkID{id}) == 1);
    sim.advance(seconds(4));
    CHECK(sim.master().state().frameworks.count(FrameworkID{id}) == 0);
    CHECK(sim.master().registry().frameworks().count(FrameworkID{id}) == 0);
    Sent takenShutdowns = sim.take("agent-1");

    auto shutdowns = ofKind(takenShutdowns, wire::Envelope::SHUTDOWN_FRAMEWORK);
    REQUIRE(shutdowns.size() == 1);
    CHECK(text(shutdowns[0].getShutdownFramework().getFrameworkId()) == id);
    CHECK(sim.master().state().agents.at(AgentID{agentId}).tasks.empty());

    info.id = FrameworkID{id};
    capnp::MallocMessageBuilder message;
    wire::toWire(info, message.initRoot<wire::Envelope>().initSubscribe().initInfo());
    sim.deliver("fw-1c", message);
    auto reply = sim.take("fw-1c");
    CHECK(ofKind(reply, wire::Envelope::SUBSCRIBED).empty());
    CHECK(ofKind(reply, wire::Envelope::FRAMEWORK_ERROR).size() == 1);
  }
}

TEST_CASE("sim: an offer unanswered for --offer-timeout is rescinded, offered anew, and useless to accept") {
  SimulatedTime time;
  TempDir dir("cn-master-sim");
  auto flags = simFlags(dir.path);
  flags.offerTimeout = seconds(5);
  Sim sim(time, dir.path, flags);
  sim.registerAgent("agent-1", "");
  std::string agentId = sim.registeredId(sim.take("agent-1"));
  sim.subscribe("fw-1", frameworkInfo("slow"));
  sim.advance(milliseconds(100));
  auto first = offerIds(sim.take("fw-1"));
  REQUIRE(first.size() == 1);

  sim.advance(seconds(4));
  CHECK(countOf(sim.take("fw-1"), wire::Envelope::RESCIND_OFFER) == 0);
  sim.advance(seconds(3));
  auto sent = sim.take("fw-1");
  auto rescinds = ofKind(sent, wire::Envelope::RESCIND_OFFER);
  REQUIRE(rescinds.size() == 1);
  CHECK(text(rescinds[0].getRescindOffer().getOfferId()) == first[0]);
  auto again = offerIds(sent);
  REQUIRE(again.size() == 1);  // the same resources, in a new offer
  CHECK(again[0] != first[0]);

  sim.accept("fw-1", {first[0]}, {sleeper("late", agentId)});
  CHECK(statesTold(sim.take("fw-1")) == std::vector<std::string>{"late:TASK_DROPPED"});
  CHECK(countOf(sim.take("agent-1"), wire::Envelope::RUN_TASK) == 0);
}

TEST_CASE("sim: offers on an agent that goes away are rescinded, and not offered again") {
  SimulatedTime time;
  TempDir dir("cn-master-sim");
  Sim sim(time, dir.path, simFlags(dir.path));
  sim.registerAgent("agent-1", "");
  sim.take("agent-1");
  sim.subscribe("fw-1", frameworkInfo("watcher"));
  sim.advance(milliseconds(100));
  auto offers = offerIds(sim.take("fw-1"));
  REQUIRE(offers.size() == 1);

  sim.silent("agent-1");
  sim.advance(seconds(4));
  auto sent = sim.take("fw-1");
  auto rescinds = ofKind(sent, wire::Envelope::RESCIND_OFFER);
  REQUIRE(rescinds.size() == 1);
  CHECK(text(rescinds[0].getRescindOffer().getOfferId()) == offers[0]);
  CHECK(ofKind(sent, wire::Envelope::AGENT_LOST).size() == 1);
  CHECK(offerIds(sent).empty());
  CHECK(sim.master().state().offers.empty());
}

// ------------------------------------------------------------ durable before acknowledged

namespace {

// What a new master would recover from the work dir now.
Registry onDisk(const std::string& workDir) {
  Registry registry(makeFileStore(workDir));
  auto recovered = registry.recover();
  REQUIRE(recovered.ok());
  return registry;
}

bool exposes(const Master& master, const std::string& series) {
  return metricsText(master).find(series + "\n") != std::string::npos;
}

}  // namespace

TEST_CASE("sim: an agent is answered only once its admission is on disk, however long the registry fails") {
  SimulatedTime time;
  TempDir dir("cn-master-sim");
  auto faults = std::make_shared<FileFaults>();
  Sim sim(time, dir.path, simFlags(dir.path), std::make_shared<FaultyFileSystem>(faults));
  CHECK(exposes(sim.master(), "clusternodes_master_registry_failing 0"));

  faults->failWrites = true;
  sim.registerAgent("agent-1", "");
  sim.silent("agent-1");  // an agent answers no ping before it is registered
  CHECK(countOf(sim.take("agent-1"), wire::Envelope::AGENT_REGISTERED) == 0);
  CHECK(sim.master().registryFailing());  // /health answers 503
  CHECK(exposes(sim.master(), "clusternodes_master_registry_failing 1"));
  CHECK(exposes(sim.master(), "clusternodes_master_registry_write_failures_total 1"));

  // The agent retries; the master retries its write every second, and does
  // not count the pings an agent it has not answered cannot answer.
  sim.advance(seconds(5));
  sim.registerAgent("agent-1", "");
  sim.silent("agent-1");
  CHECK(countOf(sim.take("agent-1"), wire::Envelope::AGENT_REGISTERED) == 0);
  CHECK(sim.master().state().agents.size() == 1);
  CHECK(sim.master().state().metrics.registryWriteFailures >= 3);
  CHECK(onDisk(dir.path).agents().empty());

  faults->failWrites = false;
  sim.advance(seconds(1));
  Sent takenReplies = sim.take("agent-1");

  auto replies = ofKind(takenReplies, wire::Envelope::AGENT_REGISTERED);
  REQUIRE(!replies.empty());
  std::string id = text(replies[0].getAgentRegistered().getAgentId());
  for (auto reply : replies) CHECK(text(reply.getAgentRegistered().getAgentId()) == id);  // one agent
  CHECK(onDisk(dir.path).agent(AgentID{id}) != nullptr);
  CHECK(onDisk(dir.path).agents().size() == 1);
  CHECK(sim.master().state().agents.at(AgentID{id}).reachable);
  CHECK_FALSE(sim.master().registryFailing());
  CHECK(exposes(sim.master(), "clusternodes_master_registry_failing 0"));
}

TEST_CASE("sim: a framework is told SUBSCRIBED, and offered resources, only once it is on disk") {
  SimulatedTime time;
  TempDir dir("cn-master-sim");
  auto faults = std::make_shared<FileFaults>();
  Sim sim(time, dir.path, simFlags(dir.path), std::make_shared<FaultyFileSystem>(faults));
  sim.registerAgent("agent-1", "");
  sim.take("agent-1");

  faults->failWrites = true;
  capnp::MallocMessageBuilder message;
  wire::toWire(frameworkInfo("patient", false, 60), message.initRoot<wire::Envelope>().initSubscribe().initInfo());
  sim.deliver("fw-1", message);
  sim.advance(seconds(2));
  auto before = sim.take("fw-1");
  CHECK(ofKind(before, wire::Envelope::SUBSCRIBED).empty());
  CHECK(offerIds(before).empty());

  faults->failWrites = false;
  sim.advance(milliseconds(1500));  // the next retry, then an allocation round
  auto after = sim.take("fw-1");
  auto subscribed = ofKind(after, wire::Envelope::SUBSCRIBED);
  REQUIRE(subscribed.size() == 1);
  CHECK(offerIds(after).size() == 1);
  std::string id = text(subscribed[0].getSubscribed().getFrameworkId());
  CHECK(onDisk(dir.path).frameworks().count(FrameworkID{id}) == 1);
}

TEST_CASE("sim: the registry changes of one loop turn are written to disk once") {
  SimulatedTime time;
  TempDir dir("cn-master-sim");
  auto faults = std::make_shared<FileFaults>();
  Sim sim(time, dir.path, simFlags(dir.path), std::make_shared<FaultyFileSystem>(faults));
  int before = faults->writes;
  for (int i = 0; i < 5; ++i) {
    capnp::MallocMessageBuilder message;
    auto reg = message.initRoot<wire::Envelope>().initRegisterAgent();
    wire::AgentInfoValue info;
    info.hostname = "host-" + std::to_string(i);
    info.resources = res("cpus:1;mem:512");
    wire::toWire(info, reg.initInfo());
    sim.wire().deliver("agent-" + std::to_string(i), message);  // all in one turn
  }
  time.advance(Duration::zero());  // the turn ends
  CHECK(faults->writes - before == 1);
  for (int i = 0; i < 5; ++i) {
    CHECK(countOf(sim.take("agent-" + std::to_string(i)), wire::Envelope::AGENT_REGISTERED) == 1);
  }
  CHECK(onDisk(dir.path).agents().size() == 5);
}

TEST_CASE("sim: a framework hears its tasks LOST with their agent only once the agent's mark is on disk") {
  SimulatedTime time;
  TempDir dir("cn-master-sim");
  auto faults = std::make_shared<FileFaults>();
  Sim sim(time, dir.path, simFlags(dir.path), std::make_shared<FaultyFileSystem>(faults));
  sim.registerAgent("agent-1", "");
  std::string id = sim.registeredId(sim.take("agent-1"));
  std::string framework = sim.subscribe("fw-1", frameworkInfo("plain"));
  runTask(sim, "fw-1", framework, "agent-1", id, "t1");

  faults->failWrites = true;
  sim.silent("agent-1");
  sim.advance(seconds(5));
  CHECK_FALSE(sim.master().state().agents.at(AgentID{id}).reachable);
  CHECK(onDisk(dir.path).agent(AgentID{id})->mark == AgentMark::kAdmitted);  // not on disk yet
  // A master restarted now would take the agent and its task back: the
  // framework must not have been told the task is lost.
  auto meanwhile = sim.take("fw-1");
  CHECK(statesTold(meanwhile).empty());
  CHECK(ofKind(meanwhile, wire::Envelope::AGENT_LOST).empty());

  faults->failWrites = false;
  sim.advance(seconds(1));
  CHECK(onDisk(dir.path).agent(AgentID{id})->mark == AgentMark::kUnreachable);
  auto after = sim.take("fw-1");
  CHECK(statesTold(after) == std::vector<std::string>{"t1:TASK_LOST"});
  CHECK(ofKind(after, wire::Envelope::AGENT_LOST).size() == 1);
}

TEST_CASE("sim: an agent's resources are offered only once its admission is on disk") {
  SimulatedTime time;
  TempDir dir("cn-master-sim");
  auto faults = std::make_shared<FileFaults>();
  Sim sim(time, dir.path, simFlags(dir.path), std::make_shared<FaultyFileSystem>(faults));
  sim.subscribe("fw-1", frameworkInfo("hungry"));

  faults->failWrites = true;
  sim.registerAgent("agent-1", "");
  sim.silent("agent-1");
  sim.advance(seconds(3));
  CHECK(offerIds(sim.take("fw-1")).empty());

  faults->failWrites = false;
  sim.advance(milliseconds(1500));
  std::string id = sim.registeredId(sim.take("agent-1"));
  CHECK(offerIds(sim.take("fw-1"), id).size() == 1);
}

TEST_CASE("sim: a framework that subscribes again has the offers it held taken back and offered afresh after "
          "SUBSCRIBED") {
  SimulatedTime time;
  TempDir dir("cn-master-sim");
  Sim sim(time, dir.path, simFlags(dir.path));
  sim.registerAgent("agent-1", "");
  sim.take("agent-1");
  std::string id = sim.subscribe("fw-1", frameworkInfo("told-to-resubscribe"));
  sim.advance(milliseconds(100));
  auto first = offerIds(sim.take("fw-1"));
  REQUIRE(first.size() == 1);

  // The driver re-subscribes on the same connection (the master asked it
  // to, or its reply seemed lost); it drops offers meanwhile. Without a
  // failover timeout nothing else would ever take the offer back.
  FrameworkInfo again = frameworkInfo("told-to-resubscribe");
  again.id.value = id;
  capnp::MallocMessageBuilder message;
  wire::toWire(again, message.initRoot<wire::Envelope>().initSubscribe().initInfo());
  sim.deliver("fw-1", message);
  sim.advance(milliseconds(100));
  auto sent = sim.take("fw-1");
  REQUIRE(countOf(sent, wire::Envelope::SUBSCRIBED) == 1);
  auto rescinds = ofKind(sent, wire::Envelope::RESCIND_OFFER);
  REQUIRE(rescinds.size() == 1);
  CHECK(text(rescinds[0].getRescindOffer().getOfferId()) == first[0]);
  auto fresh = offerIds(sent);
  REQUIRE(fresh.size() == 1);  // the same resources, in a new offer
  CHECK(fresh[0] != first[0]);

  // A retried first subscription (no id: its SUBSCRIBED seemed lost) keeps
  // the offers it was made: it may be accepting them.
  sim.registerAgent("agent-2", "");
  sim.take("agent-2");
  sim.subscribe("fw-2", frameworkInfo("retrying"));
  sim.advance(milliseconds(100));
  sim.take("fw-1");
  auto made = offerIds(sim.take("fw-2"));
  REQUIRE(made.size() == 1);
  capnp::MallocMessageBuilder retry;
  wire::toWire(frameworkInfo("retrying"), retry.initRoot<wire::Envelope>().initSubscribe().initInfo());
  sim.deliver("fw-2", retry);
  sim.advance(milliseconds(100));
  CHECK(countOf(sim.take("fw-2"), wire::Envelope::RESCIND_OFFER) == 0);
}

TEST_CASE("sim: with ACLs a task runs only as a user its framework's principal may use, never as no one named") {
  SimulatedTime time;
  TempDir dir("cn-master-sim");
  auto flags = simFlags(dir.path);
  // Links are not authenticated here: the principal is anonymous ("*").
  flags.aclsFile = dir.path + "/acls.toml";
  std::ofstream(flags.aclsFile) << "[[register_framework]]\nprincipals = [\"*\"]\nroles = [\"*\"]\n\n"
                                   "[[run_task]]\nprincipals = [\"*\"]\nusers = [\"*\"]\n";
  Sim sim(time, dir.path, flags);
  sim.registerAgent("agent-1", "");
  std::string agentId = sim.registeredId(sim.take("agent-1"));
  FrameworkInfo info = frameworkInfo("users");  // its user: nobody
  sim.subscribe("fw-1", info);
  sim.advance(milliseconds(100));
  auto offers = offerIds(sim.take("fw-1"));
  REQUIRE(offers.size() == 1);

  TaskInfo asFramework = sleeper("as-nobody", agentId);
  TaskInfo asRoot = sleeper("as-root", agentId);
  asRoot.command.user = "root";
  TaskInfo badName = sleeper("bad-name", agentId);
  badName.command.user = "../etc";
  sim.accept("fw-1", offers, {asFramework, asRoot, badName});
  auto sent = sim.take("fw-1");
  CHECK(statesTold(sent) == std::vector<std::string>{"as-root:TASK_ERROR", "bad-name:TASK_ERROR"});
  for (auto e : ofKind(sent, wire::Envelope::STATUS_UPDATE)) {
    auto status = e.getStatusUpdate().getStatus();
    if (text(status.getTaskId()) == "as-root") {
      CHECK(text(status.getReason()) == "REASON_TASK_UNAUTHORIZED");
      CHECK(text(status.getMessage()).find("an anonymous peer may not run tasks as user 'root' (no [[run_task]]") !=
            std::string::npos);
    } else {
      CHECK(text(status.getReason()) == "REASON_INVALID_TASK");
      CHECK(text(status.getMessage()).find("task's user '../etc' has a character outside") == 0);
    }
  }
  CHECK(countOf(sim.take("agent-1"), wire::Envelope::RUN_TASK) == 1);
  CHECK(sim.master().state().metrics.aclDenials.at("run_task") == 1);

  // A framework that names no user, nor do its tasks: refused with the ACLs.
  FrameworkInfo nameless = frameworkInfo("nameless");
  nameless.user.clear();
  sim.subscribe("fw-2", nameless);
  sim.advance(seconds(6));
  auto more = offerIds(sim.take("fw-2"));
  REQUIRE(!more.empty());
  sim.accept("fw-2", {more.front()}, {sleeper("no-user", agentId)});
  auto refused = sim.take("fw-2");
  CHECK(statesTold(refused) == std::vector<std::string>{"no-user:TASK_ERROR"});
  auto updates = ofKind(refused, wire::Envelope::STATUS_UPDATE);
  REQUIRE(updates.size() == 1);
  CHECK(text(updates[0].getStatusUpdate().getStatus().getMessage()).find("names no user to run as") !=
        std::string::npos);
}

TEST_CASE("sim: a refused RESERVE or UNRESERVE is answered to the framework with the reason, and nothing is applied") {
  SimulatedTime time;
  TempDir dir("cn-master-sim");
  auto flags = simFlags(dir.path);
  flags.aclsFile = dir.path + "/acls.toml";
  // Anonymous frameworks may use role eng but not reserve there.
  std::ofstream(flags.aclsFile) << "[[register_framework]]\nprincipals = [\"*\"]\nroles = [\"*\"]\n\n"
                                   "[[reserve]]\nprincipals = [\"ops\"]\nroles = [\"*\"]\n";
  Sim sim(time, dir.path, flags);
  sim.registerAgent("agent-1", "");
  std::string agentId = sim.registeredId(sim.take("agent-1"));
  FrameworkInfo info = frameworkInfo("reserver");
  info.role = "eng";
  std::string frameworkId = sim.subscribe("fw-1", info);
  sim.advance(milliseconds(100));
  auto offers = offerIds(sim.take("fw-1"));
  REQUIRE(offers.size() == 1);

  auto acceptWith = [&](const std::vector<std::string>& ids, bool reserve, const std::string& resources) {
    capnp::MallocMessageBuilder message;
    auto accept = message.initRoot<wire::Envelope>().initAccept();
    accept.setFrameworkId(frameworkId);
    auto list = accept.initOfferIds(static_cast<unsigned>(ids.size()));
    for (unsigned i = 0; i < ids.size(); ++i) list.set(i, ids[i]);
    auto operation = accept.initOperations(1)[0];
    wire::setResources(*Resources::parse(resources),
                       [&](unsigned n) { return reserve ? operation.initReserve(n) : operation.initUnreserve(n); });
    sim.deliver("fw-1", message);
  };
  acceptWith(offers, true, "cpus(eng):1");
  auto sent = sim.take("fw-1");
  auto refused = ofKind(sent, wire::Envelope::OPERATION_REFUSED);
  REQUIRE(refused.size() == 1);
  CHECK(text(refused[0].getOperationRefused().getOperation()) == "RESERVE");
  CHECK(text(refused[0].getOperationRefused().getReason())
            .find("an anonymous peer may not reserve resources for role 'eng' (no [[reserve]] rule") !=
        std::string::npos);
  CHECK(sim.master().registry().reservations(AgentID{agentId}).empty());
  CHECK(sim.master().state().metrics.aclDenials.at("reserve") == 1);

  // One the offers cannot cover, from the next offer: refused, and said so.
  sim.advance(seconds(6));
  auto next = offerIds(sim.take("fw-1"));
  REQUIRE(!next.empty());
  acceptWith({next.front()}, false, "cpus(eng):1");
  auto later = sim.take("fw-1");
  auto again = ofKind(later, wire::Envelope::OPERATION_REFUSED);
  REQUIRE(again.size() == 1);
  CHECK(text(again[0].getOperationRefused().getOperation()) == "UNRESERVE");
  CHECK(text(again[0].getOperationRefused().getReason()).find("UNRESERVE") != std::string::npos);
}

TEST_CASE("sim: a framework that subscribes again on a new connection hears SUBSCRIBED first, and the old one the rescinds") {
  SimulatedTime time;
  TempDir dir("cn-master-sim");
  Sim sim(time, dir.path, simFlags(dir.path));
  sim.registerAgent("agent-1", "");
  FrameworkInfo info = frameworkInfo("moving", false, 60);
  std::string id = sim.subscribe("fw-old", info);
  sim.advance(milliseconds(100));
  auto offers = offerIds(sim.take("fw-old"));
  REQUIRE(!offers.empty());

  info.id = FrameworkID{id};
  capnp::MallocMessageBuilder message;
  wire::toWire(info, message.initRoot<wire::Envelope>().initSubscribe().initInfo());
  sim.deliver("fw-new", message);
  Sent toNew = sim.take("fw-new");
  REQUIRE(!toNew.empty());
  CHECK(toNew.front()->which() == wire::Envelope::SUBSCRIBED);  // the Mesos API's first event must be it
  CHECK(countOf(toNew, wire::Envelope::RESCIND_OFFER) == 0);
  Sent toOld = sim.take("fw-old");
  CHECK(countOf(toOld, wire::Envelope::RESCIND_OFFER) == offers.size());
}

TEST_CASE("sim: the HTTP scheduler API's peers: a closed stream disconnects its framework at once, a ZeroMQ look-alike is dropped") {
  SimulatedTime time;
  TempDir dir("cn-master-sim");
  Sim sim(time, dir.path, simFlags(dir.path));
  const std::string streamPeer("\0http/0b7c", 10);
  CHECK(isHttpPeer(streamPeer));
  CHECK_FALSE(isHttpPeer(std::string("\0\x12\x34\x56\x78", 5)));  // a ZeroMQ-made identity
  CHECK_FALSE(isHttpPeer("http/0b7c"));

  capnp::MallocMessageBuilder message;
  wire::toWire(frameworkInfo("over-http", false, 60), message.initRoot<wire::Envelope>().initSubscribe().initInfo());
  std::string bytes = wire::encode(message);

  SUBCASE("a ZeroMQ peer may not take an HTTP stream's name") {
    uint64_t dropped = sim.master().droppedMessages();
    sim.wire().deliver(streamPeer, message);
    time.advance(Duration::zero());
    CHECK(sim.master().droppedMessages() == dropped + 1);
    CHECK(sim.master().state().frameworks.empty());
  }

  SUBCASE("the stream's framework is connected until the stream closes") {
    sim.master().fromHttpScheduler(streamPeer, "", bytes);
    time.advance(Duration::zero());
    REQUIRE(sim.master().state().frameworks.size() == 1);
    const auto& fw = sim.master().state().frameworks.begin()->second;
    CHECK(fw.connected);
    CHECK(fw.peer == streamPeer);
    sim.master().httpSchedulerGone(streamPeer);
    CHECK_FALSE(sim.master().state().frameworks.begin()->second.connected);  // at once, not after missed heartbeats
    CHECK(sim.master().state().frameworksByPeer.count(streamPeer) == 0);
  }
}

namespace {

// What the operator API's event stream would say, one line per change.
struct RecordingWatcher : StateWatcher {
  std::vector<std::string> seen;
  std::vector<std::string> take() { return std::exchange(seen, {}); }
  void taskAdded(const Task& task) override {
    seen.push_back("task added " + task.info.taskId.value + " " + toString(task.state));
  }
  void taskUpdated(const FrameworkID&, const TaskStatus& status) override {
    seen.push_back("task updated " + status.taskId.value + " " + toString(status.state));
  }
  void agentAdded(const AgentEntry& agent) override { seen.push_back("agent added " + agent.info.hostname); }
  void agentRemoved(const AgentID&) override { seen.push_back("agent removed"); }
  void frameworkAdded(const FrameworkEntry& fw) override { seen.push_back("framework added " + fw.info.name); }
  void frameworkUpdated(const FrameworkEntry& fw) override {
    seen.push_back("framework updated " + fw.info.name + (fw.connected ? " connected" : " disconnected"));
  }
  void frameworkRemoved(const FrameworkEntry& fw) override { seen.push_back("framework removed " + fw.info.name); }
};

using Lines = std::vector<std::string>;

}  // namespace

TEST_CASE("sim: the state watcher hears each change once: launches, agents restarting, failing over, cut off and "
          "back") {
  SimulatedTime time;
  TempDir dir("cn-master-sim");
  auto flags = simFlags(dir.path);
  RecordingWatcher watcher;
  std::string agentId, frameworkId;
  FrameworkInfo info = frameworkInfo("watched", true, 3600);
  {
    Sim first(time, dir.path, flags);
    first.master().setWatcher(&watcher);
    first.registerAgent("agent-1", "");
    agentId = first.registeredId(first.take("agent-1"));
    frameworkId = first.subscribe("fw-1", info);
    runTask(first, "fw-1", frameworkId, "agent-1", agentId, "t1");
    CHECK(watcher.take() == Lines{"agent added agent-1.example", "framework added watched",
                                  "task added t1 TASK_STAGING", "task updated t1 TASK_RUNNING"});
    // A launch the master refuses was never held: nothing to watch.
    first.advance(milliseconds(100));
    auto offers = offerIds(first.take("fw-1"), agentId);
    REQUIRE(!offers.empty());
    first.accept("fw-1", {offers.back()}, {sleeper("t1", agentId)});  // a task id in use
    CHECK(statesTold(first.take("fw-1")) == std::vector<std::string>{"t1:TASK_ERROR"});
    CHECK(watcher.take().empty());

    // The agent restarts while reachable: the same agent, the same task.
    info.id = FrameworkID{frameworkId};
    first.registerAgent("agent-1-again", agentId, {{info, sleeper("t1", agentId)}});
    CHECK(watcher.take().empty());
  }  // the master stops

  watcher.take();
  Sim second(time, dir.path, flags);
  second.master().setWatcher(&watcher);
  // A failed-over master learns the agent and its task anew; the framework
  // (in its registry) comes back.
  second.registerAgent("agent-1b", agentId, {{info, sleeper("t1", agentId)}});
  CHECK(watcher.take() == Lines{"task added t1 TASK_RUNNING", "agent added agent-1b.example"});
  second.subscribe("fw-1b", info);
  CHECK(watcher.take() == Lines{"framework updated watched connected"});

  // Cut off, and back.
  second.silent("agent-1b");
  second.advance(seconds(4));
  CHECK(watcher.take() == Lines{"agent removed", "task updated t1 TASK_UNREACHABLE"});
  second.registerAgent("agent-1b", agentId, {{info, sleeper("t1", agentId)}});
  CHECK(watcher.take() == Lines{"task updated t1 TASK_RUNNING", "agent added agent-1b.example"});

  // The framework leaves, is disconnected, and past its timeout removed.
  second.silent("fw-1b");
  second.advance(seconds(5));
  CHECK(watcher.take() == Lines{"framework updated watched disconnected"});
  second.advance(seconds(3600));
  auto lines = watcher.take();
  CHECK(lines == Lines{"task updated t1 TASK_KILLED", "framework removed watched"});

  // An agent reports a task of a framework the registry never held: the
  // framework is added before its task.
  FrameworkInfo stranger = frameworkInfo("stranger");
  stranger.id = FrameworkID{"stranger-fw"};
  second.registerAgent("agent-2", "agent-2-id", {{stranger, sleeper("s1", "agent-2-id")}});
  CHECK(watcher.take() == Lines{"framework added stranger", "task added s1 TASK_RUNNING", "agent added agent-2.example"});
}

TEST_CASE("sim: UPDATE_FRAMEWORK is on disk before it returns, rescinds the offers of the roles it leaves, and "
          "changes nothing when it cannot be written") {
  SimulatedTime time;
  TempDir dir("cn-master-sim");
  auto faults = std::make_shared<FileFaults>();
  Sim sim(time, dir.path, simFlags(dir.path), std::make_shared<FaultyFileSystem>(faults));
  sim.registerAgent("agent-1", "");
  sim.take("agent-1");
  FrameworkInfo info = frameworkInfo("updated");
  info.roles = {"a"};
  std::string id = sim.subscribe("fw-1", info);
  sim.advance(milliseconds(100));
  REQUIRE(offerIds(sim.take("fw-1")).size() == 1);

  // The registry cannot be written: refused, and nothing changes.
  FrameworkInfo next = info;
  next.name = "renamed";
  next.roles = {"b"};
  faults->failWrites = true;
  auto refused = sim.master().updateFramework(FrameworkID{id}, next, {});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == ErrorCode::kInternal);
  CHECK(sim.master().state().frameworks.at(FrameworkID{id}).info.name == "updated");
  CHECK(sim.master().state().frameworks.at(FrameworkID{id}).offers.size() == 1);
  CHECK(onDisk(dir.path).frameworks().at(FrameworkID{id}).info.name == "updated");
  faults->failWrites = false;

  // Changes that are not the framework's to make.
  FrameworkInfo otherUser = next;
  otherUser.user = "someone-else";
  CHECK(sim.master().updateFramework(FrameworkID{id}, otherUser, {}).error().code == ErrorCode::kInvalid);
  CHECK(sim.master().updateFramework(FrameworkID{id}, next, {"a"}).error().message.find("'a'") != std::string::npos);

  // Applied: on disk when it returns; the offer to a is rescinded, the next in b.
  REQUIRE(sim.master().updateFramework(FrameworkID{id}, next, {}).ok());
  CHECK(onDisk(dir.path).frameworks().at(FrameworkID{id}).info.name == "renamed");
  CHECK(sim.master().state().frameworks.at(FrameworkID{id}).info.roles == std::vector<std::string>{"b"});
  auto toFramework = sim.take("fw-1");
  CHECK(countOf(toFramework, wire::Envelope::RESCIND_OFFER) == 1);
  CHECK(countOf(toFramework, wire::Envelope::SUBSCRIBED) == 0);
  sim.advance(milliseconds(100));
  Sent offered = sim.take("fw-1");
  auto offers = ofKind(offered, wire::Envelope::RESOURCE_OFFERS);
  REQUIRE(offers.size() == 1);
  CHECK(text(offers[0].getResourceOffers().getOffers()[0].getAllocationRole()) == "b");
}
