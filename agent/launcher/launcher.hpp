// Launcher: clusternodes-launcher, one long-lived process per agent that runs
// the built-in command executor (agent/executor/command_executor.hpp) of
// every native task inside itself, so that a native task costs one fork and
// exec of its command instead of the start of an executor process.
//
// The agent starts it in a session of its own, so that it outlives an agent
// restart as a container shim does. It is the child subreaper of its tasks:
// what they orphan comes back to it and is reaped here.
//
// Protocol (common/schema/messages.capnp, "launcher"), on a control DEALER
// to the agent's executor endpoint:
//   launcher -> agent  RegisterLauncher {pid, startTime, containers}, re-sent
//                      every retry interval until LauncherRegistered, and
//                      again whenever the agent is gone (a restarted agent
//                      takes the listed containers back);
//   agent -> launcher  StartExecutor {containerId, frameworkId, taskId,
//                      sandbox}: a CommandExecutor is made for the task. It
//                      registers on a DEALER of its own (one ZeroMQ context
//                      for all) with the launcher's pid, exactly as
//                      clusternodes-executor does, and the task's protocol
//                      is then the agent's and that executor's;
//   launcher -> agent  CommandStarted {containerId, pid} when a task's command
//                      started, and again after each registration while
//                      it runs (the agent follows it for usage without
//                      cgroups); pid 0 once it was reaped, so that the agent
//                      never signals a reused pid;
//   launcher -> agent  ExecutorEnded {containerId, exitCode} when one is
//                      done, re-sent until LauncherAck {containerId};
//   agent -> launcher  KillContainer {containerId}: the executor is
//                      abandoned (its task killed at once, no terminal
//                      update) and ends.
// The launcher exits once the agent is gone and no executor is left in it
// (each executor gives up on its own after the recovery timeout, as
// clusternodes-executor does); a restarted agent that finds none starts
// another.
//
// Loop thread only.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <zmq.hpp>

#include "agent/executor/command_executor.hpp"
#include "common/loop.hpp"
#include "common/transport.hpp"
#include "common/wire.hpp"

namespace clusternodes::launcher {

struct LauncherFlags {
  std::string agent;    // the agent's executor endpoint, tcp://host:port
  std::string workDir;  // launcher.pid is written here
  // Each executor kills its task when the agent has been gone this long.
  std::chrono::nanoseconds recoveryTimeout = std::chrono::minutes(15);
  std::chrono::milliseconds retryInterval{500};
};

class Launcher {
 public:
  Launcher(Loop& loop, zmq::context_t& context, LauncherFlags flags);
  ~Launcher();
  Launcher(const Launcher&) = delete;
  Launcher& operator=(const Launcher&) = delete;

  // Writes the pid file, becomes the subreaper, connects and registers.
  Result<void> start();
  size_t running() const { return executors_.size(); }

 private:
  struct Container {
    std::unique_ptr<executor::CommandExecutor> executor;
    std::optional<int> exitCode;  // set once it ended; then ExecutorEnded is re-sent until acknowledged
  };

  void onMessage(std::string_view bytes);
  void dispatch(const wire::Envelope::Reader& envelope);
  // Writes <work dir>/launcher.pid; false (said once) when it cannot.
  bool writePidFile();
  void sendRegistration();
  void startExecutor(wire::StartExecutor::Reader message);
  void killContainer(const std::string& containerId);
  void executorFinished(const std::string& containerId, int exitCode);
  void sendEnded(const std::string& containerId, int exitCode);
  void sendCommandStarted(const std::string& containerId, pid_t pid);
  void tick();
  void reapOrphans();

  Loop& loop_;
  zmq::context_t& context_;
  LauncherFlags flags_;
  std::unique_ptr<ZmqSocket> control_;
  Timer tickTimer_;
  bool registered_ = false;
  pid_t agentPid_ = 0;
  std::optional<uint64_t> agentStart_;
  std::optional<std::chrono::steady_clock::time_point> agentGoneSince_;
  std::map<std::string, Container> executors_;  // by container id
  uint64_t selfStart_ = 0;
  bool pidFileWritten_ = false;
  bool pidFileWarned_ = false;
};

}  // namespace clusternodes::launcher
