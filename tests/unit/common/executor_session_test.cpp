// The executor protocol's executor side, on simulated time: registration,
// acknowledged updates, the agent watch and the recovery timeout.
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/executor_session.hpp"
#include "tests/harness/fake_transport.hpp"
#include "tests/harness/simulated_time.hpp"

using namespace clusternodes;
using clusternodes::testing::FakeTransport;
using clusternodes::testing::SimulatedTime;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

constexpr pid_t kAgentPid = 4242;

// A session to an agent whose process start time the test controls.
struct Fixture {
  SimulatedTime time;
  std::shared_ptr<FakeTransport::Wire> wire;
  std::optional<uint64_t> agentStart = 7;  // nullopt: the agent's process is gone
  int gone = 0;
  int timedOut = 0;
  int allAcked = 0;
  std::vector<std::string> received;
  std::unique_ptr<ExecutorSession> session;

  explicit Fixture(Duration recoveryTimeout = seconds(10)) {
    auto transport = std::make_unique<FakeTransport>();
    wire = transport->wire();
    ExecutorSessionOptions options;
    options.agentEndpoint = "tcp://10.0.0.1:5051";
    options.frameworkId.value = "fw-1";
    options.executorId.value = "exec-1";
    options.agentPid = kAgentPid;
    options.recoveryTimeout = recoveryTimeout;
    options.selfPid = 99;
    options.startTimeOf = [this](pid_t pid) { return pid == kAgentPid ? agentStart : std::nullopt; };
    ExecutorSessionEvents events;
    events.onMessage = [this](const wire::Envelope::Reader& m) { received.push_back(wire::name(m.which())); };
    events.onAgentGone = [this] { ++gone; };
    events.onRecoveryTimeout = [this] { ++timedOut; };
    events.onAllAcknowledged = [this] { ++allAcked; };
    session = std::make_unique<ExecutorSession>(time, std::move(transport), std::move(options), std::move(events));
    REQUIRE(session->start());
  }

  size_t registrations() const { return wire->sentOfKind(wire::Envelope::REGISTER_EXECUTOR).size(); }

  // The uuids of the status updates sent, in order.
  std::vector<std::string> updates() const {
    std::vector<std::string> uuids;
    for (const auto& d : wire->sentOfKind(wire::Envelope::EXECUTOR_STATUS)) {
      uuids.push_back(d->envelope().getExecutorStatus().getStatus().getUuid().cStr());
    }
    return uuids;
  }

  void ack(const std::string& uuid) {
    capnp::MallocMessageBuilder message;
    message.initRoot<wire::Envelope>().initExecutorAck().setUuid(uuid);
    wire->deliver("", wire::encode(message));
  }

  TaskStatus running(const std::string& task) {
    TaskStatus status;
    status.taskId.value = task;
    status.state = TaskState::kRunning;
    return status;
  }
};

}  // namespace

TEST_CASE("executor session: registers with its ids and pid, and again every interval until accepted") {
  Fixture f;
  CHECK(f.wire->endpoint() == "tcp://10.0.0.1:5051");
  REQUIRE(f.registrations() == 1);
  auto first = f.wire->sentOfKind(wire::Envelope::REGISTER_EXECUTOR);
  auto reg = first[0]->envelope().getRegisterExecutor();
  CHECK(std::string(reg.getFrameworkId().cStr()) == "fw-1");
  CHECK(std::string(reg.getExecutorId().cStr()) == "exec-1");
  CHECK(std::string(reg.getTaskId().cStr()).empty());
  CHECK(reg.getPid() == 99);

  f.time.advance(milliseconds(1600));
  CHECK(f.registrations() == 4);  // at 0, 0.5, 1.0 and 1.5 s
  f.session->registered(kAgentPid);
  CHECK(f.session->isRegistered());
  f.time.advance(seconds(10));
  CHECK(f.registrations() == 4);
}

TEST_CASE("executor session: an update is re-sent every interval until acknowledged, then never again") {
  Fixture f;
  f.session->registered(kAgentPid);
  f.session->sendUpdate(f.running("t1"));
  auto sent = f.updates();
  REQUIRE(sent.size() == 1);
  std::string uuid = sent[0];
  CHECK_FALSE(uuid.empty());
  CHECK(f.session->unacknowledged() == 1);

  f.time.advance(milliseconds(1200));
  CHECK(f.updates() == std::vector<std::string>{uuid, uuid, uuid});
  f.ack("some-other-uuid");  // not this update's: changes nothing
  CHECK(f.session->unacknowledged() == 1);
  CHECK(f.allAcked == 0);

  f.ack(uuid);
  CHECK(f.session->unacknowledged() == 0);
  CHECK(f.allAcked == 1);
  f.time.advance(seconds(30));
  CHECK(f.updates().size() == 3);
}

TEST_CASE("executor session: updates wait for registration and go in the order they were made") {
  Fixture f;
  double madeAt = f.time.wallSeconds();
  f.session->sendUpdate(f.running("t1"));
  TaskStatus finished = f.running("t1");
  finished.state = TaskState::kFinished;
  f.session->sendUpdate(finished);
  f.time.advance(seconds(2));
  CHECK(f.updates().empty());  // nobody to send them to yet

  f.session->registered(kAgentPid);
  auto decoded = f.wire->sentOfKind(wire::Envelope::EXECUTOR_STATUS);
  REQUIRE(decoded.size() == 2);
  auto first = decoded[0]->envelope().getExecutorStatus().getStatus();
  auto second = decoded[1]->envelope().getExecutorStatus().getStatus();
  CHECK(std::string(first.getTaskId().cStr()) == "t1");
  CHECK(std::string(toString(wire::fromWire(first).state)) == "TASK_RUNNING");
  CHECK(std::string(toString(wire::fromWire(second).state)) == "TASK_FINISHED");
  CHECK((wire::fromWire(second).source == TaskSource::kExecutor));
  // Stamped when made, not when the agent finally got it two seconds later.
  CHECK(wire::fromWire(first).timestamp == madeAt);
}

TEST_CASE("executor session: the agent's messages reach the owner, except acks, and malformed ones are counted") {
  Fixture f;
  capnp::MallocMessageBuilder message;
  message.initRoot<wire::Envelope>().setShutdownExecutor();
  f.wire->deliver("", wire::encode(message));
  f.wire->deliver("", "not a message");
  f.ack("unknown");
  CHECK(f.received == std::vector<std::string>{wire::name(wire::Envelope::SHUTDOWN_EXECUTOR)});
  CHECK(f.session->droppedMessages() == 1);
}

TEST_CASE("executor session: while the agent is gone nothing is sent but registrations, and a restarted agent gets "
          "every unacknowledged update") {
  Fixture f(seconds(10));
  f.session->registered(kAgentPid);
  f.session->sendUpdate(f.running("t1"));
  std::string uuid = f.updates().at(0);

  f.agentStart.reset();  // the agent's process ended
  f.time.advance(milliseconds(500));
  CHECK(f.gone == 1);
  CHECK(f.session->agentGone());
  size_t updatesBefore = f.updates().size();
  size_t registrationsBefore = f.registrations();
  f.time.advance(seconds(3));
  CHECK(f.updates().size() == updatesBefore);
  CHECK(f.registrations() >= registrationsBefore + 5);

  // A new agent (another pid) took over the endpoint and accepts the executor.
  constexpr pid_t kNewAgent = 5151;
  bool wasGone = f.session->registered(kNewAgent);
  CHECK(wasGone);
  CHECK_FALSE(f.session->agentGone());
  CHECK(f.updates().back() == uuid);
  // The new agent is watched: its process does not exist in this fixture, so
  // it is soon gone too, which shows the watch follows the new pid.
  f.time.advance(milliseconds(500));
  CHECK(f.gone == 2);
  CHECK(f.timedOut == 0);
}

TEST_CASE("executor session: an agent gone past the recovery timeout ends the session once, and it sends nothing "
          "more") {
  Fixture f(seconds(10));
  f.session->registered(kAgentPid);
  f.agentStart = 8;  // the pid now belongs to another process: not the agent
  f.time.advance(milliseconds(500));
  CHECK(f.gone == 1);
  f.time.advance(milliseconds(9000));
  CHECK(f.timedOut == 0);
  f.time.advance(milliseconds(1000));
  CHECK(f.timedOut == 1);
  size_t sent = f.wire->sent().size();
  f.session->sendUpdate(f.running("t1"));
  f.time.advance(seconds(60));
  CHECK(f.timedOut == 1);
  CHECK(f.wire->sent().size() == sent);
  CHECK(f.time.pending() == 0);
}

TEST_CASE("executor session: a lost connection makes it look at the agent at once") {
  Fixture f(seconds(10));
  f.session->registered(kAgentPid);
  f.agentStart.reset();
  f.wire->connectionChanged(false);
  CHECK(f.gone == 1);  // without waiting for the watch's next tick
}
