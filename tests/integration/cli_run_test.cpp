// `clusternodes run` against a real master and agent, with containers from
// the local image clusternodes/busybox: its output arrives on its own stdout
// and stderr, its exit status becomes the command's, env and ports reach the
// container, and Ctrl-C kills the task. The tests with containers fail
// without Docker (scripts/docker.sh starts it and builds the image).
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "agent/docker/client.hpp"
#include "common/http_client.hpp"
#include "tests/harness/cluster.hpp"
#include "tests/harness/docker.hpp"
#include "tests/harness/temp_dir.hpp"

using namespace clusternodes;
using namespace clusternodes::testing;
using namespace std::chrono_literals;

namespace {

// The agent's ports are this test's own (tests/harness/cluster.hpp): Docker
// publishes them on the host.
constexpr int kAgentPorts = 11;
int agentFirstPort = 0;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

size_t lineCount(const std::string& text) {
  size_t n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

struct SplitResult {
  int exitCode = -1;  // -1: killed by the timeout or a signal
  std::string out;
  std::string err;
};

// Runs a program to completion with its stdout and its stderr in files of
// their own (runProgram merges them); killed after `timeout`.
SplitResult runSplit(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = 60s) {
  TempDir dir("cn-run-out");
  const std::string outPath = dir.path + "/stdout";
  const std::string errPath = dir.path + "/stderr";
  // A Process writes both to one file: a shell sends stderr elsewhere, then
  // becomes the program.
  std::vector<std::string> shell = {"/bin/sh", "-c", "exec \"$@\" 2>\"$0\"", errPath};
  shell.insert(shell.end(), argv.begin(), argv.end());
  SplitResult result;
  {
    Process process(shell, outPath);
    int status = process.wait(timeout);
    if (status >= 0 && WIFEXITED(status)) result.exitCode = WEXITSTATUS(status);
  }
  result.out = slurp(outPath);
  result.err = slurp(errPath);
  return result;
}

// `clusternodes run --master=... --image=IMAGE EXTRA...`.
std::vector<std::string> runArgv(const TestCluster& cluster, const std::string& image,
                                 const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {binary("clusternodes"), "run", "--master=" + cluster.master(), "--image=" + image};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

std::string uniqueId(const std::string& prefix) {
  return prefix + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000007);
}

// The master's value of a Prometheus sample, e.g.
// `clusternodes_master_tasks_terminal_total{state="TASK_KILLED"}`; -1 when absent.
long metric(const TestCluster& cluster, const std::string& sample) {
  std::istringstream in(cluster.masterGet("/metrics"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(sample + " ", 0) == 0) return std::stol(line.substr(sample.size() + 1));
  }
  return -1;
}

// Removes a task's containers when the test leaves, even after a failed
// assertion: the cluster's teardown kills its agent and executors with
// SIGKILL, which would leave a running container holding its host port.
struct ContainerSweeper {
  std::string taskId;
  ~ContainerSweeper() {
    docker::Client client;
    auto left = client.list({{"clusternodes.task-id", taskId}});
    if (!left) return;
    for (const auto& container : *left) (void)client.remove(container.id);
  }
};

void startCluster(TestCluster& cluster) {
  cluster.startMaster();
  agentFirstPort = freePorts(kAgentPorts);
  cluster.startAgent("cpus:2;mem:1024;disk:1024;ports:[" + std::to_string(agentFirstPort) + "-" +
                     std::to_string(agentFirstPort + kAgentPorts - 1) + "]");
  cluster.waitForAgents(1);
}

}  // namespace

TEST_CASE("cli run: a container's stdout and stderr arrive apart, and its exit status is the command's") {
  REQUIRE_DOCKER();
  TestCluster cluster;
  startCluster(cluster);

  auto failing = runSplit(
      runArgv(cluster, kDockerTestImage, {"--", "sh", "-c", "echo out-line; echo err-line >&2; exit 3"}));
  INFO("stderr: " << failing.err);
  CHECK(failing.exitCode == 3);
  CHECK(failing.out == "out-line\n");
  CHECK(failing.err.find("err-line\n") != std::string::npos);
  CHECK(failing.err.find("clusternodes: task run-") != std::string::npos);

  const std::string name = uniqueId("truth");
  auto succeeding = runSplit(runArgv(cluster, kDockerTestImage, {"--name=" + name, "--", "true"}));
  INFO("stderr: " << succeeding.err);
  CHECK(succeeding.exitCode == 0);
  CHECK(succeeding.out.empty());
  CHECK(succeeding.err.find("clusternodes: task " + name + " on agent ") != std::string::npos);
}

TEST_CASE("cli run: a container that never runs exits 125 naming the missing image, 127 for a missing command") {
  REQUIRE_DOCKER();
  TestCluster cluster;
  startCluster(cluster);

  const std::string image = "clusternodes/no-such-image-" + std::to_string(::getpid()) + ":1.0";
  auto missingImage = runSplit(runArgv(cluster, image, {"--", "true"}), 120s);
  INFO("stderr: " << missingImage.err);
  CHECK(missingImage.exitCode == 125);
  CHECK(missingImage.err.find(image) != std::string::npos);
  CHECK(missingImage.err.find("REASON_IMAGE_UNAVAILABLE") != std::string::npos);

  auto missingCommand = runSplit(runArgv(cluster, kDockerTestImage, {"--", "/no/such/command"}));
  INFO("stderr: " << missingCommand.err);
  CHECK(missingCommand.exitCode == 127);
  CHECK(missingCommand.err.find("REASON_COMMAND_NOT_FOUND") != std::string::npos);
}

TEST_CASE("cli run: --env reaches the container, --port publishes it, and Ctrl-C kills the task") {
  REQUIRE_DOCKER();
  TestCluster cluster;
  startCluster(cluster);

  auto greeting = runSplit(
      runArgv(cluster, kDockerTestImage, {"--env", "GREETING=hello there", "--", "sh", "-c", "echo $GREETING"}));
  INFO("stderr: " << greeting.err);
  CHECK(greeting.exitCode == 0);
  CHECK(greeting.out == "hello there\n");

  // The shell leaves on SIGTERM with 143, as a process killed by it would.
  const std::string id = uniqueId("web");
  ContainerSweeper sweeper{id};
  const std::string log = cluster.dir() + "/run-web.log";
  Process cli(runArgv(cluster, kDockerTestImage,
                      {"--port", "8080", "--name=" + id, "--", "sh", "-c",
                       "mkdir -p /www && echo served-by-run > /www/index.html && trap 'exit 143' TERM; "
                       "httpd -f -p 8080 -h /www & wait"}),
              log);
  std::smatch found;
  const std::regex announced("task " + id + " on agent \\S+ \\(container port 8080/tcp at host port (\\d+)\\)");
  std::string text;
  REQUIRE(eventually(
      [&] {
        text = slurp(log);
        return std::regex_search(text, found, announced);
      },
      60s));
  const int hostPort = std::stoi(found[1].str());
  CHECK(hostPort >= agentFirstPort);
  CHECK(hostPort < agentFirstPort + kAgentPorts);

  // The master holds the same mapping (once it has taken the launch, which
  // the line announces as sent).
  nlohmann::json mapping;
  REQUIRE(eventually([&] {
    const auto state = cluster.state();
    for (const auto& task : state["tasks"]) {
      if (task["id"] == id) mapping = task["docker"]["port_mappings"];
    }
    return mapping.is_array();
  }));
  REQUIRE(mapping.size() == 1);
  CHECK(mapping[0]["host_port"] == hostPort);
  CHECK(mapping[0]["container_port"] == 8080);
  CHECK(mapping[0]["protocol"] == "tcp");

  const std::string url = "http://127.0.0.1:" + std::to_string(hostPort) + "/index.html";
  CHECK(eventually(
      [&] {
        auto page = httpGet(url, 2);
        return page && page->status == 200 && page->body == "served-by-run\n";
      },
      30s));

  cli.signal(SIGINT);
  int status = cli.wait(30s);
  text = slurp(log);
  INFO("output: " << text);
  REQUIRE(status != -1);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 143);
  CHECK(text.find("clusternodes: killing task " + id) != std::string::npos);
  // The master counted the task killed; its framework left with it, which
  // takes the framework's completed tasks off /state.
  CHECK(metric(cluster, "clusternodes_master_tasks_terminal_total{state=\"TASK_KILLED\"}") == 1);
  CHECK(eventually([&] { return cluster.state()["frameworks"].empty(); }, 10s));
  docker::Client client;
  CHECK(eventually(
      [&] {
        auto left = client.list({{"clusternodes.task-id", id}});
        return left && left->empty();
      },
      30s));
}

TEST_CASE("cli run: --timeout gives up when no offer fits") {
  TestCluster cluster;
  startCluster(cluster);
  auto result = runSplit(runArgv(cluster, kDockerTestImage, {"--cpus=64", "--timeout=1", "--", "true"}), 30s);
  CHECK(result.exitCode == 1);
  CHECK(result.err == "clusternodes: no agent offered cpus:64;mem:64 within 1 s\n");
  CHECK(result.out.empty());
  CHECK(eventually([&] { return cluster.state()["frameworks"].empty(); }, 10s));
}

TEST_CASE("cli run: bad flags exit 2 with a one-line reason, and no master exits 1 saying what to do") {
  const std::string cli = binary("clusternodes");
  const std::vector<std::vector<std::string>> bad = {
      {"--", "true"},  // no image
      {"--image=x", "--cpus=0"},
      {"--image=x", "--cpus=lots"},
      {"--image=x", "--mem=-5"},
      {"--image=x", "--env=NOEQUALS"},
      {"--image=x", "--env==value"},
      {"--image=x", "--port=0"},
      {"--image=x", "--port=70000"},
      {"--image=x", "--port=80/sctp"},
      {"--image=x", "--port=http"},
      {"--image=x", "--timeout=-1"},
      {"--image=x", "--master=no-port"},
  };
  for (const auto& flags : bad) {
    std::vector<std::string> argv = {cli, "run"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    std::string joined;
    for (const auto& f : flags) joined += f + " ";
    CAPTURE(joined);
    auto result = runSplit(argv, 20s);
    CHECK(result.exitCode == 2);
    CHECK(lineCount(result.err) == 1);
    CHECK(result.err.rfind("clusternodes: ", 0) == 0);
    CHECK(result.out.empty());
  }

  TempDir empty("cn-run-none");
  auto none = runSplit({cli, "run", "--image=x", "--work-dir=" + empty.path, "--", "true"}, 20s);
  CHECK(none.exitCode == 1);
  CHECK(none.err.find("no local cluster is running") != std::string::npos);
}
