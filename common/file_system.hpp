// FileSystem: the few file operations the daemons' durable state makes, behind
// an interface so that tests can make them fail (a full disk, a read-only
// directory) without a real one.
//
//   auto files = makeFileSystem();
//   if (auto written = files->append(path, bytes); !written) { ... written.error().message ... }
//
// Every error message names the path and the system's reason (strerror of
// errno). Nothing here syncs to stable storage: callers that need a power
// loss survived say so (see syncReplace).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "clusternodes/result.hpp"

namespace clusternodes {

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // Appends `bytes` to `path`, creating it and its directories. On failure
  // the file may hold a prefix of `bytes`; truncate() takes it back.
  virtual Result<void> append(const std::string& path, std::string_view bytes) = 0;
  // Cuts `path` to `size` bytes.
  virtual Result<void> truncate(const std::string& path, uint64_t size) = 0;
  // Replaces `path` whole, creating its directories: a reader sees the old
  // content or the new, never a mix (a temporary file beside it, renamed
  // over it). With `sync`, both the file and the rename reach stable
  // storage before it returns.
  virtual Result<void> replace(const std::string& path, std::string_view bytes, bool sync = false) = 0;
  // The whole content; kNotFound when there is no such file.
  virtual Result<std::string> read(const std::string& path) = 0;
  // Removes a file or a directory tree; one that is not there is no error.
  virtual Result<void> remove(const std::string& path) = 0;
};

// The real file system.
std::unique_ptr<FileSystem> makeFileSystem();

// Writes a small file that must be whole and keep its mode (keys, tokens):
// through a temporary file renamed over `path`, synced with its directory,
// with exactly `mode` whatever the umask.
Result<void> writeFileDurably(const std::string& path, std::string_view bytes, mode_t mode);
// Appends to `path` (made with `mode`, as masked by the umask, when absent;
// an existing file keeps its mode and owner) and syncs it.
Result<void> appendDurably(const std::string& path, std::string_view bytes, mode_t mode);

}  // namespace clusternodes
