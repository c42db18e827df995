// Reaper: the one owner of the agent's executor processes and of noticing
// their end, whoever started them.
//
// A container's executor is either this agent's child (spawn(): its exit is
// reaped through the loop) or a process an agent before this one started
// and this one took back after a restart (adopt(): it is not this agent's
// child, so its end is noticed by polling, every 500 ms, whether the process
// with its pid still has its start time). Either way `onExit` runs once,
// with the exit status when there is one (nullopt for an adopted process,
// whose status nobody can read). Containers are named by their container id.
//
// A third kind: an executor that runs inside the agent's launcher
// (agent/launcher/launcher.hpp) has no process of its own. shared() watches
// the launcher's process for it (polled as an adopted one: when the launcher
// dies, all its containers have ended), and the launcher's word that one
// executor ended comes in through ended(). kill() never signals the
// launcher.
//
// Destroying the Reaper stops watching, and kills nothing: executors outlive
// the agent. Loop thread only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "clusternodes/result.hpp"
#include "common/clock.hpp"
#include "common/loop.hpp"
#include "common/process.hpp"

namespace clusternodes::agent {

class Reaper {
 public:
  using OnExit = std::function<void(std::optional<ExitStatus>)>;

  // Spawned processes are watched on `loop`; adopted ones polled on `time`.
  Reaper(Loop& loop, TimeSource& time);
  ~Reaper();
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;

  // Starts `options` as container `id`'s executor. REQUIRES: no process is
  // watched for `id`.
  Result<pid_t> spawn(const std::string& id, const SpawnOptions& options, OnExit onExit);
  // Watches `pid`, started at `startTime` (processStartTime) by an earlier
  // agent, as container `id`'s executor.
  void adopt(const std::string& id, pid_t pid, uint64_t startTime, OnExit onExit);
  // Watches container `id`'s executor, run inside the launcher `pid`
  // (started at `startTime`).
  void shared(const std::string& id, pid_t pid, uint64_t startTime, OnExit onExit);
  // A shared container's executor ended with `status` (the launcher said so).
  void ended(const std::string& id, std::optional<ExitStatus> status);
  // Stops watching `id` without calling its onExit (the container is being
  // destroyed, or was never going to be kept).
  void forget(const std::string& id);

  // Whether `id`'s executor is watched and has not been reported ended.
  bool running(const std::string& id) const { return processes_.count(id) != 0; }
  // The start time of `id`'s executor; 0 when unknown.
  uint64_t startTime(const std::string& id) const;
  // Sends SIGKILL to `id`'s executor and its process group, if it still runs
  // (a process that took its pid since is left alone).
  void kill(const std::string& id);

 private:
  struct Process {
    pid_t pid = 0;
    uint64_t startTime = 0;
    std::unique_ptr<ChildProcess> child;  // null for an adopted process
    bool shared = false;                  // pid is the launcher's, not the executor's
    OnExit onExit;
  };
  void exited(const std::string& id, pid_t pid, std::optional<ExitStatus> status);
  void pollAdopted();

  Loop& loop_;
  std::map<std::string, Process> processes_;
  Timer adoptedWatch_;
};

}  // namespace clusternodes::agent
