#include "agent/containerizer/framework_executor.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <filesystem>
#include <map>

#include "common/cgroup_files.hpp"

extern char** environ;

namespace clusternodes::agent {
namespace {

// The executor's command line, and a clean environment (not the agent's)
// with its own and the agent's variables on top.
SpawnOptions executorCommand(const ContainerizerContext& context, const ContainerLaunch& launch) {
  SpawnOptions options;
  const auto& command = launch.executor->command;
  if (command.shell) {
    options.file = "/bin/sh";
    options.args = {"sh", "-c", command.value};
  } else {
    options.args = command.arguments;
    options.file = command.value.empty() ? command.arguments.front() : command.value;
    if (options.args.empty()) options.args = {options.file};
  }
  std::map<std::string, std::string> env = taskBaseEnvironment(environ, launch.sandbox);
  for (const auto& [name, value] : command.environment) env[name] = value;
  if (launch.user) {
    env["USER"] = launch.user->name;
    env["LOGNAME"] = launch.user->name;
  }
  env["CLUSTERNODES_AGENT_ENDPOINT"] = context.executorEndpoint;
  env["CLUSTERNODES_AGENT_ID"] = launch.agentId.value;
  env["CLUSTERNODES_AGENT_PID"] = std::to_string(::getpid());
  env["CLUSTERNODES_FRAMEWORK_ID"] = launch.frameworkId.value;
  env["CLUSTERNODES_EXECUTOR_ID"] = launch.executor->executorId.value;
  env["CLUSTERNODES_SANDBOX"] = launch.sandbox;
  env["CLUSTERNODES_RECOVERY_TIMEOUT_MS"] =
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(context.recoveryTimeout).count());
  std::vector<std::string> entries;
  for (const auto& [name, value] : env) entries.push_back(name + "=" + value);
  options.environment = std::move(entries);
  options.workingDirectory = launch.sandbox;
  options.newSession = true;
  return options;
}

}  // namespace

LaunchResult FrameworkExecutorContainerizer::launch(const ContainerLaunch& launch, Containerizer::OnExit onExit) {
  auto failed = [](std::string why) {
    return LaunchResult::failed(TaskReason::kExecutorFailedToStart, std::move(why));
  };
  if (auto made = createSandbox(launch)) return *made;
  const auto& command = launch.executor->command;
  if (command.value.empty() && command.arguments.empty()) return failed("the executor has no command");
  if (auto prepared = prepare(launch.containerId, launch.limits); !prepared) {
    return failed("cannot isolate it: " + prepared.error().message);
  }
  SpawnOptions options = executorCommand(context_, launch);
  int out = ::open((launch.sandbox + "/stdout").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int err = ::open((launch.sandbox + "/stderr").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  options.stdoutFd = out;
  options.stderrFd = err;
  if (launch.user) {
    // The executor runs as its user, in a sandbox that is theirs.
    for (int fd : {out, err}) {
      if (fd >= 0 && ::fchown(fd, launch.user->uid, launch.user->gid) != 0) {
        spdlog::warn("cannot give {}'s output to user '{}'", launch.sandbox, launch.user->name);
      }
    }
    options.user = SpawnOptions::User{launch.user->name, launch.user->uid, launch.user->gid, launch.user->groups};
  }
  // The executor starts inside its container: this thread enters the
  // container's cgroups for the fork and leaves them again.
  for (const auto& dir : context_.isolator.joinDirs(launch.containerId)) {
    if (auto moved = cgroup::moveThisThread(dir); !moved) spdlog::warn("{}", moved.error().message);
  }
  auto pid = context_.reaper.spawn(launch.containerId, options, std::move(onExit));
  for (const auto& dir : context_.isolator.returnDirs()) {
    if (auto moved = cgroup::moveThisThread(dir); !moved) spdlog::warn("{}", moved.error().message);
  }
  if (out >= 0) ::close(out);
  if (err >= 0) ::close(err);
  if (!pid) return failed(pid.error().message);
  track(launch.containerId, *pid);
  return {*pid, std::nullopt, {}};
}

bool FrameworkExecutorContainerizer::recover(const RecoveredContainer& saved, Containerizer::OnExit onExit) {
  track(saved.containerId, saved.pid);
  bool alive = saved.pid > 0 && saved.startTime != 0 && processStartTime(saved.pid) == saved.startTime;
  if (!alive) return false;
  context_.reaper.adopt(saved.containerId, saved.pid, saved.startTime, std::move(onExit));
  return true;
}

}  // namespace clusternodes::agent
