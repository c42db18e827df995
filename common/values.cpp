#include "clusternodes/values.hpp"

#include <array>
#include <cctype>
#include <ostream>
#include <utility>

namespace clusternodes {

namespace {

constexpr std::array<std::pair<TaskState, const char*>, 13> kStateNames{{
    {TaskState::kStaging, "TASK_STAGING"},
    {TaskState::kStarting, "TASK_STARTING"},
    {TaskState::kRunning, "TASK_RUNNING"},
    {TaskState::kKilling, "TASK_KILLING"},
    {TaskState::kFinished, "TASK_FINISHED"},
    {TaskState::kFailed, "TASK_FAILED"},
    {TaskState::kKilled, "TASK_KILLED"},
    {TaskState::kError, "TASK_ERROR"},
    {TaskState::kLost, "TASK_LOST"},
    {TaskState::kDropped, "TASK_DROPPED"},
    {TaskState::kUnreachable, "TASK_UNREACHABLE"},
    {TaskState::kGone, "TASK_GONE"},
    {TaskState::kUnknown, "TASK_UNKNOWN"},
}};

constexpr std::array<std::pair<TaskReason, const char*>, 22> kReasonNames{{
    {TaskReason::kNone, "REASON_NONE"},
    {TaskReason::kCommandExited, "REASON_COMMAND_EXITED"},
    {TaskReason::kCommandSignaled, "REASON_COMMAND_SIGNALED"},
    {TaskReason::kKilledByFramework, "REASON_KILLED_BY_FRAMEWORK"},
    {TaskReason::kInvalidTask, "REASON_INVALID_TASK"},
    {TaskReason::kExecutorTerminated, "REASON_EXECUTOR_TERMINATED"},
    {TaskReason::kExecutorFailedToStart, "REASON_EXECUTOR_FAILED_TO_START"},
    {TaskReason::kExecutorRegistrationTimeout, "REASON_EXECUTOR_REGISTRATION_TIMEOUT"},
    {TaskReason::kAgentRemoved, "REASON_AGENT_REMOVED"},
    {TaskReason::kAgentUnreachable, "REASON_AGENT_UNREACHABLE"},
    {TaskReason::kAgentRestarted, "REASON_AGENT_RESTARTED"},
    {TaskReason::kFrameworkRemoved, "REASON_FRAMEWORK_REMOVED"},
    {TaskReason::kReconciliation, "REASON_RECONCILIATION"},
    {TaskReason::kTaskUnknown, "REASON_TASK_UNKNOWN"},
    {TaskReason::kInvalidOffers, "REASON_INVALID_OFFERS"},
    {TaskReason::kMemoryLimit, "REASON_MEMORY_LIMIT"},
    {TaskReason::kCommandNotFound, "REASON_COMMAND_NOT_FOUND"},
    {TaskReason::kCommandNotExecutable, "REASON_COMMAND_NOT_EXECUTABLE"},
    {TaskReason::kContainerLaunchFailed, "REASON_CONTAINER_LAUNCH_FAILED"},
    {TaskReason::kImageUnavailable, "REASON_IMAGE_UNAVAILABLE"},
    {TaskReason::kContainerizerUnsupported, "REASON_CONTAINERIZER_UNSUPPORTED"},
    {TaskReason::kTaskUnauthorized, "REASON_TASK_UNAUTHORIZED"},
}};

template <typename Enum, size_t N>
const char* nameOf(const std::array<std::pair<Enum, const char*>, N>& table, Enum value,
                   const char* fallback) {
  for (const auto& [e, name] : table) {
    if (e == value) return name;
  }
  return fallback;
}

template <typename Enum, size_t N>
std::optional<Enum> valueOf(const std::array<std::pair<Enum, const char*>, N>& table,
                            std::string_view text) {
  for (const auto& [e, name] : table) {
    if (text == name) return e;
  }
  return std::nullopt;
}

}  // namespace

const char* toString(TaskState state) {
  // Out-of-range enum values (e.g. from a bad cast) read as unknown.
  return nameOf(kStateNames, state, "TASK_UNKNOWN");
}

bool isTerminal(TaskState state) {
  switch (state) {
    case TaskState::kStaging:
    case TaskState::kStarting:
    case TaskState::kRunning:
    case TaskState::kKilling:
    case TaskState::kUnreachable:
      return false;
    case TaskState::kFinished:
    case TaskState::kFailed:
    case TaskState::kKilled:
    case TaskState::kError:
    case TaskState::kLost:
    case TaskState::kDropped:
    case TaskState::kGone:
    case TaskState::kUnknown:
      return true;
  }
  return true;
}

const char* toString(TaskReason reason) {
  return nameOf(kReasonNames, reason, "REASON_NONE");
}

std::optional<TaskState> parseTaskState(std::string_view text) {
  return valueOf(kStateNames, text);
}

std::optional<TaskReason> parseTaskReason(std::string_view text) {
  return valueOf(kReasonNames, text);
}

std::ostream& operator<<(std::ostream& out, TaskState state) { return out << toString(state); }
std::ostream& operator<<(std::ostream& out, TaskReason reason) { return out << toString(reason); }

Result<void> validateUser(std::string_view user) {
  std::string quoted = "'" + std::string(user) + "'";
  if (user.empty() || user.size() > 32) return invalid("user " + quoted + " is not 1 to 32 characters");
  std::string_view name = user.back() == '$' ? user.substr(0, user.size() - 1) : user;
  bool digitsOnly = true;
  for (unsigned char c : name) {
    if (!(std::isalnum(c) || c == '_' || c == '-' || c == '.')) {
      return invalid("user " + quoted + " has a character outside [A-Za-z0-9._-]");
    }
    digitsOnly = digitsOnly && std::isdigit(c);
  }
  if (name.empty() || name.front() == '-') return invalid("user " + quoted + " starts with '-' or '$'");
  if (digitsOnly) return invalid("user " + quoted + " is all digits (name the user, not the uid)");
  return {};
}

std::vector<std::string> subscribedRoles(const FrameworkInfo& info) {
  if (!info.roles.empty()) return info.roles;
  return {info.role.empty() ? std::string(kDefaultRole) : info.role};
}

}  // namespace clusternodes
