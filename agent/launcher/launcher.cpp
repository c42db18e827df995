#include "agent/launcher/launcher.hpp"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/process.hpp"

namespace clusternodes::launcher {

namespace {

// A logger writing to the sandbox's executor.log, as clusternodes-executor's
// output does; null (the launcher's own log) when the file cannot be opened.
std::shared_ptr<spdlog::logger> sandboxLog(const std::string& sandbox) {
  try {
    auto sink = std::make_shared<spdlog::sinks::basic_file_sink_st>(sandbox + "/executor.log");
    auto logger = std::make_shared<spdlog::logger>("executor", std::move(sink));
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %L executor: %v");
    logger->set_level(spdlog::default_logger_raw()->level());
    logger->flush_on(spdlog::level::trace);  // readable while the task runs
    return logger;
  } catch (const spdlog::spdlog_ex& e) {
    spdlog::warn("cannot open {}/executor.log: {}; its lines go here", sandbox, e.what());
    return nullptr;
  }
}

}  // namespace

Launcher::Launcher(Loop& loop, zmq::context_t& context, LauncherFlags flags)
    : loop_(loop), context_(context), flags_(std::move(flags)), tickTimer_(loop) {}

Launcher::~Launcher() {
  tickTimer_.stop();
  executors_.clear();
}

Result<void> Launcher::start() {
  selfStart_ = processStartTime(::getpid()).value_or(0);
  // The agent that started it, watched until one answers its registration.
  agentPid_ = ::getppid();
  agentStart_ = processStartTime(agentPid_);
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    spdlog::warn("cannot become the subreaper of the tasks: {}", std::strerror(errno));
  }
  // A pid file that cannot be written now (a full disk) is written by a
  // later tick: the launcher runs its tasks meanwhile.
  pidFileWritten_ = writePidFile();
  control_ = std::make_unique<ZmqSocket>(loop_, context_, ZmqSocket::Kind::kDealer);
  control_->onMessage([this](std::string_view, std::string_view bytes, std::string_view) { onMessage(bytes); });
  control_->onConnectionChange([this](bool) { tick(); });
  if (auto connected = control_->connect(flags_.agent); !connected) return connected.error();
  sendRegistration();
  tickTimer_.start(flags_.retryInterval, [this] { tick(); }, flags_.retryInterval);
  return {};
}

bool Launcher::writePidFile() {
  if (flags_.workDir.empty()) return true;
  std::error_code ec;
  std::filesystem::create_directories(flags_.workDir, ec);
  // "PID START_TIME": the agent takes the launcher back only when both match.
  std::string path = flags_.workDir + "/launcher.pid";
  std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << ::getpid() << " " << selfStart_ << "\n";
    if (!out.flush()) ec = std::make_error_code(std::errc::io_error);
  }
  if (!ec) std::filesystem::rename(temporary, path, ec);
  if (ec) {
    if (!pidFileWarned_) spdlog::warn("cannot write {}: {}; trying again", path, ec.message());
    pidFileWarned_ = true;
    return false;
  }
  return true;
}

void Launcher::sendRegistration() {
  capnp::MallocMessageBuilder message;
  auto reg = message.initRoot<wire::Envelope>().initRegisterLauncher();
  reg.setPid(::getpid());
  reg.setStartTime(selfStart_);
  unsigned live = 0;
  for (const auto& [id, container] : executors_) live += container.exitCode ? 0 : 1;
  auto list = reg.initContainers(live);
  unsigned i = 0;
  for (const auto& [id, container] : executors_) {
    if (!container.exitCode) list.set(i++, id);
  }
  control_->send(wire::encode(message));
}

void Launcher::onMessage(std::string_view bytes) {
  auto decoded = wire::decode(bytes);
  if (!decoded) {
    spdlog::warn("dropped a message from the agent: {}", decoded.error().message);
    return;
  }
  auto envelope = (*decoded)->envelope();
  wire::dispatchSafely([&] { dispatch(envelope); },
                       [](const std::string& why) { spdlog::warn("dropped a message from the agent: {}", why); });
}

void Launcher::dispatch(const wire::Envelope::Reader& envelope) {
  switch (envelope.which()) {
    case wire::Envelope::LAUNCHER_REGISTERED: {
      pid_t pid = envelope.getLauncherRegistered().getAgentPid();
      if (!registered_ || pid != agentPid_) spdlog::info("registered with the agent (pid {})", pid);
      registered_ = true;
      agentPid_ = pid;
      agentStart_ = processStartTime(pid);
      agentGoneSince_.reset();
      // What ended while the agent was away goes again now, and the
      // commands still running are named to it.
      for (const auto& [id, container] : executors_) {
        if (container.exitCode) {
          sendEnded(id, *container.exitCode);
        } else if (container.executor && container.executor->commandPid() > 0) {
          sendCommandStarted(id, container.executor->commandPid());
        }
      }
      return;
    }
    case wire::Envelope::START_EXECUTOR: return startExecutor(envelope.getStartExecutor());
    case wire::Envelope::KILL_CONTAINER: return killContainer(wire::text(envelope.getKillContainer().getContainerId()));
    case wire::Envelope::LAUNCHER_ACK: {
      auto it = executors_.find(wire::text(envelope.getLauncherAck().getContainerId()));
      if (it != executors_.end() && it->second.exitCode) executors_.erase(it);
      return;
    }
    default:
      throw wire::MalformedMessage(std::string("unexpected ") + wire::name(envelope.which()));
  }
}

void Launcher::startExecutor(wire::StartExecutor::Reader message) {
  std::string containerId = wire::text(message.getContainerId());
  if (executors_.count(containerId) != 0) return;  // a repeated request
  executor::ExecutorFlags flags;
  flags.agent = flags_.agent;
  flags.frameworkId = FrameworkID{wire::text(message.getFrameworkId())};
  flags.taskId = TaskID{wire::text(message.getTaskId())};
  flags.recoveryTimeout = flags_.recoveryTimeout;
  flags.agentPid = agentPid_;
  flags.log = sandboxLog(wire::text(message.getSandbox()));
  std::unique_ptr<executor::CommandExecutor> executor;
  try {
    executor = std::make_unique<executor::CommandExecutor>(
        loop_, context_, std::move(flags),
        [this, containerId](int exitCode) { executorFinished(containerId, exitCode); });
  } catch (const std::exception& e) {
    // No socket left, say: the agent hears the container ended at once.
    spdlog::error("cannot make the executor of container {}: {}", containerId, e.what());
    executors_[containerId].exitCode = 1;
    sendEnded(containerId, 1);
    return;
  }
  executor->onCommandPid([this, containerId](pid_t pid) { sendCommandStarted(containerId, pid); });
  auto& container = executors_[containerId];
  container.executor = std::move(executor);
  if (auto started = container.executor->start(); !started) {
    spdlog::error("cannot start the executor of container {}: {}", containerId, started.error().message);
    executorFinished(containerId, 1);
    return;
  }
  spdlog::debug("started the executor of task {} (container {})", wire::text(message.getTaskId()), containerId);
}

void Launcher::killContainer(const std::string& containerId) {
  auto it = executors_.find(containerId);
  if (it == executors_.end()) {
    sendEnded(containerId, 128 + SIGKILL);  // long gone: say so again
    return;
  }
  if (!it->second.exitCode) it->second.executor->abandonTask(128 + SIGKILL);
}

void Launcher::executorFinished(const std::string& containerId, int exitCode) {
  auto it = executors_.find(containerId);
  if (it == executors_.end() || it->second.exitCode) return;
  it->second.exitCode = exitCode;
  sendEnded(containerId, exitCode);
  // Called from inside the executor: destroyed later, on the loop.
  loop_.post([this, containerId] {
    auto found = executors_.find(containerId);
    if (found != executors_.end()) found->second.executor.reset();
  });
}

void Launcher::sendEnded(const std::string& containerId, int exitCode) {
  capnp::MallocMessageBuilder message;
  auto ended = message.initRoot<wire::Envelope>().initExecutorEnded();
  ended.setContainerId(containerId);
  ended.setExitCode(exitCode);
  control_->send(wire::encode(message));
}

void Launcher::sendCommandStarted(const std::string& containerId, pid_t pid) {
  capnp::MallocMessageBuilder message;
  auto started = message.initRoot<wire::Envelope>().initCommandStarted();
  started.setContainerId(containerId);
  started.setPid(pid);
  control_->send(wire::encode(message));
}

void Launcher::tick() {
  reapOrphans();
  if (!pidFileWritten_) pidFileWritten_ = writePidFile();
  bool gone = agentPid_ > 0 && (!agentStart_ || processStartTime(agentPid_) != agentStart_);
  if (!registered_ || gone) {
    if (gone && !agentGoneSince_) {
      spdlog::warn("the agent (pid {}) is gone; registering again until one comes back", agentPid_);
      agentGoneSince_ = std::chrono::steady_clock::now();
      registered_ = false;
    }
    sendRegistration();
  } else {
    // Unacknowledged ends go again.
    for (const auto& [id, container] : executors_) {
      if (container.exitCode) sendEnded(id, *container.exitCode);
    }
  }
  bool idle = true;
  for (const auto& [id, container] : executors_) idle = idle && container.exitCode.has_value();
  // Nothing runs and the agent is gone: nothing to hand back to one that
  // restarts (it starts a launcher of its own when it needs one).
  if (agentGoneSince_ && idle && std::chrono::steady_clock::now() - *agentGoneSince_ >= 4 * flags_.retryInterval) {
    spdlog::info("the agent is gone and nothing runs; exiting");
    loop_.stop();
  }
}

void Launcher::reapOrphans() {
  // Orphans of the tasks come back to the subreaper. The commands' own
  // processes are libuv's to reap (their exit is the task's end); any other
  // zombie child is reaped here.
  std::set<pid_t> commands;
  for (const auto& [id, container] : executors_) {
    if (container.executor && container.executor->commandPid() > 0) commands.insert(container.executor->commandPid());
  }
  pid_t self = ::getpid();
  for (const auto& process : listProcesses()) {
    if (process.ppid != self || process.state != 'Z' || commands.count(process.pid) != 0) continue;
    ::waitpid(process.pid, nullptr, WNOHANG);
  }
}

}  // namespace clusternodes::launcher
