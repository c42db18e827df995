// `clusternodes start`: a master (or several, elected through a ZooKeeper
// server of their own) and N agents on this machine, as daemons.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/agent_shares.hpp"
#include "cli/commands.hpp"
#include "cli/host_probe.hpp"
#include "cli/local_cluster.hpp"
#include "cli/local_config.hpp"
#include "cli/local_masters.hpp"
#include "cli/processes.hpp"
#include "clusternodes/resources.hpp"
#include "common/http_client.hpp"
#include "common/zookeeper_server.hpp"

namespace clusternodes::cli {
namespace {

namespace fs = std::filesystem;

// Whether agents started here can isolate with cgroups: running as root on a
// host that mounts the cpu and memory controllers at the usual place (v1
// hierarchies, or cgroup2 offering both). The agent checks for itself and
// says why when it cannot.
bool cgroupsUsable() {
  if (::geteuid() != 0) return false;
  if (::access("/sys/fs/cgroup/memory/cgroup.procs", W_OK) == 0 &&
      ::access("/sys/fs/cgroup/cpu/cgroup.procs", W_OK) == 0) {
    return true;
  }
  std::ifstream in("/sys/fs/cgroup/cgroup.controllers");
  std::string controllers((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return controllers.find("memory") != std::string::npos && controllers.find("cpu") != std::string::npos;
}

constexpr auto kRegistrationTimeout = std::chrono::seconds(30);
constexpr auto kPollInterval = std::chrono::milliseconds(200);
constexpr size_t kLogLines = 20;
constexpr size_t kMaxAgentLogsShown = 3;

// One daemon this command started.
struct Daemon {
  std::string name;  // "the master", "agent 2", "ZooKeeper", "the supervisor of master 2"
  int pid = 0;
  std::string log;
  bool exited = false;
};

// What a start works from, once its options and files are checked.
struct StartPlan {
  StartPlan(const StartOptions& startOptions, std::string workDir) : options(startOptions), dir(std::move(workDir)) {}

  const StartOptions& options;
  std::string dir;
  std::string binDir;
  std::string masterConfig;  // WORK_DIR/master.toml
  std::string agentConfig;   // WORK_DIR/agent.toml
  std::vector<std::string> resources;  // each agent's --resources
  std::vector<MasterPorts> masterPorts;
  LocalKeys keys;  // WORK_DIR/keys: every link of the local cluster is authenticated
};

// What a start has started so far, and its record.
struct Launch {
  ClusterRecord record;
  std::vector<Daemon> daemons;
  std::vector<std::string> masterLogs;
};

void printLogTail(const std::string& path, size_t lines) {
  auto tail = tailLines(path, lines);
  std::cerr << "--- last lines of " << path << " ---\n";
  if (tail.empty()) std::cerr << "(empty)\n";
  for (const auto& line : tail) std::cerr << line << "\n";
}

// How many agents /state lists as reachable; fails while the master does not
// answer.
Result<int> reachableAgents(const std::string& httpUrl) {
  auto response = httpGet(httpUrl + "/state", 1.0);
  if (!response) return response.error();
  if (response->status != 200) {
    return Error{ErrorCode::kUnavailable, "/state answered HTTP " + std::to_string(response->status)};
  }
  auto state = nlohmann::json::parse(response->body, nullptr, false);
  if (!state.is_object() || !state.contains("agents") || !state["agents"].is_array()) {
    return Error{ErrorCode::kUnavailable, "/state is not the master's state"};
  }
  int count = 0;
  for (const auto& agent : state["agents"]) {
    if (agent.is_object() && agent.value("reachable", false)) ++count;
  }
  return count;
}

// How many agents the leading master lists as reachable.
Result<int> reachableAgents(const ClusterRecord& record) {
  auto leader = leadingMasterHttp(record);
  if (!leader) return leader.error();
  return reachableAgents(*leader);
}

// The --resources value of each agent.
Result<std::vector<std::string>> agentResources(const StartOptions& options, const std::string& workDir) {
  if (!options.resources.empty()) {
    return std::vector<std::string>(static_cast<size_t>(options.agents), options.resources);
  }
  auto host = probeHost(workDir);
  if (!host) return host.error();
  auto shares = computeAgentShares(*host, options.agents);
  if (!shares) return shares.error();
  std::vector<std::string> out;
  for (const auto& share : *shares) out.push_back(share.toResourcesFlag());
  return out;
}

// Stops what was started, forgets the record, and reports why.
int abandon(const ClusterRecord& record, const std::string& workDir, const std::string& reason) {
  stopLocalCluster(record, workDir);
  std::error_code ec;
  fs::remove(clusterRecordPath(workDir), ec);
  std::cerr << "clusternodes: " << reason << "\n";
  return 1;
}

// Refuses option values that cannot work: 2 after a one-line reason, else 0.
int checkOptions(const StartOptions& options) {
  std::string reason;
  if (auto masters = checkMasterCount(options.masters); !masters) reason = masters.error().message;
  if (!options.resources.empty()) {
    if (auto parsed = Resources::parse(options.resources); !parsed) reason = "--resources: " + parsed.error().message;
  }
  if (options.port != 0 && options.port == options.httpPort) {
    reason = "--port and --http-port are both " + std::to_string(options.port);
  }
  if (reason.empty()) return 0;
  std::cerr << "clusternodes: " << reason << "\n";
  return 2;
}

// What a framework needs to reach the cluster: its address and web UI, and
// the keys a framework presents (the local cluster's operator key).
void printCluster(const ClusterRecord& record, const std::string& dir) {
  std::cout << "master: " << record.master << "\n" << "web: " << record.webUrl() << "\n";
  if (auto keys = localKeys(dir); keys.operatorReady()) {
    std::cout << "key: " << keys.operatorKey << "\n" << "master-key: " << keys.masterPublic << "\n";
  }
}

// True (after printing its addresses) when the cluster recorded in `dir`
// still runs; cleans up after one that does not.
bool alreadyRunning(const std::string& dir) {
  std::string recordPath = clusterRecordPath(dir);
  auto existing = loadClusterRecord(recordPath);
  if (existing) {
    if (clusterIsRunning(*existing, dir)) {
      std::cerr << "clusternodes: a local cluster is already running in " << dir << "\n";
      printCluster(*existing, dir);
      return true;
    }
    std::cerr << "clusternodes: cleaning up the cluster recorded in " << recordPath << ", which no longer runs\n";
    stopLocalCluster(*existing, dir);
  } else if (existing.error().code != ErrorCode::kNotFound) {
    std::cerr << "clusternodes: ignoring " << existing.error().message << "\n";
  }
  return false;
}

// The directory of the daemons' programs, which must all be there (and,
// for several masters, ZooKeeper).
Result<std::string> findPrograms(int masters) {
  auto binDir = selfDirectory();
  if (!binDir) return binDir.error();
  for (const char* program : {"clusternodes-master", "clusternodes-agent", "clusternodes-executor"}) {
    if (::access((*binDir + "/" + program).c_str(), X_OK) != 0) {
      return notFound(std::string("no ") + program + " beside this program in " + *binDir);
    }
  }
  if (masters > 1 && zooKeeperJar().empty()) {
    return notFound("--masters=" + std::to_string(masters) +
                    " needs ZooKeeper, which is not installed (Debian's zookeeper package; scripts/setup.sh "
                    "installs it)");
  }
  return binDir;
}

// Checks WORK_DIR/master.toml and agent.toml (`clusternodes configure`),
// writing them first when missing; 2 after saying what to fix, else 0.
int checkConfigs(StartPlan& plan) {
  auto master = masterConfig(plan.dir);
  auto agent = agentConfig(plan.dir);
  for (const auto& config : {master, agent}) {
    auto checked = ensureConfigFile(config);
    if (checked) checked = checkConfigFile(plan.binDir, config, config.path);
    if (!checked) {
      std::cerr << "clusternodes: " << checked.error().message << "\n";
      std::cerr << "clusternodes: fix " << config.path << " (clusternodes configure " << config.daemon
                << ".KEY=VALUE, or KEY= for its default)\n";
      return 2;
    }
  }
  plan.masterConfig = master.path;
  plan.agentConfig = agent.path;
  return 0;
}

// Checks and gathers everything a start needs before it starts anything:
// 0 with `plan` filled in, else the exit code after saying why.
int makePlan(StartPlan& plan) {
  auto binDir = findPrograms(plan.options.masters);
  if (!binDir) {
    std::cerr << "clusternodes: " << binDir.error().message << "\n";
    return 1;
  }
  plan.binDir = *binDir;
  auto resources = agentResources(plan.options, plan.dir);
  if (!resources) {
    std::cerr << "clusternodes: " << resources.error().message << "\n";
    return 1;
  }
  plan.resources = *resources;
  auto ports = chooseMasterPorts(plan.options.masters, plan.options.port, plan.options.httpPort);
  if (!ports) {
    std::cerr << "clusternodes: " << ports.error().message << "\n";
    return 1;
  }
  plan.masterPorts = *ports;
  if (int code = checkConfigs(plan); code != 0) return code;
  auto keys = ensureLocalKeys(plan.dir);
  if (!keys) {
    std::cerr << "clusternodes: " << keys.error().message << "\n";
    return 1;
  }
  plan.keys = *keys;
  std::error_code ec;
  fs::create_directories(plan.dir + "/logs", ec);
  if (ec) {
    std::cerr << "clusternodes: cannot create " << plan.dir << "/logs: " << ec.message() << "\n";
    return 1;
  }
  return 0;
}

std::string localAddress(int port) { return std::string("127.0.0.1:") + std::to_string(port); }
std::string localHttp(int port) { return "http://" + localAddress(port); }

// One master, run directly, without ZooKeeper.
Result<void> startMaster(const StartPlan& plan, Launch& launch) {
  const auto& ports = plan.masterPorts.front();
  Daemon master{"the master", 0, plan.dir + "/logs/master.log"};
  auto pid = spawnDaemon(masterArgv(plan.binDir, plan.masterConfig, ports, plan.dir + "/master", "", plan.keys),
                         master.log);
  if (!pid) return pid.error();
  master.pid = launch.record.masterPid = *pid;
  launch.record.master = localAddress(ports.port);
  launch.record.http = localHttp(ports.httpPort);
  launch.daemons.push_back(master);
  launch.masterLogs.push_back(master.log);
  return {};
}

// A ZooKeeper server, then each master under a supervisor, recorded as
// they start.
Result<void> startElectedMasters(const StartPlan& plan, Launch& launch) {
  std::cerr << "starting ZooKeeper ...\n";
  auto zk = startLocalZooKeeper(plan.dir);
  if (!zk) return zk.error();
  launch.record.zooKeeperPid = zk->pid;
  launch.record.master = zk->url;
  launch.record.http = localHttp(plan.masterPorts.front().httpPort);
  launch.daemons.push_back({"ZooKeeper", zk->pid, zk->log});
  for (size_t i = 0; i < plan.masterPorts.size(); ++i) {
    const auto& ports = plan.masterPorts[i];
    std::string name = "master-" + std::to_string(i + 1);
    std::string log = plan.dir + "/logs/" + name + ".log";
    auto master = masterArgv(plan.binDir, plan.masterConfig, ports, plan.dir + "/" + name, zk->url, plan.keys);
    auto pid = spawnDaemon(superviseArgv(plan.binDir + "/clusternodes", name, log, plan.dir, master), log);
    if (!pid) return pid.error();
    launch.record.masters.push_back({localAddress(ports.port), localHttp(ports.httpPort), *pid});
    launch.daemons.push_back({"the supervisor of " + name, *pid, log});
    launch.masterLogs.push_back(log);
  }
  return {};
}

Result<void> startAgents(const StartPlan& plan, Launch& launch) {
  std::string isolation = plan.options.isolation;
  if (isolation == "auto") isolation = cgroupsUsable() ? "cgroups" : "none";
  for (int i = 1; i <= plan.options.agents; ++i) {
    std::string index = std::to_string(i);
    Daemon agent{"agent " + index, 0, plan.dir + "/logs/agent-" + index + ".log"};
    std::vector<std::string> argv = {plan.binDir + "/clusternodes-agent", "--config=" + plan.agentConfig,
                                     "--master=" + launch.record.master, "--port=0", "--http-port=0",
                                     "--work-dir=" + plan.dir + "/agent-" + index,
                                     "--resources=" + plan.resources[static_cast<size_t>(i - 1)],
                                     "--isolation=" + isolation};
    for (auto& flag : plan.keys.agentFlags()) argv.push_back(std::move(flag));
    auto pid = spawnDaemon(argv, agent.log);
    if (!pid) return pid.error();
    agent.pid = *pid;
    launch.record.agentPids.push_back(*pid);
    launch.daemons.push_back(agent);
  }
  return {};
}

// How many of the elected masters answer /health as the leader or as a
// standby that knows the leader: a standby still running for election (its
// ZooKeeper writes can take seconds on a busy disk) is not counted.
int settledMasters(const ClusterRecord& record) {
  int settled = 0;
  for (const auto& m : record.masters) {
    auto health = httpGet(m.http + "/health", 1.0);
    if (!health || health->status != 200) continue;
    if (health->body == "ok\n" || (health->body.rfind("standing by; the leader is http", 0) == 0)) ++settled;
  }
  return settled;
}

// The reason to give up when the cluster is not up by the deadline.
std::string timedOut(const StartPlan& plan, const Launch& launch, const Result<int>& registered) {
  std::string seconds = std::to_string(kRegistrationTimeout.count());
  if (!registered) {
    for (const auto& log : launch.masterLogs) printLogTail(log, kLogLines);
    std::string who = launch.record.highlyAvailable() ? "no master led" : "the master did not answer at " +
                                                                            launch.record.http;
    return who + " within " + seconds + " s (" + registered.error().message + ")";
  }
  size_t shown = 0;
  for (const auto& daemon : launch.daemons) {
    if (daemon.name.rfind("agent ", 0) == 0 && shown++ < kMaxAgentLogsShown) printLogTail(daemon.log, kLogLines);
  }
  return "only " + std::to_string(*registered) + " of " + std::to_string(plan.options.agents) +
         " agents registered within " + seconds + " s";
}

// The first daemon of the launch that has exited, as a reason to give up;
// "" while all run.
std::string exitedDaemon(Launch& launch) {
  for (auto& daemon : launch.daemons) {
    int status = 0;
    if (daemon.exited || ::waitpid(daemon.pid, &status, WNOHANG) != daemon.pid) continue;
    daemon.exited = true;
    printLogTail(daemon.log, kLogLines);
    return daemon.name + " " + describeExit(status) + " before the cluster was up (see " + daemon.log + ")";
  }
  return "";
}

// Waits until every agent is registered with the (leading) master: 0, or
// 1 after stopping everything and saying why.
int awaitCluster(const StartPlan& plan, Launch& launch) {
  auto deadline = std::chrono::steady_clock::now() + kRegistrationTimeout;
  int shownRegistered = 0;  // progress: printed when it changes
  while (true) {
    if (auto exited = exitedDaemon(launch); !exited.empty()) return abandon(launch.record, plan.dir, exited);
    if (InterruptGuard::interrupted()) return abandon(launch.record, plan.dir, "interrupted; stopped what was started");
    auto registered = reachableAgents(launch.record);
    if (registered && *registered != shownRegistered) {
      std::cerr << "agents registered: " << *registered << "/" << plan.options.agents << "\n";
      shownRegistered = *registered;
    }
    bool late = std::chrono::steady_clock::now() >= deadline;
    if (registered && *registered >= plan.options.agents) {
      // Elected masters: the others stand by too, knowing the leader.
      if (!launch.record.highlyAvailable()) return 0;
      int masters = settledMasters(launch.record);
      if (masters == plan.options.masters) return 0;
      if (late) {
        for (const auto& log : launch.masterLogs) printLogTail(log, kLogLines);
        return abandon(launch.record, plan.dir,
                       "only " + std::to_string(masters) + " of " + std::to_string(plan.options.masters) +
                           " masters led or stood by within " + std::to_string(kRegistrationTimeout.count()) + " s");
      }
    } else if (late) {
      return abandon(launch.record, plan.dir, timedOut(plan, launch, registered));
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

// Starts the masters and agents, records them, and waits for the agents.
int launchCluster(const StartPlan& plan) {
  InterruptGuard interruptGuard;
  Launch launch;
  launch.record.workDir = plan.dir;
  bool elected = plan.options.masters > 1;
  auto masters = elected ? startElectedMasters(plan, launch) : startMaster(plan, launch);
  if (!masters && launch.daemons.empty()) {
    std::cerr << "clusternodes: " << masters.error().message << "\n";
    return 1;
  }
  if (!masters) return abandon(launch.record, plan.dir, masters.error().message);
  if (auto agents = startAgents(plan, launch); !agents) return abandon(launch.record, plan.dir, agents.error().message);
  // Recorded before the wait, so that `stop` finds an interrupted start.
  std::string recordPath = clusterRecordPath(plan.dir);
  if (auto saved = saveClusterRecord(recordPath, launch.record); !saved) {
    return abandon(launch.record, plan.dir, saved.error().message);
  }
  if (int code = awaitCluster(plan, launch); code != 0) return code;
  if (elected) {
    // The UI to show is the leader's; a standby's names it too.
    if (auto leader = leadingMasterHttp(launch.record)) launch.record.http = *leader;
    if (auto saved = saveClusterRecord(recordPath, launch.record); !saved) {
      return abandon(launch.record, plan.dir, saved.error().message);
    }
    std::cerr << plan.options.masters << " masters elected through ZooKeeper; " << launch.record.http
              << " leads, the others stand by (each restarted when it exits; logs in " << plan.dir << "/logs)\n";
  }
  printCluster(launch.record, plan.dir);
  return 0;
}

}  // namespace

int runStart(const StartOptions& options) {
  if (int code = checkOptions(options); code != 0) return code;
  auto workDir = localWorkDir(options.workDir, /*create=*/true);
  if (!workDir) {
    std::cerr << "clusternodes: " << workDir.error().message << "\n";
    return workDir.error().code == ErrorCode::kInvalid ? 2 : 1;
  }
  auto lock = WorkDirLock::acquire(*workDir);
  if (!lock) {
    std::cerr << "clusternodes: " << lock.error().message << "\n";
    return 1;
  }
  if (alreadyRunning(*workDir)) return 0;
  StartPlan plan{options, *workDir};
  if (int code = makePlan(plan); code != 0) return code;
  std::cerr << "starting " << (options.masters == 1 ? "a master" : std::to_string(options.masters) + " masters")
            << " and " << options.agents << (options.agents == 1 ? " agent" : " agents") << " in " << plan.dir
            << " ...\n";
  return launchCluster(plan);
}

}  // namespace clusternodes::cli
