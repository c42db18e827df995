// FakeTransport: an in-memory Transport for unit tests of protocol logic
// (a whole Master or Agent, an ExecutorSession) on simulated time.
//
// It keeps what its owner sends, in order and with the peer it went to, and
// lets the test deliver a message as if a named peer had sent it (or, for a
// DEALER, the one peer: ""), or say the connection was lost or made again.
// The owner holds the transport (a std::unique_ptr<Transport>); the test
// keeps its Wire, which outlives either side, to look at and talk through:
//
//   auto transport = std::make_unique<FakeTransport>();
//   auto wire = transport->wire();
//   Master master(MasterEnvironment{time, std::move(transport)}, flags);
//   master.start();
//   wire->deliver("agent-1", bytes);          // the handler runs, here
//   auto sent = wire->take("agent-1");        // what went to agent-1, decoded
//   CHECK(sent.at(0)->envelope().which() == wire::Envelope::AGENT_REGISTERED);
//
// Single-threaded: deliver() calls the handler at once.
#pragma once

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/transport.hpp"
#include "common/wire.hpp"

namespace clusternodes::testing {

class FakeTransport final : public Transport {
 public:
  struct Sent {
    std::string peer;  // "" for a DEALER's send()
    std::string payload;
  };

  // The test's side, shared with the transport.
  class Wire {
   public:
    // Delivers `payload` as a message from `peer`, who authenticated as
    // `principal` (empty: an unauthenticated link). A message to a
    // transport that is gone (its owner stopped) is lost, as on a network.
    void deliver(const std::string& peer, std::string_view payload, std::string_view principal = {}) {
      if (handler_) handler_(peer, payload, principal);
    }
    void deliver(const std::string& peer, capnp::MallocMessageBuilder& message, std::string_view principal = {}) {
      deliver(peer, wire::encode(message), principal);
    }
    // Tells the owner its connection was lost (false) or made again (true).
    void connectionChanged(bool connected) {
      if (connectionHandler_) connectionHandler_(connected);
    }

    // Everything sent since the last take, oldest first.
    std::vector<Sent> takeAll() { return std::exchange(sent_, {}); }
    // What was sent to `peer` since it was last taken, oldest first; what
    // went to other peers stays.
    std::vector<std::string> takeBytes(const std::string& peer) {
      std::vector<std::string> out;
      std::vector<Sent> rest;
      for (auto& s : sent_) {
        if (s.peer == peer) {
          out.push_back(std::move(s.payload));
        } else {
          rest.push_back(std::move(s));
        }
      }
      sent_ = std::move(rest);
      return out;
    }
    // The same, decoded. Throws if the owner sent something undecodable.
    std::vector<std::unique_ptr<wire::Decoded>> take(const std::string& peer) {
      std::vector<std::unique_ptr<wire::Decoded>> out;
      for (const auto& bytes : takeBytes(peer)) out.push_back(decode(bytes));
      return out;
    }

    // What was sent and not taken, oldest first.
    const std::vector<Sent>& sent() const { return sent_; }
    // Of that, the messages of kind `which`, decoded.
    std::vector<std::unique_ptr<wire::Decoded>> sentOfKind(wire::Envelope::Which which) const {
      return ofKind(sent_, which);
    }
    // The messages of kind `which` among `sent`, decoded.
    static std::vector<std::unique_ptr<wire::Decoded>> ofKind(const std::vector<Sent>& sent,
                                                              wire::Envelope::Which which) {
      std::vector<std::unique_ptr<wire::Decoded>> out;
      for (const auto& s : sent) {
        auto decoded = decode(s.payload);
        if (decoded->envelope().which() == which) out.push_back(std::move(decoded));
      }
      return out;
    }
    void clear() { sent_.clear(); }

    // The endpoint the owner bound or connected to last.
    const std::string& endpoint() const { return endpoint_; }
    bool connected() const { return static_cast<bool>(handler_); }

   private:
    friend class FakeTransport;
    static std::unique_ptr<wire::Decoded> decode(const std::string& bytes) {
      auto decoded = wire::decode(bytes);
      if (!decoded) throw std::runtime_error("an undecodable message was sent: " + decoded.error().message);
      return std::move(*decoded);
    }

    Transport::Handler handler_;
    std::function<void(bool)> connectionHandler_;
    std::vector<Sent> sent_;
    std::string endpoint_;
  };

  FakeTransport() : wire_(std::make_shared<Wire>()) {}
  ~FakeTransport() override {
    wire_->handler_ = nullptr;
    wire_->connectionHandler_ = nullptr;
  }

  std::shared_ptr<Wire> wire() const { return wire_; }

  void onMessage(Handler handler) override { wire_->handler_ = std::move(handler); }
  Result<std::string> bind(const std::string& endpoint) override {
    wire_->endpoint_ = endpoint;
    return endpoint;
  }
  Result<void> connect(const std::string& endpoint) override {
    wire_->endpoint_ = endpoint;
    return {};
  }
  Result<void> disconnect(const std::string&) override { return {}; }
  bool send(std::string_view payload) override { return sendTo("", payload); }
  bool sendTo(std::string_view peer, std::string_view payload) override {
    wire_->sent_.push_back({std::string(peer), std::string(payload)});
    ++count_;
    return true;
  }
  void onConnectionChange(std::function<void(bool)> handler) override {
    wire_->connectionHandler_ = std::move(handler);
  }
  void receivePending() override {}
  uint64_t sentCount() const override { return count_; }
  uint64_t droppedSends() const override { return 0; }
  uint64_t malformedFrames() const override { return 0; }

 private:
  std::shared_ptr<Wire> wire_;
  uint64_t count_ = 0;
};

}  // namespace clusternodes::testing
