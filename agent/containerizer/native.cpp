#include "agent/containerizer/native.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace clusternodes::agent {

// ------------------------------------------------------------ isolated

Result<void> IsolatedContainerizer::prepare(const std::string& containerId, const ContainerLimits& limits) {
  auto prepared = context_.isolator.prepare(containerId, limits);
  if (prepared) track(containerId, 0);
  return prepared;
}

Result<void> IsolatedContainerizer::update(const std::string& containerId, const ContainerLimits& limits) {
  if (containers_.count(containerId) == 0) return notFound("no container " + containerId);
  return context_.isolator.update(containerId, limits);
}

void IsolatedContainerizer::kill(const std::string& containerId) {
  // Without cgroups the executor's descendants are the container: only
  // while it runs is its pid known to be it.
  auto it = containers_.find(containerId);
  ProcessRoot root = it != containers_.end() && context_.reaper.running(containerId) ? it->second : ProcessRoot();
  context_.reaper.kill(containerId);
  if (it != containers_.end()) context_.isolator.killAll(containerId, root);
}

bool IsolatedContainerizer::destroy(const std::string& containerId) {
  context_.reaper.forget(containerId);
  if (containers_.erase(containerId) == 0) return false;
  context_.destroyer.destroy(containerId);
  return true;
}

bool IsolatedContainerizer::measures(const std::string& containerId) const {
  return containers_.count(containerId) != 0;
}

Result<ContainerUsage> IsolatedContainerizer::usage(const std::string& containerId) const {
  auto it = containers_.find(containerId);
  if (it == containers_.end()) return notFound("no container " + containerId);
  return context_.isolator.usage(containerId, it->second);
}

// ------------------------------------------------------------ native

std::optional<LaunchResult> createSandbox(const ContainerLaunch& launch) {
  std::error_code ec;
  std::filesystem::create_directories(launch.sandbox, ec);
  if (ec) {
    return LaunchResult::failed(TaskReason::kExecutorFailedToStart,
                                "cannot create the sandbox " + launch.sandbox + ": " + ec.message());
  }
  if (launch.user && ::chown(launch.sandbox.c_str(), launch.user->uid, launch.user->gid) != 0) {
    return LaunchResult::failed(TaskReason::kContainerLaunchFailed, "cannot give the sandbox " + launch.sandbox +
                                                                        " to user '" + launch.user->name +
                                                                        "': " + std::strerror(errno));
  }
  return std::nullopt;
}

LaunchResult startTaskExecutor(const ContainerizerContext& context, const std::string& program,
                               const ContainerLaunch& launch, Containerizer::OnExit onExit) {
  std::string executor = context.launcherDir + "/" + program;
  SpawnOptions options;
  options.file = executor;
  options.args = {
      executor,
      "--agent=" + context.executorEndpoint,
      "--framework-id=" + launch.frameworkId.value,
      "--task-id=" + launch.taskId.value,
      "--recovery-timeout=" +
          std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(context.recoveryTimeout).count()) +
          "ms",
  };
  int logFd = ::open((launch.sandbox + "/executor.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  options.workingDirectory = launch.sandbox;
  options.stdoutFd = logFd;
  options.stderrFd = logFd;
  // Its own session: a signal to the agent's terminal does not reach it.
  options.newSession = true;
  auto pid = context.reaper.spawn(launch.containerId, options, std::move(onExit));
  if (logFd >= 0) ::close(logFd);
  if (!pid) {
    return LaunchResult::failed(TaskReason::kExecutorFailedToStart, "cannot start the executor: " + pid.error().message);
  }
  return {*pid, std::nullopt, {}};
}

std::optional<uint64_t> executorOf(pid_t pid, const TaskID& taskId) {
  if (pid <= 0) return std::nullopt;
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
  if (cmdline.find("clusternodes-") == std::string::npos ||
      cmdline.find(" --task-id=" + taskId.value + " ") == std::string::npos) {
    return std::nullopt;
  }
  return processStartTime(pid);
}

NativeContainerizer::NativeContainerizer(const ContainerizerContext& context) : IsolatedContainerizer(context) {
  if (context_.launcher != nullptr) {
    context_.launcher->onCommandStarted([this](const std::string& containerId, pid_t pid) {
      if (tracks(containerId)) track(containerId, pid, /*inside=*/true);
    });
  }
}

LaunchResult NativeContainerizer::launch(const ContainerLaunch& launch, Containerizer::OnExit onExit) {
  if (auto failed = createSandbox(launch)) return *failed;
  if (auto prepared = prepare(launch.containerId, launch.limits); !prepared) {
    return LaunchResult::failed(TaskReason::kContainerLaunchFailed,
                                "cannot isolate the task: " + prepared.error().message);
  }
  if (context_.launcher != nullptr) {
    // The executor runs inside the launcher: the container hangs off no
    // process of its own (pid 0 for the isolator), and the checkpoint keeps
    // the launcher's pid, by which a restarted agent finds it again.
    auto started = context_.launcher->start(launch.containerId, launch.frameworkId, launch.taskId, launch.sandbox,
                                            std::move(onExit));
    if (!started) {
      return LaunchResult::failed(TaskReason::kExecutorFailedToStart, started.error().message);
    }
    return {*started, std::nullopt, {}};
  }
  auto started = startTaskExecutor(context_, "clusternodes-executor", launch, std::move(onExit));
  if (!started.failure) track(launch.containerId, started.pid);
  return started;
}

void NativeContainerizer::kill(const std::string& containerId) {
  if (context_.launcher != nullptr) context_.launcher->kill(containerId);
  IsolatedContainerizer::kill(containerId);
}

bool NativeContainerizer::recover(const RecoveredContainer& saved, Containerizer::OnExit onExit) {
  // Its cgroups are there, whether its executor lives or not.
  auto startTime = executorOf(saved.pid, saved.taskId);
  if (!startTime && context_.launcher != nullptr) {
    // Its executor ran in the launcher (saved.pid is the launcher's).
    track(saved.containerId, 0);
    return context_.launcher->recover(saved.containerId, saved.pid, std::move(onExit));
  }
  track(saved.containerId, saved.pid);
  if (!startTime) return false;
  context_.reaper.adopt(saved.containerId, saved.pid, *startTime, std::move(onExit));
  return true;
}

void NativeContainerizer::describe(const std::string& containerId, const ContainerLimits&,
                                   wire::ExecutorContainer::Builder container) const {
  auto join = context_.isolator.joinDirs(containerId);
  auto cgroups = container.initCgroups(static_cast<unsigned>(join.size()));
  for (unsigned i = 0; i < join.size(); ++i) cgroups.set(i, join[i]);
  auto back = context_.isolator.returnDirs();
  auto returns = container.initReturnCgroups(static_cast<unsigned>(back.size()));
  for (unsigned i = 0; i < back.size(); ++i) returns.set(i, back[i]);
}

}  // namespace clusternodes::agent
