#include "common/transport.hpp"

#include <sys/random.h>

#include <spdlog/spdlog.h>

#include <cstring>
#include <random>
#include <vector>

namespace clusternodes {
namespace {

// Messages one drain() handles before it yields to the loop.
constexpr int kDrainBudget = 64;

// ZMQ_ZAP_ENFORCE_DOMAIN: libzmq 4.3 has it, among its "draft" options
// (zmq.h declares it only with ZMQ_BUILD_DRAFT_API); setting it fails on a
// libzmq without it, which useCurveServer then reports.
constexpr int kZapEnforceDomain = 93;

}  // namespace

ZmqSocket::ZmqSocket(Loop& loop, zmq::context_t& context, Kind kind, const std::string& identity)
    : loop_(loop),
      context_(context),
      kind_(kind),
      socket_(context, kind == Kind::kRouter ? zmq::socket_type::router : zmq::socket_type::dealer) {
  socket_.set(zmq::sockopt::linger, 0);
  socket_.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(64) * 1024 * 1024);
  socket_.set(zmq::sockopt::sndhwm, 100000);
  socket_.set(zmq::sockopt::rcvhwm, 100000);
  if (kind == Kind::kRouter) {
    // A peer that reconnects with the same identity takes over its old slot.
    socket_.set(zmq::sockopt::router_handover, 1);
    // Many peers reconnect at once after a restart (every agent to a
    // master, every executor to an agent); libzmq's default backlog of 100
    // makes the rest wait a second for a retransmitted SYN. The kernel caps
    // this at net.core.somaxconn.
    socket_.set(zmq::sockopt::backlog, 65535);
  } else {
    socket_.set(zmq::sockopt::routing_id, identity.empty() ? randomUuid() : identity);
    socket_.set(zmq::sockopt::reconnect_ivl, 100);
    socket_.set(zmq::sockopt::reconnect_ivl_max, 2000);
  }

  poll_ = new uv_poll_t;
  int fd = socket_.get(zmq::sockopt::fd);
  uv_poll_init(loop.raw(), poll_, fd);
  poll_->data = this;
  uv_poll_start(poll_, UV_READABLE, &ZmqSocket::onPoll);

  idle_ = new uv_idle_t;
  uv_idle_init(loop.raw(), idle_);
  idle_->data = this;
}

ZmqSocket::~ZmqSocket() {
  *alive_ = false;  // a drain() that called into the code destroying us stops there
  if (retry_ != nullptr) {
    uv_timer_stop(retry_);
    retry_->data = nullptr;
    auto* retry = retry_;
    closeHandle(reinterpret_cast<uv_handle_t*>(retry), [retry] { delete retry; });
  }
  if (monitorPoll_ != nullptr) {
    uv_poll_stop(monitorPoll_);
    monitorPoll_->data = nullptr;
    auto* monitorPoll = monitorPoll_;
    closeHandle(reinterpret_cast<uv_handle_t*>(monitorPoll), [monitorPoll] { delete monitorPoll; });
    zmq_socket_monitor(socket_.handle(), nullptr, 0);
    monitor_.reset();
  }
  uv_poll_stop(poll_);
  poll_->data = nullptr;
  auto* poll = poll_;
  closeHandle(reinterpret_cast<uv_handle_t*>(poll), [poll] { delete poll; });
  uv_idle_stop(idle_);
  idle_->data = nullptr;
  auto* idle = idle_;
  closeHandle(reinterpret_cast<uv_handle_t*>(idle), [idle] { delete idle; });
  // socket_ closes here; the uv handles above no longer point at it.
}

void ZmqSocket::setLinger(std::chrono::milliseconds linger) {
  socket_.set(zmq::sockopt::linger, static_cast<int>(linger.count()));
}

void ZmqSocket::onMessage(Handler handler) { handler_ = std::move(handler); }

void ZmqSocket::onConnectionChange(std::function<void(bool connected)> handler) {
  connectionHandler_ = std::move(handler);
  watchEvents();
}

void ZmqSocket::onHandshakeFailure(std::function<void(HandshakeFailure failure, int value)> handler) {
  handshakeHandler_ = std::move(handler);
  watchEvents();
}

const char* ZmqSocket::describe(HandshakeFailure failure) {
  switch (failure) {
    case HandshakeFailure::kRefused: return "the key was refused";
    case HandshakeFailure::kMechanism: return "one side speaks CURVE and the other does not";
    case HandshakeFailure::kCrypto: return "the CURVE handshake did not decrypt (a wrong server key)";
    case HandshakeFailure::kOther: break;
  }
  return "the handshake failed";
}

Result<void> ZmqSocket::useCurveServer(const CurveKey& own) {
  if (auto valid = checkZ85Key(own.secretKey); !valid) return valid;
  try {
    socket_.set(zmq::sockopt::curve_server, 1);
    socket_.set(zmq::sockopt::curve_secretkey, own.secretKey);
    socket_.set(zmq::sockopt::zap_domain, "clusternodes");
    // Refuse peers when no ZapHandler serves, rather than admit them all.
    int enforce = 1;
    if (zmq_setsockopt(socket_.handle(), kZapEnforceDomain, &enforce, sizeof enforce) != 0) {
      return Error{ErrorCode::kInternal, std::string("this libzmq cannot enforce authentication: ") +
                                             zmq_strerror(zmq_errno())};
    }
  } catch (const zmq::error_t& e) {
    return Error{ErrorCode::kInternal, std::string("cannot use CURVE: ") + e.what()};
  }
  curveServer_ = true;
  return {};
}

Result<void> ZmqSocket::useCurveClient(const CurveKey& own, const std::string& serverPublicKey) {
  for (const auto* key : {&own.publicKey, &own.secretKey, &serverPublicKey}) {
    if (auto valid = checkZ85Key(*key); !valid) return valid;
  }
  try {
    socket_.set(zmq::sockopt::curve_serverkey, serverPublicKey);
    socket_.set(zmq::sockopt::curve_publickey, own.publicKey);
    socket_.set(zmq::sockopt::curve_secretkey, own.secretKey);
  } catch (const zmq::error_t& e) {
    return Error{ErrorCode::kInternal, std::string("cannot use CURVE: ") + e.what()};
  }
  return {};
}

void ZmqSocket::watchEvents() {
  if (monitor_) return;
  // Connected means the handshake succeeded, not only TCP: a client whose
  // key is refused connects and is cut off again at every retry.
  constexpr int kEvents = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                          ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;
  std::string address = "inproc://cn-monitor-" + randomUuid();
  if (zmq_socket_monitor(socket_.handle(), address.c_str(), kEvents) != 0) {
    spdlog::warn("cannot watch the connection of a socket: {}", zmq_strerror(zmq_errno()));
    return;
  }
  monitor_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::pair);
  monitor_->set(zmq::sockopt::linger, 0);
  monitor_->connect(address);
  monitorPoll_ = new uv_poll_t;
  uv_poll_init(loop_.raw(), monitorPoll_, monitor_->get(zmq::sockopt::fd));
  monitorPoll_->data = this;
  uv_poll_start(monitorPoll_, UV_READABLE, &ZmqSocket::onMonitorPoll);
  drainMonitor();
}

void ZmqSocket::retryAfterFailedHandshake() {
  if (retry_ == nullptr) {
    retry_ = new uv_timer_t;
    uv_timer_init(loop_.raw(), retry_);
    retry_->data = this;
  }
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(retry_)) != 0) return;
  uv_timer_start(retry_, &ZmqSocket::onRetry,
                 static_cast<uint64_t>(std::chrono::milliseconds(kHandshakeRetry).count()), 0);
}

void ZmqSocket::onRetry(uv_timer_t* handle) {
  auto* self = static_cast<ZmqSocket*>(handle->data);
  if (self == nullptr) return;
  for (const auto& endpoint : self->endpoints_) {
    try {
      self->socket_.disconnect(endpoint);
    } catch (const zmq::error_t&) {
      // Gone already: libzmq dropped the connection it gave up on.
    }
    try {
      self->socket_.connect(endpoint);
    } catch (const zmq::error_t& e) {
      spdlog::warn("cannot connect to {} again: {}", endpoint, e.what());
    }
  }
}

void ZmqSocket::onMonitorPoll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<ZmqSocket*>(handle->data);
  if (self != nullptr) self->drainMonitor();
}

void ZmqSocket::drainMonitor() {
  // Each event is two frames: 6 bytes (the event, 16 bits, then a value,
  // 32 bits), then the endpoint. Edge-triggered like the socket itself:
  // read until nothing is left. A handler may destroy this socket.
  std::shared_ptr<bool> alive = alive_;
  for (int budget = 1000; budget > 0 && *alive; --budget) {
    try {
      if ((monitor_->get(zmq::sockopt::events) & ZMQ_POLLIN) == 0) break;
      zmq::message_t event;
      if (!monitor_->recv(event, zmq::recv_flags::dontwait).has_value()) break;
      while (event.more()) {
        zmq::message_t rest;
        if (!monitor_->recv(rest, zmq::recv_flags::dontwait).has_value()) break;
        if (!rest.more()) break;
      }
      if (event.size() < 6) continue;
      uint16_t id = 0;
      uint32_t value = 0;
      std::memcpy(&id, event.data(), sizeof id);
      std::memcpy(&value, static_cast<const char*>(event.data()) + sizeof id, sizeof value);
      if (id == ZMQ_EVENT_DISCONNECTED) {
        lostConnection_ = true;
        if (connectionHandler_) connectionHandler_(false);
      } else if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        if (lostConnection_) {
          lostConnection_ = false;
          if (connectionHandler_) connectionHandler_(true);
        }
      } else if (handshakeHandler_) {
        HandshakeFailure failure = HandshakeFailure::kOther;
        if (id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
          failure = HandshakeFailure::kRefused;
        } else if (id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL && value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
          failure = HandshakeFailure::kMechanism;
        } else if (id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL && value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC) {
          failure = HandshakeFailure::kCrypto;
        }
        if (kind_ == Kind::kDealer && (failure == HandshakeFailure::kRefused || failure == HandshakeFailure::kMechanism)) {
          retryAfterFailedHandshake();
        }
        handshakeHandler_(failure, static_cast<int>(value));
      }
    } catch (const std::exception& e) {
      spdlog::debug("socket monitor: {}", e.what());
      break;
    }
  }
}

Result<std::string> ZmqSocket::bind(const std::string& endpoint) {
  try {
    socket_.bind(endpoint);
    return socket_.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return Error{ErrorCode::kUnavailable, "cannot bind " + endpoint + ": " + e.what()};
  }
}

Result<void> ZmqSocket::connect(const std::string& endpoint) {
  try {
    socket_.connect(endpoint);
    endpoints_.insert(endpoint);
    return {};
  } catch (const zmq::error_t& e) {
    return Error{ErrorCode::kInvalid, "cannot connect to " + endpoint + ": " + e.what()};
  }
}

Result<void> ZmqSocket::disconnect(const std::string& endpoint) {
  endpoints_.erase(endpoint);
  try {
    socket_.disconnect(endpoint);
    return {};
  } catch (const zmq::error_t& e) {
    return Error{ErrorCode::kInvalid, "cannot disconnect from " + endpoint + ": " + e.what()};
  }
}

bool ZmqSocket::send(std::string_view payload) {
  bool ok = false;
  try {
    auto r = socket_.send(zmq::const_buffer(payload.data(), payload.size()), zmq::send_flags::dontwait);
    ok = r.has_value();
  } catch (const zmq::error_t& e) {
    spdlog::debug("zmq send failed: {}", e.what());
  }
  ok ? ++sent_ : ++droppedSends_;
  scheduleDrain();
  return ok;
}

bool ZmqSocket::sendTo(std::string_view peer, std::string_view payload) {
  bool ok = false;
  try {
    auto r = socket_.send(zmq::const_buffer(peer.data(), peer.size()),
                          zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    if (r.has_value()) {
      r = socket_.send(zmq::const_buffer(payload.data(), payload.size()), zmq::send_flags::dontwait);
      ok = r.has_value();
    }
  } catch (const zmq::error_t& e) {
    spdlog::debug("zmq send failed: {}", e.what());
  }
  ok ? ++sent_ : ++droppedSends_;
  scheduleDrain();
  return ok;
}

void ZmqSocket::onPoll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<ZmqSocket*>(handle->data);
  if (self == nullptr) return;
  self->drain();
}

void ZmqSocket::onIdle(uv_idle_t* handle) {
  auto* self = static_cast<ZmqSocket*>(handle->data);
  if (self == nullptr) return;
  uv_idle_stop(handle);
  self->drainScheduled_ = false;
  self->drain();
}

void ZmqSocket::scheduleDrain() {
  // A send may consume the edge that announced pending input; look again
  // from the loop, never re-entrantly from inside the caller's code.
  if (draining_ || drainScheduled_) return;
  drainScheduled_ = true;
  uv_idle_start(idle_, &ZmqSocket::onIdle);
}

void ZmqSocket::drain() {
  if (draining_) return;
  draining_ = true;
  // The handler may destroy this socket (a driver that gives up on a
  // refusal): then nothing of it may be touched after the call.
  std::shared_ptr<bool> alive = alive_;
  std::vector<zmq::message_t> parts;
  // Bounded per call, then the rest on the loop's next turn: a socket whose
  // handlers make more input (an agent's executors, each launch answered by
  // the next update) must not keep the loop in one drain, or the other
  // sockets and the timers starve (acknowledgements sat unread for seconds,
  // and every status update was re-sent).
  // Received until the socket has nothing (recv says EAGAIN, having taken
  // in its pending commands) rather than asking ZMQ_EVENTS before each
  // message: every such question is a poll(2) of the socket's mailbox, and
  // a master taking in thousands of registrations made tens of thousands.
  for (int budget = kDrainBudget; budget > 0; --budget) {
    parts.clear();
    bool more = true;
    try {
      while (more) {
        zmq::message_t part;
        auto r = socket_.recv(part, zmq::recv_flags::dontwait);
        if (!r.has_value()) break;
        more = part.more();
        if (parts.size() < 8) parts.push_back(std::move(part));
      }
    } catch (const zmq::error_t& e) {
      spdlog::debug("zmq recv failed: {}", e.what());
      break;
    }
    if (parts.empty()) break;  // nothing more to receive

    size_t expected = kind_ == Kind::kRouter ? 2 : 1;
    if (parts.size() != expected) {
      ++malformedFrames_;
      continue;
    }
    if (!handler_) continue;
    std::string_view peer = kind_ == Kind::kRouter ? parts[0].to_string_view() : std::string_view();
    std::string_view payload = parts.back().to_string_view();
    std::string_view principal;
    if (curveServer_) {
      // Set by the ZapHandler that admitted the peer.
      if (const char* userId = zmq_msg_gets(parts.back().handle(), "User-Id")) principal = userId;
    }
    auto handler = handler_;  // outlives a handler that destroys the socket
    try {
      handler(peer, payload, principal);
    } catch (const std::exception& e) {
      spdlog::error("message handler failed: {}", e.what());
    } catch (...) {
      spdlog::error("message handler failed");
    }
    if (!*alive) return;
  }
  draining_ = false;
  // If the budget ran out with input pending, continue on the next turn.
  try {
    if (socket_.get(zmq::sockopt::events) & ZMQ_POLLIN) scheduleDrain();
  } catch (const zmq::error_t&) {
  }
}

namespace {

// Seeds from getrandom(2): std::random_device's default source probes the CPU
// (cpuid) first, which in a virtual machine traps to the hypervisor, and the
// executor pays it once per task.
uint64_t randomSeed() {
  uint64_t seed = 0;
  if (::getrandom(&seed, sizeof seed, 0) != static_cast<ssize_t>(sizeof seed)) {
    seed = std::random_device("/dev/urandom")();
  }
  return seed;
}

}  // namespace

std::string randomUuid() {
  thread_local std::mt19937_64 rng(randomSeed());
  uint64_t a = rng(), b = rng();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  char buf[37];
  snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
           static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
           static_cast<unsigned>(b >> 48), static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

}  // namespace clusternodes
