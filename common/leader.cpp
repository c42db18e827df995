#include "common/leader.hpp"

#include <arpa/inet.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <thread>

namespace clusternodes {

bool LeaderInfo::operator==(const LeaderInfo& o) const {
  return id == o.id && hostname == o.hostname && ip == o.ip && port == o.port && httpPort == o.httpPort &&
         version == o.version && httpTls == o.httpTls;
}

std::string leaderInfoJson(const LeaderInfo& info) {
  nlohmann::json j;
  j["id"] = info.id;
  j["hostname"] = info.hostname;
  j["port"] = info.httpPort;
  j["version"] = info.version;
  j["address"] = {{"hostname", info.hostname}, {"ip", info.ip}, {"port", info.httpPort}};
  // Mesos's MasterInfo has the IPv4 address as a number in network order too.
  in_addr addr{};
  if (::inet_pton(AF_INET, info.ip.c_str(), &addr) == 1) j["ip"] = addr.s_addr;
  j["pid"] = "master@" + info.ip + ":" + std::to_string(info.httpPort);
  j["clusternodes"] = {{"zmq_port", info.port}, {"http_port", info.httpPort}, {"http_scheme", info.httpTls ? "https" : "http"}};
  return j.dump();
}

Result<LeaderInfo> parseLeaderInfo(const std::string& text) {
  try {
    auto j = nlohmann::json::parse(text);
    LeaderInfo info;
    info.id = j.at("id").get<std::string>();
    info.hostname = j.value("hostname", "");
    info.version = j.value("version", "");
    const auto& address = j.at("address");
    info.ip = address.at("ip").get<std::string>();
    // Anyone with write access to the election's path writes here: a port
    // is checked for an integer in range before it is converted (a float
    // beyond int's range would be undefined behaviour).
    auto port = [](const nlohmann::json& value, int64_t least) {
      if (!value.is_number_integer() || value.get<int64_t>() < least || value.get<int64_t>() > 65535) {
        throw std::runtime_error("a port is not an integer in " + std::to_string(least) + "..65535");
      }
      return value.get<int>();
    };
    info.httpPort = port(address.at("port"), -1);  // -1: a master without HTTP
    info.port = port(j.at("clusternodes").at("zmq_port"), 1);
    // Absent in what an older master wrote: plain HTTP.
    const auto& scheme = j.at("clusternodes").value("http_scheme", std::string("http"));
    if (scheme != "http" && scheme != "https") throw std::runtime_error("http_scheme is neither http nor https");
    info.httpTls = scheme == "https";
    if (info.ip.empty()) throw std::runtime_error("no usable address");
    return info;
  } catch (const std::exception& e) {
    return invalid(std::string("the leader's znode does not hold a Clusternodes master's info: ") + e.what());
  }
}

std::optional<std::string> leadingCandidate(const std::vector<std::string>& children) {
  std::optional<std::string> best;
  const std::string prefix = kElectionPrefix;
  for (const auto& child : children) {
    if (child.compare(0, prefix.size(), prefix) != 0) continue;
    // Sequence numbers are zero-padded to ten digits: compare them as text.
    auto sequence = child.substr(prefix.size());
    if (!best || sequence < best->substr(prefix.size())) best = child;
  }
  return best;
}

Result<std::optional<LeaderInfo>> readCandidate(ZooKeeper& zk, const std::string& path, const std::string& node) {
  auto data = zk.get(path + "/" + node);
  if (!data || !*data) return std::optional<LeaderInfo>();
  auto info = parseLeaderInfo(**data);
  if (!info) return Error{info.error().code, node + ": " + info.error().message};
  return std::optional<LeaderInfo>(std::move(*info));
}

// ------------------------------------------------------------ detector

LeaderDetector::LeaderDetector(Loop& loop, ZkUrl url, std::chrono::milliseconds sessionTimeout, Handler onChange)
    : loop_(loop),
      url_(std::move(url)),
      sessionTimeout_(sessionTimeout),
      onChange_(std::move(onChange)),
      retry_(std::make_unique<Timer>(loop)) {}

LeaderDetector::~LeaderDetector() = default;

Result<void> LeaderDetector::start() { return open(); }

Result<void> LeaderDetector::open() {
  auto zk = ZooKeeper::open(loop_, url_.servers, sessionTimeout_, url_.auth);
  if (!zk) return zk.error();
  zk_ = std::move(*zk);
  zk_->onSessionChange([this](ZooKeeper::Session session) {
    if (session == ZooKeeper::Session::kConnected) return refresh();
    if (session == ZooKeeper::Session::kExpired) {
      spdlog::warn("the ZooKeeper session with {} expired; starting a new one", url_.servers);
      retry_->start(std::chrono::milliseconds(100), [this] {
        if (auto reopened = open(); !reopened) spdlog::error("{}", reopened.error().message);
      });
    }
  });
  zk_->onChildrenChanged([this](const std::string&) { refresh(); });
  zk_->onNodeChanged([this](const std::string&) { refresh(); });
  return {};
}

void LeaderDetector::refresh() {
  if (!zk_) return;
  auto children = zk_->children(url_.path, true);
  if (!children) {
    if (children.error().code == ErrorCode::kNotFound) {
      // No master ran here yet: watch for the path to be made. A master
      // that made it since children() set no watch: read it again.
      auto made = zk_->exists(url_.path, true);
      if (made && *made) return refresh();
      return update(std::nullopt, "");
    }
    return;  // not connected: the reconnection refreshes
  }
  auto candidate = leadingCandidate(*children);
  if (!candidate) return update(std::nullopt, "");
  if (*candidate == leaderNode_) return;
  auto info = readCandidate(*zk_, url_.path, *candidate);
  if (!info) {
    spdlog::warn("{}", info.error().message);
    return update(std::nullopt, *candidate);
  }
  if (!*info) return;  // gone already: the children's watch fires again
  update(**info, *candidate);
}

void LeaderDetector::update(std::optional<LeaderInfo> leader, const std::string& node) {
  leaderNode_ = node;
  if (leader == leader_) return;
  leader_ = std::move(leader);
  if (leader_) {
    spdlog::info("the leading master is {} at {} (http {})", leader_->id, leader_->address(), leader_->httpUrl());
  } else {
    spdlog::warn("no master leads at {}", url_.toString());
  }
  if (onChange_) onChange_(leader_);
}

Result<LeaderInfo> detectLeader(const std::string& zkUrl, std::chrono::milliseconds timeout) {
  auto url = parseZkUrl(zkUrl);
  if (!url) return url.error();
  Loop loop;  // never run: the session's events are not needed here
  auto zk = ZooKeeper::open(loop, url->servers, std::max(timeout, std::chrono::milliseconds(2000)), url->auth);
  if (!zk) return zk.error();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left = [&] {
    return std::max(std::chrono::milliseconds(0), std::chrono::duration_cast<std::chrono::milliseconds>(
                                                      deadline - std::chrono::steady_clock::now()));
  };
  if (auto connected = (*zk)->awaitConnected(left()); !connected) return connected.error();
  for (;;) {
    auto children = (*zk)->children(url->path);
    if (children) {
      if (auto candidate = leadingCandidate(*children)) {
        auto info = readCandidate(**zk, url->path, *candidate);
        if (!info) return info.error();
        if (*info) return **info;
      }
    } else if (children.error().code != ErrorCode::kNotFound) {
      return children.error();
    }
    if (left().count() == 0) {
      return Error{ErrorCode::kUnavailable, "no master leads at " + zkUrl + " (waited " +
                                                std::to_string(timeout.count()) + " ms)"};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace clusternodes
