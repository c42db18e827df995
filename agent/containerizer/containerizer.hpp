// Containerizer: one kind of container the agent runs executors in, behind
// one interface, so that the agent's logic (launch queue, status updates,
// recovery) is the same for every kind and a test can put a double in a
// kind's place.
//
//   native              clusternodes-executor in the container's cgroups
//                       (isolator.hpp); the executor joins them to start the
//                       command (describe() tells it where they are)
//   docker              clusternodes-docker-executor, which runs the task as
//                       a Docker container named "clusternodes-<container id>"
//   framework executor  a framework's own executor program, started inside
//                       its container's cgroups; its limits follow its tasks
//                       (update())
//
// A container is named by its container id (a random uuid, also the last part
// of its sandbox's path). Its life: launch() (or recover() after an agent
// restart), then its executor's end is reported once to the `onExit` given
// there (the Reaper, reaper.hpp, is the one owner of that), then destroy().
// kill() may come at any time before destroy(). Loop thread only; none of
// these throws.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <set>
#include <string>

#include "agent/containerizer/reaper.hpp"
#include "agent/isolator.hpp"
#include "clusternodes/values.hpp"
#include "common/container_usage.hpp"
#include "common/users.hpp"
#include "common/wire.hpp"

namespace clusternodes::agent {

// What launch() starts.
struct ContainerLaunch {
  std::string containerId;
  std::string sandbox;  // created by launch()
  FrameworkID frameworkId;
  // Native and Docker: the task the agent's executor runs.
  TaskID taskId;
  // Framework executor: the executor program and its resources; the agent
  // it reports to (for its environment).
  std::optional<ExecutorInfo> executor;
  AgentID agentId;
  ContainerLimits limits;
  // The user its executor (or, for built-in executors, its task) runs as;
  // the sandbox is made theirs. Unset: the agent's own.
  std::optional<UserIds> user;
};

// What launch() returns: the executor's pid, or why it did not start.
struct LaunchResult {
  pid_t pid = 0;
  // Set when it did not start: the reason its task fails with, and what
  // went wrong (shown to the framework).
  std::optional<TaskReason> failure;
  std::string error;

  static LaunchResult failed(TaskReason reason, std::string error) { return {0, reason, std::move(error)}; }
};

// A container an earlier agent on this boot launched, from its checkpoint.
struct RecoveredContainer {
  std::string containerId;
  std::string sandbox;
  pid_t pid = 0;
  // Native and Docker: the task, to tell its executor from a process that
  // took its pid since. Framework executor: the process's start time.
  TaskID taskId;
  uint64_t startTime = 0;
};

class Containerizer {
 public:
  using OnExit = Reaper::OnExit;
  virtual ~Containerizer() = default;

  // Creates the sandbox and the container, and starts the executor in it.
  // On failure nothing runs, and what was made is removed by destroy().
  virtual LaunchResult launch(const ContainerLaunch& launch, OnExit onExit) = 0;
  // Takes back a container an earlier agent launched. False when its
  // executor is gone (onExit is then never called); destroy() it.
  virtual bool recover(const RecoveredContainer& saved, OnExit onExit) = 0;
  // Native and Docker: tells the agent's executor, in the
  // ExecutorRegistered it gets once registered, how to run its task in the
  // container (the agent adds the sandbox and the kill grace).
  virtual void describe(const std::string& containerId, const ContainerLimits& limits,
                        wire::ExecutorContainer::Builder container) const = 0;
  // Changes the container's limits.
  virtual Result<void> update(const std::string& containerId, const ContainerLimits& limits) = 0;
  // Kills the executor and everything in its container now (SIGKILL). Its
  // end is reported to onExit as usual.
  virtual void kill(const std::string& containerId) = 0;
  // Removes what is left of the container (retrying while its processes
  // exit). Returns true when the container had cgroups of its own, which
  // were destroyed.
  virtual bool destroy(const std::string& containerId) = 0;
  // Whether the agent measures the container (it has cgroups of its own;
  // Docker measures its containers itself).
  virtual bool measures(const std::string& containerId) const = 0;
  // What the container uses now; fails when it cannot be read or is not
  // measured.
  virtual Result<ContainerUsage> usage(const std::string& containerId) const = 0;
  // After a restart's recovery: removes the containers labelled with agent
  // `agentId` that this kind can find outside the checkpoint (Docker's) and
  // whose ids are not in `keep`. Never one this agent did not start.
  virtual void removeOrphans(const AgentID& agentId, const std::set<std::string>& keep) {}
};

}  // namespace clusternodes::agent
