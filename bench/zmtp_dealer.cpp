#include "bench/zmtp_dealer.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <memory>
#include <utility>

namespace clusternodes::bench {
namespace {

constexpr uint64_t kReconnectMs = 100;     // as ZmqSocket's reconnect_ivl
constexpr uint64_t kReconnectMaxMs = 2000;  // and reconnect_ivl_max
constexpr uint64_t kMaxFrame = 64ull << 20;       // as ZmqSocket's maxmsgsize
constexpr size_t kGreetingBytes = 64;
constexpr unsigned char kMore = 0x01, kLong = 0x02, kCommand = 0x04;

// ZMTP 3.0 greeting: signature (0xFF, 8 bytes of padding, 0x7F), version
// 3.0, the mechanism "NULL" padded to 20 bytes, as-server 0, 31 bytes of
// filler.
std::string greeting() {
  std::string g(kGreetingBytes, '\0');
  g[0] = static_cast<char>(0xFF);
  g[9] = 0x7F;
  g[10] = 3;
  g[11] = 0;
  std::memcpy(&g[12], "NULL", 4);
  return g;
}

void appendBigEndian(std::string& out, uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

uint64_t readBigEndian(const unsigned char* p, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value = (value << 8) | p[i];
  return value;
}

void appendProperty(std::string& out, std::string_view name, std::string_view value) {
  out.push_back(static_cast<char>(name.size()));
  out.append(name);
  appendBigEndian(out, value.size(), 4);
  out.append(value);
}

// A frame's flags and size, then its body.
void appendFrame(std::string& out, unsigned char flags, std::string_view body) {
  if (body.size() > 255) {
    out.push_back(static_cast<char>(flags | kLong));
    appendBigEndian(out, body.size(), 8);
  } else {
    out.push_back(static_cast<char>(flags));
    out.push_back(static_cast<char>(body.size()));
  }
  out.append(body);
}

// The NULL mechanism's handshake: a READY command with our socket type and
// identity (the ROUTER's name for us).
std::string ready(std::string_view identity) {
  std::string body;
  body.push_back(5);
  body.append("READY");
  appendProperty(body, "Socket-Type", "DEALER");
  appendProperty(body, "Identity", identity);
  std::string frame;
  appendFrame(frame, kCommand, body);
  return frame;
}

// What a read is given to fill: one buffer for the thread, as a read
// callback consumes it before the next read.
void allocate(uv_handle_t*, size_t, uv_buf_t* buf) {
  thread_local char buffer[64 * 1024];
  *buf = uv_buf_init(buffer, sizeof buffer);
}

struct WriteRequest {
  uv_write_t request;
  std::string bytes;
};

}  // namespace

struct ZmtpDealer::Connection {
  uv_tcp_t tcp;
  uv_connect_t connect;
  ZmtpDealer* owner;  // nullptr once the dealer let go of it
};

ZmtpDealer::ZmtpDealer(Loop& loop, std::string identity, Handler onMessage)
    : loop_(loop), identity_(std::move(identity)), onMessage_(std::move(onMessage)) {}

ZmtpDealer::~ZmtpDealer() {
  if (connection_ != nullptr) {
    connection_->owner = nullptr;
    auto* c = connection_;
    closeHandle(reinterpret_cast<uv_handle_t*>(&c->tcp), [c] { delete c; });
    connection_ = nullptr;
  }
  if (reconnect_ != nullptr) {
    uv_timer_stop(reconnect_);
    auto* t = reconnect_;
    closeHandle(reinterpret_cast<uv_handle_t*>(t), [t] { delete t; });
  }
}

Result<void> ZmtpDealer::connect(const std::string& endpoint) {
  const std::string scheme = "tcp://";
  auto colon = endpoint.rfind(':');
  if (endpoint.rfind(scheme, 0) != 0 || colon == std::string::npos || colon < scheme.size()) {
    return Error{ErrorCode::kInvalid, "not a tcp://IP:PORT endpoint: " + endpoint};
  }
  std::string ip = endpoint.substr(scheme.size(), colon - scheme.size());
  // The port is all that follows the colon: a number, with no space or
  // suffix.
  const char* first = endpoint.data() + colon + 1;
  const char* last = endpoint.data() + endpoint.size();
  int port = 0;
  auto [end, parsed] = std::from_chars(first, last, port);
  if (parsed != std::errc() || end != last) port = -1;
  // Parsed aside: a refused endpoint leaves the one in use (uv_ip4_addr
  // writes its output even when it fails).
  sockaddr_in address{};
  if (port <= 0 || port > 65535 || uv_ip4_addr(ip.c_str(), port, &address) != 0) {
    return Error{ErrorCode::kInvalid, "not a tcp://IPv4:PORT endpoint: " + endpoint};
  }
  address_ = address;
  addressSet_ = true;
  if (connection_ != nullptr) lost();  // and reconnects to the new address
  else open();
  return {};
}

void ZmtpDealer::open() {
  if (!addressSet_ || connection_ != nullptr) return;
  auto* c = new Connection;
  c->owner = this;
  uv_tcp_init(loop_.raw(), &c->tcp);
  c->tcp.data = c;
  c->connect.data = c;
  connection_ = c;
  int started = uv_tcp_connect(&c->connect, &c->tcp, reinterpret_cast<const sockaddr*>(&address_),
                               [](uv_connect_t* request, int status) {
                                 auto* conn = static_cast<Connection*>(request->data);
                                 if (conn->owner != nullptr) conn->owner->onConnected(status);
                               });
  if (started != 0) lost();
}

void ZmtpDealer::onConnected(int status) {
  if (status != 0) {
    lost();
    return;
  }
  uv_tcp_nodelay(&connection_->tcp, 1);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&connection_->tcp), allocate,
                [](uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
                  auto* conn = static_cast<Connection*>(stream->data);
                  if (conn->owner == nullptr) return;
                  if (n < 0) {
                    conn->owner->lost();
                  } else if (n > 0) {
                    conn->owner->onRead(std::string_view(buf->base, static_cast<size_t>(n)));
                  }
                });
  // Greeting and handshake in one write (the peer reads its greeting
  // before the rest). Messages wait for the peer's READY, as libzmq's do:
  // libzmq drops a message that comes in the same read as the handshake.
  write(greeting() + ready(identity_));
}

void ZmtpDealer::send(std::string_view message) {
  if (!ready_) {
    waiting_.emplace_back(message);
    return;
  }
  std::string frame;
  frame.reserve(message.size() + 9);
  appendFrame(frame, 0, message);
  write(std::move(frame));
}

void ZmtpDealer::write(std::string bytes) {
  auto* stream = reinterpret_cast<uv_stream_t*>(&connection_->tcp);
  // Straight into the socket when nothing queues before it (libuv refuses
  // a try while an earlier write waits, which keeps the order).
  uv_buf_t buf = uv_buf_init(bytes.data(), static_cast<unsigned>(bytes.size()));
  int written = uv_try_write(stream, &buf, 1);
  if (written == static_cast<int>(bytes.size())) return;
  if (written < 0 && written != UV_EAGAIN) {
    lost();
    return;
  }
  auto* request = new WriteRequest;
  request->bytes = bytes.substr(written > 0 ? static_cast<size_t>(written) : 0);
  buf = uv_buf_init(request->bytes.data(), static_cast<unsigned>(request->bytes.size()));
  if (uv_write(&request->request, stream, &buf, 1, [](uv_write_t* r, int) { delete reinterpret_cast<WriteRequest*>(r); }) != 0) {
    delete request;
    lost();
  }
}

void ZmtpDealer::onRead(std::string_view bytes) {
  in_.append(bytes);
  if (!parse()) {
    ++protocolErrors_;
    lost();
  }
}

bool ZmtpDealer::parse() {
  const auto* p = reinterpret_cast<const unsigned char*>(in_.data());
  size_t at = 0;
  if (!greeted_) {
    if (in_.size() < kGreetingBytes) {
      // The signature alone tells a peer that speaks something else.
      return in_.empty() || p[0] == 0xFF;
    }
    if (p[0] != 0xFF || (p[9] & 0x01) == 0 || p[10] < 3 || std::memcmp(p + 12, "NULL", 5) != 0) return false;
    greeted_ = true;
    at = kGreetingBytes;
  }
  while (in_.size() - at >= 2) {
    unsigned char flags = p[at];
    if ((flags & ~(kMore | kLong | kCommand)) != 0) return false;
    size_t header = (flags & kLong) != 0 ? 9 : 2;
    if (in_.size() - at < header) break;
    uint64_t size = (flags & kLong) != 0 ? readBigEndian(p + at + 1, 8) : p[at + 1];
    if (size > kMaxFrame) return false;
    if (in_.size() - at - header < size) break;
    std::string_view body(in_.data() + at + header, static_cast<size_t>(size));
    at += header + static_cast<size_t>(size);
    if ((flags & kCommand) != 0) {
      // READY (the ROUTER's handshake) and anything else a NULL peer may
      // say (PING) need no answer here; ERROR ends the connection.
      if (body.size() >= 6 && body.substr(0, 6) == std::string_view("\x05" "ERROR", 6)) return false;
      if (body.size() >= 6 && body.substr(0, 6) == std::string_view("\x05" "READY", 6)) {
        reconnectMs_ = kReconnectMs;
        ready_ = true;
        if (!waiting_.empty()) {
          std::string bytes;
          for (const auto& message : waiting_) appendFrame(bytes, 0, message);
          waiting_.clear();
          uint64_t connection = connections_;
          write(std::move(bytes));
          if (connections_ != connection) return true;
        }
        if (onConnected_) {
          uint64_t connection = connections_;
          onConnected_();
          if (connections_ != connection) return true;
        }
      }
      continue;
    }
    // A one-frame protocol: the last frame of a message is the message.
    if ((flags & kMore) == 0 && onMessage_) {
      uint64_t connection = connections_;
      onMessage_(body);
      // The handler's send lost the connection: what was read went with it.
      if (connections_ != connection) return true;
    }
  }
  in_.erase(0, at);
  return true;
}

void ZmtpDealer::lost() {
  if (connection_ != nullptr) {
    connection_->owner = nullptr;
    auto* c = connection_;
    closeHandle(reinterpret_cast<uv_handle_t*>(&c->tcp), [c] { delete c; });
    connection_ = nullptr;
  }
  ++connections_;
  greeted_ = false;
  ready_ = false;
  in_.clear();
  if (reconnect_ == nullptr) {
    reconnect_ = new uv_timer_t;
    uv_timer_init(loop_.raw(), reconnect_);
    reconnect_->data = this;
  }
  if (reconnectMs_ == 0) reconnectMs_ = kReconnectMs;
  uv_timer_start(
      reconnect_, [](uv_timer_t* t) { static_cast<ZmtpDealer*>(t->data)->open(); }, reconnectMs_, 0);
  reconnectMs_ = std::min(reconnectMs_ * 2, kReconnectMaxMs);
}

}  // namespace clusternodes::bench
