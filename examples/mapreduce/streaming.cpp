#include "mapreduce/streaming.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>

#include "mapreduce/util.hpp"

extern char** environ;

namespace clusternodes::mapreduce {

namespace {

constexpr size_t kStderrTail = 2048;

// A pipe whose ends close with it.
struct Pipe {
  int read = -1;
  int write = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw TaskError(std::string("cannot make a pipe: ") + std::strerror(errno));
    read = fds[0];
    write = fds[1];
  }
  ~Pipe() {
    closeRead();
    closeWrite();
  }
  void closeRead() {
    if (read >= 0) ::close(read);
    read = -1;
  }
  void closeWrite() {
    if (write >= 0) ::close(write);
    write = -1;
  }
};

// Writing to a pipe whose reader has gone must fail with EPIPE, not kill the
// process: SIGPIPE is ignored once, process-wide (children get it back at
// its default through POSIX_SPAWN_SETSIGDEF).
void ignoreSigpipe() {
  static std::once_flag once;
  std::call_once(once, [] { ::signal(SIGPIPE, SIG_IGN); });
}

}  // namespace

std::string FilterResult::describe(const std::string& what) const {
  std::string text;
  if (cancelled) {
    text = what + " was killed (task cancelled)";
  } else if (signal != 0) {
    text = what + " was killed by signal " + std::to_string(signal);
  } else {
    text = what + " exited with status " + std::to_string(exitCode);
  }
  std::string tail = stderrTail;
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' ')) tail.pop_back();
  if (!tail.empty()) text += ": " + tail;
  return text;
}

FilterResult runFilter(const std::string& command, std::string_view input, std::string& output,
                       const std::atomic<bool>* cancel) {
  ignoreSigpipe();
  Pipe in;
  Pipe out;
  Pipe err;

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in.read, 0);
  posix_spawn_file_actions_adddup2(&actions, out.write, 1);
  posix_spawn_file_actions_adddup2(&actions, err.write, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
  const char* argv[] = {"sh", "-c", command.c_str(), nullptr};
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, "/bin/sh", &actions, &attr, const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw TaskError("cannot start /bin/sh -c " + command + ": " + std::strerror(rc));
  in.closeRead();
  out.closeWrite();
  err.closeWrite();

  // The writer owns the stdin pipe's write end from here on.
  int stdinFd = in.write;
  in.write = -1;
  std::atomic<bool> stopWriting{false};
  std::thread writer([stdinFd, input, &stopWriting] {
    size_t done = 0;
    while (done < input.size() && !stopWriting.load(std::memory_order_relaxed)) {
      size_t chunk = std::min<size_t>(input.size() - done, 1 << 16);
      ssize_t n = ::write(stdinFd, input.data() + done, chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;  // EPIPE: the command stopped reading
      done += static_cast<size_t>(n);
    }
    ::close(stdinFd);
  });

  FilterResult result;
  std::string errText;
  char buf[1 << 16];
  bool outOpen = true;
  bool errOpen = true;
  bool killed = false;
  while (outOpen || errOpen) {
    if (!killed && cancel != nullptr && cancel->load()) {
      ::kill(-pid, SIGKILL);
      killed = true;
      stopWriting = true;
    }
    pollfd fds[2];
    nfds_t count = 0;
    if (outOpen) fds[count++] = {out.read, POLLIN, 0};
    if (errOpen) fds[count++] = {err.read, POLLIN, 0};
    int ready = ::poll(fds, count, 100);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) break;
    for (nfds_t i = 0; i < count; ++i) {
      if (fds[i].revents == 0) continue;
      bool isOut = fds[i].fd == out.read;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        (isOut ? outOpen : errOpen) = false;
        continue;
      }
      if (isOut) {
        output.append(buf, static_cast<size_t>(n));
      } else {
        errText.append(buf, static_cast<size_t>(n));
        if (errText.size() > 4 * kStderrTail) errText.erase(0, errText.size() - kStderrTail);
      }
    }
  }
  // Both outputs are closed: the command (or whatever it left holding
  // them) is done. Make sure nothing of the group stays, stop the writer.
  stopWriting = true;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  writer.join();
  if (killed) {
    result.cancelled = true;
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  } else if (WIFEXITED(status)) {
    result.exitCode = WEXITSTATUS(status);
  }
  if (errText.size() > kStderrTail) errText.erase(0, errText.size() - kStderrTail);
  result.stderrTail = std::move(errText);
  return result;
}

}  // namespace clusternodes::mapreduce
