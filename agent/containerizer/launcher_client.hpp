// LauncherClient: the agent's side of clusternodes-launcher
// (agent/launcher/launcher.hpp), the one long-lived process that runs the
// command executors of all native tasks with --native-launcher=shared.
//
// It starts the launcher when the agent starts (prestart) or at the next
// task when it died; after an agent restart it takes back the one named by
// <work dir>/launcher/launcher.pid (pid and start time) when the checkpoint
// has containers in it; sends it StartExecutor and KillContainer; and turns
// its ExecutorEnded into the Reaper's end of the container (reaper.hpp's
// shared containers: when the launcher's process dies, all its containers
// end), and its CommandStarted into the pid the native containerizer
// follows.
// Messages for a launcher that has not registered yet wait for it; one that
// has not registered within the executor registration timeout is killed.
//
// The launcher's control messages arrive on the agent's executor socket:
// the agent hands RegisterLauncher, ExecutorEnded and CommandStarted here,
// and only the registered launcher's are heeded. Loop thread only.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "agent/containerizer/reaper.hpp"
#include "common/loop.hpp"
#include "common/transport.hpp"
#include "common/wire.hpp"

namespace clusternodes::agent {

struct LauncherOptions {
  std::string program;           // the clusternodes-launcher binary
  std::string executorEndpoint;  // the agent's executor socket
  std::string workDir;           // the launcher's own dir (launcher.pid, launcher.log)
  std::chrono::nanoseconds recoveryTimeout{};
  // A launcher this agent started that has not registered this long after
  // is killed (its containers end with it); the next task starts another.
  std::chrono::nanoseconds registrationTimeout = std::chrono::minutes(1);
};

class LauncherClient {
 public:
  // `executors` is the agent's executor ROUTER; all outlive this.
  LauncherClient(Loop& loop, Reaper& reaper, Transport& executors, LauncherOptions options);
  ~LauncherClient();
  LauncherClient(const LauncherClient&) = delete;
  LauncherClient& operator=(const LauncherClient&) = delete;

  // Starts the executor of `taskId` for container `containerId` in the
  // launcher (started first when none runs); its end goes to `onExit`.
  // Returns the launcher's pid, which the checkpoint keeps for recovery.
  Result<pid_t> start(const std::string& containerId, const FrameworkID& frameworkId, const TaskID& taskId,
                      const std::string& sandbox, Reaper::OnExit onExit);
  // After an agent restart: takes back container `containerId`, whose
  // executor ran in launcher `pid`. False when that launcher is gone. Its
  // end is reported when the launcher, registering again, does not list it.
  bool recover(const std::string& containerId, pid_t pid, Reaper::OnExit onExit);
  // Tells the launcher to abandon the container's executor (its task is
  // killed at once); its end follows as ExecutorEnded.
  void kill(const std::string& containerId);

  // Starts the launcher now if none runs, so that the first task does not
  // wait for it (the agent calls this once recovery took back what it could).
  Result<void> prestart() { return ensureRunning(); }
  // Who hears that a container's command started, and its pid (0: it was
  // reaped).
  void onCommandStarted(std::function<void(const std::string& containerId, pid_t pid)> callback) {
    onCommandStarted_ = std::move(callback);
  }

  // From the agent's executor socket.
  void registered(const std::string& peer, wire::RegisterLauncher::Reader message);
  void executorEnded(const std::string& peer, wire::ExecutorEnded::Reader message);
  void commandStarted(const std::string& peer, wire::CommandStarted::Reader message);

  pid_t pid() const { return pid_; }

 private:
  // Whether the launcher this client knows still runs; if not, starts one.
  Result<void> ensureRunning();
  bool alive() const;
  // Kills the launcher if it has not registered within the timeout.
  void armRegistrationDeadline();
  void send(std::string bytes);

  Loop& loop_;
  Reaper& reaper_;
  Transport& executors_;
  LauncherOptions options_;
  std::unique_ptr<ChildProcess> child_;  // when this agent started it
  Timer registrationDeadline_;
  pid_t pid_ = 0;
  uint64_t startTime_ = 0;
  std::string peer_;                  // its control socket; empty until it registers
  std::vector<std::string> pending_;  // messages waiting for its registration
  std::set<std::string> recovering_;  // recovered containers it has not listed yet
  std::function<void(const std::string&, pid_t)> onCommandStarted_;
};

}  // namespace clusternodes::agent
