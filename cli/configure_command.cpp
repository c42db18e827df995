// `clusternodes configure`: shows or edits the local cluster's config files.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "cli/commands.hpp"
#include "cli/local_cluster.hpp"
#include "cli/local_config.hpp"
#include "cli/processes.hpp"
#include "common/config_file.hpp"

namespace clusternodes::cli {
namespace {

namespace fs = std::filesystem;

std::string readText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every setting of both files, as "daemon.key = value" lines.
int show(const std::vector<DaemonConfig>& configs) {
  for (const auto& config : configs) {
    auto entries = readConfigFile(config.path);
    if (!entries) {
      std::cerr << "clusternodes: " << entries.error().message << "\n";
      return 1;
    }
    std::cout << "# " << config.path << (entries->empty() ? " (defaults only)" : "") << "\n";
    for (const auto& entry : *entries) {
      std::cout << config.daemon << "." << entry.key << " = " << tomlValue(entry.value) << "\n";
    }
  }
  return 0;
}

}  // namespace

int runConfigure(const ConfigureOptions& options) {
  auto workDir = localWorkDir(options.workDir, /*create=*/true);
  if (!workDir) {
    std::cerr << "clusternodes: " << workDir.error().message << "\n";
    return workDir.error().code == ErrorCode::kInvalid ? 2 : 1;
  }
  std::vector<DaemonConfig> configs = {masterConfig(*workDir), agentConfig(*workDir)};
  auto lock = WorkDirLock::acquire(*workDir);
  if (!lock) {
    std::cerr << "clusternodes: " << lock.error().message << "\n";
    return 1;
  }
  for (const auto& config : configs) {
    if (auto made = ensureConfigFile(config); !made) {
      std::cerr << "clusternodes: " << made.error().message << "\n";
      return 1;
    }
  }
  if (options.settings.empty()) return show(configs);

  // The new text of each file, all settings applied, before any is written.
  std::map<std::string, std::string> texts;
  std::vector<std::pair<std::string, std::string>> applied;  // "agent.gc-delay", "1h"
  for (const auto& config : configs) texts[config.daemon] = readText(config.path);
  for (const auto& setting : options.settings) {
    size_t eq = setting.find('=');
    size_t dot = setting.find('.');
    if (eq == std::string::npos || dot == std::string::npos || dot > eq) {
      std::cerr << "clusternodes: '" << setting
                << "' is not DAEMON.KEY=VALUE (e.g. agent.gc-delay=1h or master.offer-timeout=30s)\n";
      return 2;
    }
    std::string daemon = setting.substr(0, dot);
    std::string key = setting.substr(dot + 1, eq - dot - 1);
    std::string value = setting.substr(eq + 1);
    if (daemon != "master" && daemon != "agent") {
      std::cerr << "clusternodes: " << setting << ": '" << daemon << "' is neither master nor agent\n";
      return 2;
    }
    std::replace(key.begin(), key.end(), '_', '-');
    if (flagsSetByStart(daemon).count(key) != 0) {
      std::cerr << "clusternodes: " << setting << ": 'clusternodes start' sets --" << key
                << " itself; give it to start instead (see clusternodes start --help)\n";
      return 2;
    }
    texts[daemon] = setConfigValue(texts[daemon], key, value);
    applied.emplace_back(daemon + "." + key, value);
  }

  auto binDir = selfDirectory();
  if (!binDir) {
    std::cerr << "clusternodes: " << binDir.error().message << "\n";
    return 1;
  }
  // Each new file is checked by its daemon before it replaces the old one.
  for (const auto& config : configs) {
    std::string candidate = config.path + ".new";
    {
      std::ofstream out(candidate);
      out << texts[config.daemon];
      if (!out.flush()) {
        std::cerr << "clusternodes: cannot write " << candidate << "\n";
        return 1;
      }
    }
    if (auto checked = checkConfigFile(*binDir, config, candidate); !checked) {
      fs::remove(candidate);
      std::string reason = checked.error().message;
      // The daemon names the candidate file; the user knows the real one.
      for (size_t at = reason.find(candidate); at != std::string::npos; at = reason.find(candidate)) {
        reason.replace(at, candidate.size(), config.path);
      }
      std::cerr << "clusternodes: refused, nothing changed: " << reason << "\n";
      return 2;
    }
  }
  for (const auto& config : configs) {
    std::error_code ec;
    fs::rename(config.path + ".new", config.path, ec);
    if (ec) {
      std::cerr << "clusternodes: cannot replace " << config.path << ": " << ec.message() << "\n";
      return 1;
    }
  }
  for (const auto& [key, value] : applied) {
    std::cout << key << (value.empty() ? " back to its default" : " = " + tomlValue(value)) << "\n";
  }
  auto record = loadClusterRecord(clusterRecordPath(*workDir));
  if (record && clusterIsRunning(*record, *workDir)) {
    std::cout << "the local cluster runs with the old settings: restart it to apply them "
                 "(clusternodes stop && clusternodes start)\n";
  }
  return 0;
}

}  // namespace clusternodes::cli
