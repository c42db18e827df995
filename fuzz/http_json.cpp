// Fuzz target: the JSON the master reads: the bodies of its operator API
// (PUT /api/v1/weights, PUT /api/v1/quota), a leader's znode
// (parseLeaderInfo, which every agent, framework and CLI reads through a
// zk:// URL), and its registry document (registry.json, read at start).
//
// An input is one byte that picks what the rest is, modulo 7:
//
//   0  the body of PUT /api/v1/weights     2  a leader's znode data
//   1  the body of PUT /api/v1/quota       3  registry.json
//   4  a RecordIO stream (the v1 APIs' event streams, common/recordio.hpp)
//   5  a Mesos v1 scheduler Call in JSON   6  the same in protobuf
//
// What a body or a registry sets is then shown through GET /state, /metrics
// and the API's own listing; none of those may fail (500) or answer JSON
// that does not parse. A leader's info that parses must write back as JSON
// that parses to the same info. A RecordIO stream decodes to the same
// records whatever pieces it arrives in, and its records framed again
// decode to themselves.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/leader.hpp"
#include "common/recordio.hpp"
#include "fuzz/harness/daemon.hpp"
#include "fuzz/harness/http_exchange.hpp"
#include "fuzz/harness/memory_file_system.hpp"
#include "master/http/scheduler_api.hpp"
#include "master/http/v1/json.hpp"
#include "master/http/v1/scheduler.pb.h"
#include "master/master.hpp"
#include "tests/harness/fake_transport.hpp"
#include "tests/harness/simulated_time.hpp"

using namespace clusternodes;
using clusternodes::testing::FakeTransport;
using clusternodes::testing::SimulatedTime;

namespace {

constexpr const char* kWorkDir = "/fuzz/master";  // in the MemoryFileSystem

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "%s\n", what.c_str());
  std::abort();
}

// Sends one request on its own connection; the answer must be a response
// that is not a 500, and JSON that parses when it says it is JSON.
void ask(Loop& loop, HttpServer& http, const std::string& method, const std::string& path,
         std::string_view body = {}) {
  std::string request = method + " " + path + " HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n";
  if (method != "GET") request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  request += "\r\n";
  request += body;
  std::string answer = fuzzing::exchange(loop, http, request);
  size_t headersEnd = answer.find("\r\n\r\n");
  if (answer.rfind("HTTP/1.1 ", 0) != 0 || headersEnd == std::string::npos) {
    fail(method + " " + path + ": no HTTP response");
  }
  std::string status = answer.substr(9, 3);
  if (status == "500") fail(method + " " + path + ": 500: " + answer.substr(headersEnd + 4));
  std::string_view headers(answer.data(), headersEnd);
  if (headers.find("Content-Type: application/json") != std::string_view::npos &&
      !nlohmann::json::accept(answer.substr(headersEnd + 4))) {
    fail(method + " " + path + ": the JSON answer does not parse");
  }
}

void operatorApi(Loop& loop, std::string_view body, bool weights, std::string_view registry) {
  SimulatedTime time;
  auto files = std::make_shared<fuzzing::MemoryFileSystem>();
  if (!registry.empty()) (void)files->replace(std::string(kWorkDir) + "/registry.json", registry, false);
  master::MasterFlags flags;
  flags.workDir = kWorkDir;
  flags.port = 0;
  flags.httpPort = -1;  // the target serves the endpoints itself
  flags.weights = {{"eng", 2.0}};
  {
    master::Master master(master::MasterEnvironment{time, std::make_unique<FakeTransport>(), nullptr, files}, flags);
    // A registry that cannot be read stops the master's start, with the
    // reason: what it must do.
    if (auto started = master.start(); !started) return;
    HttpServer http(loop);
    master::installMasterEndpoints(http, master);
    if (registry.empty()) ask(loop, http, "PUT", weights ? "/api/v1/weights" : "/api/v1/quota", body);
    time.advance(Duration::zero());  // the registry's write
    ask(loop, http, "GET", "/api/v1/weights");
    ask(loop, http, "GET", "/api/v1/quota");
    ask(loop, http, "GET", "/state");
    ask(loop, http, "GET", "/metrics");
  }
  uv_run(loop.raw(), UV_RUN_NOWAIT);  // the server's handles close on the loop
}

void leaderInfo(const std::string& text) {
  auto info = parseLeaderInfo(text);
  if (!info) return;
  auto again = parseLeaderInfo(leaderInfoJson(*info));
  if (!again) fail("parseLeaderInfo() refuses what leaderInfoJson() wrote: " + again.error().message);
  if (!(*again == *info)) fail("parseLeaderInfo(leaderInfoJson(info)) is not info");
}

void recordioStream(std::string_view stream) {
  constexpr size_t kLimit = 4096;
  RecordioDecoder whole(kLimit);
  std::vector<std::string> records;
  bool wholeOk = whole.feed(stream, records).ok();
  // The same bytes a few at a time (the piece sizes come from the bytes).
  RecordioDecoder pieces(kLimit);
  std::vector<std::string> again;
  bool piecesOk = true;
  for (size_t at = 0; at < stream.size() && piecesOk;) {
    size_t piece = 1 + static_cast<unsigned char>(stream[at]) % 7;
    piecesOk = pieces.feed(stream.substr(at, piece), again).ok();
    at += piece;
  }
  if (wholeOk != piecesOk || records != again) fail("RecordIO decodes differently in pieces");
  if (!wholeOk) return;
  if (whole.midRecord() != pieces.midRecord()) fail("RecordIO: midRecord differs in pieces");
  std::string framed;
  for (const auto& r : records) framed += recordioEncode(r);
  RecordioDecoder reframed(kLimit);
  std::vector<std::string> third;
  if (!reframed.feed(framed, third).ok() || third != records || reframed.midRecord()) {
    fail("RecordIO records framed again do not decode to themselves");
  }
}

// POST /api/v1/scheduler with `body`; the answer's status.
std::string postCall(Loop& loop, HttpServer& http, std::string_view body, bool protobuf) {
  std::string request = "POST /api/v1/scheduler HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n";
  request += std::string("Content-Type: ") + (protobuf ? "application/x-protobuf" : "application/json") + "\r\n";
  request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  request += body;
  std::string answer = fuzzing::exchange(loop, http, request);
  if (answer.rfind("HTTP/1.1 ", 0) != 0) fail("POST /api/v1/scheduler: no HTTP response");
  return answer.substr(9, 3);
}

void schedulerCall(Loop& loop, std::string_view body, bool protobuf) {
  ::mesos::v1::scheduler::Call call;
  bool read;
  if (protobuf) {
    read = call.ParseFromArray(body.data(), static_cast<int>(body.size()));
  } else {
    auto json = nlohmann::json::parse(body, nullptr, false);
    read = !json.is_discarded() && master::v1::fromJson(json, call).ok();
  }
  if (read) {
    // Protobuf strings may hold any bytes: JSON gets U+FFFD for what is not
    // UTF-8, as the API writes it, and reads back as that.
    constexpr auto kReplace = nlohmann::ordered_json::error_handler_t::replace;
    std::string written = master::v1::toJson(call).dump(-1, ' ', false, kReplace);
    ::mesos::v1::scheduler::Call again;
    if (auto reread = master::v1::fromJson(nlohmann::json::parse(written), again); !reread) {
      fail("a call's JSON does not read back: " + reread.error().message);
    }
    if (master::v1::toJson(again).dump(-1, ' ', false, kReplace) != written) {
      fail("a call's JSON reads back as another call");
    }
  }

  SimulatedTime time;
  auto files = std::make_shared<fuzzing::MemoryFileSystem>();
  master::MasterFlags flags;
  flags.workDir = kWorkDir;
  flags.port = 0;
  flags.httpPort = -1;
  {
    master::Master master(master::MasterEnvironment{time, std::make_unique<FakeTransport>(), nullptr, files}, flags);
    if (auto started = master.start(); !started) fail("the master does not start: " + started.error().message);
    if (read) {
      if (auto envelope = master::wireCall(call)) {
        if (!wire::decode(*envelope).ok()) fail("wireCall() made a message that does not decode");
        master.fromHttpScheduler(std::string("\0http/fuzz", 10), "", *envelope);
        time.advance(Duration::zero());
      }
    }
    HttpServer http(loop);
    master::SchedulerApi api(loop, master);
    http.route("POST", "/api/v1/scheduler", [&api](const HttpRequest& r) { return api.handle(r); });
    std::string status = postCall(loop, http, body, protobuf);
    static const std::set<std::string> kMesosStatuses = {"200", "202", "400", "403", "415", "501"};
    if (kMesosStatuses.count(status) == 0) fail("POST /api/v1/scheduler answered " + status);
    if (status == "200" && !read) fail("a call that does not read was answered 200");
  }
  uv_run(loop.raw(), UV_RUN_NOWAIT);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool quiet = (fuzzing::quietLogs(), true);
  (void)quiet;
  static Loop loop;
  if (size == 0) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 7) {
    case 0: operatorApi(loop, rest, true, {}); break;
    case 1: operatorApi(loop, rest, false, {}); break;
    case 2: leaderInfo(std::string(rest)); break;
    case 3:
      if (!rest.empty()) operatorApi(loop, {}, true, rest);
      break;
    case 4: recordioStream(rest); break;
    case 5: schedulerCall(loop, rest, false); break;
    case 6: schedulerCall(loop, rest, true); break;
  }
  return 0;
}
