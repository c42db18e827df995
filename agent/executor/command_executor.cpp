#include "agent/executor/command_executor.hpp"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <map>
#include <set>
#include <vector>

#include "common/cgroup_files.hpp"

extern char** environ;

namespace clusternodes::executor {
namespace {

using std::chrono::milliseconds;

std::string signalName(int signal) {
  const char* name = sigabbrev_np(signal);
  const char* description = strsignal(signal);
  std::string out = "signal " + std::to_string(signal);
  if (name != nullptr) out += " (SIG" + std::string(name);
  if (description != nullptr) out += std::string(name != nullptr ? ": " : " (") + description;
  if (name != nullptr || description != nullptr) out += ")";
  return out;
}

}  // namespace

CommandExecutor::CommandExecutor(Loop& loop, zmq::context_t& context, ExecutorFlags flags,
                                 OnExecutorFinished onFinished)
    : TaskExecutor(loop, context, std::move(flags), std::move(onFinished)), graceTimer_(loop) {}

CommandExecutor::~CommandExecutor() = default;

void CommandExecutor::launch(wire::ExecutorContainer::Reader container) {
  for (auto dir : container.getCgroups()) cgroups_.push_back(wire::text(dir));

  // Environment: a clean one (not the agent's, which the executor
  // inherited), the task's, and where it runs.
  std::map<std::string, std::string> env = taskBaseEnvironment(environ, sandbox_);
  std::optional<SpawnOptions::User> user;
  if (container.hasUser()) {
    // The user the agent found for the task on this host.
    auto named = container.getUser();
    user = SpawnOptions::User{wire::text(named.getName()), named.getUid(), named.getGid(), {}};
    for (auto gid : named.getGroups()) user->groups.push_back(gid);
    env["USER"] = user->name;
    env["LOGNAME"] = user->name;
  }
  for (auto& [k, v] : taskEnvironment(sandbox_)) env[k] = std::move(v);
  std::vector<std::string> envStrings;
  for (const auto& [k, v] : env) envStrings.push_back(k + "=" + v);

  std::vector<std::string> args;
  std::string file;
  if (task_.command.shell) {
    file = "/bin/sh";
    args = {"sh", "-c", task_.command.value};
  } else {
    args = task_.command.arguments;
    file = task_.command.value.empty() ? args.front() : task_.command.value;
  }
  int out = ::open((sandbox_ + "/stdout").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int err = ::open((sandbox_ + "/stderr").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (user) {
    // The sandbox is the task's user's, its output files too.
    for (int fd : {out, err}) {
      if (fd >= 0 && ::fchown(fd, user->uid, user->gid) != 0) log().warn("cannot give the task's output to its user");
    }
  }
  SpawnOptions options;
  options.file = file;
  options.args = std::move(args);
  options.environment = std::move(envStrings);
  options.workingDirectory = sandbox_;
  options.stdoutFd = out;
  options.stderrFd = err;
  options.newSession = true;  // its own session and process group
  options.user = std::move(user);
  auto child = spawnContained(options);
  if (out >= 0) ::close(out);
  if (err >= 0) ::close(err);
  if (!child) {
    TaskReason reason = TaskReason::kExecutorFailedToStart;
    switch (child.error().code) {
      case ErrorCode::kNotFound: reason = TaskReason::kCommandNotFound; break;
      case ErrorCode::kDenied: reason = TaskReason::kCommandNotExecutable; break;
      case ErrorCode::kInternal: reason = TaskReason::kContainerLaunchFailed; break;
      default: break;
    }
    report(TaskState::kFailed, reason, child.error().message);
    return;
  }
  process_ = std::move(child.value());
  pid_ = process_->pid();
  log().info("started task {} as pid {}: {}", task_.taskId.value, pid_,
               task_.command.shell ? task_.command.value : file);
  if (onCommandPid_) onCommandPid_(pid_);
  report(TaskState::kRunning, TaskReason::kNone, "");
}

Result<std::unique_ptr<ChildProcess>> CommandExecutor::spawnContained(const SpawnOptions& options) {
  // The child joins the container's cgroups itself before it execs: the
  // executor (in a launcher, the launcher with every other task's
  // executor) never enters them, so the container's kill, memory limit and
  // cpu quota never reach it.
  SpawnOptions contained = options;
  contained.cgroups = cgroups_;
  return ChildProcess::spawn(loop_, contained, [this](const ExitStatus& exit) {
    commandExited(exit.code, exit.signal);
  });
}

void CommandExecutor::signalAll(int group, int signal) const {
  if (group > 0) ::kill(-group, signal);
  if (!cgroups_.empty()) {
    for (pid_t pid : cgroup::procs(cgroups_.front())) {
      if (pid != getpid()) ::kill(pid, signal);
    }
  }
}

void CommandExecutor::kill(int64_t gracePeriodMs) {
  if (!launched_ || terminalReported_) return;
  if (process_ == nullptr || process_->exited()) return;  // already exited; the status is on its way
  if (killing_) {
    // A second kill may shorten the grace period, never lengthen it.
    if (gracePeriodMs == 0) signalAll(pid_, SIGKILL);
    return;
  }
  killing_ = true;
  log().info("killing task {}: SIGTERM to process group {}, SIGKILL after {} ms", task_.taskId.value, pid_,
               gracePeriodMs);
  if (gracePeriodMs <= 0) {
    signalAll(pid_, SIGKILL);
    return;
  }
  signalAll(pid_, SIGTERM);
  graceTimer_.start(milliseconds(gracePeriodMs), [this] {
    if (pid_ > 0) signalAll(pid_, SIGKILL);
  });
}

void CommandExecutor::commandExited(int64_t exitStatus, int termSignal) {
  graceTimer_.stop();
  // Nothing of the task may outlive it: take down the rest of its group, and
  // report only once no live process of the group is left.
  int group = pid_;
  signalAll(group, SIGKILL);
  auto reportExit = [this, exitStatus, termSignal] {
    if (killing_) {
      report(TaskState::kKilled, TaskReason::kKilledByFramework,
             termSignal != 0 ? "killed by " + signalName(termSignal)
                             : "killed; exited with status " + std::to_string(exitStatus),
             termSignal == 0 ? std::optional<int>(static_cast<int>(exitStatus)) : std::nullopt,
             termSignal != 0 ? std::optional<int>(termSignal) : std::nullopt);
    } else if (termSignal != 0) {
      report(TaskState::kFailed, TaskReason::kCommandSignaled, "command was killed by " + signalName(termSignal),
             std::nullopt, termSignal);
    } else if (task_.command.shell && (exitStatus == 127 || exitStatus == 126)) {
      // The shell's codes for a command it could not find or run.
      std::string said = lastStderrLine();
      bool missing = exitStatus == 127;
      report(TaskState::kFailed, missing ? TaskReason::kCommandNotFound : TaskReason::kCommandNotExecutable,
             std::string(missing ? "command not found" : "command not executable") + " (exit status " +
                 std::to_string(exitStatus) + (said.empty() ? ")" : "): " + said),
             static_cast<int>(exitStatus));
    } else if (exitStatus == 0) {
      report(TaskState::kFinished, TaskReason::kCommandExited, "command exited with status 0", 0);
    } else {
      report(TaskState::kFailed, TaskReason::kCommandExited,
             "command exited with status " + std::to_string(exitStatus), static_cast<int>(exitStatus));
    }
  };
  pid_ = 0;
  if (onCommandPid_) onCommandPid_(0);
  if (!hasLiveProcess(group)) {
    reportExit();
    return;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  graceTimer_.start(
      milliseconds(5),
      [this, group, deadline, reportExit] {
        if (hasLiveProcess(group) && std::chrono::steady_clock::now() < deadline) {
          signalAll(group, SIGKILL);
          return;
        }
        graceTimer_.stop();
        reportExit();
      },
      milliseconds(5));
}

std::string CommandExecutor::lastStderrLine() const {
  std::ifstream in(sandbox_ + "/stderr", std::ios::binary);
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  if (size <= 0) return "";
  std::streamoff from = std::max<std::streamoff>(0, size - 4096);
  in.seekg(from);
  std::string tail(static_cast<size_t>(size - from), '\0');
  in.read(tail.data(), static_cast<std::streamsize>(tail.size()));
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r')) tail.pop_back();
  auto newline = tail.rfind('\n');
  std::string line = newline == std::string::npos ? tail : tail.substr(newline + 1);
  if (line.size() > 200) line = line.substr(0, 200) + "...";
  return line;
}

bool CommandExecutor::hasLiveProcess(int group) const {
  std::set<pid_t> members;
  if (!cgroups_.empty()) {
    for (pid_t pid : cgroup::procs(cgroups_.front())) members.insert(pid);
  }
  bool groupAlive = group > 0 && ::kill(-group, 0) == 0;  // ESRCH: the group is empty
  if (!groupAlive && members.empty()) return false;
  // The group still has members; zombies awaiting their reaper do not count.
  for (const auto& process : listProcesses()) {
    if (process.state == 'Z' || process.state == 'X') continue;
    if ((group > 0 && process.pgrp == group) || members.count(process.pid) != 0) return true;
  }
  return false;
}

void CommandExecutor::abandon() {
  if (pid_ > 0) signalAll(pid_, SIGKILL);
}

}  // namespace clusternodes::executor
