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

// True for the task states after which a task never runs again
// (TASK_FINISHED, TASK_FAILED, TASK_KILLED, TASK_ERROR, TASK_LOST,
// TASK_DROPPED, TASK_GONE).
bool isTerminalTaskState(const std::string& state);

}  // namespace clusternodes::cli
