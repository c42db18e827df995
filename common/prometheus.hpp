// The Prometheus text exposition format (version 0.0.4), which the master's
// and the agent's /metrics endpoints speak.
//
//   prometheus::Writer out;
//   out.gauge("clusternodes_master_agents", "Agents known to the master, by state.", 2,
//             {{"state", "registered"}});
//   out.counter("clusternodes_master_offers_total", "Offers, by what happened to them.", 7,
//               {{"event", "sent"}});
//   out.histogram("clusternodes_master_allocation_duration_seconds", "Allocation rounds.", histogram);
//   std::string body = out.text();
//
// A family's HELP and TYPE lines are written once, and all its samples
// follow them together, in the order they were given, whatever the order of
// the calls: the format requires a family's lines to be one group. Label
// values and help texts are escaped as the format says; metric and label
// names are the caller's constants and must already be valid (snake_case,
// counters ending in _total, base units in the name).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "clusternodes/resources.hpp"

namespace clusternodes::prometheus {

// A sample's labels, in the order they are written.
using Labels = std::vector<std::pair<std::string, std::string>>;

// Observations counted into buckets by upper bound, with their sum: the
// data of one Prometheus histogram series. Not thread-safe.
class Histogram {
 public:
  // REQUIRES: `upperBounds` ascending and finite; +Inf is implied.
  explicit Histogram(std::vector<double> upperBounds);

  void observe(double value);

  const std::vector<double>& upperBounds() const { return bounds_; }
  // Observations <= upperBounds()[i] (the `le` bucket: cumulative).
  uint64_t cumulativeCount(size_t i) const;
  uint64_t count() const { return count_; }
  double sum() const { return sum_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; one per bound
  uint64_t count_ = 0;
  double sum_ = 0;
};

class Writer {
 public:
  void counter(std::string_view name, std::string_view help, double value, const Labels& labels = {});
  void gauge(std::string_view name, std::string_view help, double value, const Labels& labels = {});
  // Writes the series `name`_bucket{le=...} (cumulative, +Inf last),
  // `name`_sum and `name`_count.
  void histogram(std::string_view name, std::string_view help, const Histogram& histogram,
                 const Labels& labels = {});

  // Every family, in the order each was first written.
  std::string text() const;

 private:
  struct Family {
    std::string header;   // HELP and TYPE
    std::string samples;
  };
  // The family `name`, added with its HELP and TYPE on first use.
  Family& family(std::string_view name, std::string_view type, std::string_view help);

  std::vector<Family> families_;
  std::map<std::string, size_t, std::less<>> byName_;
};

// Resources split into states that do not overlap (the master's used,
// offered and idle; the agent's used and idle), one gauge family per kind
// in base units: PREFIXcpus, PREFIXmemory_bytes, PREFIXdisk_bytes,
// PREFIXports (how many), and PREFIXgpus when any state holds gpus. Each
// sample is labelled with `role` (the role the resources are reserved for,
// "*" when unreserved) and `state`, so a sum over any labels means
// something; every role that holds some of a kind has a sample for every
// state, zero included. `whose` ends the help text ("of this agent").
void writeResources(Writer& out, const std::string& prefix, const std::string& whose,
                    const std::vector<std::pair<std::string, Resources>>& byState);

// A sample value as the format writes it: integers without a fraction,
// "+Inf", "-Inf" and "NaN" for the special values.
std::string formatValue(double value);

// A label value with backslash, double quote and newline escaped.
std::string escapeLabelValue(std::string_view value);

}  // namespace clusternodes::prometheus
