// Plain value types shared by the framework SDK, the master and the agent.
//
// These are what a framework author handles: ids, FrameworkInfo, Offer,
// TaskInfo, TaskStatus, Filters. They hide the wire format (Cap'n Proto)
// entirely; conversion lives in the daemons and the SDK, not here.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "clusternodes/resources.hpp"

namespace clusternodes {

// Typed string ids, so an AgentID cannot be passed where a TaskID is meant.
template <typename Tag>
struct Id {
  std::string value;
  bool empty() const { return value.empty(); }
  auto operator<=>(const Id&) const = default;
};
struct FrameworkIdTag;
struct AgentIdTag;
struct TaskIdTag;
struct OfferIdTag;
struct ExecutorIdTag;
using FrameworkID = Id<FrameworkIdTag>;
using AgentID = Id<AgentIdTag>;
using TaskID = Id<TaskIdTag>;
using OfferID = Id<OfferIdTag>;
using ExecutorID = Id<ExecutorIdTag>;

// Task states, as in Mesos. Terminal: FINISHED, FAILED, KILLED, ERROR, LOST,
// DROPPED, GONE, UNKNOWN.
enum class TaskState {
  kStaging,
  kStarting,
  kRunning,
  kKilling,
  kFinished,
  kFailed,
  kKilled,
  kError,
  kLost,
  kDropped,
  kUnreachable,
  kGone,
  kUnknown,
};
const char* toString(TaskState state);  // "TASK_RUNNING"
bool isTerminal(TaskState state);

// Why a status update was sent; machine readable, beside the message.
enum class TaskReason {
  kNone,
  kCommandExited,          // the command exited (code in TaskStatus::exitCode)
  kCommandSignaled,        // the command was killed by a signal
  kKilledByFramework,
  kInvalidTask,            // TASK_ERROR: the task failed validation
  kExecutorTerminated,     // the executor died before the task ended
  kExecutorFailedToStart,
  kExecutorRegistrationTimeout,  // the executor did not connect back in time
  kAgentRemoved,           // the agent was lost or removed
  kAgentUnreachable,
  kAgentRestarted,
  kFrameworkRemoved,
  kReconciliation,
  kTaskUnknown,
  kInvalidOffers,
  kMemoryLimit,            // the kernel killed it at its memory limit
  kCommandNotFound,        // the command does not exist
  kCommandNotExecutable,   // the command exists but may not be executed
  kContainerLaunchFailed,  // the agent could not set up its isolation
  kImageUnavailable,       // the container's image is not present and could not be pulled
  kContainerizerUnsupported,  // the agent does not run this kind of task (e.g. Docker)
  kTaskUnauthorized,       // TASK_ERROR: the ACLs do not let its framework launch it
};
const char* toString(TaskReason reason);  // "REASON_COMMAND_EXITED"
// Inverses of the two toString functions above; nullopt for unknown text.
std::optional<TaskState> parseTaskState(std::string_view text);
std::optional<TaskReason> parseTaskReason(std::string_view text);
std::ostream& operator<<(std::ostream& out, TaskState state);
std::ostream& operator<<(std::ostream& out, TaskReason reason);

enum class TaskSource { kMaster, kAgent, kExecutor };

struct FrameworkInfo {
  std::string name;
  // The user its tasks run as unless a task names its own (CommandInfo::
  // user). The SDK's driver fills in the user it runs as when empty.
  std::string user;
  std::string role = "*";  // the role the framework's offers come from
  // Several roles at once ("eng/ml", "ops"): when not empty this is the list
  // and `role` is ignored. Each offer then comes from one of them
  // (Offer::allocationRole).
  std::vector<std::string> roles;
  std::string principal;
  FrameworkID id;          // set when re-registering after a failover
  double failoverTimeoutSeconds = 0;  // keep tasks this long after a disconnect
  bool partitionAware = false;  // wants TASK_UNREACHABLE rather than TASK_LOST
  std::string hostname;
  // Where the framework's own web UI or API answers ("http://host:port"), for
  // operators and tools that find the framework through the master.
  std::string webuiUrl;
};

struct Attribute {
  std::string name;
  std::string value;
};

// Checks a user name that tasks may run as (FrameworkInfo::user,
// CommandInfo::user): 1 to 32 of [A-Za-z0-9._-], not starting with '-' and
// not all digits, optionally ending in '$', as useradd takes them.
Result<void> validateUser(std::string_view user);

// The roles a framework subscribes to: `roles`, or `role` alone.
std::vector<std::string> subscribedRoles(const FrameworkInfo& info);

struct Offer {
  OfferID id;
  FrameworkID frameworkId;
  AgentID agentId;
  std::string hostname;
  Resources resources;
  std::vector<Attribute> attributes;
  std::string allocationRole = "*";  // the framework's role this offer is for
};

struct CommandInfo {
  std::string value;                         // run with /bin/sh -c when shell
  bool shell = true;
  std::vector<std::string> arguments;        // argv when !shell (argv[0] first)
  std::map<std::string, std::string> environment;
  // The user the task runs as, instead of its framework's (FrameworkInfo::
  // user). Empty: the framework's.
  std::string user;
};

// A host port published as a container port (Docker tasks).
struct PortMapping {
  uint32_t hostPort = 0;       // one of the task's `ports`
  uint32_t containerPort = 0;  // 1..65535
  std::string protocol = "tcp";  // "tcp" or "udp"
};

// Runs the task as a Docker container on an agent with the docker
// containerizer. The task's command then means:
//   shell, value set:     /bin/sh -c value in the container;
//   shell, value empty:   the image's own entrypoint and command;
//   not shell:            `arguments` replace the image's command (as in
//                         `docker run IMAGE ARGS...`), and `value`, when set,
//                         replaces its entrypoint.
// The environment is passed to the container; the sandbox is mounted at
// /mnt/clusternodes/sandbox. The task's cpus, cpu limit and mem limit the
// container as they would a native task.
struct DockerInfo {
  std::string image;
  // Pull even when the image is present. Off: pull only a missing image.
  bool forcePull = false;
  std::vector<PortMapping> portMappings;
};

// A framework's own executor: a long-lived program the agent starts once per
// framework and executor id, in its own sandbox and container, and hands
// every task that names it (see clusternodes/executor.hpp). It holds
// `resources` for its whole life, beside the resources of the tasks it runs;
// they come out of the offer whose task starts it. Tasks that name a running
// executor must give the same ExecutorInfo.
struct ExecutorInfo {
  ExecutorID executorId;
  std::string name;
  CommandInfo command;  // the executor program; CLUSTERNODES_* variables tell it where its agent is
  Resources resources;
};

struct TaskInfo {
  std::string name;
  TaskID taskId;
  AgentID agentId;
  Resources resources;
  CommandInfo command;
  // How long a kill waits between SIGTERM and SIGKILL; unset: the agent's
  // default (3 s).
  std::optional<double> killGracePeriodSeconds;
  // A hard cpu limit in cpus, enforced by a CFS quota where the agent
  // isolates with cgroups; at least the task's cpus. Unset: the task's cpus
  // are a share (a floor under contention), capped only when the agent runs
  // with --cgroups-enable-cfs.
  std::optional<double> cpuLimit;
  // Set: the task runs in this Docker container (see DockerInfo).
  std::optional<DockerInfo> docker;
  // Set: the framework's executor runs the task (and `command` is not
  // used); unset: the agent's command executor runs `command`.
  std::optional<ExecutorInfo> executor;
  // Opaque bytes for the executor (what to do, in the framework's terms).
  std::string data;
};

struct TaskStatus {
  TaskID taskId;
  TaskState state = TaskState::kStaging;
  std::string message;
  TaskReason reason = TaskReason::kNone;
  TaskSource source = TaskSource::kMaster;
  AgentID agentId;
  std::optional<int> exitCode;   // the command's exit status, when it exited
  std::optional<int> signal;     // the signal that ended it, when signaled
  double timestamp = 0;          // seconds since the epoch
  std::string uuid;  // set when the update must be acknowledged; empty otherwise
  // Opaque bytes from the executor to the scheduler (a result, an address).
  std::string data;
};

// Decline and accept filters: do not re-offer the refused resources on that
// agent to this framework for refuseSeconds (default 5; 0 means no filter).
struct Filters {
  double refuseSeconds = 5.0;
};

}  // namespace clusternodes
