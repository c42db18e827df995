#include "common/executor_session.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "common/process.hpp"

namespace clusternodes {

ExecutorSession::ExecutorSession(TimeSource& time, std::unique_ptr<Transport> transport,
                                 ExecutorSessionOptions options, ExecutorSessionEvents events)
    : time_(time),
      transport_(std::move(transport)),
      options_(std::move(options)),
      events_(std::move(events)),
      registrationTimer_(time),
      retryTimer_(time),
      watchTimer_(time) {
  if (!options_.startTimeOf) options_.startTimeOf = [](pid_t pid) { return processStartTime(pid); };
  if (options_.selfPid == 0) options_.selfPid = ::getpid();
}

ExecutorSession::~ExecutorSession() = default;

Result<void> ExecutorSession::start() {
  transport_->onMessage([this](std::string_view, std::string_view bytes, std::string_view) { onBytes(bytes); });
  // An agent restarting drops the connection: look at once rather than at
  // the next tick of the watch.
  transport_->onConnectionChange([this](bool) { checkAgent(); });
  if (auto connected = transport_->connect(options_.agentEndpoint); !connected) return connected.error();
  if (options_.agentPid > 0) watch(options_.agentPid);
  sendRegistration();
  watchTimer_.start(options_.retryInterval, [this] { checkAgent(); }, options_.retryInterval);
  return {};
}

void ExecutorSession::watch(pid_t pid) {
  agentPid_ = pid;
  agentStart_ = options_.startTimeOf(pid);
}

void ExecutorSession::sendRegistration() {
  if (stopped_) return;
  capnp::MallocMessageBuilder message;
  auto reg = message.initRoot<wire::Envelope>().initRegisterExecutor();
  reg.setFrameworkId(options_.frameworkId.value);
  reg.setExecutorId(options_.executorId.value);
  reg.setPid(options_.selfPid);
  transport_->send(wire::encode(message));
  registrationTimer_.start(options_.retryInterval, [this] {
    if (!registered_ || agentGone()) sendRegistration();
  });
}

bool ExecutorSession::registered(pid_t agentPid) {
  if (agentPid > 0 && agentPid != agentPid_) watch(agentPid);
  bool wasGone = agentGone();
  if (wasGone) log().info("the agent is back (pid {}); re-sending {} status update(s)", agentPid_, unacked_.size());
  agentGoneSince_.reset();
  registered_ = true;
  registrationTimer_.stop();
  sendPending();
  return wasGone;
}

spdlog::logger& ExecutorSession::log() const {
  return options_.log ? *options_.log : *spdlog::default_logger_raw();
}

void ExecutorSession::sendUpdate(TaskStatus status) {
  status.source = TaskSource::kExecutor;
  status.timestamp = time_.wallSeconds();
  status.uuid = randomUuid();
  unacked_.push_back(std::move(status));
  // Only the new update goes now: the ones before it are already on their
  // way, and the retry timer sends the whole queue again if acks are late.
  if (canSend()) send(unacked_.back());
  armRetry();
}

void ExecutorSession::sendUnreliable(std::string_view payload) {
  if (!stopped_) transport_->send(payload);
}

bool ExecutorSession::canSend() const { return !stopped_ && registered_ && !agentGone(); }

void ExecutorSession::send(const TaskStatus& status) {
  capnp::MallocMessageBuilder message;
  wire::toWire(status, options_.frameworkId, message.initRoot<wire::Envelope>().initExecutorStatus().initStatus());
  transport_->send(wire::encode(message));
}

void ExecutorSession::sendPending() {
  // Nothing goes while unregistered or the agent is gone: the whole queue is
  // sent once it is back (registered()).
  if (canSend()) {
    for (const auto& status : unacked_) send(status);
  }
  armRetry();
}

void ExecutorSession::armRetry() {
  if (stopped_) return;
  if (unacked_.empty()) {
    retryTimer_.stop();
  } else if (!retryTimer_.active()) {
    retryTimer_.start(options_.retryInterval, [this] { sendPending(); });
  }
}

void ExecutorSession::onBytes(std::string_view bytes) {
  auto decoded = wire::decode(bytes);
  if (!decoded) {
    ++dropped_;
    log().warn("dropped a malformed message from the agent: {}", decoded.error().message);
    return;
  }
  auto envelope = (*decoded)->envelope();
  wire::dispatchSafely(
      [&] {
        if (envelope.which() == wire::Envelope::EXECUTOR_ACK) return onAck(envelope.getExecutorAck().getUuid().cStr());
        if (events_.onMessage) events_.onMessage(envelope);
      },
      [&](const std::string& reason) {
        ++dropped_;
        log().warn("dropped a message from the agent: {}", reason);
      });
}

void ExecutorSession::onAck(const std::string& uuid) {
  for (auto it = unacked_.begin(); it != unacked_.end(); ++it) {
    if (it->uuid == uuid) {
      unacked_.erase(it);
      if (unacked_.empty()) {
        retryTimer_.stop();
        if (events_.onAllAcknowledged) events_.onAllAcknowledged();
      }
      return;
    }
  }
}

void ExecutorSession::checkAgent() {
  if (stopped_ || agentPid_ <= 0) return;
  if (agentStart_ && options_.startTimeOf(agentPid_) == agentStart_) return;
  double now = time_.now();
  if (!agentGoneSince_) {
    agentGoneSince_ = now;
    log().warn("the agent (pid {}) is gone; waiting {} ms for it to come back", agentPid_,
                 std::chrono::duration_cast<std::chrono::milliseconds>(options_.recoveryTimeout).count());
    if (events_.onAgentGone) events_.onAgentGone();
    // A restarted agent listens where this one did: registering again tells
    // it about this executor.
    if (!stopped_) sendRegistration();
  }
  if (now - *agentGoneSince_ >= std::chrono::duration<double>(options_.recoveryTimeout).count()) {
    stop();
    if (events_.onRecoveryTimeout) events_.onRecoveryTimeout();
  }
}

void ExecutorSession::stop() {
  stopped_ = true;
  registrationTimer_.stop();
  retryTimer_.stop();
  watchTimer_.stop();
}

}  // namespace clusternodes
