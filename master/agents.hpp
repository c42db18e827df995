// The agent book: registration and re-registration (after an agent or a
// master restart, or a partition), pings, and the marks the registry keeps:
// unreachable (missed pings, held back by --agent-removal-rate-limit), gone
// (unreachable past --agent-removal-timeout, or back as a new agent). What
// becomes of an agent's tasks when it goes or returns is decided here and
// carried out by the task book.
#pragma once

#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "master/context.hpp"
#include "master/frameworks.hpp"
#include "master/offers.hpp"
#include "master/tasks.hpp"

namespace clusternodes::master {

class AgentBook {
 public:
  AgentBook(MasterContext& context, OfferBook& offers, TaskBook& tasks, FrameworkBook& frameworks)
      : ctx_(context), offers_(offers), tasks_(tasks), frameworks_(frameworks) {}

  // After a master restart: the registry's admitted agents have
  // --agent-reregister-timeout from now to re-register.
  void recover();
  // Agents of the registry that have not re-registered since the restart.
  const std::set<AgentID>& awaitingReregistration() const { return awaitingReregistration_; }

  // The reachable agent behind `peer`, or nullptr.
  AgentEntry* byPeer(const std::string& peer);
  // Tells a peer the master does not know it, so that it registers again.
  void askToReregister(const std::string& peer, const std::string& reason);

  // REGISTER_AGENT: new (no id) or again (with the id it was given).
  void registerAgent(const std::string& peer, const std::string& principal, wire::RegisterAgent::Reader message);
  void onPong(const std::string& peer);
  // A framework's executor ended on `agent`: its resources are free and the
  // framework hears executorLost.
  void executorExited(AgentEntry& agent, wire::ExecutorExited::Reader message);

  // Pings the reachable agents; those that missed --max-agent-ping-timeouts
  // pings are marked unreachable (as the rate limit allows); then the
  // deadlines of checkDeadlines(). Runs every --agent-ping-timeout.
  void ping();

 private:
  // What a re-registration carries from its start to its end.
  struct Reregistration {
    AgentEntry agent;
    bool wasUnreachable = false;
    bool wasReachable = false;  // registered and reachable until now (a restart, a new connection)
    // The tasks the master knew on the agent before, by framework and id.
    std::map<std::pair<FrameworkID, TaskID>, Task> previous;
    std::vector<std::pair<FrameworkID, TaskID>> toKill;
    std::set<FrameworkID> toShutDown;
    std::vector<std::pair<FrameworkID, TaskInfo>> relaunch;
  };
  void reregisterAgent(const std::string& peer, const std::string& principal, const AgentID& id,
                       wire::RegisterAgent::Reader message);
  // Takes the agent's current entry (if any) out of the books, keeping its
  // tasks in `r.previous`.
  void takeBack(Reregistration& r, std::map<AgentID, AgentEntry>::iterator existing);
  // The tasks and executors the agent reports, against what was known.
  void adoptTask(Reregistration& r, wire::RunningTask::Reader reported);
  void adoptExecutors(Reregistration& r, wire::RegisterAgent::Reader message);
  // Tasks the master sent there that the agent does not report.
  void settleMissingTasks(Reregistration& r);
  void finishReregistration(const std::string& peer, Reregistration& r);

  void addToAllocator(const AgentEntry& agent);
  // AGENT_REGISTERED, once what the registration changed in the registry is
  // on disk (replyRegistered), or now (sendRegistered).
  void replyRegistered(const std::string& peer, const AgentID& id, bool reregistered);
  void sendRegistered(const std::string& peer, const AgentID& id, bool reregistered);
  // Once on disk: AGENT_REGISTERED to `peer` if the agent is still
  // registered there (false if not), and the first time its resources go
  // up for offers.
  bool confirm(const std::string& peer, const AgentID& id, bool reregistered);
  // Both once the agent's mark is on disk.
  void shutdown(const std::string& peer, const std::string& reason);
  // Tells the connected frameworks the agent is lost.
  void tellAgentLost(const AgentID& id);

  void unreachable(const AgentID& id, const std::string& why);
  // Removes an agent for good: its tasks end as TASK_GONE (partition-aware
  // frameworks) or TASK_LOST with `reason`, the registry marks it gone, and
  // an agent still connected is told to shut down.
  void gone(const AgentID& id, TaskReason reason, const std::string& why);
  // Removal timeouts of unreachable agents, and the re-registration deadline
  // of the registry's agents after a restart.
  void checkDeadlines();
  void markUnreturnedUnreachable();
  // Whether --agent-removal-rate-limit lets one more agent be marked
  // unreachable now (and counts it if so).
  bool removalAllowed();

  MasterContext& ctx_;
  OfferBook& offers_;
  TaskBook& tasks_;
  FrameworkBook& frameworks_;
  uint64_t nextAgent_ = 0;
  uint64_t pingSequence_ = 0;
  // When agents were last marked unreachable (monotonic), for the rate limit.
  std::deque<double> recentRemovals_;
  // Admitted agents of the recovered registry that have not re-registered,
  // and until when they may (monotonic).
  std::set<AgentID> awaitingReregistration_;
  double reregisterDeadline_ = 0;
};

}  // namespace clusternodes::master
