// A real skip, which ctest reports as skipped rather than passed.
//
// A test that cannot mean anything on this host (a case for cgroups v2 on a
// cgroups v1 host, say) calls skipTest(reason): it prints the reason and ends
// the process with kSkipReturnCode, which tests/CMakeLists.txt hands ctest as
// SKIP_RETURN_CODE. A missing prerequisite that the test command installs or
// starts (Docker and its test image, cgroups, root, a package) is not a
// reason to skip: REQUIRE it, so that a broken test machine fails.
//
//   TEST_CASE("...") {
//     if (hostUsesCgroupsV1()) skipTest("a cgroups v2 case; this host mounts cgroups v1");
//     ...
//   }
//
// ctest runs every test case in a process of its own, so the end of the
// process is the end of that test only. Run by hand without -tc=..., a test
// binary stops at the first test case that skips. skipTest runs no
// destructor: call it before the test starts anything that needs cleaning up
// (a cluster, a container, a child process, a cgroup).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace clusternodes::testing {

// The exit status of a skipped test; tests/CMakeLists.txt gives ctest the same.
inline constexpr int kSkipReturnCode = 77;

[[noreturn]] inline void skipTest(const std::string& reason) {
  std::fflush(stdout);
  std::fprintf(stderr, "skipped: %s\n", reason.c_str());
  std::fflush(stderr);
  std::_Exit(kSkipReturnCode);
}

}  // namespace clusternodes::testing
