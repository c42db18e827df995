// The framework book: subscriptions and re-subscriptions (failover), the
// heartbeats that tell a connected framework from a silent one, the failover
// timeout after which a disconnected framework is removed with its tasks,
// and the frameworks removed for good (who may not come back with their id).
#pragma once

#include <deque>
#include <map>
#include <optional>
#include <string>

#include "master/context.hpp"
#include "master/offers.hpp"

namespace clusternodes::master {

class FrameworkBook {
 public:
  FrameworkBook(MasterContext& context, OfferBook& offers) : ctx_(context), offers_(offers) {}

  // The registry's frameworks after a master restart: each comes back
  // disconnected, with its failover timeout from now to subscribe again.
  void recover();

  // A framework named by an agent's report that this master has not seen
  // (it restarted): kept, disconnected, until it re-subscribes or its
  // window passes. Returns the existing entry when there is one.
  FrameworkEntry& adopt(const FrameworkID& id, FrameworkInfo info);

  // SUBSCRIBE, new or again (failover to a new connection, or a retry).
  // Answered SUBSCRIBED once the framework's record is on disk (nothing
  // when it cannot be written: the framework retries), or FrameworkError
  // when refused. `principal`: who the link authenticated as, when links
  // are authenticated; it is the framework's principal, whatever its
  // FrameworkInfo claims, and a framework id is taken over only under the
  // principal it was registered with.
  void subscribe(const std::string& peer, const std::optional<std::string>& principal,
                 wire::Subscribe::Reader message);
  // UPDATE_FRAMEWORK: the framework's info and suppressed roles, changed in
  // place (no new SUBSCRIBED) and written through before it returns. kInvalid
  // for a change of id, user or principal, an info that does not validate,
  // or suppressed roles outside its roles; kDenied for a role the ACLs do
  // not let its principal subscribe to; kInternal when it cannot be written
  // (nothing then changes). Offers to the roles it leaves are rescinded.
  Result<void> update(FrameworkEntry& framework, FrameworkInfo info, const std::set<std::string>& suppressed);
  // Answers `peer` with FrameworkError(why).
  void refuse(const std::string& peer, const std::string& why);

  // The registered framework behind `peer` whose id is `claimed` (its
  // lastSeen refreshed), or nullptr (and the peer is told to re-subscribe).
  FrameworkEntry* calling(const std::string& peer, const std::string& claimed);

  // The connection `peer` closed (an HTTP scheduler's stream): the
  // framework on it, if any, is disconnected at once.
  void connectionClosed(const std::string& peer);

  // Sends heartbeats; marks silent frameworks disconnected; removes those
  // past their failover timeout. Runs every --framework-heartbeat-interval.
  void heartbeat();

  // Removes a framework for good: its offers rescinded, its tasks and
  // executors dropped (their agents are told to shut the framework down),
  // the registry forgets it, and its id may not subscribe again.
  void remove(const FrameworkID& id, const std::string& why);

  // Why a framework was removed, or nullptr if it was not (among the last
  // kMaxRemovedFrameworks).
  const std::string* removedBecause(const FrameworkID& id) const;

 private:
  void disconnected(FrameworkEntry& framework);
  // SUBSCRIBED to `peer`, if the framework is still subscribed there.
  void confirm(const std::string& peer, const FrameworkID& id, bool reregistered);
  // Writes the framework's info (and failover timeout) to the registry.
  void persist(const FrameworkEntry& framework);
  // The entry a SUBSCRIBE names or implies, or nullptr if it is new.
  FrameworkEntry* existing(const std::string& peer, const FrameworkInfo& info);
  // Drops the framework's tasks and executors from its agents; returns the
  // reachable agents that held some.
  std::set<AgentID> dropFromAgents(const FrameworkID& id, const FrameworkEntry& framework);

  MasterContext& ctx_;
  OfferBook& offers_;
  uint64_t nextFramework_ = 0;
  // Frameworks removed (past their failover timeout, or torn down): they may
  // not subscribe again with their id. The newest kMaxRemovedFrameworks.
  std::map<FrameworkID, std::string> removed_;
  std::deque<FrameworkID> removedOrder_;
  static constexpr size_t kMaxRemovedFrameworks = 1000;
};

}  // namespace clusternodes::master
