// The containerizers whose containers are cgroups the agent makes
// (IsolatedContainerizer: native tasks and frameworks' executors), the
// native one itself, and what the native and Docker ones share: starting the
// agent's own executor for a task, and telling it from another process after
// a restart.
#pragma once

#include <map>
#include <string>

#include "agent/containerizer/containerizer.hpp"
#include "agent/containerizer/destroyer.hpp"
#include "agent/containerizer/launcher_client.hpp"

namespace clusternodes::agent {

// What every containerizer is given by the agent. All of it outlives them.
struct ContainerizerContext {
  Reaper& reaper;
  Isolator& isolator;
  Destroyer& destroyer;
  std::string launcherDir;       // where clusternodes-executor lives
  std::string executorEndpoint;  // where executors connect to the agent
  std::chrono::nanoseconds recoveryTimeout{};  // --recovery-timeout, for executors
  bool enableCfs = false;        // --cgroups-enable-cfs
  // With --native-launcher=shared, where native tasks' executors run; null:
  // one clusternodes-executor process each.
  LauncherClient* launcher = nullptr;
};

// Containers with cgroups of their own (isolator.hpp): limits, usage, kill
// and destroy are the isolator's. Subclasses launch and recover.
class IsolatedContainerizer : public Containerizer {
 public:
  explicit IsolatedContainerizer(const ContainerizerContext& context) : context_(context) {}

  Result<void> update(const std::string& containerId, const ContainerLimits& limits) override;
  void kill(const std::string& containerId) override;
  bool destroy(const std::string& containerId) override;
  bool measures(const std::string& containerId) const override;
  Result<ContainerUsage> usage(const std::string& containerId) const override;

 protected:
  // Makes the container's cgroups with `limits` (a container that fails to
  // start still has them until destroy()).
  Result<void> prepare(const std::string& containerId, const ContainerLimits& limits);
  // Remembers a container whose cgroups exist, with its executor's pid (or
  // its command's, `inside` it, when the launcher runs its executor).
  void track(const std::string& containerId, pid_t pid, bool inside = false) {
    containers_[containerId] = ProcessRoot(pid, inside);
  }
  bool tracks(const std::string& containerId) const { return containers_.count(containerId) != 0; }

  const ContainerizerContext& context_;

 private:
  std::map<std::string, ProcessRoot> containers_;  // container id -> its processes' root (0: none yet)
};

class NativeContainerizer final : public IsolatedContainerizer {
 public:
  // With a shared launcher, a container is followed by its command's pid
  // once the launcher names it (until then, by none).
  explicit NativeContainerizer(const ContainerizerContext& context);

  LaunchResult launch(const ContainerLaunch& launch, Containerizer::OnExit onExit) override;
  bool recover(const RecoveredContainer& saved, Containerizer::OnExit onExit) override;
  // With a shared launcher, tells it to abandon the executor too (its pid is
  // the launcher's, never signalled).
  void kill(const std::string& containerId) override;
  // The cgroups the executor joins to start the command, and returns from.
  void describe(const std::string& containerId, const ContainerLimits& limits,
                wire::ExecutorContainer::Builder container) const override;
};

// Creates the sandbox and starts `program` (beside the agent) as the
// executor of `launch`'s task, its output in the sandbox's executor.log.
// Creates the launch's sandbox, owned by its user when it has one; the
// error is the failure to report.
std::optional<LaunchResult> createSandbox(const ContainerLaunch& launch);

LaunchResult startTaskExecutor(const ContainerizerContext& context, const std::string& program,
                               const ContainerLaunch& launch, Containerizer::OnExit onExit);

// Whether `pid` is the executor of `taskId` (and not a process that got its
// number since); its start time when it is.
std::optional<uint64_t> executorOf(pid_t pid, const TaskID& taskId);

}  // namespace clusternodes::agent
