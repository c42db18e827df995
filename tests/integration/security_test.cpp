// Security with real daemons: CURVE links between agents, frameworks and
// the master (authenticated by key, encrypted on the wire), the ACLs, and
// tasks run as their users.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <sys/stat.h>
#include <csignal>
#include <string>
#include <vector>

#include "common/curve.hpp"
#include "common/http_auth.hpp"
#include "common/http_client.hpp"
#include "tests/harness/cluster.hpp"
#include "tests/harness/driver.hpp"
#include "tests/harness/recording_scheduler.hpp"
#include "tests/harness/prometheus_text.hpp"
#include "tests/harness/skip.hpp"
#include "tests/harness/temp_dir.hpp"
#include "tests/harness/tls_files.hpp"

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

// The master's sample of `series` whose `label` is `value`; -1 without one.
double masterSample(const TestCluster& cluster, const std::string& series, const std::string& label,
                    const std::string& value) {
  for (const auto& sample : parsePrometheusText(cluster.masterGet("/metrics"))) {
    if (sample.name == series && sample.labels.count(label) != 0 && sample.labels.at(label) == value) {
      return sample.value;
    }
  }
  return -1;
}

double refused(const TestCluster& cluster, const std::string& reason) {
  return masterSample(cluster, "clusternodes_master_peers_refused_total", "reason", reason);
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
  // The agent learns of the refusal from its own socket's events, after the
  // master counted it.
  CHECK(eventually([&] {
    return readFile(cluster.agent(stranger).logFile()).find("refused this agent's key") != std::string::npos;
  }));
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
  auto ended = terminalStatus(scheduler, "env", 90s);
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

namespace {

double aclDenials(const TestCluster& cluster, const std::string& action) {
  return masterSample(cluster, "clusternodes_master_acl_denials_total", "action", action);
}

// The stdout or stderr of task `taskId` in its sandbox.
std::string sandboxFile(const TestCluster& cluster, const std::string& taskId, const std::string& name) {
  for (const auto& entry : std::filesystem::recursive_directory_iterator(cluster.dir() + "/agent-0/sandboxes")) {
    if (entry.path().filename() == name && entry.path().string().find("/" + taskId + "/") != std::string::npos) {
      return readFile(entry.path().string());
    }
  }
  return "";
}

TaskInfo shellTask(const Offer& offer, const std::string& id, const std::string& command,
                   const std::string& user = "") {
  TaskInfo task;
  task.taskId.value = id;
  task.name = id;
  task.agentId = offer.agentId;
  task.resources = *Resources::parse("cpus:0.1;mem:32");
  task.command.value = command;
  task.command.user = user;
  return task;
}

}  // namespace

TEST_CASE("security: with ACLs a framework registers only in its roles and runs tasks only as its users") {
  if (::geteuid() != 0) skipTest("needs root: the agent switches to the tasks' users");
  TestCluster cluster;
  // Task users walk down to their sandboxes.
  ::chmod(cluster.dir().c_str(), 0755);
  Keys keys(cluster.dir());
  std::string acls = cluster.dir() + "/acls.toml";
  std::ofstream(acls) << "[[register_framework]]\nprincipals = [\"spark\"]\nroles = [\"analytics\"]\n\n"
                         "[[run_task]]\nprincipals = [\"spark\"]\nusers = [\"nobody\", \"cn-no-such-user\"]\n";
  cluster.startMaster(plus(keys.masterFlags(), {"--acls=" + acls}));
  cluster.startAgent("cpus:2;mem:1024", keys.clientFlags("host-a"));
  cluster.waitForAgents(1);
  SchedulerDriverOptions options{.master = cluster.master(), .keyFile = keys.key("spark"), .masterKeyFile = keys.pub("master")};

  // A role the ACLs do not give it: refused, and told why.
  {
    RecordingScheduler scheduler;
    FrameworkInfo info = frameworkInfo("wrong-role");
    info.role = "ops";
    auto driver = SchedulerDriver::create(&scheduler, info, options);
    driver->start();
    REQUIRE(scheduler.waitFor([&] { return !scheduler.errors().empty(); }));
    CHECK(scheduler.errors().front().find("not authorized: principal 'spark' may not register a framework in role "
                                          "'ops' (no [[register_framework]] rule in " + acls + " allows it)") !=
          std::string::npos);
    driver->stop();
  }
  CHECK(aclDenials(cluster, "register_framework") == 1);

  RecordingScheduler scheduler;
  FrameworkInfo info = frameworkInfo("analytics");
  info.role = "analytics";
  info.user = "nobody";
  auto driver = SchedulerDriver::create(&scheduler, info, options);
  REQUIRE(driver->start() == DriverStatus::kRunning);
  REQUIRE(scheduler.waitForRegistration());
  launchOnOffers(scheduler, {{"", [](const Offer& offer) {
                                return std::vector<TaskInfo>{
                                    shellTask(offer, "as-root", "id -u", "root"),
                                    shellTask(offer, "as-nobody", "id -un; id -u; touch mine; cat /etc/shadow"),
                                    shellTask(offer, "unknown-user", "true", "cn-no-such-user")};
                              }}});

  auto root = terminalStatus(scheduler, "as-root", 90s);
  REQUIRE(root);
  CHECK(toString(root->state) == std::string("TASK_ERROR"));
  CHECK(toString(root->reason) == std::string("REASON_TASK_UNAUTHORIZED"));
  CHECK(root->message == "not authorized: principal 'spark' may not run tasks as user 'root' (no [[run_task]] rule "
                         "in " + acls + " allows it)");
  CHECK(aclDenials(cluster, "run_task") == 1);

  auto unknown = terminalStatus(scheduler, "unknown-user", 90s);
  REQUIRE(unknown);
  CHECK(toString(unknown->state) == std::string("TASK_ERROR"));
  CHECK(unknown->message.find("user 'cn-no-such-user' does not exist on agent ") == 0);

  // As nobody: its own id, no /etc/shadow, and a sandbox of its own.
  auto nobody = terminalStatus(scheduler, "as-nobody", 90s);
  REQUIRE(nobody);
  CHECK(toString(nobody->state) == std::string("TASK_FAILED"));
  std::string out = sandboxFile(cluster, "as-nobody", "stdout");
  INFO("stdout: ", out, "\nstderr: ", sandboxFile(cluster, "as-nobody", "stderr"));
  CHECK(out.find("nobody\n65534\n") == 0);
  CHECK(out.find("root:") == std::string::npos);
  CHECK(sandboxFile(cluster, "as-nobody", "stderr").find("/etc/shadow: Permission denied") != std::string::npos);
  bool ownsItsFile = false;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(cluster.dir() + "/agent-0/sandboxes")) {
    struct stat st {};
    if (entry.path().filename() == "mine" && ::stat(entry.path().c_str(), &st) == 0) ownsItsFile = st.st_uid == 65534;
  }
  CHECK(ownsItsFile);
  driver->stop();
}

TEST_CASE("security: with ACLs only the principals they name change weights and quota over HTTP") {
  TestCluster cluster;
  std::string acls = cluster.dir() + "/acls.toml";
  // Until HTTP requests carry credentials, "*" is the anonymous caller.
  std::ofstream(acls) << "[[update_weights]]\nprincipals = [\"*\"]\nroles = [\"batch\"]\n";
  cluster.startMaster({"--acls=" + acls});
  auto allowed = httpSend("PUT", cluster.masterHttp() + "/api/v1/weights", R"({"batch": 2})");
  REQUIRE(allowed);
  CHECK(allowed->status == 200);
  auto denied = httpSend("PUT", cluster.masterHttp() + "/api/v1/weights", R"({"batch": 3, "ops": 5})");
  REQUIRE(denied);
  CHECK(denied->status == 403);
  CHECK(denied->body.find("not authorized: an anonymous peer may not change the weight of role 'ops'") !=
        std::string::npos);
  auto quota = httpSend("PUT", cluster.masterHttp() + "/api/v1/quota", R"({"role": "batch", "guarantee": "cpus:1"})");
  REQUIRE(quota);
  CHECK(quota->status == 403);
  auto weights = nlohmann::json::parse(httpGet(cluster.masterHttp() + "/api/v1/weights")->body);
  CHECK(weights["weights"]["batch"] == 2.0);
  CHECK_FALSE(weights["weights"].contains("ops"));
  CHECK(aclDenials(cluster, "update_weights") == 1);
  CHECK(aclDenials(cluster, "update_quota") == 1);
}

TEST_CASE("security: a master refuses to start with a bad ACL file, saying where") {
  TestCluster cluster;
  std::string acls = cluster.dir() + "/acls.toml";
  std::ofstream(acls) << "[[run_task]]\nprincipals = [\"spark\"]\n";
  auto run = runProgram({binary("clusternodes-master"), "--acls=" + acls, "--port=0", "--http-port=0",
                         "--work-dir=" + cluster.dir() + "/master-bad"},
                        30s);
  CHECK(run.exitCode == 2);
  CHECK(run.output.find(acls + ":1: a [[run_task]] rule needs `users = [...]`") != std::string::npos);
}

namespace {

// One request with exactly `token` ("" for none), whatever the process's
// default token is.
HttpResult call(const std::string& method, const std::string& url, const std::string& token,
                const std::string& body = "") {
  HttpClientRequest request;
  request.method = method;
  request.url = url;
  request.body = body;
  request.bearerToken = token;
  auto result = httpRequest(request);
  REQUIRE(result);
  return *result;
}

// The harness's own requests (state, metrics) carry `token` while it lives.
struct DefaultToken {
  explicit DefaultToken(const std::string& token) { setHttpBearerToken(token); }
  ~DefaultToken() { setHttpBearerToken(""); }
};

}  // namespace

TEST_CASE("security: HTTP tokens: writes need one, an unknown one gets 401, the ACLs' refusal 403, and with "
          "--http-authenticate=all reads too, on the master and the agents") {
  TestCluster cluster;
  std::string tokens = cluster.dir() + "/http-tokens.toml";
  std::string ops = generateHttpToken();
  std::string viewer = generateHttpToken();
  REQUIRE(addHttpToken(tokens, "ops", ops));
  REQUIRE(addHttpToken(tokens, "viewer", viewer));
  std::string acls = cluster.dir() + "/acls.toml";
  std::ofstream(acls) << "[[update_weights]]\nprincipals = [\"ops\"]\nroles = [\"*\"]\n";

  SUBCASE("the default with a tokens file: writes") {
    cluster.startMaster({"--http-credentials=" + tokens, "--acls=" + acls});
    std::string weights = cluster.masterHttp() + "/api/v1/weights";
    CHECK(call("GET", cluster.masterHttp() + "/state", "").status == 200);
    auto anonymous = call("PUT", weights, "", R"({"batch": 2})");
    CHECK(anonymous.status == 401);
    CHECK(anonymous.body.find("PUT /api/v1/weights needs a token") != std::string::npos);
    auto unknown = call("PUT", weights, generateHttpToken(), R"({"batch": 2})");
    CHECK(unknown.status == 401);
    CHECK(unknown.body.find("not one this daemon knows") != std::string::npos);
    auto refused = call("PUT", weights, viewer, R"({"batch": 2})");
    CHECK(refused.status == 403);
    CHECK(refused.body.find("principal 'viewer' may not change the weight of role 'batch'") != std::string::npos);
    auto allowed = call("PUT", weights, ops, R"({"batch": 2})");
    CHECK(allowed.status == 200);
    CHECK(nlohmann::json::parse(call("GET", weights, "").body)["weights"]["batch"] == 2.0);
    double unauthorized = -1;
    for (const auto& sample : parsePrometheusText(cluster.masterGet("/metrics"))) {
      if (sample.name == "clusternodes_master_http_unauthorized_total") unauthorized = sample.value;
    }
    CHECK(unauthorized == 2);
  }

  SUBCASE("all: reads need one too, but /health and the web UI's page do not") {
    cluster.startMaster({"--http-credentials=" + tokens, "--http-authenticate=all", "--acls=" + acls});
    DefaultToken harness(viewer);  // the harness reads /state as a viewer
    cluster.startAgent("cpus:1;mem:256", {"--http-credentials=" + tokens, "--http-authenticate=all"});
    cluster.waitForAgents(1);
    for (const char* path : {"/state", "/metrics", "/api/v1/weights", "/api/v1/events"}) {
      INFO(path);
      CHECK(call("GET", cluster.masterHttp() + path, "").status == 401);
      CHECK(call("GET", cluster.masterHttp() + path, viewer).status == 200);
    }
    CHECK(call("GET", cluster.masterHttp() + "/health", "").status == 200);
    CHECK(call("GET", cluster.masterHttp() + "/", "").status == 200);
    std::string agent = cluster.agentHttp(0);
    for (const char* path : {"/state", "/metrics", "/containers", "/files/browse?path=x"}) {
      INFO(path);
      CHECK(call("GET", agent + path, "").status == 401);
      CHECK(call("GET", agent + path, generateHttpToken()).status == 401);
    }
    CHECK(call("GET", agent + "/state", ops).status == 200);
    CHECK(call("GET", agent + "/health", "").status == 200);

    // The CLI sends CLUSTERNODES_TOKEN.
    ::setenv("CLUSTERNODES_TOKEN", viewer.c_str(), 1);
    auto status = runProgram({binary("clusternodes"), "agents", "--master=" + cluster.master(), "--json"}, 60s);
    ::unsetenv("CLUSTERNODES_TOKEN");
    CHECK(status.exitCode == 0);
    CHECK(status.output.find(cluster.state()["agents"][0]["id"].get<std::string>()) != std::string::npos);
    auto without = runProgram({binary("clusternodes"), "agents", "--master=" + cluster.master()}, 60s);
    CHECK(without.exitCode != 0);
    CHECK(without.output.find("needs a token") != std::string::npos);
  }
}

TEST_CASE("security: clusternodes tokens generate writes a token that the daemons' tokens file names") {
  TestCluster cluster;
  std::string tokens = cluster.dir() + "/http-tokens.toml";
  std::string out = cluster.dir() + "/ops.token";
  auto made = runProgram({binary("clusternodes"), "tokens", "generate", "ops", "--credentials=" + tokens,
                          "--out=" + out},
                         30s);
  REQUIRE(made.exitCode == 0);
  auto token = readHttpToken(out);
  REQUIRE(token);
  CHECK(made.output.find(*token) == std::string::npos);  // written, not shown
  CHECK(HttpTokens::load(tokens)->principalOf(*token) == std::optional<std::string>("ops"));
  auto again = runProgram({binary("clusternodes"), "tokens", "generate", "ops", "--credentials=" + tokens,
                           "--out=" + out},
                          30s);
  CHECK(again.exitCode == 1);
  CHECK(again.output.find("exists already") != std::string::npos);
  auto bad = runProgram({binary("clusternodes"), "tokens", "generate", "not/ok", "--credentials=" + tokens}, 30s);
  CHECK(bad.exitCode == 2);

  // A master refuses to start with a mode that needs tokens it lacks.
  auto refused = runProgram({binary("clusternodes-master"), "--http-authenticate=all", "--port=0", "--http-port=0",
                             "--work-dir=" + cluster.dir() + "/m"},
                            30s);
  CHECK(refused.exitCode == 2);
  CHECK(refused.output.find("--http-authenticate=all needs --http-credentials, the tokens file") != std::string::npos);
}

namespace {

// The harness's own requests trust `caFile` while it lives.
struct TrustedCa {
  explicit TrustedCa(const std::string& caFile) { setHttpCaFile(caFile); }
  ~TrustedCa() { setHttpCaFile(""); }
};

}  // namespace

TEST_CASE("security: TLS: the master and an agent serve HTTPS, /state and the master's own answer name https "
          "URLs, and the CLI reads state and a task's output trusting CLUSTERNODES_CA") {
  TestCluster cluster;
  std::string certs = cluster.dir() + "/tls";
  std::filesystem::create_directories(certs);
  std::string ca = makeTlsCa(certs);
  auto master = makeTlsFiles(certs, "master");
  auto agent = makeTlsFiles(certs, "agent");
  TrustedCa trusted(ca);
  cluster.startMaster({"--tls-cert=" + master.cert, "--tls-key=" + master.key});
  cluster.startAgent("cpus:1;mem:256", {"--tls-cert=" + agent.cert, "--tls-key=" + agent.key});
  cluster.waitForAgents(1);
  REQUIRE(cluster.masterHttp().rfind("https://", 0) == 0);

  auto state = cluster.state();
  CHECK(state["agents"][0]["http_url"] == cluster.agentHttp(0));
  CHECK(state["leader_info"]["http_scheme"] == "https");
  // Plain HTTP to either port gets a 400 that says to use https.
  for (const std::string& https : {cluster.masterHttp(), cluster.agentHttp(0)}) {
    auto plain = httpGet("http://" + https.substr(8) + "/state");
    REQUIRE(plain);
    CHECK(plain->status == 400);
    CHECK(plain->body.find("https://") != std::string::npos);
  }
  double failures = -1;
  for (const auto& sample : parsePrometheusText(cluster.masterGet("/metrics"))) {
    if (sample.name == "clusternodes_master_http_tls_failures_total") failures = sample.value;
  }
  CHECK(failures == 1);

  RecordingScheduler scheduler;
  std::atomic<bool> launched{false};
  scheduler.onOffer = [&](SchedulerDriver* driver, const Offer& offer) {
    if (launched.exchange(true)) return;
    driver->launchTasks({offer.id}, {makeTask("secret-talk", offer, "echo over tls")});
  };
  FrameworkInfo info;
  info.name = "tls";
  info.user = "root";
  auto driver = SchedulerDriver::create(&scheduler, info, {.master = cluster.master()});
  REQUIRE(driver->start() == DriverStatus::kRunning);
  REQUIRE(scheduler.waitForState(TaskID{"secret-talk"}, TaskState::kFinished));

  // The CLI learns from the master (over ZeroMQ) that its HTTP is https,
  // and from /state that the agent's is.
  ::setenv("CLUSTERNODES_CA", ca.c_str(), 1);
  auto agents = runProgram({binary("clusternodes"), "agents", "--master=" + cluster.master(), "--json"}, 60s);
  auto logs = runProgram({binary("clusternodes"), "logs", "secret-talk", "--master=" + cluster.master()}, 60s);
  ::setenv("CLUSTERNODES_CA", (certs + "/missing.crt").c_str(), 1);
  auto missing = runProgram({binary("clusternodes"), "agents", "--master=" + cluster.master()}, 60s);
  ::unsetenv("CLUSTERNODES_CA");
  auto untrusted = runProgram({binary("clusternodes"), "agents", "--master=" + cluster.master()}, 60s);
  CHECK(agents.exitCode == 0);
  CHECK(agents.output.find(state["agents"][0]["id"].get<std::string>()) != std::string::npos);
  CHECK(logs.exitCode == 0);
  CHECK(logs.output == "over tls\n");
  CHECK(missing.exitCode == 2);
  CHECK(missing.output.find("CLUSTERNODES_CA: cannot read " + certs + "/missing.crt") != std::string::npos);
  // Without the CA the system's trust store does not know the master.
  CHECK(untrusted.exitCode != 0);
  CHECK(untrusted.output.find("certificate") != std::string::npos);
  driver->stop();
  driver->join();
}

TEST_CASE("security: TLS: a daemon refuses to start with half of the TLS flags or a key of another certificate") {
  testing::TempDir dir{"cn-tls-flags"};
  makeTlsCa(dir.path);
  auto a = makeTlsFiles(dir.path, "a");
  auto b = makeTlsFiles(dir.path, "b");
  for (const char* program : {"clusternodes-master", "clusternodes-agent"}) {
    INFO(program);
    auto half = runProgram({binary(program), "--tls-cert=" + a.cert, "--check-config"}, 30s);
    CHECK(half.exitCode == 2);
    CHECK(half.output.find("--tls-cert " + a.cert + ": needs --tls-key too") != std::string::npos);
    auto mismatched = runProgram({binary(program), "--tls-cert=" + a.cert, "--tls-key=" + b.key, "--check-config"}, 30s);
    CHECK(mismatched.exitCode == 2);
    CHECK(mismatched.output.find("the TLS key " + b.key + " does not belong to the certificate " + a.cert) !=
          std::string::npos);
    CHECK(std::count(mismatched.output.begin(), mismatched.output.end(), '\n') == 1);
  }
}

TEST_CASE("security: sandbox tokens: with --http-authenticate=all on the agents, a token the master signs reads "
          "one task's sandbox and nothing else") {
  TestCluster cluster;
  std::string tokens = cluster.dir() + "/http-tokens.toml";
  std::string viewer = generateHttpToken();
  REQUIRE(addHttpToken(tokens, "viewer", viewer));
  cluster.startMaster({"--http-credentials=" + tokens, "--http-authenticate=all"});
  DefaultToken harness(viewer);
  cluster.startAgent("cpus:1;mem:256", {"--http-credentials=" + tokens, "--http-authenticate=all"});
  cluster.waitForAgents(1);

  RecordingScheduler scheduler;
  std::atomic<int> launched{0};
  scheduler.onOffer = [&](SchedulerDriver* driver, const Offer& offer) {
    int n = launched.fetch_add(1);
    if (n > 1) return;
    std::string id = n == 0 ? "one" : "two";
    driver->launchTasks({offer.id}, {makeTask(id, offer, "echo secret-" + id)});
  };
  FrameworkInfo info;
  info.name = "sandboxes";
  info.user = "root";
  auto driver = SchedulerDriver::create(&scheduler, info, {.master = cluster.master()});
  REQUIRE(driver->start() == DriverStatus::kRunning);
  REQUIRE(scheduler.waitForState(TaskID{"one"}, TaskState::kFinished));
  REQUIRE(scheduler.waitForState(TaskID{"two"}, TaskState::kFinished));
  std::string framework = scheduler.frameworkId().value;

  auto grant = [&](const std::string& task, const std::string& bearer) {
    return call("GET", cluster.masterHttp() + "/api/v1/sandbox-token?framework_id=" + framework + "&task_id=" + task,
                bearer);
  };
  CHECK(grant("one", "").status == 401);  // the master's reads need a token too
  CHECK(grant("nope", viewer).status == 404);
  auto granted = grant("one", viewer);
  REQUIRE(granted.status == 200);
  auto answer = nlohmann::json::parse(granted.body);
  std::string token = answer["token"];
  CHECK(answer["agent_url"] == cluster.agentHttp(0));
  CHECK(answer["path"] == framework + "/one");
  double now = static_cast<double>(std::time(nullptr));
  CHECK(answer["expires"].get<double>() > now + 200);
  CHECK(answer["expires"].get<double>() < now + 400);

  std::string files = cluster.agentHttp(0) + "/files/";
  auto withToken = [&](const std::string& endpoint, const std::string& path, const std::string& t) {
    return call("GET", files + endpoint + "?path=" + urlEncode(path) + "&token=" + urlEncode(t), "");
  };
  CHECK(call("GET", files + "browse?path=" + framework + "/one", "").status == 401);
  auto listing = withToken("browse", framework + "/one", token);
  REQUIRE(listing.status == 200);
  auto entries = nlohmann::json::parse(listing.body)["entries"];
  REQUIRE(entries.size() == 1);
  std::string run = framework + "/one/" + entries[0]["name"].get<std::string>();
  auto read = withToken("download", run + "/stdout", token);
  CHECK(read.status == 200);
  CHECK(read.body == "secret-one\n");

  // Not another task's sandbox, not the framework's, not through "..", not
  // another endpoint, not changed.
  for (const std::string& other : {framework + "/two", framework, framework + "/one/../two", std::string(".")}) {
    INFO(other);
    auto refused = withToken("browse", other, token);
    CHECK((refused.status == 401 || refused.status == 403));
  }
  auto another = withToken("browse", framework + "/two", token);
  CHECK(another.status == 401);
  CHECK(another.body.find("covers " + framework + "/one") != std::string::npos);
  CHECK(call("GET", cluster.agentHttp(0) + "/state?token=" + urlEncode(token), "").status == 401);
  std::string forged = token;
  forged[5] = forged[5] == '0' ? '1' : '0';
  CHECK(withToken("download", run + "/stdout", forged).status == 401);
  // A token of the task it names works for that one.
  auto second = nlohmann::json::parse(grant("two", viewer).body)["token"].get<std::string>();
  CHECK(withToken("browse", framework + "/two", second).status == 200);
  driver->stop();
  driver->join();
}
