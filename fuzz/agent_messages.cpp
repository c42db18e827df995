// Fuzz target: the agent's handling of what its master and its executors
// send it.
//
// Each input is a conversation (harness/conversation.hpp) with a fresh agent,
// set up as tests/unit/agent/agent_sim_test.cpp sets one up: simulated time,
// in-memory sockets, checkpoints in memory, and containers that are only
// records (no process starts, no cgroup is made). The peers:
//
//   0      the master
//   1-6    executors, by their socket identities "executor-1" ... "executor-6"
//   7      the world: its first byte makes the Nth container's executor exit
//          (with the second byte as its exit code), or, with the top bit,
//          the link to the master drop (bit 0 clear) or come back (set)
//
// Whatever the agent sends must decode (harness/daemon.hpp), and at the end
// its GET /state must answer 200: what a master or an executor said must not
// break what the agent shows.
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "agent/agent.hpp"
#include "fuzz/harness/conversation.hpp"
#include "fuzz/harness/daemon.hpp"
#include "fuzz/harness/http_exchange.hpp"
#include "fuzz/harness/memory_file_system.hpp"
#include "tests/harness/fake_transport.hpp"
#include "tests/harness/simulated_time.hpp"

using namespace clusternodes;
using namespace clusternodes::agent;
using clusternodes::testing::FakeTransport;
using clusternodes::testing::SimulatedTime;

namespace {

// Containers as records; the world (peer 7) ends their executors.
class RecordedContainers final : public Containerizer {
 public:
  LaunchResult launch(const ContainerLaunch& launch, OnExit onExit) override {
    live_[launch.containerId] = std::move(onExit);
    // No process has this pid; nothing here signals it either.
    return {nextPid_++, std::nullopt, {}};
  }
  bool recover(const RecoveredContainer& saved, OnExit onExit) override {
    live_[saved.containerId] = std::move(onExit);
    return true;
  }
  void describe(const std::string&, const ContainerLimits&, wire::ExecutorContainer::Builder) const override {}
  Result<void> update(const std::string&, const ContainerLimits&) override { return {}; }
  void kill(const std::string&) override {}
  bool destroy(const std::string& id) override {
    live_.erase(id);
    return false;
  }
  bool measures(const std::string&) const override { return false; }
  Result<ContainerUsage> usage(const std::string& id) const override { return notFound("not measured: " + id); }

  // Ends the executor of the live container `index` (modulo their number).
  void exit(size_t index, int code) {
    if (live_.empty()) return;
    auto it = std::next(live_.begin(), static_cast<long>(index % live_.size()));
    OnExit onExit = std::move(it->second);
    live_.erase(it);
    if (onExit) onExit(ExitStatus{code, 0});
  }
  size_t size() const { return live_.size(); }

 private:
  std::map<std::string, OnExit> live_;
  pid_t nextPid_ = 5'000'000;  // above PID_MAX_LIMIT (2^22): no process has it
};

// The agent's work dir, the same for every input: it holds only the empty
// sandboxes directory, as no container here makes a sandbox.
std::string workRoot;

int initialize() {
  fuzzing::quietLogs();
  const char* tmp = std::getenv("TMPDIR");
  workRoot = std::string(tmp != nullptr ? tmp : "/tmp") + "/cn-fuzz-agent-" + std::to_string(::getpid());
  std::filesystem::create_directories(workRoot);
  std::ofstream(workRoot + "/clusternodes-executor").put('\n');  // start() looks for it
  std::atexit([] {
    std::error_code ec;
    std::filesystem::remove_all(workRoot, ec);
  });
  return 0;
}

AgentFlags fuzzFlags() {
  AgentFlags flags;
  flags.workDir = workRoot + "/work";
  flags.launcherDir = workRoot;
  flags.httpPort = 0;
  flags.port = 0;
  flags.hostname = "fuzz";
  flags.resources = "cpus:4;mem:4096;disk:1000;ports:[31000-32000];gpus:1";
  flags.attributes = "rack:r1;zone:a";
  flags.isolation.isolation = "none";
  flags.containerizers = "native,docker";
  flags.maxStartingExecutors = 2;
  return flags;
}

// Runs one turn of the loop: what the agent staged is written, and what
// waited for that is sent.
void turn(Loop& loop) { uv_run(loop.raw(), UV_RUN_NOWAIT); }

using Containers = std::array<RecordedContainers*, 3>;  // native, Docker, framework executors

// What the world (peer 7) does: `bytes` as the top of this file says.
void worldStep(std::string_view bytes, FakeTransport::Wire& master, const Containers& containers) {
  if (bytes.empty()) return;
  auto what = static_cast<uint8_t>(bytes[0]);
  if (what & 0x80) return master.connectionChanged(what & 1);
  int code = bytes.size() > 1 ? static_cast<uint8_t>(bytes[1]) : 0;
  size_t live = 0;
  for (auto* kind : containers) live += kind->size();
  size_t index = what % std::max<size_t>(live, 1);
  for (auto* kind : containers) {
    if (index < kind->size()) return kind->exit(index, code);
    index -= kind->size();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static int initialized = initialize();
  (void)initialized;
  static Loop loop;
  static zmq::context_t context(0);
  {
    SimulatedTime time;
    AgentEnvironment environment;
    environment.time = &time;
    auto master = std::make_unique<FakeTransport>();
    auto executors = std::make_unique<FakeTransport>();
    auto masterWire = master->wire();
    auto executorWire = executors->wire();
    auto native = std::make_unique<RecordedContainers>();
    auto docker = std::make_unique<RecordedContainers>();
    auto custom = std::make_unique<RecordedContainers>();
    Containers containers{native.get(), docker.get(), custom.get()};
    environment.master = std::move(master);
    environment.executors = std::move(executors);
    environment.native = std::move(native);
    environment.docker = std::move(docker);
    environment.frameworkExecutors = std::move(custom);
    environment.files = std::make_unique<fuzzing::MemoryFileSystem>();
    Agent agent(loop, context, fuzzFlags(), std::move(environment));
    if (auto started = agent.start(); !started) {
      std::fprintf(stderr, "the agent did not start: %s\n", started.error().message.c_str());
      std::abort();
    }
    turn(loop);

    for (const auto& step : fuzzing::readConversation(data, size)) {
      if (step.pause) {
        time.advance(step.length);
      } else if (step.peer == 0) {
        masterWire->deliver("", step.bytes);
      } else if (step.peer < fuzzing::kPeers - 1) {
        executorWire->deliver("executor-" + std::to_string(step.peer), step.bytes);
      } else {
        worldStep(step.bytes, *masterWire, containers);
      }
      turn(loop);
      fuzzing::checkSent(*masterWire, "agent");
      fuzzing::checkSent(*executorWire, "agent");
    }
    std::string answer =
        fuzzing::exchangeWithPort(loop, agent.httpPort(), "GET /state HTTP/1.1\r\nConnection: close\r\n\r\n");
    if (answer.rfind("HTTP/1.1 200 ", 0) != 0) {
      std::fprintf(stderr, "the agent's GET /state after the conversation: %.300s\n", answer.c_str());
      std::abort();
    }
  }
  // The agent's HTTP listener and timers close on the loop.
  turn(loop);
  return 0;
}
