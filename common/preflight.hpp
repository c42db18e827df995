// Checks a daemon makes of its environment before it starts, so that
// `--check-config` answers "would it start?" and not only "do the flags
// parse?". Each returns a one-line reason on failure.
#pragma once

#include <string>

#include "clusternodes/result.hpp"

namespace clusternodes {

// Whether a TCP socket can be bound to `ip` (an address of this host, or
// 0.0.0.0). Binds port 0 and closes at once: the daemon's own ports may be
// taken by the daemon already running, which is no reason to refuse a config.
Result<void> checkCanListen(const std::string& ip);

// Whether `dir` exists or can be made, and a file can be written in it.
// Leaves nothing behind but the directory.
Result<void> checkWritableDir(const std::string& dir);

}  // namespace clusternodes
