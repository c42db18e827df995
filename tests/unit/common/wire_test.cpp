// Unit tests for the wire codec. Input is hostile: besides round trips of
// real messages, these feed the decoder truncated, random, mutated and
// hand-crafted malicious bytes, and read everything that decodes inside
// dispatchSafely(), as the daemons do. Run under ASan/UBSan as well.
#include <doctest/doctest.h>

#include <capnp/dynamic.h>
#include <capnp/message.h>
#include <capnp/schema.h>
#include <kj/debug.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "clusternodes/resources.hpp"
#include "clusternodes/values.hpp"
#include "common/wire.hpp"

using namespace clusternodes;

namespace {

Resources res(std::string_view text) {
  auto parsed = Resources::parse(text);
  INFO("parsing: " << std::string(text));
  REQUIRE(parsed.ok());
  return *parsed;
}

// ------------------------------------------------------------ sample values

wire::AgentInfoValue sampleAgentInfo() {
  wire::AgentInfoValue info;
  info.hostname = "node-1.example.org";
  info.resources = res("cpus:1.5;mem:8192;cpus(ml):2;gpus(ml):1;disk:0.001;ports:[31000-31099,32000-32000]");
  info.attributes = {{"rack", "r1"}, {"zone", "eu-west-1a"}};
  info.httpPort = 5051;
  info.bootId = "boot-4f2a";
  return info;
}

clusternodes::FrameworkInfo sampleFrameworkInfo() {
  clusternodes::FrameworkInfo info;
  info.name = "web-scheduler";
  info.user = "www";
  info.role = "ml";
  info.principal = "web";
  info.id = FrameworkID{"fw-9"};
  info.failoverTimeoutSeconds = 3600;
  info.partitionAware = true;
  info.hostname = "sched.example.org";
  return info;
}

clusternodes::TaskInfo sampleTask() {
  clusternodes::TaskInfo task;
  task.name = "web server";
  task.taskId = TaskID{"web-1"};
  task.agentId = AgentID{"agent-7"};
  task.resources = res("cpus:0.5;mem:256;ports:[31000-31001]");
  task.command.shell = false;
  task.command.value = "";
  task.command.arguments = {"/usr/bin/python3", "-m", "http.server", "31000"};
  task.command.environment = {{"HOME", "/tmp"}, {"LANG", "C.UTF-8"}};
  task.killGracePeriodSeconds = 2.5;
  return task;
}

clusternodes::TaskStatus sampleStatus() {
  clusternodes::TaskStatus status;
  status.taskId = TaskID{"web-1"};
  status.state = TaskState::kFailed;
  status.message = "the command exited with status 3";
  status.reason = TaskReason::kCommandExited;
  status.source = TaskSource::kExecutor;
  status.agentId = AgentID{"agent-7"};
  status.exitCode = 3;
  status.timestamp = 1700000000.25;
  status.uuid = "6b1c0a3e";
  return status;
}

// ------------------------------------------------------------ encoded messages

std::string registerAgentBytes() {
  capnp::MallocMessageBuilder message;
  auto reg = message.initRoot<wire::Envelope>().initRegisterAgent();
  reg.setAgentId("agent-7");
  wire::toWire(sampleAgentInfo(), reg.initInfo());
  auto tasks = reg.initTasks(1);
  tasks[0].setFrameworkId("fw-9");
  wire::toWire(sampleTask(), tasks[0].initTask());
  tasks[0].setState("TASK_RUNNING");
  wire::toWire(sampleFrameworkInfo(), tasks[0].initFrameworkInfo());
  return wire::encode(message);
}

std::string runTaskBytes() {
  capnp::MallocMessageBuilder message;
  auto run = message.initRoot<wire::Envelope>().initRunTask();
  run.setFrameworkId("fw-9");
  wire::toWire(sampleFrameworkInfo(), run.initFrameworkInfo());
  wire::toWire(sampleTask(), run.initTask());
  return wire::encode(message);
}

std::string statusUpdateBytes() {
  capnp::MallocMessageBuilder message;
  auto update = message.initRoot<wire::Envelope>().initStatusUpdate();
  update.setFrameworkId("fw-9");
  wire::toWire(sampleStatus(), FrameworkID{"fw-9"}, update.initStatus());
  return wire::encode(message);
}

std::string resourceOffersBytes() {
  capnp::MallocMessageBuilder message;
  auto offers = message.initRoot<wire::Envelope>().initResourceOffers().initOffers(2);
  for (unsigned i = 0; i < 2; ++i) {
    clusternodes::Offer offer{OfferID{"offer-" + std::to_string(i)}, FrameworkID{"fw-9"},
                              AgentID{"agent-" + std::to_string(i)}, "node", res("cpus:2;mem:1024;ports:[1-5]"),
                              {{"rack", "r" + std::to_string(i)}}};
    wire::toWire(offer, offers[i]);
  }
  return wire::encode(message);
}

std::string acceptBytes() {
  capnp::MallocMessageBuilder message;
  auto accept = message.initRoot<wire::Envelope>().initAccept();
  accept.setFrameworkId("fw-9");
  auto ids = accept.initOfferIds(2);
  ids.set(0, "offer-0");
  ids.set(1, "offer-1");
  auto operations = accept.initOperations(2);
  auto launch = operations[0].initLaunch(2);
  wire::toWire(sampleTask(), launch[0]);
  clusternodes::TaskInfo shell;
  shell.taskId = TaskID{"sh-1"};
  shell.agentId = AgentID{"agent-7"};
  shell.resources = res("cpus:1");
  shell.command.value = "echo hi";
  wire::toWire(shell, launch[1]);
  operations[1].setUnknown();
  accept.setRefuseSeconds(5);
  return wire::encode(message);
}

std::string reconcileBytes() {
  capnp::MallocMessageBuilder message;
  auto reconcile = message.initRoot<wire::Envelope>().initReconcile();
  reconcile.setFrameworkId("fw-9");
  auto tasks = reconcile.initTasks(2);
  tasks[0].setTaskId("web-1");
  tasks[0].setAgentId("agent-7");
  tasks[1].setTaskId("web-2");
  return wire::encode(message);
}

std::string subscribeBytes() {
  capnp::MallocMessageBuilder message;
  wire::toWire(sampleFrameworkInfo(), message.initRoot<wire::Envelope>().initSubscribe().initInfo());
  return wire::encode(message);
}

std::string launchCommandBytes() {
  capnp::MallocMessageBuilder message;
  auto launch = message.initRoot<wire::Envelope>().initLaunchCommand();
  wire::toWire(sampleTask(), launch.initTask());
  launch.setSandbox("/var/lib/clusternodes/sandbox/web-1");
  launch.setKillGracePeriodMs(3000);
  return wire::encode(message);
}

std::vector<std::string> seedMessages() {
  return {registerAgentBytes(), runTaskBytes(),   statusUpdateBytes(), resourceOffersBytes(),
          acceptBytes(),        reconcileBytes(), subscribeBytes(),    launchCommandBytes()};
}

// ------------------------------------------------------------ reading everything

void walkValue(capnp::DynamicValue::Reader value, uint64_t& sink);

void walkStruct(capnp::DynamicStruct::Reader s, uint64_t& sink) {
  for (auto field : s.getSchema().getNonUnionFields()) walkValue(s.get(field), sink);
  KJ_IF_MAYBE(active, s.which()) { walkValue(s.get(*active), sink); }
}

// Reads every field reachable from `value`, as a careless handler might.
void walkValue(capnp::DynamicValue::Reader value, uint64_t& sink) {
  switch (value.getType()) {
    case capnp::DynamicValue::BOOL: sink += value.as<bool>() ? 1 : 0; break;
    case capnp::DynamicValue::INT: sink += static_cast<uint64_t>(value.as<int64_t>()); break;
    case capnp::DynamicValue::UINT: sink += value.as<uint64_t>(); break;
    case capnp::DynamicValue::FLOAT: sink += std::isfinite(value.as<double>()) ? 1 : 0; break;
    case capnp::DynamicValue::TEXT: sink += value.as<capnp::Text>().size(); break;
    case capnp::DynamicValue::DATA: sink += value.as<capnp::Data>().size(); break;
    case capnp::DynamicValue::LIST:
      for (auto element : value.as<capnp::DynamicList>()) walkValue(element, sink);
      break;
    case capnp::DynamicValue::STRUCT: walkStruct(value.as<capnp::DynamicStruct>(), sink); break;
    default: break;
  }
}

uint64_t sizes(const clusternodes::TaskInfo& t) {
  return t.name.size() + t.taskId.value.size() + t.agentId.value.size() + t.resources.toString().size() +
         t.command.value.size() + t.command.arguments.size() + t.command.environment.size();
}

// Converts every union member that has a value type, the way the master,
// agent and executor handlers do.
void readTyped(wire::Envelope::Reader envelope, uint64_t& sink) {
  switch (envelope.which()) {
    case wire::Envelope::REGISTER_AGENT: {
      auto message = envelope.getRegisterAgent();
      auto info = wire::fromWire(message.getInfo());
      sink += info.hostname.size() + info.resources.toString().size() + info.attributes.size();
      for (auto task : message.getTasks()) {
        sink += sizes(wire::fromWire(task.getTask()));
        sink += wire::fromWire(task.getFrameworkInfo()).name.size();
        sink += parseTaskState(std::string(task.getState().cStr())).has_value() ? 1 : 0;
      }
      break;
    }
    case wire::Envelope::RUN_TASK: {
      auto message = envelope.getRunTask();
      sink += wire::fromWire(message.getFrameworkInfo()).name.size();
      sink += sizes(wire::fromWire(message.getTask()));
      break;
    }
    case wire::Envelope::STATUS_UPDATE:
      sink += wire::fromWire(envelope.getStatusUpdate().getStatus()).message.size();
      break;
    case wire::Envelope::EXECUTOR_STATUS:
      sink += wire::fromWire(envelope.getExecutorStatus().getStatus()).message.size();
      break;
    case wire::Envelope::SUBSCRIBE: sink += wire::fromWire(envelope.getSubscribe().getInfo()).name.size(); break;
    case wire::Envelope::RESOURCE_OFFERS:
      for (auto offer : envelope.getResourceOffers().getOffers()) {
        auto value = wire::fromWire(offer);
        sink += value.resources.toString().size() + value.attributes.size();
      }
      break;
    case wire::Envelope::ACCEPT:
      for (auto operation : envelope.getAccept().getOperations()) {
        if (!operation.isLaunch()) continue;
        for (auto task : operation.getLaunch()) sink += sizes(wire::fromWire(task));
      }
      break;
    case wire::Envelope::LAUNCH_COMMAND: sink += sizes(wire::fromWire(envelope.getLaunchCommand().getTask())); break;
    default: break;  // members without value types: covered by the reflective walk
  }
}

struct Outcome {
  bool decoded = false;
  bool handled = false;
  std::string dropReason;
};

// Decodes and fully reads `bytes` inside dispatchSafely.
Outcome decodeAndReadAll(std::string_view bytes) {
  Outcome outcome;
  auto decoded = wire::decode(bytes);
  if (!decoded) return outcome;
  outcome.decoded = true;
  uint64_t sink = 0;
  outcome.handled = wire::dispatchSafely(
      [&] {
        auto envelope = (*decoded)->envelope();
        readTyped(envelope, sink);
        walkStruct(capnp::toDynamic(envelope), sink);
      },
      [&](const std::string& reason) { outcome.dropReason = reason; });
  return outcome;
}

// ------------------------------------------------------------ raw words

// Builds single-segment messages word by word, for pointers no builder makes.
uint64_t structPointer(int32_t offset, uint16_t dataWords, uint16_t pointers) {
  return static_cast<uint64_t>(static_cast<uint32_t>(offset) << 2) | (static_cast<uint64_t>(dataWords) << 32) |
         (static_cast<uint64_t>(pointers) << 48);
}
// elementSize: 0 void, 1 bit, 2 byte, 3 two bytes, 4 four bytes, 5 eight bytes, 6 pointer, 7 composite.
uint64_t listPointer(int32_t offset, unsigned elementSize, uint32_t count) {
  return static_cast<uint64_t>(static_cast<uint32_t>(offset) << 2) | 1u | (static_cast<uint64_t>(elementSize) << 32) |
         (static_cast<uint64_t>(count) << 35);
}
uint64_t compositeTag(uint32_t elements, uint16_t dataWords, uint16_t pointers) {
  return static_cast<uint64_t>(elements << 2) | (static_cast<uint64_t>(dataWords) << 32) |
         (static_cast<uint64_t>(pointers) << 48);
}
uint64_t farPointer(uint32_t landingPad, uint32_t segment) {
  return static_cast<uint64_t>(landingPad << 3) | 2u | (static_cast<uint64_t>(segment) << 32);
}

std::string frame(const std::vector<uint64_t>& segment) {
  std::vector<uint64_t> words;
  words.push_back(static_cast<uint64_t>(segment.size()) << 32);  // one segment of this many words
  words.insert(words.end(), segment.begin(), segment.end());
  std::string bytes(words.size() * sizeof(uint64_t), '\0');
  std::memcpy(bytes.data(), words.data(), bytes.size());
  return bytes;
}

// The first words of a segment: the root pointer and the data word of an
// Envelope (1 data word, 1 pointer) with discriminant `which`. The member
// pointer is to be pushed next, at word 2.
std::vector<uint64_t> envelopeHeader(uint16_t which) {
  return {structPointer(0, 1, 1), static_cast<uint64_t>(which)};
}

}  // namespace

// ------------------------------------------------------------ round trips

TEST_CASE("registerAgent with resources and attributes survives encode, decode and fromWire") {
  auto decoded = wire::decode(registerAgentBytes());
  REQUIRE(decoded.ok());
  REQUIRE((*decoded)->which() == wire::Envelope::REGISTER_AGENT);
  auto message = (*decoded)->envelope().getRegisterAgent();
  CHECK(std::string(message.getAgentId().cStr()) == "agent-7");

  auto info = wire::fromWire(message.getInfo());
  auto want = sampleAgentInfo();
  CHECK(info.hostname == want.hostname);
  CHECK(info.resources == want.resources);
  CHECK(info.resources.toString() == want.resources.toString());
  REQUIRE(info.attributes.size() == 2);
  CHECK(info.attributes[0].name == "rack");
  CHECK(info.attributes[0].value == "r1");
  CHECK(info.attributes[1].name == "zone");
  CHECK(info.attributes[1].value == "eu-west-1a");
  CHECK(info.httpPort == 5051);
  CHECK(info.bootId == want.bootId);
  CHECK(message.getTasks().size() == 1);
  CHECK(std::string(wire::name((*decoded)->which())) == "registerAgent");
}

TEST_CASE("runTask with a TaskInfo survives encode, decode and fromWire") {
  auto decoded = wire::decode(runTaskBytes());
  REQUIRE(decoded.ok());
  REQUIRE((*decoded)->which() == wire::Envelope::RUN_TASK);
  auto message = (*decoded)->envelope().getRunTask();

  auto framework = wire::fromWire(message.getFrameworkInfo());
  auto wantFramework = sampleFrameworkInfo();
  CHECK(framework.name == wantFramework.name);
  CHECK(framework.user == wantFramework.user);
  CHECK(framework.role == wantFramework.role);
  CHECK(framework.principal == wantFramework.principal);
  CHECK(framework.id == wantFramework.id);
  CHECK(framework.failoverTimeoutSeconds == wantFramework.failoverTimeoutSeconds);
  CHECK(framework.partitionAware == wantFramework.partitionAware);
  CHECK(framework.hostname == wantFramework.hostname);

  auto task = wire::fromWire(message.getTask());
  auto want = sampleTask();
  CHECK(task.name == want.name);
  CHECK(task.taskId == want.taskId);
  CHECK(task.agentId == want.agentId);
  CHECK(task.resources == want.resources);
  CHECK(task.command.value == want.command.value);
  CHECK(task.command.shell == want.command.shell);
  CHECK(task.command.arguments == want.command.arguments);
  CHECK(task.command.environment == want.command.environment);
  REQUIRE(task.killGracePeriodSeconds.has_value());
  CHECK(*task.killGracePeriodSeconds == doctest::Approx(2.5));
}

TEST_CASE("a task without a kill grace period keeps it unset across the wire") {
  capnp::MallocMessageBuilder message;
  auto run = message.initRoot<wire::Envelope>().initRunTask();
  auto task = sampleTask();
  task.killGracePeriodSeconds.reset();
  task.command.shell = true;
  task.command.value = "sleep 1";
  task.command.arguments.clear();
  wire::toWire(task, run.initTask());
  auto decoded = wire::decode(wire::encode(message));
  REQUIRE(decoded.ok());
  auto back = wire::fromWire((*decoded)->envelope().getRunTask().getTask());
  CHECK_FALSE(back.killGracePeriodSeconds.has_value());
  CHECK(back.command.shell);
  CHECK(back.command.value == "sleep 1");
  CHECK(back.command.arguments.empty());
}

// A Docker task keeps its image, force-pull and port mappings; a native task
// comes back without Docker.
TEST_CASE("a task's Docker container survives the wire, and a native task has none") {
  auto roundTrip = [](const clusternodes::TaskInfo& task) {
    capnp::MallocMessageBuilder message;
    wire::toWire(task, message.initRoot<wire::Envelope>().initRunTask().initTask());
    auto decoded = wire::decode(wire::encode(message));
    REQUIRE(decoded.ok());
    return wire::fromWire((*decoded)->envelope().getRunTask().getTask());
  };
  CHECK_FALSE(roundTrip(sampleTask()).docker.has_value());

  auto task = sampleTask();
  task.docker = DockerInfo{};
  task.docker->image = "registry.example.org:5000/web/server:1.2";
  task.docker->forcePull = true;
  task.docker->portMappings = {{31000, 8080, "tcp"}, {31001, 53, "udp"}};
  auto back = roundTrip(task);
  REQUIRE(back.docker.has_value());
  CHECK(back.docker->image == "registry.example.org:5000/web/server:1.2");
  CHECK(back.docker->forcePull);
  REQUIRE(back.docker->portMappings.size() == 2);
  CHECK(back.docker->portMappings[0].hostPort == 31000);
  CHECK(back.docker->portMappings[0].containerPort == 8080);
  CHECK(back.docker->portMappings[0].protocol == "tcp");
  CHECK(back.docker->portMappings[1].hostPort == 31001);
  CHECK(back.docker->portMappings[1].containerPort == 53);
  CHECK(back.docker->portMappings[1].protocol == "udp");

  task.docker = DockerInfo{};
  task.docker->image = "busybox";
  auto plain = roundTrip(task);
  REQUIRE(plain.docker.has_value());
  CHECK(plain.docker->image == "busybox");
  CHECK_FALSE(plain.docker->forcePull);
  CHECK(plain.docker->portMappings.empty());
}

TEST_CASE("statusUpdate with an exit code survives encode, decode and fromWire") {
  auto decoded = wire::decode(statusUpdateBytes());
  REQUIRE(decoded.ok());
  REQUIRE((*decoded)->which() == wire::Envelope::STATUS_UPDATE);
  auto message = (*decoded)->envelope().getStatusUpdate();
  CHECK(std::string(message.getFrameworkId().cStr()) == "fw-9");
  CHECK(std::string(message.getStatus().getFrameworkId().cStr()) == "fw-9");

  auto status = wire::fromWire(message.getStatus());
  auto want = sampleStatus();
  CHECK(status.taskId == want.taskId);
  CHECK((status.state == want.state));
  CHECK(status.message == want.message);
  CHECK((status.reason == want.reason));
  CHECK(status.source == want.source);
  CHECK(status.agentId == want.agentId);
  CHECK(status.exitCode == std::optional<int>(3));
  CHECK_FALSE(status.signal.has_value());
  CHECK(status.timestamp == want.timestamp);
  CHECK(status.uuid == want.uuid);
}

TEST_CASE("an exit code of zero is distinguished from no exit code") {
  for (std::optional<int> code : {std::optional<int>(0), std::optional<int>()}) {
    capnp::MallocMessageBuilder message;
    auto status = sampleStatus();
    status.exitCode = code;
    status.signal = 9;
    wire::toWire(status, FrameworkID{"fw"}, message.initRoot<wire::Envelope>().initStatusUpdate().initStatus());
    auto decoded = wire::decode(wire::encode(message));
    REQUIRE(decoded.ok());
    auto back = wire::fromWire((*decoded)->envelope().getStatusUpdate().getStatus());
    CHECK(back.exitCode == code);
    CHECK(back.signal == std::optional<int>(9));
  }
}

TEST_CASE("every seed message decodes and reads back without being dropped") {
  for (const auto& bytes : seedMessages()) {
    auto outcome = decodeAndReadAll(bytes);
    CHECK(outcome.decoded);
    CHECK(outcome.handled);
    CHECK(outcome.dropReason.empty());
  }
}

// ------------------------------------------------------------ framing

TEST_CASE("decode rejects empty, short and ragged input") {
  CHECK_FALSE(wire::decode("").ok());
  CHECK_FALSE(wire::decode(std::string(7, '\0')).ok());
  CHECK_FALSE(wire::decode(std::string(9, '\0')).ok());
  CHECK_FALSE(wire::decode(std::string(15, '\x01')).ok());
  std::string valid = runTaskBytes();
  CHECK_FALSE(wire::decode(valid + "x").ok());
  auto error = wire::decode(std::string(7, '\0'));
  REQUIRE_FALSE(error.ok());
  CHECK(error.error().code == ErrorCode::kInvalid);
}

TEST_CASE("decode rejects every truncation of a valid message") {
  for (const auto& bytes : seedMessages()) {
    for (size_t length = 0; length < bytes.size(); ++length) {
      INFO("length " << length << " of " << bytes.size());
      CHECK_FALSE(wire::decode(std::string_view(bytes).substr(0, length)).ok());
    }
  }
}

TEST_CASE("decode rejects a segment table that claims more than the input holds") {
  std::vector<uint64_t> words = {0xFFFFFFFFull << 32};  // one segment of 2^32-1 words
  std::string bytes(sizeof(uint64_t), '\0');
  std::memcpy(bytes.data(), words.data(), bytes.size());
  CHECK_FALSE(wire::decode(bytes).ok());

  // 511 segments: the table alone is longer than the input.
  words = {510, 0};
  bytes.assign(words.size() * sizeof(uint64_t), '\0');
  std::memcpy(bytes.data(), words.data(), bytes.size());
  CHECK_FALSE(wire::decode(bytes).ok());
}

TEST_CASE("decode rejects a message kind this build does not know") {
  auto segment = envelopeHeader(200);
  segment.push_back(0);  // null member pointer
  auto decoded = wire::decode(frame(segment));
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.error().message.find("unknown message kind") != std::string::npos);
}

TEST_CASE("every member of the envelope, the last one included, is a known message kind") {
  // notLeader is the union's last member: a standby's redirect was once
  // dropped as unknown by everyone it was sent to.
  capnp::MallocMessageBuilder message;
  message.initRoot<wire::Envelope>().initNotLeader().setLeader("10.0.0.2:5050");
  auto decoded = wire::decode(wire::encode(message));
  REQUIRE(decoded.ok());
  CHECK((*decoded)->which() == wire::Envelope::NOT_LEADER);
  CHECK(wire::text((*decoded)->envelope().getNotLeader().getLeader()) == "10.0.0.2:5050");
}

TEST_CASE("a NUL inside a text field makes the message malformed, but a status message only loses the NUL") {
  capnp::MallocMessageBuilder message;
  auto run = message.initRoot<wire::Envelope>().initRunTask();
  wire::toWire(sampleTask(), run.initTask());
  // Set with its length: a std::string would be cut at the NUL on the way.
  run.getTask().setTaskId(capnp::Text::Reader("ta\0sk", 5));
  auto decoded = wire::decode(wire::encode(message));
  REQUIRE(decoded.ok());
  CHECK_THROWS_AS(wire::fromWire((*decoded)->envelope().getRunTask().getTask()), wire::MalformedMessage);

  capnp::MallocMessageBuilder update;
  auto status = sampleStatus();
  auto built = update.initRoot<wire::Envelope>().initStatusUpdate().initStatus();
  wire::toWire(status, FrameworkID{"fw"}, built);
  built.setMessage(capnp::Text::Reader("bad\0output", 10));
  auto decodedUpdate = wire::decode(wire::encode(update));
  REQUIRE(decodedUpdate.ok());
  auto back = wire::fromWire((*decodedUpdate)->envelope().getStatusUpdate().getStatus());
  CHECK((back.state == status.state));
  CHECK(back.message == "bad?output");
}

TEST_CASE("a kill grace period too large, negative or NaN for the wire goes as the largest, never as none") {
  for (double seconds : {1e300, -1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    capnp::MallocMessageBuilder message;
    auto run = message.initRoot<wire::Envelope>().initRunTask();
    auto task = sampleTask();
    task.killGracePeriodSeconds = seconds;
    wire::toWire(task, run.initTask());
    INFO("grace " << seconds);
    CHECK(run.getTask().getKillGracePeriodMs() == std::numeric_limits<int64_t>::max());
  }
  capnp::MallocMessageBuilder message;
  auto run = message.initRoot<wire::Envelope>().initRunTask();
  auto task = sampleTask();
  task.killGracePeriodSeconds = 2.5;
  wire::toWire(task, run.initTask());
  CHECK(run.getTask().getKillGracePeriodMs() == 2500);
}

// ------------------------------------------------------------ fuzzing

TEST_CASE("random byte strings never crash the decoder or a reader") {
  std::mt19937_64 rng(20240607);
  int decoded = 0;
  int handled = 0;
  // Small offsets and sizes, so that random pointers often land inside the message.
  auto randomWord = [&rng]() -> uint64_t {
    switch (rng() % 6) {
      case 0:
      case 1: return rng();
      case 2:
      case 3:
        return structPointer(static_cast<int32_t>(rng() % 12) - 2, static_cast<uint16_t>(rng() % 3),
                             static_cast<uint16_t>(rng() % 8));
      case 4: return listPointer(static_cast<int32_t>(rng() % 12) - 2, static_cast<unsigned>(rng() % 8),
                                 static_cast<uint32_t>(rng() % 40));
      default: return rng() % 256;
    }
  };
  for (int i = 0; i < 20000; ++i) {
    size_t words = 1 + rng() % 48;
    std::string bytes;
    switch (i % 4) {
      case 0: {  // anything at all, of any length
        bytes.resize(rng() % (words * 8 + 8));
        for (auto& c : bytes) c = static_cast<char>(rng() & 0xFF);
        break;
      }
      case 1: {  // a plausible segment table over random words
        std::vector<uint64_t> segment(words);
        for (auto& w : segment) w = rng();
        bytes = frame(segment);
        break;
      }
      default: {  // an Envelope of a known kind whose body is random pointers and data
        auto segment = envelopeHeader(static_cast<uint16_t>(rng() % 34));
        for (size_t w = 0; w < words; ++w) segment.push_back(randomWord());
        bytes = frame(segment);
        break;
      }
    }
    auto outcome = decodeAndReadAll(bytes);
    decoded += outcome.decoded ? 1 : 0;
    handled += outcome.handled ? 1 : 0;
  }
  // The readers were exercised, not only the framing checks.
  CHECK(decoded > 1000);
  CHECK(handled > 0);
}

TEST_CASE("random mutations of valid messages never crash the decoder or a reader") {
  std::mt19937_64 rng(7);
  const auto seeds = seedMessages();
  int decoded = 0;
  int dropped = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string bytes = seeds[static_cast<size_t>(i) % seeds.size()];
    int mutations = 1 + static_cast<int>(rng() % 8);
    for (int m = 0; m < mutations; ++m) {
      size_t at = rng() % bytes.size();
      switch (rng() % 4) {
        case 0:  // flip one bit
          bytes[at] = static_cast<char>(bytes[at] ^ (1u << (rng() % 8)));
          break;
        case 1:  // overwrite one byte
          bytes[at] = static_cast<char>(rng() & 0xFF);
          break;
        case 2:  // a boundary value
          bytes[at] = static_cast<char>((rng() % 2) != 0 ? 0xFF : 0x80);
          break;
        default: {  // overwrite a whole word, where pointers live
          size_t word = (at / 8) * 8;
          uint64_t value = rng();
          std::memcpy(bytes.data() + word, &value, sizeof value);
          break;
        }
      }
    }
    auto outcome = decodeAndReadAll(bytes);
    decoded += outcome.decoded ? 1 : 0;
    dropped += (outcome.decoded && !outcome.handled) ? 1 : 0;
  }
  CHECK(decoded > 10000);
  CHECK(dropped > 0);  // damage was found and reported, not ignored
}

// ------------------------------------------------------------ hostile pointers

TEST_CASE("a list of half a billion empty structs is refused by the traversal limit") {
  // resourceOffers whose offers list claims 2^29-1 zero-sized elements in 0 words.
  auto segment = envelopeHeader(wire::Envelope::RESOURCE_OFFERS);
  segment.push_back(structPointer(0, 0, 1));              // -> ResourceOffers, right after
  segment.push_back(listPointer(0, 7, 0));                // offers: composite, 0 words
  segment.push_back(compositeTag((1u << 29) - 1, 0, 0));  // elements of 0 words each
  auto outcome = decodeAndReadAll(frame(segment));
  REQUIRE(outcome.decoded);
  CHECK_FALSE(outcome.handled);
  INFO("reason: " << outcome.dropReason);
  CHECK(outcome.dropReason.find("traversal limit") != std::string::npos);
}

TEST_CASE("a list pointer past the end of the segment is refused") {
  auto segment = envelopeHeader(wire::Envelope::RESOURCE_OFFERS);
  segment.push_back(structPointer(0, 0, 1));
  segment.push_back(listPointer(0, 7, (1u << 29) - 1));  // claims ~4 GiB of words
  segment.push_back(compositeTag(1000, 0, 6));
  auto outcome = decodeAndReadAll(frame(segment));
  REQUIRE(outcome.decoded);
  CHECK_FALSE(outcome.handled);
}

TEST_CASE("many pointers to one big list are bounded by the traversal limit") {
  // 2000 offers whose attribute lists all alias one list of 2000 attributes:
  // 16k words of message that would read as 8M words.
  constexpr uint32_t kOffers = 2000;
  constexpr uint32_t kAttributes = 2000;
  auto segment = envelopeHeader(wire::Envelope::RESOURCE_OFFERS);
  segment.push_back(structPointer(0, 0, 1));                 // word 2 -> ResourceOffers at 3
  segment.push_back(listPointer(0, 7, kOffers * 6));         // word 3: offers at 4
  segment.push_back(compositeTag(kOffers, 0, 6));            // word 4
  const size_t firstOffer = segment.size();                  // 5
  const size_t shared = firstOffer + kOffers * 6;             // the attribute list's tag
  for (uint32_t i = 0; i < kOffers; ++i) {
    for (uint32_t p = 0; p < 6; ++p) {
      size_t at = firstOffer + i * 6 + p;
      segment.push_back(p == 5 ? listPointer(static_cast<int32_t>(shared - (at + 1)), 7, kAttributes * 2) : 0);
    }
  }
  segment.push_back(compositeTag(kAttributes, 0, 2));
  segment.resize(segment.size() + kAttributes * 2, 0);  // null names and values

  auto outcome = decodeAndReadAll(frame(segment));
  REQUIRE(outcome.decoded);
  CHECK_FALSE(outcome.handled);
  INFO("reason: " << outcome.dropReason);
  CHECK(outcome.dropReason.find("traversal limit") != std::string::npos);
}

TEST_CASE("a struct pointer back to its parent is read without looping") {
  // runTask whose task pointer points back at the RunTask struct itself.
  auto segment = envelopeHeader(wire::Envelope::RUN_TASK);
  segment.push_back(structPointer(0, 0, 3));   // word 2 -> RunTask at 3
  segment.push_back(0);                         // frameworkId: null
  segment.push_back(0);                         // frameworkInfo: null
  segment.push_back(structPointer(-3, 0, 3));  // word 5: task -> word 3 again
  auto outcome = decodeAndReadAll(frame(segment));
  CHECK(outcome.decoded);  // handled or dropped, but finished
}

TEST_CASE("a far pointer that lands on itself is refused") {
  std::vector<uint64_t> segment = {farPointer(0, 0)};
  auto outcome = decodeAndReadAll(frame(segment));
  CHECK((!outcome.decoded || !outcome.handled));

  // The same as the member of a valid root.
  segment = envelopeHeader(wire::Envelope::RUN_TASK);
  segment.push_back(farPointer(2, 0));
  outcome = decodeAndReadAll(frame(segment));
  CHECK((!outcome.decoded || !outcome.handled));
}

TEST_CASE("a far pointer to a segment that does not exist is refused") {
  auto segment = envelopeHeader(wire::Envelope::RUN_TASK);
  segment.push_back(farPointer(0, 7));
  auto outcome = decodeAndReadAll(frame(segment));
  REQUIRE(outcome.decoded);
  CHECK_FALSE(outcome.handled);
}

TEST_CASE("many resources with many port ranges are converted, every range kept") {
  // An honest-looking but huge agent description: 50,000 single-port ranges.
  constexpr unsigned kEntries = 50000;
  capnp::MallocMessageBuilder message;
  auto list = message.initRoot<wire::Envelope>().initRegisterAgent().initInfo().initResources(kEntries);
  for (unsigned i = 0; i < kEntries; ++i) {
    list[i].setName("ports");
    list[i].setRole("*");
    list[i].setIsRanges(true);
    auto ranges = list[i].initRanges(1);
    ranges[0].setBegin(2ull * i);  // disjoint, so nothing merges
    ranges[0].setEnd(2ull * i);
  }
  std::string bytes = wire::encode(message);

  auto decoded = wire::decode(bytes);
  REQUIRE(decoded.ok());
  auto info = wire::fromWire((*decoded)->envelope().getRegisterAgent().getInfo());
  CHECK(info.resources.ports().size() == kEntries);
  CHECK(info.resources.ports().ranges().size() == kEntries);
}

// ------------------------------------------------------------ value rules

TEST_CASE("fromWire rejects a negative scalar") {
  capnp::MallocMessageBuilder message;
  auto resources = message.initRoot<wire::Offer>().initResources(1);
  resources[0].setName("cpus");
  resources[0].setRole("*");
  resources[0].setScalarMilli(-1000);
  CHECK_THROWS_AS(wire::fromWire(resources.asReader()), wire::MalformedMessage);
}

TEST_CASE("fromWire rejects a range with begin > end") {
  capnp::MallocMessageBuilder message;
  auto resources = message.initRoot<wire::Offer>().initResources(1);
  resources[0].setName("ports");
  resources[0].setIsRanges(true);
  auto ranges = resources[0].initRanges(2);
  ranges[0].setBegin(10);
  ranges[0].setEnd(20);
  ranges[1].setBegin(31000);
  ranges[1].setEnd(30000);
  CHECK_THROWS_AS(wire::fromWire(resources.asReader()), wire::MalformedMessage);
}

TEST_CASE("fromWire rejects a resource without a name") {
  capnp::MallocMessageBuilder message;
  auto resources = message.initRoot<wire::Offer>().initResources(1);
  resources[0].setScalarMilli(1000);
  CHECK_THROWS_AS(wire::fromWire(resources.asReader()), wire::MalformedMessage);
}

TEST_CASE("fromWire reads an unset role as the default role") {
  capnp::MallocMessageBuilder message;
  auto resources = message.initRoot<wire::Offer>().initResources(1);
  resources[0].setName("cpus");
  resources[0].setScalarMilli(2000);
  CHECK(wire::fromWire(resources.asReader()) == res("cpus:2"));
}

TEST_CASE("fromWire rejects an unknown task state") {
  for (const char* state : {"TASK_BOGUS", "", "task_running", "TASK_RUNNING "}) {
    INFO("state: '" << state << "'");
    capnp::MallocMessageBuilder message;
    auto status = message.initRoot<wire::TaskStatus>();
    status.setTaskId("t");
    status.setState(state);
    CHECK_THROWS_AS(wire::fromWire(status.asReader()), wire::MalformedMessage);
  }
}

TEST_CASE("fromWire rejects an unknown status source and a bad failover timeout") {
  capnp::MallocMessageBuilder statusMessage;
  auto status = statusMessage.initRoot<wire::TaskStatus>();
  status.setState("TASK_RUNNING");
  status.setSource(3);
  CHECK_THROWS_AS(wire::fromWire(status.asReader()), wire::MalformedMessage);

  for (double timeout : {-1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    capnp::MallocMessageBuilder message;
    auto info = message.initRoot<wire::FrameworkInfo>();
    info.setName("x");
    info.setFailoverTimeoutSeconds(timeout);
    CHECK_THROWS_AS(wire::fromWire(info.asReader()), wire::MalformedMessage);
  }
}

TEST_CASE("a rule-breaking value in a decoded message is dropped by dispatchSafely with the reason") {
  capnp::MallocMessageBuilder message;
  auto status = sampleStatus();
  wire::toWire(status, FrameworkID{"fw"}, message.initRoot<wire::Envelope>().initStatusUpdate().initStatus());
  message.getRoot<wire::Envelope>().getStatusUpdate().getStatus().setState("TASK_EXPLODED");
  auto outcome = decodeAndReadAll(wire::encode(message));
  REQUIRE(outcome.decoded);
  CHECK_FALSE(outcome.handled);
  CHECK(outcome.dropReason.find("TASK_EXPLODED") != std::string::npos);
}

TEST_CASE("dispatchSafely reports every kind of exception and passes a clean run") {
  std::string reason;
  auto onDropped = [&](const std::string& r) { reason = r; };
  CHECK(wire::dispatchSafely([] {}, onDropped));
  CHECK(reason.empty());
  CHECK_FALSE(wire::dispatchSafely([] { throw wire::MalformedMessage("bad value"); }, onDropped));
  CHECK(reason == "bad value");
  CHECK_FALSE(wire::dispatchSafely([] { throw std::runtime_error("boom"); }, onDropped));
  CHECK(reason == "boom");
  CHECK_FALSE(wire::dispatchSafely([] { throw 42; }, onDropped));
  CHECK_FALSE(reason.empty());
  CHECK_FALSE(wire::dispatchSafely([] { KJ_FAIL_REQUIRE("kj failure"); }, onDropped));
  CHECK(reason.find("kj failure") != std::string::npos);
}

TEST_CASE("a task's executor and data, and a status's data, survive the wire byte for byte") {
  auto task = sampleTask();
  task.command = clusternodes::CommandInfo{};
  task.executor = clusternodes::ExecutorInfo{};
  task.executor->executorId.value = "tracker";
  task.executor->name = "task tracker";
  task.executor->command.shell = false;
  task.executor->command.arguments = {"/usr/bin/mr", "executor"};
  task.executor->command.environment = {{"MODE", "fast"}};
  task.executor->resources = *Resources::parse("cpus:0.5;mem:64");
  task.data = std::string("{\"split\":1}\0\xff", 13);
  capnp::MallocMessageBuilder message;
  wire::toWire(task, message.initRoot<wire::Envelope>().initRunTask().initTask());
  auto decoded = wire::decode(wire::encode(message));
  REQUIRE(decoded.ok());
  auto back = wire::fromWire((*decoded)->envelope().getRunTask().getTask());
  REQUIRE(back.executor.has_value());
  CHECK(back.executor->executorId.value == "tracker");
  CHECK(back.executor->name == "task tracker");
  CHECK_FALSE(back.executor->command.shell);
  CHECK(back.executor->command.arguments == std::vector<std::string>{"/usr/bin/mr", "executor"});
  CHECK(back.executor->command.environment.at("MODE") == "fast");
  CHECK(back.executor->resources == *Resources::parse("cpus:0.5;mem:64"));
  CHECK(back.data == task.data);
  capnp::MallocMessageBuilder plain;
  wire::toWire(sampleTask(), plain.initRoot<wire::Envelope>().initRunTask().initTask());
  auto plainDecoded = wire::decode(wire::encode(plain));
  REQUIRE(plainDecoded.ok());
  CHECK_FALSE(wire::fromWire((*plainDecoded)->envelope().getRunTask().getTask()).executor.has_value());

  clusternodes::TaskStatus status;
  status.taskId.value = "t";
  status.state = TaskState::kFinished;
  status.data = std::string("out\0put", 7);
  capnp::MallocMessageBuilder update;
  wire::toWire(status, FrameworkID{"f"}, update.initRoot<wire::Envelope>().initStatusUpdate().initStatus());
  auto decodedStatus = wire::decode(wire::encode(update));
  REQUIRE(decodedStatus.ok());
  CHECK(wire::fromWire((*decodedStatus)->envelope().getStatusUpdate().getStatus()).data == status.data);
}

TEST_CASE("a task whose executor has no id is malformed") {
  auto task = sampleTask();
  task.executor = clusternodes::ExecutorInfo{};
  task.executor->command.value = "run";
  capnp::MallocMessageBuilder message;
  wire::toWire(task, message.initRoot<wire::Envelope>().initRunTask().initTask());
  auto decoded = wire::decode(wire::encode(message));
  REQUIRE(decoded.ok());
  CHECK_THROWS_AS(wire::fromWire((*decoded)->envelope().getRunTask().getTask()), wire::MalformedMessage);
}
