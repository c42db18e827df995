#include "cli/docker_task.hpp"

#include <cmath>

namespace clusternodes::cli {
namespace {

// "8080", "8080/tcp" or "53/udp".
Result<PortRequest> parsePort(const std::string& text) {
  const Error bad = invalid("--port: '" + text + "' is not CONTAINER_PORT[/tcp|/udp] with a port from 1 to 65535");
  PortRequest port;
  auto slash = text.find('/');
  std::string number = text.substr(0, slash);
  port.protocol = slash == std::string::npos ? "tcp" : text.substr(slash + 1);
  if (port.protocol != "tcp" && port.protocol != "udp") return bad;
  if (number.empty() || number.size() > 5 || number.find_first_not_of("0123456789") != std::string::npos) return bad;
  unsigned long value = std::stoul(number);
  if (value < 1 || value > 65535) return bad;
  port.containerPort = static_cast<uint32_t>(value);
  return port;
}

}  // namespace

Result<Plan> checkRunOptions(const RunOptions& options) {
  if (options.image.empty()) return invalid("give the image to run: --image=IMAGE");
  if (!std::isfinite(options.cpus) || options.cpus <= 0) return invalid("--cpus must be a number above 0");
  if (!std::isfinite(options.mem) || options.mem <= 0) return invalid("--mem must be a number of MiB above 0");
  if (!std::isfinite(options.timeoutSeconds) || options.timeoutSeconds < 0) {
    return invalid("--timeout must be a number of seconds, 0 or more");
  }
  Plan plan;
  for (const auto& pair : options.env) {
    auto equals = pair.find('=');
    if (equals == std::string::npos || equals == 0) return invalid("--env: '" + pair + "' is not NAME=VALUE");
    plan.environment[pair.substr(0, equals)] = pair.substr(equals + 1);
  }
  for (const auto& text : options.ports) {
    auto port = parsePort(text);
    if (!port) return port.error();
    plan.ports.push_back(*port);
  }
  return plan;
}

TaskInfo dockerTaskTemplate(const RunOptions& options, const Plan& plan) {
  TaskInfo task;
  if (options.command.empty()) {
    task.command.shell = true;  // with no value: the image's own entrypoint and command
  } else {
    task.command.shell = false;
    task.command.arguments = options.command;
  }
  task.command.environment = plan.environment;
  task.docker = DockerInfo{};
  task.docker->image = options.image;
  task.docker->forcePull = options.forcePull;
  return task;
}

Resources scalarResources(const RunOptions& options) {
  Resources wanted;
  wanted.addScalar("cpus", options.cpus);
  wanted.addScalar("mem", options.mem);
  return wanted;
}

std::optional<TaskInfo> placeTask(const TaskInfo& task, const Resources& scalars,
                                  const std::vector<PortRequest>& ports, const AgentID& agentId,
                                  const Resources& available) {
  std::vector<Range> chosen;
  const RangeSet offered = available.ranges("ports", kDefaultRole);
  for (const auto& range : offered.ranges()) {
    for (uint64_t port = range.begin; port <= range.end && chosen.size() < ports.size(); ++port) {
      chosen.push_back({port, port});
    }
  }
  if (chosen.size() < ports.size()) return std::nullopt;
  Resources resources = scalars;
  if (!chosen.empty()) resources.addRanges("ports", RangeSet(chosen));
  if (!available.contains(resources)) return std::nullopt;
  TaskInfo placed = task;
  placed.agentId = agentId;
  placed.resources = resources;
  for (size_t i = 0; i < ports.size(); ++i) {
    placed.docker->portMappings.push_back(
        {static_cast<uint32_t>(chosen[i].begin), ports[i].containerPort, ports[i].protocol});
  }
  return placed;
}

std::string describeLaunch(const TaskInfo& task, const std::string& hostname) {
  std::string text = "task " + task.taskId.value + " on agent " + hostname;
  std::string ports;
  for (const auto& mapping : task.docker->portMappings) {
    ports += (ports.empty() ? "" : ", ") + std::string("container port ") + std::to_string(mapping.containerPort) +
             "/" + mapping.protocol + " at host port " + std::to_string(mapping.hostPort);
  }
  return ports.empty() ? text : text + " (" + ports + ")";
}

}  // namespace clusternodes::cli
