#include "common/prometheus.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace clusternodes::prometheus {
namespace {

// HELP text escapes only backslash and newline.
std::string escapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void appendSample(std::string& out, std::string_view name, const Labels& labels, double value) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) out += ',';
      out += labels[i].first;
      out += "=\"";
      out += escapeLabelValue(labels[i].second);
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  out += formatValue(value);
  out += '\n';
}

}  // namespace

Histogram::Histogram(std::vector<double> upperBounds)
    : bounds_(std::move(upperBounds)), counts_(bounds_.size(), 0) {}

void Histogram::observe(double value) {
  // The first bucket whose bound is >= value; past the end: only +Inf.
  auto at = std::lower_bound(bounds_.begin(), bounds_.end(), value);
  if (at != bounds_.end()) ++counts_[static_cast<size_t>(at - bounds_.begin())];
  ++count_;
  sum_ += value;
}

uint64_t Histogram::cumulativeCount(size_t i) const {
  uint64_t total = 0;
  for (size_t j = 0; j <= i && j < counts_.size(); ++j) total += counts_[j];
  return total;
}

Writer::Family& Writer::family(std::string_view name, std::string_view type, std::string_view help) {
  if (auto it = byName_.find(name); it != byName_.end()) return families_[it->second];
  byName_.emplace(std::string(name), families_.size());
  families_.push_back({fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, escapeHelp(help), name, type), {}});
  return families_.back();
}

void Writer::counter(std::string_view name, std::string_view help, double value, const Labels& labels) {
  appendSample(family(name, "counter", help).samples, name, labels, value);
}

void Writer::gauge(std::string_view name, std::string_view help, double value, const Labels& labels) {
  appendSample(family(name, "gauge", help).samples, name, labels, value);
}

void Writer::histogram(std::string_view name, std::string_view help, const Histogram& histogram,
                       const Labels& labels) {
  auto& samples = family(name, "histogram", help).samples;
  std::string bucket = std::string(name) + "_bucket";
  Labels withLe = labels;
  withLe.emplace_back("le", "");
  for (size_t i = 0; i < histogram.upperBounds().size(); ++i) {
    withLe.back().second = formatValue(histogram.upperBounds()[i]);
    appendSample(samples, bucket, withLe, static_cast<double>(histogram.cumulativeCount(i)));
  }
  withLe.back().second = "+Inf";
  appendSample(samples, bucket, withLe, static_cast<double>(histogram.count()));
  appendSample(samples, std::string(name) + "_sum", labels, histogram.sum());
  appendSample(samples, std::string(name) + "_count", labels, static_cast<double>(histogram.count()));
}

std::string Writer::text() const {
  std::string out;
  for (const auto& f : families_) {
    out += f.header;
    out += f.samples;
  }
  return out;
}

void writeResources(Writer& out, const std::string& prefix, const std::string& whose,
                    const std::vector<std::pair<std::string, Resources>>& byState) {
  struct Kind {
    const char* resource;
    const char* metric;
    const char* what;
    double scale;  // to the metric's unit: mem and disk are in MiB
  };
  static constexpr Kind kKinds[] = {
      {"cpus", "cpus", "CPUs", 1},
      {"mem", "memory_bytes", "Memory in bytes", 1024.0 * 1024.0},
      {"disk", "disk_bytes", "Disk in bytes", 1024.0 * 1024.0},
      {"ports", "ports", "Ports (how many)", 1},
      {"gpus", "gpus", "GPUs", 1},
  };
  std::string states;
  for (const auto& [state, resources] : byState) states += (states.empty() ? "" : ", ") + state;
  for (const auto& kind : kKinds) {
    std::set<std::string> roles;
    for (const auto& [state, resources] : byState) {
      for (const auto& e : resources.entries()) {
        if (e.name == kind.resource) roles.insert(e.role);
      }
    }
    // Every agent has cpus and memory; the other kinds only when some do.
    bool always = std::string_view(kind.resource) == "cpus" || std::string_view(kind.resource) == "mem";
    if (roles.empty() && !always) continue;
    if (roles.empty()) roles.insert(kDefaultRole);
    std::string name = prefix + kind.metric;
    std::string help = fmt::format("{} {}, by reservation role and by state ({}).", kind.what, whose, states);
    for (const auto& role : roles) {
      for (const auto& [state, resources] : byState) {
        double amount = kind.resource == std::string_view("ports")
                            ? static_cast<double>(resources.ranges(kind.resource, role).size())
                            : resources.scalar(kind.resource, role) * kind.scale;
        out.gauge(name, help, amount, {{"role", role}, {"state", state}});
      }
    }
  }
}

std::string formatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // The shortest text that reads back as the same double: "3", "0.25", "1e-05".
  return fmt::format("{}", value);
}

std::string escapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace clusternodes::prometheus
