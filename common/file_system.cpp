#include "common/file_system.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace clusternodes {
namespace {

namespace fs = std::filesystem;

Error failed(const std::string& what, const std::string& path, int error) {
  return internalError("cannot " + what + " " + path + ": " + std::strerror(error) + " (errno " +
                       std::to_string(error) + ")");
}

// Closes a descriptor on every path out.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now and reports close's own error (a deferred write error).
  int close() {
    int result = ::close(fd_);
    fd_ = -1;
    return result;
  }

 private:
  int fd_;
};

Result<void> makeParent(const std::string& path) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) return internalError("cannot create the directory of " + path + ": " + ec.message());
  return {};
}

Result<void> writeAll(int fd, std::string_view bytes, const std::string& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return failed("write", path, errno);
    if (n == 0) return failed("write", path, ENOSPC);
    done += static_cast<size_t>(n);
  }
  return {};
}

// Replaces `path` whole through a temporary file beside it; a failure
// leaves `path` as it was and no temporary file. `exactMode`: the file gets
// `mode` whatever the umask (a key's 0600 must not become 0644, nor a
// public key's 0644 be masked).
Result<void> replaceWhole(const std::string& path, std::string_view bytes, bool sync, mode_t mode, bool exactMode) {
  if (auto parent = makeParent(path); !parent) return parent;
  std::string temporary = path + ".tmp";
  auto discard = [&temporary](Result<void> failure) {
    ::unlink(temporary.c_str());
    return failure;
  };
  {
    Fd fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
    if (fd.get() < 0) return failed("open", temporary, errno);
    if (exactMode && ::fchmod(fd.get(), mode) != 0) return discard(failed("chmod", temporary, errno));
    if (auto written = writeAll(fd.get(), bytes, temporary); !written) return discard(written);
    if (sync && ::fsync(fd.get()) != 0) return discard(failed("sync", temporary, errno));
    if (fd.close() != 0) return discard(failed("close", temporary, errno));
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    return discard(failed("rename " + temporary + " to", path, errno));
  }
  if (sync) {
    std::string dir = fs::path(path).parent_path().string();
    Fd dirFd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dirFd.get() < 0 || ::fsync(dirFd.get()) != 0) return failed("sync the directory of", path, errno);
  }
  return {};
}

class RealFileSystem final : public FileSystem {
 public:
  Result<void> append(const std::string& path, std::string_view bytes) override {
    if (auto parent = makeParent(path); !parent) return parent;
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (fd.get() < 0) return failed("open", path, errno);
    if (auto written = writeAll(fd.get(), bytes, path); !written) return written;
    if (fd.close() != 0) return failed("close", path, errno);
    return {};
  }

  Result<void> truncate(const std::string& path, uint64_t size) override {
    if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) return failed("truncate", path, errno);
    return {};
  }

  Result<void> replace(const std::string& path, std::string_view bytes, bool sync) override {
    return replaceWhole(path, bytes, sync, 0600, false);
  }

  Result<std::string> read(const std::string& path) override {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
      if (errno == ENOENT) return notFound("no " + path);
      return failed("open", path, errno);
    }
    std::string content;
    char buffer[65536];
    while (true) {
      ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return failed("read", path, errno);
      if (n == 0) break;
      content.append(buffer, static_cast<size_t>(n));
    }
    return content;
  }

  Result<void> remove(const std::string& path) override {
    std::error_code ec;
    fs::remove_all(path, ec);
    if (ec) return internalError("cannot remove " + path + ": " + ec.message());
    return {};
  }
};

}  // namespace

Result<void> writeFileDurably(const std::string& path, std::string_view bytes, mode_t mode) {
  return replaceWhole(path, bytes, true, mode, true);
}

Result<void> appendDurably(const std::string& path, std::string_view bytes, mode_t mode) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, mode));
  if (fd.get() < 0) return failed("open", path, errno);
  if (auto written = writeAll(fd.get(), bytes, path); !written) return written;
  if (::fsync(fd.get()) != 0) return failed("sync", path, errno);
  if (fd.close() != 0) return failed("close", path, errno);
  return {};
}

std::unique_ptr<FileSystem> makeFileSystem() { return std::make_unique<RealFileSystem>(); }

}  // namespace clusternodes
