// Fuzz target: the master's handling of what agents and frameworks send it.
//
// Each input is a conversation (harness/conversation.hpp) with a fresh
// master, set up as tests/unit/master/master_sim_test.cpp sets one up:
// simulated time, an in-memory socket, and its registry in memory. Peer N
// is the socket identity "peer-N"; any peer may send anything. Ids the
// master made are named in the seeds through kMasterIdPlaceholder
// (harness/daemon.hpp). Time moves only in the conversation's pauses; each
// message ends a loop turn (the registry's group commit, and the replies
// that waited on it).
//
// An ACL file with a rule of every kind is loaded, so that authorization
// runs on every path that asks it. Whatever the master sends must decode;
// the ids of a task it sends an agent must be fit to name a directory (the
// agent makes the sandbox <framework>/<task or executor>/<run> of them);
// and what peers told it must not break what it shows: at the end, GET
// /state must answer 200 (a name a peer gave that is not UTF-8, say, must
// not make it fail for everyone). (/metrics, which costs more than the rest
// of a run, is left to http_json.)
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <unistd.h>

#include "fuzz/harness/conversation.hpp"
#include "fuzz/harness/daemon.hpp"
#include "fuzz/harness/http_exchange.hpp"
#include "fuzz/harness/memory_file_system.hpp"
#include "master/master.hpp"
#include "tests/harness/fake_transport.hpp"
#include "tests/harness/simulated_time.hpp"

using namespace clusternodes;
using namespace clusternodes::master;
using clusternodes::testing::FakeTransport;
using clusternodes::testing::SimulatedTime;

namespace {

constexpr const char* kAcls = R"(
[[register_framework]]
principals = ["*"]
roles = ["*"]

[[run_task]]
principals = ["*"]
users = ["root"]
allow = false

[[run_task]]
principals = ["*"]
users = ["*"]

[[teardown]]
principals = ["*"]
framework_principals = ["*"]

[[reserve]]
principals = ["*"]
roles = ["eng", "eng/*"]

[[update_weights]]
principals = ["*"]
roles = ["*"]

[[update_quota]]
principals = ["*"]
roles = ["*"]
)";

std::string aclFile;

int initialize() {
  fuzzing::quietLogs();
  const char* tmp = std::getenv("TMPDIR");
  aclFile = std::string(tmp != nullptr ? tmp : "/tmp") + "/cn-fuzz-acls-" + std::to_string(::getpid()) + ".toml";
  std::ofstream(aclFile) << kAcls;
  std::atexit([] { std::filesystem::remove(aclFile); });
  return 0;
}

MasterFlags fuzzFlags() {
  MasterFlags flags;
  flags.workDir = "/fuzz/master";  // in the MemoryFileSystem
  flags.port = 0;
  flags.httpPort = -1;
  // Offers follow every change at once; the timeouts are short enough for
  // the conversation's pauses to pass them.
  flags.allocationInterval = std::chrono::nanoseconds::zero();
  flags.offerTimeout = std::chrono::seconds(30);
  flags.agentPingTimeout = std::chrono::seconds(1);
  flags.maxAgentPingTimeouts = 3;
  flags.frameworkHeartbeatInterval = std::chrono::seconds(1);
  flags.agentRemovalTimeout = std::chrono::seconds(60);
  flags.agentReregisterTimeout = std::chrono::seconds(30);
  flags.agentRemovalRateCount = 2;
  flags.agentRemovalRatePeriod = std::chrono::seconds(10);
  flags.weights = {{"eng", 2.0}, {"ops", 1.0}};
  flags.aclsFile = aclFile;
  return flags;
}

// An id the agent can make a directory of, inside the sandboxes.
bool directoryName(capnp::Text::Reader id) {
  std::string_view name(id.cStr(), id.size());
  if (name.empty() || name == "." || name == ".." || name.size() > 256) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return c != '/' && c != '\0'; });
}

void checkRunTask(const std::string& peer, wire::Envelope::Reader envelope) {
  if (envelope.which() != wire::Envelope::RUN_TASK) return;
  auto run = envelope.getRunTask();
  auto task = run.getTask();
  bool fit = directoryName(run.getFrameworkId()) && directoryName(task.getTaskId()) &&
             (!task.hasExecutor() || directoryName(task.getExecutor().getExecutorId()));
  if (!fit) {
    std::fprintf(stderr, "the master sent %s a task whose ids cannot name a sandbox: framework '%s', task '%s'\n",
                 peer.c_str(), run.getFrameworkId().cStr(), task.getTaskId().cStr());
    std::abort();
  }
}

void checkShown(Loop& loop, Master& master) {
  HttpServer http(loop);
  installMasterEndpoints(http, master);
  std::string answer = fuzzing::exchange(loop, http, "GET /state HTTP/1.1\r\nConnection: close\r\n\r\n");
  if (answer.rfind("HTTP/1.1 200 ", 0) != 0) {
    std::fprintf(stderr, "GET /state after the conversation: %.300s\n", answer.c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static int initialized = initialize();
  (void)initialized;
  static Loop loop;  // the HTTP server's, for checkShown()
  SimulatedTime time;
  auto transport = std::make_unique<FakeTransport>();
  auto wire = transport->wire();
  Master master(MasterEnvironment{time, std::move(transport), nullptr, std::make_shared<fuzzing::MemoryFileSystem>()},
                fuzzFlags());
  if (auto started = master.start(); !started) {
    std::fprintf(stderr, "the master did not start: %s\n", started.error().message.c_str());
    std::abort();
  }
  const std::string& masterId = master.state().masterId;
  for (const auto& step : fuzzing::readConversation(data, size)) {
    if (step.pause) {
      time.advance(step.length);
    } else {
      wire->deliver("peer-" + std::to_string(step.peer), fuzzing::withMasterId(step.bytes, masterId));
      time.advance(Duration::zero());
    }
    fuzzing::checkSent(*wire, "master", checkRunTask);
  }
  checkShown(loop, master);
  uv_run(loop.raw(), UV_RUN_NOWAIT);  // the server's handles close on the loop
  return 0;
}
