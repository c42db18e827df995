#include "cli/local_cluster.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

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
  if (!isClusterDaemon(record.masterPid, "clusternodes-master", workDir)) return false;
  auto health = httpGet(record.http + "/health", 2.0);
  return health && health->status == 200;
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
