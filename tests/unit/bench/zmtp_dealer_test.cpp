// ZmtpDealer against a real libzmq ROUTER on loopback: what the benchmark's
// simulated agents rely on when they speak ZMTP 3.0 themselves instead of
// through a libzmq socket.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <future>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "bench/zmtp_dealer.hpp"
#include "common/loop.hpp"

using namespace clusternodes;
using Frames = std::vector<std::string>;

// Frames print as {"a", "b"}, long ones cut to their start and size.
template <>
struct doctest::StringMaker<Frames> {
  static doctest::String convert(const Frames& frames) {
    std::string text = "{";
    for (const auto& frame : frames) {
      if (text.size() > 1) text += ", ";
      text += '"' + frame.substr(0, 40) + '"';
      if (frame.size() > 40) text += "... (" + std::to_string(frame.size()) + " bytes)";
    }
    text += "}";
    return doctest::String(text.c_str());
  }
};

namespace {

// How long a test waits for something that should happen at once on
// loopback (a reconnection waits at most 2 s between attempts).
constexpr std::chrono::seconds kPatience{10};

// Polls `condition` until it holds, for at most kPatience. True if it held.
template <typename Condition>
bool eventually(Condition condition) {
  auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// Bytes of every value, in an order that shows a cut or a shuffle.
std::string pattern(size_t size) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 7 + i / 251) & 0xFF);
  return bytes;
}

// A ZmtpDealer on a project Loop that runs on a thread of its own. Every
// call on the dealer is made on that thread; what the dealer hands its
// handlers is recorded for the test's thread to read.
class DealerOnLoop {
 public:
  explicit DealerOnLoop(std::string identity) {
    // run() returns when nothing is left to do: a timer that never fires
    // keeps the loop running while the dealer has no handle open.
    keepAlive_ = std::make_unique<Timer>(loop_);
    keepAlive_->start(std::chrono::hours(1), [] {});
    thread_ = std::thread([this] { loop_.run(); });
    call([this, &identity](bench::ZmtpDealer*) {
      dealer_ = std::make_unique<bench::ZmtpDealer>(loop_, std::move(identity), [this](std::string_view message) {
        std::lock_guard<std::mutex> lock(mutex_);
        messages_.emplace_back(message);
      });
      dealer_->onConnected([this] { ++connections_; });
    });
  }

  ~DealerOnLoop() {
    loop_.post([this] {
      dealer_.reset();
      keepAlive_.reset();
      loop_.stop();
    });
    thread_.join();
  }

  DealerOnLoop(const DealerOnLoop&) = delete;
  DealerOnLoop& operator=(const DealerOnLoop&) = delete;

  // Runs `fn` with the dealer on the loop's thread and returns what it returns.
  template <typename Fn>
  auto call(Fn fn) -> decltype(fn(nullptr)) {
    using T = decltype(fn(nullptr));
    std::promise<T> promise;
    auto future = promise.get_future();
    loop_.post([&] {
      if constexpr (std::is_void_v<T>) {
        fn(dealer_.get());
        promise.set_value();
      } else {
        promise.set_value(fn(dealer_.get()));
      }
    });
    return future.get();
  }

  Result<void> connect(const std::string& endpoint) {
    return call([&](bench::ZmtpDealer* dealer) { return dealer->connect(endpoint); });
  }
  void send(const std::string& message) {
    call([&](bench::ZmtpDealer* dealer) { dealer->send(message); });
  }
  uint64_t protocolErrors() {
    return call([](bench::ZmtpDealer* dealer) { return dealer->protocolErrors(); });
  }

  // How many times onConnected has fired.
  int connections() const { return connections_.load(); }
  size_t messageCount() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return messages_.size();
  }
  // What the message handler was given, in order.
  std::vector<std::string> messages() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return messages_;
  }

 private:
  Loop loop_;
  std::unique_ptr<Timer> keepAlive_;
  std::unique_ptr<bench::ZmtpDealer> dealer_;
  mutable std::mutex mutex_;
  std::vector<std::string> messages_;
  std::atomic<int> connections_{0};
  std::thread thread_;
};

// A libzmq ROUTER bound on 127.0.0.1, with a context of its own, so that its
// port is free again when close() returns.
class Router {
 public:
  // Binds `endpoint` ("tcp://127.0.0.1:*" for a free port), waiting for a
  // port that was just released.
  explicit Router(const std::string& endpoint = "tcp://127.0.0.1:*") {
    socket_.set(zmq::sockopt::linger, 0);
    // A reply to a peer the ROUTER does not know fails instead of vanishing.
    socket_.set(zmq::sockopt::router_mandatory, 1);
    socket_.set(zmq::sockopt::rcvtimeo,
                static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(kPatience).count()));
    REQUIRE(eventually([&] {
      try {
        socket_.bind(endpoint);
        return true;
      } catch (const zmq::error_t&) {
        return false;
      }
    }));
    endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
  }
  ~Router() { close(); }
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // "tcp://127.0.0.1:PORT", as ZMQ_LAST_ENDPOINT gives it.
  const std::string& endpoint() const { return endpoint_; }

  // The frames of the next message (the peer's identity first), or none if
  // no message came within kPatience.
  Frames receive() {
    std::vector<zmq::message_t> parts;
    if (!zmq::recv_multipart(socket_, std::back_inserter(parts))) return {};
    Frames frames;
    for (const auto& part : parts) frames.push_back(part.to_string());
    return frames;
  }

  void send(const std::string& identity, const std::string& payload) {
    socket_.send(zmq::const_buffer(identity.data(), identity.size()), zmq::send_flags::sndmore);
    socket_.send(zmq::const_buffer(payload.data(), payload.size()), zmq::send_flags::none);
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    socket_.close();
    context_.close();  // returns once the socket's listener is closed
  }

 private:
  zmq::context_t context_;
  zmq::socket_t socket_{context_, zmq::socket_type::router};
  std::string endpoint_;
  bool closed_ = false;
};

// A file descriptor that is closed with its owner.
class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    reset(std::exchange(other.fd_, -1));
    return *this;
  }
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

// A plain TCP listening socket on 127.0.0.1 whose connections the test
// accepts and answers itself, speaking whatever it likes.
class PlainListener {
 public:
  // Listens on `port` (0 for a free one), waiting for a port that was just
  // released.
  explicit PlainListener(int port = 0) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    REQUIRE(fd_.get() >= 0);
    int one = 1;
    REQUIRE(::setsockopt(fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(eventually([&] {
      return ::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
    }));
    REQUIRE(::listen(fd_.get(), 16) == 0);
    socklen_t length = sizeof address;
    REQUIRE(::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port_ = ntohs(address.sin_port);
  }

  std::string endpoint() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

  // The next connection, or no descriptor if none came within kPatience.
  UniqueFd accept() {
    pollfd ready{fd_.get(), POLLIN, 0};
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(kPatience).count();
    if (::poll(&ready, 1, static_cast<int>(ms)) != 1) return UniqueFd();
    return UniqueFd(::accept(fd_.get(), nullptr, nullptr));
  }

 private:
  UniqueFd fd_;
  int port_ = 0;
};

bool writeAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// What the peer of `fd` wrote until it closed the connection, or nothing if
// it kept it open for kPatience.
std::optional<std::string> readUntilClosed(int fd) {
  timeval timeout{static_cast<time_t>(kPatience.count()), 0};
  REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) == 0);
  std::string bytes;
  char chunk[4096];
  for (;;) {
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n > 0) {
      bytes.append(chunk, static_cast<size_t>(n));
    } else if (n == 0 || errno == ECONNRESET) {
      return bytes;
    } else if (errno != EINTR) {
      return std::nullopt;
    }
  }
}

// Writes `bytes` one at a time, with a pause after each so that the reader
// most likely sees them in separate reads (the test holds either way).
bool writeByteByByte(int fd, std::string_view bytes) {
  for (char byte : bytes) {
    if (!writeAll(fd, std::string_view(&byte, 1))) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Exactly `size` bytes from `fd`, or fewer if the peer closed or stayed
// silent for kPatience.
std::string readExactly(int fd, size_t size) {
  timeval timeout{static_cast<time_t>(kPatience.count()), 0};
  REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) == 0);
  std::string bytes(size, '\0');
  size_t got = 0;
  while (got < size) {
    ssize_t n = ::recv(fd, bytes.data() + got, size - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  bytes.resize(got);
  return bytes;
}

// One ZMTP 3.0 frame as a peer writes it: flags, a 1- or 8-byte size, body.
std::string zmtpFrame(unsigned char flags, std::string_view body) {
  std::string frame(1, static_cast<char>(flags));
  if (body.size() > 255) {
    frame[0] = static_cast<char>(flags | 0x02);
    for (int i = 7; i >= 0; --i) frame.push_back(static_cast<char>((body.size() >> (8 * i)) & 0xFF));
  } else {
    frame.push_back(static_cast<char>(body.size()));
  }
  frame.append(body);
  return frame;
}

// What a libzmq ROUTER says first: the ZMTP 3.0 greeting with the NULL
// mechanism, then a READY command with its socket type.
std::string routerHandshake() {
  std::string greeting(64, '\0');
  greeting[0] = static_cast<char>(0xFF);
  greeting[9] = 0x7F;
  greeting[10] = 3;
  greeting.replace(12, 4, "NULL");
  std::string ready = "\x05READY";
  ready += "\x0BSocket-Type";
  ready += std::string("\0\0\0\x06", 4) + "ROUTER";
  return greeting + zmtpFrame(0x04, ready);
}

}  // namespace

TEST_CASE("ZmtpDealer: messages sent before connect and after the handshake reach the ROUTER in order, under the dealer's identity") {
  Router router;
  DealerOnLoop dealer("sim-7-a");

  dealer.send("sent before connect");
  REQUIRE(dealer.connect(router.endpoint()).ok());
  REQUIRE(eventually([&] { return dealer.connections() == 1; }));
  dealer.send("sent after the handshake");

  // One frame each, after the identity frame the ROUTER puts first.
  CHECK(router.receive() == Frames{"sim-7-a", "sent before connect"});
  CHECK(router.receive() == Frames{"sim-7-a", "sent after the handshake"});
  CHECK(dealer.connections() == 1);
}

TEST_CASE("ZmtpDealer: replies from the ROUTER reach the handler whole, short frames, long frames and a megabyte") {
  Router router;
  DealerOnLoop dealer("sim-7-b");
  REQUIRE(dealer.connect(router.endpoint()).ok());
  dealer.send("hello");
  // The ROUTER knows the dealer once it has heard from it.
  REQUIRE(router.receive() == Frames{"sim-7-b", "hello"});

  // 255 bytes is the largest short frame; 256 and more take a long frame
  // (an 8-byte size); a megabyte arrives over many reads.
  const std::vector<std::string> replies{"", "ok", pattern(255), pattern(256), pattern(1000), pattern(1 << 20)};
  for (const auto& reply : replies) router.send("sim-7-b", reply);

  REQUIRE(eventually([&] { return dealer.messageCount() >= replies.size(); }));
  auto received = dealer.messages();
  REQUIRE(received.size() == replies.size());
  for (size_t i = 0; i < replies.size(); ++i) {
    CAPTURE(i);
    CHECK(received[i].size() == replies[i].size());
    CHECK((received[i] == replies[i]));  // not printed: a megabyte
  }
}

TEST_CASE("ZmtpDealer: messages of every size from the dealer reach the ROUTER whole and in order") {
  Router router;
  DealerOnLoop dealer("sim-7-c");
  REQUIRE(dealer.connect(router.endpoint()).ok());
  REQUIRE(eventually([&] { return dealer.connections() == 1; }));

  // Short frames up to 255 bytes, long ones from 256. Sent in one turn of
  // the loop: more than the socket takes at once, so the last ones wait in
  // libuv's write queue behind the megabytes.
  const std::vector<std::string> messages{"",    pattern(255),     pattern(256), pattern(70000),
                                          "small", pattern(1 << 20), pattern(8 << 20), "last"};
  dealer.call([&](bench::ZmtpDealer* d) {
    for (const auto& message : messages) d->send(message);
  });

  for (size_t i = 0; i < messages.size(); ++i) {
    CAPTURE(i);
    Frames frames = router.receive();
    REQUIRE(frames.size() == 2);
    CHECK(frames[0] == "sim-7-c");
    CHECK(frames[1].size() == messages[i].size());
    CHECK((frames[1] == messages[i]));  // not printed: megabytes
  }
}

TEST_CASE("ZmtpDealer: reconnects by itself to a ROUTER restarted on the same port and delivers what was sent in between") {
  auto router = std::make_unique<Router>();
  const std::string endpoint = router->endpoint();
  const int port = std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
  DealerOnLoop dealer("sim-7-d");
  REQUIRE(dealer.connect(endpoint).ok());
  REQUIRE(eventually([&] { return dealer.connections() == 1; }));
  dealer.send("before the restart");
  REQUIRE(router->receive() == Frames{"sim-7-d", "before the restart"});

  router.reset();
  {
    // A listener that never answers takes the port while the ROUTER is
    // down: the dealer connecting to it shows that the dealer has seen the
    // first connection end, so what is sent now cannot go down that one.
    PlainListener standIn(port);
    UniqueFd connection = standIn.accept();
    REQUIRE(connection.get() >= 0);
    dealer.send("sent without a handshake");
  }
  // The stand-in has hung up: nothing listens on the port.
  dealer.send("sent with no connection");

  Router restarted(endpoint);
  REQUIRE(eventually([&] { return dealer.connections() == 2; }));
  CHECK(restarted.receive() == Frames{"sim-7-d", "sent without a handshake"});
  CHECK(restarted.receive() == Frames{"sim-7-d", "sent with no connection"});
  dealer.send("after the reconnection");
  CHECK(restarted.receive() == Frames{"sim-7-d", "after the reconnection"});
}

TEST_CASE("ZmtpDealer: connect refuses with kInvalid an endpoint that is not tcp://IPv4:PORT") {
  DealerOnLoop dealer("sim-7-e");
  for (std::string endpoint : {"", "ipc://x", "tcp://nohost:1", "tcp://[::1]:5050", "tcp://127.0.0.1",
                               "tcp://127.0.0.1:", "tcp://127.0.0.1:0", "tcp://127.0.0.1:99999",
                               "tcp://127.0.0.1:-1", "tcp://127.0.0.1:5050x", "tcp://127.0.0.1:50 50",
                               "tcp://127.0.0.1: 5050", "tcp://127.0.0.1:+5050"}) {
    CAPTURE(endpoint);
    Result<void> connected = dealer.connect(endpoint);
    REQUIRE_FALSE(connected.ok());
    CHECK(connected.error().code == ErrorCode::kInvalid);
  }
}

TEST_CASE("ZmtpDealer: a refused endpoint leaves the dealer reconnecting to the one it had") {
  auto router = std::make_unique<Router>();
  const std::string endpoint = router->endpoint();
  DealerOnLoop dealer("sim-7-f");
  REQUIRE(dealer.connect(endpoint).ok());
  REQUIRE(eventually([&] { return dealer.connections() == 1; }));

  Result<void> refused = dealer.connect("tcp://nohost:1");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == ErrorCode::kInvalid);
  dealer.send("after the refusal");
  CHECK(router->receive() == Frames{"sim-7-f", "after the refusal"});

  router.reset();
  Router restarted(endpoint);
  REQUIRE(eventually([&] { return dealer.connections() == 2; }));
  dealer.send("after the reconnection");
  CHECK(restarted.receive() == Frames{"sim-7-f", "after the reconnection"});
}

TEST_CASE("ZmtpDealer: a peer that answers with something other than ZMTP is counted as a protocol error and the dealer goes on connecting") {
  auto listener = std::make_unique<PlainListener>();
  const std::string endpoint = listener->endpoint();
  DealerOnLoop dealer("sim-7-g");
  REQUIRE(dealer.connect(endpoint).ok());

  UniqueFd first = listener->accept();
  REQUIRE(first.get() >= 0);
  REQUIRE(writeAll(first.get(), "HTTP/1.1 200 OK\r\n\r\n"));
  REQUIRE(eventually([&] { return dealer.protocolErrors() == 1; }));

  // The dealer greeted the peer as ZMTP, then hung up on its answer...
  std::optional<std::string> written = readUntilClosed(first.get());
  REQUIRE(written.has_value());
  REQUIRE(written->size() >= 64);
  CHECK(static_cast<unsigned char>((*written)[0]) == 0xFF);
  CHECK((*written)[9] == 0x7F);
  CHECK(written->find("sim-7-g") != std::string::npos);

  // ...connects again later, to be answered the same way...
  UniqueFd second = listener->accept();
  REQUIRE(second.get() >= 0);
  REQUIRE(writeAll(second.get(), "HTTP/1.1 200 OK\r\n\r\n"));
  REQUIRE(eventually([&] { return dealer.protocolErrors() == 2; }));
  CHECK(dealer.connections() == 0);

  // ...and talks to a ROUTER that takes the port over.
  second.reset();
  listener.reset();
  Router router(endpoint);
  REQUIRE(eventually([&] { return dealer.connections() == 1; }));
  dealer.send("after the garbage");
  CHECK(router.receive() == Frames{"sim-7-g", "after the garbage"});
  CHECK(dealer.protocolErrors() == 2);
}

TEST_CASE("ZmtpDealer: a handshake and messages that arrive a byte at a time are read whole") {
  PlainListener listener;
  DealerOnLoop dealer("sim-7-h");
  dealer.send("sent before connect");
  REQUIRE(dealer.connect(listener.endpoint()).ok());
  UniqueFd peer = listener.accept();
  REQUIRE(peer.get() >= 0);

  REQUIRE(writeByteByByte(peer.get(), routerHandshake()));
  REQUIRE(eventually([&] { return dealer.connections() == 1; }));

  // What the dealer wrote, as a ROUTER reads it: its greeting, its READY
  // with its socket type and identity, then the waiting message as one
  // frame.
  std::string greeting = readExactly(peer.get(), 64);
  REQUIRE(greeting.size() == 64);
  CHECK(static_cast<unsigned char>(greeting[0]) == 0xFF);
  CHECK(greeting[9] == 0x7F);
  CHECK(greeting[10] == 3);
  CHECK(greeting.substr(12, 5) == std::string("NULL\0", 5));
  std::string readyHeader = readExactly(peer.get(), 2);
  REQUIRE(readyHeader.size() == 2);
  CHECK(readyHeader[0] == 0x04);
  std::string ready = readExactly(peer.get(), static_cast<unsigned char>(readyHeader[1]));
  CHECK(ready.rfind("\x05READY", 0) == 0);
  CHECK(ready.find("Socket-Type" + std::string("\0\0\0\x06", 4) + "DEALER") != std::string::npos);
  CHECK(ready.find("Identity" + std::string("\0\0\0\x07", 4) + "sim-7-h") != std::string::npos);
  CHECK(readExactly(peer.get(), 21) == zmtpFrame(0x00, "sent before connect"));

  // Frames to the dealer, short and long, a byte at a time.
  const std::string longReply = pattern(300);
  REQUIRE(writeByteByByte(peer.get(), zmtpFrame(0x00, "a reply") + zmtpFrame(0x00, longReply)));
  REQUIRE(eventually([&] { return dealer.messageCount() >= 2; }));
  CHECK(dealer.messages() == std::vector<std::string>{"a reply", longReply});
  CHECK(dealer.protocolErrors() == 0);
}
