// Destroyer: the one place a container's cgroups are torn down.
//
// destroy() kills every process left in the container and removes its
// cgroups. Processes take a moment to exit after SIGKILL, so while the
// cgroups still hold some, it tries again every 10 ms, for up to 30 s, and
// then gives up with a warning (the periodic sweep removes what is left once
// it is empty). Loop thread only.
#pragma once

#include <map>
#include <set>
#include <string>

#include "agent/isolator.hpp"
#include "common/clock.hpp"

namespace clusternodes::agent {

class Destroyer {
 public:
  // `isolator` must outlive this.
  Destroyer(Isolator& isolator, TimeSource& time);

  // Kills what is left of container `id` and removes its cgroups, now or,
  // while processes exit, by retrying.
  void destroy(const std::string& id);
  // The containers still being destroyed (the sweep leaves them alone).
  std::set<std::string> pending() const;

 private:
  void retry();

  Isolator& isolator_;
  TimeSource& time_;
  std::map<std::string, double> giveUpAt_;  // container id -> time_.now() to give up
  Timer timer_;
};

}  // namespace clusternodes::agent
