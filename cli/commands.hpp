// The `clusternodes` subcommands. Each returns the process's exit code: 0 on
// success, 1 when the work failed (with a one-line reason on stderr), 2 for
// an invalid option value; `run` passes its container's status on instead.
#pragma once

#include <string>
#include <vector>

#include "cli/status_view.hpp"

namespace clusternodes::cli {

struct StartOptions {
  int agents = 2;
  // Masters elected through a local ZooKeeper server when more than 1; odd,
  // at most 7 (checkMasterCount()).
  int masters = 1;
  std::string workDir;    // "" = $CLUSTERNODES_HOME or $HOME/.clusternodes
  int port = 5050;        // the master's ZeroMQ port; 0 = pick a free one
  int httpPort = 8081;    // the master's HTTP port; 0 = pick a free one
  std::string resources;  // every agent's --resources; "" = a share of the host each
  // The agents' --isolation; "auto" = cgroups when running as root on a host
  // that mounts them, else none.
  std::string isolation = "auto";
};

// Starts a master and `agents` agents as daemons, waits until all agents are
// registered, prints "master: 127.0.0.1:P", "web: http://127.0.0.1:H/",
// "key: WORK_DIR/keys/operator.key" and "master-key: WORK_DIR/keys/master.pub"
// (what a framework gives as --key and --master-key), and records the
// cluster in WORK_DIR/cluster.json. Every link is authenticated and
// encrypted with the keys in WORK_DIR/keys (cli/local_keys.hpp), made on
// first use. When the recorded cluster still runs, prints the same lines
// and starts nothing. With `masters` > 1,
// starts a ZooKeeper server first and that many masters elected through it,
// each under a `clusternodes supervise`; "master:" is then their zk:// URL
// and "web:" the leader's UI.
int runStart(const StartOptions& options);

struct SuperviseOptions {
  std::string name;                  // "master 2": for the supervisor's log lines
  std::string log;                   // the daemon's stdout and stderr, appended to
  std::string workDir;               // the cluster's: how `stop` knows this supervisor
  std::vector<std::string> command;  // the daemon's program and arguments
};

// Runs `command` as a daemon (spawnDaemon(), appending to `log`, where it
// also says what it does) and starts it again whenever it ends, after
// RestartBackoff's wait: 1 s, doubling for each end in a row within 10 s of
// its start, up to 30 s. SIGTERM, SIGINT or SIGHUP stop it (SIGTERM, SIGKILL
// after 8 s) and end the supervisor with 0. Not for people: `start
// --masters=N` runs one per master.
int runSupervise(const SuperviseOptions& options);

struct StatusOptions {
  std::string master;   // HOST:PORT; "" = the local cluster of workDir
  std::string keyFile;        // CURVE key pair for a --master started with --key; "" = the local cluster's
  std::string masterKeyFile;  // that master's public key
  std::string workDir;
  bool json = false;    // print JSON instead of tables
};

// Prints the agents, frameworks and running tasks of a master's /state
// (renderStatus()); with json, the whole /state, indented.
int runStatus(const StatusOptions& options);

// `agents`, `frameworks`: one table each (status_view.hpp); with json, that
// array of /state.
int runAgents(const StatusOptions& options);
int runFrameworks(const StatusOptions& options);

// `tasks`: the tasks that pass `filter` as a table; with json, as an array.
int runTasks(const StatusOptions& options, const TaskFilter& filter);

struct KeysOptions {
  std::string name;         // generate: the principal
  std::string dir = ".";    // generate: where NAME.key and NAME.pub go
  bool force = false;       // generate: replace existing files
  std::string file;         // add, show: a key file (.pub or .key)
  std::string credentials;  // add: the credentials file (made when missing)
  bool agent = false;       // add: as an agent (else a framework)
};

struct TokensOptions {
  std::string principal;    // whom the token names
  std::string credentials;  // the daemons' tokens file (made when missing)
  std::string out;          // where the token goes (default: printed)
};

// `tokens generate PRINCIPAL --credentials=FILE [--out=TOKEN]`: a new HTTP
// bearer token, its hash added to FILE (common/http_auth.hpp).
int runTokensGenerate(const TokensOptions& options);

// `keys generate NAME`: writes DIR/NAME.key (0600) and DIR/NAME.pub (0644)
// and prints their paths and the key's fingerprint.
int runKeysGenerate(const KeysOptions& options);
// `keys add FILE --credentials=C --agent|--framework`: adds FILE's public key
// to the credentials file C under [agents] or [frameworks].
int runKeysAdd(const KeysOptions& options);
// `keys show FILE`: the principal, public key and fingerprint of a key file.
int runKeysShow(const KeysOptions& options);

struct StopOptions {
  std::string workDir;
};

// Stops the local cluster of WORK_DIR/cluster.json and every executor and
// task it left, removes the record and prints "stopped"; without a record,
// prints "no local cluster is running". Both exit 0.
int runStop(const StopOptions& options);

struct LogsOptions {
  std::string taskId;
  std::string master;    // HOST:PORT; "" = the local cluster of workDir
  std::string keyFile;        // CURVE key pair for a --master started with --key; "" = the local cluster's
  std::string masterKeyFile;  // that master's public key
  std::string workDir;
  bool showStderr = false;  // stderr instead of stdout
  bool follow = false;   // keep printing until the task has ended
};

// Prints a task's stdout (or stderr) from its newest sandbox on its agent,
// found through the master; with follow, keeps printing what the task
// writes until it has ended.
int runLogs(const LogsOptions& options);

struct RunOptions {
  std::string image;
  double cpus = 0.1;
  double mem = 64;                   // MiB
  std::vector<std::string> env;      // NAME=VALUE each
  std::vector<std::string> ports;    // CONTAINER_PORT or CONTAINER_PORT/tcp|udp each
  std::string name;                  // the task's id and name; "" = "run-" + a random suffix, named after the image
  bool forcePull = false;
  std::string master;                // HOST:PORT; "" = the local cluster of workDir
  std::string keyFile;               // the framework's CURVE key pair; "" = the local cluster's operator key
  std::string masterKeyFile;         // the master's public key; "" = the local cluster's
  std::string workDir;
  double timeoutSeconds = 0;         // how long to wait for an offer that fits; 0 = no limit
  std::vector<std::string> command;  // replaces the image's command; empty = the image's own
  bool detach = false;               // run as a service in the background (runDetached)
  int instances = 1;                 // with detach: how many copies to keep running
};

// Runs one Docker task in the foreground, like `docker run`: registers a
// framework, launches the task on the first offer that fits, streams the
// container's stdout and stderr to ours until it ends, and exits with the
// container's exit status (125 when it never ran, 126/127 when its command
// could not be executed / found). SIGINT or SIGTERM kills the task; a
// second one leaves at once (130).
int runRun(const RunOptions& options);

// `run --detach`: starts a service scheduler in the background (this program
// again, as `service-scheduler`, in a session of its own, logging to
// WORK_DIR/services/NAME.log) that keeps `instances` copies of the container
// running, relaunching any that ends, under a framework named
// "docker:NAME". Waits until it has registered and answers, then prints
// "service NAME: K instance(s) of IMAGE (framework ID)". A name already in
// use by a running service exits 1; a missing or malformed name, 2.
int runDetached(const RunOptions& options);

// The hidden `service-scheduler` command that runDetached() starts: the
// service itself, until `clusternodes kill NAME` (or SIGTERM). Its control
// API (GET /status, POST /scale, POST /kill) listens on 127.0.0.1 at a free
// port, announced as the framework's webui_url.
int runServiceScheduler(const RunOptions& options);

struct ServiceOptions {
  std::string name;
  int instances = 1;  // for scale
  std::string master;  // HOST:PORT; "" = the local cluster of workDir
  std::string keyFile;        // CURVE key pair for a --master started with --key; "" = the local cluster's
  std::string masterKeyFile;  // that master's public key
  std::string workDir;
};

// `scale NAME --instances=K`: tells the service to keep K instances (0 or
// more; the highest-numbered extra ones are killed) and prints
// "service NAME: K instance(s)". An unknown service exits 1.
int runScale(const ServiceOptions& options);

// `kill NAME`: the service kills its tasks and leaves; waits until its
// framework is gone and prints "service NAME: stopped". An unknown service
// exits 1.
int runKill(const ServiceOptions& options);

struct ConfigureOptions {
  std::vector<std::string> settings;  // DAEMON.KEY=VALUE each; KEY= returns KEY to its default
  std::string workDir;
};

// `configure [DAEMON.KEY=VALUE...]`: edits WORK_DIR/master.toml and
// WORK_DIR/agent.toml (creating them), which `start` passes to the daemons.
// Every new file is checked by its daemon (--check-config) before any is
// written: an unknown key or a bad value exits 2 naming the key, the value
// and why, and changes nothing. Keys `start` sets itself (ports, addresses,
// work dirs, resources, isolation) exit 2 too. Without settings, prints
// every setting as DAEMON.KEY = VALUE.
int runConfigure(const ConfigureOptions& options);

// Parses argv and runs the chosen subcommand.
int runCli(int argc, char** argv);

}  // namespace clusternodes::cli
