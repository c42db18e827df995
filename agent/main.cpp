// clusternodes-agent: parses flags, wires the agent to a loop, runs it.
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <iostream>

#include "agent/agent.hpp"
#include "agent/resource_detection.hpp"
#include "common/curve.hpp"
#include "common/flags.hpp"
#include "common/http_auth.hpp"
#include "common/tls.hpp"
#include "common/zookeeper.hpp"
#include "common/preflight.hpp"
#include "common/process.hpp"
#include "common/logging.hpp"

using namespace clusternodes;

namespace {

// Every flag of the agent, into `flags` and `logLevel`.
void addFlags(CLI::App& app, agent::AgentFlags& flags, std::string& logLevel) {
  addConfigOption(app);
  app.add_option("--master", flags.master, "The master's address, HOST:PORT")->capture_default_str();
  app.add_option("--key", flags.keyFile,
                 "This agent's CURVE key pair (NAME.key from `clusternodes keys generate`): the link to the master is "
                 "encrypted and the agent authenticated; with --master-key");
  app.add_option("--master-key", flags.masterKeyFile, "The master's public CURVE key (its .pub file); with --key");
  app.add_option("--ip", flags.ip, "Address to listen on")->capture_default_str();
  app.add_option("--port", flags.port, "ZeroMQ port for executors (on 127.0.0.1 only: they run on this host)")->capture_default_str()->check(CLI::Range(0, 65535));
  app.add_option("--http-port", flags.httpPort, "HTTP port")->capture_default_str()->check(CLI::Range(0, 65535));
  app.add_option("--http-credentials", flags.httpCredentialsFile,
                 "HTTP bearer tokens: a TOML file of [[token]] principal and sha256 (`clusternodes tokens generate`)");
  app.add_option("--http-authenticate", flags.httpAuthenticate,
                 "Which HTTP requests need a token: all (but /health), writes or none (the agent's endpoints only "
                 "read; default: writes with --http-credentials, none without)");
  app.add_option("--tls-cert", flags.tlsCertFile,
                 "Serve HTTPS: the PEM certificate chain of the HTTP port (the agent's first); with --tls-key");
  app.add_option("--tls-key", flags.tlsKeyFile, "The PEM private key of --tls-cert (unencrypted; keep it 0600)");
  app.add_option("--hostname", flags.hostname, "Hostname to advertise (default: this host's name)");
  app.add_option("--work-dir", flags.workDir, "Directory for sandboxes")->capture_default_str();
  app.add_option("--resources", flags.resources,
                 "Resources to advertise instead of the detected ones, e.g. \"cpus:4;mem:8192;ports:[31000-32000]\"");
  app.add_option("--attributes", flags.attributes, "Attributes, e.g. \"rack:r1;zone:a\"");
  app.add_option("--native-launcher", flags.nativeLauncher,
                 "Who runs native tasks' executors: process (one clusternodes-executor per task) or shared (one "
                 "clusternodes-launcher per agent)")
      ->check(CLI::IsMember({"process", "shared"}))
      ->capture_default_str();
  app.add_option("--launcher-dir", flags.launcherDir,
                 "Directory holding clusternodes-executor (default: beside this program)");
  addDurationOption(app, "--executor-shutdown-grace-period", flags.defaultGracePeriod,
                    "Default time between SIGTERM and SIGKILL when a task is killed");
  addDurationOption(app, "--registration-backoff", flags.registrationBackoff,
                    "First back-off of an unanswered registration: re-sent after a random delay between it and twice it, "
                    "the back-off doubling at each re-send up to 4 s");
  addDurationOption(app, "--status-update-retry-interval", flags.statusUpdateRetry,
                    "First delay before re-sending an unacknowledged status update");
  app.add_option("--recover", flags.recover,
                 "On restart: reconnect (take back the running executors and pending status updates) or cleanup "
                 "(kill them and register as a new agent)")
      ->capture_default_str()
      ->check(CLI::IsMember({"reconnect", "cleanup"}));
  addDurationOption(app, "--recovery-timeout", flags.recoveryTimeout,
                    "How long executors wait for a vanished agent before killing their task");
  app.add_option("--max-starting-executors", flags.maxStartingExecutors,
                 "How many executors may be starting at once; more launches wait in order (0: 4 per core, at least 8)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  addDurationOption(app, "--executor-registration-timeout", flags.executorRegistrationTimeout,
                    "How long an executor may take to register before it is killed and its task fails");
  app.add_option("--switch-user", flags.switchUser,
                 "Run each task as the user it or its framework names (true), which must exist on this host, or "
                 "every task as the agent's own user (false)")
      ->capture_default_str();
  app.add_option("--containerizers", flags.containerizers,
                 "The kinds of task this agent runs, comma-separated: native (commands in cgroups), docker "
                 "(containers through the Docker Engine API)")
      ->capture_default_str()
      ->check([](const std::string& value) {
        auto valid = agent::validateContainerizers(value);
        return valid.ok() ? std::string() : valid.error().message;
      });
  app.add_option("--docker-socket", flags.dockerSocket, "The Docker Engine API's unix socket")->capture_default_str();
  app.add_option("--isolation", flags.isolation.isolation,
                 "cgroups (v1 or v2, whichever the host mounts) or none")
      ->capture_default_str()
      ->check(CLI::IsMember({"cgroups", "none"}));
  app.add_option("--cgroups-root", flags.isolation.cgroupsRoot, "The cgroup the containers are made under")
      ->capture_default_str();
  app.add_flag("--cgroups-enable-cfs", flags.isolation.enableCfs,
               "Cap each task's cpu at its cpus with a CFS quota (otherwise cpus are a share, and only tasks that "
               "ask for a cpu limit are capped)");
  addDurationOption(app, "--gc-delay", flags.gc.delay,
                    "How long a finished sandbox is kept (less when the disk fills up; see --gc-disk-headroom)");
  app.add_option("--gc-disk-headroom", flags.gc.diskHeadroom,
                 "The fraction of the disk to keep free: a finished sandbox is kept at most gc-delay × "
                 "max(0, 1 - headroom - disk used)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  addDurationOption(app, "--disk-watch-interval", flags.gc.diskWatchInterval,
                    "How often the disk's use is checked for garbage collection");
  addDurationOption(app, "--usage-interval", flags.usageInterval,
                    "How often each container's usage is sampled and sent to the master");
  app.add_option("--log-level", logLevel, "trace, debug, info, warn, error or off")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
}

// Refuses (with its exit code) a flag whose value is well-formed but not
// usable; -1 when all are.
int refuseBadFlags(CommandLine& commandLine, const agent::AgentFlags& flags) {
  for (auto [name, interval] : {std::pair{"--usage-interval", flags.usageInterval},
                                 std::pair{"--disk-watch-interval", flags.gc.diskWatchInterval}}) {
    if (interval <= std::chrono::nanoseconds::zero()) {
      return commandLine.refuse(name, formatDuration(interval), "must be longer than 0");
    }
  }
  if (isZkUrl(flags.master)) {
    if (auto url = parseZkUrl(flags.master); !url) return commandLine.refuse("--master", flags.master, url.error().message);
  } else if (flags.master.find(':') == std::string::npos) {
    return commandLine.refuse("--master", flags.master, "not HOST:PORT (e.g. 10.0.0.1:5050)");
  }
  if (!flags.resources.empty()) {
    if (auto parsed = Resources::parse(flags.resources); !parsed) {
      return commandLine.refuse("--resources", flags.resources, parsed.error().message);
    }
  }
  if (auto attributes = agent::parseAttributes(flags.attributes); !attributes) {
    return commandLine.refuse("--attributes", flags.attributes, attributes.error().message);
  }
  if (flags.keyFile.empty() != flags.masterKeyFile.empty()) {
    return flags.keyFile.empty() ? commandLine.refuse("--master-key", flags.masterKeyFile, "needs --key too")
                                 : commandLine.refuse("--key", flags.keyFile, "needs --master-key too");
  }
  if (!flags.keyFile.empty()) {
    if (auto key = readCurveKey(flags.keyFile, true); !key) {
      return commandLine.refuse("--key", flags.keyFile, key.error().message);
    }
    if (auto key = readCurveKey(flags.masterKeyFile, false); !key) {
      return commandLine.refuse("--master-key", flags.masterKeyFile, key.error().message);
    }
  }
  if (auto http = loadHttpAuthPolicy(flags.httpAuthenticate, flags.httpCredentialsFile); !http) {
    std::cerr << "clusternodes-agent: " << http.error().message << "\n";
    return 2;
  }
  if (auto tls = tlsFromFlags(flags.tlsCertFile, flags.tlsKeyFile); !tls) {
    std::cerr << "clusternodes-agent: " << tls.error().message << "\n";
    return 2;
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  agent::AgentFlags flags;
  std::string logLevel = "info";
  CLI::App app("Clusternodes agent: advertises this host's resources and runs tasks.", "clusternodes-agent");
  addFlags(app, flags, logLevel);
  bool checkConfig = false;
  app.add_flag("--check-config", checkConfig,
               "Check the flags (from the command line, the environment and --config) and exit: 0 when valid");
  std::string generateKey;
  app.add_option("--generate-key", generateKey,
                 "Write a CURVE key pair for this agent (its principal: --hostname, else this host's name) to "
                 "BASE.key (0600) and BASE.pub unless BASE.key exists, and exit (the package does this at install)");
  CommandLine commandLine(app, "CLUSTERNODES_AGENT_");
  if (int code = commandLine.parse(argc, argv); code >= 0) return code;
  if (!generateKey.empty()) {
    std::string host = flags.hostname;
    if (host.empty()) {
      char name[256] = {};
      ::gethostname(name, sizeof name - 1);
      host = name;
    }
    auto made = ensureCurveKeyFiles(generateKey, principalFromHostname(host));
    if (!made) return commandLine.refuse("--generate-key", generateKey, made.error().message);
    std::cout << generateKey << ".key: " << (*made ? "written" : "kept (it exists)") << "\n";
    return 0;
  }
  if (int refused = refuseBadFlags(commandLine, flags); refused >= 0) return refused;
  if (checkConfig) {
    // Would it start? Its address and its work dir, not only the syntax.
    if (auto listen = checkCanListen(flags.ip); !listen) return commandLine.refuse("--ip", flags.ip, listen.error().message);
    if (auto dir = checkWritableDir(flags.workDir); !dir) {
      return commandLine.refuse("--work-dir", flags.workDir, dir.error().message);
    }
    std::cout << "clusternodes-agent: the flags are valid\n";
    return 0;
  }
  if (auto logging = setupLogging("agent", logLevel); !logging) {
    std::cerr << "clusternodes-agent: --log-level: " << logging.error().message << "\n";
    return 2;
  }

  // A connection per executor (and the launcher's one per task).
  raiseOpenFileLimit();
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
