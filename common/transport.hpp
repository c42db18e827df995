// ZmqSocket: a ZeroMQ ROUTER or DEALER socket driven by the libuv loop.
//
// The socket's ZMQ_FD is watched with uv_poll. That descriptor is
// edge-triggered: after every receive and every send the socket is drained
// until ZMQ_EVENTS no longer reports input, or a wake-up could be lost.
// Sends never block: when a peer's queue is full the message is dropped and
// counted (the protocol above retries what matters).
//
//   ZmqSocket router(loop, context, ZmqSocket::Kind::kRouter);
//   router.onMessage([&](std::string_view peer, std::string_view bytes) { ... });
//   auto endpoint = router.bind("tcp://127.0.0.1:5050");
//
// A ROUTER's handler gets the sender's identity as `peer`; a DEALER's gets an
// empty peer. A ROUTER drops (and counts) frames that are not exactly
// [identity, payload]. Loop thread only.
#pragma once

#include <zmq.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "clusternodes/result.hpp"
#include "common/loop.hpp"

namespace clusternodes {

class ZmqSocket {
 public:
  enum class Kind { kRouter, kDealer };
  using Handler = std::function<void(std::string_view peer, std::string_view payload)>;

  // `identity` names a DEALER to the ROUTER it connects to (empty: random).
  ZmqSocket(Loop& loop, zmq::context_t& context, Kind kind, const std::string& identity = "");
  ~ZmqSocket();
  ZmqSocket(const ZmqSocket&) = delete;
  ZmqSocket& operator=(const ZmqSocket&) = delete;

  void onMessage(Handler handler);

  // Binds (ROUTER) and returns the bound endpoint, resolving a "*" port.
  Result<std::string> bind(const std::string& endpoint);
  // Connects (DEALER); ZeroMQ reconnects by itself when the peer restarts.
  Result<void> connect(const std::string& endpoint);
  Result<void> disconnect(const std::string& endpoint);

  // DEALER send. Returns false when the message was dropped.
  bool send(std::string_view payload);
  // ROUTER send to `peer`. Returns false when the message was dropped.
  bool sendTo(std::string_view peer, std::string_view payload);

  // DEALER: calls `handler(true)` each time the connection to the peer is
  // made again after it was lost (the peer restarted, or the network came
  // back) and `handler(false)` when it is lost. The protocol above uses it to
  // register again at once rather than after a timeout.
  void onConnectionChange(std::function<void(bool connected)> handler);

  // Handles the messages already queued on the socket now, before whatever
  // the caller does next (the loop would otherwise get to them later).
  void receivePending() { drain(); }

  // How long closing the socket may wait to deliver queued messages (default 0).
  void setLinger(std::chrono::milliseconds linger);

  uint64_t sentCount() const { return sent_; }
  uint64_t droppedSends() const { return droppedSends_; }
  uint64_t malformedFrames() const { return malformedFrames_; }

 private:
  static void onPoll(uv_poll_t* handle, int status, int events);
  static void onIdle(uv_idle_t* handle);
  static void onMonitorPoll(uv_poll_t* handle, int status, int events);
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
  std::unique_ptr<zmq::socket_t> monitor_;  // PAIR reading the socket's events
  uv_poll_t* monitorPoll_ = nullptr;       // owned; freed after uv_close
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
