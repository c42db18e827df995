// Starting a framework against a TestCluster's master, for the integration
// tests.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "clusternodes/scheduler.hpp"
#include "tests/harness/cluster.hpp"
#include "tests/harness/recording_scheduler.hpp"

namespace clusternodes::testing {

// A framework named `name`, run as root.
inline FrameworkInfo frameworkInfo(const std::string& name, bool partitionAware = false) {
  FrameworkInfo info;
  info.name = name;
  info.user = "root";
  info.partitionAware = partitionAware;
  return info;
}

// Starts a driver for `scheduler` against the cluster's master and waits
// until the framework is registered. A framework without a user runs as root.
inline std::unique_ptr<SchedulerDriver> startDriver(RecordingScheduler& scheduler, const TestCluster& cluster,
                                                    FrameworkInfo info, bool implicitAcks = true) {
  if (info.user.empty()) info.user = "root";
  auto driver = SchedulerDriver::create(&scheduler, info,
                                        {.master = cluster.master(), .implicitAcknowledgements = implicitAcks});
  REQUIRE(driver->start() == DriverStatus::kRunning);
  REQUIRE(scheduler.waitForRegistration());
  return driver;
}

inline std::unique_ptr<SchedulerDriver> startDriver(RecordingScheduler& scheduler, const TestCluster& cluster,
                                                    const std::string& name) {
  return startDriver(scheduler, cluster, frameworkInfo(name));
}

// Launches, on the first offer from each agent named in `plans`, the tasks
// its plan makes from that offer. An empty agent id stands for any agent.
using Plan = std::function<std::vector<TaskInfo>(const Offer&)>;
inline void launchOnOffers(RecordingScheduler& scheduler, std::map<std::string, Plan> plans) {
  auto remaining = std::make_shared<std::map<std::string, Plan>>(std::move(plans));
  auto mutex = std::make_shared<std::mutex>();
  scheduler.onOffer = [remaining, mutex](SchedulerDriver* driver, const Offer& offer) {
    Plan plan;
    {
      std::lock_guard<std::mutex> lock(*mutex);
      auto it = remaining->find(offer.agentId.value);
      if (it == remaining->end()) it = remaining->find("");
      if (it == remaining->end()) return;
      plan = it->second;
      remaining->erase(it);
    }
    driver->launchTasks({offer.id}, plan(offer));
  };
}

// The id of the cluster's `agent`-th agent, once it has registered.
inline std::string agentId(const TestCluster& cluster, size_t agent) {
  std::string id;
  bool known = eventually([&] {
    auto s = cluster.agentState(agent);
    if (!s.is_object() || !s["registered"].get<bool>()) return false;
    id = s["id"].get<std::string>();
    return !id.empty();
  });
  REQUIRE(known);
  return id;
}

// The SDK's example executor (build/bin/example-executor) as a framework's
// executor named `id`.
inline ExecutorInfo exampleExecutor(const std::string& id = "example") {
  ExecutorInfo executor;
  executor.executorId.value = id;
  executor.name = "example executor";
  executor.command.shell = false;
  executor.command.arguments = {binary("example-executor")};
  executor.resources = *Resources::parse("cpus:0.1;mem:32");
  return executor;
}

// A task run by `executor`, doing what `data` says (see example-executor).
inline TaskInfo executorTask(const std::string& id, const Offer& offer, const std::string& data,
                             const ExecutorInfo& executor = exampleExecutor()) {
  TaskInfo task;
  task.taskId.value = id;
  task.name = id;
  task.agentId = offer.agentId;
  task.resources = *Resources::parse("cpus:0.2;mem:32");
  task.executor = executor;
  task.data = data;
  return task;
}

// The entry of `list` ("tasks", "agents") in the master's /state whose id
// is `id`, or null.
inline nlohmann::json masterEntry(const TestCluster& cluster, const char* list, const std::string& id) {
  auto state = cluster.state();
  if (!state.is_object()) return nullptr;
  for (const auto& entry : state[list]) {
    if (entry["id"] == id) return entry;
  }
  return nullptr;
}

// The first terminal status of `taskId`.
inline std::optional<TaskStatus> terminalStatus(RecordingScheduler& scheduler, const std::string& taskId,
                                                std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  std::optional<TaskStatus> found;
  scheduler.waitFor(
      [&] {
        for (const auto& status : scheduler.statusesOf(TaskID{taskId})) {
          if (isTerminal(status.state)) {
            found = status;
            return true;
          }
        }
        return false;
      },
      timeout);
  return found;
}

}  // namespace clusternodes::testing
