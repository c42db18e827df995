// Log set-up shared by every program: one line per event on stderr,
// "2026-11-22 10:00:00.123 I master: text".
#pragma once

#include <string>

#include "clusternodes/result.hpp"

namespace clusternodes {

// level: trace, debug, info, warn, error, off.
Result<void> setupLogging(const std::string& program, const std::string& level);

}  // namespace clusternodes
