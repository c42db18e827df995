#include "cli/processes.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/process.hpp"

extern char** environ;

namespace clusternodes::cli {
namespace {

std::string readWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::vector<std::string> splitCmdline(std::string_view raw) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < raw.size()) {
    size_t end = raw.find('\0', start);
    if (end == std::string_view::npos) end = raw.size();
    out.emplace_back(raw.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool pathIsUnder(std::string_view path, std::string_view dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.remove_suffix(1);
  if (dir.empty() || path.substr(0, dir.size()) != dir) return false;
  if (dir == "/") return !path.empty() && path.front() == '/';
  return path.size() == dir.size() || path[dir.size()] == '/';
}

std::string programName(const ProcessInfo& process) {
  if (process.argv.empty()) return "";
  const std::string& first = process.argv.front();
  auto slash = first.rfind('/');
  return slash == std::string::npos ? first : first.substr(slash + 1);
}

std::string flagValue(const ProcessInfo& process, std::string_view name) {
  std::string prefix = std::string(name) + "=";
  for (size_t i = 1; i < process.argv.size(); ++i) {
    if (process.argv[i].rfind(prefix, 0) == 0) return process.argv[i].substr(prefix.size());
  }
  return "";
}

std::set<std::string> executorEndpoints(const std::vector<ProcessInfo>& processes, const std::vector<int>& agentPids) {
  std::set<std::string> out;
  for (const auto& p : processes) {
    if (programName(p) != "clusternodes-executor") continue;
    if (std::find(agentPids.begin(), agentPids.end(), p.ppid) == agentPids.end()) continue;
    auto endpoint = flagValue(p, "--agent");
    if (!endpoint.empty()) out.insert(endpoint);
  }
  return out;
}

std::vector<ProcessInfo> selectLeftovers(const std::vector<ProcessInfo>& processes, const LeftoverCriteria& criteria) {
  namespace fs = std::filesystem;
  std::vector<ProcessInfo> out;
  for (const auto& p : processes) {
    if (p.state == 'Z' || p.pid <= 1) continue;
    if (criteria.protectedPids.count(p.pid) != 0) continue;
    if (criteria.protectedSession != 0 && p.sid == criteria.protectedSession) continue;

    bool inSandbox = false;
    if (!p.cwd.empty() && pathIsUnder(p.cwd, criteria.workDir) && p.cwd.size() > criteria.workDir.size()) {
      // The first component below the work dir names the owner: agent-I.
      auto relative = fs::path(p.cwd).lexically_relative(criteria.workDir);
      inSandbox = !relative.empty() && relative.begin()->string().rfind("agent-", 0) == 0;
    }
    bool clusterExecutor = programName(p) == "clusternodes-executor" &&
                           criteria.agentEndpoints.count(flagValue(p, "--agent")) != 0;
    if (inSandbox || clusterExecutor) out.push_back(p);
  }
  return out;
}

Result<ProcessInfo> readProcess(int pid) {
  std::string dir = "/proc/" + std::to_string(pid);
  auto entry = readProcessEntry(pid);
  if (!entry) return notFound("no process " + std::to_string(pid));
  ProcessInfo info;
  info.pid = entry->pid;
  info.ppid = entry->ppid;
  info.pgid = entry->pgrp;
  info.sid = entry->session;
  info.state = entry->state;
  info.argv = splitCmdline(readWholeFile(dir + "/cmdline"));
  std::error_code ec;
  auto cwd = std::filesystem::read_symlink(dir + "/cwd", ec);
  if (!ec) {
    info.cwd = cwd.string();
    constexpr std::string_view kDeleted = " (deleted)";
    if (info.cwd.size() > kDeleted.size() && info.cwd.ends_with(kDeleted)) {
      info.cwd.resize(info.cwd.size() - kDeleted.size());
    }
  }
  return info;
}

std::vector<ProcessInfo> listProcesses() {
  std::vector<int> pids;
  if (DIR* proc = ::opendir("/proc")) {
    while (dirent* entry = ::readdir(proc)) {
      char* end = nullptr;
      long pid = std::strtol(entry->d_name, &end, 10);
      if (end != entry->d_name && *end == '\0' && pid > 0) pids.push_back(static_cast<int>(pid));
    }
    ::closedir(proc);
  }
  std::sort(pids.begin(), pids.end());
  std::vector<ProcessInfo> out;
  for (int pid : pids) {
    auto info = readProcess(pid);
    if (info) out.push_back(std::move(*info));
  }
  return out;
}

bool isAlive(int pid) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  // A zombie has ended; only its parent's wait() is missing.
  auto info = readProcess(pid);
  return info && info->state != 'Z' && info->state != 'X';
}

bool isClusterDaemon(int pid, std::string_view program, const std::string& workDir) {
  if (pid <= 0) return false;
  auto info = readProcess(pid);
  if (!info || info->state == 'Z' || info->state == 'X') return false;
  return programName(*info) == program && pathIsUnder(flagValue(*info, "--work-dir"), workDir);
}

std::vector<int> waitUntilGone(const std::vector<int>& pids, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    std::vector<int> alive;
    for (int pid : pids) {
      if (isAlive(pid)) alive.push_back(pid);
    }
    if (alive.empty() || std::chrono::steady_clock::now() >= deadline) return alive;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

Result<int> spawnDaemon(const std::vector<std::string>& argv, const std::string& logPath, bool keepLog) {
  if (argv.empty()) return invalid("nothing to start");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  if (posix_spawn_file_actions_init(&actions) != 0) return internalError("posix_spawn_file_actions_init failed");
  if (posix_spawnattr_init(&attributes) != 0) {
    posix_spawn_file_actions_destroy(&actions);
    return internalError("posix_spawnattr_init failed");
  }
  int rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  // O_APPEND: a supervisor and the daemon it restarts share one log.
  int logFlags = O_WRONLY | O_CREAT | O_APPEND | (keepLog ? 0 : O_TRUNC);
  if (rc == 0) rc = posix_spawn_file_actions_addopen(&actions, 1, logPath.c_str(), logFlags, 0644);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, 1, 2);
  if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, 3);

  sigset_t none;
  sigset_t all;
  sigemptyset(&none);
  sigfillset(&all);
  short flags = POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (rc == 0) rc = posix_spawnattr_setflags(&attributes, flags);
  if (rc == 0) rc = posix_spawnattr_setsigmask(&attributes, &none);
  if (rc == 0) rc = posix_spawnattr_setsigdefault(&attributes, &all);

  pid_t pid = 0;
  if (rc == 0) rc = posix_spawn(&pid, args[0], &actions, &attributes, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (rc != 0) return internalError("cannot start " + argv[0] + ": " + std::strerror(rc));
  return static_cast<int>(pid);
}

std::string describeExit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status));
  return "ended";
}

namespace {
volatile std::sig_atomic_t gInterrupted = 0;
}  // namespace

InterruptGuard::InterruptGuard() {
  gInterrupted = 0;
  struct sigaction action {};
  action.sa_handler = [](int) { gInterrupted = 1; };
  sigemptyset(&action.sa_mask);
  for (size_t i = 0; i < std::size(kSignals); ++i) sigaction(kSignals[i], &action, &previous_[i]);
}

InterruptGuard::~InterruptGuard() {
  for (size_t i = 0; i < std::size(kSignals); ++i) sigaction(kSignals[i], &previous_[i], nullptr);
}

bool InterruptGuard::interrupted() { return gInterrupted != 0; }

Result<std::vector<int>> pickFreePorts(int count) {
  std::vector<int> sockets;
  std::vector<int> ports;
  auto closeAll = [&] {
    for (int fd : sockets) ::close(fd);
  };
  for (int i = 0; i < count; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      closeAll();
      return internalError(std::string("socket: ") + std::strerror(errno));
    }
    sockets.push_back(fd);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof address;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      std::string reason = std::strerror(errno);
      closeAll();
      return internalError("cannot find a free port: " + reason);
    }
    ports.push_back(ntohs(address.sin_port));
  }
  closeAll();
  return ports;
}

Result<std::string> selfDirectory() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return internalError("cannot read /proc/self/exe: " + ec.message());
  return self.parent_path().string();
}

std::vector<std::string> tailLines(const std::string& path, size_t count) {
  constexpr std::streamoff kMaxBytes = 64 * 1024;
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  std::streamoff start = size > kMaxBytes ? size - kMaxBytes : 0;
  in.seekg(start);
  std::stringstream text;
  text << in.rdbuf();
  std::vector<std::string> lines;
  std::string line;
  bool first = true;
  while (std::getline(text, line)) {
    // A cut at `start` leaves a partial first line: drop it.
    if (first && start > 0) {
      first = false;
      continue;
    }
    first = false;
    lines.push_back(line);
  }
  if (lines.size() > count) lines.erase(lines.begin(), lines.end() - static_cast<std::ptrdiff_t>(count));
  return lines;
}

}  // namespace clusternodes::cli
