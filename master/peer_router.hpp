// The master's way out to its peers: ZeroMQ identities go to the socket,
// the HTTP scheduler API's subscriptions (isHttpPeer) to their streams. The
// books send through it without knowing which front door a peer came in by.
#pragma once

#include <functional>
#include <string_view>

#include "common/transport.hpp"
#include "master/http/scheduler_api.hpp"

namespace clusternodes::master {

class PeerRouter final : public Transport {
 public:
  explicit PeerRouter(Transport& socket) : socket_(socket) {}

  // Where messages to HTTP peers go (none: they are dropped and counted).
  void setHttpPeers(std::function<bool(std::string_view peer, std::string_view payload)> send) {
    httpPeers_ = std::move(send);
  }

  bool sendTo(std::string_view peer, std::string_view payload) override {
    if (!isHttpPeer(peer)) return socket_.sendTo(peer, payload);
    if (httpPeers_ && httpPeers_(peer, payload)) return true;
    ++httpDropped_;
    return false;
  }
  uint64_t droppedSends() const override { return socket_.droppedSends() + httpDropped_; }

  // The rest is the socket's.
  void onMessage(Handler handler) override { socket_.onMessage(std::move(handler)); }
  Result<std::string> bind(const std::string& endpoint) override { return socket_.bind(endpoint); }
  Result<void> connect(const std::string& endpoint) override { return socket_.connect(endpoint); }
  Result<void> disconnect(const std::string& endpoint) override { return socket_.disconnect(endpoint); }
  bool send(std::string_view payload) override { return socket_.send(payload); }
  void onConnectionChange(std::function<void(bool connected)> handler) override {
    socket_.onConnectionChange(std::move(handler));
  }
  void receivePending() override { socket_.receivePending(); }
  uint64_t sentCount() const override { return socket_.sentCount(); }
  uint64_t malformedFrames() const override { return socket_.malformedFrames(); }

 private:
  Transport& socket_;
  std::function<bool(std::string_view, std::string_view)> httpPeers_;
  uint64_t httpDropped_ = 0;
};

}  // namespace clusternodes::master
