// The tables `clusternodes status` prints from the master's /state.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "clusternodes/result.hpp"

namespace clusternodes::cli {

// Three sections, each a heading and an aligned table (or a "none" line):
//   AGENTS: id, hostname, reachable/unreachable, cpus and mem used/total, tasks
//   FRAMEWORKS: id, name, role, connected, tasks, dominant share
//   RUNNING TASKS: id, framework, agent, state (tasks not yet terminal)
// `state` comes from the network: missing fields print as empty cells, and a
// document of the wrong shape fails (kInvalid); it never throws.
Result<std::string> renderStatus(const nlohmann::json& state);

// `clusternodes agents`: ID, HOSTNAME, ADDRESS, STATE, CPUS, MEM (MiB),
// DISK (MiB) as used/total, TASKS, ATTRIBUTES (k=v, comma-separated).
Result<std::string> renderAgents(const nlohmann::json& state);

// `clusternodes frameworks`: ID, NAME, ROLE, CONNECTED, TASKS, SHARE,
// OFFERS (what the framework's offers look like now: "wanted 12s",
// "starved 95s", "suppressed", or "-" when it holds what it wants).
Result<std::string> renderFrameworks(const nlohmann::json& state);

// Which tasks `clusternodes tasks` lists.
struct TaskFilter {
  bool all = false;        // also the completed ones (completed_tasks)
  std::string state;       // "TASK_RUNNING" or "running"; "" = any
  std::string framework;   // a framework's id or name; "" = any
};

// "running", "TASK_RUNNING" and "Running" are TASK_RUNNING; fails (kInvalid)
// listing the states for anything else.
Result<std::string> normalizeTaskState(const std::string& name);

// The tasks of /state that pass `filter`, newest last: each task's JSON with
// "framework_name" and "agent_hostname" added.
Result<nlohmann::json> selectTasks(const nlohmann::json& state, const TaskFilter& filter);

// `clusternodes tasks`: ID, FRAMEWORK, AGENT (hostname), STATE, AGE (as of
// `now`, Unix seconds), CPUS, MEM (MiB), REASON (the last status's reason,
// and its message when there is one).
std::string renderTasks(const nlohmann::json& tasks, double now);

// "42s", "3m5s", "2h4m", "3d2h": how long ago, in at most two units.
std::string formatAge(double seconds);

// True for the task states after which a task never runs again
// (TASK_FINISHED, TASK_FAILED, TASK_KILLED, TASK_ERROR, TASK_LOST,
// TASK_DROPPED, TASK_GONE).
bool isTerminalTaskState(const std::string& state);

}  // namespace clusternodes::cli
