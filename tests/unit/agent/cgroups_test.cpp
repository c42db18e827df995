// Unit tests for the agent's isolation: the cgroups parsing and layout logic
// on literal /proc text, CgroupsIsolator against fake cgroup trees in a
// temporary directory, the "none" isolator against real child processes, and
// (as root on a host with cgroups) one run against the real kernel.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/cgroups.hpp"
#include "agent/isolator.hpp"
#include "clusternodes/result.hpp"
#include "common/cgroup_files.hpp"
#include "tests/harness/temp_dir.hpp"

using namespace clusternodes;
using namespace clusternodes::agent;
namespace fs = std::filesystem;
using std::chrono::milliseconds;

using clusternodes::testing::TempDir;

namespace {

// ------------------------------------------------------------------ helpers

void writeFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  REQUIRE(out.good());
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// Polls `done` every millisecond until it holds or `limit` passes.
bool eventually(const std::function<bool()>& done, milliseconds limit = milliseconds(5000)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

// Reaps `pid` (our child), waiting at most `limit`; the wait status, or
// nullopt when it did not end in time (or is not our child).
std::optional<int> reap(pid_t pid, milliseconds limit = milliseconds(5000)) {
  std::optional<int> status;
  eventually(
      [&] {
        int s = 0;
        pid_t r = ::waitpid(pid, &s, WNOHANG);
        if (r == pid) status = s;
        return r != 0;  // reaped, or an error such as ECHILD
      },
      limit);
  return status;
}

// A process that is gone or a zombie (killed, not yet reaped by its parent).
bool deadOrZombie(pid_t pid) {
  auto stat = cgroup::read("/proc/" + std::to_string(pid), "stat");
  if (!stat) return true;
  auto close = stat->rfind(')');
  return close == std::string::npos || close + 2 >= stat->size() || (*stat)[close + 2] == 'Z' ||
         (*stat)[close + 2] == 'X';
}

// A child of the test running `sleep 30` (exec'd straight after fork, so only
// async-signal-safe calls run in the child), killed and reaped on scope exit.
struct SleepingChild {
  pid_t pid = -1;
  SleepingChild() {
    pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~SleepingChild() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      (void)reap(pid);
    }
  }
};

// The standard v1 + hybrid mountinfo of this kind of host: separate cpu and
// cpuacct mounts, a name=systemd hierarchy (no controller) and a cgroup2
// mount without controllers at /sys/fs/cgroup/unified.
const char* kV1Host =
    "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
    "23 27 0:22 / /sys rw,relatime - sysfs sysfs rw\n"
    "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
    "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

// The matching /proc/self/cgroup: the agent sits in a memory cgroup of its own.
const char* kV1HostProcCgroup =
    "9:name=systemd:/\n"
    "8:pids:/\n"
    "7:blkio:/\n"
    "6:freezer:/\n"
    "5:devices:/\n"
    "4:memory:/process_api/51676724c26b61168b5ff70fd9c15f1d\n"
    "3:cpuset:/\n"
    "2:cpuacct:/\n"
    "1:cpu:/\n"
    "0::/\n";

// A systemd host of the cgroup v1 era: cpu and cpuacct share one mount
// (with optional "shared:N" fields before the separator).
const char* kCombinedV1Host =
    "25 24 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
    "26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 "
    "rw,nsdelegate\n"
    "27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup "
    "rw,xattr,name=systemd\n"
    "30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup "
    "rw,cpu,cpuacct\n"
    "31 25 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory\n"
    "32 25 0:29 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,freezer\n"
    "33 25 0:30 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,pids\n";

// A pure v2 host (systemd's unified layout).
const char* kV2Host =
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "25 22 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";

}  // namespace

// ============================================================ parseMountinfo

// The hosts this agent runs on: every v1 controller is found at its mount,
// the name=systemd hierarchy is not taken for a controller, and the
// controller-less cgroup2 mount is still recorded as the v2 mount.
TEST_CASE("parseMountinfo: v1 host with separate cpu and cpuacct mounts, systemd and unified") {
  auto mounts = parseMountinfo(kV1Host);
  CHECK(mounts.v1.at("cpu") == "/sys/fs/cgroup/cpu");
  CHECK(mounts.v1.at("cpuacct") == "/sys/fs/cgroup/cpuacct");
  CHECK(mounts.v1.at("memory") == "/sys/fs/cgroup/memory");
  CHECK(mounts.v1.at("freezer") == "/sys/fs/cgroup/freezer");
  CHECK(mounts.v1.at("pids") == "/sys/fs/cgroup/pids");
  CHECK(mounts.v1.at("cpuset") == "/sys/fs/cgroup/cpuset");
  CHECK(mounts.v1.count("name=systemd") == 0);
  CHECK(mounts.v1.count("systemd") == 0);
  CHECK(mounts.v1.count("rw") == 0);
  CHECK(mounts.v1.size() == 8);  // cpu cpuacct cpuset memory devices freezer blkio pids
  for (const auto& [controller, root] : mounts.v1Root) CHECK_MESSAGE(root == "/", controller);
  CHECK(mounts.v1Root.size() == mounts.v1.size());
  CHECK(mounts.v2 == "/sys/fs/cgroup/unified");
  CHECK(mounts.v2Root == "/");
}

// A combined "cpu,cpuacct" mount gives both controllers the same mount
// point; optional fields ("shared:N") before " - " do not confuse the parser.
TEST_CASE("parseMountinfo: combined cpu,cpuacct v1 mount") {
  auto mounts = parseMountinfo(kCombinedV1Host);
  CHECK(mounts.v1.at("cpu") == "/sys/fs/cgroup/cpu,cpuacct");
  CHECK(mounts.v1.at("cpuacct") == "/sys/fs/cgroup/cpu,cpuacct");
  CHECK(mounts.v1.at("memory") == "/sys/fs/cgroup/memory");
  CHECK(mounts.v1.at("freezer") == "/sys/fs/cgroup/freezer");
  CHECK(mounts.v1.at("pids") == "/sys/fs/cgroup/pids");
  CHECK(mounts.v1.count("name=systemd") == 0);
  CHECK(mounts.v2 == "/sys/fs/cgroup/unified");
}

// A pure v2 host: no v1 controllers at all, the one cgroup2 mount.
TEST_CASE("parseMountinfo: pure v2 host") {
  auto mounts = parseMountinfo(kV2Host);
  CHECK(mounts.v1.empty());
  CHECK(mounts.v1Root.empty());
  CHECK(mounts.v2 == "/sys/fs/cgroup");
  CHECK(mounts.v2Root == "/");
}

// Only the first cgroup2 mount counts (a second, bind-mounted copy does not
// replace it); likewise the first mount of a v1 controller.
TEST_CASE("parseMountinfo: the first mount of a hierarchy wins") {
  auto mounts = parseMountinfo(
      "25 22 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
      "90 22 0:22 /sub /mnt/again rw - cgroup2 cgroup2 rw\n"
      "91 22 0:30 / /first/memory rw - cgroup cgroup rw,memory\n"
      "92 22 0:30 / /second/memory rw - cgroup cgroup rw,memory\n");
  CHECK(mounts.v2 == "/sys/fs/cgroup");
  CHECK(mounts.v2Root == "/");
  CHECK(mounts.v1.at("memory") == "/first/memory");
}

// mountinfo escapes spaces (and tabs, newlines, backslashes) as \ooo in the
// root and mount point fields; they must come back as the real characters.
TEST_CASE("parseMountinfo: octal escapes in mount points and roots") {
  auto mounts = parseMountinfo(
      "50 31 0:40 /my\\040root /mnt/my\\040cgroups/memory rw - cgroup cgroup rw,memory\n"
      "51 31 0:41 / /mnt/tab\\011and\\134slash rw - cgroup cgroup rw,cpu\n"
      "52 31 0:42 / /mnt/v2\\040 rw - cgroup2 cgroup2 rw\n");
  CHECK(mounts.v1.at("memory") == "/mnt/my cgroups/memory");
  CHECK(mounts.v1Root.at("memory") == "/my root");
  CHECK(mounts.v1.at("cpu") == "/mnt/tab\tand\\slash");
  CHECK(mounts.v2 == "/mnt/v2 ");  // an escape as the very last characters
}

// Inside a container the hierarchy is mounted from a sub-cgroup: the root
// field carries that path, which the agent needs to find its own cgroup.
TEST_CASE("parseMountinfo: a mount whose root is not /") {
  auto mounts = parseMountinfo(
      "700 690 0:32 /docker/abc123 /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory\n"
      "701 690 0:29 /docker/abc123 /sys/fs/cgroup/cpu,cpuacct ro,nosuid - cgroup cgroup rw,cpu,cpuacct\n"
      "702 690 0:40 /kubepods/pod1 /sys/fs/cgroup2 rw - cgroup2 cgroup2 rw\n");
  CHECK(mounts.v1Root.at("memory") == "/docker/abc123");
  CHECK(mounts.v1Root.at("cpu") == "/docker/abc123");
  CHECK(mounts.v1Root.at("cpuacct") == "/docker/abc123");
  CHECK(mounts.v2 == "/sys/fs/cgroup2");
  CHECK(mounts.v2Root == "/kubepods/pod1");
}

// Garbage, truncated lines and lines without the " - " separator are skipped
// without crashing; good lines around them still count.
TEST_CASE("parseMountinfo: malformed lines are skipped") {
  std::string text =
      "\n"
      "garbage\n"
      "1 2 3\n"
      "1 2 3 4\n"
      "35 31 0:32 / /bad/memory rw,relatime cgroup cgroup rw,memory\n"  // no separator
      "35 31 0:32 / /bad/cpu rw - cgroup\n"                             // too short after it
      "35 31 0:32 / /bad/pids rw - cgroup cgroup\n"                     // no super options
      "- - - -\n"
      "36 31 0:33 / /good/memory rw,relatime - cgroup cgroup rw,memory\n"
      "   \n"
      "37 31 0:34 / /good/v2 rw - cgroup2 cgroup2 rw";  // no final newline
  auto mounts = parseMountinfo(text);
  CHECK(mounts.v1.size() == 1);
  CHECK(mounts.v1.at("memory") == "/good/memory");
  CHECK(mounts.v2 == "/good/v2");
  CHECK(parseMountinfo("").v1.empty());
  CHECK(parseMountinfo("").v2.empty());
}

// =========================================================== parseProcCgroup

// /proc/<pid>/cgroup: combined v1 controllers each get the path, the v2 line
// ("0::path") goes under "", and named hierarchies do not shadow either.
TEST_CASE("parseProcCgroup: v1 combined controllers, the v2 line and name=systemd") {
  auto own = parseProcCgroup(
      "12:pids:/system.slice/agent.service\n"
      "4:cpu,cpuacct:/system.slice/agent.service\n"
      "3:memory:/system.slice\n"
      "1:name=systemd:/system.slice/agent.service\n"
      "0::/system.slice/agent.service\n");
  CHECK(own.at("cpu") == "/system.slice/agent.service");
  CHECK(own.at("cpuacct") == "/system.slice/agent.service");
  CHECK(own.at("memory") == "/system.slice");
  CHECK(own.at("pids") == "/system.slice/agent.service");
  CHECK(own.at("") == "/system.slice/agent.service");
  CHECK(own.count("systemd") == 0);
  CHECK(own.count("cpu,cpuacct") == 0);

  auto v2 = parseProcCgroup("0::/user.slice/user-1000.slice/session-2.scope\n");
  CHECK(v2.size() == 1);
  CHECK(v2.at("") == "/user.slice/user-1000.slice/session-2.scope");

  // A path may itself hold ':'; only the first two separate fields.
  CHECK(parseProcCgroup("0::/odd:name").at("") == "/odd:name");
  // Lines without two colons are ignored.
  CHECK(parseProcCgroup("junk\n7:memory\n\n").empty());

  auto host = parseProcCgroup(kV1HostProcCgroup);
  CHECK(host.at("memory") == "/process_api/51676724c26b61168b5ff70fd9c15f1d");
  CHECK(host.at("cpu") == "/");
  CHECK(host.at("") == "/");
}

// ============================================================== chooseLayout

// v1 is chosen on a v1 host; each controller the isolator uses gets its own
// hierarchy (separate mounts), containers go under <mount>/<root>, and the
// agent's own dir follows /proc/self/cgroup (here a non-root memory cgroup).
TEST_CASE("chooseLayout: v1 with separate mounts") {
  auto layout = chooseLayout(parseMountinfo(kV1Host), parseProcCgroup(kV1HostProcCgroup), "clusternodes", {});
  REQUIRE(layout.ok());
  CHECK(layout->version == 1);
  REQUIRE(layout->hierarchies.size() == 4);  // cpu cpuacct memory freezer; not cpuset, pids etc.
  std::map<std::string, CgroupsLayout::Hierarchy> byMount;
  for (const auto& h : layout->hierarchies) byMount[h.mount] = h;
  CHECK(byMount.count("/sys/fs/cgroup/cpuset") == 0);
  CHECK(byMount.count("/sys/fs/cgroup/pids") == 0);
  const auto& memory = byMount.at("/sys/fs/cgroup/memory");
  CHECK(memory.controllers == std::set<std::string>{"memory"});
  CHECK(memory.containers == "/sys/fs/cgroup/memory/clusternodes");
  CHECK(memory.own == "/sys/fs/cgroup/memory/process_api/51676724c26b61168b5ff70fd9c15f1d");
  const auto& cpu = byMount.at("/sys/fs/cgroup/cpu");
  CHECK(cpu.controllers == std::set<std::string>{"cpu"});
  CHECK(cpu.containers == "/sys/fs/cgroup/cpu/clusternodes");
  CHECK(cpu.own == "/sys/fs/cgroup/cpu");  // "/" is the mount itself
  CHECK(byMount.at("/sys/fs/cgroup/cpuacct").controllers == std::set<std::string>{"cpuacct"});
  CHECK(byMount.at("/sys/fs/cgroup/freezer").containers == "/sys/fs/cgroup/freezer/clusternodes");
  CHECK(byMount.at("/sys/fs/cgroup/freezer").own == "/sys/fs/cgroup/freezer");

  // The isolator built on it names the right directories.
  CgroupsIsolator isolator(*layout);
  CHECK(isolator.name() == "cgroups-v1");
  CHECK(isolator.location("c1") == "/sys/fs/cgroup/memory/clusternodes/c1");
  auto join = isolator.joinDirs("c1");
  CHECK(join.size() == 4);
  CHECK(std::count(join.begin(), join.end(), "/sys/fs/cgroup/cpuacct/clusternodes/c1") == 1);
  auto back = isolator.returnDirs();
  CHECK(back.size() == 4);
  CHECK(std::count(back.begin(), back.end(),
                   "/sys/fs/cgroup/memory/process_api/51676724c26b61168b5ff70fd9c15f1d") == 1);
}

// A combined cpu,cpuacct mount is one hierarchy with both controllers, not
// two (which would make the executor join the same cgroup twice).
TEST_CASE("chooseLayout: v1 hierarchies are deduplicated by mount") {
  auto own = parseProcCgroup("4:cpu,cpuacct:/system.slice/a.service\n3:memory:/system.slice/a.service\n");
  auto layout = chooseLayout(parseMountinfo(kCombinedV1Host), own, "cn", {});
  REQUIRE(layout.ok());
  CHECK(layout->version == 1);
  REQUIRE(layout->hierarchies.size() == 3);  // cpu+cpuacct, memory, freezer
  const auto& first = layout->hierarchies.front();
  CHECK(first.mount == "/sys/fs/cgroup/cpu,cpuacct");
  CHECK(first.controllers == std::set<std::string>{"cpu", "cpuacct"});
  CHECK(first.containers == "/sys/fs/cgroup/cpu,cpuacct/cn");
  CHECK(first.own == "/sys/fs/cgroup/cpu,cpuacct/system.slice/a.service");
  // A controller missing from /proc/self/cgroup counts as "/".
  CHECK(layout->hierarchies.back().mount == "/sys/fs/cgroup/freezer");
  CHECK(layout->hierarchies.back().own == "/sys/fs/cgroup/freezer");
}

// With a mount root that is not "/", the agent's path is relative to it:
// the root itself is the mount point, a path below it maps below the mount,
// and a path outside it has no directory (and no return dir).
TEST_CASE("chooseLayout: the agent's own dir under a mount whose root is not /") {
  auto mounts = parseMountinfo(
      "700 690 0:29 /docker/abc /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
      "701 690 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
      "702 690 0:34 /docker/abc /sys/fs/cgroup/freezer rw - cgroup cgroup rw,freezer\n");
  auto own = parseProcCgroup(
      "3:cpu:/docker/abc\n"
      "2:memory:/docker/abc/agent\n"
      "1:freezer:/elsewhere\n");
  auto layout = chooseLayout(mounts, own, "cn", {});
  REQUIRE(layout.ok());
  REQUIRE(layout->hierarchies.size() == 3);
  CHECK(layout->hierarchies[0].own == "/sys/fs/cgroup/cpu");
  CHECK(layout->hierarchies[1].own == "/sys/fs/cgroup/memory/agent");
  CHECK(layout->hierarchies[2].own == "");
  // "/docker/abcdef" is not below "/docker/abc".
  auto sibling = chooseLayout(mounts, parseProcCgroup("2:memory:/docker/abcdef\n"), "cn", {});
  REQUIRE(sibling.ok());
  CHECK(sibling->hierarchies[1].own == "");
  CgroupsIsolator isolator(*layout);
  CHECK(isolator.returnDirs() == std::vector<std::string>{"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/memory/agent"});
}

// v2 is chosen when only cgroup2 offers cpu and memory; pids joins the
// controllers when available, and the own dir comes from the "0::" line.
TEST_CASE("chooseLayout: v2 when only cgroup2 has cpu and memory") {
  auto own = parseProcCgroup("0::/system.slice/agent.service\n");
  auto layout = chooseLayout(parseMountinfo(kV2Host), own, "clusternodes", {"cpuset", "cpu", "io", "memory", "pids"});
  REQUIRE(layout.ok());
  CHECK(layout->version == 2);
  REQUIRE(layout->hierarchies.size() == 1);
  const auto& h = layout->hierarchies.front();
  CHECK(h.controllers == std::set<std::string>{"cpu", "memory", "pids"});
  CHECK(h.mount == "/sys/fs/cgroup");
  CHECK(h.containers == "/sys/fs/cgroup/clusternodes");
  CHECK(h.own == "/sys/fs/cgroup/system.slice/agent.service");
  CgroupsIsolator isolator(*layout);
  CHECK(isolator.name() == "cgroups-v2");
  CHECK(isolator.location("r1") == "/sys/fs/cgroup/clusternodes/r1");
  CHECK(isolator.joinDirs("r1") == std::vector<std::string>{"/sys/fs/cgroup/clusternodes/r1"});

  auto noPids = chooseLayout(parseMountinfo(kV2Host), own, "clusternodes", {"cpu", "memory"});
  REQUIRE(noPids.ok());
  CHECK(noPids->hierarchies.front().controllers == std::set<std::string>{"cpu", "memory"});

  // A nested cgroup2 mount root (cgroup namespace / container) is honoured.
  auto nested = chooseLayout(parseMountinfo("9 1 0:40 /kube/pod /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"),
                             parseProcCgroup("0::/kube/pod/agent\n"), "cn", {"cpu", "memory"});
  REQUIRE(nested.ok());
  CHECK(nested->hierarchies.front().own == "/sys/fs/cgroup/agent");
}

// A hybrid host whose unified mount has no controllers, and a v1 host
// missing memory, are not usable: the error points at --isolation=none.
TEST_CASE("chooseLayout: neither v1 nor v2 usable is an error naming --isolation=none") {
  auto check = [](const CgroupMounts& mounts, const std::set<std::string>& controllers) {
    auto layout = chooseLayout(mounts, {}, "clusternodes", controllers);
    REQUIRE_FALSE(layout.ok());
    CHECK(layout.error().code == ErrorCode::kInvalid);
    CHECK(layout.error().message.find("--isolation=none") != std::string::npos);
  };
  // v1 cpu without memory, cgroup2 without controllers.
  check(parseMountinfo("32 31 0:29 / /c/cpu rw - cgroup cgroup rw,cpu\n"
                       "41 31 0:38 / /c/unified rw - cgroup2 cgroup2 rw\n"),
        {});
  // cgroup2 with memory but not cpu.
  check(parseMountinfo(kV2Host), {"memory", "pids"});
  // cgroup2 controllers given but nothing mounted.
  check(CgroupMounts{}, {"cpu", "memory"});
  // v1 without cpu does not block v2: a cgroup2 mount offering both wins.
  auto mixed = chooseLayout(parseMountinfo("35 31 0:32 / /c/memory rw - cgroup cgroup rw,memory\n"
                                           "41 31 0:38 / /c/unified rw - cgroup2 cgroup2 rw\n"),
                            {}, "cn", {"cpu", "memory"});
  REQUIRE(mixed.ok());
  CHECK(mixed->version == 2);
}

// ================================================== cpuShares / sharesToWeight

// 1024 shares a cpu, never below the kernel's minimum of 2.
TEST_CASE("cpuShares: 1024 per cpu, at least 2") {
  CHECK(cpuShares(1.0) == 1024);
  CHECK(cpuShares(0.5) == 512);
  CHECK(cpuShares(2.5) == 2560);
  CHECK(cpuShares(0.001) == 2);
  CHECK(cpuShares(0) == 2);
  CHECK(cpuShares(0.1) == 102);
}

// The standard shares -> cpu.weight mapping, 1 + (s-2)*9999/262142,
// clamped to the weight range 1..10000.
TEST_CASE("sharesToWeight: the standard mapping and its bounds") {
  CHECK(sharesToWeight(2) == 1);
  CHECK(sharesToWeight(0) == 1);
  CHECK(sharesToWeight(1) == 1);
  CHECK(sharesToWeight(262144) == 10000);
  CHECK(sharesToWeight(1000000) == 10000);
  CHECK(sharesToWeight(1024) == 39);
  CHECK(sharesToWeight(512) == 20);
  CHECK(sharesToWeight(1536) == 59);
  for (uint64_t s : {2u, 3u, 100u, 1024u, 4096u, 100000u, 262144u}) {
    CHECK(sharesToWeight(s) == 1 + (s - 2) * 9999 / 262142);
  }
}

// The containers' parent on v2 weighs 100 (a default cgroup) per cpu.
TEST_CASE("parentWeight: 100 per cpu, within 1..10000") {
  CHECK(parentWeight(1) == 100);
  CHECK(parentWeight(2) == 200);
  CHECK(parentWeight(0.5) == 50);
  CHECK(parentWeight(0.001) == 1);
  CHECK(parentWeight(0) == 1);
  CHECK(parentWeight(51.2) == 5120);
  CHECK(parentWeight(1000) == 10000);
}

// ============================================================ containerLimits

// A task's cpu_limit is its quota; otherwise --cgroups-enable-cfs makes the
// quota its cpus; mem is MiB.
TEST_CASE("containerLimits: quota from cpuLimit or enableCfs, memory in bytes") {
  auto limits = containerLimits(1.0, 128, 2.0, false);
  CHECK(limits.cpus == 1.0);
  REQUIRE(limits.cpuQuota.has_value());
  CHECK(*limits.cpuQuota == 2.0);
  CHECK(limits.memBytes == 128ull * 1024 * 1024);

  auto limitWins = containerLimits(1.0, 128, 0.5, true);
  REQUIRE(limitWins.cpuQuota.has_value());
  CHECK(*limitWins.cpuQuota == 0.5);

  auto cfs = containerLimits(1.5, 64, std::nullopt, true);
  REQUIRE(cfs.cpuQuota.has_value());
  CHECK(*cfs.cpuQuota == 1.5);
  CHECK(cfs.memBytes == 64ull * 1024 * 1024);

  auto none = containerLimits(1.5, 64, std::nullopt, false);
  CHECK_FALSE(none.cpuQuota.has_value());

  auto zeroCpus = containerLimits(0, 0, std::nullopt, true);
  CHECK_FALSE(zeroCpus.cpuQuota.has_value());
  CHECK(zeroCpus.memBytes == 0);

  CHECK(containerLimits(1, 0.5, std::nullopt, false).memBytes == 512ull * 1024);
  CHECK(containerLimits(1, -3, std::nullopt, false).memBytes == 0);
}

// ================================================= CgroupsIsolator, fake v2

namespace {

// A fake cgroup2 tree: <tmp>/mnt is the "mount", <tmp>/mnt/cn the containers'
// parent and <tmp>/mnt/agent the agent's own cgroup. Control files a real
// kernel provides are plain files, created up front because cgroup::write
// opens without O_CREAT.
struct FakeV2 {
  TempDir tmp{"cn-cgroups-test"};
  std::string mount;
  std::string containers;
  CgroupsLayout layout;

  FakeV2() {
    mount = tmp.path + "/mnt";
    containers = mount + "/cn";
    fs::create_directories(mount + "/agent");
    writeFile(mount + "/cgroup.subtree_control", "");
    layout.version = 2;
    CgroupsLayout::Hierarchy h;
    h.controllers = {"cpu", "memory", "pids"};
    h.mount = mount;
    h.containers = containers;
    h.own = mount + "/agent";
    layout.hierarchies.push_back(h);
  }

  // The container's directory with the files the kernel would create in it.
  std::string container(const std::string& id, bool swap) {
    std::string dir = containers + "/" + id;
    fs::create_directories(dir);
    for (const char* file : {"cpu.weight", "cpu.max", "memory.max"}) writeFile(dir + "/" + file, "");
    if (swap) writeFile(dir + "/memory.swap.max", "");
    return dir;
  }
};

}  // namespace

// initialize() enables the controllers in the mount's and the containers'
// subtree_control, writing only those missing, and creates the parent.
TEST_CASE("CgroupsIsolator v2 (fake tree): initialize enables controllers") {
  FakeV2 fake;
  // The containers' parent exists with everything already enabled: no write.
  fs::create_directories(fake.containers);
  writeFile(fake.containers + "/cgroup.subtree_control", "cpu memory pids\n");
  CgroupsIsolator isolator(fake.layout);
  auto ready = isolator.initialize();
  REQUIRE_MESSAGE(ready.ok(), (ready.ok() ? "" : ready.error().message));
  CHECK(readFile(fake.mount + "/cgroup.subtree_control") == "+cpu +memory +pids");
  CHECK(readFile(fake.containers + "/cgroup.subtree_control") == "cpu memory pids\n");
  CHECK(fs::is_directory(fake.containers));
}

// Controllers already enabled are not asked for again.
TEST_CASE("CgroupsIsolator v2 (fake tree): initialize writes only the missing controllers") {
  FakeV2 fake;
  writeFile(fake.mount + "/cgroup.subtree_control", "cpu io\n");
  fs::create_directories(fake.containers);
  writeFile(fake.containers + "/cgroup.subtree_control", "");
  CgroupsIsolator isolator(fake.layout);
  REQUIRE(isolator.initialize().ok());
  // The fake file is overwritten from its start (no O_TRUNC, like the kernel's).
  CHECK(readFile(fake.mount + "/cgroup.subtree_control") == "+memory +pids");
  CHECK(readFile(fake.containers + "/cgroup.subtree_control") == "+cpu +memory +pids");
}

// Given the agent's cpus, initialize gives the containers' parent their
// weight; without them it leaves the parent's weight alone.
TEST_CASE("CgroupsIsolator v2 (fake tree): initialize weighs the parent by the agent's cpus") {
  FakeV2 fake;
  fs::create_directories(fake.containers);
  writeFile(fake.containers + "/cgroup.subtree_control", "cpu memory pids\n");
  writeFile(fake.containers + "/cpu.weight", "100\n");
  CgroupsIsolator isolator(fake.layout);
  REQUIRE(isolator.initialize().ok());
  CHECK(readFile(fake.containers + "/cpu.weight") == "100\n");
  REQUIRE(isolator.initialize(4).ok());
  CHECK(trim(readFile(fake.containers + "/cpu.weight")) == "400");
}

// Without a writable subtree_control (no delegation) initialize fails and
// says why.
TEST_CASE("CgroupsIsolator v2 (fake tree): initialize fails without delegation") {
  FakeV2 fake;
  fs::remove(fake.mount + "/cgroup.subtree_control");
  CgroupsIsolator isolator(fake.layout);
  auto ready = isolator.initialize();
  REQUIRE_FALSE(ready.ok());
  CHECK(ready.error().message.find("delegate") != std::string::npos);
  CHECK(ready.error().message.find("cgroup.subtree_control") != std::string::npos);
}

// prepare() writes cpu.weight from the shares, cpu.max with and without a
// quota, memory.max, and memory.swap.max = 0 only where the kernel has it.
TEST_CASE("CgroupsIsolator v2 (fake tree): prepare writes the limits") {
  FakeV2 fake;
  CgroupsIsolator isolator(fake.layout);

  SUBCASE("no quota, no swap file") {
    std::string dir = fake.container("c1", false);
    ContainerLimits limits;
    limits.cpus = 1.0;
    limits.memBytes = 128ull << 20;
    auto prepared = isolator.prepare("c1", limits);
    REQUIRE_MESSAGE(prepared.ok(), (prepared.ok() ? "" : prepared.error().message));
    CHECK(readFile(dir + "/cpu.weight") == "39");
    CHECK(readFile(dir + "/cpu.max") == "max 100000");
    CHECK(readFile(dir + "/memory.max") == "134217728");
    CHECK_FALSE(fs::exists(dir + "/memory.swap.max"));
  }
  SUBCASE("a quota of 1.5 cpus and a swap file") {
    std::string dir = fake.container("c2", true);
    ContainerLimits limits;
    limits.cpus = 1.5;
    limits.cpuQuota = 1.5;
    limits.memBytes = 64ull << 20;
    REQUIRE(isolator.prepare("c2", limits).ok());
    CHECK(readFile(dir + "/cpu.weight") == "59");
    CHECK(readFile(dir + "/cpu.max") == "150000 100000");
    CHECK(readFile(dir + "/memory.max") == "67108864");
    CHECK(readFile(dir + "/memory.swap.max") == "0");
  }
  SUBCASE("a tiny quota is raised to the 1 ms minimum; no memory limit leaves memory.max alone") {
    std::string dir = fake.container("c3", true);
    ContainerLimits limits;
    limits.cpus = 0.001;
    limits.cpuQuota = 0.001;
    REQUIRE(isolator.prepare("c3", limits).ok());
    CHECK(readFile(dir + "/cpu.weight") == "1");
    CHECK(readFile(dir + "/cpu.max") == "1000 100000");
    CHECK(readFile(dir + "/memory.max") == "");
    CHECK(readFile(dir + "/memory.swap.max") == "");
  }
}

// A failure while applying the limits removes the half-made cgroup.
TEST_CASE("CgroupsIsolator v2 (fake tree): a failed prepare removes the container") {
  FakeV2 fake;
  fs::create_directories(fake.containers);
  CgroupsIsolator isolator(fake.layout);
  ContainerLimits limits;
  limits.cpus = 1;
  auto prepared = isolator.prepare("bad", limits);  // mkdir works, cpu.weight does not exist
  REQUIRE_FALSE(prepared.ok());
  CHECK(prepared.error().message.find("cpu.weight") != std::string::npos);
  CHECK_FALSE(fs::exists(fake.containers + "/bad"));
  // Without the parent, mkdir itself fails and says which cgroup.
  CgroupsIsolator orphan(fake.layout);
  fs::remove_all(fake.containers);
  auto noParent = orphan.prepare("x", limits);
  REQUIRE_FALSE(noParent.ok());
  CHECK(noParent.error().message.find(fake.containers + "/x") != std::string::npos);
}

// usage() reads the v2 counters: cpu.stat in microseconds, memory.current,
// memory.peak, memory.max ("max" is no limit), memory.events' oom_kill (not
// oom or oom_group_kill) and the processes in cgroup.procs.
TEST_CASE("CgroupsIsolator v2 (fake tree): usage parses the kernel's files") {
  FakeV2 fake;
  std::string dir = fake.container("u1", false);
  writeFile(dir + "/cpu.stat",
            "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 10\nnr_throttled 1\n");
  writeFile(dir + "/memory.current", "1048576\n");
  writeFile(dir + "/memory.peak", "2097152\n");
  writeFile(dir + "/memory.max", "max\n");
  writeFile(dir + "/memory.events", "low 0\nhigh 0\nmax 7\noom 4\noom_kill 2\noom_group_kill 0\n");
  writeFile(dir + "/cgroup.procs", "123\n456\n");
  CgroupsIsolator isolator(fake.layout);
  auto usage = isolator.usage("u1", 0);
  REQUIRE(usage.ok());
  CHECK(usage->cpuSeconds == doctest::Approx(2.5));
  CHECK(usage->cpuUserSeconds == doctest::Approx(2.0));
  CHECK(usage->cpuSystemSeconds == doctest::Approx(0.5));
  CHECK(usage->memBytes == 1048576);
  CHECK(usage->memPeakBytes == 2097152);
  CHECK(usage->memLimitBytes == 0);
  CHECK(usage->oomKills == 2);
  CHECK(usage->processes == 2);

  writeFile(dir + "/memory.max", "67108864\n");
  writeFile(dir + "/cgroup.procs", "");
  ::unlink((dir + "/memory.peak").c_str());  // older kernels have no memory.peak
  auto later = isolator.usage("u1", 0);
  REQUIRE(later.ok());
  CHECK(later->memLimitBytes == 67108864);
  CHECK(later->memPeakBytes == 0);
  CHECK(later->processes == 0);

  // A container that does not exist (any more) is not found.
  auto gone = isolator.usage("nope", 0);
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.error().code == ErrorCode::kNotFound);
}

// killAll on v2 uses cgroup.kill when the kernel has it, and falls back to
// SIGKILL for each process in cgroup.procs (real children of the test here).
TEST_CASE("CgroupsIsolator v2 (fake tree): killAll via cgroup.kill or per process") {
  FakeV2 fake;
  std::string dir = fake.container("k1", false);
  CgroupsIsolator isolator(fake.layout);
  CHECK(isolator.killAll("k1", 0) == 0);  // no cgroup.procs: nothing to kill

  SleepingChild child;
  writeFile(dir + "/cgroup.procs", std::to_string(child.pid) + "\n");

  SUBCASE("cgroup.kill present: one write, nobody signalled by hand") {
    writeFile(dir + "/cgroup.kill", "");
    CHECK(isolator.killAll("k1", 0) == 1);
    CHECK(readFile(dir + "/cgroup.kill") == "1");
    CHECK_FALSE(deadOrZombie(child.pid));  // the fake kernel does not kill
  }
  SUBCASE("no cgroup.kill: SIGKILL to each") {
    CHECK(isolator.killAll("k1", 0) == 1);
    auto status = reap(child.pid);
    REQUIRE(status.has_value());
    CHECK(WIFSIGNALED(*status));
    CHECK(WTERMSIG(*status) == SIGKILL);
    child.pid = -1;
  }
}

// remove() rmdirs the container: a missing one counts as removed, one that
// will not go (here: a fake dir with files) does not.
TEST_CASE("CgroupsIsolator v2 (fake tree): remove") {
  FakeV2 fake;
  std::string dir = fake.container("r1", false);
  CgroupsIsolator isolator(fake.layout);
  CHECK_FALSE(isolator.remove("r1"));
  CHECK(fs::exists(dir));
  for (const auto& entry : fs::directory_iterator(dir)) fs::remove(entry.path());
  CHECK(isolator.remove("r1"));
  CHECK_FALSE(fs::exists(dir));
  CHECK(isolator.remove("r1"));  // already gone
  CHECK(isolator.remove("never-made"));
}

// ================================================= CgroupsIsolator, fake v1

namespace {

// A fake v1 layout: separate cpu, cpuacct, memory and freezer hierarchies
// under <tmp>/<controller>/cn.
struct FakeV1 {
  TempDir tmp{"cn-cgroups-test"};
  CgroupsLayout layout;
  FakeV1() {
    layout.version = 1;
    for (const char* controller : {"cpu", "cpuacct", "memory", "freezer"}) {
      CgroupsLayout::Hierarchy h;
      h.controllers = {controller};
      h.mount = tmp.path + "/" + controller;
      h.containers = h.mount + "/cn";
      h.own = h.mount;
      fs::create_directories(h.containers);
      layout.hierarchies.push_back(h);
    }
  }
  std::string dir(const std::string& controller, const std::string& id) const {
    return tmp.path + "/" + controller + "/cn/" + id;
  }
};

}  // namespace

// usage() on v1: cpuacct.usage in ns, cpuacct.stat in clock ticks, the
// memory counters, a limit of 9223372036854771712 meaning none, and
// oom_kill from memory.oom_control (not oom_kill_disable).
TEST_CASE("CgroupsIsolator v1 (fake tree): usage parses the kernel's files") {
  FakeV1 fake;
  for (const char* controller : {"cpu", "cpuacct", "memory", "freezer"}) {
    fs::create_directories(fake.dir(controller, "v1c"));
  }
  writeFile(fake.dir("cpuacct", "v1c") + "/cpuacct.usage", "1500000000\n");
  double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  writeFile(fake.dir("cpuacct", "v1c") + "/cpuacct.stat", "user 250\nsystem 50\n");
  std::string memory = fake.dir("memory", "v1c");
  writeFile(memory + "/memory.usage_in_bytes", "4096\n");
  writeFile(memory + "/memory.max_usage_in_bytes", "8192\n");
  writeFile(memory + "/memory.limit_in_bytes", "9223372036854771712\n");
  writeFile(memory + "/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
  writeFile(memory + "/cgroup.procs", "10\n11\n12\n");
  CgroupsIsolator isolator(fake.layout);
  CHECK(isolator.name() == "cgroups-v1");
  CHECK(isolator.location("v1c") == memory);
  auto usage = isolator.usage("v1c", 0);
  REQUIRE(usage.ok());
  CHECK(usage->cpuSeconds == doctest::Approx(1.5));
  CHECK(usage->cpuUserSeconds == doctest::Approx(250 / tick));
  CHECK(usage->cpuSystemSeconds == doctest::Approx(50 / tick));
  CHECK(usage->memBytes == 4096);
  CHECK(usage->memPeakBytes == 8192);
  CHECK(usage->memLimitBytes == 0);
  CHECK(usage->oomKills == 3);
  CHECK(usage->processes == 3);

  writeFile(memory + "/memory.limit_in_bytes", "67108864\n");
  auto limited = isolator.usage("v1c", 0);
  REQUIRE(limited.ok());
  CHECK(limited->memLimitBytes == 67108864);
}

// On v1 the parent's cpu.shares are 1024 per cpu of the agent, at most the
// kernel's 262144; only the cpu hierarchy gets them.
TEST_CASE("CgroupsIsolator v1 (fake tree): initialize gives the parent the agent's cpu shares") {
  FakeV1 fake;
  writeFile(fake.tmp.path + "/cpu/cn/cpu.shares", "");
  CgroupsIsolator isolator(fake.layout);
  REQUIRE(isolator.initialize(2).ok());
  CHECK(readFile(fake.tmp.path + "/cpu/cn/cpu.shares") == "2048");
  CHECK_FALSE(fs::exists(fake.tmp.path + "/cpuacct/cn/cpu.shares"));
  CHECK_FALSE(fs::exists(fake.tmp.path + "/memory/cn/cpu.shares"));
  writeFile(fake.tmp.path + "/cpu/cn/cpu.shares", "");
  REQUIRE(isolator.initialize(1000).ok());
  CHECK(readFile(fake.tmp.path + "/cpu/cn/cpu.shares") == "262144");
}

// moveThisThread writes the calling thread ("0") to v1's tasks file where
// the directory has one, else to cgroup.procs (v2).
TEST_CASE("cgroup::moveThisThread: tasks on v1, cgroup.procs on v2") {
  TempDir tmp{"cn-cgroups-test"};
  std::string v1 = tmp.path + "/v1";
  std::string v2 = tmp.path + "/v2";
  fs::create_directories(v1);
  fs::create_directories(v2);
  writeFile(v1 + "/tasks", "");
  writeFile(v1 + "/cgroup.procs", "");
  writeFile(v2 + "/cgroup.procs", "");
  REQUIRE(cgroup::moveThisThread(v1).ok());
  CHECK(readFile(v1 + "/tasks") == "0");
  CHECK(readFile(v1 + "/cgroup.procs").empty());
  REQUIRE(cgroup::moveThisThread(v2).ok());
  CHECK(readFile(v2 + "/cgroup.procs") == "0");
  auto missing = cgroup::moveThisThread(tmp.path + "/gone");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.find("gone/cgroup.procs") != std::string::npos);
}

// prepare() on v1: cpu.shares, the CFS period and quota only with a quota,
// memory.limit_in_bytes, and memsw only where the kernel has swap accounting.
TEST_CASE("CgroupsIsolator v1 (fake tree): prepare writes the limits") {
  FakeV1 fake;
  auto precreate = [&](const std::string& id, bool memsw) {
    fs::create_directories(fake.dir("cpu", id));
    for (const char* file : {"cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us"}) {
      writeFile(fake.dir("cpu", id) + "/" + file, "");
    }
    fs::create_directories(fake.dir("memory", id));
    writeFile(fake.dir("memory", id) + "/memory.limit_in_bytes", "");
    if (memsw) writeFile(fake.dir("memory", id) + "/memory.memsw.limit_in_bytes", "");
  };
  CgroupsIsolator isolator(fake.layout);

  precreate("q", true);
  ContainerLimits limits;
  limits.cpus = 0.5;
  limits.cpuQuota = 1.0;
  limits.memBytes = 64ull << 20;
  auto prepared = isolator.prepare("q", limits);
  REQUIRE_MESSAGE(prepared.ok(), (prepared.ok() ? "" : prepared.error().message));
  CHECK(readFile(fake.dir("cpu", "q") + "/cpu.shares") == "512");
  CHECK(readFile(fake.dir("cpu", "q") + "/cpu.cfs_period_us") == "100000");
  CHECK(readFile(fake.dir("cpu", "q") + "/cpu.cfs_quota_us") == "100000");
  CHECK(readFile(fake.dir("memory", "q") + "/memory.limit_in_bytes") == "67108864");
  CHECK(readFile(fake.dir("memory", "q") + "/memory.memsw.limit_in_bytes") == "67108864");
  // Every hierarchy got the container, cpuacct and freezer included.
  CHECK(fs::is_directory(fake.dir("cpuacct", "q")));
  CHECK(fs::is_directory(fake.dir("freezer", "q")));

  precreate("plain", false);
  limits.cpuQuota.reset();
  REQUIRE(isolator.prepare("plain", limits).ok());
  CHECK(readFile(fake.dir("cpu", "plain") + "/cpu.cfs_quota_us") == "");
  CHECK(readFile(fake.dir("cpu", "plain") + "/cpu.cfs_period_us") == "");
  CHECK_FALSE(fs::exists(fake.dir("memory", "plain") + "/memory.memsw.limit_in_bytes"));
}

// killAll on v1 freezes the cgroup, kills every process and thaws it.
TEST_CASE("CgroupsIsolator v1 (fake tree): killAll freezes, kills and thaws") {
  FakeV1 fake;
  for (const char* controller : {"cpu", "cpuacct", "memory", "freezer"}) {
    fs::create_directories(fake.dir(controller, "k"));
  }
  writeFile(fake.dir("freezer", "k") + "/freezer.state", "");
  SleepingChild a;
  SleepingChild b;
  writeFile(fake.dir("memory", "k") + "/cgroup.procs", std::to_string(a.pid) + "\n" + std::to_string(b.pid) + "\n");
  CgroupsIsolator isolator(fake.layout);
  CHECK(isolator.killAll("k", 0) == 2);
  CHECK(readFile(fake.dir("freezer", "k") + "/freezer.state") == "THAWED");
  for (auto* child : {&a, &b}) {
    auto status = reap(child->pid);
    REQUIRE(status.has_value());
    CHECK(WIFSIGNALED(*status));
    child->pid = -1;
  }
}

// ============================================================ none isolator

// The none isolator has no cgroups and nothing to set up.
TEST_CASE("none isolator: no cgroups, nothing for pid 0") {
  auto isolator = makeNoIsolator();
  CHECK(isolator->name() == "none");
  CHECK(isolator->prepare("c", containerLimits(1, 64, 1.0, true)).ok());
  CHECK(isolator->joinDirs("c").empty());
  CHECK(isolator->returnDirs().empty());
  CHECK(isolator->location("c").empty());
  auto usage = isolator->usage("c", 0);
  REQUIRE(usage.ok());
  CHECK(usage->processes == 0);
  CHECK(isolator->killAll("c", 0) == 0);
  CHECK(isolator->remove("c"));
  auto makeNone = makeIsolator(IsolationOptions{"none", "clusternodes", false});
  REQUIRE(makeNone.ok());
  CHECK((*makeNone)->name() == "none");
}

// makeIsolator rejects an unknown isolation and unsafe cgroup roots before
// touching the host.
TEST_CASE("makeIsolator: bad options") {
  auto unknown = makeIsolator(IsolationOptions{"docker", "clusternodes", false});
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().message.find("docker") != std::string::npos);
  for (const char* root : {"", "/abs", "a/../b", ".."}) {
    auto bad = makeIsolator(IsolationOptions{"cgroups", root, false});
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().code == ErrorCode::kInvalid);
    CHECK(bad.error().message.find("--cgroups-root") != std::string::npos);
  }
}

// The none isolator sums the executor's descendants from /proc (not the
// executor itself) and kills them all. The "executor" is a real sh that
// starts two sleeps and waits for them.
TEST_CASE("none isolator: usage and killAll over a real process tree") {
  pid_t executor = ::fork();
  REQUIRE(executor >= 0);
  if (executor == 0) {
    ::setpgid(0, 0);
    ::execl("/bin/sh", "sh", "-c", "sleep 30 & sleep 30 & wait", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  struct Guard {
    pid_t pid;
    ~Guard() {
      if (pid <= 0) return;  // reaped by the test: the pid may be reused
      ::kill(-pid, SIGKILL);  // the whole process group, whatever happened
      ::kill(pid, SIGKILL);
      (void)reap(pid);
    }
  } guard{executor};

  auto isolator = makeNoIsolator();
  uint32_t processes = 0;
  CHECK(eventually([&] {
    auto usage = isolator->usage("none-1", executor);
    processes = usage.ok() ? usage->processes : 0;
    return processes == 2;
  }));
  CHECK(processes == 2);
  auto usage = isolator->usage("none-1", executor);
  REQUIRE(usage.ok());
  CHECK(usage->memBytes > 0);
  CHECK(usage->cpuSeconds >= 0);
  CHECK(usage->cpuSeconds == doctest::Approx(usage->cpuUserSeconds + usage->cpuSystemSeconds));

  CHECK(isolator->killAll("none-1", executor) == 2);
  // The sleeps die; sh's wait returns and sh exits of itself. (usage() may
  // answer from a /proc snapshot up to 100 ms old, hence "eventually".)
  CHECK(eventually([&] { return isolator->killAll("none-1", executor) == 0; }));
  CHECK(eventually([&] { return isolator->usage("none-1", executor)->processes == 0; }));
  auto status = reap(executor);
  REQUIRE(status.has_value());
  guard.pid = -1;
  CHECK(WIFEXITED(*status));
}

// A process that left the executor's tree (double fork) but stays in a
// session one of its descendants leads still belongs to the container.
TEST_CASE("none isolator: a double-forked process in a descendant's session is counted and killed") {
  // Orphans are reparented to the test (not to an init that may not reap),
  // so that everything can be reaped here; undone at the end.
  REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  // executor E -> leader L (setsid) -> M -> orphan O; M exits, so O's parent
  // becomes the test while its session stays L.
  pid_t executor = ::fork();
  REQUIRE(executor >= 0);
  if (executor == 0) {
    pid_t leader = ::fork();
    if (leader == 0) {
      ::setsid();
      pid_t middle = ::fork();
      if (middle == 0) {
        pid_t orphan = ::fork();
        if (orphan == 0) {
          ::execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
          ::_exit(127);
        }
        pid_t pids[2] = {::getppid(), orphan};
        (void)!::write(fds[1], pids, sizeof pids);
        ::_exit(0);
      }
      int s;
      ::waitpid(middle, &s, 0);
      ::execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[1]);
  pid_t pids[2] = {0, 0};
  ssize_t got = ::read(fds[0], pids, sizeof pids);
  ::close(fds[0]);
  pid_t leader = pids[0];
  pid_t orphan = pids[1];
  struct Guard {
    pid_t executor, leader, orphan;
    ~Guard() {
      if (leader > 0) ::kill(-leader, SIGKILL);  // L's session is its process group
      ::kill(executor, SIGKILL);
      (void)reap(executor);
      // L and O are ours now (subreaper); reap them once their parents are gone.
      if (leader > 0) (void)reap(leader);
      if (orphan > 0) (void)reap(orphan);
      ::prctl(PR_SET_CHILD_SUBREAPER, 0);
    }
  } guard{executor, got == sizeof pids ? leader : -1, got == sizeof pids ? orphan : -1};
  REQUIRE(got == static_cast<ssize_t>(sizeof pids));

  auto isolator = makeNoIsolator();
  // Once M is gone: L (descendant) and O (in L's session) — 2.
  uint32_t processes = 0;
  CHECK(eventually([&] {
    auto usage = isolator->usage("s", executor);
    processes = usage.ok() ? usage->processes : 0;
    return processes == 2;
  }));
  CHECK(processes == 2);
  CHECK(isolator->killAll("s", executor) == 2);
  CHECK(eventually([&] { return deadOrZombie(orphan) && deadOrZombie(leader); }));
  CHECK(isolator->killAll("s", executor) == 0);
}

// ====================================================== real cgroups (root)

// An isolator on the host's real cgroups under a root of its own, or the
// reason there is none (not root, no usable cgroups): the test command runs
// as root on a host with cgroups, so a test without one fails. Whatever a
// test does, its child dies, the containers it names go, and so do the roots.
namespace {

struct RealCgroups {
  std::unique_ptr<Isolator> isolator;
  std::string unavailable;  // why there is no isolator
  std::vector<std::string> ids;  // containers to remove at the end
  pid_t child = -1;
  std::vector<std::string> roots;

  explicit RealCgroups(std::vector<std::string> containers) : ids(std::move(containers)) {
    if (::geteuid() != 0) {
      unavailable = "the real cgroups tests need root";
      return;
    }
    std::mt19937_64 random(std::random_device{}());
    std::string root = "cn-unit-" + std::to_string(::getpid()) + "-" + std::to_string(random() % 1000000);
    auto made = makeIsolator(IsolationOptions{"cgroups", root, false});
    if (!made.ok()) {
      unavailable = "no usable cgroups: " + made.error().message;
      return;
    }
    isolator = std::move(*made);
    for (const auto& dir : isolator->joinDirs("x")) roots.push_back(fs::path(dir).parent_path().string());
  }
  ~RealCgroups() {
    if (!isolator) return;
    if (child > 0) {
      ::kill(child, SIGKILL);
      (void)reap(child);
    }
    for (const auto& id : ids) eventually([&] { return isolator->remove(id); }, milliseconds(2000));
    for (const auto& dir : roots) ::rmdir(dir.c_str());
  }
};

}  // namespace

// One container on the host's real cgroups: the kernel accepts the limits,
// a process joined through joinDirs is counted, killAll kills it and the
// cgroups go away. Needs root on a host with usable cgroups.
TEST_CASE("CgroupsIsolator: real cgroups (root only)") {
  const std::string id = "c1";
  RealCgroups host({id});
  REQUIRE_MESSAGE(host.isolator != nullptr, host.unavailable);
  auto& isolator = *host.isolator;
  pid_t& child = host.child;
  auto joins = isolator.joinDirs(id);
  REQUIRE_FALSE(joins.empty());

  ContainerLimits limits;
  limits.cpus = 0.5;
  limits.cpuQuota = 1.0;
  limits.memBytes = 64ull << 20;
  auto prepared = isolator.prepare(id, limits);
  REQUIRE_MESSAGE(prepared.ok(), (prepared.ok() ? "" : prepared.error().message));
  std::string memory = isolator.location(id);
  auto dirWith = [&](const std::string& file) {
    for (const auto& dir : joins) {
      if (::access((dir + "/" + file).c_str(), F_OK) == 0) return dir;
    }
    return std::string();
  };
  if (isolator.name() == "cgroups-v1") {
    std::string cpu = dirWith("cpu.shares");
    REQUIRE_FALSE(cpu.empty());
    CHECK(trim(cgroup::read(cpu, "cpu.shares").value_or("")) == "512");
    CHECK(trim(cgroup::read(cpu, "cpu.cfs_period_us").value_or("")) == "100000");
    CHECK(trim(cgroup::read(cpu, "cpu.cfs_quota_us").value_or("")) == "100000");
    CHECK(trim(cgroup::read(memory, "memory.limit_in_bytes").value_or("")) == "67108864");
  } else {
    CHECK(isolator.name() == "cgroups-v2");
    CHECK(trim(cgroup::read(memory, "cpu.weight").value_or("")) == "20");
    CHECK(trim(cgroup::read(memory, "cpu.max").value_or("")) == "100000 100000");
    CHECK(trim(cgroup::read(memory, "memory.max").value_or("")) == "67108864");
  }

  // A child that waits on a pipe until it has been moved into the container.
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(fds[1]);
    char c;
    (void)!::read(fds[0], &c, 1);
    ::execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[0]);
  for (const auto& dir : joins) {
    auto joined = cgroup::write(dir, "cgroup.procs", std::to_string(child));
    CHECK_MESSAGE(joined.ok(), (joined.ok() ? "" : joined.error().message));
  }
  (void)!::write(fds[1], "x", 1);
  ::close(fds[1]);

  auto usage = isolator.usage(id, child);
  REQUIRE(usage.ok());
  CHECK(usage->processes == 1);
  CHECK(usage->memLimitBytes == 64ull << 20);
  CHECK_FALSE(isolator.remove(id));  // a process is still in it

  CHECK(isolator.killAll(id, child) == 1);
  auto status = reap(child);
  REQUIRE(status.has_value());
  CHECK(WIFSIGNALED(*status));
  CHECK(WTERMSIG(*status) == SIGKILL);
  child = -1;
  CHECK(eventually([&] { return isolator.killAll(id, -1) == 0; }));
  CHECK(eventually([&] { return isolator.remove(id); }));
  CHECK_FALSE(fs::exists(memory));
  auto after = isolator.usage(id, -1);
  CHECK_FALSE(after.ok());
}

// What a dead agent left: sweep() removes empty containers that are not
// active and old enough, and leaves the active ones, the young ones and any
// that still hold a process.
TEST_CASE("CgroupsIsolator: sweep removes only old, empty, inactive containers (root only)") {
  RealCgroups host({"orphan", "active", "busy"});
  REQUIRE_MESSAGE(host.isolator != nullptr, host.unavailable);
  auto& isolator = *host.isolator;
  pid_t& child = host.child;

  for (const char* id : {"orphan", "active", "busy"}) REQUIRE(isolator.prepare(id, ContainerLimits{}).ok());
  child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  for (const auto& dir : isolator.joinDirs("busy")) REQUIRE(cgroup::write(dir, "cgroup.procs", std::to_string(child)).ok());

  // Younger than the minimum age: nothing goes.
  CHECK(isolator.sweep({"active"}, std::chrono::hours(1)) == 0);
  CHECK(fs::exists(isolator.location("orphan")));

  CHECK(isolator.sweep({"active"}, std::chrono::seconds(0)) == 1);
  CHECK_FALSE(fs::exists(isolator.location("orphan")));
  for (const auto& dir : isolator.joinDirs("orphan")) CHECK_FALSE(fs::exists(dir));
  CHECK(fs::exists(isolator.location("active")));
  CHECK(fs::exists(isolator.location("busy")));
}
