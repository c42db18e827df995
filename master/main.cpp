// clusternodes-master: parses flags, wires the master to a loop, runs it.
#include <spdlog/spdlog.h>

#include <ifaddrs.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <iostream>

#include "common/curve.hpp"
#include "common/flags.hpp"
#include "common/http_auth.hpp"
#include "common/tls.hpp"
#include "common/preflight.hpp"
#include "common/process.hpp"
#include "common/logging.hpp"
#include "common/malloc_tunables.hpp"
#include "common/leader.hpp"
#include "master/election.hpp"
#include "master/master.hpp"
#include "master/registry/zookeeper_store.hpp"
#include "master/validation.hpp"

using namespace clusternodes;

namespace {

Result<std::map<std::string, double>> parseWeights(const std::string& text) {
  std::map<std::string, double> weights;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(start, end - start);
    start = end + 1;
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) return invalid("weight '" + item + "' is not ROLE=WEIGHT");
    if (auto role = validateRole(item.substr(0, eq)); !role) return role.error();
    try {
      size_t used = 0;
      double w = std::stod(item.substr(eq + 1), &used);
      if (used != item.size() - eq - 1 || !(w > 0)) throw std::invalid_argument("bad");
      weights[item.substr(0, eq)] = w;
    } catch (const std::exception&) {
      return invalid("weight '" + item + "' needs a positive number after '='");
    }
  }
  return weights;
}

// "N/DURATION" (e.g. 1/10s): at most N agents per DURATION.
Result<std::pair<int, std::chrono::nanoseconds>> parseRateLimit(const std::string& text) {
  auto slash = text.find('/');
  if (slash == std::string::npos) return invalid("'" + text + "' is not N/DURATION (e.g. 1/10s)");
  int count = 0;
  try {
    size_t used = 0;
    count = std::stoi(text.substr(0, slash), &used);
    if (used != slash) throw std::invalid_argument("trailing text");
  } catch (const std::exception&) {
    return invalid("'" + text.substr(0, slash) + "' is not a whole number of agents");
  }
  if (count < 1) return invalid("the number of agents must be at least 1, not " + std::to_string(count));
  auto period = parseDuration(text.substr(slash + 1));
  if (!period) return period.error();
  if (*period <= std::chrono::nanoseconds::zero()) return invalid("the period must be longer than 0");
  return std::make_pair(count, *period);
}

// The address other hosts reach this master at, for its election znode:
// --ip, or with --ip=0.0.0.0 the host's first IPv4 address off loopback.
std::string advertisedIp(const std::string& ip) {
  if (ip != "0.0.0.0") return ip;
  ifaddrs* list = nullptr;
  std::string found = "127.0.0.1";
  if (::getifaddrs(&list) != 0) return found;
  for (auto* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr, text, sizeof text);
    if (std::string(text).rfind("127.", 0) == 0) continue;
    found = text;
    break;
  }
  ::freeifaddrs(list);
  return found;
}

std::string hostName() {
  char name[256] = {};
  ::gethostname(name, sizeof name - 1);
  return name;
}

// The port a bound ZeroMQ endpoint ("tcp://IP:PORT") ended up on.
int endpointPort(const std::string& endpoint) { return std::stoi(endpoint.substr(endpoint.rfind(':') + 1)); }

// --zk: the master runs for election; elected, it takes up the registry in
// ZooKeeper and leads. `stop(1)` ends the process when it cannot lead or may
// no longer lead: its supervisor (systemd, `clusternodes start`) starts it
// again as a standby.
Result<std::unique_ptr<master::MasterElection>> runForElection(Loop& loop, const master::MasterFlags& flags,
                                                                std::unique_ptr<master::Master>& master,
                                                                std::function<void(int)> stop) {
  LeaderInfo self{master->state().masterId, hostName(), advertisedIp(flags.ip), endpointPort(master->endpoint()),
                  master->httpPort(), CLUSTERNODES_VERSION, master->servesTls()};
  auto url = parseZkUrl(flags.zk);
  if (!url) return url.error();
  // The election, for its handlers, which it outlives none of.
  auto election = std::make_shared<master::MasterElection*>(nullptr);
  master::MasterElection::Handlers handlers;
  handlers.elected = [&master, election, stop](const std::string& node) {
    if (!master) return;
    auto& zk = (*election)->zookeeper();
    auto store = master::makeZooKeeperStore(zk, (*election)->url().path + "/registry", node);
    if (auto led = master->lead(std::move(store)); !led) {
      spdlog::error("elected, but cannot take up the registry: {}; exiting so that another master leads",
                    led.error().message);
      stop(1);
    }
  };
  handlers.leaderChanged = [&master](const std::optional<LeaderInfo>& leader) {
    if (master) master->setLeader(leader);
  };
  handlers.lost = [stop](const std::string& reason) {
    spdlog::error("exiting: {}", reason);
    stop(1);
  };
  auto made = std::make_unique<master::MasterElection>(loop, *url, flags.zkSessionTimeout, std::move(self),
                                                       std::move(handlers));
  *election = made.get();
  if (auto started = made->start(); !started) return started.error();
  master->setStandbyCheck([election] { (*election)->check(); });
  master->setLeadingCheck([election] { return (*election)->confirmLeading(); });
  return made;
}

}  // namespace

int main(int argc, char** argv) {
  // A ZeroMQ connection per agent: one heap in huge pages (see there).
  execWithMallocTunables(argv);
  master::MasterFlags flags;
  std::string logLevel = "info";
  std::string weights;
  std::string removalRateLimit;

  CLI::App app("Clusternodes master: keeps the cluster's state and offers agents' resources to frameworks.",
               "clusternodes-master");
  addConfigOption(app);
  app.add_option("--ip", flags.ip, "Address to listen on")->capture_default_str();
  app.add_option("--port", flags.port, "ZeroMQ port for agents and frameworks")->capture_default_str()->check(CLI::Range(0, 65535));
  app.add_option("--http-port", flags.httpPort, "HTTP port (/state, /metrics, web UI)")->capture_default_str()->check(CLI::Range(0, 65535));
  app.add_option("--work-dir", flags.workDir, "Directory for the registry")->capture_default_str();
  addDurationOption(app, "--allocation-interval", flags.allocationInterval,
                    "Batching window between an allocation trigger and the allocation");
  addDurationOption(app, "--offer-timeout", flags.offerTimeout, "Rescind offers unanswered this long (0: never)");
  addDurationOption(app, "--agent-ping-timeout", flags.agentPingTimeout, "Time an agent has to answer a ping");
  app.add_option("--max-agent-ping-timeouts", flags.maxAgentPingTimeouts,
                 "Missed pings before an agent is unreachable")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  addDurationOption(app, "--agent-removal-timeout", flags.agentRemovalTimeout,
                    "How long an agent may stay unreachable before it is removed for good (its partition-aware "
                    "tasks become TASK_GONE)");
  addDurationOption(app, "--agent-reregister-timeout", flags.agentReregisterTimeout,
                    "After a restart, how long the registry's agents have to re-register before they are marked "
                    "unreachable");
  app.add_option("--agent-removal-rate-limit", removalRateLimit,
                 "At most N agents marked unreachable per DURATION, as N/DURATION (e.g. 1/10s); default: no limit");
  addDurationOption(app, "--framework-heartbeat-interval", flags.frameworkHeartbeatInterval,
                    "Heartbeat interval between master and frameworks");
  app.add_option("--zk", flags.zk,
                 "Run highly available: zk://HOST:PORT[,HOST:PORT...]/PATH of a ZooKeeper ensemble, through which "
                 "masters elect a leader and keep the registry (default: one master, registry in --work-dir)");
  std::chrono::nanoseconds zkSessionTimeout = flags.zkSessionTimeout;
  addDurationOption(app, "--zk-session-timeout", zkSessionTimeout,
                    "ZooKeeper session timeout: a leader cut off from ZooKeeper stops within half of it, and a new one is "
                    "elected after it");
  app.add_option("--key", flags.keyFile,
                 "The master's CURVE key pair (NAME.key from `clusternodes keys generate`): every link is encrypted, "
                 "and peers are admitted by their keys (default: links neither encrypted nor authenticated)");
  app.add_option("--credentials", flags.credentialsFile,
                 "The agents' and frameworks' public keys, as [agents] and [frameworks] tables of principal = \"key\" "
                 "(`clusternodes keys add`)");
  app.add_flag("--authenticate-agents", flags.authenticateAgents,
               "Admit only agents whose keys are in --credentials, under [agents]");
  app.add_flag("--authenticate-frameworks", flags.authenticateFrameworks,
               "Admit only frameworks whose keys are in --credentials, under [frameworks]; a framework's principal "
               "is then its key's");
  app.add_option("--acls", flags.aclsFile,
                 "Who may do what (TOML: register_framework, run_task, teardown, reserve, update_weights, "
                 "update_quota rules; docs/security.md); with it, what no rule allows is denied (default: everything "
                 "is allowed)");
  app.add_option("--http-credentials", flags.httpCredentialsFile,
                 "HTTP bearer tokens: a TOML file of [[token]] principal and sha256 (`clusternodes tokens generate`); a "
                 "request's token names its principal for the ACLs");
  app.add_option("--http-authenticate", flags.httpAuthenticate,
                 "Which HTTP requests need a token: all (but /health and the web UI's files), writes (every method "
                 "but GET and HEAD) or none (default: writes with --http-credentials, none without)");
  app.add_option("--tls-cert", flags.tlsCertFile,
                 "Serve HTTPS: the PEM certificate chain of the HTTP port (the master's first); with --tls-key");
  app.add_option("--tls-key", flags.tlsKeyFile, "The PEM private key of --tls-cert (unencrypted; keep it 0600)");
  app.add_option("--weights", weights, "Role weights, e.g. eng=2,ops=1 (the operator API's weights override these)");
  addDurationOption(app, "--starvation-threshold", flags.starvationThreshold,
                    "Report a framework starved once it has wanted offers this long while others hold resources");
  app.add_option("--log-level", logLevel, "trace, debug, info, warn, error or off")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  bool checkConfig = false;
  app.add_flag("--check-config", checkConfig,
               "Check the flags (from the command line, the environment and --config) and exit: 0 when valid");
  std::string generateKey;
  app.add_option("--generate-key", generateKey,
                 "Write a CURVE key pair for the master to BASE.key (0600) and BASE.pub unless BASE.key exists, and "
                 "exit (the package does this at install)");
  CommandLine commandLine(app, "CLUSTERNODES_MASTER_");
  if (int code = commandLine.parse(argc, argv); code >= 0) return code;
  if (!generateKey.empty()) {
    auto made = ensureCurveKeyFiles(generateKey, "master");
    if (!made) return commandLine.refuse("--generate-key", generateKey, made.error().message);
    std::cout << generateKey << ".key: " << (*made ? "written" : "kept (it exists)") << "\n";
    return 0;
  }

  auto parsedWeights = parseWeights(weights);
  if (!parsedWeights) return commandLine.refuse("--weights", weights, parsedWeights.error().message);
  flags.weights = *parsedWeights;
  if (!removalRateLimit.empty()) {
    auto limit = parseRateLimit(removalRateLimit);
    if (!limit) return commandLine.refuse("--agent-removal-rate-limit", removalRateLimit, limit.error().message);
    flags.agentRemovalRateCount = limit->first;
    flags.agentRemovalRatePeriod = limit->second;
  }
  if (!flags.zk.empty()) {
    auto url = parseZkUrl(flags.zk);
    if (!url) return commandLine.refuse("--zk", flags.zk, url.error().message);
  }
  flags.zkSessionTimeout = std::chrono::duration_cast<std::chrono::milliseconds>(zkSessionTimeout);
  if (flags.zkSessionTimeout < std::chrono::milliseconds(1000) || flags.zkSessionTimeout > std::chrono::minutes(10)) {
    return commandLine.refuse("--zk-session-timeout", std::to_string(flags.zkSessionTimeout.count()) + "ms",
                              "must be between 1s and 10m");
  }
  if (auto security = master::loadLinkSecurity(flags); !security) {
    std::cerr << "clusternodes-master: " << security.error().message << "\n";
    return 2;
  }
  if (!flags.aclsFile.empty()) {
    if (auto acls = master::Acls::load(flags.aclsFile); !acls) return commandLine.refuse("--acls", flags.aclsFile, acls.error().message);
  }
  if (auto http = loadHttpAuthPolicy(flags.httpAuthenticate, flags.httpCredentialsFile); !http) {
    std::cerr << "clusternodes-master: " << http.error().message << "\n";
    return 2;
  }
  if (auto tls = tlsFromFlags(flags.tlsCertFile, flags.tlsKeyFile); !tls) {
    std::cerr << "clusternodes-master: " << tls.error().message << "\n";
    return 2;
  }
  if (checkConfig) {
    // Would it start? Its address and its work dir, not only the syntax.
    if (auto listen = checkCanListen(flags.ip); !listen) return commandLine.refuse("--ip", flags.ip, listen.error().message);
    if (auto dir = checkWritableDir(flags.workDir); !dir) {
      return commandLine.refuse("--work-dir", flags.workDir, dir.error().message);
    }
    std::cout << "clusternodes-master: the flags are valid\n";
    return 0;
  }
  if (auto logging = setupLogging("master", logLevel); !logging) {
    std::cerr << "clusternodes-master: --log-level: " << logging.error().message << "\n";
    return 2;
  }

  // A connection per agent and framework.
  raiseOpenFileLimit();
  Loop loop;
  zmq::context_t context(1);
  auto master = std::make_unique<master::Master>(loop, context, flags);
  if (auto started = master->start(); !started) {
    std::cerr << "clusternodes-master: " << started.error().message << "\n";
    return 1;
  }
  int exitCode = 0;
  auto shutdown = [&] {
    spdlog::info("shutting down");
    master.reset();
    loop.stop();
  };
  std::unique_ptr<master::MasterElection> election;
  if (!flags.zk.empty()) {
    auto started = runForElection(loop, flags, master, [&](int code) {
      exitCode = code;
      shutdown();
    });
    if (!started) {
      std::cerr << "clusternodes-master: --zk: " << started.error().message << "\n";
      return 1;
    }
    election = std::move(*started);
  }
  SignalWatcher sigterm(loop, SIGTERM, shutdown);
  SignalWatcher sigint(loop, SIGINT, shutdown);
  loop.run();
  // The session closes now: this master's election znode goes at once, so
  // that a standby takes over without waiting for the session timeout.
  election.reset();
  return exitCode;
}
