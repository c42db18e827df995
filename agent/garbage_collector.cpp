#include "agent/garbage_collector.hpp"

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <vector>

namespace clusternodes::agent {
namespace {

namespace fs = std::filesystem;
using std::chrono::duration;
using std::chrono::duration_cast;
using std::chrono::nanoseconds;

// The fraction of the disk holding `path` that is in use, as df's Use%
// counts it: used / (used + available to users), blocks reserved for root
// left out; 0 when it cannot be read.
double diskUsed(const std::string& path) {
  struct statvfs fs{};
  if (::statvfs(path.c_str(), &fs) != 0 || fs.f_blocks == 0) return 0;
  double used = static_cast<double>(fs.f_blocks - fs.f_bfree);
  double total = used + static_cast<double>(fs.f_bavail);
  return total > 0 ? used / total : 0;
}

}  // namespace

GarbageCollector::GarbageCollector(TimeSource& time, std::string root, GcOptions options)
    : time_(time), root_(std::move(root)), options_(options), timer_(time) {}

GarbageCollector::GarbageCollector(Loop& loop, std::string root, GcOptions options)
    : GarbageCollector(loop.time(), std::move(root), std::move(options)) {}

void GarbageCollector::start(const std::set<std::string>& active) {
  std::error_code ec;
  for (const auto& framework : fs::directory_iterator(root_, ec)) {
    if (!framework.is_directory(ec)) continue;
    for (const auto& task : fs::directory_iterator(framework.path(), ec)) {
      if (!task.is_directory(ec)) continue;
      for (const auto& run : fs::directory_iterator(task.path(), ec)) {
        std::string dir = run.path().string();
        if (!run.is_directory(ec) || active.count(dir) != 0) continue;
        struct stat st{};
        double finished = ::stat(dir.c_str(), &st) == 0 ? static_cast<double>(st.st_mtime) : time_.wallSeconds();
        scheduled_.emplace(finished, dir);
      }
    }
  }
  if (!scheduled_.empty()) spdlog::info("{} finished sandbox(es) from before are scheduled for removal", scheduled_.size());
  check();
}

void GarbageCollector::schedule(const std::string& runDir) {
  scheduled_.emplace(time_.wallSeconds(), runDir);
  if (scheduled_.size() == 1) check();  // otherwise an earlier one is due first
}

nanoseconds GarbageCollector::allowedAge() const {
  double factor = std::max(0.0, 1.0 - options_.diskHeadroom - diskUsed(root_));
  return duration_cast<nanoseconds>(duration<double>(duration<double>(options_.delay).count() * factor));
}

void GarbageCollector::check() {
  double maxAge = duration<double>(allowedAge()).count();
  double now = time_.wallSeconds();
  std::vector<std::string> due;
  while (!scheduled_.empty() && now - scheduled_.begin()->first >= maxAge) {
    due.push_back(scheduled_.begin()->second);
    scheduled_.erase(scheduled_.begin());
  }
  for (const auto& runDir : due) collect(runDir);
  nanoseconds next = options_.diskWatchInterval;
  if (!scheduled_.empty()) {
    double due = scheduled_.begin()->first + maxAge - now;
    next = std::min(next, duration_cast<nanoseconds>(duration<double>(std::max(due, 0.01))));
  }
  timer_.start(next, [this] { check(); });
}

void GarbageCollector::collect(const std::string& runDir) {
  std::error_code ec;
  auto removed = fs::remove_all(runDir, ec);
  if (ec) {
    // Tried again a disk watch interval later at the earliest.
    spdlog::warn("cannot remove the sandbox {}: {}", runDir, ec.message());
    scheduled_.emplace(time_.wallSeconds() + duration<double>(options_.diskWatchInterval).count(), runDir);
    return;
  }
  if (removed == 0) return;  // removed by someone else
  ++collected_;
  spdlog::debug("removed the sandbox {}", runDir);
  // The task's and framework's directories go once empty (rmdir refuses
  // otherwise); the root stays.
  fs::path parent = fs::path(runDir).parent_path();
  for (int level = 0; level < 2 && parent.string().size() > root_.size(); ++level) {
    if (::rmdir(parent.c_str()) != 0) break;
    parent = parent.parent_path();
  }
}

}  // namespace clusternodes::agent
