// Master: the cluster's state, the allocator's driver and the relay between
// frameworks and agents.
//
// One Master runs on one libuv loop. Agents and framework drivers connect
// DEALER sockets to its ROUTER; every message is one wire::Envelope. The
// master never blocks: persistence (registry) is the only synchronous I/O,
// and it happens only when the set of admitted agents changes.
//
//   Loop loop;
//   zmq::context_t context;
//   Master master(loop, context, flags);
//   if (auto started = master.start(); !started) { ...started.error()... }
//   loop.run();
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>

#include <zmq.hpp>

#include "common/clock.hpp"
#include "common/http_server.hpp"
#include "common/loop.hpp"
#include "common/transport.hpp"
#include "master/allocator/allocator.hpp"
#include "master/events.hpp"
#include "master/registry/registry.hpp"
#include "master/state.hpp"

namespace clusternodes::master {

struct MasterFlags {
  std::string ip = "127.0.0.1";
  int port = 5050;
  int httpPort = 8081;
  std::string workDir = "/var/lib/clusternodes/master";
  // Window that batches allocation triggers (agent added, resources freed...).
  std::chrono::nanoseconds allocationInterval = std::chrono::milliseconds(5);
  // Rescind offers unanswered for this long; zero: never.
  std::chrono::nanoseconds offerTimeout = std::chrono::nanoseconds::zero();
  std::chrono::nanoseconds agentPingTimeout = std::chrono::seconds(15);
  int maxAgentPingTimeouts = 5;
  // An agent unreachable this long is marked gone: its partition-aware
  // tasks become TASK_GONE, and if it returns it is told to shut its tasks
  // down (it then registers as a new agent).
  std::chrono::nanoseconds agentRemovalTimeout = std::chrono::minutes(10);
  // After a master restart, an agent of the registry that has not
  // re-registered within this long is marked unreachable.
  std::chrono::nanoseconds agentReregisterTimeout = std::chrono::minutes(10);
  // At most agentRemovalRateCount agents are marked unreachable per
  // agentRemovalRatePeriod; the others wait their turn (and may answer a
  // ping meanwhile). 0: no limit (--agent-removal-rate-limit=N/DURATION).
  int agentRemovalRateCount = 0;
  std::chrono::nanoseconds agentRemovalRatePeriod = std::chrono::nanoseconds::zero();
  // Frameworks are sent a heartbeat this often and are considered
  // disconnected after maxAgentPingTimeouts silent intervals.
  std::chrono::nanoseconds frameworkHeartbeatInterval = std::chrono::seconds(1);
  std::map<std::string, double> weights;
  // A framework that has wanted offers this long, while other frameworks
  // hold resources, is reported starved in /state and /metrics.
  std::chrono::nanoseconds starvationThreshold = std::chrono::seconds(10);
};

class Master {
 public:
  Master(Loop& loop, zmq::context_t& context, MasterFlags flags);
  ~Master();

  // Recovers the registry, binds the sockets and starts the timers.
  Result<void> start();

  const MasterState& state() const { return state_; }
  const MasterFlags& flags() const { return flags_; }
  const Allocator& allocator() const { return *allocator_; }
  std::string endpoint() const { return endpoint_; }
  int httpPort() const { return httpPort_; }
  const Registry& registry() const { return registry_; }
  // The last agent, framework, task and offer events, for operators.
  const EventLog& events() const { return events_; }

  // The operator API. Each change is validated, written to the registry,
  // then applied; a bad one changes nothing and says why.
  Result<void> setWeights(const std::map<std::string, double>& weights);
  // An empty guarantee and limit removes the role's quota.
  Result<void> setQuota(const std::string& role, const Quota& quota);
  // Malformed, truncated or unknown messages dropped, including frames the
  // transport refused.
  uint64_t droppedMessages() const { return state_.metrics.messagesDropped + socket_->malformedFrames(); }

 private:
  // ---- transport
  void onMessage(std::string_view peer, std::string_view bytes);
  void dispatch(const std::string& peer, const wire::Envelope::Reader& envelope);
  void dropMessage(const std::string& peer, const std::string& reason);
  void sendTo(const std::string& peer, capnp::MallocMessageBuilder& message);

  // ---- agents
  void registerAgent(const std::string& peer, wire::RegisterAgent::Reader message);
  void reregisterAgent(const std::string& peer, const AgentID& id, wire::RegisterAgent::Reader message);
  void addAgentToAllocator(const AgentEntry& agent);
  // Turns the unreserved resources the registry says were reserved on the
  // agent into reserved ones in what it advertises.
  void applyReservations(AgentEntry& agent);
  // RESERVE (or UNRESERVE) `resources` out of the offers' `remaining`
  // resources, for the offers' `role`; kept in the registry.
  Result<void> reserveOrUnreserve(FrameworkEntry& framework, AgentEntry& agent, const std::string& role,
                                  Resources& remaining, const Resources& resources, bool reserve);
  void replyAgentRegistered(const std::string& peer, const AgentID& id, bool reregistered);
  void onPong(const std::string& peer);
  void containerUsages(const std::string& peer, wire::ContainerUsages::Reader message);
  void statusUpdate(const std::string& peer, wire::StatusUpdate::Reader message);
  // A framework's executor ended on the agent behind `peer`: its resources
  // are free and the framework hears executorLost.
  void executorExited(const std::string& peer, wire::ExecutorExited::Reader message);
  // Relays a framework message: from a scheduler to the executor's agent,
  // or from an agent to the scheduler.
  void frameworkMessage(const std::string& peer, wire::FrameworkMessage::Reader message);
  // Forgets the framework's executors on `agent`, freeing their resources.
  void removeExecutors(AgentEntry& agent, const FrameworkID& frameworkId);
  void pingAgents();
  void agentUnreachable(const AgentID& id, const std::string& why);
  // Removes an agent for good: its tasks end as TASK_GONE (partition-aware
  // frameworks) or TASK_LOST with `reason`, the registry marks it gone, and
  // an agent still connected is told to shut down.
  void agentGone(const AgentID& id, TaskReason reason, const std::string& why);
  // Removal timeouts of unreachable agents, and the re-registration deadline
  // of the registry's agents after a restart.
  void checkAgentDeadlines();
  // Whether --agent-removal-rate-limit lets one more agent be marked
  // unreachable now (and counts it if so).
  bool removalAllowed();
  void shutdownAgent(const std::string& peer, const std::string& reason);
  void askToReregister(const std::string& peer, const std::string& reason);
  AgentEntry* agentByPeer(const std::string& peer);

  // ---- frameworks
  void subscribe(const std::string& peer, wire::Subscribe::Reader message);
  void accept(const std::string& peer, wire::Accept::Reader message);
  void decline(const std::string& peer, wire::Decline::Reader message);
  void revive(const std::string& peer, wire::FrameworkCall::Reader message);
  void suppress(const std::string& peer, wire::FrameworkCall::Reader message);
  void kill(const std::string& peer, wire::Kill::Reader message);
  void acknowledge(const std::string& peer, wire::StatusUpdateAck::Reader message);
  void reconcile(const std::string& peer, wire::Reconcile::Reader message);
  void teardown(const std::string& peer, const FrameworkID& id);
  void heartbeatFrameworks();
  void frameworkDisconnected(FrameworkEntry& framework);
  void removeFramework(const FrameworkID& id, const std::string& why);
  // Writes the framework's info (and failover timeout) to the registry.
  void persistFramework(const FrameworkEntry& framework);
  // The registered framework behind `peer` whose id is `claimed`, or nullptr
  // (and the peer is told to re-subscribe).
  FrameworkEntry* callingFramework(const std::string& peer, const std::string& claimed);
  void sendStatus(FrameworkEntry& framework, const TaskStatus& status);
  TaskStatus masterStatus(const Task& task, TaskState state, TaskReason reason, const std::string& message);
  // Adds a task's new state, as `status` tells it, to the event log.
  void recordTaskState(const FrameworkID& frameworkId, const TaskStatus& status);

  // ---- tasks and offers
  void launch(FrameworkEntry& framework, AgentEntry& agent, const TaskInfo& task);
  void sendRunTask(const FrameworkEntry& framework, const AgentEntry& agent, const TaskInfo& task);
  void taskTerminated(FrameworkEntry& framework, Task& task);
  // Moves an ended task from the framework's tasks to its completed ones.
  void retireTask(FrameworkEntry& framework, std::map<TaskID, Task>::iterator task);
  void killTaskOnAgent(const AgentEntry& agent, const FrameworkID& frameworkId, const TaskID& taskId,
                       int64_t gracePeriodMs);
  void sendOffers(const FrameworkID& frameworkId, std::vector<Allocation> allocations);
  void rescindOffer(const OfferID& id, bool recover);
  void removeOffer(const OfferID& id);
  void expireOffers();
  void requestAllocation();

  Loop& loop_;
  MasterFlags flags_;
  SteadyClock clock_;
  MasterState state_;
  Registry registry_;
  std::unique_ptr<Allocator> allocator_;
  std::unique_ptr<ZmqSocket> socket_;
  std::unique_ptr<HttpServer> http_;
  EventLog events_;
  Timer allocationTimer_;
  Timer periodicAllocationTimer_;
  Timer pingTimer_;
  Timer heartbeatTimer_;
  std::string endpoint_;
  int httpPort_ = 0;
  uint64_t nextAgent_ = 0;
  uint64_t nextFramework_ = 0;
  uint64_t nextOffer_ = 0;
  uint64_t pingSequence_ = 0;
  // When agents were last marked unreachable (monotonic), for the rate limit.
  std::deque<double> recentRemovals_;
  // Admitted agents of the recovered registry that have not re-registered,
  // and until when they may (monotonic).
  std::set<AgentID> awaitingReregistration_;
  double reregisterDeadline_ = 0;
  // Frameworks removed (past their failover timeout, or torn down): they may
  // not subscribe again with their id. The newest kMaxRemovedFrameworks.
  std::map<FrameworkID, std::string> removedFrameworks_;
  std::deque<FrameworkID> removedOrder_;
  static constexpr size_t kMaxRemovedFrameworks = 1000;
};

// Adds /state, /health, /metrics, the operator API and the web UI to `http`
// (master/http/master_http.cpp).
void installMasterEndpoints(HttpServer& http, Master& master);

}  // namespace clusternodes::master
