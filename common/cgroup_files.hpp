// Reading and writing cgroup control files, shared by the agent (which makes
// and removes a container's cgroups) and the executor (which starts the task
// inside them). A control file takes one write(2) of its whole value, and the
// kernel's answer to a bad value is that write's errno, so these use the
// system calls directly rather than streams.
#pragma once

#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "clusternodes/result.hpp"

namespace clusternodes::cgroup {

// Writes `value` to `dir`/`file`; the error names the file and the reason.
inline Result<void> write(const std::string& dir, const std::string& file, const std::string& value) {
  std::string path = dir + "/" + file;
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return internalError("cannot open " + path + ": " + std::strerror(errno));
  ssize_t written;
  do {
    written = ::write(fd, value.data(), value.size());
  } while (written < 0 && errno == EINTR);
  int error = errno;
  ::close(fd);
  if (written < 0) return internalError("cannot write '" + value + "' to " + path + ": " + std::strerror(error));
  return {};
}

// Moves the calling thread, and only it, into the cgroup `dir`; a child it
// then spawns starts there. On v1 this writes its own thread to `tasks`,
// which the kernel does without taking the lock that every fork and exit on
// the host takes too: moving a whole process (a write to `cgroup.procs`) takes
// that lock for writing and waits for an RCU grace period, milliseconds to
// tens of milliseconds on a busy host. v2 has no `tasks` file (its
// `cgroup.threads` is for threaded cgroups only), so there it moves the
// process.
inline Result<void> moveThisThread(const std::string& dir) {
  if (::access((dir + "/tasks").c_str(), F_OK) == 0) return write(dir, "tasks", "0");
  return write(dir, "cgroup.procs", "0");
}

// The contents of `dir`/`file`, or nullopt when it cannot be read.
inline std::optional<std::string> read(const std::string& dir, const std::string& file) {
  std::string path = dir + "/" + file;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buffer[4096];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

// The processes in the cgroup `dir` (its cgroup.procs); empty when it is
// empty or gone.
inline std::vector<pid_t> procs(const std::string& dir) {
  std::vector<pid_t> out;
  auto text = read(dir, "cgroup.procs");
  if (!text) return out;
  size_t start = 0;
  while (start < text->size()) {
    size_t end = text->find('\n', start);
    if (end == std::string::npos) end = text->size();
    if (end > start) {
      pid_t pid = 0;
      bool digits = true;
      for (size_t i = start; i < end; ++i) {
        if ((*text)[i] < '0' || (*text)[i] > '9') digits = false;
        else pid = pid * 10 + ((*text)[i] - '0');
      }
      if (digits && pid > 0) out.push_back(pid);
    }
    start = end + 1;
  }
  return out;
}

}  // namespace clusternodes::cgroup
