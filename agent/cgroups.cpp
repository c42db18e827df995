#include "agent/cgroups.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <thread>

#include "common/cgroup_files.hpp"

namespace clusternodes::agent {
namespace {

constexpr uint64_t kMinCfsQuotaUs = 1000;
// v1 reports "no limit" as the largest page-aligned value below 2^63.
constexpr uint64_t kUnlimitedAbove = uint64_t{1} << 62;

std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(separator, start);
    if (end == std::string_view::npos) end = text.size();
    out.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(const std::string& field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && std::isdigit(static_cast<unsigned char>(field[i + 1])) &&
        std::isdigit(static_cast<unsigned char>(field[i + 2])) &&
        std::isdigit(static_cast<unsigned char>(field[i + 3]))) {
      out += static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0'));
      i += 3;
    } else {
      out += field[i];
    }
  }
  return out;
}

// The value after `key` on its line of a "key value" file (cpu.stat,
// memory.events, memory.oom_control, cpuacct.stat); 0 when absent.
uint64_t keyed(const std::optional<std::string>& text, std::string_view key) {
  if (!text) return 0;
  for (const auto& line : split(*text, '\n')) {
    if (line.size() > key.size() && line.compare(0, key.size(), key) == 0 && line[key.size()] == ' ') {
      return std::strtoull(line.c_str() + key.size() + 1, nullptr, 10);
    }
  }
  return 0;
}

uint64_t number(const std::optional<std::string>& text) {
  if (!text || text->empty() || !std::isdigit(static_cast<unsigned char>((*text)[0]))) return 0;
  return std::strtoull(text->c_str(), nullptr, 10);
}

// The agent's directory in a hierarchy mounted at `mount` whose root is
// `mountRoot`, from its path there; "" when the path is outside the mount.
std::string ownDir(const std::string& mount, const std::string& mountRoot, const std::string& path) {
  if (mountRoot == "/" || mountRoot.empty()) return path == "/" ? mount : mount + path;
  if (path == mountRoot) return mount;
  if (path.rfind(mountRoot + "/", 0) == 0) return mount + path.substr(mountRoot.size());
  return "";
}

Result<void> makeDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) return {};
  std::string reason = std::strerror(errno);
  if (errno == EACCES || errno == EPERM || errno == EROFS) {
    reason += "; --isolation=cgroups needs root and a writable cgroup filesystem (or use --isolation=none)";
  }
  return internalError("cannot create the cgroup " + dir + ": " + reason);
}

// Adds the controllers in `wanted` that `dir`'s subtree_control lacks.
Result<void> enableControllers(const std::string& dir, const std::set<std::string>& wanted) {
  auto current = split(cgroup::read(dir, "cgroup.subtree_control").value_or(""), ' ');
  std::string add;
  for (const auto& controller : wanted) {
    bool present = false;
    for (auto word : current) {
      while (!word.empty() && (word.back() == '\n')) word.pop_back();
      present |= word == controller;
    }
    if (!present) add += (add.empty() ? "+" : " +") + controller;
  }
  if (add.empty()) return {};
  return cgroup::write(dir, "cgroup.subtree_control", add);
}

}  // namespace

CgroupMounts parseMountinfo(std::string_view mountinfo) {
  CgroupMounts mounts;
  for (const auto& line : split(mountinfo, '\n')) {
    auto fields = split(line, ' ');
    auto dash = std::find(fields.begin(), fields.end(), "-");
    // id parent major:minor root mount-point options [optional...] - type source super-options
    if (fields.size() < 5 || dash == fields.end() || std::distance(dash, fields.end()) < 4) continue;
    const std::string& type = *(dash + 1);
    std::string root = unescape(fields[3]);
    std::string point = unescape(fields[4]);
    if (type == "cgroup2") {
      if (mounts.v2.empty()) {
        mounts.v2 = point;
        mounts.v2Root = root;
      }
    } else if (type == "cgroup") {
      for (const auto& option : split(*(dash + 3), ',')) {
        // Mount options, not controllers.
        if (option == "rw" || option == "ro" || option == "xattr" || option == "noprefix" ||
            option == "clone_children" || option == "cpuset_v2_mode" || option.find('=') != std::string::npos) {
          continue;
        }
        if (mounts.v1.count(option) == 0) {
          mounts.v1[option] = point;
          mounts.v1Root[option] = root;
        }
      }
    }
  }
  return mounts;
}

std::map<std::string, std::string> parseProcCgroup(std::string_view text) {
  std::map<std::string, std::string> out;
  for (const auto& line : split(text, '\n')) {
    auto first = line.find(':');
    if (first == std::string::npos) continue;
    auto second = line.find(':', first + 1);
    if (second == std::string::npos) continue;
    std::string controllers = line.substr(first + 1, second - first - 1);
    std::string path = line.substr(second + 1);
    if (controllers.empty()) {
      out[""] = path;
      continue;
    }
    for (const auto& controller : split(controllers, ',')) out[controller] = path;
  }
  return out;
}

uint64_t cpuShares(double cpus) {
  return std::max<uint64_t>(2, static_cast<uint64_t>(std::llround(cpus * 1024)));
}

uint64_t cfsQuotaUs(double cpus) {
  return std::max<uint64_t>(kMinCfsQuotaUs, static_cast<uint64_t>(std::llround(cpus * kCfsPeriodUs)));
}

uint64_t sharesToWeight(uint64_t shares) {
  shares = std::clamp<uint64_t>(shares, 2, 262144);
  return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t parentWeight(double cpus) {
  return std::clamp<uint64_t>(static_cast<uint64_t>(std::llround(cpus * 100)), 1, 10000);
}

Result<CgroupsLayout> chooseLayout(const CgroupMounts& mounts, const std::map<std::string, std::string>& own,
                                   const std::string& root, const std::set<std::string>& v2Controllers) {
  auto ownPath = [&](const std::string& key) {
    auto it = own.find(key);
    return it == own.end() ? std::string("/") : it->second;
  };
  CgroupsLayout layout;
  if (mounts.v1.count("cpu") != 0 && mounts.v1.count("memory") != 0) {
    layout.version = 1;
    // Each hierarchy costs a mkdir and an rmdir per container on the launch
    // path, so only those that limit, measure or kill are used.
    for (const char* controller : {"cpu", "cpuacct", "memory", "freezer"}) {
      auto mount = mounts.v1.find(controller);
      if (mount == mounts.v1.end()) continue;
      auto existing = std::find_if(layout.hierarchies.begin(), layout.hierarchies.end(),
                                   [&](const auto& h) { return h.mount == mount->second; });
      if (existing != layout.hierarchies.end()) {
        existing->controllers.insert(controller);
        continue;
      }
      CgroupsLayout::Hierarchy hierarchy;
      hierarchy.controllers = {controller};
      hierarchy.mount = mount->second;
      hierarchy.containers = mount->second + "/" + root;
      hierarchy.own = ownDir(mount->second, mounts.v1Root.at(controller), ownPath(controller));
      layout.hierarchies.push_back(std::move(hierarchy));
    }
    return layout;
  }
  if (!mounts.v2.empty() && v2Controllers.count("cpu") != 0 && v2Controllers.count("memory") != 0) {
    layout.version = 2;
    CgroupsLayout::Hierarchy hierarchy;
    hierarchy.controllers = {"cpu", "memory"};
    if (v2Controllers.count("pids") != 0) hierarchy.controllers.insert("pids");
    hierarchy.mount = mounts.v2;
    hierarchy.containers = mounts.v2 + "/" + root;
    hierarchy.own = ownDir(mounts.v2, mounts.v2Root, ownPath(""));
    layout.hierarchies.push_back(std::move(hierarchy));
    return layout;
  }
  return invalid(
      "this host mounts no cgroups with the cpu and memory controllers (v1: cgroup mounts of cpu and memory; "
      "v2: both in cgroup.controllers); use --isolation=none");
}

CgroupsIsolator::CgroupsIsolator(CgroupsLayout layout) : layout_(std::move(layout)) {}

std::string CgroupsIsolator::name() const { return layout_.version == 1 ? "cgroups-v1" : "cgroups-v2"; }

Result<void> CgroupsIsolator::initialize(double cpus) {
  for (const auto& hierarchy : layout_.hierarchies) {
    if (layout_.version == 2) {
      if (auto enabled = enableControllers(hierarchy.mount, hierarchy.controllers); !enabled) {
        return internalError(enabled.error().message +
                             " (the agent must be able to delegate cpu and memory below " + hierarchy.mount + ")");
      }
    }
    if (auto made = makeDir(hierarchy.containers); !made) return made;
    if (layout_.version == 2) {
      if (auto enabled = enableControllers(hierarchy.containers, hierarchy.controllers); !enabled) return enabled;
    }
  }
  if (cpus > 0) {
    std::string parent = layout_.version == 1 ? containersDir("cpu") : layout_.hierarchies.front().containers;
    auto written = layout_.version == 1
                       ? cgroup::write(parent, "cpu.shares", std::to_string(std::min<uint64_t>(cpuShares(cpus), 262144)))
                       : cgroup::write(parent, "cpu.weight", std::to_string(parentWeight(cpus)));
    if (!written) return written;
  }
  return {};
}

std::string CgroupsIsolator::containersDir(const std::string& controller) const {
  for (const auto& hierarchy : layout_.hierarchies) {
    if (hierarchy.controllers.count(controller) != 0) return hierarchy.containers;
  }
  return "";
}

std::string CgroupsIsolator::dirFor(const std::string& id, const std::string& controller) const {
  std::string parent = containersDir(controller);
  return parent.empty() ? parent : parent + "/" + id;
}

Result<void> CgroupsIsolator::prepare(const std::string& id, const ContainerLimits& limits) {
  for (const auto& hierarchy : layout_.hierarchies) {
    if (auto made = makeDir(hierarchy.containers + "/" + id); !made) {
      remove(id);
      return made;
    }
  }
  if (auto applied = update(id, limits); !applied) {
    remove(id);
    return applied;
  }
  return {};
}

Result<void> CgroupsIsolator::update(const std::string& id, const ContainerLimits& limits) {
  uint64_t shares = cpuShares(limits.cpus);
  std::string cpu = dirFor(id, "cpu");
  std::string memory = dirFor(id, "memory");
  std::optional<uint64_t> quotaUs;
  if (limits.cpuQuota) {
    quotaUs = cfsQuotaUs(*limits.cpuQuota);
  }
  if (layout_.version == 1) {
    if (auto done = cgroup::write(cpu, "cpu.shares", std::to_string(shares)); !done) return done;
    if (quotaUs) {
      if (auto done = cgroup::write(cpu, "cpu.cfs_period_us", std::to_string(kCfsPeriodUs)); !done) return done;
      if (auto done = cgroup::write(cpu, "cpu.cfs_quota_us", std::to_string(*quotaUs)); !done) return done;
    }
    if (limits.memBytes > 0) {
      std::string bytes = std::to_string(limits.memBytes);
      // memory+swap may never be below memory: when growing, it goes first.
      bool memsw = ::access((memory + "/memory.memsw.limit_in_bytes").c_str(), F_OK) == 0;
      auto current = cgroup::read(memory, "memory.limit_in_bytes");
      bool growing = current && limits.memBytes > std::strtoull(current->c_str(), nullptr, 10);
      if (memsw && growing) {
        if (auto done = cgroup::write(memory, "memory.memsw.limit_in_bytes", bytes); !done) return done;
      }
      if (auto done = cgroup::write(memory, "memory.limit_in_bytes", bytes); !done) return done;
      if (memsw && !growing) {
        if (auto done = cgroup::write(memory, "memory.memsw.limit_in_bytes", bytes); !done) return done;
      }
    }
    return {};
  }
  if (auto done = cgroup::write(cpu, "cpu.weight", std::to_string(sharesToWeight(shares))); !done) return done;
  std::string max = (quotaUs ? std::to_string(*quotaUs) : std::string("max")) + " " + std::to_string(kCfsPeriodUs);
  if (auto done = cgroup::write(cpu, "cpu.max", max); !done) return done;
  if (limits.memBytes > 0) {
    if (auto done = cgroup::write(memory, "memory.max", std::to_string(limits.memBytes)); !done) return done;
    if (::access((memory + "/memory.swap.max").c_str(), F_OK) == 0) {
      if (auto done = cgroup::write(memory, "memory.swap.max", "0"); !done) return done;
    }
  }
  return {};
}

std::vector<std::string> CgroupsIsolator::joinDirs(const std::string& id) const {
  std::vector<std::string> dirs;
  for (const auto& hierarchy : layout_.hierarchies) dirs.push_back(hierarchy.containers + "/" + id);
  return dirs;
}

std::vector<std::string> CgroupsIsolator::returnDirs() const {
  std::vector<std::string> dirs;
  for (const auto& hierarchy : layout_.hierarchies) {
    if (!hierarchy.own.empty()) dirs.push_back(hierarchy.own);
  }
  return dirs;
}

std::string CgroupsIsolator::location(const std::string& id) const {
  if (layout_.version == 2) return layout_.hierarchies.front().containers + "/" + id;
  return dirFor(id, "memory");
}

Result<ContainerUsage> CgroupsIsolator::usage(const std::string& id, ProcessRoot) const {
  ContainerUsage usage;
  std::string memory = dirFor(id, "memory");
  if (::access(memory.c_str(), F_OK) != 0) return notFound("no cgroup " + memory);
  if (layout_.version == 1) {
    std::string cpuacct = dirFor(id, "cpuacct");
    if (!cpuacct.empty()) {
      usage.cpuSeconds = static_cast<double>(number(cgroup::read(cpuacct, "cpuacct.usage"))) / 1e9;
      auto stat = cgroup::read(cpuacct, "cpuacct.stat");
      double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
      usage.cpuUserSeconds = static_cast<double>(keyed(stat, "user")) / tick;
      usage.cpuSystemSeconds = static_cast<double>(keyed(stat, "system")) / tick;
    }
    usage.memBytes = number(cgroup::read(memory, "memory.usage_in_bytes"));
    usage.memPeakBytes = number(cgroup::read(memory, "memory.max_usage_in_bytes"));
    uint64_t limit = number(cgroup::read(memory, "memory.limit_in_bytes"));
    usage.memLimitBytes = limit >= kUnlimitedAbove ? 0 : limit;
    usage.oomKills = keyed(cgroup::read(memory, "memory.oom_control"), "oom_kill");
  } else {
    auto stat = cgroup::read(memory, "cpu.stat");
    usage.cpuSeconds = static_cast<double>(keyed(stat, "usage_usec")) / 1e6;
    usage.cpuUserSeconds = static_cast<double>(keyed(stat, "user_usec")) / 1e6;
    usage.cpuSystemSeconds = static_cast<double>(keyed(stat, "system_usec")) / 1e6;
    usage.memBytes = number(cgroup::read(memory, "memory.current"));
    usage.memPeakBytes = number(cgroup::read(memory, "memory.peak"));
    usage.memLimitBytes = number(cgroup::read(memory, "memory.max"));  // "max" reads as 0
    usage.oomKills = keyed(cgroup::read(memory, "memory.events"), "oom_kill");
  }
  usage.processes = static_cast<uint32_t>(cgroup::procs(memory).size());
  return usage;
}

size_t CgroupsIsolator::killAll(const std::string& id, ProcessRoot) {
  std::string memory = dirFor(id, "memory");
  auto pids = cgroup::procs(memory);
  if (pids.empty()) return 0;
  if (layout_.version == 2) {
    // cgroup.kill (Linux 5.14) kills the whole cgroup at once, forks racing
    // with it included.
    if (cgroup::write(memory, "cgroup.kill", "1")) return pids.size();
    for (pid_t pid : pids) ::kill(pid, SIGKILL);
    return pids.size();
  }
  // v1: freeze the cgroup so that nothing in it can fork while it is being
  // killed, kill every process, and thaw it so that they die.
  std::string freezer = dirFor(id, "freezer");
  bool frozen = false;
  if (!freezer.empty() && cgroup::write(freezer, "freezer.state", "FROZEN")) {
    for (int i = 0; i < 100 && !frozen; ++i) {
      auto state = cgroup::read(freezer, "freezer.state").value_or("");
      frozen = state.rfind("FROZEN", 0) == 0;
      if (!frozen) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    pids = cgroup::procs(memory);
  }
  for (pid_t pid : pids) ::kill(pid, SIGKILL);
  if (!freezer.empty()) (void)cgroup::write(freezer, "freezer.state", "THAWED");
  return pids.size();
}

bool CgroupsIsolator::remove(const std::string& id) {
  bool removed = true;
  for (const auto& hierarchy : layout_.hierarchies) {
    std::string dir = hierarchy.containers + "/" + id;
    if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) removed = false;
  }
  return removed;
}

size_t CgroupsIsolator::sweep(const std::set<std::string>& active, std::chrono::seconds minAge) {
  std::set<std::string> removed;
  auto now = std::chrono::system_clock::now();
  for (const auto& hierarchy : layout_.hierarchies) {
    DIR* dir = ::opendir(hierarchy.containers.c_str());
    if (dir == nullptr) continue;
    std::vector<std::string> names;
    while (dirent* entry = ::readdir(dir)) {
      std::string name = entry->d_name;
      if (entry->d_type == DT_DIR && name != "." && name != ".." && active.count(name) == 0) names.push_back(name);
    }
    ::closedir(dir);
    for (const auto& name : names) {
      std::string path = hierarchy.containers + "/" + name;
      struct stat st{};
      if (::stat(path.c_str(), &st) != 0) continue;
      auto made = std::chrono::system_clock::from_time_t(st.st_mtime);
      if (now - made < minAge) continue;
      // rmdir refuses a cgroup that still has processes (EBUSY).
      if (::rmdir(path.c_str()) == 0) removed.insert(name);
    }
  }
  return removed.size();
}

}  // namespace clusternodes::agent
