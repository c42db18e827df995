// The local cluster's config files: WORK_DIR/master.toml and
// WORK_DIR/agent.toml, which `clusternodes start` passes to its daemons
// (--config) and `clusternodes configure` edits.
#pragma once

#include <set>
#include <string>

#include "clusternodes/result.hpp"

namespace clusternodes::cli {

// "master" or "agent": the daemon a config file is for.
struct DaemonConfig {
  std::string daemon;   // "master", "agent"
  std::string program;  // "clusternodes-master"
  std::string path;     // WORK_DIR/master.toml
};

// The two files of a work dir.
DaemonConfig masterConfig(const std::string& workDir);
DaemonConfig agentConfig(const std::string& workDir);

// The flags `clusternodes start` sets on the daemon's command line itself
// (ports, addresses, work dirs, resources, isolation): a config file's value
// for them would never apply, so `configure` refuses them.
const std::set<std::string>& flagsSetByStart(const std::string& daemon);

// Writes the file with an explanatory comment when it does not exist yet.
Result<void> ensureConfigFile(const DaemonConfig& config);

// Runs `BIN_DIR/PROGRAM --config=FILE --check-config`: fails (kInvalid) with
// the program's one-line reason when the file holds an unknown key or a bad
// value.
Result<void> checkConfigFile(const std::string& binDir, const DaemonConfig& config, const std::string& file);

}  // namespace clusternodes::cli
