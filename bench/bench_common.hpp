// What the benchmark programs share: the median of a column, and the
// description of the machine a run was taken on (as docs/benchmarks.md gives
// it), for the text report and for --json.
#pragma once

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "clusternodes/resources.hpp"
#include "clusternodes/values.hpp"

namespace clusternodes::bench {

// Packs tasks of `perTask` resources running `command`, named PREFIX-N, into
// `offer` while fewer than `total` are launched; advances `launched`.
inline std::vector<TaskInfo> packTasks(const Offer& offer, const Resources& perTask, const std::string& prefix,
                                       const std::string& command, int total, int& launched) {
  Resources remaining = offer.resources;
  std::vector<TaskInfo> tasks;
  while (launched < total && remaining.contains(perTask)) {
    TaskInfo task;
    task.taskId.value = prefix + "-" + std::to_string(launched);
    task.name = task.taskId.value;
    task.agentId = offer.agentId;
    task.resources = perTask;
    task.command.value = command;
    remaining -= perTask;
    tasks.push_back(std::move(task));
    ++launched;
  }
  return tasks;
}

// The median of `values`; 0 when there are none.
inline double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

struct Machine {
  std::string model;   // "model name" of the first CPU in /proc/cpuinfo
  long cores = 0;      // online CPUs
  double memGiB = 0;   // MemTotal
  std::string kernel;  // uname -r
  std::string load;    // the three load averages when the run began
};

// The value after "key:" on the first line of `path` that starts with `key`,
// or "" when there is none.
inline std::string procField(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) != 0) continue;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    auto value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    return value;
  }
  return "";
}

// The three load averages now, as /proc/loadavg gives them: "0.35 0.40 0.52".
inline std::string loadAverage() {
  std::ifstream loadavg("/proc/loadavg");
  std::string a, b, c;
  loadavg >> a >> b >> c;
  return a + " " + b + " " + c;
}

inline Machine describeMachine() {
  Machine m;
  m.model = procField("/proc/cpuinfo", "model name");
  m.cores = ::sysconf(_SC_NPROCESSORS_ONLN);
  std::istringstream mem(procField("/proc/meminfo", "MemTotal"));
  double kib = 0;
  mem >> kib;
  m.memGiB = kib / (1024.0 * 1024.0);
  utsname name{};
  if (::uname(&name) == 0) m.kernel = name.release;
  m.load = loadAverage();
  return m;
}

// "machine: MODEL, N cores, X GiB, Linux K; load average at start A B C".
inline void printMachine(const Machine& machine) {
  std::printf("machine: %s, %ld cores, %.1f GiB, Linux %s; load average at start %s\n", machine.model.c_str(),
              machine.cores, machine.memGiB, machine.kernel.c_str(), machine.load.c_str());
}

// The machine as the "machine" object of a --json report.
inline nlohmann::json machineJson(const Machine& machine) {
  return {{"model", machine.model},
          {"cores", machine.cores},
          {"mem_gib", machine.memGiB},
          {"kernel", machine.kernel},
          {"load_average_at_start", machine.load}};
}

}  // namespace clusternodes::bench
