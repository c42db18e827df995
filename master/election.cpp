#include "master/election.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace clusternodes::master {

MasterElection::MasterElection(Loop& loop, ZkUrl url, std::chrono::milliseconds sessionTimeout, LeaderInfo self,
                               Handlers handlers)
    : loop_(loop),
      url_(std::move(url)),
      sessionTimeout_(sessionTimeout),
      self_(std::move(self)),
      handlers_(std::move(handlers)),
      reopen_(loop),
      confirmations_(loop) {}

MasterElection::~MasterElection() = default;

Result<void> MasterElection::start() { return open(); }

Result<void> MasterElection::open() {
  node_.clear();
  auto zk = ZooKeeper::open(loop_, url_.servers, sessionTimeout_, url_.auth);
  if (!zk) return zk.error();
  zk_ = std::move(*zk);
  zk_->onSessionChange([this](ZooKeeper::Session session) { onSession(session); });
  zk_->onChildrenChanged([this](const std::string&) { refresh(); });
  auto every = std::max(std::chrono::milliseconds(10), sessionTimeout_ / 20);
  confirmations_.start(every, [this] { tick(); }, every);
  return {};
}

std::chrono::milliseconds MasterElection::lease() const { return zk_->sessionTimeout() / 2; }

void MasterElection::tick() {
  zk_->confirm();
  (void)confirmLeading();
}

bool MasterElection::confirmLeading() {
  if (!leading_ || lost_) return false;
  auto since = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                     zk_->lastConfirmed());
  if (since <= lease()) return true;
  lose("the ZooKeeper session was not confirmed for " + std::to_string(since.count()) + " ms (more than half its " +
       std::to_string(zk_->sessionTimeout().count()) + " ms timeout)");
  return false;
}

void MasterElection::onSession(ZooKeeper::Session session) {
  if (lost_) return;
  switch (session) {
    case ZooKeeper::Session::kConnected:
      if (node_.empty()) return contend();
      return refresh();
    case ZooKeeper::Session::kConnecting:
      if (!leading_) return;
      spdlog::warn("lost the connection to ZooKeeper while leading; stopping unless the session is confirmed "
                   "within {} ms of its last confirmation",
                   lease().count());
      return;
    case ZooKeeper::Session::kExpired:
      if (leading_) return lose("the ZooKeeper session expired");
      spdlog::warn("the ZooKeeper session expired while standing by; running for election again");
      reopen_.start(std::chrono::milliseconds(100), [this] {
        if (auto reopened = open(); !reopened) lose(reopened.error().message);
      });
      return;
  }
}

void MasterElection::contend() {
  if (auto made = zk_->createPath(url_.path); !made) {
    spdlog::warn("cannot make {} in ZooKeeper: {}", url_.path, made.error().message);
    return;  // the next connection tries again
  }
  auto node = zk_->create(url_.path + "/" + kElectionPrefix, leaderInfoJson(self_), true, true);
  if (!node) {
    spdlog::warn("cannot run for election under {}: {}", url_.path, node.error().message);
    return;
  }
  node_ = *node;
  spdlog::info("running for election as {}", node_);
  refresh();
}

void MasterElection::refresh() {
  if (lost_ || node_.empty()) return;
  auto children = zk_->children(url_.path, true);
  if (!children) return;  // not connected: the reconnection refreshes
  std::string mine = node_.substr(node_.rfind('/') + 1);
  if (std::find(children->begin(), children->end(), mine) == children->end()) {
    if (leading_) return lose("this master's election znode " + node_ + " is gone");
    node_.clear();
    return contend();
  }
  auto leading = leadingCandidate(*children);
  if (leading && *leading == mine) {
    if (leading_) return;
    leading_ = true;
    leader_ = self_;
    spdlog::info("elected: this master leads ({})", node_);
    if (handlers_.elected) handlers_.elected(node_);
    return;
  }
  std::optional<LeaderInfo> leader;
  if (leading) {
    if (auto info = readCandidate(*zk_, url_.path, *leading); info && *info) leader = **info;
  }
  if (leader == leader_) return;
  leader_ = leader;
  if (leader_) spdlog::info("standing by; the leader is {} at {}", leader_->id, leader_->address());
  if (handlers_.leaderChanged) handlers_.leaderChanged(leader_);
}

void MasterElection::lose(const std::string& reason) {
  if (lost_) return;
  lost_ = true;
  confirmations_.stop();
  spdlog::error("this master no longer leads: {}", reason);
  if (handlers_.lost) handlers_.lost(reason);
}

}  // namespace clusternodes::master
