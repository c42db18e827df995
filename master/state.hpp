// The master's in-memory model of the cluster: agents, frameworks, tasks and
// outstanding offers. Owned by Master; read by the HTTP endpoints.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "clusternodes/values.hpp"
#include "common/prometheus.hpp"
#include "common/wire.hpp"

namespace clusternodes::master {

struct Task {
  TaskInfo info;
  FrameworkID frameworkId;
  TaskState state = TaskState::kStaging;
  TaskStatus lastStatus;
  // The role its resources were offered to; "" when not known (a task an
  // agent reported to a master that had not launched it).
  std::string role;
  double createdAt = 0;  // wall clock
  // A kill asked for while the agent was unreachable, sent when it returns.
  bool killPending = false;
  // What its container used at the agent's last report (--usage-interval).
  std::optional<ContainerUsage> usage;
};

struct AgentEntry {
  AgentID id;
  std::string peer;  // ZeroMQ identity of the agent's connection
  std::string principal;  // who its connection authenticated as ("" when links are not authenticated)
  wire::AgentInfoValue info;
  Resources used;    // held by non-terminal tasks and frameworks' executors
  std::set<std::pair<FrameworkID, TaskID>> tasks;
  // Frameworks' executors running there, each holding its own resources.
  std::map<std::pair<FrameworkID, ExecutorID>, ExecutorInfo> executors;
  std::set<OfferID> offers;
  int missedPings = 0;
  bool pongSeen = true;
  double registeredAt = 0;  // wall clock
  bool reachable = true;
  double unreachableSince = 0;
  // Registered, but not told so yet: its admission is not on disk. It is
  // neither pinged nor offered until it is.
  bool awaitingRegistered = false;
};

struct FrameworkEntry {
  FrameworkID id;
  FrameworkInfo info;
  // Who its connection authenticated as, whom the ACLs are asked about; ""
  // (anonymous) when links are not authenticated, whatever info.principal
  // claims.
  std::string principal;
  std::string peer;  // empty while disconnected
  bool connected = false;
  bool recovered = false;  // known only from agents' reports, not subscribed yet
  // Subscribed, but not told so yet: its record is not on disk. It gets no
  // offers meanwhile.
  bool awaitingSubscribed = false;
  double lastSeen = 0;     // monotonic
  double registeredAt = 0;  // wall clock
  double disconnectedAt = 0;  // monotonic
  std::map<TaskID, Task> tasks;
  // The last kMaxCompletedTasks tasks that ended and were acknowledged,
  // newest last, for /state (and `clusternodes logs` after a task ended).
  std::deque<Task> completed;
  static constexpr size_t kMaxCompletedTasks = 1000;
  std::set<OfferID> offers;
  uint64_t completedTasks = 0;
};

struct OfferEntry {
  OfferID id;
  FrameworkID frameworkId;
  AgentID agentId;
  std::string role;
  Resources resources;
  double createdAt = 0;  // monotonic
};

struct MasterMetrics {
  uint64_t messagesReceived = 0;
  uint64_t messagesDropped = 0;  // malformed, truncated or unknown
  uint64_t redirectedMessages = 0;  // answered NotLeader while standing by
  uint64_t agentsRegistered = 0;
  uint64_t agentsReregistered = 0;
  uint64_t agentsLost = 0;          // marked unreachable
  uint64_t agentsGone = 0;          // removed for good
  uint64_t agentRemovalsDeferred = 0;  // held back by --agent-removal-rate-limit
  uint64_t frameworksRemoved = 0;
  uint64_t frameworksRegistered = 0;
  uint64_t offersSent = 0;
  uint64_t offersDeclined = 0;
  uint64_t offersRescinded = 0;
  uint64_t offersAccepted = 0;  // offers used by an ACCEPT
  uint64_t reservationsChanged = 0;  // RESERVE and UNRESERVE applied
  uint64_t operationsDropped = 0;    // RESERVE and UNRESERVE that could not be
  uint64_t tasksLaunched = 0;
  uint64_t tasksInvalid = 0;
  // Requests the ACLs denied, by action ("run_task", ...).
  std::map<std::string, uint64_t> aclDenials;
  // Status updates received from agents: all of them, those that repeat the
  // task's last update (the agent re-sent it for want of an acknowledgement),
  // and those of tasks the master no longer holds (it acknowledges them).
  uint64_t statusUpdates = 0;
  uint64_t statusUpdatesDuplicate = 0;
  uint64_t statusUpdatesUnknownTask = 0;
  uint64_t frameworkMessages = 0;  // relayed between schedulers and executors
  uint64_t executorsExited = 0;
  uint64_t registryWriteFailures = 0;  // writes of the registry that failed
  // Registrations an agent sent again while the master was answering the
  // first (its admission on its way to the registry) or had answered it.
  uint64_t agentRegistrationsRepeated = 0;
  // How long each write of the registry (a group commit) took, in seconds.
  prometheus::Histogram registryWriteSeconds{{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                              2.5, 5}};
  std::map<std::string, uint64_t> tasksTerminal;  // by state name
  // How long each allocation round took, in seconds: tens of microseconds
  // on a small cluster, up to seconds on a very large one.
  prometheus::Histogram allocationSeconds{{0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                           0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}};
};

struct MasterState {
  std::string masterId;
  // Signs sandbox tokens (common/sandbox_token.hpp); its agents have it.
  std::string sandboxKey;
  double startedAt = 0;  // wall clock
  std::map<AgentID, AgentEntry> agents;  // reachable and unreachable
  std::map<std::string, AgentID> agentsByPeer;
  std::map<FrameworkID, FrameworkEntry> frameworks;
  std::map<std::string, FrameworkID> frameworksByPeer;
  std::map<OfferID, OfferEntry> offers;
  MasterMetrics metrics;
};

}  // namespace clusternodes::master
