// Users tasks run as: looked up on this host by the agent, which runs as
// root and hands the numeric ids to whoever starts the task (SpawnOptions::
// user in common/process.hpp), so that executors never read the user
// database themselves.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "clusternodes/result.hpp"
#include "clusternodes/values.hpp"

namespace clusternodes {

struct UserIds {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;                // the primary group
  std::vector<gid_t> groups;    // every group, the primary one included
};

// `name` in this host's user database (NSS), with its groups. kNotFound
// when there is no such user; kInternal when the database cannot be read.
Result<UserIds> lookupUser(const std::string& name);

// Who this process runs as.
Result<UserIds> currentUser();

// The user a task asks to run as: its command's (its executor's, for a task
// of a framework's executor, which runs them all), else its framework's;
// "" when neither names one (it then runs as its agent's own user).
std::string taskUser(const TaskInfo& task, const FrameworkInfo& framework);

}  // namespace clusternodes
