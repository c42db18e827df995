#include "master/validation.hpp"

#include <cctype>
#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>

namespace clusternodes::master {
namespace {

// Whether `text` is well-formed UTF-8 (no overlong forms, surrogates or
// code points past U+10FFFF) without control characters (C0, DEL, C1).
bool cleanUtf8(std::string_view text) {
  static constexpr uint32_t kLeast[] = {0, 0x80, 0x800, 0x10000};
  size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    size_t extra = c < 0x80 ? 0 : c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 4;
    if (extra == 4 || c > 0xf4 || i + extra >= text.size()) return false;  // a stray or cut-off sequence
    uint32_t point = extra == 0 ? c : c & (0x3fu >> extra);
    for (size_t k = 1; k <= extra; ++k) {
      auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) return false;
      point = (point << 6) | (next & 0x3f);
    }
    if (point < kLeast[extra] || point > 0x10ffff || (point >= 0xd800 && point <= 0xdfff)) return false;
    if (point < 0x20 || (point >= 0x7f && point < 0xa0)) return false;
    i += extra + 1;
  }
  return true;
}

// A string a peer sent that is shown and stored (a name, a host name):
// at most `max` bytes of UTF-8 text without control characters.
Result<void> checkText(const std::string& what, const std::string& text, size_t max) {
  if (text.size() > max) return invalid(what + " is longer than " + std::to_string(max) + " bytes");
  if (!cleanUtf8(text)) return invalid(what + " is not UTF-8 text without control characters");
  return {};
}

bool printableId(const std::string& id) {
  for (unsigned char c : id) {
    if (!std::isprint(c) || c == '/' || c == ' ') return false;
  }
  return id != "." && id != "..";
}

Result<void> validateDocker(const DockerInfo& docker, const Resources& resources) {
  if (docker.image.empty()) return invalid("the task's Docker image is empty");
  if (docker.image.size() > 512) return invalid("the task's Docker image name is longer than 512 characters");
  for (unsigned char c : docker.image) {
    if (!std::isgraph(c)) return invalid("the Docker image '" + docker.image + "' has a space or a control character");
  }
  RangeSet ports = resources.ports();
  std::set<std::pair<uint32_t, std::string>> published;
  for (const auto& mapping : docker.portMappings) {
    std::string which = std::to_string(mapping.hostPort) + ":" + std::to_string(mapping.containerPort) + "/" +
                        mapping.protocol;
    if (mapping.protocol != "tcp" && mapping.protocol != "udp") {
      return invalid("port mapping " + which + ": the protocol is neither tcp nor udp");
    }
    if (mapping.containerPort < 1 || mapping.containerPort > 65535) {
      return invalid("port mapping " + which + ": the container port is outside 1..65535");
    }
    if (!ports.contains(mapping.hostPort)) {
      return invalid("port mapping " + which + ": host port " + std::to_string(mapping.hostPort) +
                     " is not among the task's ports (" + ports.toString() + ")");
    }
    if (!published.insert({mapping.hostPort, mapping.protocol}).second) {
      return invalid("port mapping " + which + ": host port " + std::to_string(mapping.hostPort) + "/" +
                     mapping.protocol + " is mapped twice");
    }
  }
  return {};
}

// A command's strings reach execve as C strings, and its environment as
// NAME=VALUE entries: no NUL anywhere, no '=' in a name.
Result<void> validateCommand(const CommandInfo& command, const std::string& whose) {
  auto hasNul = [](const std::string& s) { return s.find('\0') != std::string::npos; };
  if (hasNul(command.value)) return invalid(whose + " command holds a NUL byte");
  for (const auto& argument : command.arguments) {
    if (hasNul(argument)) return invalid(whose + " command's arguments hold a NUL byte");
  }
  for (const auto& [name, value] : command.environment) {
    if (name.empty() || name.find('=') != std::string::npos || hasNul(name)) {
      return invalid(whose + " environment variable name '" + name + "' is empty or holds '=' or a NUL byte");
    }
    if (hasNul(value)) return invalid(whose + " environment variable " + name + " holds a NUL byte");
  }
  return {};
}

}  // namespace

namespace {

bool sameCommand(const CommandInfo& a, const CommandInfo& b) {
  return a.value == b.value && a.shell == b.shell && a.arguments == b.arguments && a.environment == b.environment &&
         a.user == b.user;
}

Result<void> validateExecutor(const TaskInfo& task, const ExecutorInfo* running) {
  const ExecutorInfo& executor = *task.executor;
  const std::string& id = executor.executorId.value;
  if (id.empty()) return invalid("executor id is empty");
  if (id.size() > 256) return invalid("executor id is longer than 256 characters");
  if (!printableId(id)) return invalid("executor id '" + id + "' has a space, a '/' or a non-printable character");
  if (task.docker) return invalid("a task run by executor '" + id + "' cannot also be a Docker task");
  if (executor.command.shell ? executor.command.value.empty()
                             : executor.command.value.empty() && executor.command.arguments.empty()) {
    return invalid("executor '" + id + "' has an empty command");
  }
  if (running != nullptr &&
      (!sameCommand(running->command, executor.command) || !(running->resources == executor.resources))) {
    return invalid("executor '" + id + "' already runs on this agent with another command or other resources");
  }
  return {};
}

}  // namespace

Result<void> validateTask(const TaskInfo& task, const AgentID& offersAgent, const Resources& remaining,
                          const std::set<TaskID>& usedIds, const ExecutorInfo* running) {
  const std::string& id = task.taskId.value;
  if (id.empty()) return invalid("task id is empty");
  if (id.size() > 256) return invalid("task id is longer than 256 characters");
  if (!printableId(id)) return invalid("task id '" + id + "' has a space, a '/' or a non-printable character");
  if (auto valid = checkText("task name", task.name, 1024); !valid) return valid;
  if (usedIds.count(task.taskId) != 0) return invalid("task id '" + id + "' is already in use");
  if (task.agentId != offersAgent) {
    return invalid("task names agent '" + task.agentId.value + "' but its offers are for agent '" +
                   offersAgent.value + "'");
  }
  if (task.executor) {
    if (auto valid = validateExecutor(task, running); !valid) return valid;
    if (!task.executor->command.user.empty()) {
      if (auto valid = validateUser(task.executor->command.user); !valid) return invalid("executor's " + valid.error().message);
    }
  } else if (!task.docker && (task.command.shell ? task.command.value.empty() : task.command.arguments.empty())) {
    // A container may run its image's own command; a framework's executor
    // knows what to do from the task's data.
    return invalid("task has an empty command");
  }
  if (task.docker) {
    if (auto valid = validateDocker(*task.docker, task.resources); !valid) return valid;
  }
  if (auto valid = validateCommand(task.command, "task's"); !valid) return valid;
  if (task.executor) {
    if (auto valid = validateCommand(task.executor->command, "executor's"); !valid) return valid;
  }
  if (!task.command.user.empty()) {
    if (auto valid = validateUser(task.command.user); !valid) return invalid("task's " + valid.error().message);
  }
  if (task.resources.empty()) return invalid("task asks for no resources");
  if (task.resources.cpus() <= 0 && task.resources.mem() <= 0) {
    return invalid("task asks for neither cpus nor mem");
  }
  if (!remaining.contains(task.resources)) {
    return invalid("task asks for " + task.resources.toString() + " but the offers hold only " +
                   remaining.toString());
  }
  if (task.executor && running == nullptr && !remaining.contains(task.resources + task.executor->resources)) {
    return invalid("task asks for " + task.resources.toString() + " and its executor '" +
                   task.executor->executorId.value + "', which this starts, for " +
                   task.executor->resources.toString() + ", but the offers hold only " + remaining.toString());
  }
  if (task.killGracePeriodSeconds &&
      !(*task.killGracePeriodSeconds >= 0 && *task.killGracePeriodSeconds <= kMaxKillGracePeriodSeconds)) {
    return invalid("kill grace period " + std::to_string(*task.killGracePeriodSeconds) + " s is not between 0 and " +
                   std::to_string(static_cast<int>(kMaxKillGracePeriodSeconds)) + " s");
  }
  if (task.cpuLimit && !std::isfinite(*task.cpuLimit)) return invalid("cpu limit is not a finite number");
  if (task.cpuLimit && !(*task.cpuLimit >= task.resources.cpus())) {
    return invalid("cpu limit " + std::to_string(*task.cpuLimit) + " is below the task's cpus (" +
                   std::to_string(task.resources.cpus()) + ")");
  }
  return {};
}

Result<void> validateFrameworkInfo(const FrameworkInfo& info) {
  if (info.name.empty()) return invalid("framework name is empty");
  if (info.roles.empty() && info.role.empty()) return invalid("framework role is empty");
  // Shown in /state, the CLI and the UI, and kept in the registry.
  if (auto valid = checkText("framework name", info.name, 1024); !valid) return valid;
  if (auto valid = checkText("framework hostname", info.hostname, 255); !valid) return valid;
  if (auto valid = checkText("framework web UI URL", info.webuiUrl, 2048); !valid) return valid;
  if (auto valid = checkText("framework principal", info.principal, 128); !valid) return valid;
  // A failing-over framework names its id; agents make directories of it.
  if (info.id.value.size() > 256) return invalid("framework id is longer than 256 characters");
  if (!printableId(info.id.value)) {
    return invalid("framework id '" + info.id.value + "' has a space, a '/' or a non-printable character");
  }
  if (!(info.failoverTimeoutSeconds >= 0) || !std::isfinite(info.failoverTimeoutSeconds)) {
    return invalid("framework failover timeout " + std::to_string(info.failoverTimeoutSeconds) +
                   " is not a finite number of seconds, 0 or more");
  }
  if (!info.user.empty()) {
    if (auto valid = validateUser(info.user); !valid) return invalid("framework " + valid.error().message);
  }
  std::vector<std::string> roles = subscribedRoles(info);
  if (roles.size() > 64) return invalid("a framework may subscribe to at most 64 roles");
  for (size_t i = 0; i < roles.size(); ++i) {
    if (auto valid = validateRole(roles[i]); !valid) return invalid("framework " + valid.error().message);
    for (size_t j = 0; j < i; ++j) {
      if (roles[j] == roles[i]) return invalid("framework role '" + roles[i] + "' is listed twice");
    }
  }
  return {};
}

}  // namespace clusternodes::master
