// `clusternodes start`: a master and N agents on this machine, as daemons.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <csignal>
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
#include "cli/processes.hpp"
#include "clusternodes/resources.hpp"
#include "common/http_client.hpp"

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
constexpr const char* kLocalIp = "127.0.0.1";

volatile std::sig_atomic_t gInterrupted = 0;

// Catches SIGINT, SIGTERM and SIGHUP while installed, so that an interrupted
// start stops what it started; restores the previous handlers on destruction.
class InterruptGuard {
 public:
  InterruptGuard() {
    struct sigaction action {};
    action.sa_handler = [](int) { gInterrupted = 1; };
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &action, &previous_[i]);
  }
  ~InterruptGuard() {
    for (size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &previous_[i], nullptr);
  }
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

 private:
  static constexpr std::array<int, 3> kSignals = {SIGINT, SIGTERM, SIGHUP};
  std::array<struct sigaction, 3> previous_{};
};

// One daemon this command started.
struct Daemon {
  std::string name;  // "the master", "agent 2"
  int pid = 0;
  std::string log;
  bool exited = false;
};

std::string describeExit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status));
  return "ended";
}

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

}  // namespace

int runStart(const StartOptions& options) {
  if (!options.resources.empty()) {
    if (auto parsed = Resources::parse(options.resources); !parsed) {
      std::cerr << "clusternodes: --resources: " << parsed.error().message << "\n";
      return 2;
    }
  }
  if (options.port != 0 && options.port == options.httpPort) {
    std::cerr << "clusternodes: --port and --http-port are both " << options.port << "\n";
    return 2;
  }
  auto workDir = localWorkDir(options.workDir, /*create=*/true);
  if (!workDir) {
    std::cerr << "clusternodes: " << workDir.error().message << "\n";
    return workDir.error().code == ErrorCode::kInvalid ? 2 : 1;
  }
  const std::string& dir = *workDir;
  auto lock = WorkDirLock::acquire(dir);
  if (!lock) {
    std::cerr << "clusternodes: " << lock.error().message << "\n";
    return 1;
  }

  std::string recordPath = clusterRecordPath(dir);
  auto existing = loadClusterRecord(recordPath);
  if (existing) {
    if (clusterIsRunning(*existing, dir)) {
      std::cerr << "clusternodes: a local cluster is already running in " << dir << "\n";
      std::cout << "master: " << existing->master << "\n" << "web: " << existing->webUrl() << "\n";
      return 0;
    }
    std::cerr << "clusternodes: cleaning up the cluster recorded in " << recordPath << ", which no longer runs\n";
    stopLocalCluster(*existing, dir);
  } else if (existing.error().code != ErrorCode::kNotFound) {
    std::cerr << "clusternodes: ignoring " << existing.error().message << "\n";
  }

  auto binDir = selfDirectory();
  if (!binDir) {
    std::cerr << "clusternodes: " << binDir.error().message << "\n";
    return 1;
  }
  for (const char* program : {"clusternodes-master", "clusternodes-agent", "clusternodes-executor"}) {
    if (::access((*binDir + "/" + program).c_str(), X_OK) != 0) {
      std::cerr << "clusternodes: no " << program << " beside this program in " << *binDir << "\n";
      return 1;
    }
  }

  auto resources = agentResources(options, dir);
  if (!resources) {
    std::cerr << "clusternodes: " << resources.error().message << "\n";
    return 1;
  }
  int port = options.port;
  int httpPort = options.httpPort;
  if (port == 0 || httpPort == 0) {
    auto free = pickFreePorts(3);
    if (!free) {
      std::cerr << "clusternodes: " << free.error().message << "\n";
      return 1;
    }
    // Three candidates: two are enough even when one equals the fixed port.
    size_t next = 0;
    auto pick = [&](int other) {
      while ((*free)[next] == other) ++next;
      return (*free)[next++];
    };
    if (port == 0) port = pick(httpPort);
    if (httpPort == 0) httpPort = pick(port);
  }

  // The daemons' flags from WORK_DIR/master.toml and agent.toml
  // (`clusternodes configure`), checked before anything starts.
  auto master = masterConfig(dir);
  auto agentFile = agentConfig(dir);
  for (const auto& config : {master, agentFile}) {
    auto checked = ensureConfigFile(config);
    if (checked) checked = checkConfigFile(*binDir, config, config.path);
    if (!checked) {
      std::cerr << "clusternodes: " << checked.error().message << "\n";
      std::cerr << "clusternodes: fix " << config.path << " (clusternodes configure " << config.daemon
                << ".KEY=VALUE, or KEY= for its default)\n";
      return 2;
    }
  }

  std::error_code ec;
  fs::create_directories(dir + "/logs", ec);
  if (ec) {
    std::cerr << "clusternodes: cannot create " << dir << "/logs: " << ec.message() << "\n";
    return 1;
  }
  std::cerr << "starting a master and " << options.agents << (options.agents == 1 ? " agent" : " agents") << " in "
            << dir << " ...\n";

  ClusterRecord record;
  record.master = std::string(kLocalIp) + ":" + std::to_string(port);
  record.http = "http://" + std::string(kLocalIp) + ":" + std::to_string(httpPort);
  record.workDir = dir;

  InterruptGuard interruptGuard;
  std::vector<Daemon> daemons;
  Daemon masterDaemon{"the master", 0, dir + "/logs/master.log"};
  auto masterPid = spawnDaemon({*binDir + "/clusternodes-master", "--config=" + master.path,
                                std::string("--ip=") + kLocalIp, "--port=" + std::to_string(port),
                                "--http-port=" + std::to_string(httpPort), "--work-dir=" + dir + "/master"},
                               masterDaemon.log);
  if (!masterPid) {
    std::cerr << "clusternodes: " << masterPid.error().message << "\n";
    return 1;
  }
  masterDaemon.pid = record.masterPid = *masterPid;
  daemons.push_back(masterDaemon);

  std::string isolation = options.isolation;
  if (isolation == "auto") isolation = cgroupsUsable() ? "cgroups" : "none";
  for (int i = 1; i <= options.agents; ++i) {
    std::string index = std::to_string(i);
    Daemon agent{"agent " + index, 0, dir + "/logs/agent-" + index + ".log"};
    auto pid = spawnDaemon({*binDir + "/clusternodes-agent", "--config=" + agentFile.path,
                            "--master=" + record.master, "--port=0", "--http-port=0",
                            "--work-dir=" + dir + "/agent-" + index,
                            "--resources=" + (*resources)[static_cast<size_t>(i - 1)],
                            "--isolation=" + isolation},
                           agent.log);
    if (!pid) return abandon(record, dir, pid.error().message);
    agent.pid = *pid;
    record.agentPids.push_back(*pid);
    daemons.push_back(agent);
  }
  // Recorded before the wait, so that `stop` finds an interrupted start.
  if (auto saved = saveClusterRecord(recordPath, record); !saved) return abandon(record, dir, saved.error().message);

  auto deadline = std::chrono::steady_clock::now() + kRegistrationTimeout;
  Result<int> registered = Error{ErrorCode::kUnavailable, "no answer yet"};
  int shownRegistered = 0;  // progress: printed when it changes
  while (true) {
    for (auto& daemon : daemons) {
      int status = 0;
      if (daemon.exited || ::waitpid(daemon.pid, &status, WNOHANG) != daemon.pid) continue;
      daemon.exited = true;
      printLogTail(daemon.log, kLogLines);
      return abandon(record, dir, daemon.name + " " + describeExit(status) + " before the cluster was up (see " +
                                      daemon.log + ")");
    }
    if (gInterrupted != 0) return abandon(record, dir, "interrupted; stopped what was started");
    registered = reachableAgents(record.http);
    if (registered && *registered != shownRegistered) {
      std::cerr << "agents registered: " << *registered << "/" << options.agents << "\n";
      shownRegistered = *registered;
    }
    if (registered && *registered >= options.agents) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      std::string seconds = std::to_string(kRegistrationTimeout.count());
      if (!registered) {
        printLogTail(masterDaemon.log, kLogLines);
        return abandon(record, dir, "the master did not answer at " + record.http + " within " + seconds + " s (" +
                                        registered.error().message + ")");
      }
      for (size_t i = 1; i < daemons.size() && i <= kMaxAgentLogsShown; ++i) printLogTail(daemons[i].log, kLogLines);
      return abandon(record, dir, "only " + std::to_string(*registered) + " of " + std::to_string(options.agents) +
                                      " agents registered within " + seconds + " s");
    }
    std::this_thread::sleep_for(kPollInterval);
  }

  std::cout << "master: " << record.master << "\n" << "web: " << record.webUrl() << "\n";
  return 0;
}

}  // namespace clusternodes::cli
