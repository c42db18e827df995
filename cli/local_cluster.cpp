#include "cli/local_cluster.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "cli/local_masters.hpp"
#include "cli/processes.hpp"
#include "common/http_client.hpp"

namespace clusternodes::cli {
namespace {

namespace fs = std::filesystem;

constexpr auto kDaemonGrace = std::chrono::seconds(10);
constexpr auto kAfterKill = std::chrono::seconds(3);
constexpr int kLeftoverRounds = 10;

// SIGTERM, wait, SIGKILL: the daemons' share of stopLocalCluster().
void terminate(const std::vector<int>& pids, StopSummary& summary) {
  if (pids.empty()) return;
  for (int pid : pids) ::kill(pid, SIGTERM);
  auto stubborn = waitUntilGone(pids, kDaemonGrace);
  summary.daemonsTerminated += static_cast<int>(pids.size() - stubborn.size());
  for (int pid : stubborn) ::kill(pid, SIGKILL);
  auto survivors = waitUntilGone(stubborn, kAfterKill);
  summary.daemonsKilled += static_cast<int>(stubborn.size() - survivors.size());
  summary.survivors += static_cast<int>(survivors.size());
}

// The CLI itself and every process above it: never killed, whatever their cwd.
std::set<int> selfAndAncestors() {
  std::set<int> out;
  int pid = ::getpid();
  while (pid > 1 && out.insert(pid).second) {
    auto info = readProcess(pid);
    if (!info) break;
    pid = info->ppid;
  }
  return out;
}

// The supervisors (each stops its master), then any master of the work dir
// still running (its supervisor was gone), then ZooKeeper.
void stopElectedMasters(const ClusterRecord& record, const std::string& workDir, StopSummary& summary) {
  std::vector<int> supervisors;
  for (const auto& m : record.masters) {
    if (isClusterDaemon(m.supervisorPid, "clusternodes", workDir)) supervisors.push_back(m.supervisorPid);
  }
  terminate(supervisors, summary);
  std::vector<int> masters;
  for (const auto& p : listProcesses()) {
    if (isClusterDaemon(p.pid, "clusternodes-master", workDir)) masters.push_back(p.pid);
  }
  terminate(masters, summary);
  if (isLocalZooKeeper(record.zooKeeperPid, workDir)) terminate({record.zooKeeperPid}, summary);
}

}  // namespace

Result<std::string> localWorkDir(const std::string& flag, bool create) {
  auto resolved = resolveWorkDir(flag, std::getenv("CLUSTERNODES_HOME"), std::getenv("HOME"));
  if (!resolved) return resolved.error();
  std::error_code ec;
  fs::path dir = fs::absolute(*resolved, ec).lexically_normal();
  if (ec) return internalError("cannot resolve " + *resolved + ": " + ec.message());
  if (create) {
    fs::create_directories(dir, ec);
    if (ec) return internalError("cannot create the work dir " + dir.string() + ": " + ec.message());
  }
  if (fs::exists(dir, ec)) {
    auto canonical = fs::canonical(dir, ec);
    if (!ec) dir = canonical;
  }
  std::string out = dir.string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

std::string clusterRecordPath(const std::string& workDir) { return workDir + "/" + kClusterRecordFile; }

Result<WorkDirLock> WorkDirLock::acquire(const std::string& workDir) {
  std::string path = workDir + "/cluster.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return internalError("cannot open " + path + ": " + std::strerror(errno));
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    std::string reason = std::strerror(errno);
    ::close(fd);
    return internalError("cannot lock " + path + ": " + reason);
  }
  return WorkDirLock(fd);
}

WorkDirLock::WorkDirLock(WorkDirLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

WorkDirLock::~WorkDirLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

bool clusterIsRunning(const ClusterRecord& record, const std::string& workDir) {
  auto healthy = [](const std::string& http) {
    auto health = httpGet(http + "/health", 2.0);
    return health && health->status == 200;
  };
  if (!record.highlyAvailable()) {
    return isClusterDaemon(record.masterPid, "clusternodes-master", workDir) && healthy(record.http);
  }
  if (!isLocalZooKeeper(record.zooKeeperPid, workDir)) return false;
  bool supervised = std::any_of(record.masters.begin(), record.masters.end(), [&](const MasterRecord& m) {
    return isClusterDaemon(m.supervisorPid, "clusternodes", workDir);
  });
  return supervised && std::any_of(record.masters.begin(), record.masters.end(),
                                   [&](const MasterRecord& m) { return healthy(m.http); });
}

Result<std::string> leadingMasterHttp(const ClusterRecord& record) {
  if (!record.highlyAvailable()) return record.http;
  for (const auto& m : record.masters) {
    auto response = httpGet(m.http + "/state", 2.0);
    if (!response || response->status != 200) continue;
    auto state = nlohmann::json::parse(response->body, nullptr, false);
    if (state.is_object() && state.value("leading", false)) return m.http;
  }
  return Error{ErrorCode::kUnavailable, "none of the " + std::to_string(record.masters.size()) +
                                            " masters leads at the moment (an election takes up to the "
                                            "ZooKeeper session timeout)"};
}

StopSummary stopLocalCluster(const ClusterRecord& record, const std::string& workDir) {
  StopSummary summary;
  std::vector<int> agents;
  for (int pid : record.agentPids) {
    if (isClusterDaemon(pid, "clusternodes-agent", workDir)) agents.push_back(pid);
  }
  // Which endpoints the agents' executors use, learnt while the executors are
  // still the agents' children.
  auto endpoints = executorEndpoints(listProcesses(), agents);

  terminate(agents, summary);
  if (isClusterDaemon(record.masterPid, "clusternodes-master", workDir)) terminate({record.masterPid}, summary);
  // A start abandoned before its first master ran has ZooKeeper only.
  if (record.highlyAvailable() || record.zooKeeperPid != 0) stopElectedMasters(record, workDir, summary);

  LeftoverCriteria criteria;
  criteria.workDir = workDir;
  criteria.agentEndpoints = endpoints;
  criteria.protectedPids = selfAndAncestors();
  criteria.protectedSession = ::getsid(0);
  int ownGroup = ::getpgrp();

  std::vector<int> remaining;
  for (int round = 0; round < kLeftoverRounds; ++round) {
    auto leftovers = selectLeftovers(listProcesses(), criteria);
    if (leftovers.empty()) {
      remaining.clear();
      break;
    }
    std::set<int> groups;
    remaining.clear();
    for (const auto& p : leftovers) {
      remaining.push_back(p.pid);
      if (p.pgid > 1 && p.pgid != ownGroup) {
        if (groups.insert(p.pgid).second) ::kill(-p.pgid, SIGKILL);
      } else {
        ::kill(p.pid, SIGKILL);
      }
    }
    auto alive = waitUntilGone(remaining, kAfterKill);
    summary.leftoversKilled += static_cast<int>(remaining.size() - alive.size());
    remaining = alive;
  }
  summary.survivors += static_cast<int>(remaining.size());
  return summary;
}

}  // namespace clusternodes::cli
