// GarbageCollector: removes the sandboxes of finished executor runs.
//
// A sandbox is removed `delay` after its run finished (--gc-delay, a week by
// default), sooner when the disk that holds the work dir fills up: as in
// Mesos, a finished sandbox may age at most
//
//     delay × max(0, 1 − headroom − fraction of the disk in use)
//
// (--gc-disk-headroom, 0.1 by default), re-computed every
// --disk-watch-interval and whenever the next sandbox falls due. With the
// disk at or beyond 1 − headroom, every finished sandbox goes at the next
// check. After removing a run's directory it removes the task's and the
// framework's directories when they are left empty.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "common/loop.hpp"

namespace clusternodes::agent {

struct GcOptions {
  std::chrono::nanoseconds delay = std::chrono::hours(24 * 7);
  double diskHeadroom = 0.1;
  std::chrono::nanoseconds diskWatchInterval = std::chrono::minutes(1);
};

class GarbageCollector {
 public:
  // `root` is the sandboxes directory (<work-dir>/sandboxes), laid out as
  // <root>/<framework id>/<task id>/<run id>.
  // Its timer runs on `time`, whose wall clock says when a sandbox finished
  // (compared with the modification time of those left from before).
  GarbageCollector(TimeSource& time, std::string root, GcOptions options);
  // On the loop's time.
  GarbageCollector(Loop& loop, std::string root, GcOptions options);

  // Schedules every run directory already under the root that is not in
  // `active`, as finished at its last modification (runs an earlier agent
  // left behind), and starts watching the disk.
  void start(const std::set<std::string>& active);
  // Schedules `runDir`, finished now.
  void schedule(const std::string& runDir);

  size_t pending() const { return scheduled_.size(); }
  uint64_t collected() const { return collected_; }
  // How long a finished sandbox may stay at the disk's present fill.
  std::chrono::nanoseconds allowedAge() const;

 private:
  void check();
  void collect(const std::string& runDir);

  TimeSource& time_;
  std::string root_;
  GcOptions options_;
  Timer timer_;
  std::multimap<double, std::string> scheduled_;  // finished (wall seconds) -> run dir
  uint64_t collected_ = 0;
};

}  // namespace clusternodes::agent
