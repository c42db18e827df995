// FaultyFileSystem: the real file system, with writes that fail on demand
// the way a full disk fails them (ENOSPC), optionally after writing part of
// what they were given. For tests of "nothing is acknowledged before it is
// on disk".
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "common/file_system.hpp"

namespace clusternodes::testing {

struct FileFaults {
  std::atomic<bool> failWrites{false};     // append and replace fail
  std::atomic<bool> failTruncate{false};
  std::atomic<size_t> tornBytes{0};        // a failing append writes this many bytes first
  std::atomic<int> writes{0};              // appends and replaces attempted
  std::atomic<int> failedWrites{0};
};

class FaultyFileSystem final : public FileSystem {
 public:
  explicit FaultyFileSystem(std::shared_ptr<FileFaults> faults)
      : real_(makeFileSystem()), faults_(std::move(faults)) {}

  Result<void> append(const std::string& path, std::string_view bytes) override {
    ++faults_->writes;
    if (!faults_->failWrites) return real_->append(path, bytes);
    ++faults_->failedWrites;
    size_t torn = std::min(faults_->tornBytes.load(), bytes.size());
    if (torn > 0) (void)real_->append(path, bytes.substr(0, torn));
    return full(path);
  }
  Result<void> truncate(const std::string& path, uint64_t size) override {
    if (faults_->failTruncate) return internalError("cannot truncate " + path + ": Input/output error (errno 5)");
    return real_->truncate(path, size);
  }
  Result<void> replace(const std::string& path, std::string_view bytes, bool sync) override {
    ++faults_->writes;
    if (!faults_->failWrites) return real_->replace(path, bytes, sync);
    ++faults_->failedWrites;
    return full(path);
  }
  Result<std::string> read(const std::string& path) override { return real_->read(path); }
  Result<void> remove(const std::string& path) override { return real_->remove(path); }

 private:
  static Error full(const std::string& path) {
    return internalError("cannot write " + path + ": No space left on device (errno 28)");
  }

  std::unique_ptr<FileSystem> real_;
  std::shared_ptr<FileFaults> faults_;
};

}  // namespace clusternodes::testing
