// Garbage on the wire: random bytes, truncated and ill-formed messages sent
// to the master's and the agent's ports leave both serving.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>
#include <zmq.hpp>

#include "common/http_client.hpp"
#include "common/wire.hpp"
#include "tests/harness/cluster.hpp"

using namespace clusternodes;
using namespace clusternodes::testing;
using namespace std::chrono_literals;

namespace {

uint64_t droppedCount(const std::string& metricsUrl, const std::string& metric) {
  auto r = httpGet(metricsUrl, 5);
  if (!r) return 0;
  auto at = r->body.find("\n" + metric + " ");
  if (at == std::string::npos) return 0;
  return std::stoull(r->body.substr(at + metric.size() + 2));
}

// Raw TCP garbage: not even the ZeroMQ handshake.
void sendRawBytes(int port, const std::string& bytes) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    (void)!::write(fd, bytes.data(), bytes.size());
  }
  ::close(fd);
}

std::string randomBytes(std::mt19937& rng, size_t size) {
  std::string out(size, '\0');
  for (auto& c : out) c = static_cast<char>(rng());
  return out;
}

// Well-formed Cap'n Proto messages that a daemon must still refuse.
std::vector<std::string> illFormedMessages() {
  std::vector<std::string> out;
  {
    // A registration whose resources are negative.
    capnp::MallocMessageBuilder m;
    auto reg = m.initRoot<wire::Envelope>().initRegisterAgent();
    reg.initInfo().setHostname("evil");
    auto resources = reg.getInfo().initResources(1);
    resources[0].setName("cpus");
    resources[0].setScalarMilli(-5000);
    out.push_back(wire::encode(m));
  }
  {
    // A status update with a state that does not exist.
    capnp::MallocMessageBuilder m;
    auto update = m.initRoot<wire::Envelope>().initStatusUpdate();
    update.initStatus().setState("TASK_EXPLODED");
    out.push_back(wire::encode(m));
  }
  {
    // A message meant for executors.
    capnp::MallocMessageBuilder m;
    m.initRoot<wire::Envelope>().initKillCommand().setKillGracePeriodMs(1);
    out.push_back(wire::encode(m));
  }
  {
    // A range with begin > end.
    capnp::MallocMessageBuilder m;
    auto reg = m.initRoot<wire::Envelope>().initRegisterAgent();
    auto resources = reg.initInfo().initResources(1);
    resources[0].setName("ports");
    resources[0].setIsRanges(true);
    auto ranges = resources[0].initRanges(1);
    ranges[0].setBegin(10);
    ranges[0].setEnd(5);
    out.push_back(wire::encode(m));
  }
  return out;
}

// Sends `count` bad messages of every kind through a DEALER to `endpoint`;
// returns how many were sent.
int sendGarbage(const std::string& endpoint, std::mt19937& rng) {
  zmq::context_t context(1);
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 2000);
  socket.connect(endpoint);
  int sent = 0;
  auto send = [&](const std::string& bytes) {
    socket.send(zmq::buffer(bytes), zmq::send_flags::none);
    ++sent;
  };
  for (int i = 0; i < 200; ++i) send(randomBytes(rng, 1 + rng() % 512));
  send("");
  // Every prefix of a real message.
  capnp::MallocMessageBuilder m;
  auto subscribe = m.initRoot<wire::Envelope>().initSubscribe().initInfo();
  subscribe.setName("truncated");
  subscribe.setRole("*");
  auto valid = wire::encode(m);
  for (size_t n = 1; n < valid.size(); ++n) send(valid.substr(0, n));
  // Random bit flips inside a real message's segment table.
  for (int i = 0; i < 50; ++i) {
    auto flipped = valid;
    flipped[rng() % 8] ^= static_cast<char>(1u << (rng() % 8));
    send(flipped);
  }
  for (const auto& bad : illFormedMessages()) send(bad);
  // A three-frame message (a ROUTER expects [identity, payload]).
  socket.send(zmq::buffer(std::string("a")), zmq::send_flags::sndmore);
  socket.send(zmq::buffer(std::string("b")), zmq::send_flags::sndmore);
  socket.send(zmq::buffer(std::string("c")), zmq::send_flags::none);
  ++sent;
  return sent;
}

}  // namespace

TEST_CASE("random bytes and truncated messages leave the master and the agent serving") {
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent();
  cluster.waitForAgents(1);

  std::mt19937 rng(42);
  int masterPort = std::stoi(cluster.master().substr(cluster.master().rfind(':') + 1));

  // Raw TCP garbage at both ZeroMQ ports and both HTTP ports.
  for (int i = 0; i < 20; ++i) {
    sendRawBytes(masterPort, randomBytes(rng, 1 + rng() % 4096));
    sendRawBytes(std::stoi(cluster.masterHttp().substr(cluster.masterHttp().rfind(':') + 1)),
                 randomBytes(rng, 1 + rng() % 4096));
  }

  // Bad messages through ZeroMQ to the master and to the agent's executor port.
  int toMaster = sendGarbage("tcp://" + cluster.master(), rng);
  int toAgent = sendGarbage(cluster.agentEndpoint(0), rng);
  int agentPort = std::stoi(cluster.agentEndpoint(0).substr(cluster.agentEndpoint(0).rfind(':') + 1));
  for (int i = 0; i < 20; ++i) sendRawBytes(agentPort, randomBytes(rng, 1 + rng() % 4096));

  REQUIRE(eventually([&] {
    return droppedCount(cluster.masterHttp() + "/metrics", "clusternodes_master_messages_dropped_total") >=
           static_cast<uint64_t>(toMaster);
  }));
  REQUIRE(eventually([&] {
    return droppedCount(cluster.agentHttp(0) + "/metrics", "clusternodes_agent_messages_dropped_total") >=
           static_cast<uint64_t>(toAgent);
  }));
  CHECK(httpGet(cluster.masterHttp() + "/health", 5)->status == 200);
  CHECK(httpGet(cluster.agentHttp(0) + "/health", 5)->status == 200);

  // Both still work: the agent is registered and a job runs to the end.
  CHECK(cluster.agentState(0)["registered"].get<bool>());
  auto result = runProgram({binary("launch-tasks"), "--master=" + cluster.master(), "--tasks=10",
                            "--command=true", "--timeout=60"});
  INFO(result.output);
  CHECK(result.output.find("finished 10/10") != std::string::npos);
}
