#include "cli/host_probe.hpp"

#include <sched.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace clusternodes::cli {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

double usableProcessors() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  return online > 0 ? static_cast<double>(online) : 0;
}

}  // namespace

Result<double> parseMemTotalMiB(std::string_view meminfo) {
  std::istringstream in{std::string(meminfo)};
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("MemTotal:", 0) != 0) continue;
    std::istringstream fields(line.substr(9));
    double amount = 0;
    std::string unit;
    if (!(fields >> amount) || amount <= 0) return invalid("malformed MemTotal line '" + line + "'");
    fields >> unit;
    if (unit.empty() || unit == "B") return amount / kMiB;
    if (unit == "kB") return amount / 1024.0;
    if (unit == "MB") return amount;
    return invalid("MemTotal has an unknown unit '" + unit + "'");
  }
  return invalid("no MemTotal line");
}

Result<HostCapacity> probeHost(const std::string& workDir) {
  HostCapacity host;
  host.cpus = usableProcessors();
  if (host.cpus <= 0) return internalError("cannot count this machine's processors");

  std::ifstream in("/proc/meminfo");
  std::stringstream meminfo;
  meminfo << in.rdbuf();
  auto mem = parseMemTotalMiB(meminfo.str());
  if (!mem) return internalError("/proc/meminfo: " + mem.error().message);
  host.memTotalMiB = *mem;

  struct statvfs fs {};
  if (statvfs(workDir.c_str(), &fs) != 0) {
    return internalError("cannot measure the file system of " + workDir + ": " + std::strerror(errno));
  }
  host.diskFreeMiB = static_cast<double>(fs.f_bavail) * static_cast<double>(fs.f_frsize) / kMiB;
  return host;
}

}  // namespace clusternodes::cli
