// Processes for the local cluster: starting daemons in their own sessions,
// reading /proc, choosing which leftovers of a cluster to kill, and waiting
// for processes to end.
//
// The selection logic (selectLeftovers, ...) is pure and works on
// ProcessInfo values; listProcesses() and the rest touch the system (the
// /proc/PID/stat line is common/process's parseProcessStat's).
#pragma once

#include <signal.h>

#include <chrono>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "clusternodes/result.hpp"

namespace clusternodes::cli {

// What /proc tells about one process.
struct ProcessInfo {
  int pid = 0;
  int ppid = 0;
  int pgid = 0;
  int sid = 0;
  char state = '?';               // R, S, D, Z, ... from /proc/PID/stat
  std::string cwd;                // "" when unreadable; without " (deleted)"
  std::vector<std::string> argv;  // empty for kernel threads and when unreadable
};

// Splits /proc/PID/cmdline (NUL-separated, maybe NUL-terminated).
std::vector<std::string> splitCmdline(std::string_view raw);

// True when `path` is `dir` or lies below it (lexically; both absolute).
bool pathIsUnder(std::string_view path, std::string_view dir);

// argv[0]'s last path component, or "" without argv.
std::string programName(const ProcessInfo& process);

// The value of a "--name=value" argument, or "" when absent.
std::string flagValue(const ProcessInfo& process, std::string_view name);

// The endpoints ("tcp://127.0.0.1:40123") that the clusternodes-executor
// children of `agentPids` connect to.
std::set<std::string> executorEndpoints(const std::vector<ProcessInfo>& processes, const std::vector<int>& agentPids);

// Which processes belong to a stopped local cluster.
struct LeftoverCriteria {
  std::string workDir;                     // absolute, canonical
  std::set<std::string> agentEndpoints;    // see executorEndpoints()
  std::set<int> protectedPids;             // the CLI and its ancestors
  int protectedSession = 0;                // the CLI's session
};

// The live (non-zombie) processes that run in a sandbox of the cluster (cwd
// under WORK_DIR/agent-*/, where agents keep their sandboxes) or are
// clusternodes-executors connecting to one of its agents; never a protected
// pid nor a member of the protected session.
std::vector<ProcessInfo> selectLeftovers(const std::vector<ProcessInfo>& processes, const LeftoverCriteria& criteria);

// Reads one process; fails (kNotFound) when it does not exist.
Result<ProcessInfo> readProcess(int pid);
// Every process this user can see, in pid order.
std::vector<ProcessInfo> listProcesses();

// True while `pid` exists and is not a zombie.
bool isAlive(int pid);
// True while `pid` is alive and runs `program` (argv[0]'s basename) with a
// --work-dir inside `workDir`: guards against a recycled pid.
bool isClusterDaemon(int pid, std::string_view program, const std::string& workDir);

// Waits until none of `pids` is alive, or `timeout`. Returns those still alive.
std::vector<int> waitUntilGone(const std::vector<int>& pids, std::chrono::milliseconds timeout);

// Starts `argv` (argv[0] is the program's path) as a daemon: a new session,
// stdin from /dev/null, stdout and stderr appended to `logPath` (truncated
// first unless `keepLog`), no other file descriptors, default signal
// dispositions. Returns its pid.
Result<int> spawnDaemon(const std::vector<std::string>& argv, const std::string& logPath, bool keepLog = false);

// "exited with status 1", "was killed by signal 9": a waitpid() status.
std::string describeExit(int status);

// Catches SIGINT, SIGTERM and SIGHUP while installed (interrupted() then
// holds), so that a command can stop what it started; restores the
// previous handlers on destruction. One at a time.
class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  static bool interrupted();

 private:
  static constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};
  struct sigaction previous_[3]{};
};

// `count` distinct TCP ports on 127.0.0.1 that were free a moment ago (bound
// to port 0 and released).
Result<std::vector<int>> pickFreePorts(int count);

// The directory of the running program (/proc/self/exe).
Result<std::string> selfDirectory();

// The last `count` lines of a text file (of its last 64 KiB); empty when the
// file cannot be read.
std::vector<std::string> tailLines(const std::string& path, size_t count);

}  // namespace clusternodes::cli
