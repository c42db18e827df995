// Finding the leading master through ZooKeeper.
//
// Masters run for election under the path of a zk:// URL: each creates an
// ephemeral sequential znode "json.info_NNNNNNNNNN" whose data is its
// LeaderInfo as JSON, and the lowest sequence number leads. The JSON has the
// shape of Mesos's MasterInfo ("address" with hostname, ip and port, "id",
// "hostname", "port", "version"), its port being the HTTP port, so that a
// tool written for Mesos finds the leader's HTTP API; the ZeroMQ port that
// agents and the SDK use is beside it under "clusternodes".
//
//   LeaderDetector detector(loop, *parseZkUrl(url), 10s, [](const std::optional<LeaderInfo>& leader) {
//     ... leader->endpoint() ...   // nullopt: no master leads now
//   });
//   detector.start();
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "clusternodes/result.hpp"
#include "common/loop.hpp"
#include "common/zookeeper.hpp"

namespace clusternodes {

struct LeaderInfo {
  std::string id;
  std::string hostname;
  std::string ip;
  int port = 0;      // ZeroMQ: agents and framework drivers
  int httpPort = 0;  // /state, the APIs, the web UI
  std::string version;
  bool httpTls = false;  // the HTTP port speaks TLS

  std::string address() const { return ip + ":" + std::to_string(port); }  // HOST:PORT, as --master takes it
  std::string endpoint() const { return "tcp://" + address(); }
  std::string httpUrl() const { return (httpTls ? "https://" : "http://") + ip + ":" + std::to_string(httpPort); }
  bool operator==(const LeaderInfo& other) const;
};

inline constexpr const char* kElectionPrefix = "json.info_";

std::string leaderInfoJson(const LeaderInfo& info);
Result<LeaderInfo> parseLeaderInfo(const std::string& json);
// The leading candidate among an election path's children: the lowest
// sequence number of those named json.info_*; nullopt when there is none.
std::optional<std::string> leadingCandidate(const std::vector<std::string>& children);

// The LeaderInfo in the candidate znode PATH/NODE: nullopt when the node is
// gone (or could not be read now); an error when it holds no master's info.
Result<std::optional<LeaderInfo>> readCandidate(ZooKeeper& zk, const std::string& path, const std::string& node);

// Follows the leader named by a zk:// URL, on the loop. Through lost
// connections it keeps the last leader it knew; an expired session is
// replaced by a new one.
class LeaderDetector {
 public:
  using Handler = std::function<void(const std::optional<LeaderInfo>&)>;
  // `onChange` runs on the loop whenever the leader changes.
  LeaderDetector(Loop& loop, ZkUrl url, std::chrono::milliseconds sessionTimeout, Handler onChange);
  ~LeaderDetector();
  LeaderDetector(const LeaderDetector&) = delete;
  LeaderDetector& operator=(const LeaderDetector&) = delete;

  Result<void> start();
  const std::optional<LeaderInfo>& leader() const { return leader_; }

 private:
  Result<void> open();
  void refresh();
  void update(std::optional<LeaderInfo> leader, const std::string& node);

  Loop& loop_;
  ZkUrl url_;
  std::chrono::milliseconds sessionTimeout_;
  Handler onChange_;
  std::unique_ptr<ZooKeeper> zk_;
  std::unique_ptr<Timer> retry_;
  std::optional<LeaderInfo> leader_;
  std::string leaderNode_;
};

// For tools: the leader a zk:// URL names now, waiting up to `timeout` for
// one. kUnavailable when none leads by then.
Result<LeaderInfo> detectLeader(const std::string& zkUrl, std::chrono::milliseconds timeout);

// The default ZooKeeper session timeout of masters, agents and the SDK.
inline constexpr std::chrono::milliseconds kDefaultZkSessionTimeout{10000};

}  // namespace clusternodes
