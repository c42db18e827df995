// Unit tests of the Docker client without a Docker daemon: the parser of
// Docker's multiplexed log stream, fed the way curl may hand it over (split
// anywhere); the error for a daemon that is not there; and, against a fake
// daemon on a unix socket, what a real one here cannot show (a pull that
// fails inside its 200 stream, the request a pull makes, nulls in inspect).
// tests/integration/docker_client_test.cpp runs the client against Docker.
#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "agent/docker/client.hpp"
#include "clusternodes/result.hpp"
#include "tests/harness/temp_dir.hpp"

using namespace clusternodes;
using clusternodes::docker::detail::LogStreamParser;

namespace {

// One frame: the stream byte, three zero bytes, the payload's size
// big-endian, the payload.
std::string frame(uint8_t stream, std::string_view payload) {
  uint32_t size = static_cast<uint32_t>(payload.size());
  std::string out{static_cast<char>(stream), '\0', '\0', '\0'};
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((size >> shift) & 0xff);
  out += payload;
  return out;
}

// What a parser handed on, in order: ('o' or 'e', payload) per call.
struct Recorder {
  std::vector<std::pair<char, std::string>> calls;
  LogStreamParser parser{[this](std::string_view text) { calls.emplace_back('o', std::string(text)); },
                         [this](std::string_view text) { calls.emplace_back('e', std::string(text)); }};
};

using Calls = std::vector<std::pair<char, std::string>>;

std::string httpResponse(int status, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " Whatever\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

// A fake Docker daemon on a unix socket: answers the connections it gets,
// one after another, with `responses`, and keeps each request's first line.
class FakeDaemon {
 public:
  explicit FakeDaemon(std::vector<std::string> responses) : path_(dir_.path + "/docker.sock") {
    listener_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path_.c_str(), sizeof(address.sun_path) - 1);
    REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(listener_, 8) == 0);
    server_ = std::thread([this, responses = std::move(responses)] {
      for (const auto& response : responses) {
        int connection = ::accept(listener_, nullptr, nullptr);
        if (connection < 0) return;
        std::string request = readRequest(connection);
        {
          std::lock_guard<std::mutex> lock(mutex_);
          requestLines_.push_back(request.substr(0, request.find("\r\n")));
        }
        for (size_t sent = 0; sent < response.size();) {
          ssize_t n = ::write(connection, response.data() + sent, response.size() - sent);
          if (n <= 0) break;
          sent += static_cast<size_t>(n);
        }
        ::close(connection);
      }
    });
  }
  ~FakeDaemon() {
    ::shutdown(listener_, SHUT_RDWR);  // ends an accept still waiting
    server_.join();
    ::close(listener_);
  }

  const std::string& socketPath() const { return path_; }
  std::vector<std::string> requestLines() {
    std::lock_guard<std::mutex> lock(mutex_);
    return requestLines_;
  }

 private:
  // The head and the Content-Length bytes of body after it.
  static std::string readRequest(int connection) {
    std::string request;
    char buffer[4096];
    size_t headEnd = std::string::npos;
    size_t wanted = 0;
    while (headEnd == std::string::npos || request.size() < headEnd + 4 + wanted) {
      ssize_t n = ::read(connection, buffer, sizeof buffer);
      if (n <= 0) break;
      request.append(buffer, static_cast<size_t>(n));
      if (headEnd == std::string::npos && (headEnd = request.find("\r\n\r\n")) != std::string::npos) {
        size_t length = request.find("Content-Length: ");
        if (length != std::string::npos && length < headEnd) wanted = std::stoul(request.substr(length + 16));
      }
    }
    return request;
  }

  clusternodes::testing::TempDir dir_{"cn-test-fakedocker"};
  std::string path_;
  int listener_ = -1;
  std::thread server_;
  std::mutex mutex_;
  std::vector<std::string> requestLines_;
};

}  // namespace

TEST_CASE("docker log stream: frames split at every byte boundary come out whole and in order") {
  const std::string stream = frame(1, "hello\n") + frame(2, "oops\n") + frame(1, "") + frame(0, "in") +
                             frame(2, std::string(300, 'x')) + frame(1, "bye");
  const Calls expected = {{'o', "hello\n"}, {'e', "oops\n"}, {'o', "in"}, {'e', std::string(300, 'x')}, {'o', "bye"}};

  // Every way of cutting the stream in two, and in three.
  for (size_t first = 0; first <= stream.size(); ++first) {
    Recorder twoParts;
    REQUIRE(twoParts.parser.feed(std::string_view(stream).substr(0, first)).ok());
    REQUIRE(twoParts.parser.feed(std::string_view(stream).substr(first)).ok());
    CHECK(twoParts.calls == expected);
    CHECK(twoParts.parser.atFrameBoundary());
    for (size_t second = first; second <= stream.size(); second += 7) {
      Recorder threeParts;
      std::string_view all(stream);
      REQUIRE(threeParts.parser.feed(all.substr(0, first)).ok());
      REQUIRE(threeParts.parser.feed(all.substr(first, second - first)).ok());
      REQUIRE(threeParts.parser.feed(all.substr(second)).ok());
      CHECK(threeParts.calls == expected);
    }
  }

  Recorder byteByByte;
  for (char byte : stream) REQUIRE(byteByByte.parser.feed(std::string_view(&byte, 1)).ok());
  CHECK(byteByByte.calls == expected);
  CHECK(byteByByte.parser.atFrameBoundary());
}

TEST_CASE("docker log stream: empty payloads and empty input call nothing") {
  Recorder recorder;
  CHECK(recorder.parser.feed("").ok());
  CHECK(recorder.parser.feed(frame(1, "") + frame(2, "")).ok());
  CHECK(recorder.calls.empty());
  CHECK(recorder.parser.atFrameBoundary());
  CHECK(recorder.parser.feed(frame(2, "after")).ok());
  CHECK(recorder.calls == Calls{{'e', "after"}});
}

TEST_CASE("docker log stream: a frame larger than one chunk is handed on once, whole") {
  // curl hands over at most 16 KiB at a time.
  std::string payload;
  for (int i = 0; i < 200000; ++i) payload += static_cast<char>('a' + i % 26);
  const std::string stream = frame(1, "head") + frame(1, payload) + frame(2, "tail");
  Recorder recorder;
  for (size_t at = 0; at < stream.size(); at += 16384) {
    REQUIRE(recorder.parser.feed(std::string_view(stream).substr(at, 16384)).ok());
    CHECK(recorder.calls.size() <= 3);
  }
  CHECK(recorder.calls == Calls{{'o', "head"}, {'o', payload}, {'e', "tail"}});
}

TEST_CASE("docker log stream: a stream cut inside a frame is not at a frame boundary") {
  const std::string whole = frame(1, "complete") + frame(2, "cut short");
  for (size_t cut : {whole.size() - 1, frame(1, "complete").size() + 3}) {
    Recorder recorder;
    REQUIRE(recorder.parser.feed(std::string_view(whole).substr(0, cut)).ok());
    CHECK(recorder.calls == Calls{{'o', "complete"}});
    CHECK_FALSE(recorder.parser.atFrameBoundary());
  }
}

TEST_CASE("docker log stream: bytes that are not frames are refused, for good") {
  SUBCASE("a TTY container's raw output") {
    Recorder recorder;
    auto fed = recorder.parser.feed("hello from a tty\n");
    REQUIRE_FALSE(fed.ok());
    CHECK(fed.error().message.find("TTY") != std::string::npos);
    CHECK_FALSE(recorder.parser.feed(frame(1, "later")).ok());
    CHECK(recorder.calls.empty());
  }
  SUBCASE("nonzero padding after a valid frame, split") {
    Recorder recorder;
    std::string bad = frame(1, "ok") + std::string{'\1', '\0', '\7', '\0', '\0', '\0', '\0', '\1', 'x'};
    REQUIRE(recorder.parser.feed(bad.substr(0, 12)).ok());
    CHECK_FALSE(recorder.parser.feed(bad.substr(12)).ok());
    CHECK(recorder.calls == Calls{{'o', "ok"}});
  }
  SUBCASE("an absurd size") {
    Recorder recorder;
    CHECK_FALSE(recorder.parser.feed(std::string{'\2', '\0', '\0', '\0', '\x7f', '\0', '\0', '\0'}).ok());
  }
}

TEST_CASE("docker log stream: the daemon's error frame is an error with its words") {
  Recorder recorder;
  auto fed = recorder.parser.feed(frame(1, "before") + frame(3, "log file is gone") + frame(1, "after"));
  REQUIRE_FALSE(fed.ok());
  CHECK(fed.error().message.find("log file is gone") != std::string::npos);
  CHECK(recorder.calls == Calls{{'o', "before"}});
}

TEST_CASE("docker client: a daemon that is not there is kUnavailable, naming its socket") {
  docker::Client client("/nonexistent/cn-test-docker.sock");
  auto ping = client.ping();
  REQUIRE_FALSE(ping.ok());
  CHECK(ping.error().code == ErrorCode::kUnavailable);
  CHECK(ping.error().message.find("/nonexistent/cn-test-docker.sock") != std::string::npos);
  auto logs = client.followLogs("anything", [](std::string_view) {}, [](std::string_view) {});
  REQUIRE_FALSE(logs.ok());
  CHECK(logs.error().code == ErrorCode::kUnavailable);
}

TEST_CASE("docker client: followLogs hands on what the followed stream missed at the end, once") {
  // The followed stream ends early, cutting the last stdout line and all of
  // the second stderr frame; the plain read after it has the whole log.
  const std::string whole = frame(1, "one\n") + frame(2, "err1\n") + frame(1, "two\nthree\n") + frame(2, "err2\n");
  FakeDaemon daemon({
      httpResponse(200, frame(1, "one\n") + frame(2, "err1\n") + frame(1, "two\n")),
      httpResponse(200, whole),
  });
  docker::Client client(daemon.socketPath());
  std::string out;
  std::string err;
  std::vector<std::string> outChunks;
  auto followed = client.followLogs(
      "web",
      [&](std::string_view bytes) {
        out += bytes;
        outChunks.emplace_back(bytes);
      },
      [&](std::string_view bytes) { err += bytes; }, 1700000000);
  REQUIRE(followed.ok());
  CHECK(out == "one\ntwo\nthree\n");
  CHECK(err == "err1\nerr2\n");
  // The part of a frame already delivered is not delivered again.
  CHECK(outChunks == std::vector<std::string>{"one\n", "two\n", "three\n"});
  auto lines = daemon.requestLines();
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].find("/containers/web/logs?stdout=1&stderr=1&since=1700000000&follow=1 ") != std::string::npos);
  CHECK(lines[1].find("/containers/web/logs?stdout=1&stderr=1&since=1700000000 ") != std::string::npos);
}

TEST_CASE("docker client: a pull that fails inside its 200 stream is an error with Docker's words") {
  const std::string progress = R"({"status":"Pulling from team/app","id":"v2"})" "\r\n";
  FakeDaemon daemon({
      httpResponse(200, progress + R"({"errorDetail":{"message":"manifest for registry.local:5000/team/app:v2 )"
                                   R"(not found: manifest unknown"},"error":"manifest for )"
                                   R"(registry.local:5000/team/app:v2 not found: manifest unknown"})" "\r\n"),
      httpResponse(200, progress + R"({"error":"toomanyrequests: rate limit"})"),
      httpResponse(500, R"({"message":"Get \"https://registry.local:5000/v2/\": connection refused"})"),
      httpResponse(200, progress + R"({"status":"Status: Downloaded newer image for busybox:latest"})" "\r\n"),
      httpResponse(200, progress),
  });
  docker::Client client(daemon.socketPath());

  auto missing = client.pullImage("registry.local:5000/team/app:v2");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == ErrorCode::kNotFound);
  CHECK(missing.error().message ==
        "pull image registry.local:5000/team/app:v2: manifest for registry.local:5000/team/app:v2 not found: "
        "manifest unknown");

  auto limited = client.pullImage("team/app@sha256:0123abcd");
  REQUIRE_FALSE(limited.ok());
  CHECK(limited.error().code == ErrorCode::kUnavailable);  // the last line has no newline
  CHECK(limited.error().message == "pull image team/app@sha256:0123abcd: toomanyrequests: rate limit");

  auto refused = client.pullImage("busybox");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == ErrorCode::kUnavailable);
  CHECK(refused.error().message.find("pull image busybox: Get") == 0);

  CHECK(client.pullImage("busybox").ok());
  CHECK(client.pullImage("busybox:1.36").ok());

  // The tag apart (a registry's port is not one), a digest whole, "latest"
  // when there is neither.
  CHECK(daemon.requestLines() ==
        std::vector<std::string>{
            "POST /images/create?fromImage=registry.local%3A5000%2Fteam%2Fapp&tag=v2 HTTP/1.1",
            "POST /images/create?fromImage=team%2Fapp%40sha256%3A0123abcd HTTP/1.1",
            "POST /images/create?fromImage=busybox&tag=latest HTTP/1.1",
            "POST /images/create?fromImage=busybox&tag=latest HTTP/1.1",
            "POST /images/create?fromImage=busybox&tag=1.36 HTTP/1.1",
        });
}

TEST_CASE("docker client: inspect reads nulls and missing parts as empty") {
  FakeDaemon daemon({
      httpResponse(200, R"({"Id":"abc","Name":"/web","State":{"Status":"exited","Running":false,"OOMKilled":true,
        "ExitCode":137,"Error":"","Pid":0},"Config":{"Image":"busybox","Labels":null},
        "HostConfig":{"Memory":16777216,"MemorySwap":-1,"CpuShares":0,"CpuQuota":0,"CpuPeriod":0},
        "NetworkSettings":{"Ports":{"80/tcp":null,"81/tcp":[{"HostIp":"0.0.0.0","HostPort":"31001"},
        {"HostIp":"::","HostPort":"31001"}],"82/udp":[{"HostIp":"","HostPort":""}]}}})"),
      httpResponse(200, R"({"Id":"def","State":null,"Config":{},"HostConfig":null,"NetworkSettings":{"Ports":null}})"),
      httpResponse(200, R"([{"Id":"abc","Names":null,"State":"exited","Labels":null},{"Id":"def"}])"),
  });
  docker::Client client(daemon.socketPath());

  auto full = client.inspect("web");
  REQUIRE(full.ok());
  CHECK(full->id == "abc");
  CHECK(full->name == "web");
  CHECK(full->image == "busybox");
  CHECK(full->status == "exited");
  CHECK(full->oomKilled);
  CHECK(full->exitCode == 137);
  CHECK(full->labels.empty());
  CHECK(full->memoryBytes == 16777216);
  CHECK(full->memorySwapBytes == 0);  // Docker's -1, unlimited
  CHECK(full->publishedPorts == std::map<std::string, uint16_t>{{"81/tcp", 31001}});

  auto sparse = client.inspect("def");
  REQUIRE(sparse.ok());
  CHECK(sparse->id == "def");
  CHECK(sparse->status.empty());
  CHECK(sparse->publishedPorts.empty());

  auto rows = client.list({{"cn.task", ""}});
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 2);
  CHECK(rows->at(0).name.empty());
  CHECK(rows->at(0).labels.empty());
  CHECK(rows->at(1).id == "def");
  CHECK(daemon.requestLines().back() ==
        "GET /containers/json?all=1&filters=%7B%22label%22%3A%5B%22cn.task%22%5D%7D HTTP/1.1");
}
