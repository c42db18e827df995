// Measures the machine for `clusternodes start` (see agent_shares.hpp).
#pragma once

#include <string>
#include <string_view>

#include "cli/agent_shares.hpp"
#include "clusternodes/result.hpp"

namespace clusternodes::cli {

// The processors this process may run on (like nproc), MemTotal from
// /proc/meminfo, and the space available to users on the file system holding
// `workDir` (which must exist). Fails (kInternal) when a measure is missing.
Result<HostCapacity> probeHost(const std::string& workDir);

// MemTotal in MiB from the text of /proc/meminfo ("MemTotal:  16318480 kB").
// Fails (kInvalid) when the line is missing or malformed.
Result<double> parseMemTotalMiB(std::string_view meminfo);

}  // namespace clusternodes::cli
