// RestartBackoff: how long a service instance waits before its next task
// after one ended, so that a container that cannot start does not take
// every offer in the cluster.
//
// The first end waits kFirst; each further end in a row waits twice as long
// as the one before, up to kMax. A task that ran kHealthyRun or longer was
// healthy: the end after it waits kFirst again.
//
//   RestartBackoff backoff;
//   backoff.ended(std::nullopt);      // 1 s   (never ran)
//   backoff.ended(seconds(2));        // 2 s
//   backoff.ended(seconds(3));        // 4 s
//   backoff.ended(seconds(60));       // 1 s   (it had been healthy)
#pragma once

#include <chrono>
#include <optional>

namespace clusternodes::cli {

class RestartBackoff {
 public:
  using Duration = std::chrono::milliseconds;
  static constexpr Duration kFirst = std::chrono::seconds(1);
  static constexpr Duration kMax = std::chrono::seconds(30);
  static constexpr Duration kHealthyRun = std::chrono::seconds(10);

  // The instance's task ended after running `ranFor` (nullopt: it never
  // reached TASK_RUNNING). Returns the wait before the next task.
  Duration ended(std::optional<Duration> ranFor);

  // Ends in a row without a healthy run, the last one included.
  int failures() const { return failures_; }

 private:
  int failures_ = 0;
};

}  // namespace clusternodes::cli
