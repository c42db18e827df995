// FakeTransport: an in-memory Transport for unit tests of a daemon's logic.
//
// It records what the daemon sends, per peer, and lets the test deliver a
// message as if a named peer had sent it. The daemon owns the transport (a
// std::unique_ptr<Transport>); the test keeps a FakeTransport::Wire, which
// outlives either side, to look at and talk through it:
//
//   auto transport = std::make_unique<FakeTransport>();
//   auto wire = transport->wire();
//   Master master(MasterEnvironment{time, std::move(transport)}, flags);
//   master.start();
//   wire->deliver("agent-1", bytes);                  // the handler runs, here
//   auto sent = wire->take("agent-1");                // what the master answered
//   CHECK(sent.at(0)->which() == wire::Envelope::AGENT_REGISTERED);
//
// Single-threaded: deliver() calls the handler at once.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/transport.hpp"
#include "common/wire.hpp"

namespace clusternodes::testing {

class FakeTransport final : public Transport {
 public:
  // The test's side, shared with the transport.
  class Wire {
   public:
    // Delivers `payload` as a message from `peer`. Requires a bound
    // transport with a handler (the daemon started); a message to a
    // transport that is gone (the daemon stopped) is lost, as on a network.
    void deliver(const std::string& peer, std::string_view payload) {
      if (!handler_) return;
      handler_(peer, payload);
    }
    void deliver(const std::string& peer, capnp::MallocMessageBuilder& message) {
      deliver(peer, wire::encode(message));
    }

    // The raw messages sent to `peer` since the last take(), oldest first.
    std::vector<std::string> takeBytes(const std::string& peer) {
      auto it = sent_.find(peer);
      if (it == sent_.end()) return {};
      auto out = std::move(it->second);
      sent_.erase(it);
      return out;
    }
    // The same, decoded. Throws if the daemon sent something undecodable.
    std::vector<std::unique_ptr<wire::Decoded>> take(const std::string& peer) {
      std::vector<std::unique_ptr<wire::Decoded>> out;
      for (const auto& bytes : takeBytes(peer)) {
        auto decoded = wire::decode(bytes);
        if (!decoded) throw std::runtime_error("the daemon sent an undecodable message: " + decoded.error().message);
        out.push_back(std::move(*decoded));
      }
      return out;
    }
    // Forgets what was sent to every peer.
    void clear() { sent_.clear(); }

    const std::string& boundTo() const { return bound_; }
    bool connected() const { return static_cast<bool>(handler_); }

   private:
    friend class FakeTransport;
    Transport::Handler handler_;
    std::map<std::string, std::vector<std::string>> sent_;
    std::string bound_;
  };

  FakeTransport() : wire_(std::make_shared<Wire>()) {}
  ~FakeTransport() override { wire_->handler_ = nullptr; }

  std::shared_ptr<Wire> wire() const { return wire_; }

  void onMessage(Handler handler) override { wire_->handler_ = std::move(handler); }
  Result<std::string> bind(const std::string& endpoint) override {
    wire_->bound_ = endpoint;
    return endpoint;
  }
  Result<void> connect(const std::string& endpoint) override { return {}; }
  Result<void> disconnect(const std::string& endpoint) override { return {}; }
  bool send(std::string_view payload) override { return sendTo("", payload); }
  bool sendTo(std::string_view peer, std::string_view payload) override {
    wire_->sent_[std::string(peer)].emplace_back(payload);
    ++sent_;
    return true;
  }
  void onConnectionChange(std::function<void(bool connected)> handler) override {}
  void receivePending() override {}
  uint64_t sentCount() const override { return sent_; }
  uint64_t droppedSends() const override { return 0; }
  uint64_t malformedFrames() const override { return 0; }

 private:
  std::shared_ptr<Wire> wire_;
  uint64_t sent_ = 0;
};

}  // namespace clusternodes::testing
