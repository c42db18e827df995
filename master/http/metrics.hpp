// The master's /metrics: the cluster's state and the master's counters in
// the Prometheus text format. docs/metrics.md describes every metric.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "master/allocator/allocator.hpp"

namespace clusternodes::master {

class Master;

// The /metrics body. Loop thread only, like every read of the master.
std::string metricsText(const Master& master);

// Frameworks that have waited past --starvation-threshold for an offer while
// others hold resources, by id; /state and /metrics report them.
std::set<FrameworkID> starvedFrameworks(const Master& master, const std::vector<FrameworkSummary>& summaries);

}  // namespace clusternodes::master
