#include "agent/containerizer/launcher_client.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "common/process.hpp"

namespace clusternodes::agent {
namespace {

// Whether `pid` is a clusternodes-launcher (and not a process that got its
// number since), and when `workDir` is given, the one of that work dir.
bool isLauncher(pid_t pid, const std::string& workDir = "") {
  if (pid <= 0) return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (cmdline.find("clusternodes-launcher") == std::string::npos) return false;
  return workDir.empty() || cmdline.find(std::string("--work-dir=") + workDir + '\0') != std::string::npos;
}

}  // namespace

LauncherClient::LauncherClient(Loop& loop, Reaper& reaper, Transport& executors, LauncherOptions options)
    : loop_(loop),
      reaper_(reaper),
      executors_(executors),
      options_(std::move(options)),
      registrationDeadline_(loop) {}

LauncherClient::~LauncherClient() = default;

bool LauncherClient::alive() const {
  return pid_ > 0 && startTime_ != 0 && processStartTime(pid_).value_or(0) == startTime_;
}

Result<void> LauncherClient::ensureRunning() {
  if (alive()) return {};
  if (pid_ > 0) spdlog::warn("the launcher (pid {}) is gone", pid_);
  pid_ = 0;
  startTime_ = 0;
  peer_.clear();
  child_.reset();
  // What waited for the dead one is not for the next: its containers ended
  // with it (the Reaper's watch of its pid).
  pending_.clear();
  // A launcher an earlier agent started is taken back only for the
  // containers it runs (recover()): one with none exits by itself once it
  // sees its agent gone, and must not be given new ones.
  std::error_code ec;
  std::filesystem::create_directories(options_.workDir, ec);
  if (ec) return internalError("cannot create " + options_.workDir + ": " + ec.message());
  SpawnOptions spawn;
  spawn.file = options_.program;
  spawn.args = {
      options_.program,
      "--agent=" + options_.executorEndpoint,
      "--work-dir=" + options_.workDir,
      "--recovery-timeout=" +
          std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(options_.recoveryTimeout).count()) +
          "ms",
  };
  int logFd = ::open((options_.workDir + "/launcher.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  spawn.stdoutFd = logFd;
  spawn.stderrFd = logFd;
  spawn.workingDirectory = options_.workDir;
  // A session of its own: it outlives the agent, as a container shim does.
  spawn.newSession = true;
  auto child = ChildProcess::spawn(loop_, spawn, [this](const ExitStatus& exit) {
    spdlog::warn("the launcher exited (status {}, signal {})", exit.code, exit.signal);
    // Its containers end through the Reaper's watch of its pid.
  });
  if (logFd >= 0) ::close(logFd);
  if (!child) return internalError("cannot start the launcher: " + child.error().message);
  child_ = std::move(child.value());
  pid_ = child_->pid();
  startTime_ = processStartTime(pid_).value_or(0);
  spdlog::info("started the launcher (pid {})", pid_);
  armRegistrationDeadline();
  return {};
}

void LauncherClient::armRegistrationDeadline() {
  registrationDeadline_.start(options_.registrationTimeout, [this] {
    if (!peer_.empty() || !alive()) return;
    spdlog::error("the launcher (pid {}) did not register within {} ms; killing it", pid_,
                  std::chrono::duration_cast<std::chrono::milliseconds>(options_.registrationTimeout).count());
    ::kill(pid_, SIGKILL);
  });
}

void LauncherClient::send(std::string bytes) {
  if (peer_.empty()) {
    pending_.push_back(std::move(bytes));
    return;
  }
  executors_.sendTo(peer_, bytes);
}

Result<pid_t> LauncherClient::start(const std::string& containerId, const FrameworkID& frameworkId,
                                    const TaskID& taskId, const std::string& sandbox, Reaper::OnExit onExit) {
  if (auto running = ensureRunning(); !running) return running.error();
  capnp::MallocMessageBuilder message;
  auto start = message.initRoot<wire::Envelope>().initStartExecutor();
  start.setContainerId(containerId);
  start.setFrameworkId(frameworkId.value);
  start.setTaskId(taskId.value);
  start.setSandbox(sandbox);
  send(wire::encode(message));
  reaper_.shared(containerId, pid_, startTime_, std::move(onExit));
  return pid_;
}

bool LauncherClient::recover(const std::string& containerId, pid_t pid, Reaper::OnExit onExit) {
  if (!alive()) {
    std::ifstream in(options_.workDir + "/launcher.pid");
    pid_t filed = 0;
    uint64_t start = 0;
    bool byFile = (in >> filed >> start) && filed == pid && isLauncher(pid) &&
                  processStartTime(pid).value_or(0) == start;
    if (!byFile) {
      // No pid file of it (it could not write one): its command line names
      // this agent's launcher dir, which no other launcher has.
      if (!isLauncher(pid, options_.workDir)) return false;
      start = processStartTime(pid).value_or(0);
      if (start == 0) return false;
    }
    pid_ = pid;
    startTime_ = start;
    peer_.clear();
    armRegistrationDeadline();
  }
  if (pid != pid_) return false;
  recovering_.insert(containerId);
  reaper_.shared(containerId, pid_, startTime_, std::move(onExit));
  return true;
}

void LauncherClient::kill(const std::string& containerId) {
  if (!reaper_.running(containerId)) return;
  capnp::MallocMessageBuilder message;
  message.initRoot<wire::Envelope>().initKillContainer().setContainerId(containerId);
  send(wire::encode(message));
}

void LauncherClient::registered(const std::string& peer, wire::RegisterLauncher::Reader message) {
  pid_t pid = message.getPid();
  uint64_t start = message.getStartTime();
  if (pid != pid_ || start != startTime_) {
    // An earlier agent's launcher with nothing this agent took back: left
    // unanswered, it exits once idle.
    spdlog::debug("ignored the registration of launcher pid {}, not this agent's (pid {})", pid, pid_);
    return;
  }
  bool first = peer_ != peer;
  peer_ = peer;
  registrationDeadline_.stop();
  capnp::MallocMessageBuilder reply;
  reply.initRoot<wire::Envelope>().initLauncherRegistered().setAgentPid(::getpid());
  executors_.sendTo(peer_, wire::encode(reply));
  if (!first) return;
  spdlog::info("the launcher (pid {}) registered, running {} container(s)", pid, message.getContainers().size());
  // Recovered containers it no longer runs have ended.
  std::set<std::string> listed;
  for (auto id : message.getContainers()) listed.insert(wire::text(id));
  std::set<std::string> recovering = std::move(recovering_);
  recovering_.clear();
  for (const auto& id : recovering) {
    if (listed.count(id) == 0) reaper_.ended(id, std::nullopt);
  }
  for (auto& bytes : pending_) executors_.sendTo(peer_, bytes);
  pending_.clear();
}

void LauncherClient::executorEnded(const std::string& peer, wire::ExecutorEnded::Reader message) {
  // Only the registered launcher's word ends a container (it says it again
  // after registering).
  if (peer_.empty() || peer != peer_) return;
  std::string containerId = wire::text(message.getContainerId());
  capnp::MallocMessageBuilder ack;
  ack.initRoot<wire::Envelope>().initLauncherAck().setContainerId(containerId);
  executors_.sendTo(peer, wire::encode(ack));
  ExitStatus status;
  status.code = message.getExitCode();
  reaper_.ended(containerId, status);
}


void LauncherClient::commandStarted(const std::string& peer, wire::CommandStarted::Reader message) {
  if (peer != peer_) return;  // not the launcher this agent registered
  std::string containerId = wire::text(message.getContainerId());
  if (onCommandStarted_ && reaper_.running(containerId)) onCommandStarted_(containerId, message.getPid());
}

}  // namespace clusternodes::agent
