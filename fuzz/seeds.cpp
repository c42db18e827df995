// Writes the fuzz targets' seed corpus: real messages and conversations
// built with the same conversions the daemons use, real requests, and the
// project's own config files. Its output, fuzz/corpus/<target>/seed-*, is
// checked in; run it again when the messages change:
//
//   build-fuzz/fuzz-targets/fuzz-seeds fuzz/corpus .
//
// (the second argument is the repository, for packaging/config/*.toml).
// Inputs the fuzzer found (found-*) are not touched.
#include <capnp/message.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/curve.hpp"
#include "common/http_auth.hpp"
#include "common/leader.hpp"
#include "common/recordio.hpp"
#include "common/wire.hpp"
#include "fuzz/harness/conversation.hpp"
#include "fuzz/harness/daemon.hpp"
#include "fuzz/harness/http_exchange.hpp"
#include "fuzz/harness/memory_file_system.hpp"
#include "master/http/v1/json.hpp"
#include "master/http/v1/scheduler.pb.h"
#include "master/master.hpp"
#include "tests/harness/fake_transport.hpp"
#include "tests/harness/simulated_time.hpp"

using namespace clusternodes;
namespace fs = std::filesystem;

namespace {

std::string corpus;

void write(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::create_directories(corpus + "/" + target);
  std::ofstream(corpus + "/" + target + "/seed-" + name, std::ios::binary) << bytes;
}

using Build = std::function<void(wire::Envelope::Builder)>;

std::string message(const Build& build) {
  capnp::MallocMessageBuilder out;
  build(out.initRoot<wire::Envelope>());
  return wire::encode(out);
}

// An id the master gives, as the master target names it.
std::string masterGiven(const std::string& suffix) { return std::string(fuzzing::kMasterIdPlaceholder) + suffix; }

Resources res(const std::string& text) { return *Resources::parse(text); }

FrameworkInfo framework(const std::string& id = "") {
  FrameworkInfo info;
  info.name = "seed";
  info.user = "nobody";
  info.role = "eng";
  info.id.value = id;
  info.failoverTimeoutSeconds = 60;
  info.partitionAware = true;
  info.hostname = "scheduler.example";
  return info;
}

TaskInfo task(const std::string& id, const std::string& agentId) {
  TaskInfo t;
  t.name = id;
  t.taskId.value = id;
  t.agentId.value = agentId;
  t.resources = res("cpus:0.5;mem:64;ports:[31000-31001]");
  t.command.value = "sleep 100";
  t.command.shell = true;
  t.command.environment["GREETING"] = "hello";
  t.killGracePeriodSeconds = 2;
  return t;
}

TaskInfo dockerTask(const std::string& id, const std::string& agentId) {
  TaskInfo t = task(id, agentId);
  t.docker = DockerInfo{"busybox", false, {{31000, 80, "tcp"}}};
  return t;
}

TaskInfo customTask(const std::string& id, const std::string& agentId) {
  TaskInfo t = task(id, agentId);
  ExecutorInfo executor;
  executor.executorId.value = "exec-1";
  executor.name = "seed executor";
  executor.command.value = "./executor";
  executor.resources = res("cpus:0.1;mem:32");
  t.executor = executor;
  t.data = "payload";
  return t;
}

TaskStatus status(const std::string& taskId, TaskState state, const std::string& uuid, TaskSource source) {
  TaskStatus s;
  s.taskId.value = taskId;
  s.state = state;
  s.uuid = uuid;
  s.source = source;
  s.message = "seed";
  s.timestamp = 1.8e9;
  if (state == TaskState::kFinished) s.exitCode = 0;
  return s;
}

// ---- messages

std::string registerAgent(const std::string& agentId = "", const std::vector<std::pair<FrameworkInfo, TaskInfo>>& running = {}) {
  return message([&](wire::Envelope::Builder e) {
    auto reg = e.initRegisterAgent();
    reg.setAgentId(agentId);
    wire::AgentInfoValue info;
    info.hostname = "agent.example";
    info.resources = res("cpus:4;mem:4096;disk:1000;ports:[31000-32000];cpus(eng):1");
    info.attributes = {{"rack", "r1"}, {"zone", "a"}};
    info.httpPort = 5052;
    info.bootId = "boot-1";
    info.ip = "10.0.0.2";
    wire::toWire(info, reg.initInfo());
    auto tasks = reg.initTasks(static_cast<unsigned>(running.size()));
    for (unsigned i = 0; i < running.size(); ++i) {
      tasks[i].setFrameworkId(running[i].first.id.value);
      wire::toWire(running[i].second, tasks[i].initTask());
      tasks[i].setState("TASK_RUNNING");
      wire::toWire(running[i].first, tasks[i].initFrameworkInfo());
      wire::toWire(status(running[i].second.taskId.value, TaskState::kRunning, "u-0", TaskSource::kExecutor),
                   running[i].first.id, tasks[i].initLastStatus());
    }
  });
}

std::string subscribe(const FrameworkInfo& info) {
  return message([&](wire::Envelope::Builder e) { wire::toWire(info, e.initSubscribe().initInfo()); });
}

std::string accept(const std::string& frameworkId, const std::string& offerId, const std::vector<TaskInfo>& tasks,
                   const std::string& reserve = "") {
  return message([&](wire::Envelope::Builder e) {
    auto a = e.initAccept();
    a.setFrameworkId(frameworkId);
    a.initOfferIds(1).set(0, offerId);
    a.setRefuseSeconds(5);
    auto operations = a.initOperations(reserve.empty() ? 1 : 2);
    auto launch = operations[0].initLaunch(static_cast<unsigned>(tasks.size()));
    for (unsigned i = 0; i < tasks.size(); ++i) wire::toWire(tasks[i], launch[i]);
    if (!reserve.empty()) {
      wire::setResources(res(reserve), [&](unsigned n) { return operations[1].initReserve(n); });
    }
  });
}

std::string statusUpdate(const std::string& frameworkId, const TaskStatus& s) {
  return message([&](wire::Envelope::Builder e) {
    auto update = e.initStatusUpdate();
    update.setFrameworkId(frameworkId);
    wire::toWire(s, FrameworkID{frameworkId}, update.initStatus());
  });
}

std::string acknowledge(const std::string& frameworkId, const std::string& agentId, const std::string& taskId,
                        const std::string& uuid, bool fromFramework) {
  return message([&](wire::Envelope::Builder e) {
    auto ack = fromFramework ? e.initAcknowledge() : e.initStatusUpdateAck();
    ack.setFrameworkId(frameworkId);
    ack.setAgentId(agentId);
    ack.setTaskId(taskId);
    ack.setUuid(uuid);
  });
}

std::string frameworkCall(const std::string& frameworkId, const std::string& kind) {
  return message([&](wire::Envelope::Builder e) {
    if (kind == "revive") e.initRevive().setFrameworkId(frameworkId);
    if (kind == "suppress") e.initSuppress().setFrameworkId(frameworkId);
    if (kind == "heartbeat") e.initHeartbeat().setFrameworkId(frameworkId);
    if (kind == "teardown") e.initTeardown().setFrameworkId(frameworkId);
  });
}

std::string decline(const std::string& frameworkId, const std::string& offerId) {
  return message([&](wire::Envelope::Builder e) {
    auto d = e.initDecline();
    d.setFrameworkId(frameworkId);
    d.initOfferIds(1).set(0, offerId);
    d.setRefuseSeconds(1);
  });
}

std::string kill(const std::string& frameworkId, const std::string& taskId, const std::string& agentId) {
  return message([&](wire::Envelope::Builder e) {
    auto k = e.initKill();
    k.setFrameworkId(frameworkId);
    k.setTaskId(taskId);
    k.setAgentId(agentId);
    k.setKillGracePeriodMs(1000);
  });
}

std::string reconcile(const std::string& frameworkId, const std::string& taskId, const std::string& agentId) {
  return message([&](wire::Envelope::Builder e) {
    auto r = e.initReconcile();
    r.setFrameworkId(frameworkId);
    auto tasks = r.initTasks(2);
    tasks[0].setTaskId(taskId);
    tasks[0].setAgentId(agentId);
    tasks[1].setTaskId("unknown-task");
  });
}

std::string frameworkMessage(const std::string& frameworkId, const std::string& executorId, const std::string& agentId) {
  return wire::encodeFrameworkMessage(frameworkId, executorId, agentId, wire::data(std::string("ping")));
}

std::string pong() { return message([](wire::Envelope::Builder e) { e.initPong().setSequence(1); }); }

std::string containerUsages(const std::string& frameworkId, const std::string& taskId) {
  return message([&](wire::Envelope::Builder e) {
    auto usage = e.initContainerUsages().initContainers(1)[0];
    ContainerUsage u;
    u.cpuSeconds = 1.5;
    u.cpuUserSeconds = 1;
    u.cpuSystemSeconds = 0.5;
    u.memBytes = 1 << 20;
    u.memLimitBytes = 64 << 20;
    u.processes = 2;
    u.timestamp = 1.8e9;
    wire::toWire(u, usage);
    usage.setFrameworkId(frameworkId);
    usage.setTaskId(taskId);
  });
}

std::string executorExited(const std::string& frameworkId, const std::string& agentId) {
  return message([&](wire::Envelope::Builder e) {
    auto x = e.initExecutorExited();
    x.setFrameworkId(frameworkId);
    x.setExecutorId("exec-1");
    x.setAgentId(agentId);
    x.setStatus(1);
    x.setMessage("exited");
  });
}

// Master to agent.
std::string agentRegistered(const std::string& agentId) {
  return message([&](wire::Envelope::Builder e) {
    auto r = e.initAgentRegistered();
    r.setAgentId(agentId);
    r.setPingIntervalMs(15000);
    r.setMaxPingTimeouts(5);
  });
}

std::string runTask(const std::string& frameworkId, const TaskInfo& t) {
  return message([&](wire::Envelope::Builder e) {
    auto run = e.initRunTask();
    run.setFrameworkId(frameworkId);
    wire::toWire(framework(frameworkId), run.initFrameworkInfo());
    wire::toWire(t, run.initTask());
  });
}

std::string killTask(const std::string& frameworkId, const std::string& taskId) {
  return message([&](wire::Envelope::Builder e) {
    auto k = e.initKillTask();
    k.setFrameworkId(frameworkId);
    k.setTaskId(taskId);
    k.setKillGracePeriodMs(-1);
  });
}

std::string ping() { return message([](wire::Envelope::Builder e) { e.initPing().setSequence(7); }); }

// Executor to agent.
std::string registerExecutor(const std::string& frameworkId, const std::string& executorId) {
  return message([&](wire::Envelope::Builder e) {
    auto r = e.initRegisterExecutor();
    r.setFrameworkId(frameworkId);
    r.setExecutorId(executorId);
    r.setPid(5'000'000);
  });
}

std::string executorStatus(const std::string& frameworkId, const TaskStatus& s) {
  return message([&](wire::Envelope::Builder e) {
    wire::toWire(s, FrameworkID{frameworkId}, e.initExecutorStatus().initStatus());
  });
}

// ---- corpora

void wireDecode() {
  auto fw = masterGiven("-0");
  auto agent = masterGiven("-S0");
  std::vector<std::pair<std::string, std::string>> seeds = {
      {"register-agent", registerAgent()},
      {"reregister-agent", registerAgent(agent, {{framework(fw), customTask("t1", agent)}})},
      {"subscribe", subscribe(framework())},
      {"accept", accept(fw, masterGiven("-O0"), {task("t1", agent), dockerTask("t2", agent)}, "cpus(eng):1")},
      {"status-update", statusUpdate(fw, status("t1", TaskState::kFailed, "u-1", TaskSource::kAgent))},
      {"run-task", runTask(fw, customTask("t1", agent))},
      {"executor-status", executorStatus(fw, status("t1", TaskState::kFinished, "u-2", TaskSource::kExecutor))},
      {"container-usages", containerUsages(fw, "t1")},
      {"framework-message", frameworkMessage(fw, "exec-1", agent)},
      {"reconcile", reconcile(fw, "t1", agent)},
      {"ping", ping()},
      {"resource-offers", message([&](wire::Envelope::Builder e) {
         Offer offer;
         offer.id.value = "o-1";
         offer.frameworkId.value = fw;
         offer.agentId.value = agent;
         offer.hostname = "agent.example";
         offer.allocationRole = "eng";
         offer.resources = res("cpus:2;mem:1024;ports:[31000-31010]");
         offer.attributes = {{"rack", "r1"}};
         wire::toWire(offer, e.initResourceOffers().initOffers(1)[0]);
       })},
      {"executor-registered", message([&](wire::Envelope::Builder e) {
         auto r = e.initExecutorRegistered();
         wire::toWire(*customTask("t1", agent).executor, r.initExecutor());
         wire::toWire(framework(fw), r.initFrameworkInfo());
         r.setAgentId(agent);
         r.initContainer().setSandbox("/var/lib/clusternodes/agent/sandboxes/x");
       })},
      {"launch-command", message([&](wire::Envelope::Builder e) {
         auto l = e.initLaunchCommand();
         wire::toWire(task("t1", agent), l.initTask());
         l.setSandbox("/tmp/sandbox");
         l.setKillGracePeriodMs(3000);
       })},
      {"not-leader", message([](wire::Envelope::Builder e) {
         e.initNotLeader().setLeader("10.0.0.1:5050");
       })},
      {"master-info", message([](wire::Envelope::Builder e) {
         auto m = e.initMasterInfo();
         m.setId("m-1");
         m.setHttpPort(8081);
         m.setIp("10.0.0.1");
       })},
  };
  for (const auto& [name, bytes] : seeds) write("wire_decode", name, bytes);
}

void masterMessages() {
  // Peers 0-3 play agents, 4-7 frameworks (any peer may send anything).
  auto fw = masterGiven("-0");
  auto agent = masterGiven("-S0");
  auto offer = masterGiven("-O0");
  using fuzzing::addMessage;
  using fuzzing::addPause;

  std::string life;  // a task's whole life
  addMessage(life, 0, registerAgent());
  addMessage(life, 4, subscribe(framework()));
  addMessage(life, 4, accept(fw, offer, {task("t1", agent)}));
  addMessage(life, 0, statusUpdate(fw, status("t1", TaskState::kRunning, "u-1", TaskSource::kExecutor)));
  addMessage(life, 4, acknowledge(fw, agent, "t1", "u-1", true));
  addMessage(life, 0, containerUsages(fw, "t1"));
  addMessage(life, 4, kill(fw, "t1", agent));
  addMessage(life, 0, statusUpdate(fw, status("t1", TaskState::kKilled, "u-2", TaskSource::kExecutor)));
  addMessage(life, 4, acknowledge(fw, agent, "t1", "u-2", true));
  addMessage(life, 4, reconcile(fw, "t1", agent));
  addMessage(life, 4, frameworkCall(fw, "teardown"));
  write("master_messages", "task-life", life);

  std::string offers;  // declines, filters, revive, suppress, reservations, offer timeout
  addMessage(offers, 0, registerAgent());
  addMessage(offers, 5, subscribe(framework()));
  addMessage(offers, 5, decline(fw, offer));
  addPause(offers, 7);
  addMessage(offers, 5, frameworkCall(fw, "revive"));
  addMessage(offers, 5, accept(fw, masterGiven("-O1"), {}, "cpus(eng):1;mem(eng):128"));
  addMessage(offers, 5, frameworkCall(fw, "suppress"));
  addMessage(offers, 5, frameworkCall(fw, "heartbeat"));
  addPause(offers, 12);
  write("master_messages", "offers", offers);

  std::string custom;  // a framework's own executor, messages both ways
  addMessage(custom, 1, registerAgent());
  addMessage(custom, 6, subscribe(framework()));
  addMessage(custom, 6, accept(fw, offer, {customTask("t1", agent), dockerTask("t2", agent)}));
  addMessage(custom, 6, frameworkMessage(fw, "exec-1", agent));
  addMessage(custom, 1, frameworkMessage(fw, "exec-1", agent));
  addMessage(custom, 1, executorExited(fw, agent));
  write("master_messages", "custom-executor", custom);

  std::string silent;  // an agent goes silent, is marked unreachable, then gone; one comes back
  addMessage(silent, 2, registerAgent());
  addMessage(silent, 7, subscribe(framework()));
  addMessage(silent, 7, accept(fw, offer, {task("t1", agent)}));
  addMessage(silent, 2, pong());
  addPause(silent, 9);
  addPause(silent, 13);
  addMessage(silent, 3, registerAgent(agent, {{framework(fw), task("t1", agent)}}));
  addMessage(silent, 7, frameworkCall(fw, "heartbeat"));
  write("master_messages", "agent-silent", silent);

  std::string refused;  // ids that cannot name a sandbox, which the master refuses
  addMessage(refused, 0, registerAgent());
  addMessage(refused, 4, subscribe(framework("../../escape")));
  addMessage(refused, 5, subscribe(framework()));
  TaskInfo dots = task("..", agent);
  TaskInfo slash = customTask("t/1", agent);
  slash.executor->executorId.value = "../exec";
  addMessage(refused, 5, accept(fw, offer, {dots, slash}));
  write("master_messages", "refused-ids", refused);

  std::string failover;  // frameworks and agents come back with the ids they had
  addMessage(failover, 0, registerAgent("agent-from-before", {{framework("fw-before"), task("t9", "agent-from-before")}}));
  addMessage(failover, 4, subscribe(framework("fw-before")));
  addMessage(failover, 4, reconcile("fw-before", "t9", "agent-from-before"));
  addMessage(failover, 5, subscribe(framework("fw-before")));
  addMessage(failover, 0, message([](wire::Envelope::Builder e) { e.setGetMasterInfo(); }));
  addPause(failover, 15);
  write("master_messages", "failover", failover);
}

void agentMessages() {
  // Peer 0 is the master, 1-6 executors, 7 the world (containers exit, the
  // master's link drops).
  using fuzzing::addMessage;
  using fuzzing::addPause;
  std::string fw = "fw-1";

  std::string builtIn;
  addMessage(builtIn, 0, agentRegistered("agent-1"));
  addMessage(builtIn, 0, runTask(fw, task("t1", "agent-1")));
  addMessage(builtIn, 1, registerExecutor(fw, "t1"));
  addMessage(builtIn, 1, executorStatus(fw, status("t1", TaskState::kRunning, "u-1", TaskSource::kExecutor)));
  addMessage(builtIn, 0, acknowledge(fw, "agent-1", "t1", "u-1", false));
  addMessage(builtIn, 0, ping());
  addMessage(builtIn, 0, killTask(fw, "t1"));
  addMessage(builtIn, 1, executorStatus(fw, status("t1", TaskState::kKilled, "u-2", TaskSource::kExecutor)));
  addMessage(builtIn, 0, acknowledge(fw, "agent-1", "t1", "u-2", false));
  addMessage(builtIn, 7, std::string("\x00\x00", 2));
  addPause(builtIn, 8);
  write("agent_messages", "built-in-executor", builtIn);

  std::string custom;
  addMessage(custom, 0, agentRegistered("agent-1"));
  addMessage(custom, 0, runTask(fw, customTask("t1", "agent-1")));
  addMessage(custom, 0, runTask(fw, customTask("t2", "agent-1")));
  addMessage(custom, 2, registerExecutor(fw, "exec-1"));
  addMessage(custom, 2, executorStatus(fw, status("t1", TaskState::kRunning, "u-1", TaskSource::kExecutor)));
  addMessage(custom, 0, frameworkMessage(fw, "exec-1", "agent-1"));
  addMessage(custom, 2, frameworkMessage(fw, "exec-1", "agent-1"));
  addMessage(custom, 0, message([&](wire::Envelope::Builder e) { e.initShutdownFramework().setFrameworkId(fw); }));
  addPause(custom, 9);
  addMessage(custom, 7, std::string("\x00\x01", 2));
  write("agent_messages", "custom-executor", custom);

  std::string master;  // what the master says about the agent itself
  addMessage(master, 0, runTask(fw, dockerTask("t1", "agent-1")));
  addMessage(master, 0, agentRegistered("agent-1"));
  addMessage(master, 0, runTask(fw, dockerTask("t1", "agent-1")));
  addMessage(master, 7, std::string("\x80", 1));
  addMessage(master, 7, std::string("\x81", 1));
  addMessage(master, 0, message([](wire::Envelope::Builder e) { e.initReregister().setReason("unknown agent"); }));
  addMessage(master, 0, message([](wire::Envelope::Builder e) { e.initNotLeader().setLeader("127.0.0.1:5050"); }));
  addMessage(master, 0, agentRegistered("agent-1"));
  addPause(master, 12);
  addMessage(master, 0, message([](wire::Envelope::Builder e) { e.initShutdownAgent().setReason("gone"); }));
  write("agent_messages", "master-says", master);
}

std::string request(const std::string& method, const std::string& target, const std::string& body = "",
                    const std::string& extra = "") {
  std::string out = method + " " + target + " HTTP/1.1\r\nHost: master\r\n" + extra;
  if (!body.empty()) out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return out + "\r\n" + body;
}

void httpRequests() {
  std::string sandbox = "fw-1/task-1/run-1";
  std::vector<std::pair<std::string, std::string>> seeds = {
      {"state", request("GET", "/state") + request("GET", "/health") + request("GET", "/metrics")},
      {"weights", request("PUT", "/api/v1/weights", R"({"eng": 3, "ops": 0.5})") + request("GET", "/api/v1/weights")},
      {"v1-operator",
       request("POST", "/api/v1", R"({"type": "GET_STATE"})", "Content-Type: application/json\r\n") +
           request("POST", "/api/v1",
                   R"({"type": "UPDATE_QUOTA", "update_quota": {"quota_configs": [{"role": "eng",)"
                   R"( "guarantees": {"cpus": {"value": 1}}, "limits": {"mem": {"value": 512}}}]}})",
                   "Content-Type: application/json\r\nAccept: application/x-protobuf\r\n") +
           request("POST", "/api/v1", R"({"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos":)"
                                      R"( [{"role": "eng", "weight": 2}]}})", "Content-Type: application/json\r\n") +
           request("POST", "/api/v1", R"({"type": "GET_QUOTA"})", "Content-Type: application/json\r\n")},
      {"quota", request("PUT", "/api/v1/quota", R"({"role": "eng", "guarantee": "cpus:1", "limit": "cpus:4"})") +
                    request("DELETE", "/api/v1/quota?role=eng") + request("GET", "/api/v1/quota")},
      {"events", request("GET", "/api/v1/events?since=0") + request("HEAD", "/api/v1/events?since=abc")},
      {"ui", request("GET", "/") + request("GET", "/ui/index.html", "", "If-None-Match: \"x\"\r\n")},
      {"files", request("GET", "/files/browse?path=" + sandbox) +
                    request("GET", "/files/read?path=" + sandbox + "/stdout&offset=2&length=5") +
                    request("GET", "/files/download?path=" + sandbox + "%2Fstdout")},
      {"files-refused", request("GET", "/files/read?path=" + sandbox + "/escape/secret") +
                            request("GET", "/files/download?path=../secret") +
                            request("GET", "/files/browse?path=%2Fetc")},
      {"chunked", "POST /api/v1/weights HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\n\r\n"},
      {"http10", "GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /state HTTP/1.0\r\n\r\n"},
      {"bad", "GET /state HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello"},
      {"method", request("POST", "/state") + request("OPTIONS", "*")},
  };
  // The first byte: bit 0 a standby, the next ones (modulo 3) what needs a
  // token: nothing, writes, everything.
  for (const auto& [name, bytes] : seeds) {
    write("http_requests", name + "-leader", std::string(1, '\0') + bytes);
    write("http_requests", name + "-standby", std::string(1, '\1') + bytes);
  }
  std::string bearer = "Authorization: Bearer " + std::string(fuzzing::kHttpToken) + "\r\n";
  std::string withTokens = request("PUT", "/api/v1/weights", R"({"eng": 3})", bearer) +
                           request("GET", "/state", "", "Authorization: Bearer not-a-token\r\n") +
                           request("GET", "/state", "", "Authorization: Basic b3BzOnB3\r\n") +
                           request("GET", "/health") + request("GET", "/ui/index.html") +
                           request("DELETE", "/api/v1/quota?role=eng", "", bearer);
  write("http_requests", "tokens-writes", std::string(1, '\2') + withTokens);
  write("http_requests", "tokens-all", std::string(1, '\4') + withTokens);
}

// A registry document as a master writes it: one with an agent, a framework,
// a reservation, weights and quota.
std::string registryDocument() {
  testing::SimulatedTime time;
  auto files = std::make_shared<fuzzing::MemoryFileSystem>();
  auto transport = std::make_unique<testing::FakeTransport>();
  auto peers = transport->wire();
  master::MasterFlags flags;
  flags.workDir = "/fuzz/master";
  flags.port = 0;
  flags.httpPort = -1;
  flags.allocationInterval = Duration::zero();
  master::Master master(master::MasterEnvironment{time, std::move(transport), nullptr, files}, flags);
  if (!master.start()) return "{}";
  auto id = [&](const std::string& suffix) { return master.state().masterId + suffix; };
  peers->deliver("agent", registerAgent());
  time.advance(Duration::zero());
  peers->deliver("framework", subscribe(framework()));
  time.advance(Duration::zero());
  peers->deliver("framework", accept(id("-0"), id("-O0"), {}, "cpus(eng):1;mem(eng):128"));
  time.advance(Duration::zero());
  (void)master.setWeights("", {{"eng", 2.5}});
  master::Quota quota;
  quota.guarantee = res("cpus:1");
  quota.limit = res("cpus:2;mem:512");
  (void)master.setQuota("", "eng", quota);
  time.advance(Duration::zero());
  auto document = files->read("/fuzz/master/registry.json");
  return document ? *document : "{}";
}

void httpJson() {
  LeaderInfo leader{"m-1", "master.example", "10.0.0.1", 5050, 8081, "0.1.0"};
  std::vector<std::pair<std::string, std::string>> seeds = {
      {"weights", std::string(1, '\0') + R"({"eng": 2, "eng/ml": 1.5, "ops": 0.25})"},
      {"quota", std::string(1, '\1') + R"({"role": "eng/ml", "guarantee": "cpus:2;mem:1024", "limit": "cpus:4;gpus:1"})"},
      {"leader", std::string(1, '\2') + leaderInfoJson(leader)},
      {"registry", std::string(1, '\3') + registryDocument()},
      {"recordio", std::string(1, '\4') + recordioEncode(R"({"type":"SUBSCRIBED","subscribed":{"framework_id":)"
                                                           R"({"value":"f-1"},"heartbeat_interval_seconds":15.0}})") +
                       recordioEncode("") + recordioEncode(R"({"type":"HEARTBEAT"})")},
  };
  // Mesos v1 scheduler calls: a subscription, and an ACCEPT whose task uses
  // most of what the API maps (JSON), and both again in protobuf.
  const std::string subscribeJson =
      R"({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "fuzz",)"
      R"( "failover_timeout": 60, "roles": ["eng"], "capabilities": [{"type": "MULTI_ROLE"}]}}})";
  const std::string acceptJson =
      R"({"framework_id": {"value": "f"}, "type": "ACCEPT", "accept": {"offer_ids": [{"value": "o"}],)"
      R"( "filters": {"refuse_seconds": 2}, "operations": [{"type": "LAUNCH", "launch": {"task_infos": [{)"
      R"("name": "t", "task_id": {"value": "t"}, "agent_id": {"value": "a"}, "data": "aGk=",)"
      R"( "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5},)"
      R"( "reservations": [{"type": "DYNAMIC", "role": "eng"}]}, {"name": "ports", "type": "RANGES",)"
      R"( "ranges": {"range": [{"begin": 31000, "end": 31001}]}}],)"
      R"( "command": {"value": "echo", "shell": false, "arguments": ["echo", "x"],)"
      R"( "environment": {"variables": [{"name": "A", "value": "1"}]}},)"
      R"( "container": {"type": "DOCKER", "docker": {"image": "busybox", "network": "BRIDGE",)"
      R"( "port_mappings": [{"host_port": 31000, "container_port": 80}]}},)"
      R"( "kill_policy": {"grace_period": {"nanoseconds": 2000000000}}}]}},)"
      R"( {"type": "RESERVE", "reserve": {"resources": [{"name": "mem", "type": "SCALAR", "scalar": {"value": 64},)"
      R"( "reservations": [{"type": "DYNAMIC", "role": "eng"}]}]}}]}})";
  seeds.push_back({"v1-subscribe", std::string(1, '') + subscribeJson});
  seeds.push_back({"v1-accept", std::string(1, '') + acceptJson});
  for (const auto& [name, json] : {std::pair{"v1-subscribe-protobuf", subscribeJson},
                                   std::pair{"v1-accept-protobuf", acceptJson}}) {
    ::mesos::v1::scheduler::Call call;
    if (master::v1::fromJson(nlohmann::json::parse(json), call)) {
      seeds.push_back({name, std::string(1, '') + call.SerializeAsString()});
    }
  }
  for (const auto& [name, bytes] : seeds) write("http_json", name, bytes);
}

std::string fileText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void configFiles(const std::string& repository) {
  for (const char* name : {"master", "agent"}) {
    write("config_files", std::string(name) + ".toml",
          std::string(1, '\0') + fileText(repository + "/packaging/config/" + name + ".toml"));
  }
  write("config_files", "tables.toml", std::string(1, '\0') + "work_dir = \"/w\"\nroles = [\"a\", \"b\"]\n"
                                                              "timeout = 1.5\n[run]\ncpus = 2\nforce-pull = true\n");
  write("config_files", "acls.toml", std::string(1, '\1') +
                                         "[[register_framework]]\nprincipals = [\"analytics\"]\n"
                                         "roles = [\"analytics\", \"analytics/*\"]\n\n"
                                         "[[run_task]]\nprincipals = [\"*\"]\nusers = [\"root\"]\nallow = false\n\n"
                                         "[[teardown]]\nprincipals = [\"ops\"]\nframework_principals = [\"*\"]\n\n"
                                         "[[update_quota]]\nprincipals = [\"ops\"]\nroles = [\"*\"]\n");
  auto agent = generateCurveKey("host-a");
  auto scheduler = generateCurveKey("spark");
  write("config_files", "credentials.toml", std::string(1, '\2') + "[agents]\nhost-a = \"" + agent.publicKey +
                                                "\"\n[frameworks]\nspark = \"" + scheduler.publicKey + "\"\n");
  write("config_files", "key.toml", std::string(1, '\3') + "principal = \"host-a\"\npublic-key = \"" +
                                        agent.publicKey + "\"\nsecret-key = \"" + agent.secretKey + "\"\n");
  write("config_files", "tokens.toml", std::string(1, '\4') + "[[token]]\nprincipal = \"ops\"\nsha256 = \"" +
                                           httpTokenHash(fuzzing::kHttpToken) + "\"\n\n[[token]]\nprincipal = " +
                                           "\"ci\"\nsha256 = \"" + httpTokenHash("another") + "\"\n");
}

void resourceStrings() {
  std::vector<std::pair<std::string, std::string>> seeds = {
      {"offer", std::string(1, '\0') + "cpus:4;mem:8192;disk:20000;ports:[31000-32000]"},
      {"reserved", std::string(1, '\0') + "cpus(eng):2;mem(eng/ml):1024.5;gpus:1;ports(eng):[31000-31005, 31010]"},
      {"two", std::string(1, '\1') + "cpus:1;mem:512;ports:[31000-31005]|cpus:0.5;mem(eng):1;ports:[31003-31010]"},
      {"roles", std::string(1, '\2') + "eng\neng/ml\nops/batch/nightly\n*\nbad//role\n"},
      {"state", std::string(1, '\3') + "TASK_RUNNING"},
      {"reason", std::string(1, '\3') + "REASON_COMMAND_EXITED"},
      {"zk", std::string(1, '\3') + "zk://user:secret@zk1:2181,zk2:2181/clusternodes"},
      {"attributes", std::string(1, '\3') + "rack:r1; zone : a;;gpu:true"},
      {"duration", std::string(1, '\3') + "1h30m"},
      {"user", std::string(1, '\3') + "nobody"},
  };
  for (const auto& [name, bytes] : seeds) write("resource_strings", name, bytes);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR REPOSITORY\n", argv[0]);
    return 2;
  }
  fuzzing::quietLogs();
  corpus = argv[1];
  wireDecode();
  masterMessages();
  agentMessages();
  httpRequests();
  httpJson();
  configFiles(argv[2]);
  resourceStrings();
  return 0;
}
