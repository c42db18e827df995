#include "agent/executor/task_executor.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "common/process.hpp"

namespace clusternodes::executor {
namespace {

using std::chrono::milliseconds;

constexpr auto kRetryInterval = milliseconds(500);

}  // namespace

TaskExecutor::TaskExecutor(Loop& loop, zmq::context_t& context, ExecutorFlags flags)
    : loop_(loop),
      flags_(std::move(flags)),
      socket_(std::make_unique<ZmqSocket>(loop, context, ZmqSocket::Kind::kDealer)),
      registrationTimer_(loop),
      retryTimer_(loop),
      agentWatchTimer_(loop) {}

TaskExecutor::~TaskExecutor() = default;

Result<void> TaskExecutor::start() {
  watchAgent(getppid());
  socket_->onMessage([this](std::string_view, std::string_view bytes) { onMessage(bytes); });
  // The agent restarting drops the connection: look at once rather than at
  // the next tick of the watch.
  socket_->onConnectionChange([this](bool) { checkAgent(); });
  if (auto connected = socket_->connect(flags_.agent); !connected) return connected.error();
  sendRegistration();
  agentWatchTimer_.start(milliseconds(500), [this] { checkAgent(); }, milliseconds(500));
  return {};
}

void TaskExecutor::sendRegistration() {
  capnp::MallocMessageBuilder message;
  auto reg = message.initRoot<wire::Envelope>().initRegisterExecutor();
  reg.setTaskId(flags_.taskId.value);
  reg.setFrameworkId(flags_.frameworkId.value);
  reg.setPid(getpid());
  socket_->send(wire::encode(message));
  registrationTimer_.start(kRetryInterval, [this] {
    if ((!launched_ || agentGoneSince_) && !shuttingDown_) sendRegistration();
  });
}

void TaskExecutor::onMessage(std::string_view bytes) {
  auto decoded = wire::decode(bytes);
  if (!decoded) {
    spdlog::warn("dropped a malformed message: {}", decoded.error().message);
    return;
  }
  auto envelope = (*decoded)->envelope();
  wire::dispatchSafely(
      [&] {
        switch (envelope.which()) {
          case wire::Envelope::LAUNCH_COMMAND: return received(envelope.getLaunchCommand());
          case wire::Envelope::KILL_COMMAND: return kill(envelope.getKillCommand().getKillGracePeriodMs());
          case wire::Envelope::EXECUTOR_ACK: return onAck(envelope.getExecutorAck().getUuid().cStr());
          case wire::Envelope::SHUTDOWN_EXECUTOR:
            shuttingDown_ = true;
            if (!launched_) return finish(0);
            return kill(defaultGraceMs_);
          default:
            throw wire::MalformedMessage(std::string("unexpected ") + wire::name(envelope.which()));
        }
      },
      [&](const std::string& reason) { spdlog::warn("dropped a message: {}", reason); });
}

void TaskExecutor::watchAgent(pid_t pid) {
  agentPid_ = pid;
  agentStart_ = processStartTime(pid);
}

void TaskExecutor::received(wire::LaunchCommand::Reader message) {
  if (message.getAgentPid() > 0 && message.getAgentPid() != agentPid_) watchAgent(message.getAgentPid());
  if (launched_) {
    // A reply to a retried registration, or an agent that restarted taking
    // this executor back: it gets what is still unacknowledged.
    if (agentGoneSince_) {
      spdlog::info("the agent is back (pid {}); re-sending {} status update(s)", agentPid_, unacked_.size());
      agentGoneSince_.reset();
      registrationTimer_.stop();
      sendPending();
    }
    return;
  }
  launched_ = true;
  registrationTimer_.stop();
  task_ = wire::fromWire(message.getTask());
  sandbox_ = message.getSandbox().cStr();
  defaultGraceMs_ = message.getKillGracePeriodMs();
  report(TaskState::kStarting, TaskReason::kNone, "");
  launch(message);
}

std::map<std::string, std::string> TaskExecutor::taskEnvironment(const std::string& sandboxPath) const {
  std::map<std::string, std::string> env = task_.command.environment;
  env["CLUSTERNODES_SANDBOX"] = sandboxPath;
  env["CLUSTERNODES_TASK_ID"] = task_.taskId.value;
  env["CLUSTERNODES_AGENT_ID"] = task_.agentId.value;
  env["CLUSTERNODES_FRAMEWORK_ID"] = flags_.frameworkId.value;
  std::string ports;
  int index = 0;
  RangeSet taskPorts = task_.resources.ports();
  for (const auto& range : taskPorts.ranges()) {
    for (uint64_t p = range.begin; p <= range.end && index < 1024; ++p, ++index) {
      env["PORT" + std::to_string(index)] = std::to_string(p);
      ports += (ports.empty() ? "" : ",") + std::to_string(p);
    }
  }
  if (!ports.empty()) env["CLUSTERNODES_PORTS"] = ports;
  return env;
}

void TaskExecutor::report(TaskState state, TaskReason reason, const std::string& message,
                          std::optional<int> exitCode, std::optional<int> signal) {
  TaskStatus status;
  status.taskId = task_.taskId;
  status.agentId = task_.agentId;
  status.state = state;
  status.reason = reason;
  status.message = message;
  status.source = TaskSource::kExecutor;
  status.exitCode = exitCode;
  status.signal = signal;
  status.timestamp = Loop::wallSeconds();
  status.uuid = randomUuid();
  if (isTerminal(state)) terminalReported_ = true;
  unacked_.push_back(status);
  sendPending();
}

void TaskExecutor::sendPending() {
  for (const auto& status : unacked_) {
    capnp::MallocMessageBuilder message;
    wire::toWire(status, flags_.frameworkId, message.initRoot<wire::Envelope>().initExecutorStatus().initStatus());
    socket_->send(wire::encode(message));
  }
  if (unacked_.empty()) {
    retryTimer_.stop();
  } else if (!retryTimer_.active()) {
    retryTimer_.start(kRetryInterval, [this] { sendPending(); });
  }
}

void TaskExecutor::onAck(const std::string& uuid) {
  for (auto it = unacked_.begin(); it != unacked_.end(); ++it) {
    if (it->uuid == uuid) {
      unacked_.erase(it);
      break;
    }
  }
  if (unacked_.empty()) retryTimer_.stop();
  if (terminalReported_ && unacked_.empty()) finish(0);
}

void TaskExecutor::checkAgent() {
  if (agentStart_ && processStartTime(agentPid_) == agentStart_) return;
  auto now = std::chrono::steady_clock::now();
  if (!agentGoneSince_) {
    agentGoneSince_ = now;
    spdlog::warn("the agent (pid {}) is gone; waiting {} ms for it to come back", agentPid_,
                 std::chrono::duration_cast<milliseconds>(flags_.recoveryTimeout).count());
    // A restarted agent listens where this one did: registering again tells
    // it about this executor.
    if (launched_ && !shuttingDown_) sendRegistration();
  }
  if (now - *agentGoneSince_ >= flags_.recoveryTimeout) {
    spdlog::error("the agent did not come back; killing task {} and exiting", task_.taskId.value);
    abandon();
    finish(1);
  }
}

void TaskExecutor::finish(int code) {
  exitCode_ = code;
  registrationTimer_.stop();
  retryTimer_.stop();
  agentWatchTimer_.stop();
  loop_.stop();
}

}  // namespace clusternodes::executor
