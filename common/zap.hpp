// ZapHandler: answers libzmq's authentication requests (ZAP, RFC 27) on the
// loop, for the CURVE server sockets of one ZeroMQ context.
//
// A CURVE server socket asks, for every peer that completes the handshake,
// whoever serves inproc://zeromq.zap.01 in its context whether to admit that
// peer's public key. The handler must be bound before the server socket
// takes connections: libzmq admits every key when nobody serves ZAP, so the
// sockets also set ZMQ_ZAP_ENFORCE_DOMAIN (ZmqSocket::useCurveServer), which
// refuses peers instead when the handler is missing.
//
//   ZapHandler zap(loop, context, [&](const ZapRequest& r) -> ZapVerdict {
//     if (auto* p = credentials.find(r.publicKey)) return ZapVerdict::admit(p->name);
//     return ZapVerdict::refuse("not in the credentials file");
//   });
//   if (auto bound = zap.start(); !bound) ...
//
// The admitted principal is the "User-Id" of every message the peer sends
// (ZmqSocket hands it to its handler). Loop thread only.
#pragma once

#include <zmq.hpp>

#include <functional>
#include <string>

#include "clusternodes/result.hpp"
#include "common/loop.hpp"

namespace clusternodes {

struct ZapRequest {
  std::string mechanism;  // "CURVE" (or "NULL", "PLAIN" for other sockets)
  std::string address;    // the peer's IP address
  std::string publicKey;  // CURVE: the peer's public key, Z85; else empty
};

struct ZapVerdict {
  bool admitted = false;
  std::string principal;  // admitted: the peer's User-Id ("" for anonymous)
  std::string reason;     // refused: why (sent back as the status text)

  static ZapVerdict admit(std::string principal) { return {true, std::move(principal), {}}; }
  static ZapVerdict refuse(std::string reason) { return {false, {}, std::move(reason)}; }
};

class ZapHandler {
 public:
  using Decide = std::function<ZapVerdict(const ZapRequest&)>;

  ZapHandler(Loop& loop, zmq::context_t& context, Decide decide);
  ~ZapHandler();
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  // Binds inproc://zeromq.zap.01 (one handler per context).
  Result<void> start();

  uint64_t admitted() const { return admitted_; }
  uint64_t refused() const { return refused_; }

 private:
  static void onPoll(uv_poll_t* handle, int status, int events);
  void drain();

  Loop& loop_;
  zmq::socket_t socket_;
  Decide decide_;
  uv_poll_t* poll_ = nullptr;  // owned; freed after uv_close
  uint64_t admitted_ = 0;
  uint64_t refused_ = 0;
};

}  // namespace clusternodes
