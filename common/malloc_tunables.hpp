// Heap settings for a process that holds thousands of ZeroMQ connections.
//
// Each connection costs about 30 KB of buffers, which the ZeroMQ IO thread
// allocates as peers connect. With glibc's defaults that thread has an arena
// of its own that grows a page at a time (an mprotect(2) each), and every
// new page is a fault: 10,000 agents registering at once with the master
// made about 58,000 mprotect calls and 115,000 page faults, a third of its
// CPU time (on a virtual machine, where both are dear). One heap (arena_max
// 1) grown 64 MiB at a time (top_pad) in transparent huge pages (hugetlb 1,
// where the kernel's THP mode is madvise or always) takes a few hundred.
//
// glibc reads these tunables only when a program starts, so the process
// sets them and executes itself again, once:
//
//   int main(int argc, char** argv) {
//     execWithMallocTunables(argv);  // returns at once in the re-executed process
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace clusternodes {

inline constexpr const char* kManyConnectionsMallocTunables =
    "glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1:glibc.malloc.top_pad=67108864";

// Executes this program again, with the same arguments, with
// kManyConnectionsMallocTunables added to GLIBC_TUNABLES. Returns without
// doing anything when GLIBC_TUNABLES names a glibc.malloc tunable already
// (set by this function before the exec, or by the operator, whose choice
// stands), or when the exec fails (the process goes on with the defaults).
// Call it first thing in main(), before any thread starts.
inline void execWithMallocTunables(char** argv) {
#if defined(__GLIBC__) && defined(__linux__)
  const char* current = std::getenv("GLIBC_TUNABLES");
  if (current != nullptr && std::strstr(current, "glibc.malloc.") != nullptr) return;
  std::string value = kManyConnectionsMallocTunables;
  if (current != nullptr && *current != '\0') value = std::string(current) + ":" + value;
  if (::setenv("GLIBC_TUNABLES", value.c_str(), 1) != 0) return;
  // By its path rather than /proc/self/exe, which would name the process
  // "exe" (its comm, as ps, top and pgrep show it).
  char self[4096];
  ssize_t length = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (length > 0) {
    self[length] = '\0';
    ::execv(self, argv);
  }
  // The exec failed: carry on as started, and leave the environment as it was.
  if (current != nullptr) {
    ::setenv("GLIBC_TUNABLES", current, 1);
  } else {
    ::unsetenv("GLIBC_TUNABLES");
  }
#else
  (void)argv;
#endif
}

}  // namespace clusternodes
