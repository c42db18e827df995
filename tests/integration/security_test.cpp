// Security with real daemons: CURVE links between agents, frameworks and
// the master (authenticated by key, encrypted on the wire).
#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <sys/stat.h>
#include <csignal>
#include <string>
#include <vector>

#include "common/curve.hpp"
#include "common/http_client.hpp"
#include "tests/harness/cluster.hpp"
#include "tests/harness/driver.hpp"
#include "tests/harness/recording_scheduler.hpp"
#include "tests/harness/prometheus_text.hpp"
#include "tests/harness/skip.hpp"

using namespace clusternodes;
using namespace clusternodes::testing;
using namespace std::chrono_literals;

namespace {

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Key pairs in the cluster's directory: the master's, an agent's and a
// framework's in the master's credentials, and a stranger's that is not.
struct Keys {
  std::string dir;
  explicit Keys(const std::string& clusterDir) : dir(clusterDir + "/keys") {
    ::mkdir(dir.c_str(), 0700);
    for (const char* name : {"master", "host-a", "spark", "stranger"}) {
      REQUIRE(writeCurveKey(generateCurveKey(name), dir, false));
    }
    REQUIRE(addCredential(credentials(), PeerKind::kAgent, *readCurveKey(dir + "/host-a.pub", false)));
    REQUIRE(addCredential(credentials(), PeerKind::kFramework, *readCurveKey(dir + "/spark.pub", false)));
  }
  std::string credentials() const { return dir + "/credentials.toml"; }
  std::string key(const std::string& name) const { return dir + "/" + name + ".key"; }
  std::string pub(const std::string& name) const { return dir + "/" + name + ".pub"; }

  std::vector<std::string> masterFlags() const {
    return {"--key=" + key("master"), "--credentials=" + credentials(), "--authenticate-agents",
            "--authenticate-frameworks"};
  }
  std::vector<std::string> clientFlags(const std::string& name) const {
    return {"--key=" + key(name), "--master-key=" + pub("master")};
  }
};

std::vector<std::string> plus(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

double refused(const TestCluster& cluster, const std::string& reason) {
  for (const auto& sample : parsePrometheusText(cluster.masterGet("/metrics"))) {
    if (sample.name == "clusternodes_master_peers_refused_total" && sample.labels.count("reason") != 0 &&
        sample.labels.at("reason") == reason) {
      return sample.value;
    }
  }
  return -1;
}

std::vector<std::string> launchTasks(const TestCluster& cluster, const std::vector<std::string>& flags,
                                     const std::string& command = "true") {
  return plus({binary("launch-tasks"), "--master=" + cluster.master(), "--tasks=2", "--cpus=0.1", "--mem=16",
               "--command=" + command, "--timeout=30"},
              flags);
}

}  // namespace

TEST_CASE("security: agents and frameworks without a known key of their kind are refused, known ones run tasks") {
  TestCluster cluster;
  Keys keys(cluster.dir());
  cluster.startMaster(keys.masterFlags());
  cluster.startAgent("cpus:2;mem:1024", keys.clientFlags("host-a"));
  size_t plain = cluster.startAgent("cpus:2;mem:1024");
  size_t stranger = cluster.startAgent("cpus:2;mem:1024", keys.clientFlags("stranger"));
  size_t frameworkKey = cluster.startAgent("cpus:2;mem:1024", keys.clientFlags("spark"));
  cluster.waitForAgents(1);
  REQUIRE(eventually([&] { return refused(cluster, "unknown_key") >= 1 && refused(cluster, "not_an_agent") >= 1; }));
  REQUIRE(eventually([&] {
    return readFile(cluster.agent(plain).logFile()).find("requires CURVE: give this agent --key and --master-key") !=
           std::string::npos;
  }));
  CHECK(readFile(cluster.agent(stranger).logFile()).find("refused this agent's key") != std::string::npos);
  std::this_thread::sleep_for(1s);  // their retries change nothing
  auto state = cluster.state();
  REQUIRE(state["agents"].size() == 1);
  CHECK(state["agents"][0]["hostname"].is_string());
  CHECK(readFile(cluster.masterProcess().logFile()).find("it presented the key of framework 'spark'") !=
        std::string::npos);
  (void)frameworkKey;

  auto good = runProgram(launchTasks(cluster, keys.clientFlags("spark")), 60s);
  CHECK(good.exitCode == 0);
  CHECK(good.output.find("finished 2/2") != std::string::npos);

  auto none = runProgram(launchTasks(cluster, {}), 60s);
  CHECK(none.exitCode != 0);
  CHECK(none.output.find("requires CURVE: set keyFile and masterKeyFile") != std::string::npos);
  auto unknown = runProgram(launchTasks(cluster, keys.clientFlags("stranger")), 60s);
  CHECK(unknown.exitCode != 0);
  CHECK(unknown.output.find("refused this framework's key ('stranger')") != std::string::npos);
  auto agentKey = runProgram(launchTasks(cluster, keys.clientFlags("host-a")), 60s);
  CHECK(agentKey.exitCode != 0);
  CHECK(agentKey.output.find("frameworks must present a framework key") != std::string::npos);
  auto wrongMaster = runProgram(
      launchTasks(cluster, {"--key=" + keys.key("spark"), "--master-key=" + keys.pub("stranger")}), 60s);
  CHECK(wrongMaster.exitCode != 0);
  CHECK(wrongMaster.output.find("is masterKeyFile the master's public key?") != std::string::npos);

  // Each refused key is logged once, however often its peer retried.
  std::string log = readFile(cluster.masterProcess().logFile());
  size_t lines = 0;
  for (size_t at = log.find("refused a peer at 127.0.0.1 with key"); at != std::string::npos;
       at = log.find("refused a peer at 127.0.0.1 with key", at + 1)) {
    ++lines;
  }
  CHECK(lines == 1);  // the stranger's key, whether as an agent or a framework
  CHECK(refused(cluster, "not_a_framework") >= 1);
  CHECK(refused(cluster, "not_curve") + refused(cluster, "bad_handshake") >= 1);

  // The framework's principal is its key's.
  auto frameworks = cluster.state()["frameworks"];
  for (const auto& fw : frameworks) CHECK(fw["principal"] == "spark");
}

TEST_CASE("security: a capture of the links holds no task command when they use CURVE, and does without it") {
  if (::geteuid() != 0 || ::access("/usr/bin/tcpdump", X_OK) != 0) skipTest("needs root and tcpdump");
  // The same marked command through a plain cluster (the capture must find
  // it, or it proves nothing) and through a CURVE one (it must not).
  const std::string marker = "zebra-cucumber-" + std::to_string(::getpid());
  auto captured = [&](bool curve) {
    TestCluster cluster;
    Keys keys(cluster.dir());
    cluster.startMaster(curve ? keys.masterFlags() : std::vector<std::string>{});
    std::string pcap = cluster.dir() + "/links.pcap";
    Process capture({"/usr/bin/tcpdump", "-Z", "root", "--immediate-mode", "-i", "lo", "-U", "-s", "0", "-w", pcap,
                     "tcp port " + cluster.master().substr(cluster.master().rfind(':') + 1)},
                    cluster.dir() + "/tcpdump.log");
    REQUIRE(eventually([&] { return readFile(cluster.dir() + "/tcpdump.log").find("listening on") != std::string::npos; }));
    cluster.startAgent("cpus:2;mem:1024", curve ? keys.clientFlags("host-a") : std::vector<std::string>{});
    cluster.waitForAgents(1);
    auto run = runProgram(launchTasks(cluster, curve ? keys.clientFlags("spark") : std::vector<std::string>{},
                                      "echo " + marker),
                          60s);
    CHECK(run.exitCode == 0);
    std::this_thread::sleep_for(500ms);  // tcpdump writes what it has (-U)
    capture.signal(SIGINT);
    capture.wait(10s);
    std::string bytes = readFile(pcap);
    CHECK(bytes.size() > 1000);  // it saw the traffic
    return bytes.find(marker) != std::string::npos;
  };
  CHECK(captured(false));
  CHECK_FALSE(captured(true));
}

TEST_CASE("security: a task's environment is its own and where it runs, never the agent's") {
  TestCluster cluster;
  cluster.startMaster();
  // What an operator put in the agent's unit (a drop-in's Environment=).
  ::setenv("CN_AGENT_SECRET", "hunter2", 1);
  cluster.startAgent("cpus:2;mem:1024");
  ::unsetenv("CN_AGENT_SECRET");
  cluster.waitForAgents(1);

  RecordingScheduler scheduler;
  auto driver = startDriver(scheduler, cluster, "environment");
  launchOnOffers(scheduler, {{"", [](const Offer& offer) {
                                TaskInfo task;
                                task.taskId.value = "env";
                                task.name = "env";
                                task.agentId = offer.agentId;
                                task.resources = *Resources::parse("cpus:0.1;mem:32");
                                task.command.value = "env";
                                task.command.environment["GREETING"] = "hello";
                                return std::vector<TaskInfo>{task};
                              }}});
  auto ended = terminalStatus(scheduler, "env");
  REQUIRE(ended);
  CHECK(toString(ended->state) == std::string("TASK_FINISHED"));
  std::string output;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(cluster.dir() + "/agent-0/sandboxes")) {
    if (entry.path().filename() == "stdout" && entry.path().string().find("/env/") != std::string::npos) {
      output = readFile(entry.path().string());
    }
  }
  INFO(output);
  CHECK(output.find("GREETING=hello\n") != std::string::npos);
  CHECK(output.find("CLUSTERNODES_TASK_ID=env\n") != std::string::npos);
  CHECK(output.find("PATH=") != std::string::npos);
  CHECK(output.find("HOME=" + cluster.dir() + "/agent-0/sandboxes/") != std::string::npos);
  CHECK(output.find("hunter2") == std::string::npos);
  CHECK(output.find("CN_AGENT_SECRET") == std::string::npos);
  driver->stop();
}
