// clusternodes-launcher: runs the command executors of an agent's native
// tasks inside one long-lived process (launcher.hpp). The agent starts it;
// it is not meant to be run by hand.
#include <iostream>

#include "agent/launcher/launcher.hpp"
#include "common/flags.hpp"
#include "common/logging.hpp"
#include "common/process.hpp"

using namespace clusternodes;

int main(int argc, char** argv) {
  launcher::LauncherFlags flags;
  std::string logLevel = "info";
  const char* program = "clusternodes-launcher";
  CLI::App app("Clusternodes launcher: runs the native tasks of the agent that started it.", program);
  app.add_option("--agent", flags.agent, "The agent's executor endpoint (tcp://HOST:PORT)")->required();
  app.add_option("--work-dir", flags.workDir, "Where launcher.pid is written")->required();
  addDurationOption(app, "--recovery-timeout", flags.recoveryTimeout,
                    "Kill the tasks and exit after the agent is gone this long");
  app.add_option("--log-level", logLevel, "trace, debug, info, warn or error")->capture_default_str();
  if (int code = parseCommandLine(app, argc, argv); code >= 0) return code;
  if (auto logging = setupLogging("launcher", logLevel); !logging) {
    std::cerr << program << ": " << logging.error().message << "\n";
    return 2;
  }

  // Two descriptors or so per running task's executor (its socket and its
  // connection): the usual soft limit of 1,024 would cap an agent at a few
  // hundred tasks. Tasks inherit the raised limit, as a container runtime's do.
  raiseOpenFileLimit();
  Loop loop;
  zmq::context_t context(1);
  // A DEALER per running task: far more than ZeroMQ's default 1,023.
  context.set(zmq::ctxopt::max_sockets, 65536);
  {
    launcher::Launcher launcher(loop, context, flags);
    if (auto started = launcher.start(); !started) {
      std::cerr << program << ": " << started.error().message << "\n";
      return 1;
    }
    loop.run();
  }
  return 0;
}
