// Reading a /metrics scrape back, for the tests: the samples of the
// Prometheus text format, with their labels unescaped.
//
//   auto samples = parsePrometheusText(body);
//   double running = valueOf(samples, "clusternodes_master_tasks", {{"state", "TASK_RUNNING"}});
#pragma once

#include <cmath>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace clusternodes::testing {

struct MetricSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

// The samples of `text`, in order. Comment lines are skipped; a line that is
// not a sample throws std::runtime_error naming it.
inline std::vector<MetricSample> parsePrometheusText(const std::string& text) {
  std::vector<MetricSample> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.empty() || line[0] == '#') continue;
    auto bad = [&] { return std::runtime_error("not a Prometheus sample: " + line); };
    MetricSample sample;
    size_t i = line.find_first_of("{ ");
    if (i == std::string::npos) throw bad();
    sample.name = line.substr(0, i);
    if (line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        size_t eq = line.find('=', i);
        if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') throw bad();
        std::string key = line.substr(i, eq - i);
        std::string value;
        size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\' && j + 1 < line.size()) {
            char next = line[++j];
            value += next == 'n' ? '\n' : next;
          } else {
            value += line[j];
          }
        }
        if (j >= line.size()) throw bad();
        sample.labels[key] = value;
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) throw bad();
      ++i;  // past '}'
    }
    size_t valueAt = line.find_first_not_of(' ', i);
    if (valueAt == std::string::npos) throw bad();
    std::string value = line.substr(valueAt);
    if (value == "+Inf") {
      sample.value = INFINITY;
    } else if (value == "-Inf") {
      sample.value = -INFINITY;
    } else if (value == "NaN") {
      sample.value = NAN;
    } else {
      size_t used = 0;
      sample.value = std::stod(value, &used);
      if (used != value.size()) throw bad();
    }
    out.push_back(std::move(sample));
  }
  return out;
}

// The samples named `name` whose labels include every one of `labels`.
inline std::vector<MetricSample> samplesOf(const std::vector<MetricSample>& samples, const std::string& name,
                                           const std::map<std::string, std::string>& labels = {}) {
  std::vector<MetricSample> out;
  for (const auto& s : samples) {
    if (s.name != name) continue;
    bool matches = true;
    for (const auto& [key, value] : labels) {
      auto it = s.labels.find(key);
      matches &= it != s.labels.end() && it->second == value;
    }
    if (matches) out.push_back(s);
  }
  return out;
}

// The one sample named `name` with exactly `labels`, or nothing.
inline std::optional<double> valueOf(const std::vector<MetricSample>& samples, const std::string& name,
                                     const std::map<std::string, std::string>& labels = {}) {
  for (const auto& s : samples) {
    if (s.name == name && s.labels == labels) return s.value;
  }
  return std::nullopt;
}

// The sum of the samples named `name` whose labels include `labels`.
inline double sumOf(const std::vector<MetricSample>& samples, const std::string& name,
                    const std::map<std::string, std::string>& labels = {}) {
  double total = 0;
  for (const auto& s : samplesOf(samples, name, labels)) total += s.value;
  return total;
}

}  // namespace clusternodes::testing
