#include "cli/restart_backoff.hpp"

#include <algorithm>

namespace clusternodes::cli {

RestartBackoff::Duration RestartBackoff::ended(std::optional<Duration> ranFor) {
  const bool healthy = ranFor && *ranFor >= kHealthyRun;
  failures_ = healthy ? 1 : failures_ + 1;
  Duration delay = kFirst;
  for (int i = 1; i < failures_ && delay < kMax; ++i) delay *= 2;
  return std::min(delay, kMax);
}

}  // namespace clusternodes::cli
