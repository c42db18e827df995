#include "agent/containerizer/destroyer.hpp"

#include <spdlog/spdlog.h>

namespace clusternodes::agent {
namespace {

constexpr auto kRetryInterval = std::chrono::milliseconds(10);
constexpr double kGiveUpSeconds = 30;

}  // namespace

Destroyer::Destroyer(Isolator& isolator, TimeSource& time) : isolator_(isolator), time_(time), timer_(time) {}

void Destroyer::destroy(const std::string& id) {
  // The executor may be gone, and its pid another process by now: the
  // cgroups alone say what is left.
  isolator_.killAll(id, 0);
  if (isolator_.remove(id)) return;
  giveUpAt_[id] = time_.now() + kGiveUpSeconds;
  if (!timer_.active()) timer_.start(kRetryInterval, [this] { retry(); }, kRetryInterval);
}

std::set<std::string> Destroyer::pending() const {
  std::set<std::string> ids;
  for (const auto& [id, deadline] : giveUpAt_) ids.insert(id);
  return ids;
}

void Destroyer::retry() {
  double now = time_.now();
  for (auto it = giveUpAt_.begin(); it != giveUpAt_.end();) {
    isolator_.killAll(it->first, 0);
    if (isolator_.remove(it->first)) {
      it = giveUpAt_.erase(it);
    } else if (now > it->second) {
      spdlog::warn("container {} still has processes after 30 s; leaving its cgroups", it->first);
      it = giveUpAt_.erase(it);
    } else {
      ++it;
    }
  }
  if (giveUpAt_.empty()) timer_.stop();
}

}  // namespace clusternodes::agent
