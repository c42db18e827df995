// DockerContainerizer: a Docker task runs under clusternodes-docker-executor,
// which makes the container ("clusternodes-<container id>", labelled with
// the agent's id) through the Docker Engine API with the limits describe()
// hands it, and removes it when the task ends. Docker makes and measures the
// container's cgroups itself. Docker calls made here (removing containers)
// run on a worker thread, off the loop.
#pragma once

#include <memory>
#include <set>

#include "agent/containerizer/native.hpp"
#include "agent/docker/client.hpp"
#include "common/worker_thread.hpp"

namespace clusternodes::agent {

class DockerContainerizer final : public Containerizer {
 public:
  DockerContainerizer(const ContainerizerContext& context, std::string dockerSocket);
  // Logs a warning when Docker does not answer (the agent starts anyway).
  void checkDocker();

  // The name of container `containerId`'s Docker container.
  static std::string containerName(const std::string& containerId) { return "clusternodes-" + containerId; }

  LaunchResult launch(const ContainerLaunch& launch, OnExit onExit) override;
  bool recover(const RecoveredContainer& saved, OnExit onExit) override;
  // Where Docker is, the container's name and its cpu and memory limits.
  void describe(const std::string& containerId, const ContainerLimits& limits,
                wire::ExecutorContainer::Builder container) const override;
  Result<void> update(const std::string& containerId, const ContainerLimits& limits) override;
  void kill(const std::string& containerId) override;
  // The executor removes its container; if it died first, it is removed
  // here. Returns false: the agent made no cgroups for it.
  bool destroy(const std::string& containerId) override;
  bool measures(const std::string&) const override { return false; }
  Result<ContainerUsage> usage(const std::string& containerId) const override;

  // Removes the Docker containers labelled with agent `agentId` that are not
  // in `keep`.
  void removeOrphans(const AgentID& agentId, const std::set<std::string>& keep) override;

 private:
  const ContainerizerContext& context_;
  std::string socket_;
  std::unique_ptr<docker::Client> client_;
  std::unique_ptr<WorkerThread> worker_;
  std::set<std::string> started_;  // containers whose executor was started or recovered
};

}  // namespace clusternodes::agent
