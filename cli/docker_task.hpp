// The Docker task that `clusternodes run` describes, shared by the
// foreground run (run_command.cpp) and the service scheduler that keeps
// copies of it running (service_scheduler.cpp): checking the options,
// building the TaskInfo and placing it in an offer's resources.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "clusternodes/resources.hpp"
#include "clusternodes/result.hpp"
#include "clusternodes/values.hpp"

namespace clusternodes::cli {

struct PortRequest {
  uint32_t containerPort = 0;
  std::string protocol;  // "tcp" or "udp"
};

// The options, checked.
struct Plan {
  std::map<std::string, std::string> environment;
  std::vector<PortRequest> ports;
};

// Checks --image, --cpus, --mem, --timeout, --env and --port; the error is
// the one-line reason for an exit status of 2.
Result<Plan> checkRunOptions(const RunOptions& options);

// The task as the options describe it (command, environment, image), with
// neither id, name, agent nor resources yet.
TaskInfo dockerTaskTemplate(const RunOptions& options, const Plan& plan);

// What the task asks for besides its ports, for messages and offers alike.
Resources scalarResources(const RunOptions& options);

// `task` placed on `agentId` within `available` (what is left of an offer):
// with the scalars, a host port for each container port, and the port
// mappings; nullopt when `available` lacks any of them.
std::optional<TaskInfo> placeTask(const TaskInfo& task, const Resources& scalars,
                                  const std::vector<PortRequest>& ports, const AgentID& agentId,
                                  const Resources& available);

// "task ID on agent HOST (container port 8080/tcp at host port 31004)".
std::string describeLaunch(const TaskInfo& task, const std::string& hostname);

}  // namespace clusternodes::cli
