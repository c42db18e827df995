// Validation of framework calls: pure functions, testable without a cluster.
#pragma once

#include <set>
#include <string>

#include "clusternodes/result.hpp"
#include "clusternodes/values.hpp"

namespace clusternodes::master {

// Checks one task of a LAUNCH against the offers it uses. `remaining` is what
// the offers still hold after the earlier tasks of the same ACCEPT; `usedIds`
// the framework's task ids that are taken (live tasks and earlier tasks of the
// same ACCEPT). A task that names an executor: `running` is that executor
// when it already runs on the agent (the task must then name it the same
// way), else nullptr (the offers must also hold the executor's resources).
// The error message is the reason a user reads in TASK_ERROR.
Result<void> validateTask(const TaskInfo& task, const AgentID& offersAgent, const Resources& remaining,
                          const std::set<TaskID>& usedIds, const ExecutorInfo* running = nullptr);

// The longest kill grace period a task may ask for (a week).
constexpr double kMaxKillGracePeriodSeconds = 7 * 24 * 3600;

// Checks a FrameworkInfo at subscription.
Result<void> validateFrameworkInfo(const FrameworkInfo& info);

}  // namespace clusternodes::master
