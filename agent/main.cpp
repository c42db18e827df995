// clusternodes-agent: parses flags, wires the agent to a loop, runs it.
#include <spdlog/spdlog.h>

#include <iostream>

#include "agent/agent.hpp"
#include "common/flags.hpp"
#include "common/logging.hpp"

using namespace clusternodes;

int main(int argc, char** argv) {
  agent::AgentFlags flags;
  std::string logLevel = "info";
  CLI::App app("Clusternodes agent: advertises this host's resources and runs tasks.", "clusternodes-agent");
  addConfigOption(app);
  app.add_option("--master", flags.master, "The master's address, HOST:PORT")->capture_default_str();
  app.add_option("--ip", flags.ip, "Address to listen on")->capture_default_str();
  app.add_option("--port", flags.port, "ZeroMQ port for executors")->capture_default_str()->check(CLI::Range(0, 65535));
  app.add_option("--http-port", flags.httpPort, "HTTP port")->capture_default_str()->check(CLI::Range(0, 65535));
  app.add_option("--hostname", flags.hostname, "Hostname to advertise (default: this host's name)");
  app.add_option("--work-dir", flags.workDir, "Directory for sandboxes")->capture_default_str();
  app.add_option("--resources", flags.resources,
                 "Resources to advertise instead of the detected ones, e.g. \"cpus:4;mem:8192;ports:[31000-32000]\"");
  app.add_option("--attributes", flags.attributes, "Attributes, e.g. \"rack:r1;zone:a\"");
  app.add_option("--launcher-dir", flags.launcherDir,
                 "Directory holding clusternodes-executor (default: beside this program)");
  addDurationOption(app, "--executor-shutdown-grace-period", flags.defaultGracePeriod,
                    "Default time between SIGTERM and SIGKILL when a task is killed");
  addDurationOption(app, "--registration-backoff", flags.registrationBackoff,
                    "First delay before re-sending a registration");
  addDurationOption(app, "--status-update-retry-interval", flags.statusUpdateRetry,
                    "First delay before re-sending an unacknowledged status update");
  addDurationOption(app, "--recovery-timeout", flags.recoveryTimeout,
                    "How long executors wait for a vanished agent before killing their task");
  app.add_option("--max-starting-executors", flags.maxStartingExecutors,
                 "How many executors may be starting at once; more launches wait in order (0: 4 per core, at least 8)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  addDurationOption(app, "--executor-registration-timeout", flags.executorRegistrationTimeout,
                    "How long an executor may take to register before it is killed and its task fails");
  app.add_option("--log-level", logLevel, "trace, debug, info, warn or error")->capture_default_str();
  if (int code = parseCommandLine(app, argc, argv); code >= 0) return code;
  if (auto logging = setupLogging("agent", logLevel); !logging) {
    std::cerr << "clusternodes-agent: --log-level: " << logging.error().message << "\n";
    return 2;
  }
  if (flags.master.rfind("zk://", 0) == 0) {
    std::cerr << "clusternodes-agent: --master: zk:// addresses are not supported yet; give HOST:PORT\n";
    return 2;
  }
  if (flags.master.find(':') == std::string::npos) {
    std::cerr << "clusternodes-agent: --master: '" << flags.master << "' is not HOST:PORT\n";
    return 2;
  }

  Loop loop;
  zmq::context_t context(1);
  auto agent = std::make_unique<agent::Agent>(loop, context, flags);
  if (auto started = agent->start(); !started) {
    std::cerr << "clusternodes-agent: " << started.error().message << "\n";
    return 1;
  }
  auto shutdown = [&] {
    spdlog::info("shutting down");
    agent.reset();
    loop.stop();
  };
  SignalWatcher sigterm(loop, SIGTERM, shutdown);
  SignalWatcher sigint(loop, SIGINT, shutdown);
  loop.run();
  return 0;
}
