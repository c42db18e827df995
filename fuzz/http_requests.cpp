// Fuzz target: HTTP request parsing and routing (common/http_server.cpp),
// with the master's endpoints and the agent's sandbox file endpoints behind.
//
// An input is one byte, then what one client writes on one connection
// (pipelined requests, any bytes). The byte's low bit picks who answers: a
// leading master, or one standing by for another (which redirects API calls
// to it); the next bits, modulo 3, what needs a bearer token (common/
// http_auth.hpp: nothing, writes, or everything), checked against a tokens
// file that holds kHttpToken for "ops". The sandbox endpoints serve a small
// directory made for the run.
//
// Each answer must be HTTP: the server writes nothing, or responses. And
// the sandbox endpoints never serve a file from outside the sandboxes: one
// beside them holds a secret made at random for the run, which no answer
// may hold. (A request cannot name it to have it echoed: it is not in the
// program, and it is looked for without memcmp, whose arguments libFuzzer
// would learn.)
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <unistd.h>

#include "agent/sandbox_files.hpp"
#include "common/http_auth.hpp"
#include "fuzz/harness/daemon.hpp"
#include "fuzz/harness/http_exchange.hpp"
#include "fuzz/harness/memory_file_system.hpp"
#include "master/master.hpp"
#include "tests/harness/fake_transport.hpp"
#include "tests/harness/simulated_time.hpp"

using namespace clusternodes;
using clusternodes::testing::FakeTransport;
using clusternodes::testing::SimulatedTime;

namespace {

std::string root;
std::string secret;
// By HttpAuthentication: none, writes, all.
std::shared_ptr<const HttpAuthPolicy> policies[3];

__attribute__((no_sanitize("coverage"))) bool holdsSecret(const std::string& answer) {
  for (size_t at = 0; at + secret.size() <= answer.size(); ++at) {
    size_t same = 0;
    while (same < secret.size() && answer[at + same] == secret[same]) ++same;
    if (same == secret.size()) return true;
  }
  return false;
}

int initialize() {
  fuzzing::quietLogs();
  const char* tmp = std::getenv("TMPDIR");
  root = std::string(tmp != nullptr ? tmp : "/tmp") + "/cn-fuzz-http-" + std::to_string(::getpid());
  std::filesystem::create_directories(root + "/sandboxes/fw-1/task-1/run-1");
  std::ofstream(root + "/sandboxes/fw-1/task-1/run-1/stdout") << "hello from the task\n";
  uint8_t random[16];
  if (::getentropy(random, sizeof random) != 0) std::abort();
  constexpr const char* kHex = "0123456789abcdef";
  for (uint8_t byte : random) {
    secret += kHex[byte >> 4];
    secret += kHex[byte & 15];
  }
  std::ofstream(root + "/secret") << secret << "\n";
  std::filesystem::create_directory_symlink(root, root + "/sandboxes/fw-1/task-1/run-1/escape");
  if (!addHttpToken(root + "/tokens.toml", "ops", fuzzing::kHttpToken)) std::abort();
  const char* modes[] = {"none", "writes", "all"};
  for (int i = 0; i < 3; ++i) {
    auto policy = loadHttpAuthPolicy(modes[i], root + "/tokens.toml");
    if (!policy) std::abort();
    policy->open = {"/health", "/", "/ui/"};  // as the master opens them
    policies[i] = std::make_shared<const HttpAuthPolicy>(std::move(*policy));
  }
  std::atexit([] {
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
  });
  return 0;
}

master::MasterFlags flags(bool standby) {
  master::MasterFlags flags;
  flags.workDir = "/fuzz/master";  // in the MemoryFileSystem
  flags.port = 0;
  flags.httpPort = -1;  // the target serves the endpoints itself
  flags.weights = {{"eng", 2.0}};
  if (standby) flags.zk = "zk://127.0.0.1:2181/clusternodes";  // never connected: stands by
  return flags;
}

void checkAnswer(const std::string& answer) {
  if (!answer.empty() && answer.rfind("HTTP/1.", 0) != 0) {
    std::fprintf(stderr, "the server answered with something other than HTTP: %.40s\n", answer.c_str());
    std::abort();
  }
  if (holdsSecret(answer)) {
    std::fprintf(stderr, "a file outside the sandboxes was served\n");
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static int initialized = initialize();
  (void)initialized;
  static Loop loop;
  if (size == 0) return 0;
  bool standby = data[0] & 1;
  {
    SimulatedTime time;
    master::Master master(
        master::MasterEnvironment{time, std::make_unique<FakeTransport>(), nullptr,
                                  std::make_shared<fuzzing::MemoryFileSystem>()},
        flags(standby));
    if (auto started = master.start(); !started) {
      std::fprintf(stderr, "the master did not start: %s\n", started.error().message.c_str());
      std::abort();
    }
    if (standby) master.setLeader(LeaderInfo{"leader", "leader.example", "10.0.0.1", 5050, 8081, "0.1.0"});
    HttpServer http(loop);
    http.gate(httpAuthGate(policies[(data[0] >> 1) % 3]));
    master::installMasterEndpoints(http, master);
    agent::installFileEndpoints(http, root + "/sandboxes");
    checkAnswer(fuzzing::exchange(loop, http, std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1)));
  }
  uv_run(loop.raw(), UV_RUN_NOWAIT);  // the server's handles close on the loop
  return 0;
}
