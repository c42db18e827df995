// clusternodes-executor and clusternodes-docker-executor: the built-in
// executors for native and for Docker tasks, one source built twice
// (CN_DOCKER_EXECUTOR picks the second). The agent starts them; they are not
// meant to be run by hand.
#include <iostream>

#ifdef CN_DOCKER_EXECUTOR
#include "agent/executor/docker_executor.hpp"
#else
#include "agent/executor/command_executor.hpp"
#endif
#include "common/flags.hpp"
#include "common/logging.hpp"

using namespace clusternodes;

int main(int argc, char** argv) {
  executor::ExecutorFlags flags;
  std::string logLevel = "info";
#ifdef CN_DOCKER_EXECUTOR
  using Executor = executor::DockerExecutor;
  const char* program = "clusternodes-docker-executor";
  CLI::App app("Clusternodes Docker executor: runs one Docker task for the agent that launched it.", program);
#else
  using Executor = executor::CommandExecutor;
  const char* program = "clusternodes-executor";
  CLI::App app("Clusternodes command executor: runs one native task for the agent that launched it.", program);
#endif
  app.add_option("--agent", flags.agent, "The agent's executor endpoint (tcp://HOST:PORT)")->required();
  app.add_option("--framework-id", flags.frameworkId.value, "Framework of the task")->required();
  app.add_option("--task-id", flags.taskId.value, "The task to run")->required();
  addDurationOption(app, "--recovery-timeout", flags.recoveryTimeout,
                    "Kill the task and exit after the agent is gone this long");
  app.add_option("--log-level", logLevel, "trace, debug, info, warn or error")->capture_default_str();
  if (int code = parseCommandLine(app, argc, argv); code >= 0) return code;
  if (auto logging = setupLogging("executor", logLevel); !logging) {
    std::cerr << program << ": " << logging.error().message << "\n";
    return 2;
  }

  Loop loop;
  zmq::context_t context(1);
  int code = 0;
  {
    Executor executor(loop, context, flags, [&loop](int) { loop.stop(); });
    if (auto started = executor.start(); !started) {
      std::cerr << program << ": " << started.error().message << "\n";
      return 1;
    }
    loop.run();
    code = executor.exitCode();
  }
  return code;
}
