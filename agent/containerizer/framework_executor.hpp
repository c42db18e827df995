// FrameworkExecutorContainerizer: a framework's own executor program
// (ExecutorInfo's command), started inside its container's cgroups with the
// agent's address and its ids in its environment (CLUSTERNODES_AGENT_*,
// CLUSTERNODES_FRAMEWORK_ID, CLUSTERNODES_EXECUTOR_ID, CLUSTERNODES_SANDBOX,
// CLUSTERNODES_RECOVERY_TIMEOUT_MS) and its stdout and stderr in its
// sandbox. The agent grows and shrinks its limits with its tasks (update()).
#pragma once

#include "agent/containerizer/native.hpp"

namespace clusternodes::agent {

class FrameworkExecutorContainerizer final : public IsolatedContainerizer {
 public:
  using IsolatedContainerizer::IsolatedContainerizer;

  // REQUIRES: launch.executor.
  LaunchResult launch(const ContainerLaunch& launch, Containerizer::OnExit onExit) override;
  // Alive when the process with its pid still has its start time.
  bool recover(const RecoveredContainer& saved, Containerizer::OnExit onExit) override;
  // Nothing: a framework's executor runs its tasks its own way.
  void describe(const std::string&, const ContainerLimits&, wire::ExecutorContainer::Builder) const override {}
};

}  // namespace clusternodes::agent
