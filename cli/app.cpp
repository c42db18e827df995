// The `clusternodes` command line: one CLI11 subcommand per command.
#include "cli/commands.hpp"
#include "common/flags.hpp"

namespace clusternodes::cli {

int runCli(int argc, char** argv) {
  CLI::App app(
      "Clusternodes operator CLI: start, inspect and stop a local cluster; read task logs; run a Docker container "
      "as a task in the foreground.",
      "clusternodes");
  addConfigOption(app);
  app.require_subcommand(1);
  const std::string workDirHelp =
      "Directory of the local cluster (default: $CLUSTERNODES_HOME, else $HOME/.clusternodes)";

  StartOptions start;
  auto* startCommand = app.add_subcommand("start", "Start a local master and agents in the background");
  startCommand->add_option("--agents", start.agents, "Number of agents")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  startCommand->add_option("--work-dir", start.workDir, workDirHelp);
  startCommand->add_option("--port", start.port, "The master's ZeroMQ port (0: pick a free one)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  startCommand->add_option("--http-port", start.httpPort, "The master's HTTP port (0: pick a free one)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  startCommand->add_option("--resources", start.resources,
                           "Every agent's resources, e.g. \"cpus:2;mem:2048\" (default: a share of this machine each)");
  startCommand
      ->add_option("--isolation", start.isolation,
                   "The agents' isolation: cgroups, none, or auto (cgroups as root on a host that mounts them)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "cgroups", "none"}));

  StatusOptions status;
  auto* statusCommand = app.add_subcommand("status", "Show the agents, frameworks and running tasks of a master");
  statusCommand->add_option("--master", status.master, "The master's address, HOST:PORT (default: the local cluster)");
  statusCommand->add_option("--work-dir", status.workDir, workDirHelp);
  statusCommand->add_flag("--json", status.json, "Print the master's /state JSON as it is");

  StopOptions stop;
  auto* stopCommand = app.add_subcommand("stop", "Stop the local cluster and every task it runs");
  stopCommand->add_option("--work-dir", stop.workDir, workDirHelp);

  LogsOptions logs;
  auto* logsCommand = app.add_subcommand("logs", "Print a task's output, from its sandbox on its agent");
  logsCommand->add_option("task-id", logs.taskId, "The task's id")->required();
  logsCommand->add_flag("--stderr", logs.showStderr, "Print stderr instead of stdout");
  logsCommand->add_flag("--follow,-f", logs.follow, "Keep printing what the task writes until it ends");
  logsCommand->add_option("--master", logs.master, "The master's address, HOST:PORT (default: the local cluster)");
  logsCommand->add_option("--work-dir", logs.workDir, workDirHelp);

  RunOptions run;
  auto* runCommand = app.add_subcommand(
      "run", "Run a Docker container as a task and wait for it, streaming its output: run --image=IMAGE -- CMD...");
  runCommand->add_option("--image", run.image, "The Docker image to run (required)");
  runCommand->add_option("--cpus", run.cpus, "Cpus for the container")->capture_default_str();
  runCommand->add_option("--mem", run.mem, "Memory for the container, in MiB")->capture_default_str();
  runCommand->add_option("--env", run.env, "NAME=VALUE for the container's environment (repeatable)")
      ->allow_extra_args(false);
  runCommand
      ->add_option("--port", run.ports,
                   "Publish CONTAINER_PORT[/tcp|/udp] at a host port from the offer (repeatable; the choice is "
                   "printed)")
      ->allow_extra_args(false);
  runCommand->add_option("--name", run.name, "The task's id and name (default: run-XXXXXX, named after the image)");
  runCommand->add_flag("--force-pull", run.forcePull, "Pull the image even when the agent has it");
  runCommand->add_option("--master", run.master, "The master's address, HOST:PORT (default: the local cluster)");
  runCommand->add_option("--work-dir", run.workDir, workDirHelp);
  runCommand
      ->add_option("--timeout", run.timeoutSeconds, "Seconds to wait for an offer that fits (0: no limit)")
      ->capture_default_str();
  runCommand->add_option("command", run.command,
                         "The command and its arguments, after --; replaces the image's command (default: the "
                         "image's own)");

  if (int code = parseCommandLine(app, argc, argv); code >= 0) return code;
  if (runCommand->parsed()) return runRun(run);
  if (logsCommand->parsed()) return runLogs(logs);
  if (startCommand->parsed()) return runStart(start);
  if (statusCommand->parsed()) return runStatus(status);
  return runStop(stop);
}

}  // namespace clusternodes::cli
