// ZmtpDealer: one ZeroMQ DEALER peer spoken directly over a libuv TCP
// connection, for load generators that simulate thousands of agents.
//
// A libzmq DEALER socket a simulated agent costs a socket object with its
// own mailbox (an eventfd), a pair of pipes and their buffers, a poll handle
// on the loop, and the hand-over of every message between the application
// thread and libzmq's I/O thread: about 20-70 KB and 190 µs of CPU an agent
// through one registration, on the same two cores as the master being
// measured. This speaks the same bytes on the wire (ZMTP 3.0, RFC 23, with
// the NULL mechanism: the greeting, a READY command carrying Socket-Type
// DEALER and the Identity, then single-frame messages) with one TCP handle,
// one read buffer and no thread. The master cannot tell it from libzmq.
//
// Like a libzmq DEALER (as ZmqSocket sets it) it reconnects by itself when
// the connection ends or cannot be made, after 100 ms doubling up to 2 s, and messages sent while it is not connected wait for the
// next connection. Not for production peers: no CURVE, no heartbeats, no
// multi-frame messages out (frames in are joined and the last is handed on,
// as the agents' one-frame protocol needs).
//
//   ZmtpDealer dealer(loop, "sim-7-a", [](std::string_view message) { ... });
//   dealer.connect("tcp://127.0.0.1:5050");
//   dealer.send(bytes);
//
// Threads: everything on the loop's thread. The message handler may send,
// and must not destroy the dealer.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>

#include "clusternodes/result.hpp"
#include "common/loop.hpp"

namespace clusternodes::bench {

class ZmtpDealer {
 public:
  using Handler = std::function<void(std::string_view message)>;

  ZmtpDealer(Loop& loop, std::string identity, Handler onMessage);
  ~ZmtpDealer();
  ZmtpDealer(const ZmtpDealer&) = delete;
  ZmtpDealer& operator=(const ZmtpDealer&) = delete;

  // "tcp://IPv4:PORT". Connects in the background; kInvalid for another form.
  Result<void> connect(const std::string& endpoint);
  // Called each time a connection's handshake is done (the peer's READY
  // read): at the first connection and after each reconnection.
  void onConnected(std::function<void()> handler) { onConnected_ = std::move(handler); }
  // Sends one message as one frame, or keeps it for when the handshake of
  // the next connection is done.
  void send(std::string_view message);

  // Messages and commands that broke the protocol (the connection is then
  // closed and made again).
  uint64_t protocolErrors() const { return protocolErrors_; }

 private:
  struct Connection;  // one TCP connection, from connect to close
  void open();
  void onConnected(int status);
  void onRead(std::string_view bytes);
  void lost();
  void write(std::string bytes);
  bool parse();  // false: the peer broke the protocol

  Loop& loop_;
  std::string identity_;
  Handler onMessage_;
  std::function<void()> onConnected_;
  sockaddr_in address_{};
  bool addressSet_ = false;
  Connection* connection_ = nullptr;  // owned by the libuv handle while it closes
  uv_timer_t* reconnect_ = nullptr;
  uint64_t reconnectMs_ = 0;  // the next wait before connecting again
  bool greeted_ = false;  // the peer's greeting was read
  bool ready_ = false;    // the peer's READY was read: messages go out
  std::string in_;        // bytes read and not parsed yet
  std::deque<std::string> waiting_;  // messages sent before ready_
  uint64_t protocolErrors_ = 0;
  uint64_t connections_ = 0;  // connections lost so far
};

}  // namespace clusternodes::bench
