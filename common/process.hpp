// ChildProcess: start a program and hear about its end on the loop.
//
// The agent starts one executor per task and each executor starts its task's
// command, so starting a process sits on the launch path of every task. This
// uses posix_spawn, which on Linux clones without copying the parent's page
// tables and suspends the parent only until the child has exec'd, instead of
// a full fork() of a daemon that then pays copy-on-write faults. The end of
// the child is watched through a pidfd on the loop (a 50 ms waitpid poll on
// kernels without pidfd_open), so no SIGCHLD handler is installed.
//
//   SpawnOptions options;
//   options.file = "/bin/sh";
//   options.args = {"sh", "-c", "exit 3"};
//   auto child = ChildProcess::spawn(loop, options, [](const ExitStatus& s) { ... });
//   if (!child) ... child.error().message ...
//
// Destroying a ChildProcess stops watching (the callback never runs); it does
// not signal the child.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "clusternodes/result.hpp"
#include "common/loop.hpp"

namespace clusternodes {

struct SpawnOptions {
  std::string file;                // run as is if it holds a '/', else searched in PATH
  std::vector<std::string> args;   // argv, args[0] included
  std::optional<std::vector<std::string>> environment;  // "K=V" entries; nullopt inherits ours
  std::string workingDirectory;    // empty: ours
  // Descriptors the child gets as stdin, stdout and stderr; -1 gives /dev/null.
  int stdinFd = -1;
  int stdoutFd = -1;
  int stderrFd = -1;
  // Its own session and process group (setsid), so that it can be signalled
  // as a group and a terminal's signals do not reach it.
  bool newSession = true;
  // Cgroup directories the child joins before it execs: it moves itself
  // (writing to each one's cgroup.procs), so that the caller never enters
  // them. Empty: the caller's cgroups.
  std::vector<std::string> cgroups;
  // The user the child runs as: it sets its groups, gid and uid (all three
  // of each, real, effective and saved) after joining the cgroups and
  // before it changes into workingDirectory, which it must then be allowed
  // to enter. Unset: ours. Needs root (CAP_SETUID and CAP_SETGID).
  struct User {
    std::string name;  // for messages
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;
  };
  std::optional<User> user;
};

struct ExitStatus {
  int code = 0;    // the exit code when it exited
  int signal = 0;  // the signal that ended it, or 0 when it exited
};

class ChildProcess {
 public:
  using ExitCallback = std::function<void(const ExitStatus&)>;

  // Starts the program. Fails, with the reason, when it cannot be executed:
  // kNotFound when the program is missing, kDenied when it is not
  // executable, kInvalid otherwise (a bad working directory, ...).
  static Result<std::unique_ptr<ChildProcess>> spawn(Loop& loop, const SpawnOptions& options, ExitCallback onExit);

  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool exited() const;

 private:
  ChildProcess(pid_t pid);
  struct Watch;

  pid_t pid_;
  Watch* watch_ = nullptr;  // owned; freed after its uv handle closes
};

// When the process `pid` started, in clock ticks since boot (/proc/PID/stat);
// nullopt when there is no such process or it is a zombie. A pid with the
// same start time is the same process, not a reuse of its number.
std::optional<uint64_t> processStartTime(pid_t pid);

// One process, as /proc/PID/stat tells it.
struct ProcessEntry {
  pid_t pid = 0;
  pid_t ppid = 0;
  pid_t pgrp = 0;
  pid_t session = 0;
  char state = 0;            // 'R', 'S', ... 'Z' for a zombie
  uint64_t userTicks = 0;    // utime + cutime
  uint64_t systemTicks = 0;  // stime + cstime
  uint64_t rssPages = 0;
  uint64_t startTime = 0;    // clock ticks after boot (tells it from a process that reused its pid)
};
// The fields of one /proc/PID/stat line: "PID (COMM) STATE PPID PGRP
// SESSION ..."; COMM may hold spaces and parentheses, so the fields after
// it are counted from the last ')'. nullopt for a malformed or truncated
// line. The one reader of that format.
std::optional<ProcessEntry> parseProcessStat(std::string_view line);
// One process now; nullopt when there is none with that pid.
std::optional<ProcessEntry> readProcessEntry(pid_t pid);
// Every process of the host now (one that ends while being read is left out).
std::vector<ProcessEntry> listProcesses();

// Raises this process's soft limit on open descriptors to 65,536 (or the
// hard limit, when lower): a daemon holds one or more per peer, and the
// usual soft limit of 1,024 would cap it at some hundreds of them.
void raiseOpenFileLimit();

// What a task or a framework's executor inherits of the environment
// `inherited` (NAME=VALUE entries, as in `environ`): only PATH (a standard
// one when missing), the locale (LANG, LANGUAGE, LC_*), TZ, and the
// sanitizers' runtime options (*SAN_OPTIONS). Nothing else of the agent's
// environment reaches them: a secret in the agent's unit stays the agent's.
// HOME is the sandbox. The caller adds the task's own variables on top.
std::map<std::string, std::string> taskBaseEnvironment(char** inherited, const std::string& sandbox);

}  // namespace clusternodes
