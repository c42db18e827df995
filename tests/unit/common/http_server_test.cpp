#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include "common/http_client.hpp"
#include "common/http_format.hpp"
#include "common/http_server.hpp"
#include "common/loop.hpp"
#include "common/tls.hpp"
#include "tests/harness/temp_dir.hpp"
#include "tests/harness/tls_files.hpp"

using namespace clusternodes;

namespace {

// An HttpServer on its own loop thread, with a few standard routes.
struct TestServer {
  Loop loop;
  std::unique_ptr<HttpServer> server;
  std::thread thread;
  int port = 0;

  explicit TestServer(HttpServerLimits limits = {},
                      const std::function<void(TestServer&)>& setup = {}) {
    server = std::make_unique<HttpServer>(loop, limits);
    server->route("GET", "/hello", [](const HttpRequest& req) {
      return HttpResponse::text(
          200, "hello " + req.param("name") + "|" + req.param("x") + "|" +
                   req.param("missing", "dflt"));
    });
    server->route("GET", "/with space", [](const HttpRequest&) {
      return HttpResponse::text(200, "spaced");
    });
    server->route("POST", "/echo", [](const HttpRequest& req) {
      auto type = req.headers.find("content-type");
      HttpResponse response = HttpResponse::json(
          201, req.method + "|" + (type == req.headers.end() ? "" : type->second) + "|" +
                   req.body);
      response.headers["X-Body-Size"] = std::to_string(req.body.size());
      return response;
    });
    server->route("GET", "/throw", [](const HttpRequest&) -> HttpResponse {
      throw std::runtime_error("boom in handler");
    });
    if (setup) setup(*this);
    auto bound = server->listen("127.0.0.1", 0);
    REQUIRE_MESSAGE(bound.ok(), (bound.ok() ? "" : bound.error().message));
    port = *bound;
    REQUIRE(port > 0);
    thread = std::thread([this] { loop.run(); });
  }

  ~TestServer() {
    loop.post([this] {
      server.reset();
      loop.stop();
    });
    thread.join();
  }

  std::string url(const std::string& pathAndQuery) const {
    return "http://127.0.0.1:" + std::to_string(port) + pathAndQuery;
  }

  // Runs `fn` on the loop thread and returns its result.
  template <typename Fn>
  auto onLoop(Fn fn) -> decltype(fn()) {
    std::promise<decltype(fn())> promise;
    auto future = promise.get_future();
    loop.post([&] { promise.set_value(fn()); });
    return future.get();
  }

  uint64_t malformed() {
    return onLoop([this] { return server->malformedRequests(); });
  }
};

// A blocking TCP client for raw request bytes.
class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    timeval timeout{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  }
  ~RawClient() { close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  void shutdownWrite() { ::shutdown(fd_, SHUT_WR); }

  // True when every byte was sent (the peer may have closed already).
  bool send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // One response (headers and a Content-Length body), or "" on EOF/timeout.
  std::string readResponse() {
    size_t headerEnd;
    while ((headerEnd = buffered_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) return "";
    }
    headerEnd += 4;
    std::string lower = buffered_.substr(0, headerEnd);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    size_t length = 0;
    size_t at = lower.find("content-length:");
    if (at != std::string::npos) length = std::stoul(lower.substr(at + 15));
    while (buffered_.size() < headerEnd + length) {
      if (!fill()) return "";
    }
    std::string response = buffered_.substr(0, headerEnd + length);
    buffered_.erase(0, headerEnd + length);
    return response;
  }

  // What has arrived, waiting for at least one byte; "" on EOF or timeout.
  std::string readSome() {
    if (buffered_.empty() && !fill()) return "";
    std::string some = std::move(buffered_);
    buffered_.clear();
    return some;
  }

  // Everything until the peer closes (or the timeout passes).
  std::string readAll() {
    while (fill()) {
    }
    std::string all = std::move(buffered_);
    buffered_.clear();
    return all;
  }

  // True when the peer closed (EOF or reset) rather than timing out.
  bool peerClosed() {
    char c;
    ssize_t n = ::recv(fd_, &c, 1, 0);
    if (n == 0) return true;
    return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK;
  }

 private:
  bool fill() {
    char chunk[4096];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffered_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string buffered_;
};

bool startsWith(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

std::string bodyOf(const std::string& response) {
  size_t at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

}  // namespace

TEST_CASE("HttpServer: routes a GET with decoded path and query") {
  TestServer s;
  auto r = httpGet(s.url("/hello?name=J%C3%B6rg+X&x=a%26b%3D&&empty"));
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
  CHECK(r->status == 200);
  CHECK(r->body == "hello J\xc3\xb6rg X|a&b=|dflt");

  auto spaced = httpGet(s.url("/with%20space"));
  REQUIRE(spaced.ok());
  CHECK(spaced->status == 200);
  CHECK(spaced->body == "spaced");
}

TEST_CASE("HttpServer: unknown path is 404, wrong method is 405, throwing handler is 500") {
  TestServer s;
  auto missing = httpGet(s.url("/nope"));
  REQUIRE(missing.ok());
  CHECK(missing->status == 404);

  auto wrongMethod = httpPost(s.url("/hello"), "{}");
  REQUIRE(wrongMethod.ok());
  CHECK(wrongMethod->status == 405);

  auto thrown = httpGet(s.url("/throw"));
  REQUIRE(thrown.ok());
  CHECK(thrown->status == 500);
  CHECK(thrown->body.find("boom in handler") != std::string::npos);

  // The server is still healthy.
  auto ok = httpGet(s.url("/hello?name=a"));
  REQUIRE(ok.ok());
  CHECK(ok->status == 200);
}

TEST_CASE("HttpServer: POST body and headers reach the handler") {
  TestServer s;
  auto r = httpPost(s.url("/echo"), "{\"a\":1}");
  REQUIRE(r.ok());
  CHECK(r->status == 201);
  CHECK(r->body == "POST|application/json|{\"a\":1}");

  std::string big(300 * 1024, 'z');
  auto large = httpPost(s.url("/echo"), big, "text/plain");
  REQUIRE(large.ok());
  CHECK(large->status == 201);
  CHECK(large->body == "POST|text/plain|" + big);

  RawClient raw(s.port);
  REQUIRE(raw.send(
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: a/b\r\nContent-Length: 5\r\n\r\nhello"));
  std::string response = raw.readResponse();
  CHECK(startsWith(response, "HTTP/1.1 201 Created\r\n"));
  CHECK(response.find("Content-Type: application/json\r\n") != std::string::npos);
  CHECK(response.find("X-Body-Size: 5\r\n") != std::string::npos);
  CHECK(bodyOf(response) == "POST|a/b|hello");

  // Chunked upload.
  REQUIRE(raw.send(
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"));
  CHECK(bodyOf(raw.readResponse()) == "POST||abcde");
}

TEST_CASE("HttpServer: keep-alive serves several requests on one connection") {
  TestServer s;
  RawClient raw(s.port);
  const std::string request = "GET /hello?name=one HTTP/1.1\r\nHost: x\r\n\r\n";
  REQUIRE(raw.send(request));
  std::string first = raw.readResponse();
  CHECK(startsWith(first, "HTTP/1.1 200 OK\r\n"));
  CHECK(bodyOf(first) == "hello one||dflt");
  CHECK(first.find("Connection: close") == std::string::npos);

  REQUIRE(raw.send("GET /hello?name=two HTTP/1.1\r\nHost: x\r\n\r\n"));
  CHECK(bodyOf(raw.readResponse()) == "hello two||dflt");

  // Pipelined: three requests in one write, answered in order.
  REQUIRE(raw.send("GET /hello?name=p1 HTTP/1.1\r\nHost: x\r\n\r\n"
                   "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                   "GET /hello?name=p3 HTTP/1.1\r\nHost: x\r\n\r\n"));
  CHECK(bodyOf(raw.readResponse()) == "hello p1||dflt");
  CHECK(startsWith(raw.readResponse(), "HTTP/1.1 404 Not Found\r\n"));
  CHECK(bodyOf(raw.readResponse()) == "hello p3||dflt");
}

TEST_CASE("HttpServer: Connection: close and HTTP/1.0 close after the response") {
  TestServer s;
  SUBCASE("Connection: close") {
    RawClient raw(s.port);
    REQUIRE(raw.send("GET /hello?name=c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                     "GET /hello?name=ignored HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::string all = raw.readAll();
    CHECK(startsWith(all, "HTTP/1.1 200 OK\r\n"));
    CHECK(all.find("Connection: close\r\n") != std::string::npos);
    CHECK(bodyOf(all) == "hello c||dflt");  // exactly one response, then EOF
  }
  SUBCASE("HTTP/1.0") {
    RawClient raw(s.port);
    REQUIRE(raw.send("GET /hello?name=old HTTP/1.0\r\n\r\n"));
    std::string all = raw.readAll();
    CHECK(startsWith(all, "HTTP/1.1 200 OK\r\n"));
    CHECK(bodyOf(all) == "hello old||dflt");
  }
  SUBCASE("HTTP/1.0 keep-alive") {
    RawClient raw(s.port);
    REQUIRE(raw.send("GET /hello?name=a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    std::string first = raw.readResponse();
    CHECK(first.find("Connection: keep-alive\r\n") != std::string::npos);
    REQUIRE(raw.send("GET /hello?name=b HTTP/1.0\r\n\r\n"));
    std::string rest = raw.readAll();
    CHECK(bodyOf(rest) == "hello b||dflt");
  }
  SUBCASE("client half-close after the request still gets the response") {
    RawClient raw(s.port);
    REQUIRE(raw.send("GET /hello?name=h HTTP/1.1\r\nHost: x\r\n\r\n"));
    raw.shutdownWrite();
    CHECK(bodyOf(raw.readAll()) == "hello h||dflt");
  }
}

TEST_CASE("HttpServer: malformed requests get 400 and the server keeps serving") {
  TestServer s;
  {
    RawClient raw(s.port);
    REQUIRE(raw.send("GARBAGE\r\n\r\n"));
    std::string all = raw.readAll();
    CHECK(startsWith(all, "HTTP/1.1 400 Bad Request\r\n"));
    CHECK(all.find("Connection: close\r\n") != std::string::npos);
  }
  CHECK(s.malformed() == 1);
  {
    RawClient raw(s.port);
    std::mt19937 rng(12345);
    std::string noise(8192, '\0');
    for (char& c : noise) c = static_cast<char>(rng() & 0xff);
    raw.send(noise);
    std::string all = raw.readAll();
    CHECK(startsWith(all, "HTTP/1.1 400 Bad Request\r\n"));
  }
  CHECK(s.malformed() == 2);
  {
    // A valid request followed by garbage on the same connection.
    RawClient raw(s.port);
    REQUIRE(raw.send("GET /hello?name=v HTTP/1.1\r\nHost: x\r\n\r\nBAD STUFF\x01\x02\r\n\r\n"));
    CHECK(bodyOf(raw.readResponse()) == "hello v||dflt");
    CHECK(startsWith(raw.readAll(), "HTTP/1.1 400 Bad Request\r\n"));
  }
  CHECK(s.malformed() == 3);
  {
    // Bad header syntax and an invalid Content-Length.
    RawClient raw(s.port);
    REQUIRE(raw.send("GET / HTTP/1.1\r\nBad Header Line\r\n\r\n"));
    CHECK(startsWith(raw.readAll(), "HTTP/1.1 400 Bad Request\r\n"));
    RawClient raw2(s.port);
    REQUIRE(raw2.send("POST /echo HTTP/1.1\r\nContent-Length: -4\r\n\r\n"));
    CHECK(startsWith(raw2.readAll(), "HTTP/1.1 400 Bad Request\r\n"));
  }
  CHECK(s.malformed() == 5);
  {
    // A peer that connects, sends half a request and vanishes.
    RawClient raw(s.port);
    REQUIRE(raw.send("GET /hel"));
  }
  auto r = httpGet(s.url("/hello?name=after"));
  REQUIRE(r.ok());
  CHECK(r->status == 200);
  CHECK(r->body == "hello after||dflt");
}

TEST_CASE("HttpServer: survives fragmented and random input") {
  TestServer s;
  {
    // A valid request delivered one byte per write.
    RawClient raw(s.port);
    std::string request = "GET /hello?name=slow HTTP/1.1\r\nHost: x\r\n\r\n";
    for (char c : request) REQUIRE(raw.send(std::string_view(&c, 1)));
    CHECK(bodyOf(raw.readResponse()) == "hello slow||dflt");
  }
  std::mt19937 rng(777);
  const std::string valid = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
  for (int i = 0; i < 40; ++i) {
    RawClient raw(s.port);
    // A valid prefix of random length, then random bytes, then hang up.
    std::string data = valid.substr(0, rng() % valid.size());
    size_t noise = rng() % 2048;
    for (size_t j = 0; j < noise; ++j) data.push_back(static_cast<char>(rng() & 0xff));
    raw.send(data);
    if (i % 2 == 0) raw.readAll();
  }
  auto r = httpGet(s.url("/hello?name=alive"));
  REQUIRE(r.ok());
  CHECK(r->body == "hello alive||dflt");
}

TEST_CASE("HttpServer: header and body limits") {
  HttpServerLimits limits;
  limits.maxHeaderBytes = 1024;
  limits.maxBodyBytes = 1000;
  TestServer s(limits);
  {
    RawClient raw(s.port);
    REQUIRE(raw.send("GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4000, 'b') +
                     "\r\n\r\n"));
    std::string all = raw.readAll();
    CHECK(startsWith(all, "HTTP/1.1 400 Bad Request\r\n"));
    CHECK(bodyOf(all) == "request headers too large\n");
  }
  CHECK(s.malformed() == 1);

  auto longUrl = httpGet(s.url("/hello?name=" + std::string(2000, 'u')));
  REQUIRE(longUrl.ok());
  CHECK(longUrl->status == 400);
  CHECK(s.malformed() == 2);

  auto bigBody = httpPost(s.url("/echo"), std::string(5000, 'x'));
  REQUIRE_MESSAGE(bigBody.ok(), (bigBody.ok() ? "" : bigBody.error().message));
  CHECK(bigBody->status == 413);
  CHECK(s.malformed() == 3);

  {
    // A chunked body has no Content-Length: the limit applies as it arrives.
    RawClient raw(s.port);
    std::string chunk(600, 'c');
    REQUIRE(raw.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "258\r\n" + chunk + "\r\n258\r\n" + chunk + "\r\n0\r\n\r\n"));
    CHECK(startsWith(raw.readAll(), "HTTP/1.1 413 Payload Too Large\r\n"));
  }
  CHECK(s.malformed() == 4);

  auto fits = httpPost(s.url("/echo"), std::string(1000, 'x'));
  REQUIRE(fits.ok());
  CHECK(fits->status == 201);
}

TEST_CASE("HttpServer: fallback handles unrouted paths only") {
  TestServer s({}, [](TestServer& t) {
    t.server->fallback([](const HttpRequest& req) {
      return HttpResponse::text(200, "fallback " + req.method + " " + req.path);
    });
  });
  auto r = httpGet(s.url("/static/a%2Fb.txt?v=1"));
  REQUIRE(r.ok());
  CHECK(r->status == 200);
  CHECK(r->body == "fallback GET /static/a/b.txt");

  auto wrongMethod = httpPost(s.url("/hello"), "");
  REQUIRE(wrongMethod.ok());
  CHECK(wrongMethod->status == 405);

  auto routed = httpGet(s.url("/hello?name=r"));
  REQUIRE(routed.ok());
  CHECK(routed->body == "hello r||dflt");
}

TEST_CASE("HttpServer: connections beyond maxConnections are refused") {
  HttpServerLimits limits;
  limits.maxConnections = 1;
  TestServer s(limits);
  auto first = std::make_unique<RawClient>(s.port);
  REQUIRE(first->send("GET /hello?name=1 HTTP/1.1\r\nHost: x\r\n\r\n"));
  CHECK(bodyOf(first->readResponse()) == "hello 1||dflt");

  RawClient second(s.port);
  CHECK(second.peerClosed());

  first.reset();  // frees the slot once the server sees EOF
  bool served = false;
  for (int i = 0; i < 200 && !served; ++i) {
    auto r = httpGet(s.url("/hello?name=again"), 2);
    served = r.ok() && r->status == 200;
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(served);
}

TEST_CASE("HttpServer: destruction is safe from a handler and with writes in flight") {
  SUBCASE("handler destroys the server") {
    TestServer s({}, [](TestServer& t) {
      t.server->route("GET", "/quit", [&t](const HttpRequest&) {
        t.server.reset();
        t.loop.stop();
        return HttpResponse::text(200, "bye");
      });
    });
    RawClient idle(s.port);  // another open connection, closed by the destructor
    REQUIRE(idle.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
    CHECK(startsWith(idle.readResponse(), "HTTP/1.1 200 OK\r\n"));
    auto r = httpGet(s.url("/quit"), 5);
    CHECK_FALSE(r.ok());  // the connection closed without a response
    s.thread.join();      // the loop stopped; finish the close callbacks here
    s.thread = std::thread([&s] { s.loop.run(); });
    CHECK(idle.peerClosed());
  }
  SUBCASE("large response still being written") {
    TestServer s({}, [](TestServer& t) {
      t.server->route("GET", "/big", [](const HttpRequest&) {
        return HttpResponse::text(200, std::string(32 * 1024 * 1024, 'B'));
      });
    });
    RawClient raw(s.port);
    REQUIRE(raw.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    // ~TestServer destroys the server while the write is queued.
  }
}

// A server with /events: a streaming response whose stream the test holds,
// and counts of the times its end callback ran.
struct StreamServer {
  std::shared_ptr<HttpStream> stream;  // loop thread only
  std::atomic<int> ended{0};
  TestServer server;
  // Keeps the loop running when a test destroys the server.
  std::unique_ptr<Timer> keepAlive;

  explicit StreamServer(HttpServerLimits limits = {})
      : server(limits, [this](TestServer& t) {
          t.server->route("POST", "/events", [this](const HttpRequest&) {
            HttpResponse response;
            response.contentType = "application/json";
            response.headers["Mesos-Stream-Id"] = "abc";
            response.stream = [this](std::shared_ptr<HttpStream> opened) {
              opened->onEnd([this] { ++ended; });
              stream = std::move(opened);
            };
            return response;
          });
        }) {
    server.onLoop([&] {
      keepAlive = std::make_unique<Timer>(server.loop);
      keepAlive->start(std::chrono::hours(1), [] {});
      return 0;
    });
  }
  ~StreamServer() {
    server.onLoop([&] {
      keepAlive.reset();
      stream.reset();
      return 0;
    });
  }

  // Once the handler has run: stream->write(data) on the loop.
  bool write(const std::string& data) {
    return server.onLoop([&] { return stream != nullptr && stream->write(data); });
  }
  bool open() {
    return server.onLoop([&] { return stream != nullptr && stream->open(); });
  }
  void waitForStream() {
    for (int i = 0; i < 500 && !server.onLoop([&] { return stream != nullptr; }); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  void waitForEnd() {
    for (int i = 0; i < 500 && ended.load() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
};

// Reads from `raw` until `text` has arrived (or the peer closes or times out).
std::string readUntil(RawClient& raw, std::string& seen, std::string_view text) {
  while (seen.find(text) == std::string::npos) {
    std::string more = raw.readSome();
    if (more.empty()) break;
    seen += more;
  }
  return seen;
}

TEST_CASE("HttpServer streaming: chunks arrive as written, and close ends the body and the connection") {
  StreamServer s;
  RawClient raw(s.server.port);
  // A second request pipelined behind the stream's is not answered.
  REQUIRE(raw.send("POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                   "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  s.waitForStream();
  std::string seen;
  readUntil(raw, seen, "\r\n\r\n");
  CHECK(startsWith(seen, "HTTP/1.1 200 OK\r\n"));
  CHECK(seen.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
  CHECK(seen.find("Mesos-Stream-Id: abc\r\n") != std::string::npos);
  CHECK(seen.find("Content-Type: application/json\r\n") != std::string::npos);
  CHECK(seen.find("Content-Length") == std::string::npos);
  seen.clear();
  CHECK(s.write("hello"));
  CHECK(s.write(""));  // nothing: an empty chunk would end the body
  CHECK(s.write(std::string(300, 'x')));
  readUntil(raw, seen, std::string(300, 'x') + "\r\n");
  CHECK(seen == "5\r\nhello\r\n12c\r\n" + std::string(300, 'x') + "\r\n");
  s.server.onLoop([&] {
    s.stream->close();
    return 0;
  });
  CHECK(raw.readAll() == "0\r\n\r\n");  // then EOF: nothing for the pipelined GET
  CHECK_FALSE(s.open());
  CHECK_FALSE(s.write("late"));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(s.ended.load() == 0);  // close() by the owner does not call back
}

TEST_CASE("HttpServer streaming: the end callback runs once when the client goes, and writes fail after") {
  StreamServer s;
  {
    RawClient raw(s.server.port);
    REQUIRE(raw.send("POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"));
    s.waitForStream();
    CHECK(s.write("one"));
  }
  s.waitForEnd();
  CHECK(s.ended.load() == 1);
  CHECK_FALSE(s.open());
  CHECK_FALSE(s.write("two"));
  // The server serves on.
  RawClient next(s.server.port);
  REQUIRE(next.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  CHECK(startsWith(next.readResponse(), "HTTP/1.1 200 OK\r\n"));
  CHECK(s.ended.load() == 1);
}

TEST_CASE("HttpServer streaming: HTTP/1.0 gets the body unchunked until the connection closes") {
  StreamServer s;
  RawClient raw(s.server.port);
  REQUIRE(raw.send("POST /events HTTP/1.0\r\nContent-Length: 0\r\n\r\n"));
  s.waitForStream();
  CHECK(s.write("abc"));
  CHECK(s.write("def"));
  s.server.onLoop([&] {
    s.stream->close();
    return 0;
  });
  std::string all = raw.readAll();
  CHECK(all.find("Transfer-Encoding") == std::string::npos);
  CHECK(bodyOf(all) == "abcdef");
}

TEST_CASE("HttpServer streaming: a client that does not read is cut off, not buffered without end") {
  HttpServerLimits limits;
  limits.maxStreamQueueBytes = 256 * 1024;
  StreamServer s(limits);
  RawClient raw(s.server.port);
  REQUIRE(raw.send("POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"));
  s.waitForStream();
  const std::string block(64 * 1024, 'z');
  int written = 0;
  while (written < 1000 && s.write(block)) ++written;
  CHECK(written < 1000);  // socket buffers plus the limit, then refused
  s.waitForEnd();
  CHECK(s.ended.load() == 1);
  CHECK_FALSE(s.open());
}

TEST_CASE("HttpServer streaming: destroying the server ends open streams through their callback") {
  StreamServer s;
  RawClient raw(s.server.port);
  REQUIRE(raw.send("POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"));
  s.waitForStream();
  s.server.onLoop([&] {
    s.server.server.reset();
    return 0;
  });
  s.waitForEnd();
  CHECK(s.ended.load() == 1);
  CHECK(s.server.onLoop([&] { return s.stream->open(); }) == false);
  CHECK(startsWith(raw.readAll(), "HTTP/1.1 200 OK\r\n"));
  CHECK(raw.peerClosed());
  // ~TestServer resets a server that is already gone.
}

TEST_CASE("HttpServer streaming: HEAD gets the head alone and no stream") {
  StreamServer s;
  s.server.onLoop([&] {
    s.server.server->route("HEAD", "/events", [&](const HttpRequest&) {
      HttpResponse response;
      response.stream = [&](std::shared_ptr<HttpStream> opened) { s.stream = std::move(opened); };
      return response;
    });
    return 0;
  });
  RawClient raw(s.server.port);
  REQUIRE(raw.send("HEAD /events HTTP/1.1\r\nHost: x\r\n\r\n"));
  CHECK(startsWith(raw.readResponse(), "HTTP/1.1 200 OK\r\n"));
  CHECK(s.server.onLoop([&] { return s.stream == nullptr; }));
}

TEST_CASE("HttpServer: listen reports errors") {
  Loop loop;
  HttpServer first(loop);
  auto bound = first.listen("127.0.0.1", 0);
  REQUIRE(bound.ok());

  HttpServer second(loop);
  auto clash = second.listen("127.0.0.1", *bound);
  REQUIRE_FALSE(clash.ok());
  CHECK(clash.error().code == ErrorCode::kUnavailable);
  CHECK(clash.error().message ==
        "cannot listen on 127.0.0.1:" + std::to_string(*bound) + ": address already in use");

  HttpServer third(loop);
  auto bad = third.listen("not-an-ip", 80);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == ErrorCode::kInvalid);

  auto again = first.listen("127.0.0.1", 0);
  CHECK_FALSE(again.ok());
}

TEST_CASE("http client: unreachable and silent servers are kUnavailable") {
  // A port that was free a moment ago: nothing listens there now.
  int freePort;
  {
    Loop loop;
    HttpServer probe(loop);
    auto bound = probe.listen("127.0.0.1", 0);
    REQUIRE(bound.ok());
    freePort = *bound;
  }
  std::string url = "http://127.0.0.1:" + std::to_string(freePort) + "/x";
  auto refused = httpGet(url, 2);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == ErrorCode::kUnavailable);
  CHECK(refused.error().message.find(url) != std::string::npos);

  // A listener that never accepts: the request times out (without the
  // timeout it would wait for ever).
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  REQUIRE(::listen(fd, 4) == 0);
  socklen_t len = sizeof(addr);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  std::string silent = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/";
  auto timedOut = httpPost(silent, "{}", "application/json", 0.2);
  ::close(fd);
  REQUIRE_FALSE(timedOut.ok());
  CHECK(timedOut.error().code == ErrorCode::kUnavailable);
  CHECK(timedOut.error().message.find(silent) != std::string::npos);
  CHECK(timedOut.error().message.find("Timeout was reached") != std::string::npos);
}

// ---------------------------------------------------------------- TLS

namespace {

// A CA, a certificate it signed for 127.0.0.1, and a TestServer serving TLS
// with it.
struct TlsTestServer {
  testing::TempDir dir{"cn-tls"};
  testing::TlsFiles files;
  std::unique_ptr<TestServer> server;

  TlsTestServer() {
    testing::makeTlsCa(dir.path);
    files = testing::makeTlsFiles(dir.path);
    auto context = TlsServerContext::load(files.cert, files.key);
    REQUIRE_MESSAGE(context.ok(), (context.ok() ? "" : context.error().message));
    server = std::make_unique<TestServer>(HttpServerLimits{}, [&](TestServer& s) { s.server->tls(*context); });
  }

  std::string url(const std::string& pathAndQuery) const {
    return "https://127.0.0.1:" + std::to_string(server->port) + pathAndQuery;
  }

  Result<HttpResult> request(const std::string& method, const std::string& pathAndQuery, std::string body = "",
                             std::optional<std::string> caFile = std::nullopt) {
    HttpClientRequest r;
    r.method = method;
    r.url = url(pathAndQuery);
    r.body = std::move(body);
    r.caFile = caFile ? *caFile : files.caCert;
    return httpRequest(r);
  }

  uint64_t tlsFailures() {
    return server->onLoop([this] { return server->server->tlsFailures(); });
  }
};

}  // namespace

TEST_CASE("HttpServer over TLS: a client trusting the CA gets every answer, large bodies included") {
  TlsTestServer s;
  auto hello = s.request("GET", "/hello?name=tls");
  REQUIRE_MESSAGE(hello.ok(), (hello.ok() ? "" : hello.error().message));
  CHECK(hello->status == 200);
  CHECK(hello->body == "hello tls||dflt");

  // Several TLS records each way.
  std::string big(3 * 1024 * 1024 + 17, 'x');
  for (size_t i = 0; i < big.size(); i += 4099) big[i] = static_cast<char>('a' + i % 26);
  auto echoed = s.request("POST", "/echo", big);
  REQUIRE_MESSAGE(echoed.ok(), (echoed.ok() ? "" : echoed.error().message));
  CHECK(echoed->status == 201);
  CHECK(echoed->body == "POST|application/json|" + big);

  auto missing = s.request("GET", "/nope");
  REQUIRE(missing.ok());
  CHECK(missing->status == 404);
  CHECK(s.tlsFailures() == 0);
}

TEST_CASE("HttpServer over TLS: a client that does not trust the certificate is refused before any request") {
  TlsTestServer s;
  testing::TempDir other{"cn-tls-other"};
  std::string otherCa = testing::makeTlsCa(other.path);
  auto refused = s.request("GET", "/hello", "", otherCa);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == ErrorCode::kUnavailable);
  CHECK(refused.error().message.find("certificate") != std::string::npos);
  // The system's trust store does not know the test CA either.
  auto untrusted = s.request("GET", "/hello", "", std::string());
  REQUIRE_FALSE(untrusted.ok());
  CHECK(s.server->malformed() == 0);
  // The server lives on.
  auto good = s.request("GET", "/hello?name=again");
  REQUIRE(good.ok());
  CHECK(good->body == "hello again||dflt");
}

TEST_CASE("HttpServer over TLS: plain HTTP gets a readable 400 naming https, garbage a closed connection") {
  TlsTestServer s;
  auto plain = httpGet("http://127.0.0.1:" + std::to_string(s.server->port) + "/hello");
  REQUIRE_MESSAGE(plain.ok(), (plain.ok() ? "" : plain.error().message));
  CHECK(plain->status == 400);
  CHECK(plain->body.find("https://") != std::string::npos);
  CHECK(s.tlsFailures() == 1);

  {
    // A handshake record header followed by nonsense.
    RawClient raw(s.server->port);
    std::string junk = "\x16\x03\x01\x00\x20";
    junk += std::string(32, '\x7f');
    raw.send(junk);
    raw.readAll();  // an alert, perhaps, then the close
    CHECK(raw.peerClosed());
  }
  for (int i = 0; i < 250 && s.tlsFailures() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(s.tlsFailures() == 2);

  auto good = s.request("GET", "/hello?name=still");
  REQUIRE(good.ok());
  CHECK(good->body == "hello still||dflt");
}

TEST_CASE("TlsServerContext: a missing file or a key of another certificate is refused in one line naming it") {
  testing::TempDir dir{"cn-tls"};
  testing::makeTlsCa(dir.path);
  auto a = testing::makeTlsFiles(dir.path, "a");
  auto b = testing::makeTlsFiles(dir.path, "b");

  auto missing = TlsServerContext::load(dir.path + "/none.crt", a.key);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == ErrorCode::kInvalid);
  CHECK(missing.error().message.find(dir.path + "/none.crt") != std::string::npos);

  auto notPem = TlsServerContext::load(a.cert, dir.path + "/ca.srl");
  REQUIRE_FALSE(notPem.ok());
  CHECK(notPem.error().message.find("ca.srl") != std::string::npos);

  auto mismatched = TlsServerContext::load(a.cert, b.key);
  REQUIRE_FALSE(mismatched.ok());
  CHECK(mismatched.error().message.find("does not belong") != std::string::npos);
  CHECK(mismatched.error().message.find('\n') == std::string::npos);

  CHECK(TlsServerContext::load(b.cert, b.key).ok());
  CHECK_FALSE(TlsServerContext::load("", b.key).ok());
}

TEST_CASE("http_format: media types and Accept as HTTP reads them") {
  CHECK(http_format::mediaType(" Application/JSON ; charset=utf-8") == "application/json");
  HttpRequest request;
  CHECK(http_format::acceptsMediaType(request, "application/json"));  // no Accept: anything
  request.headers["accept"] = "text/html, application/*;q=0.5";
  CHECK(http_format::acceptsMediaType(request, "application/x-protobuf"));
  CHECK_FALSE(http_format::acceptsMediaType(request, "image/png"));
  request.headers["accept"] = "application/json;q=0, */*;q=0";
  CHECK_FALSE(http_format::acceptsMediaType(request, "application/json"));
  request.headers["accept"] = "*/*";
  CHECK(http_format::acceptsMediaType(request, "application/x-protobuf"));
}
