// The `clusternodes` command line: one CLI11 subcommand per command.
#include <iostream>

#include "cli/commands.hpp"
#include "cli/master_target.hpp"
#include "common/flags.hpp"

namespace clusternodes::cli {
namespace {

// More instances than any cluster this CLI drives could hold.
constexpr int kMaxInstances = 1000;

// The flags `run` and `service-scheduler` share: the container and where
// to run it.
void addContainerOptions(CLI::App& command, RunOptions& run, const std::string& workDirHelp) {
  command.add_option("--image", run.image, "The Docker image to run (required)");
  command.add_option("--cpus", run.cpus, "Cpus for the container")->capture_default_str();
  command.add_option("--mem", run.mem, "Memory for the container, in MiB")->capture_default_str();
  command.add_option("--env", run.env, "NAME=VALUE for the container's environment (repeatable)")
      ->allow_extra_args(false);
  command
      .add_option("--port", run.ports,
                  "Publish CONTAINER_PORT[/tcp|/udp] at a host port from the offer (repeatable; the choice is "
                  "printed)")
      ->allow_extra_args(false);
  command.add_option("--name", run.name,
                     "The task's id and name (default: run-XXXXXX, named after the image); with --detach, the "
                     "service's name (required)");
  command.add_flag("--force-pull", run.forcePull, "Pull the image even when the agent has it");
  command.add_option("--master", run.master, "The master's address, HOST:PORT or zk://HOST:PORT[,...]/PATH (default: the local cluster)");
  command.add_option("--key", run.keyFile,
                     "The framework's CURVE key pair, for a master started with --key (default with the local "
                     "cluster: its operator key)");
  command.add_option("--master-key", run.masterKeyFile, "The master's public CURVE key (with --key)");
  command.add_option("--work-dir", run.workDir, workDirHelp);
  command.add_option("command", run.command,
                     "The command and its arguments, after --; replaces the image's command (default: the "
                     "image's own)");
}

// --key and --master-key: what the CLI presents to a --master started with
// --key (the local cluster's own keys otherwise).
void addKeyOptions(CLI::App& command, std::string& keyFile, std::string& masterKeyFile) {
  command.add_option("--key", keyFile,
                     "A CURVE key pair the master knows (default: the local cluster's operator key, if any)");
  command.add_option("--master-key", masterKeyFile, "The master's public CURVE key (with --key)");
}

}  // namespace

int runCli(int argc, char** argv) {
  CLI::App app(
      "Clusternodes operator CLI: start, inspect and stop a local cluster; read task logs; run a Docker container "
      "as a task in the foreground, or keep copies of it running as a service.",
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
  startCommand->add_option("--masters", start.masters,
                           "Number of masters: 1, or 3, 5 or 7 elected through a local ZooKeeper server, each "
                           "restarted when it exits")
      ->capture_default_str();
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
  statusCommand->add_option("--master", status.master, "The master's address, HOST:PORT or zk://HOST:PORT[,...]/PATH (default: the local cluster)");
  statusCommand->add_option("--work-dir", status.workDir, workDirHelp);
  addKeyOptions(*statusCommand, status.keyFile, status.masterKeyFile);
  statusCommand->add_flag("--json", status.json, "Print the master's /state JSON as it is");

  StatusOptions list;
  TaskFilter taskFilter;
  auto addListOptions = [&](CLI::App* command) {
    command->add_option("--master", list.master, "The master's address, HOST:PORT or zk://HOST:PORT[,...]/PATH (default: the local cluster)");
    command->add_option("--work-dir", list.workDir, workDirHelp);
    addKeyOptions(*command, list.keyFile, list.masterKeyFile);
    command->add_flag("--json", list.json, "Print JSON (the array from the master's /state) instead of a table");
  };
  auto* agentsCommand = app.add_subcommand("agents", "List the agents: address, health, resources, tasks, attributes");
  addListOptions(agentsCommand);
  auto* frameworksCommand = app.add_subcommand(
      "frameworks", "List the frameworks: role, share of the cluster, tasks, whether they wait for offers");
  addListOptions(frameworksCommand);
  auto* tasksCommand =
      app.add_subcommand("tasks", "List the tasks: framework, agent, state, age, resources, last status reason");
  addListOptions(tasksCommand);
  tasksCommand->add_flag("--all,-a", taskFilter.all, "Include the completed tasks the master remembers");
  tasksCommand->add_option("--state", taskFilter.state, "Only tasks in this state (running or TASK_RUNNING, ...)");
  tasksCommand->add_option("--framework", taskFilter.framework, "Only this framework's tasks (its id or name)");

  StopOptions stop;
  auto* stopCommand = app.add_subcommand("stop", "Stop the local cluster and every task it runs");
  stopCommand->add_option("--work-dir", stop.workDir, workDirHelp);

  LogsOptions logs;
  auto* logsCommand = app.add_subcommand("logs", "Print a task's output, from its sandbox on its agent");
  logsCommand->add_option("task-id", logs.taskId, "The task's id")->required();
  logsCommand->add_flag("--stderr", logs.showStderr, "Print stderr instead of stdout");
  logsCommand->add_flag("--follow,-f", logs.follow, "Keep printing what the task writes until it ends");
  logsCommand->add_option("--master", logs.master, "The master's address, HOST:PORT or zk://HOST:PORT[,...]/PATH (default: the local cluster)");
  logsCommand->add_option("--work-dir", logs.workDir, workDirHelp);
  addKeyOptions(*logsCommand, logs.keyFile, logs.masterKeyFile);

  RunOptions run;
  auto* runCommand = app.add_subcommand(
      "run",
      "Run a Docker container as a task and wait for it, streaming its output: run --image=IMAGE -- CMD...; with "
      "--detach, keep --instances copies of it running as service --name in the background");
  addContainerOptions(*runCommand, run, workDirHelp);
  auto* detach = runCommand->add_flag(
      "--detach,-d", run.detach,
      "Run as a service in the background: keep --instances copies running, relaunching any that ends, until "
      "'clusternodes kill NAME' (needs --name)");
  runCommand->add_option("--instances", run.instances, "With --detach: how many copies to keep running")
      ->capture_default_str()
      ->check(CLI::Range(1, kMaxInstances))
      ->needs(detach);
  runCommand
      ->add_option("--timeout", run.timeoutSeconds, "Seconds to wait for an offer that fits (0: no limit)")
      ->capture_default_str();

  // What `run --detach` starts in the background; not for people.
  RunOptions service;
  auto* serviceCommand = app.add_subcommand("service-scheduler", "The scheduler of a service (run --detach)");
  serviceCommand->group("");
  addContainerOptions(*serviceCommand, service, workDirHelp);
  serviceCommand->add_option("--instances", service.instances)->check(CLI::Range(0, kMaxInstances));

  // What `start --masters=N` runs in the background; not for people.
  SuperviseOptions supervise;
  auto* superviseCommand = app.add_subcommand("supervise", "Keep a daemon running (start --masters)");
  superviseCommand->group("");
  superviseCommand->add_option("--name", supervise.name)->required();
  superviseCommand->add_option("--log", supervise.log)->required();
  superviseCommand->add_option("--work-dir", supervise.workDir)->required();
  superviseCommand->add_option("command", supervise.command, "The daemon and its arguments, after --");

  ServiceOptions scale;
  auto* scaleCommand = app.add_subcommand("scale", "Change how many instances a service (run --detach) keeps");
  scaleCommand->add_option("name", scale.name, "The service's name")->required();
  scaleCommand->add_option("--instances", scale.instances, "How many copies to keep running (0 or more)")
      ->required()
      ->check(CLI::Range(0, kMaxInstances));
  scaleCommand->add_option("--master", scale.master, "The master's address, HOST:PORT or zk://HOST:PORT[,...]/PATH (default: the local cluster)");
  scaleCommand->add_option("--work-dir", scale.workDir, workDirHelp);
  addKeyOptions(*scaleCommand, scale.keyFile, scale.masterKeyFile);

  ServiceOptions kill;
  auto* killCommand = app.add_subcommand("kill", "Stop a service (run --detach) and every instance of it");
  killCommand->add_option("name", kill.name, "The service's name")->required();
  killCommand->add_option("--master", kill.master, "The master's address, HOST:PORT or zk://HOST:PORT[,...]/PATH (default: the local cluster)");
  killCommand->add_option("--work-dir", kill.workDir, workDirHelp);
  addKeyOptions(*killCommand, kill.keyFile, kill.masterKeyFile);

  ConfigureOptions configure;
  auto* configureCommand = app.add_subcommand(
      "configure",
      "Show or change the local cluster's daemon flags: configure agent.gc-delay=1h master.offer-timeout=30s "
      "(KEY= returns a flag to its default; restart the cluster to apply)");
  configureCommand->add_option("settings", configure.settings, "DAEMON.KEY=VALUE, DAEMON being master or agent");
  configureCommand->add_option("--work-dir", configure.workDir, workDirHelp);

  KeysOptions keys;
  auto* keysCommand = app.add_subcommand(
      "keys", "Make CURVE key pairs and the master's credentials file (authenticated, encrypted links)");
  keysCommand->require_subcommand(1);
  auto* keysGenerate =
      keysCommand->add_subcommand("generate", "Write NAME.key (the key pair, 0600) and NAME.pub (its public key)");
  keysGenerate->add_option("name", keys.name, "The principal: an agent's or a framework's name")->required();
  keysGenerate->add_option("--dir", keys.dir, "Where to write the files")->capture_default_str();
  keysGenerate->add_flag("--force", keys.force, "Replace existing files");
  auto* keysAdd = keysCommand->add_subcommand(
      "add", "Add a public key to a master's credentials file, as an agent's or a framework's");
  keysAdd->add_option("file", keys.file, "NAME.pub")->required();
  keysAdd->add_option("--credentials", keys.credentials, "The master's credentials file (made when missing)")
      ->required();
  auto* asAgent = keysAdd->add_flag("--agent", keys.agent, "The key is an agent's");
  bool asFramework = false;
  keysAdd->add_flag("--framework", asFramework, "The key is a framework's")->excludes(asAgent);
  auto* keysShow = keysCommand->add_subcommand("show", "Print a key file's principal, public key and fingerprint");
  keysShow->add_option("file", keys.file, "NAME.pub or NAME.key")->required();

  TokensOptions tokens;
  auto* tokensCommand =
      app.add_subcommand("tokens", "Make HTTP bearer tokens and the daemons' tokens file (--http-credentials)");
  tokensCommand->require_subcommand(1);
  auto* tokensGenerate = tokensCommand->add_subcommand(
      "generate", "Make a token for PRINCIPAL, add its hash to the tokens file, and write the token (0600) or print it");
  tokensGenerate->add_option("principal", tokens.principal, "Whom the token names (for the ACLs)")->required();
  tokensGenerate->add_option("--credentials", tokens.credentials, "The daemons' tokens file (made when missing)")
      ->required();
  tokensGenerate->add_option("--out", tokens.out, "Write the token to this new file (default: print it)");

  if (int code = parseCommandLine(app, argc, argv); code >= 0) return code;
  if (auto token = useEnvironmentHttpToken(); !token) {
    std::cerr << "clusternodes: " << token.error().message << "\n";
    return 2;
  }
  if (auto ca = useEnvironmentHttpCa(); !ca) {
    std::cerr << "clusternodes: " << ca.error().message << "\n";
    return 2;
  }
  if (keysGenerate->parsed()) return runKeysGenerate(keys);
  if (tokensGenerate->parsed()) return runTokensGenerate(tokens);
  if (keysShow->parsed()) return runKeysShow(keys);
  if (keysAdd->parsed()) {
    if (!keys.agent && !asFramework) {
      std::cerr << "clusternodes: keys add: say whose key it is: --agent or --framework\n";
      return 2;
    }
    return runKeysAdd(keys);
  }
  if (runCommand->parsed()) return run.detach ? runDetached(run) : runRun(run);
  if (serviceCommand->parsed()) return runServiceScheduler(service);
  if (superviseCommand->parsed()) return runSupervise(supervise);
  if (scaleCommand->parsed()) return runScale(scale);
  if (killCommand->parsed()) return runKill(kill);
  if (logsCommand->parsed()) return runLogs(logs);
  if (startCommand->parsed()) return runStart(start);
  if (statusCommand->parsed()) return runStatus(status);
  if (configureCommand->parsed()) return runConfigure(configure);
  if (agentsCommand->parsed()) return runAgents(list);
  if (frameworksCommand->parsed()) return runFrameworks(list);
  if (tasksCommand->parsed()) return runTasks(list, taskFilter);
  return runStop(stop);
}

}  // namespace clusternodes::cli
