// The `clusternodes` CLI against real processes: start a local cluster in a
// temporary work dir, run tasks on it, inspect it, stop it. Never uses the
// default ports (--port=0 --http-port=0), so it can run beside other tests.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/http_client.hpp"
#include "common/zookeeper_server.hpp"
#include "tests/harness/cluster.hpp"
#include "tests/harness/text.hpp"

extern char** environ;

using namespace clusternodes;
using clusternodes::testing::lines;
using clusternodes::testing::readFile;

namespace {

namespace fs = std::filesystem;

const std::string kBinDir = CN_BIN_DIR;

struct CommandResult {
  int exitCode = -1;
  std::string output;  // stdout only
};

std::string shellQuote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// Runs a shell command, collecting its stdout; its stderr is appended to
// `stderrLog`.
CommandResult run(const std::string& command, const std::string& stderrLog) {
  CommandResult result;
  std::string full = command + " 2>>" + shellQuote(stderrLog);
  FILE* pipe = ::popen(full.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  int status = ::pclose(pipe);
  result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// True while `pid` exists and has not ended (a zombie has ended).
bool processAlive(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content;
  if (!std::getline(stat, content)) return false;
  auto close = content.rfind(')');
  if (close == std::string::npos || close + 2 >= content.size()) return false;
  char state = content[close + 2];
  return state != 'Z' && state != 'X';
}

// Live processes whose working directory lies in `dir`.
std::vector<int> processesUnder(const std::string& dir) {
  std::vector<int> out;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::error_code ec;
    auto cwd = fs::read_symlink(entry.path() / "cwd", ec).string();
    if (ec) continue;
    if ((cwd == dir || cwd.rfind(dir + "/", 0) == 0) && processAlive(std::stoi(name))) out.push_back(std::stoi(name));
  }
  return out;
}

// A fresh work dir for one test. On destruction, stops whatever cluster it
// holds (even after a failed assertion) and removes it.
class LocalClusterGuard {
 public:
  LocalClusterGuard() {
    char pattern[] = "/tmp/cn-cli-it-XXXXXX";
    char* made = ::mkdtemp(pattern);
    REQUIRE(made != nullptr);
    dir_ = fs::canonical(made).string();
    stderrLog_ = dir_ + "/cli-stderr.log";
  }
  ~LocalClusterGuard() {
    run(cli() + " stop --work-dir=" + shellQuote(dir_), stderrLog_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  LocalClusterGuard(const LocalClusterGuard&) = delete;
  LocalClusterGuard& operator=(const LocalClusterGuard&) = delete;

  const std::string& dir() const { return dir_; }
  std::string cli() const { return shellQuote(kBinDir + "/clusternodes"); }
  CommandResult clusternodes(const std::string& arguments) const { return run(cli() + " " + arguments, stderrLog_); }
  CommandResult shell(const std::string& command) const { return run(command, stderrLog_); }
  std::string stderrText() const { return readFile(stderrLog_); }
  std::string workDirFlag() const { return "--work-dir=" + shellQuote(dir_); }
  // What a framework presents to the local cluster, which authenticates
  // every link: the operator's key and the master's public key.
  std::vector<std::string> keyArgs() const {
    return {"--key=" + dir_ + "/keys/operator.key", "--master-key=" + dir_ + "/keys/master.pub"};
  }
  std::string keyFlags() const {
    return " --key=" + shellQuote(dir_ + "/keys/operator.key") + " --master-key=" + shellQuote(dir_ + "/keys/master.pub");
  }

 private:
  std::string dir_;
  std::string stderrLog_;
};

}  // namespace

TEST_CASE("cli: clusternodes start, status, launch-tasks and stop drive a local cluster") {
  LocalClusterGuard cluster;
  const std::string workDir = cluster.workDirFlag();

  auto started = cluster.clusternodes("start --agents=2 " + workDir + " --port=0 --http-port=0");
  INFO("stderr of the CLI:\n", cluster.stderrText());
  REQUIRE(started.exitCode == 0);
  auto startLines = lines(started.output);
  REQUIRE(startLines.size() == 4);
  REQUIRE(startLines[0].rfind("master: 127.0.0.1:", 0) == 0);
  REQUIRE(startLines[1].rfind("web: http://127.0.0.1:", 0) == 0);
  REQUIRE(startLines[1].back() == '/');
  CHECK(startLines[2] == "key: " + cluster.dir() + "/keys/operator.key");
  CHECK(startLines[3] == "master-key: " + cluster.dir() + "/keys/master.pub");
  const std::string master = startLines[0].substr(std::string("master: ").size());
  const std::string web = startLines[1].substr(std::string("web: ").size());
  CHECK(master != "127.0.0.1:5050");
  CHECK(web != "http://127.0.0.1:8081/");

  auto record = nlohmann::json::parse(readFile(cluster.dir() + "/cluster.json"));
  CHECK(record["master"] == master);
  CHECK(record["http"].get<std::string>() + "/" == web);
  CHECK(record["work_dir"] == cluster.dir());
  const int masterPid = record["pids"]["master"].get<int>();
  CHECK(processAlive(masterPid));
  REQUIRE(record["pids"]["agents"].size() == 2);

  // Two reachable agents that together advertise no more cpus than the host
  // (each gets at least one, so a one-cpu host allows two).
  auto state = httpGet(web + "state");
  REQUIRE(state);
  REQUIRE(state->status == 200);
  auto stateJson = nlohmann::json::parse(state->body);
  REQUIRE(stateJson["agents"].size() == 2);
  double cpus = 0;
  std::vector<std::string> agentIds;
  for (const auto& agent : stateJson["agents"]) {
    CHECK(agent["reachable"] == true);
    cpus += agent["resources"]["cpus"].get<double>();
    agentIds.push_back(agent["id"].get<std::string>());
  }
  long processors = sysconf(_SC_NPROCESSORS_ONLN);
  CHECK(cpus <= std::max<double>(static_cast<double>(processors), 2.0) + 1e-9);

  // A second start changes nothing and prints the same addresses.
  auto again = cluster.clusternodes("start --agents=2 " + workDir + " --port=0 --http-port=0");
  CHECK(again.exitCode == 0);
  CHECK(again.output == started.output);
  CHECK(cluster.stderrText().find("already running") != std::string::npos);
  CHECK(nlohmann::json::parse(readFile(cluster.dir() + "/cluster.json")) == record);

  auto launched = cluster.shell(shellQuote(kBinDir + "/launch-tasks") + " --master=" + master + cluster.keyFlags() +
                                " --tasks=20 --cpus=0.1 --mem=16 --command='true' --timeout=60");
  CHECK(launched.exitCode == 0);
  CHECK(launched.output.find("finished 20/20") != std::string::npos);

  // Secure by default: a framework without the cluster's keys is refused,
  // saying what it lacks, and runs nothing.
  auto plain = cluster.shell(shellQuote(kBinDir + "/launch-tasks") + " --master=" + master +
                             " --tasks=1 --cpus=0.1 --mem=16 --command='true' --timeout=5 2>&1");
  CHECK(plain.exitCode != 0);
  CHECK(plain.output.find("requires CURVE") != std::string::npos);

  auto status = cluster.clusternodes("status " + workDir);
  CHECK(status.exitCode == 0);
  CHECK(status.output.find("AGENTS") != std::string::npos);
  for (const auto& id : agentIds) CHECK(status.output.find(id) != std::string::npos);
  CHECK(status.output.find("reachable") != std::string::npos);

  auto byMaster = cluster.clusternodes("status --master=" + master + cluster.keyFlags());
  CHECK(byMaster.exitCode == 0);
  for (const auto& id : agentIds) CHECK(byMaster.output.find(id) != std::string::npos);

  auto json = cluster.clusternodes("status --json " + workDir);
  CHECK(json.exitCode == 0);
  auto parsed = nlohmann::json::parse(json.output, nullptr, false);
  REQUIRE(!parsed.is_discarded());
  CHECK(parsed["agents"].size() == 2);

  auto stopped = cluster.clusternodes("stop " + workDir);
  CHECK(stopped.exitCode == 0);
  CHECK(stopped.output == "stopped\n");
  CHECK(processesUnder(cluster.dir()).empty());
  CHECK(!processAlive(masterPid));
  for (const auto& pid : record["pids"]["agents"]) CHECK(!processAlive(pid.get<int>()));
  CHECK(!fs::exists(cluster.dir() + "/cluster.json"));

  auto stoppedAgain = cluster.clusternodes("stop " + workDir);
  CHECK(stoppedAgain.exitCode == 0);
  CHECK(stoppedAgain.output == "no local cluster is running\n");
}

TEST_CASE("cli: clusternodes stop kills the tasks a local cluster still runs") {
  LocalClusterGuard cluster;
  const std::string workDir = cluster.workDirFlag();
  auto started = cluster.clusternodes("start --agents=1 " + workDir + " --port=0 --http-port=0");
  INFO("stderr of the CLI:\n", cluster.stderrText());
  REQUIRE(started.exitCode == 0);
  const std::string master = lines(started.output).at(0).substr(std::string("master: ").size());

  // Long tasks whose framework vanishes without tearing down: they keep
  // running, as they would for a framework about to fail over.
  std::string launcher = kBinDir + "/launch-tasks";
  std::vector<std::string> args = {launcher, "--master=" + master, "--tasks=3", "--cpus=0.1", "--mem=16",
                                   "--command=sleep 300", "--timeout=120"};
  for (const auto& flag : cluster.keyArgs()) args.push_back(flag);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t framework = 0;
  int spawned = posix_spawn(&framework, launcher.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE(spawned == 0);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  size_t sleeping = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    sleeping = 0;
    for (int pid : processesUnder(cluster.dir())) {
      if (readFile("/proc/" + std::to_string(pid) + "/cmdline").find("sleep") != std::string::npos) ++sleeping;
    }
    if (sleeping >= 3) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ::kill(framework, SIGKILL);
  ::waitpid(framework, nullptr, 0);
  REQUIRE(sleeping >= 3);

  auto stopped = cluster.clusternodes("stop " + workDir);
  CHECK(stopped.exitCode == 0);
  CHECK(stopped.output == "stopped\n");
  CHECK(processesUnder(cluster.dir()).empty());
}

TEST_CASE("cli: clusternodes start reports a master that cannot start and leaves nothing behind") {
  LocalClusterGuard cluster;
  // Hold a port so that the master cannot bind it.
  int busy = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(busy >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  REQUIRE(::bind(busy, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::listen(busy, 1) == 0);
  REQUIRE(::getsockname(busy, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  int port = ntohs(address.sin_port);

  auto started = cluster.clusternodes("start --agents=1 " + cluster.workDirFlag() + " --port=" +
                                      std::to_string(port) + " --http-port=0");
  ::close(busy);
  auto errors = cluster.stderrText();
  INFO("stderr of the CLI:\n", errors);
  CHECK(started.exitCode == 1);
  CHECK(started.output.empty());
  CHECK(errors.find("master.log") != std::string::npos);
  CHECK(errors.find("the master exited") != std::string::npos);
  CHECK(!fs::exists(cluster.dir() + "/cluster.json"));
  CHECK(processesUnder(cluster.dir()).empty());
}

TEST_CASE("cli: clusternodes without a local cluster tells what to do") {
  LocalClusterGuard cluster;
  auto status = cluster.clusternodes("status " + cluster.workDirFlag());
  CHECK(status.exitCode == 1);
  CHECK(cluster.stderrText().find("clusternodes start") != std::string::npos);

  auto stopped = cluster.clusternodes("stop " + cluster.workDirFlag());
  CHECK(stopped.exitCode == 0);
  CHECK(stopped.output == "no local cluster is running\n");
}

TEST_CASE("cli: clusternodes refuses bad flags with one line and exit status 2") {
  LocalClusterGuard cluster;
  for (const char* arguments : {"start --agents=0", "start --no-such-flag", "status --port=x", "frobnicate",
                                "start --resources=cpus:x"}) {
    CAPTURE(arguments);
    auto before = cluster.stderrText().size();
    auto result = cluster.clusternodes(std::string(arguments) + " " + cluster.workDirFlag());
    CHECK(result.exitCode == 2);
    auto message = cluster.stderrText().substr(before);
    CHECK(lines(message).size() == 1);
    CHECK(!fs::exists(cluster.dir() + "/cluster.json"));
  }

  auto help = cluster.clusternodes("--help");
  CHECK(help.exitCode == 0);
  for (const char* name : {"start", "status", "stop"}) CHECK(help.output.find(name) != std::string::npos);
}

TEST_CASE("cli: clusternodes configure edits the local cluster's config files, and start applies them") {
  LocalClusterGuard cluster;
  const std::string workDir = cluster.workDirFlag();

  auto set = cluster.clusternodes("configure agent.attributes=zone:z9 agent.gc_delay=2h master.offer-timeout=45s " +
                                  workDir);
  INFO("stderr of the CLI:\n", cluster.stderrText());
  REQUIRE(set.exitCode == 0);
  CHECK(set.output == "agent.attributes = \"zone:z9\"\nagent.gc-delay = \"2h\"\nmaster.offer-timeout = \"45s\"\n");
  const std::string agentFile = cluster.dir() + "/agent.toml";
  CHECK(readFile(agentFile).find("gc-delay = \"2h\"") != std::string::npos);
  CHECK(readFile(cluster.dir() + "/master.toml").find("offer-timeout = \"45s\"") != std::string::npos);

  // Refused, each with one line naming the key, the value and why, and
  // nothing written.
  std::string before = readFile(agentFile);
  struct Refusal {
    const char* setting;
    std::vector<const char*> mentions;
  };
  for (const auto& refusal : std::vector<Refusal>{
           {"agent.gc-delay=soon", {"--gc-delay=soon", "agent.toml", "not a duration"}},
           {"agent.recover=maybe", {"--recover=maybe", "maybe not in {reconnect,cleanup}"}},
           {"agent.isolation=none", {"agent.isolation=none", "clusternodes start"}},
           {"agent.attribute=x:1", {"unknown key 'attribute'", "no --attribute flag"}},
           {"master.port=6000", {"master.port=6000", "clusternodes start"}},
           {"agent.gc-delay", {"not DAEMON.KEY=VALUE"}},
           {"controller.port=1", {"neither master nor agent"}}}) {
    CAPTURE(refusal.setting);
    auto errorsBefore = cluster.stderrText().size();
    auto refused = cluster.clusternodes(std::string("configure agent.log-level=debug ") + refusal.setting + " " +
                                        workDir);
    CHECK(refused.exitCode == 2);
    CHECK(refused.output.empty());
    auto message = cluster.stderrText().substr(errorsBefore);
    CHECK(lines(message).size() == 1);
    for (const char* mention : refusal.mentions) CHECK(message.find(mention) != std::string::npos);
    CHECK(readFile(agentFile) == before);
  }

  auto started = cluster.clusternodes("start --agents=1 " + workDir + " --port=0 --http-port=0");
  REQUIRE(started.exitCode == 0);
  auto state = nlohmann::json::parse(cluster.clusternodes("status --json " + workDir).output, nullptr, false);
  REQUIRE(state.is_object());
  REQUIRE(state["agents"].size() == 1);
  CHECK(state["agents"][0]["attributes"]["zone"] == "z9");

  // Listed back; a change while the cluster runs says how to apply it.
  auto listed = cluster.clusternodes("configure " + workDir);
  CHECK(listed.output.find("agent.attributes = \"zone:z9\"\n") != std::string::npos);
  CHECK(listed.output.find("master.offer-timeout = \"45s\"\n") != std::string::npos);
  auto reset = cluster.clusternodes("configure master.offer-timeout= " + workDir);
  CHECK(reset.exitCode == 0);
  CHECK(reset.output.find("master.offer-timeout back to its default") != std::string::npos);
  CHECK(reset.output.find("restart it to apply") != std::string::npos);
  CHECK(readFile(cluster.dir() + "/master.toml").find("offer-timeout") == std::string::npos);

  // A file broken by hand stops the next start before anything runs.
  REQUIRE(cluster.clusternodes("stop " + workDir).exitCode == 0);
  std::ofstream(agentFile, std::ios::app) << "usage-interval = \"a while\"\n";
  auto errorsBefore = cluster.stderrText().size();
  auto refusedStart = cluster.clusternodes("start --agents=1 " + workDir + " --port=0 --http-port=0");
  CHECK(refusedStart.exitCode == 2);
  auto message = cluster.stderrText().substr(errorsBefore);
  CHECK(message.find("--usage-interval=a while (from " + agentFile) != std::string::npos);
  CHECK(message.find("clusternodes configure agent.KEY=VALUE") != std::string::npos);
  CHECK(!fs::exists(cluster.dir() + "/cluster.json"));
  CHECK(processesUnder(cluster.dir()).empty());
}

TEST_CASE("cli: clusternodes agents, frameworks and tasks list a running cluster as tables and as JSON") {
  LocalClusterGuard cluster;
  const std::string workDir = cluster.workDirFlag();
  auto started = cluster.clusternodes("start --agents=1 " + workDir + " --port=0 --http-port=0");
  INFO("stderr of the CLI:\n", cluster.stderrText());
  REQUIRE(started.exitCode == 0);
  const std::string master = lines(started.output).at(0).substr(std::string("master: ").size());
  clusternodes::testing::Process sleepers({kBinDir + "/launch-tasks", "--master=" + master, "--tasks=2",
                                           "--cpus=0.1", "--mem=16", "--command=sleep 120", "--name=sleepers",
                                           cluster.keyArgs()[0], cluster.keyArgs()[1]},
                                          cluster.dir() + "/sleepers.log");
  REQUIRE(clusternodes::testing::eventually(
      [&] {
        auto running = nlohmann::json::parse(cluster.clusternodes("tasks --json --state=running " + workDir).output,
                                             nullptr, false);
        return running.is_array() && running.size() == 2;
      },
      std::chrono::seconds(60)));

  auto tasks = cluster.clusternodes("tasks " + workDir);
  CHECK(tasks.exitCode == 0);
  auto taskLines = lines(tasks.output);
  REQUIRE(taskLines.size() == 3);
  CHECK(taskLines[0].rfind("ID      FRAMEWORK  AGENT", 0) == 0);
  for (size_t i = 1; i < 3; ++i) {
    CHECK(taskLines[i].find("sleepers") != std::string::npos);
    CHECK(taskLines[i].find("TASK_RUNNING") != std::string::npos);
    // Aligned: every row's state starts where the header's does.
    CHECK(taskLines[i].find("TASK_RUNNING") == taskLines[0].find("STATE"));
  }
  CHECK(cluster.clusternodes("tasks --framework=nobody " + workDir).output == "no tasks\n");

  auto frameworks = cluster.clusternodes("frameworks " + workDir);
  CHECK(frameworks.exitCode == 0);
  CHECK(lines(frameworks.output).size() == 2);
  CHECK(frameworks.output.find("sleepers") != std::string::npos);
  auto frameworksJson = nlohmann::json::parse(cluster.clusternodes("frameworks --json " + workDir).output);
  REQUIRE(frameworksJson.size() == 1);
  CHECK(frameworksJson[0]["name"] == "sleepers");
  CHECK(frameworksJson[0]["task_count"] == 2);

  auto agents = cluster.clusternodes("agents " + workDir);
  CHECK(agents.exitCode == 0);
  auto agentsJson = nlohmann::json::parse(cluster.clusternodes("agents --json " + workDir).output);
  REQUIRE(agentsJson.size() == 1);
  CHECK(agents.output.find(agentsJson[0]["id"].get<std::string>()) != std::string::npos);
  CHECK(agents.output.find("reachable") != std::string::npos);
  CHECK(agents.output.find("0.2/") != std::string::npos);  // two tasks' cpus in use

  auto errorsBefore = cluster.stderrText().size();
  auto typo = cluster.clusternodes("tasks --state=runing " + workDir);
  CHECK(typo.exitCode == 2);
  auto message = cluster.stderrText().substr(errorsBefore);
  CHECK(lines(message).size() == 1);
  CHECK(message.find("not a task state") != std::string::npos);
}

namespace {

// The live processes whose command line names `dir` (the daemons of a local
// cluster all do: their --work-dir, or ZooKeeper's zoo.cfg).
std::vector<int> processesNaming(const std::string& dir) {
  std::vector<int> out;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (readFile(entry.path().string() + "/cmdline").find(dir) != std::string::npos && processAlive(std::stoi(name))) {
      out.push_back(std::stoi(name));
    }
  }
  return out;
}

// The pid of the clusternodes-master running with --work-dir=`workDir`; 0 when none.
int masterPid(const std::string& workDir) {
  std::string flag = std::string("--work-dir=") + workDir + '\0';
  for (int pid : processesNaming(workDir)) {
    std::string cmdline = readFile("/proc/" + std::to_string(pid) + "/cmdline");
    if (cmdline.rfind(kBinDir + "/clusternodes-master", 0) == 0 && cmdline.find(flag) != std::string::npos) return pid;
  }
  return 0;
}

// The indices of the recorded masters whose /state says they lead.
std::vector<size_t> leadingMasters(const nlohmann::json& record) {
  std::vector<size_t> out;
  for (size_t i = 0; i < record["masters"].size(); ++i) {
    auto state = httpGet(record["masters"][i]["http"].get<std::string>() + "/state", 2);
    if (!state || state->status != 200) continue;
    auto json = nlohmann::json::parse(state->body, nullptr, false);
    if (json.is_object() && json.value("leading", false)) out.push_back(i);
  }
  return out;
}

}  // namespace

TEST_CASE("cli: clusternodes start --masters=3 elects one master through ZooKeeper and restarts a killed leader") {
  REQUIRE_MESSAGE(!zooKeeperJar().empty(), "ZooKeeper is not installed (scripts/setup.sh installs it)");
  LocalClusterGuard cluster;
  const std::string workDir = cluster.workDirFlag();
  // A short session, so that a SIGKILLed leader's znode goes within seconds.
  REQUIRE(cluster.clusternodes("configure master.zk-session-timeout=3s " + workDir).exitCode == 0);

  auto started = cluster.clusternodes("start --masters=3 --agents=1 " + workDir + " --port=0 --http-port=0");
  INFO("stderr of the CLI:\n", cluster.stderrText());
  REQUIRE(started.exitCode == 0);
  auto startLines = lines(started.output);
  REQUIRE(startLines.size() == 4);
  REQUIRE(startLines[0].rfind("master: zk://127.0.0.1:", 0) == 0);
  const std::string zkUrl = startLines[0].substr(std::string("master: ").size());
  CHECK(zkUrl.ends_with("/clusternodes"));

  auto record = nlohmann::json::parse(readFile(cluster.dir() + "/cluster.json"));
  CHECK(record["master"] == zkUrl);
  REQUIRE(record["masters"].size() == 3);
  CHECK(processAlive(record["pids"]["zookeeper"].get<int>()));
  std::vector<int> pids;
  for (int i = 1; i <= 3; ++i) pids.push_back(masterPid(cluster.dir() + "/master-" + std::to_string(i)));
  for (int pid : pids) CHECK(pid > 0);

  auto leaders = leadingMasters(record);
  REQUIRE(leaders.size() == 1);
  const size_t leader = leaders[0];
  const std::string leaderHttp = record["masters"][leader]["http"];
  CHECK(startLines[1] == "web: " + leaderHttp + "/");
  for (size_t i = 0; i < 3; ++i) {
    if (i == leader) continue;
    auto health = httpGet(record["masters"][i]["http"].get<std::string>() + "/health", 2);
    REQUIRE(health);
    CHECK(health->body == "standing by; the leader is " + leaderHttp + "\n");
  }

  // A job through the zk:// URL, and status naming the leader.
  auto launched = cluster.shell(shellQuote(kBinDir + "/launch-tasks") + " --master=" + zkUrl + cluster.keyFlags() +
                                " --tasks=5 --cpus=0.1 --mem=16 --command=true --timeout=60");
  CHECK(launched.output.find("finished 5/5") != std::string::npos);
  auto status = cluster.clusternodes("status " + workDir);
  CHECK(status.exitCode == 0);
  const std::string leaderAddress = record["masters"][leader]["address"];
  CHECK(status.output.find("leads at tcp://" + leaderAddress + ", elected through " + zkUrl) != std::string::npos);

  // The leader SIGKILLed: another leads, and its supervisor starts it again
  // (as a standby).
  REQUIRE(::kill(pids[leader], SIGKILL) == 0);
  size_t next = leader;
  CHECK(clusternodes::testing::eventually(
      [&] {
        auto now = leadingMasters(record);
        if (now.size() != 1 || now[0] == leader) return false;
        next = now[0];
        return true;
      },
      std::chrono::seconds(60)));
  const std::string killedDir = cluster.dir() + "/master-" + std::to_string(leader + 1);
  CHECK(clusternodes::testing::eventually(
      [&] {
        int pid = masterPid(killedDir);
        auto health = httpGet(record["masters"][leader]["http"].get<std::string>() + "/health", 2);
        return pid > 0 && pid != pids[leader] && health && health->body.rfind("standing by", 0) == 0;
      },
      std::chrono::seconds(30)));
  CHECK(readFile(killedDir.substr(0, killedDir.rfind('/')) + "/logs/master-" + std::to_string(leader + 1) + ".log")
            .find("was killed by signal 9") != std::string::npos);
  auto after = cluster.clusternodes("status " + workDir);
  CHECK(after.exitCode == 0);
  const std::string nextAddress = record["masters"][next]["address"];
  CHECK(after.output.find("leads at tcp://" + nextAddress) != std::string::npos);

  auto stopped = cluster.clusternodes("stop " + workDir);
  CHECK(stopped.exitCode == 0);
  CHECK(stopped.output == "stopped\n");
  CHECK(processesNaming(cluster.dir()).empty());
  CHECK(processesUnder(cluster.dir()).empty());
}
