#include "common/users.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace clusternodes {
namespace {

Result<UserIds> fromEntry(const passwd& entry) {
  UserIds ids;
  ids.name = entry.pw_name;
  ids.uid = entry.pw_uid;
  ids.gid = entry.pw_gid;
  int count = 16;
  std::vector<gid_t> groups(static_cast<size_t>(count));
  while (::getgrouplist(entry.pw_name, entry.pw_gid, groups.data(), &count) < 0) {
    if (count <= static_cast<int>(groups.size())) {
      return internalError("cannot list the groups of user '" + ids.name + "'");
    }
    groups.resize(static_cast<size_t>(count));
  }
  groups.resize(static_cast<size_t>(count));
  ids.groups = std::move(groups);
  return ids;
}

}  // namespace

Result<UserIds> lookupUser(const std::string& name) {
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buffer(4096);
  int rc = 0;
  while ((rc = ::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found)) == ERANGE &&
         buffer.size() < (1u << 20)) {
    buffer.resize(buffer.size() * 2);
  }
  if (rc != 0 && rc != ENOENT && rc != ESRCH) {
    return internalError("cannot look up user '" + name + "': " + std::strerror(rc));
  }
  if (found == nullptr) return notFound("user '" + name + "' does not exist on this host");
  return fromEntry(entry);
}

Result<UserIds> currentUser() {
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buffer(4096);
  int rc = 0;
  while ((rc = ::getpwuid_r(::geteuid(), &entry, buffer.data(), buffer.size(), &found)) == ERANGE &&
         buffer.size() < (1u << 20)) {
    buffer.resize(buffer.size() * 2);
  }
  if (found == nullptr) {
    return notFound("uid " + std::to_string(::geteuid()) + " has no user name on this host" +
                    (rc != 0 ? std::string(": ") + std::strerror(rc) : std::string()));
  }
  return fromEntry(entry);
}

std::string taskUser(const TaskInfo& task, const FrameworkInfo& framework) {
  const CommandInfo& command = task.executor ? task.executor->command : task.command;
  if (!command.user.empty()) return command.user;
  return framework.user;
}

}  // namespace clusternodes
