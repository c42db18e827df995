// ZmqSocket: a ZeroMQ ROUTER or DEALER socket driven by the libuv loop.
//
// The socket's ZMQ_FD is watched with uv_poll. That descriptor is
// edge-triggered: after every receive and every send the socket is drained
// until ZMQ_EVENTS no longer reports input, or a wake-up could be lost.
// Sends never block: when a peer's queue is full the message is dropped and
// counted (the protocol above retries what matters).
//
//   ZmqSocket router(loop, context, ZmqSocket::Kind::kRouter);
//   router.onMessage([&](std::string_view peer, std::string_view bytes, std::string_view principal) { ... });
//   auto endpoint = router.bind("tcp://127.0.0.1:5050");
//
// A ROUTER's handler gets the sender's identity as `peer`; a DEALER's gets an
// empty peer. A ROUTER drops (and counts) frames that are not exactly
// [identity, payload].
//
// Links between hosts are encrypted and authenticated with CURVE: a server
// (useCurveServer) admits peers through the ZapHandler of its context, and
// hands each message's admitted principal to its handler; a client
// (useCurveClient) knows the server's public key, so it talks to no one
// else. Loop thread only.
#pragma once

#include <zmq.hpp>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "clusternodes/result.hpp"
#include "common/curve.hpp"
#include "common/loop.hpp"

namespace clusternodes {

// What a daemon's logic needs of a message socket, so that unit tests can
// put an in-memory one in its place (and deliver messages by hand). The
// production implementation is ZmqSocket.
class Transport {
 public:
  // `principal`: who the sender authenticated as (a CURVE server's peers);
  // empty on other links and for anonymous peers.
  using Handler = std::function<void(std::string_view peer, std::string_view payload, std::string_view principal)>;
  virtual ~Transport() = default;

  virtual void onMessage(Handler handler) = 0;
  // ROUTER: binds and returns the bound endpoint, resolving a "*" port.
  virtual Result<std::string> bind(const std::string& endpoint) = 0;
  // DEALER: connects; reconnects by itself when the peer restarts.
  virtual Result<void> connect(const std::string& endpoint) = 0;
  virtual Result<void> disconnect(const std::string& endpoint) = 0;
  // DEALER send. Returns false when the message was dropped.
  virtual bool send(std::string_view payload) = 0;
  // ROUTER send to `peer`. Returns false when the message was dropped.
  virtual bool sendTo(std::string_view peer, std::string_view payload) = 0;
  // DEALER: told true when the connection is made again after it was lost,
  // false when it is lost.
  virtual void onConnectionChange(std::function<void(bool connected)> handler) = 0;
  // Handles the messages already queued now, before what the caller does next.
  virtual void receivePending() = 0;
  virtual uint64_t sentCount() const = 0;
  virtual uint64_t droppedSends() const = 0;
  // Frames refused as malformed (a ROUTER's frames that are not exactly
  // [identity, payload]).
  virtual uint64_t malformedFrames() const = 0;
};

class ZmqSocket final : public Transport {
 public:
  enum class Kind { kRouter, kDealer };

  // `identity` names a DEALER to the ROUTER it connects to (empty: random).
  ZmqSocket(Loop& loop, zmq::context_t& context, Kind kind, const std::string& identity = "");
  ~ZmqSocket() override;
  ZmqSocket(const ZmqSocket&) = delete;
  ZmqSocket& operator=(const ZmqSocket&) = delete;

  void onMessage(Handler handler) override;

  // Binds (ROUTER) and returns the bound endpoint, resolving a "*" port.
  Result<std::string> bind(const std::string& endpoint) override;
  // Connects (DEALER); ZeroMQ reconnects by itself when the peer restarts.
  Result<void> connect(const std::string& endpoint) override;
  Result<void> disconnect(const std::string& endpoint) override;

  // DEALER send. Returns false when the message was dropped.
  bool send(std::string_view payload) override;
  // ROUTER send to `peer`. Returns false when the message was dropped.
  bool sendTo(std::string_view peer, std::string_view payload) override;

  // DEALER: calls `handler(true)` each time the connection to the peer is
  // made again after it was lost (the peer restarted, or the network came
  // back) and `handler(false)` when it is lost. The protocol above uses it to
  // register again at once rather than after a timeout.
  void onConnectionChange(std::function<void(bool connected)> handler) override;

  // Handles the messages already queued on the socket now, before whatever
  // the caller does next (the loop would otherwise get to them later).
  void receivePending() override { drain(); }

  // How long closing the socket may wait to deliver queued messages (default 0).
  void setLinger(std::chrono::milliseconds linger);

  // CURVE server with key pair `own` (before bind): every peer must speak
  // CURVE and be admitted by the context's ZapHandler, which must serve
  // before peers connect (without one, peers are refused).
  Result<void> useCurveServer(const CurveKey& own);
  // CURVE client with key pair `own` (before connect), talking only to the
  // server whose public key is `serverPublicKey`.
  Result<void> useCurveClient(const CurveKey& own, const std::string& serverPublicKey);

  // Why a handshake with a peer failed.
  enum class HandshakeFailure {
    kRefused,    // the server's authenticator refused our key (value: its status, e.g. 400)
    kMechanism,  // one side speaks CURVE and the other not
    kCrypto,     // a CURVE handshake that does not decrypt: a wrong server key
    kOther,      // any other failure (value: libzmq's error or errno)
  };
  static const char* describe(HandshakeFailure failure);
  // Called for each failed handshake (a client fails its server's; a server,
  // its peers'). libzmq gives up on a connection refused (kRefused) or
  // spoken to in another mechanism (kMechanism); a DEALER then connects
  // again itself after kHandshakeRetry, so that a client whose key is
  // added later, or a server that starts using CURVE, is reached in the end.
  void onHandshakeFailure(std::function<void(HandshakeFailure failure, int value)> handler);
  static constexpr std::chrono::seconds kHandshakeRetry{5};

  uint64_t sentCount() const override { return sent_; }
  uint64_t droppedSends() const override { return droppedSends_; }
  uint64_t malformedFrames() const override { return malformedFrames_; }

 private:
  static void onPoll(uv_poll_t* handle, int status, int events);
  static void onIdle(uv_idle_t* handle);
  static void onMonitorPoll(uv_poll_t* handle, int status, int events);
  static void onRetry(uv_timer_t* handle);
  void retryAfterFailedHandshake();
  void watchEvents();
  void drainMonitor();
  void drain();
  void scheduleDrain();

  Loop& loop_;
  zmq::context_t& context_;
  Kind kind_;
  zmq::socket_t socket_;
  uv_poll_t* poll_ = nullptr;  // owned; freed after uv_close
  uv_idle_t* idle_ = nullptr;  // owned; freed after uv_close
  Handler handler_;
  std::function<void(bool)> connectionHandler_;
  std::function<void(HandshakeFailure, int)> handshakeHandler_;
  bool curveServer_ = false;  // messages carry their sender's principal
  std::unique_ptr<zmq::socket_t> monitor_;  // PAIR reading the socket's events
  uv_poll_t* monitorPoll_ = nullptr;       // owned; freed after uv_close
  uv_timer_t* retry_ = nullptr;            // owned; freed after uv_close
  std::set<std::string> endpoints_;        // a DEALER's connections
  bool lostConnection_ = false;
  bool draining_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // false once destroyed
  bool drainScheduled_ = false;
  uint64_t sent_ = 0;
  uint64_t droppedSends_ = 0;
  uint64_t malformedFrames_ = 0;
};

// Makes a random identifier such as a UUID v4 string.
std::string randomUuid();

}  // namespace clusternodes
