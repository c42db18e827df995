#include "agent/resource_detection.hpp"

#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

namespace clusternodes::agent {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

double totalMemoryMiB() {
  long pages = sysconf(_SC_PHYS_PAGES);
  long pageSize = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || pageSize <= 0) return 0;
  return static_cast<double>(pages) * static_cast<double>(pageSize) / kMiB;
}

double diskMiB(const std::string& path) {
  struct statvfs s {};
  std::string probe = path;
  // The work dir may not exist yet: measure the closest existing parent.
  while (!probe.empty() && statvfs(probe.c_str(), &s) != 0) {
    auto slash = probe.find_last_of('/');
    probe = slash == 0 ? "/" : (slash == std::string::npos ? "" : probe.substr(0, slash));
    if (probe == "/") {
      if (statvfs("/", &s) != 0) return 0;
      break;
    }
  }
  return static_cast<double>(s.f_blocks) * static_cast<double>(s.f_frsize) / kMiB;
}

double leaveForHost(double total, double keep) { return total < 2 * keep ? total / 2 : total - keep; }

}  // namespace

Result<Resources> detectResources(const std::string& workDir, const std::string& overrides) {
  auto given = Resources::parse(overrides);
  if (!given) return Error{ErrorCode::kInvalid, "--resources: " + given.error().message};

  std::set<std::string> named;
  for (const auto& e : given->entries()) named.insert(e.name);

  Resources out = *given;
  if (named.count("cpus") == 0) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    out.addScalar("cpus", cpus > 0 ? static_cast<double>(cpus) : 1.0);
  }
  if (named.count("mem") == 0) {
    out.addScalar("mem", std::floor(leaveForHost(totalMemoryMiB(), 1024)));
  }
  if (named.count("disk") == 0) {
    out.addScalar("disk", std::floor(leaveForHost(diskMiB(workDir), 5 * 1024)));
  }
  if (named.count("ports") == 0) {
    out.addRanges("ports", RangeSet({{31000, 32000}}));
  }
  return out;
}

Result<std::vector<Attribute>> parseAttributes(const std::string& text) {
  std::vector<Attribute> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ';')) {
    auto trim = [](std::string s) {
      s.erase(0, s.find_first_not_of(" \t"));
      s.erase(s.find_last_not_of(" \t") + 1);
      return s;
    };
    item = trim(item);
    if (item.empty()) continue;
    auto colon = item.find(':');
    if (colon == std::string::npos || colon == 0) {
      return invalid("--attributes: '" + item + "' is not NAME:VALUE");
    }
    out.push_back({trim(item.substr(0, colon)), trim(item.substr(colon + 1))});
  }
  return out;
}

std::string bootId() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

}  // namespace clusternodes::agent
