#include "common/process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <exception>

extern char** environ;

namespace clusternodes {

namespace {

constexpr uint64_t kPollFallbackMs = 50;

int openPidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// posix_spawn's file actions and attributes, released on every path.
struct SpawnSetup {
  posix_spawn_file_actions_t actions{};
  posix_spawnattr_t attributes{};
  std::vector<int> extraFds;  // duplicates made so that no descriptor is < 3

  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attributes);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    for (int fd : extraFds) ::close(fd);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;

  // Makes `target` (0, 1 or 2) a copy of `fd`, or /dev/null when fd is -1.
  // A source below 3 is first copied above 2: dup2 onto itself would keep
  // its close-on-exec flag, and a later dup2 could overwrite it.
  int redirect(int target, int fd) {
    if (fd < 0) {
      return posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0);
    }
    if (fd < 3) {
      int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
      if (copy < 0) return errno;
      extraFds.push_back(copy);
      fd = copy;
    }
    return posix_spawn_file_actions_adddup2(&actions, fd, target);
  }
};

}  // namespace

struct ChildProcess::Watch {
  pid_t pid = 0;
  int pidfd = -1;
  bool usePoll = false;
  union {
    uv_poll_t poll;
    uv_timer_t timer;
  } handle{};
  ExitCallback onExit;
  bool exited = false;

  uv_handle_t* raw() { return usePoll ? reinterpret_cast<uv_handle_t*>(&handle.poll) : reinterpret_cast<uv_handle_t*>(&handle.timer); }

  // Reaps the child if it has ended; runs the callback once. The callback may
  // destroy the ChildProcess (and so this Watch): nothing is touched after it.
  static void check(Watch* self) {
    if (self->exited) return;
    int status = 0;
    pid_t rc;
    do {
      rc = ::waitpid(self->pid, &status, WNOHANG);
    } while (rc < 0 && errno == EINTR);
    if (rc == 0) return;  // still running
    ExitStatus exit;
    if (rc < 0) {
      // Reaped by someone else (ECHILD): its status is lost.
      spdlog::warn("lost the exit status of process {}: {}", self->pid, strerror(errno));
      exit.code = -1;
    } else if (WIFSIGNALED(status)) {
      exit.signal = WTERMSIG(status);
    } else {
      exit.code = WEXITSTATUS(status);
    }
    self->exited = true;
    if (self->usePoll) {
      uv_poll_stop(&self->handle.poll);
    } else {
      uv_timer_stop(&self->handle.timer);
    }
    auto callback = std::move(self->onExit);
    self->onExit = nullptr;
    if (!callback) return;
    try {
      callback(exit);
    } catch (const std::exception& e) {
      spdlog::error("process exit callback: uncaught exception: {}", e.what());
    } catch (...) {
      spdlog::error("process exit callback: uncaught non-standard exception");
    }
  }
};

ChildProcess::ChildProcess(pid_t pid) : pid_(pid) {}

ChildProcess::~ChildProcess() {
  if (watch_ == nullptr) return;
  auto* watch = watch_;
  watch->onExit = nullptr;
  if (watch->usePoll) uv_poll_stop(&watch->handle.poll);
  closeHandle(watch->raw(), [watch] {
    if (watch->pidfd >= 0) ::close(watch->pidfd);
    delete watch;
  });
}

bool ChildProcess::exited() const { return watch_ == nullptr || watch_->exited; }

namespace {

// Why a child started by spawnIntoCgroups did not exec, written to the
// parent through a close-on-exec pipe.
struct ChildFailure {
  // 0: joining a cgroup, 1: the rest of the set-up, 2: exec, 3: switching
  // user, 4: entering the working directory
  int stage;
  int error;  // errno
};

// Starts `options`' program with vfork, as posix_spawn does, but the child
// first writes its pid into each of `cgroupFds` (cgroup.procs, opened by
// the caller), so that only the child enters the cgroups, and takes on
// options.user. Returns 0 with `*pid` set, or the errno of the step that
// failed, as posix_spawn does, with `*stage` saying which (ChildFailure).
int spawnByHand(const SpawnOptions& options, const std::vector<int>& cgroupFds, char** argv, char** env, pid_t* pid,
                int* stage) {
  *stage = 1;
  // Nothing the child could change is written after vfork (-Wclobbered).
  const bool needNull = options.stdinFd < 0 || options.stdoutFd < 0 || options.stderrFd < 0;
  const int devNull = needNull ? ::open("/dev/null", O_RDWR | O_CLOEXEC) : -1;
  if (needNull && devNull < 0) return errno;
  int sources[3] = {options.stdinFd < 0 ? devNull : options.stdinFd, options.stdoutFd < 0 ? devNull : options.stdoutFd,
                    options.stderrFd < 0 ? devNull : options.stderrFd};
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) {
    int error = errno;
    if (devNull >= 0) ::close(devNull);
    return error;
  }
  const char* file = options.file.c_str();
  const char* directory = options.workingDirectory.empty() ? nullptr : options.workingDirectory.c_str();
  bool search = options.file.find('/') == std::string::npos;
  bool newSession = options.newSession;
  const bool switchUser = options.user.has_value();
  const uid_t uid = switchUser ? options.user->uid : 0;
  const gid_t gid = switchUser ? options.user->gid : 0;
  const gid_t* groups = switchUser ? options.user->groups.data() : nullptr;
  const size_t groupCount = switchUser ? options.user->groups.size() : 0;
  // Nothing of ours runs in the child before exec: no signal handler (all
  // blocked, then set to default in the child), only system calls.
  sigset_t all;
  sigset_t previous;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &previous);
  pid_t child = ::vfork();
  if (child == 0) {
    auto fail = [&](int stage) {
      ChildFailure failure{stage, errno};
      (void)!::write(report[1], &failure, sizeof failure);
      ::_exit(127);
    };
    struct sigaction byDefault {};
    byDefault.sa_handler = SIG_DFL;
    for (int signal = 1; signal < NSIG; ++signal) {
      if (signal != SIGKILL && signal != SIGSTOP) ::sigaction(signal, &byDefault, nullptr);
    }
    for (int fd : cgroupFds) {
      if (::write(fd, "0", 1) != 1) fail(0);
    }
    if (newSession && ::setsid() < 0) fail(1);
    for (int target = 0; target < 3; ++target) {
      if (sources[target] == target) {
        if (::fcntl(target, F_SETFD, 0) != 0) fail(1);
      } else if (::dup2(sources[target], target) < 0) {
        fail(1);
      }
    }
    if (switchUser) {
      // Raw system calls: glibc's wrappers would change the credentials of
      // every thread of the process, which after vfork are the parent's.
      if (::syscall(SYS_setgroups, groupCount, groups) != 0) fail(3);
      if (::syscall(SYS_setresgid, gid, gid, gid) != 0) fail(3);
      if (::syscall(SYS_setresuid, uid, uid, uid) != 0) fail(3);
    }
    if (directory != nullptr && ::chdir(directory) != 0) fail(4);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (search) {
      ::execvpe(file, argv, env);
    } else {
      ::execve(file, argv, env);
    }
    fail(2);
  }
  int spawnError = errno;
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  ::close(report[1]);
  if (devNull >= 0) ::close(devNull);
  if (child < 0) {
    ::close(report[0]);
    return spawnError;
  }
  ChildFailure failure{};
  ssize_t got = 0;
  do {
    got = ::read(report[0], &failure, sizeof failure);
  } while (got < 0 && errno == EINTR);
  ::close(report[0]);
  if (got != static_cast<ssize_t>(sizeof failure)) {  // it execed
    *pid = child;
    return 0;
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  *stage = failure.stage;
  return failure.error != 0 ? failure.error : EIO;
}

}  // namespace

Result<std::unique_ptr<ChildProcess>> ChildProcess::spawn(Loop& loop, const SpawnOptions& options,
                                                          ExitCallback onExit) {
  if (options.file.empty() || options.args.empty()) return invalid("no program to run");

  SpawnSetup setup;
  int rc = 0;
  if (rc == 0) rc = setup.redirect(0, options.stdinFd);
  if (rc == 0) rc = setup.redirect(1, options.stdoutFd);
  if (rc == 0) rc = setup.redirect(2, options.stderrFd);
  if (rc == 0 && !options.workingDirectory.empty()) {
    rc = posix_spawn_file_actions_addchdir_np(&setup.actions, options.workingDirectory.c_str());
  }
  // The child starts with every signal at its default and none blocked: a
  // daemon ignores SIGPIPE, and a task must not inherit that.
  sigset_t all;
  sigset_t none;
  sigfillset(&all);
  sigemptyset(&none);
  short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
  if (options.newSession) flags |= POSIX_SPAWN_SETSID;
  if (rc == 0) rc = posix_spawnattr_setsigdefault(&setup.attributes, &all);
  if (rc == 0) rc = posix_spawnattr_setsigmask(&setup.attributes, &none);
  if (rc == 0) rc = posix_spawnattr_setflags(&setup.attributes, flags);
  if (rc != 0) return internalError(std::string("cannot prepare to start a process: ") + strerror(rc));

  std::vector<std::string> args = options.args;
  auto argv = pointers(args);
  std::vector<std::string> environment;
  std::vector<char*> envp;
  if (options.environment) {
    environment = *options.environment;
    envp = pointers(environment);
  }
  char** env = options.environment ? envp.data() : environ;

  pid_t pid = 0;
  if (!options.cgroups.empty() || options.user) {
    // The child joins the cgroups and switches user itself (posix_spawn
    // cannot).
    std::vector<int> cgroupFds;
    auto closeAll = [&] {
      for (int fd : cgroupFds) ::close(fd);
    };
    for (const auto& dir : options.cgroups) {
      int fd = ::open((dir + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) {
        std::string reason = strerror(errno);
        closeAll();
        return internalError("cannot join the cgroup " + dir + ": " + reason);
      }
      cgroupFds.push_back(fd);
    }
    int stage = 0;
    rc = spawnByHand(options, cgroupFds, argv.data(), env, &pid, &stage);
    closeAll();
    if (rc != 0 && stage == 0) return internalError(std::string("cannot join the cgroups: ") + strerror(rc));
    if (rc != 0 && stage == 3) {
      return internalError("cannot run as user '" + options.user->name + "' (uid " + std::to_string(options.user->uid) +
                           "): " + strerror(rc));
    }
    if (rc != 0 && stage == 4) {
      return invalid("cannot enter the working directory " + options.workingDirectory +
                     (options.user ? " as user '" + options.user->name + "'" : std::string()) + ": " + strerror(rc));
    }
  } else {
    bool search = options.file.find('/') == std::string::npos;
    rc = search ? posix_spawnp(&pid, options.file.c_str(), &setup.actions, &setup.attributes, argv.data(), env)
                : posix_spawn(&pid, options.file.c_str(), &setup.actions, &setup.attributes, argv.data(), env);
  }
  if (rc != 0) {
    std::string reason = strerror(rc);
    if (!options.workingDirectory.empty() && rc == ENOENT && ::access(options.workingDirectory.c_str(), X_OK) != 0) {
      return invalid("cannot run '" + options.file + "': " + reason + " (working directory " +
                     options.workingDirectory + ")");
    }
    std::string message = "cannot run '" + options.file + "': " + reason;
    // The program is missing, or there but not executable: callers tell
    // their users which.
    if (rc == ENOENT || rc == ENOTDIR) return notFound(message);
    if (rc == EACCES || rc == ENOEXEC || rc == EPERM) return Error{ErrorCode::kDenied, message};
    return invalid(message);
  }

  std::unique_ptr<ChildProcess> child(new ChildProcess(pid));
  auto* watch = new Watch;
  watch->pid = pid;
  watch->onExit = std::move(onExit);
  watch->pidfd = openPidfd(pid);
  if (watch->pidfd >= 0 && uv_poll_init(loop.raw(), &watch->handle.poll, watch->pidfd) == 0) {
    watch->usePoll = true;
    watch->handle.poll.data = watch;
    uv_poll_start(&watch->handle.poll, UV_READABLE, [](uv_poll_t* handle, int, int) {
      Watch::check(static_cast<Watch*>(handle->data));
    });
  } else {
    if (watch->pidfd >= 0) ::close(watch->pidfd);
    watch->pidfd = -1;
    uv_timer_init(loop.raw(), &watch->handle.timer);
    watch->handle.timer.data = watch;
    uv_timer_start(
        &watch->handle.timer, [](uv_timer_t* handle) { Watch::check(static_cast<Watch*>(handle->data)); },
        kPollFallbackMs, kPollFallbackMs);
  }
  child->watch_ = watch;
  return child;
}

std::optional<ProcessEntry> parseProcessStat(std::string_view line) {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt
  // cmajflt utime stime cutime cstime priority nice threads itreal start
  // vsize rss ...
  auto open = line.find('(');
  auto close = line.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) return std::nullopt;
  ProcessEntry p;
  std::istringstream head{std::string(line.substr(0, open))};
  if (!(head >> p.pid)) return std::nullopt;
  std::istringstream fields{std::string(line.substr(close + 1))};
  long tty = 0, tpgid = 0;
  unsigned long flags = 0, minflt = 0, cminflt = 0, majflt = 0, cmajflt = 0;
  unsigned long utime = 0, stime = 0;
  long cutime = 0, cstime = 0, priority = 0, nice = 0, threads = 0, itreal = 0;
  unsigned long long start = 0;
  unsigned long vsize = 0;
  long rss = 0;
  fields >> p.state >> p.ppid >> p.pgrp >> p.session >> tty >> tpgid >> flags >> minflt >> cminflt >> majflt >>
      cmajflt >> utime >> stime >> cutime >> cstime >> priority >> nice >> threads >> itreal >> start >> vsize >> rss;
  if (!fields) return std::nullopt;
  p.userTicks = utime + static_cast<uint64_t>(std::max(0L, cutime));
  p.systemTicks = stime + static_cast<uint64_t>(std::max(0L, cstime));
  p.rssPages = static_cast<uint64_t>(std::max(0L, rss));
  p.startTime = start;
  return p;
}

std::optional<ProcessEntry> readProcessEntry(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return std::nullopt;
  return parseProcessStat(stat);
}

std::optional<uint64_t> processStartTime(pid_t pid) {
  auto entry = readProcessEntry(pid);
  if (!entry || entry->state == 'Z' || entry->state == 'X') return std::nullopt;
  return entry->startTime;
}

std::vector<ProcessEntry> listProcesses() {
  std::vector<ProcessEntry> out;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return out;
  while (dirent* entry = ::readdir(proc)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    if (auto process = readProcessEntry(static_cast<pid_t>(std::atoi(entry->d_name)))) out.push_back(*process);
  }
  ::closedir(proc);
  return out;
}

std::map<std::string, std::string> taskBaseEnvironment(char** inherited, const std::string& sandbox) {
  std::map<std::string, std::string> env;
  auto passes = [](std::string_view name) {
    auto endsWith = [&](std::string_view suffix) {
      return name.size() >= suffix.size() && name.substr(name.size() - suffix.size()) == suffix;
    };
    return name == "PATH" || name == "LANG" || name == "LANGUAGE" || name == "TZ" || name.rfind("LC_", 0) == 0 ||
           endsWith("SAN_OPTIONS");
  };
  for (char** entry = inherited; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    auto equals = text.find('=');
    if (equals == std::string_view::npos || !passes(text.substr(0, equals))) continue;
    env[std::string(text.substr(0, equals))] = std::string(text.substr(equals + 1));
  }
  env.emplace("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  env["HOME"] = sandbox;
  return env;
}

void raiseOpenFileLimit() {
  constexpr rlim_t kWanted = 65536;
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0 || files.rlim_cur >= kWanted) return;
  files.rlim_cur = files.rlim_max == RLIM_INFINITY ? kWanted : std::min(kWanted, files.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &files);
}

}  // namespace clusternodes
