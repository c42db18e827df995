#include "agent/executor/task_executor.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>

namespace clusternodes::executor {

TaskExecutor::TaskExecutor(Loop& loop, zmq::context_t& context, ExecutorFlags flags, OnExecutorFinished onFinished)
    : loop_(loop), flags_(std::move(flags)), onFinished_(std::move(onFinished)) {
  ExecutorSessionOptions options;
  options.agentEndpoint = flags_.agent;
  options.frameworkId = flags_.frameworkId;
  options.executorId = ExecutorID{flags_.taskId.value};
  options.agentPid = flags_.agentPid > 0 ? flags_.agentPid : getppid();
  options.recoveryTimeout = flags_.recoveryTimeout;
  options.log = flags_.log;
  ExecutorSessionEvents events;
  events.onMessage = [this](const wire::Envelope::Reader& envelope) { onMessage(envelope); };
  events.onRecoveryTimeout = [this] {
    log().error("the agent did not come back; killing task {} and exiting", task_.taskId.value);
    abandon();
    finish(1);
  };
  events.onAllAcknowledged = [this] {
    if (terminalReported_) finish(0);
  };
  session_ = std::make_unique<ExecutorSession>(
      loop.time(), std::make_unique<ZmqSocket>(loop, context, ZmqSocket::Kind::kDealer), std::move(options),
      std::move(events));
}

TaskExecutor::~TaskExecutor() = default;

Result<void> TaskExecutor::start() { return session_->start(); }

spdlog::logger& TaskExecutor::log() const { return flags_.log ? *flags_.log : *spdlog::default_logger_raw(); }

void TaskExecutor::abandonTask(int exitCode) {
  if (finished_) return;
  abandon();
  finish(exitCode);
}

void TaskExecutor::onMessage(const wire::Envelope::Reader& envelope) {
  switch (envelope.which()) {
    case wire::Envelope::EXECUTOR_REGISTERED: return registered(envelope.getExecutorRegistered());
    case wire::Envelope::RUN_TASK: return runTask(envelope.getRunTask());
    case wire::Envelope::KILL_TASK: {
      auto kill = envelope.getKillTask();
      if (wire::text(kill.getTaskId()) != flags_.taskId.value) {
        throw wire::MalformedMessage("a kill of task " + wire::text(kill.getTaskId()) + ", which this executor does not run");
      }
      // The task never came (lost with a connection the agent lost): there
      // is nothing to kill, and the agent ends the task when this ends.
      if (!launched_) return finish(0);
      int64_t grace = kill.getKillGracePeriodMs();
      return this->kill(grace >= 0 ? grace : defaultGraceMs_);
    }
    case wire::Envelope::SHUTDOWN_EXECUTOR:
      shuttingDown_ = true;
      if (!launched_) return finish(0);
      return kill(defaultGraceMs_);
    default:
      throw wire::MalformedMessage(std::string("unexpected ") + wire::name(envelope.which()));
  }
}

void TaskExecutor::registered(wire::ExecutorRegistered::Reader message) {
  // A reply to a retried registration, or an agent that restarted taking
  // this executor back: it gets what is still unacknowledged.
  session_->registered(message.getAgentPid());
  if (launched_) return;
  auto container = message.getContainer();
  container_.setRoot(container);
  containerKnown_ = true;
  sandbox_ = container.getSandbox().cStr();
  defaultGraceMs_ = container.getKillGracePeriodMs();
}

void TaskExecutor::runTask(wire::RunTask::Reader message) {
  // The agent sends the task again after it restarted: it is running.
  if (launched_) return;
  TaskInfo task = wire::fromWire(message.getTask());
  if (task.taskId != flags_.taskId) {
    throw wire::MalformedMessage("task " + task.taskId.value + " sent to the executor of task " + flags_.taskId.value);
  }
  if (!containerKnown_) throw wire::MalformedMessage("a task before the registration was accepted");
  launched_ = true;
  task_ = std::move(task);
  report(TaskState::kStarting, TaskReason::kNone, "");
  launch(container_.getRoot<wire::ExecutorContainer>().asReader());
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
  status.exitCode = exitCode;
  status.signal = signal;
  if (isTerminal(state)) {
    terminalReported_ = true;
    log().info("task {} ended {} ({}){}{}", task_.taskId.value, toString(state), toString(reason),
               message.empty() ? "" : ": ", message);
  }
  session_->sendUpdate(std::move(status));
}

void TaskExecutor::finish(int code) {
  if (finished_) return;
  finished_ = true;
  exitCode_ = code;
  session_->stop();
  if (onFinished_) onFinished_(code);
}

}  // namespace clusternodes::executor
