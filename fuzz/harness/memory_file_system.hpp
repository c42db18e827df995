// MemoryFileSystem: a FileSystem in a map, for the fuzz targets. A fuzz
// target builds a fresh daemon for every input, so that a crash replays from
// its input alone; on the real disk that would cost a directory per input
// and leave the durable state of one input where the next one looks.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "common/file_system.hpp"

namespace clusternodes::fuzzing {

class MemoryFileSystem final : public FileSystem {
 public:
  Result<void> append(const std::string& path, std::string_view bytes) override {
    files_[path].append(bytes);
    return {};
  }
  Result<void> truncate(const std::string& path, uint64_t size) override {
    auto it = files_.find(path);
    if (it == files_.end()) return notFound("no such file: " + path);
    it->second.resize(size);
    return {};
  }
  Result<void> replace(const std::string& path, std::string_view bytes, bool) override {
    files_[path] = std::string(bytes);
    return {};
  }
  Result<std::string> read(const std::string& path) override {
    auto it = files_.find(path);
    if (it == files_.end()) return notFound("no such file: " + path);
    return it->second;
  }
  Result<void> remove(const std::string& path) override {
    // The tree under `path` too, as the real one removes it: the names
    // from "path/" up to "path0" ('0' follows '/').
    files_.erase(path);
    files_.erase(files_.lower_bound(path + "/"), files_.lower_bound(path + "0"));
    return {};
  }

 private:
  std::map<std::string, std::string> files_;
};

}  // namespace clusternodes::fuzzing
