// MasterElection: a master's candidacy under a zk:// path (--zk).
//
// The master creates its ephemeral sequential znode json.info_NNNNNNNNNN
// holding its LeaderInfo (common/leader.hpp); the lowest number leads. A
// standby watches the candidates and hears who leads. The leader stops
// acting the moment it cannot be sure it still leads:
//   - its session expires (its znode is gone: another master may lead), or
//   - the session has not been confirmed for half the session timeout.
//     Every master asks the ensemble a trivial question every twentieth of
//     the timeout; an answer to one asked at time t means the ensemble
//     heard from the session at t, so it cannot end the session (and elect
//     another) before t + timeout. The leader stops at t + timeout/2 at the
//     latest, checked every twentieth of the timeout and before it handles
//     any message, which leaves the other half for a slow event loop. A
//     connection lost and made again (a server restarted) within that half
//     costs nothing.
// Stopping is the master's exit (`lost`); its supervisor starts it again as
// a standby. A standby whose session expires runs again on a new session.
// Registry writes are fenced on the leader's znode besides
// (master/registry/zookeeper_store.hpp).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "clusternodes/result.hpp"
#include "common/leader.hpp"
#include "common/loop.hpp"
#include "common/zookeeper.hpp"

namespace clusternodes::master {

class MasterElection {
 public:
  struct Handlers {
    // This master leads from now on; `node` is its election znode.
    std::function<void(const std::string& node)> elected;
    // While standing by: the leader changed (nullopt: none known).
    std::function<void(const std::optional<LeaderInfo>&)> leaderChanged;
    // This master led and cannot be sure it still does: it must stop acting.
    std::function<void(const std::string& reason)> lost;
  };

  MasterElection(Loop& loop, ZkUrl url, std::chrono::milliseconds sessionTimeout, LeaderInfo self, Handlers handlers);
  ~MasterElection();
  MasterElection(const MasterElection&) = delete;
  MasterElection& operator=(const MasterElection&) = delete;

  Result<void> start();
  // Reads the candidates now rather than at the next watch: calls
  // `elected` at once when this master leads by now.
  void check() { refresh(); }
  bool leading() const { return leading_; }
  // Whether this master leads and its session was confirmed recently
  // enough; when it led and the confirmation is too old, it stops (`lost`)
  // and this is false.
  bool confirmLeading();
  // The session the leader writes its registry through.
  ZooKeeper& zookeeper() { return *zk_; }
  const ZkUrl& url() const { return url_; }

 private:
  Result<void> open();
  void onSession(ZooKeeper::Session session);
  void contend();
  void refresh();
  void lose(const std::string& reason);
  void tick();  // every lease period: asks for a confirmation, checks the lease
  std::chrono::milliseconds lease() const;

  Loop& loop_;
  ZkUrl url_;
  std::chrono::milliseconds sessionTimeout_;
  LeaderInfo self_;
  Handlers handlers_;
  std::unique_ptr<ZooKeeper> zk_;
  Timer reopen_;
  Timer confirmations_;
  std::string node_;  // our candidate znode (full path), "" before it is made
  std::optional<LeaderInfo> leader_;
  bool leading_ = false;
  bool lost_ = false;
};

}  // namespace clusternodes::master
