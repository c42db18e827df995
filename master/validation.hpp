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
// same ACCEPT). The error message is the reason a user reads in TASK_ERROR.
Result<void> validateTask(const TaskInfo& task, const AgentID& offersAgent, const Resources& remaining,
                          const std::set<TaskID>& usedIds);

// Checks a FrameworkInfo at subscription.
// A role name: "*", or a '/'-separated path of non-empty segments made of
// [A-Za-z0-9_.-], none of them "." or "..".
Result<void> validateRole(const std::string& role);
Result<void> validateFrameworkInfo(const FrameworkInfo& info);

}  // namespace clusternodes::master
