// MemoryTransport: a Transport that keeps what it is asked to send and
// delivers what the test hands it, for unit tests of protocol logic on
// simulated time (no sockets, no loop).
//
//   auto transport = std::make_unique<MemoryTransport>();
//   MemoryTransport* wire = transport.get();      // the test keeps a view
//   Session session(time, std::move(transport), ...);
//   wire->deliver(bytes);                         // as if from the peer
//   wire->sent();                                 // what went out, in order
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/transport.hpp"
#include "common/wire.hpp"

namespace clusternodes::testing {

class MemoryTransport final : public Transport {
 public:
  struct Sent {
    std::string peer;  // empty for a DEALER's send()
    std::string bytes;
  };

  void onMessage(Handler handler) override { handler_ = std::move(handler); }
  Result<std::string> bind(const std::string& endpoint) override {
    endpoints_.push_back(endpoint);
    return endpoint;
  }
  Result<void> connect(const std::string& endpoint) override {
    endpoints_.push_back(endpoint);
    return {};
  }
  Result<void> disconnect(const std::string&) override { return {}; }
  bool send(std::string_view payload) override { return sendTo("", payload); }
  bool sendTo(std::string_view peer, std::string_view payload) override {
    sent_.push_back({std::string(peer), std::string(payload)});
    return true;
  }
  void onConnectionChange(std::function<void(bool)> handler) override { connectionHandler_ = std::move(handler); }
  void receivePending() override {}
  uint64_t sentCount() const override { return sent_.size(); }
  uint64_t droppedSends() const override { return 0; }
  uint64_t malformedFrames() const override { return 0; }

  // Hands `bytes` to the owner as if `peer` had sent them.
  void deliver(std::string_view bytes, std::string_view peer = "") {
    if (handler_) handler_(peer, bytes);
  }
  // Tells the owner its connection was lost (false) or made again (true).
  void connectionChanged(bool connected) {
    if (connectionHandler_) connectionHandler_(connected);
  }

  const std::vector<Sent>& sent() const { return sent_; }
  // What was sent whose envelope is of kind `which`, decoded.
  std::vector<std::unique_ptr<wire::Decoded>> sentOfKind(wire::Envelope::Which which) const {
    std::vector<std::unique_ptr<wire::Decoded>> out;
    for (const auto& s : sent_) {
      auto decoded = wire::decode(s.bytes);
      if (decoded && (*decoded)->envelope().which() == which) out.push_back(std::move(*decoded));
    }
    return out;
  }
  void clear() { sent_.clear(); }
  const std::vector<std::string>& endpoints() const { return endpoints_; }

 private:
  Handler handler_;
  std::function<void(bool)> connectionHandler_;
  std::vector<Sent> sent_;
  std::vector<std::string> endpoints_;
};

}  // namespace clusternodes::testing
