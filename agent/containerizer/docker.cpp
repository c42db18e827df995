#include "agent/containerizer/docker.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "agent/cgroups.hpp"

namespace clusternodes::agent {

DockerContainerizer::DockerContainerizer(const ContainerizerContext& context, std::string dockerSocket)
    : context_(context),
      socket_(std::move(dockerSocket)),
      client_(std::make_unique<docker::Client>(socket_)),
      worker_(std::make_unique<WorkerThread>()) {}

void DockerContainerizer::checkDocker() {
  // Docker may come up after the agent: its tasks fail with the reason
  // until it does.
  if (auto ping = client_->ping(); !ping) {
    spdlog::warn("Docker does not answer on {} ({}); Docker tasks will fail until it does", socket_,
                 ping.error().message);
  }
}

LaunchResult DockerContainerizer::launch(const ContainerLaunch& launch, OnExit onExit) {
  if (auto failed = createSandbox(launch)) return *failed;
  auto started = startTaskExecutor(context_, "clusternodes-docker-executor", launch, std::move(onExit));
  if (!started.failure) started_.insert(launch.containerId);
  return started;
}

bool DockerContainerizer::recover(const RecoveredContainer& saved, OnExit onExit) {
  if (saved.pid > 0) started_.insert(saved.containerId);
  auto startTime = executorOf(saved.pid, saved.taskId);
  if (!startTime) return false;
  context_.reaper.adopt(saved.containerId, saved.pid, *startTime, std::move(onExit));
  return true;
}

void DockerContainerizer::describe(const std::string& containerId, const ContainerLimits& limits,
                                   wire::ExecutorContainer::Builder container) const {
  auto docker = container.initDocker();
  docker.setSocket(socket_);
  docker.setContainerName(containerName(containerId));
  docker.setCpuShares(cpuShares(limits.cpus));
  if (limits.cpuQuota) {
    docker.setCpuQuotaUs(static_cast<int64_t>(cfsQuotaUs(*limits.cpuQuota)));
    docker.setCpuPeriodUs(static_cast<int64_t>(kCfsPeriodUs));
  }
  docker.setMemoryBytes(limits.memBytes);
}

Result<void> DockerContainerizer::update(const std::string&, const ContainerLimits&) {
  return invalid("a Docker task's limits do not change");
}

void DockerContainerizer::kill(const std::string& containerId) { context_.reaper.kill(containerId); }

bool DockerContainerizer::destroy(const std::string& containerId) {
  context_.reaper.forget(containerId);
  if (started_.erase(containerId) == 0) return false;
  worker_->post([client = client_.get(), name = containerName(containerId)] {
    auto removed = client->remove(name);
    if (removed.ok()) spdlog::info("removed container {}, left by its executor", name);
  });
  return false;
}

Result<ContainerUsage> DockerContainerizer::usage(const std::string& containerId) const {
  return invalid("Docker measures container " + containerName(containerId) + " itself");
}

void DockerContainerizer::removeOrphans(const AgentID& agentId, const std::set<std::string>& keep) {
  if (agentId.empty()) return;
  std::set<std::string> known;
  for (const auto& id : keep) known.insert(containerName(id));
  worker_->post([client = client_.get(), id = agentId.value, known] {
    auto listed = client->list({{"clusternodes.agent-id", id}});
    if (!listed) {
      spdlog::warn("cannot list this agent's Docker containers: {}", listed.error().message);
      return;
    }
    for (const auto& container : *listed) {
      if (known.count(container.name) != 0) continue;
      auto removed = client->remove(container.id);
      if (removed) {
        spdlog::info("removed orphan container {} (task {})", container.name,
                     container.labels.count("clusternodes.task-id") ? container.labels.at("clusternodes.task-id") : "");
      } else {
        spdlog::warn("cannot remove orphan container {}: {}", container.name, removed.error().message);
      }
    }
  });
}

}  // namespace clusternodes::agent
