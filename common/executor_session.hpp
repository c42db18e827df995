// ExecutorSession: an executor's side of the executor protocol with its
// agent, the one implementation the built-in executors (agent/executor/) and
// the SDK's ExecutorDriver (framework-sdk/src/executor_driver.cpp) share.
//
// It owns what every executor must do the same way:
//   - registration: RegisterExecutor is sent, and re-sent every retry
//     interval, until the owner says the agent accepted it (registered());
//   - the acknowledged-update queue: each status update is sent and re-sent
//     every retry interval until the agent's ExecutorAck for its uuid
//     arrives, in the order they were made; nothing is sent while the agent
//     is gone, and everything unacknowledged goes again once it is back;
//   - the agent watch: the agent's process is watched by pid and start time
//     (a reused pid is not the agent). When it is gone the executor registers
//     again and again (an agent restarted in its place takes it back), and
//     after the recovery timeout the owner is told to give up.
// What the agent's messages mean (a task to run, a kill, a shutdown) is the
// owner's: every message but ExecutorAck is handed to it.
//
//   ExecutorSession session(loop.time(), std::make_unique<ZmqSocket>(...), options, events);
//   session.start();
//   ... on ExecutorRegistered: session.registered(agentPid);
//   session.sendUpdate(status);
//
// Loop thread only. Times come from the TimeSource, so tests run it on
// simulated time.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "clusternodes/result.hpp"
#include "clusternodes/values.hpp"
#include "common/clock.hpp"
#include "common/transport.hpp"
#include "common/wire.hpp"

namespace spdlog {
class logger;
}

namespace clusternodes {

struct ExecutorSessionOptions {
  // The agent's executor endpoint, tcp://host:port.
  std::string agentEndpoint;
  FrameworkID frameworkId;
  // Who registers: a framework's executor its ExecutorID; a built-in
  // executor its task's id, which the agent made its executor id.
  ExecutorID executorId;
  // The agent's process, watched from start(); 0: not watched until the
  // agent names itself in registered().
  pid_t agentPid = 0;
  // Give up when the agent has been gone this long.
  Duration recoveryTimeout = std::chrono::minutes(15);
  // How often registrations, unacknowledged updates and the agent watch are
  // retried or checked.
  Duration retryInterval = std::chrono::milliseconds(500);
  // This process's pid, sent in the registration.
  pid_t selfPid = 0;
  // A process's start time, or nullopt when it does not exist: the watch's
  // probe (processStartTime in production; tests replace it).
  std::function<std::optional<uint64_t>(pid_t)> startTimeOf;
  // Where its lines go; null: the process's default logger.
  std::shared_ptr<spdlog::logger> log;
};

struct ExecutorSessionEvents {
  // Every message from the agent but ExecutorAck, decoded and well-formed.
  // May throw wire::MalformedMessage: the message is then dropped and counted.
  std::function<void(const wire::Envelope::Reader& message)> onMessage;
  // The agent's process is gone (it may come back within the timeout).
  std::function<void()> onAgentGone;
  // The agent was gone for the recovery timeout: give up.
  std::function<void()> onRecoveryTimeout;
  // The last unacknowledged update was acknowledged.
  std::function<void()> onAllAcknowledged;
};

class ExecutorSession {
 public:
  ExecutorSession(TimeSource& time, std::unique_ptr<Transport> transport, ExecutorSessionOptions options,
                  ExecutorSessionEvents events);
  ~ExecutorSession();
  ExecutorSession(const ExecutorSession&) = delete;
  ExecutorSession& operator=(const ExecutorSession&) = delete;

  // Connects, registers and starts watching the agent.
  Result<void> start();

  // The agent accepted the registration (its ExecutorRegistered arrived); `agentPid` > 0 names the agent's process,
  // which is watched from now on. An agent that was gone is back: the
  // unacknowledged updates are sent again. Returns whether the agent was
  // gone until now.
  bool registered(pid_t agentPid);

  // Queues `status` (uuid and timestamp set here) and sends it.
  void sendUpdate(TaskStatus status);
  // Sends a message that needs no acknowledgement (a framework message).
  void sendUnreliable(std::string_view payload);

  // Stops every retry and the watch; nothing more is sent. The updates not
  // yet acknowledged stay counted.
  void stop();

  bool isRegistered() const { return registered_; }
  bool agentGone() const { return agentGoneSince_.has_value(); }
  size_t unacknowledged() const { return unacked_.size(); }
  uint64_t droppedMessages() const { return dropped_; }
  // Delivers the messages already queued on the socket now.
  void receivePending() { transport_->receivePending(); }

 private:
  spdlog::logger& log() const;
  void onBytes(std::string_view bytes);
  void onAck(const std::string& uuid);
  void sendRegistration();
  // Sends the whole unacknowledged queue, in order, and arms the retry.
  void sendPending();
  void send(const TaskStatus& status);
  bool canSend() const;
  // Re-sends the queue every retry interval while it is not empty.
  void armRetry();
  void checkAgent();
  void watch(pid_t pid);

  TimeSource& time_;
  std::unique_ptr<Transport> transport_;
  ExecutorSessionOptions options_;
  ExecutorSessionEvents events_;
  Timer registrationTimer_;
  Timer retryTimer_;
  Timer watchTimer_;
  bool registered_ = false;
  bool stopped_ = false;
  pid_t agentPid_ = 0;
  std::optional<uint64_t> agentStart_;
  std::optional<double> agentGoneSince_;
  std::deque<TaskStatus> unacked_;
  uint64_t dropped_ = 0;
};

}  // namespace clusternodes
