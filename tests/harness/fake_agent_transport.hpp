// FakeAgentTransport: an in-memory Transport for an Agent under test. It
// records what the agent sends, and lets the test deliver messages to it and
// say when the connection is lost or made again, all on the test's thread.
//
//   auto master = std::make_unique<FakeAgentTransport>();
//   FakeAgentTransport* toMaster = master.get();   // the agent owns it
//   environment.master = std::move(master);
//   ...
//   toMaster->deliver(bytes);                      // as if the master sent it
//   auto sent = toMaster->take();                  // what the agent sent since
//
// Self-contained on purpose (the master's tests have their own fake).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/transport.hpp"

namespace clusternodes::testing {

class FakeAgentTransport final : public Transport {
 public:
  struct Sent {
    std::string peer;     // empty for a DEALER's send
    std::string payload;
  };

  // ---- what the test does
  // Hands `payload` to the agent as if `peer` sent it.
  void deliver(std::string_view payload, std::string_view peer = {}) {
    if (handler_) handler_(peer, payload);
  }
  // Tells the agent the connection was lost (false) or made again (true).
  void connectionChanged(bool connected) {
    if (connectionHandler_) connectionHandler_(connected);
  }
  // What the agent sent, oldest first, since the last take().
  std::vector<Sent> take() { return std::exchange(sent_, {}); }
  const std::vector<Sent>& sent() const { return sent_; }
  const std::string& endpoint() const { return endpoint_; }

  // ---- Transport
  void onMessage(Handler handler) override { handler_ = std::move(handler); }
  Result<std::string> bind(const std::string& endpoint) override {
    endpoint_ = endpoint;
    return endpoint;
  }
  Result<void> connect(const std::string& endpoint) override {
    endpoint_ = endpoint;
    return {};
  }
  Result<void> disconnect(const std::string&) override { return {}; }
  bool send(std::string_view payload) override {
    sent_.push_back({{}, std::string(payload)});
    return true;
  }
  bool sendTo(std::string_view peer, std::string_view payload) override {
    sent_.push_back({std::string(peer), std::string(payload)});
    return true;
  }
  void onConnectionChange(std::function<void(bool)> handler) override { connectionHandler_ = std::move(handler); }
  void receivePending() override {}
  uint64_t sentCount() const override { return sent_.size(); }
  uint64_t droppedSends() const override { return 0; }
  uint64_t malformedFrames() const override { return 0; }

 private:
  Handler handler_;
  std::function<void(bool)> connectionHandler_;
  std::vector<Sent> sent_;
  std::string endpoint_;
};

}  // namespace clusternodes::testing
