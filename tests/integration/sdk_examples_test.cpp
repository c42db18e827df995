// The SDK guide's programs (examples/sdk/) against a real cluster, and the
// guide itself: each code block that names an example file must be that
// file, byte for byte, so that what users copy is what is built and tested.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/utsname.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "tests/harness/cluster.hpp"
#include "tests/harness/text.hpp"

using namespace clusternodes::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const std::string kSourceDir = CN_SOURCE_DIR;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string hostname() {
  struct utsname name {};
  ::uname(&name);
  return name.nodename;
}

// The stdout files under an agent's sandboxes whose path has `part` in it
// (".../hello-0/RUN/stdout" for part "/hello-0/").
std::vector<std::string> sandboxStdouts(const TestCluster& cluster, size_t agent, const std::string& part) {
  std::vector<std::string> out;
  fs::path root = cluster.dir() + "/agent-" + std::to_string(agent) + "/sandboxes";
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    std::string path = it->path().string();
    if (it->path().filename() == "stdout" && contains(path, part)) out.push_back(path);
  }
  return out;
}

// A sample's value in the master's /metrics ("name{label=\"v\"}"), or -1.
double masterMetric(const TestCluster& cluster, const std::string& sample) {
  for (const auto& line : lines(cluster.masterGet("/metrics"))) {
    if (line.rfind(sample + " ", 0) == 0) return std::stod(line.substr(sample.size() + 1));
  }
  return -1;
}

// Nothing left of a framework that ended: no framework, no task, nothing used.
bool clusterIsIdle(const TestCluster& cluster) {
  auto state = cluster.state();
  if (!state.is_object() || !state["frameworks"].empty() || !state["tasks"].empty()) return false;
  for (const auto& agent : state["agents"]) {
    if (agent["used_resources"].value("cpus", 0.0) != 0 || agent["used_resources"].value("mem", 0.0) != 0) {
      return false;
    }
  }
  return true;
}

// The code blocks of a Markdown file whose info string names a file
// ("```cpp examples/sdk/hello_scheduler.cpp"), by that file.
std::map<std::string, std::string> namedCodeBlocks(const std::string& markdown) {
  std::map<std::string, std::string> blocks;
  std::string name;
  std::string body;
  bool inBlock = false;
  for (const auto& line : lines(markdown)) {
    if (line.rfind("```", 0) != 0) {
      if (inBlock) body += line + "\n";
      continue;
    }
    if (inBlock) {
      if (!name.empty()) blocks[name] = body;
      inBlock = false;
      continue;
    }
    inBlock = true;
    body.clear();
    auto space = line.find(' ');
    name = space == std::string::npos ? "" : line.substr(space + 1);
  }
  return blocks;
}

}  // namespace

TEST_CASE("sdk examples: hello-scheduler runs its three tasks on an agent that fits and exits 0") {
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent("cpus:0.05;mem:16;disk:16");  // too small for a task: its offers are declined
  cluster.startAgent("cpus:1;mem:256;disk:256");
  cluster.waitForAgents(2);

  auto result = runProgram({binary("hello-scheduler"), cluster.master()}, 60s);
  INFO(result.output);
  CHECK(result.exitCode == 0);
  for (std::string id : {"hello-0", "hello-1", "hello-2"}) {
    CHECK(contains(result.output, id + " TASK_RUNNING"));
    CHECK(contains(result.output, id + " TASK_FINISHED command exited with status 0\n"));
    // It ran on the agent that fits, and its sandbox holds what it printed.
    CHECK(sandboxStdouts(cluster, 0, "/" + id + "/").empty());
    auto stdoutFiles = sandboxStdouts(cluster, 1, "/" + id + "/");
    REQUIRE(stdoutFiles.size() == 1);
    CHECK(readFile(stdoutFiles[0]) == "hello from " + id + " on " + hostname() + "\n");
  }
  // The master saw all three finish; the framework then tore itself down.
  CHECK(masterMetric(cluster, "clusternodes_master_tasks_terminal_total{state=\"TASK_FINISHED\"}") == 3);
  CHECK(eventually([&] { return clusterIsIdle(cluster); }));
  CHECK(cluster.state()["metrics"]["frameworks_removed"] == 1);
}

TEST_CASE("sdk examples: hello-executor-scheduler runs its tasks through hello-executor") {
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent("cpus:1;mem:256;disk:256");
  cluster.waitForAgents(1);

  // hello-executor is found beside the scheduler, as a user runs it.
  auto result = runProgram({binary("hello-executor-scheduler"), cluster.master()}, 60s);
  INFO(result.output);
  CHECK(result.exitCode == 0);
  std::map<std::string, std::string> greeted = {{"greet-0", "Ada"}, {"greet-1", "Grace"}, {"greet-2", "Barbara"}};
  for (const auto& [id, name] : greeted) {
    CHECK(contains(result.output, id + " TASK_RUNNING"));
    // The greeting is the executor's answer, in the status update's data.
    CHECK(contains(result.output, id + " TASK_FINISHED hello, " + name + "!\n"));
  }

  // The executor's framework message reached the scheduler.
  std::string prefix = "message from executor hello: executor hello is up on " + hostname() + " as pid ";
  auto at = result.output.find(prefix);
  REQUIRE(at != std::string::npos);
  int pid = std::stoi(result.output.substr(at + prefix.size()));
  CHECK(cluster.state()["metrics"]["framework_messages"] == 1);

  // One executor ran all three, in its own sandbox, and printed there.
  auto stdoutFiles = sandboxStdouts(cluster, 0, "/executors/hello/");
  REQUIRE(stdoutFiles.size() == 1);
  std::string executorOutput = readFile(stdoutFiles[0]);
  for (const auto& [id, name] : greeted) CHECK(contains(executorOutput, "greeting " + name + " for " + id + "\n"));
  CHECK(sandboxStdouts(cluster, 0, "/greet-").empty());  // no command executor was involved

  // It ended with its framework.
  CHECK(eventually([&] { return ::kill(pid, 0) != 0; }));
  CHECK(eventually([&] { return cluster.state()["metrics"]["executors_exited"] == 1; }));
  CHECK(eventually([&] { return clusterIsIdle(cluster); }));
}

TEST_CASE("sdk examples: the SDK guide shows the example programs as they are") {
  std::string guide = readFile(kSourceDir + "/docs/sdk-guide.md");
  REQUIRE(!guide.empty());
  auto blocks = namedCodeBlocks(guide);
  for (std::string shown : {"examples/sdk/hello_scheduler.cpp", "examples/sdk/hello_executor.cpp",
                            "examples/sdk/hello_executor_scheduler.cpp"}) {
    CHECK_MESSAGE(blocks.count(shown) == 1, "the guide does not show " << shown);
  }
  for (const auto& [name, body] : blocks) {
    INFO(name);
    std::string file = readFile(kSourceDir + "/" + name);
    REQUIRE_MESSAGE(!file.empty(), "the guide shows " << name << ", which cannot be read");
    CHECK_MESSAGE(body == file, "the guide's copy of " << name << " differs from the file: copy the file into it");
  }

  // The guide's promise: a scheduler in under 60 lines, and it says how many.
  size_t count = lines(readFile(kSourceDir + "/examples/sdk/hello_scheduler.cpp")).size();
  CHECK(count < 60);
  CHECK_MESSAGE(contains(guide, "is " + std::to_string(count) + " lines"),
                "the guide should say that hello_scheduler.cpp is " << count << " lines");
}
