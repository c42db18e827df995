#include "cli/local_config.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "cli/processes.hpp"

namespace clusternodes::cli {
namespace {

std::string header(const DaemonConfig& config) {
  return "# Flags of the local cluster's " + config.daemon + " (" + config.program +
         " --help lists them), one\n"
         "# `name = value` per line, e.g. log-level = \"debug\". Edit with\n"
         "#   clusternodes configure " + config.daemon + ".NAME=VALUE\n"
         "# and restart the cluster to apply. `clusternodes start` sets the ports,\n"
         "# addresses and work dirs itself.\n";
}

}  // namespace

DaemonConfig masterConfig(const std::string& workDir) {
  return {"master", "clusternodes-master", workDir + "/master.toml"};
}

DaemonConfig agentConfig(const std::string& workDir) {
  return {"agent", "clusternodes-agent", workDir + "/agent.toml"};
}

const std::set<std::string>& flagsSetByStart(const std::string& daemon) {
  static const std::set<std::string> kMaster = {"ip", "port", "http-port", "work-dir", "config", "check-config"};
  static const std::set<std::string> kAgent = {"master",    "ip",        "port",   "http-port", "work-dir",
                                               "resources", "isolation", "config", "check-config"};
  return daemon == "master" ? kMaster : kAgent;
}

Result<void> ensureConfigFile(const DaemonConfig& config) {
  std::error_code ec;
  if (std::filesystem::exists(config.path, ec)) return {};
  std::string temp = config.path + ".new";
  {
    std::ofstream out(temp);
    out << header(config);
    if (!out.flush()) return internalError("cannot write " + temp);
  }
  std::filesystem::rename(temp, config.path, ec);
  if (ec) return internalError("cannot write " + config.path + ": " + ec.message());
  return {};
}

Result<void> checkConfigFile(const std::string& binDir, const DaemonConfig& config, const std::string& file) {
  char logPath[] = "/tmp/clusternodes-check-XXXXXX";
  int fd = ::mkstemp(logPath);
  if (fd < 0) return internalError(std::string("cannot make a temporary file: ") + std::strerror(errno));
  ::close(fd);
  auto pid = spawnDaemon({binDir + "/" + config.program, "--config=" + file, "--check-config"}, logPath);
  if (!pid) {
    std::remove(logPath);
    return pid.error();
  }
  int status = 0;
  while (::waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  auto lines = tailLines(logPath, 1);
  std::remove(logPath);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  std::string reason = lines.empty() ? config.program + " refused it without saying why" : lines.back();
  return invalid(reason);
}

}  // namespace clusternodes::cli
