// clusternodes-mapreduce on a real cluster (a master and two agents on
// loopback), checked against coreutils: wordcount of a real text from a
// Debian package, terasort validated for several reducers, a streaming job
// with coreutils mapper and reducer, an executor killed mid-job, and a mapper
// that always fails.
#include <doctest/doctest.h>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/http_auth.hpp"
#include "tests/harness/cluster.hpp"
#include "tests/harness/hosts.hpp"
#include "tests/harness/masters.hpp"
#include "tests/harness/text.hpp"
#include "tests/harness/tls_files.hpp"
#include "tests/harness/zookeeper.hpp"

using namespace clusternodes;
using namespace clusternodes::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// The fortunes package's texts (fortune(6)'s databases): several megabytes of
// real English, installed by scripts/setup.sh.
const char* kFortunes = "/usr/share/games/fortunes";

// A directory of text: every fortunes database, `copies` times over.
std::string textInput(const std::string& dir, int copies) {
  std::string input = dir + "/text";
  fs::create_directories(input);
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(kFortunes)) {
    auto name = entry.path().filename().string();
    if (entry.is_regular_file() && entry.path().extension().empty() && name.find('.') == std::string::npos) {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() > 10);
  for (int copy = 0; copy < copies; ++copy) {
    for (const auto& file : files) {
      fs::copy_file(file, input + "/" + std::to_string(copy) + "-" + file.filename().string());
    }
  }
  return input;
}

uint64_t directoryBytes(const std::string& dir) {
  uint64_t bytes = 0;
  for (const auto& entry : fs::directory_iterator(dir)) bytes += entry.file_size();
  return bytes;
}

// Every part-r-* file of `output`, concatenated in name order.
std::string jobOutput(const std::string& output) { return partFiles(output, "part-r-"); }

// "word<TAB>count" lines as a map.
std::map<std::string, long> counts(const std::string& text) {
  std::map<std::string, long> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto tab = line.find('\t');
    REQUIRE_MESSAGE(tab != std::string::npos, "no tab in output line '" << line << "'");
    out[line.substr(0, tab)] += std::stol(line.substr(tab + 1));
  }
  return out;
}

// The coreutils reference: words are runs of letters, lowercased, counted by
// sort | uniq -c.
std::map<std::string, long> referenceWordCount(const std::string& input) {
  auto result = runProgram({"/bin/sh", "-c",
                            "cat '" + input + "'/* | tr -cs 'A-Za-z' '\\n' | tr 'A-Z' 'a-z' | grep -v '^$' | "
                            "LC_ALL=C sort | uniq -c | sed -E 's/^ *([0-9]+) (.*)$/\\2\\t\\1/'"},
                           120s);
  REQUIRE(result.exitCode == 0);
  return counts(result.output);
}

class MapReduceCluster {
 public:
  // `agentFlags(dir)` gives flags for both agents, from the cluster's
  // directory (where it may make their certificates).
  explicit MapReduceCluster(const std::function<std::vector<std::string>(const std::string&)>& agentFlags = {}) {
    cluster.startMaster();
    std::vector<std::string> extra = agentFlags ? agentFlags(cluster.dir()) : std::vector<std::string>{};
    auto with = [&](const std::string& attribute) {
      std::vector<std::string> flags = {attribute};
      flags.insert(flags.end(), extra.begin(), extra.end());
      return flags;
    };
    cluster.startAgent("cpus:2;mem:2048;disk:4096", with("--attributes=host:a"));
    cluster.startAgent("cpus:2;mem:2048;disk:4096", with("--attributes=host:b"));
    cluster.waitForAgents(2);
  }

  // The program with `args`, and the tests' defaults for the options `args`
  // does not give.
  std::vector<std::string> command(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {binary("clusternodes-mapreduce"), "--master=" + cluster.master()};
    // Memory for the sanitizer builds too, whose executors use several times
    // more (ASan's shadow and quarantine).
    for (std::string option : {"--task-mem=512", "--executor-mem=256", "--locality-delay=200ms"}) {
      std::string name = option.substr(0, option.find('=') + 1);
      bool given = std::any_of(args.begin(), args.end(), [&](const std::string& a) { return a.rfind(name, 0) == 0; });
      if (!given) argv.push_back(option);
    }
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  ProgramResult run(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 240s) const {
    auto result = runProgram(command(args), timeout);
    INFO("output: " << result.output);
    return result;
  }

  TestCluster cluster;
};

}  // namespace

TEST_CASE("wordcount of several megabytes of real text equals coreutils' count") {
  MapReduceCluster mr;
  std::string input = textInput(mr.cluster.dir(), 2);
  CHECK(directoryBytes(input) > 4'000'000);
  std::string output = mr.cluster.dir() + "/wordcount";
  auto result = mr.run({"--reducers=3", "--split-size=1M", "wordcount", input, output});
  REQUIRE_MESSAGE(result.exitCode == 0, result.output);
  CHECK(fs::exists(output + "/_SUCCESS"));
  CHECK(fs::exists(output + "/part-r-00002"));
  CHECK_FALSE(fs::exists(output + "/part-r-00003"));
  auto got = counts(jobOutput(output));
  auto want = referenceWordCount(input);
  CHECK(got.size() == want.size());
  CHECK(got == want);
  CHECK(want.at("the") > 10000);
  // The summary names what was done.
  CHECK(result.output.find("data-local maps") != std::string::npos);

  // An existing output is refused, not overwritten.
  auto again = mr.run({"wordcount", input, output}, 30s);
  CHECK(again.exitCode != 0);
  CHECK(again.output.find(output) != std::string::npos);
}

TEST_CASE("wordcount over agents that serve HTTPS and want a token for every read: the executors fetch with the "
          "CA and the token the job was given") {
  std::string token = generateHttpToken();
  std::string ca;
  MapReduceCluster mr([&](const std::string& dir) {
    std::string certs = dir + "/tls";
    fs::create_directories(certs);
    ca = makeTlsCa(certs);
    auto files = makeTlsFiles(certs, "agents");
    REQUIRE(addHttpToken(dir + "/http-tokens.toml", "mapreduce", token));
    return std::vector<std::string>{"--tls-cert=" + files.cert, "--tls-key=" + files.key,
                                    "--http-credentials=" + dir + "/http-tokens.toml", "--http-authenticate=all"};
  });
  REQUIRE(mr.cluster.agentHttp(0).rfind("https://", 0) == 0);
  std::string input = textInput(mr.cluster.dir(), 1);
  std::string output = mr.cluster.dir() + "/wordcount";
  ::setenv("CLUSTERNODES_CA", ca.c_str(), 1);
  ::setenv("CLUSTERNODES_TOKEN", token.c_str(), 1);
  auto result = mr.run({"--reducers=2", "--split-size=512K", "wordcount", input, output});
  ::unsetenv("CLUSTERNODES_CA");
  ::unsetenv("CLUSTERNODES_TOKEN");
  REQUIRE_MESSAGE(result.exitCode == 0, result.output);
  CHECK(counts(jobOutput(output)) == referenceWordCount(input));
}

TEST_CASE("terasort output validates for several reducers") {
  MapReduceCluster mr;
  std::string input = mr.cluster.dir() + "/tera-in";
  auto gen = runProgram({binary("clusternodes-mapreduce"), "teragen", "30000", input, "--files=3"}, 60s);
  REQUIRE_MESSAGE(gen.exitCode == 0, gen.output);
  for (int reducers : {1, 3, 5}) {
    INFO("reducers: " << reducers);
    std::string output = mr.cluster.dir() + "/tera-out-" + std::to_string(reducers);
    auto sorted = mr.run({"--reducers=" + std::to_string(reducers), "--split-size=512K", "terasort", input, output});
    REQUIRE_MESSAGE(sorted.exitCode == 0, sorted.output);
    auto valid = runProgram({binary("clusternodes-mapreduce"), "teravalidate", output, "--input=" + input}, 60s);
    CHECK_MESSAGE(valid.exitCode == 0, valid.output);
    // The same bytes as sorting the input with GNU sort.
    auto reference = runProgram({"/bin/sh", "-c", "cat '" + input + "'/part-* | LC_ALL=C sort -s -k1.1,1.10 | md5sum"});
    auto ours = runProgram({"/bin/sh", "-c", "cat '" + output + "'/part-r-* | md5sum"});
    CHECK(ours.output == reference.output);
  }
  // teravalidate notices a broken order.
  std::string broken = mr.cluster.dir() + "/tera-out-3/part-r-00001";
  std::string text = readFile(broken);
  REQUIRE(text.size() >= 200);
  std::ofstream(broken, std::ios::binary) << text.substr(100, 100) << text.substr(0, 100) << text.substr(200);
  auto invalid = runProgram({binary("clusternodes-mapreduce"), "teravalidate", mr.cluster.dir() + "/tera-out-3"});
  CHECK(invalid.exitCode != 0);
}

TEST_CASE("a streaming job with coreutils mapper and reducer gives the built-in wordcount's answer") {
  MapReduceCluster mr;
  std::string input = textInput(mr.cluster.dir(), 1);
  std::string builtIn = mr.cluster.dir() + "/builtin";
  REQUIRE(mr.run({"--reducers=2", "--split-size=1M", "wordcount", input, builtIn}).exitCode == 0);
  std::string streamed = mr.cluster.dir() + "/streamed";
  auto result = mr.run({"--reducers=2", "--split-size=1M", "streaming", "-mapper",
                        "tr -cs 'A-Za-z' '\\n' | tr 'A-Z' 'a-z' | grep -v '^$'", "-reducer",
                        "uniq -c | sed -E 's/^ *([0-9]+) (.*)$/\\2\\t\\1/'", input, streamed});
  REQUIRE_MESSAGE(result.exitCode == 0, result.output);
  auto got = counts(jobOutput(streamed));
  CHECK(got.size() > 1000);
  CHECK(got == counts(jobOutput(builtIn)));
}

TEST_CASE("killing an executor in the middle of a job still gives the right answer") {
  MapReduceCluster mr;
  std::string input = textInput(mr.cluster.dir(), 3);
  std::string output = mr.cluster.dir() + "/survivor";
  // Small splits and a streaming mapper that takes its time keep the job
  // going long enough to kill an executor with maps done and maps to do.
  auto job = std::make_unique<Process>(
      mr.command({"--reducers=2", "--split-size=256K", "streaming", "-mapper",
                  "sleep 0.3; tr -cs 'A-Za-z' '\\n' | tr 'A-Z' 'a-z' | grep -v '^$'", "-reducer",
                  "uniq -c | sed -E 's/^ *([0-9]+) (.*)$/\\2\\t\\1/'", input, output}),
      mr.cluster.dir() + "/job.log");
  // Wait until the first agent's executor has finished some maps.
  int pid = 0;
  REQUIRE(eventually(
      [&] {
        auto state = mr.cluster.state();
        int finished = 0;
        for (const auto& task : state["completed_tasks"]) finished += task["state"] == "TASK_FINISHED" ? 1 : 0;
        auto agent = mr.cluster.agentState(0);
        if (finished < 4 || !agent.is_object() || agent["executors"].empty()) return false;
        pid = agent["executors"][0]["pid"];
        return true;
      },
      120s));
  REQUIRE(pid > 0);
  ::kill(pid, SIGKILL);
  int status = job->wait(240s);
  std::string log = readFile(mr.cluster.dir() + "/job.log");
  INFO("job output: " << log);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  CHECK(counts(jobOutput(output)) == referenceWordCount(input));
  // The lost executor's work was done again: the summary's line (progress
  // lines have it too, indented) counts the failed attempts.
  auto summary = log.find("\nfailed attempts ");
  REQUIRE(summary != std::string::npos);
  CHECK(std::stol(log.substr(summary + std::string("\nfailed attempts ").size())) >= 1);
}

TEST_CASE("a mapper that always fails ends the job with an error naming the task") {
  MapReduceCluster mr;
  std::string input = textInput(mr.cluster.dir(), 1);
  std::string output = mr.cluster.dir() + "/never";
  auto result = mr.run({"--reducers=1", "--split-size=64M", "streaming", "-mapper", "echo broken >&2; exit 3",
                        "-reducer", "cat", input, output});
  CHECK(result.exitCode == 1);
  CHECK(result.output.find("job failed") != std::string::npos);
  CHECK(result.output.find("map task m-") != std::string::npos);
  CHECK(result.output.find("4 times") != std::string::npos);
  CHECK(result.output.find("broken") != std::string::npos);
  CHECK_FALSE(fs::exists(output + "/_SUCCESS"));
}

TEST_CASE("maps run where their input is when it is offered within the locality delay") {
  MapReduceCluster mr;
  std::string input = textInput(mr.cluster.dir(), 1);
  // Every file lives on one of the two hosts (the agents' "host" attribute).
  std::string locations = mr.cluster.dir() + "/locations";
  {
    std::ofstream out(locations);
    int i = 0;
    for (const auto& entry : fs::directory_iterator(input)) {
      out << entry.path().string() << "\t" << (i++ % 2 == 0 ? "a" : "b") << "\n";
    }
  }
  std::string output = mr.cluster.dir() + "/local";
  auto result = mr.run({"--reducers=1", "--split-size=512K", "--locations=" + locations, "--locality-attribute=host",
                        "--locality-delay=30s", "wordcount", input, output});
  REQUIRE_MESSAGE(result.exitCode == 0, result.output);
  auto at = result.output.find("data-local maps ");
  REQUIRE(at != std::string::npos);
  std::istringstream line(result.output.substr(at + std::string("data-local maps ").size()));
  long local = 0, launched = 0;
  char slash = 0;
  line >> local >> slash >> launched;
  CHECK(launched >= 10);
  CHECK(local == launched);
  CHECK(counts(jobOutput(output)) == referenceWordCount(input));
}

TEST_CASE("wordcount across three hosts, its master elected through ZooKeeper, equals coreutils' count") {
  // Three network namespaces on a bridge: ZooKeeper on host 2, masters on
  // hosts 0 and 1, an agent on each; the job's executors fetch map output
  // from each other's hosts. The hosts share this machine's filesystem, as
  // agents would share NFS.
  Hosts hosts(3);
  TestCluster cluster;
  ZooKeeperServerConfig config;
  config.dir = cluster.dir() + "/zk";
  config.clientAddress = hosts.ip(2);
  config.clientPort = 2181;
  ZooKeeperServer zk(config, true, hosts.launcher(2));
  zk.awaitServing();
  std::string url = "zk://" + zk.connectString() + "/clusternodes";
  MasterGroup masters(cluster.dir(), url);
  masters.start(hosts.ip(0), hosts.launcher(0));
  masters.start(hosts.ip(1), hosts.launcher(1));
  size_t leader = masters.awaitLeader();
  for (size_t host = 0; host < 3; ++host) {
    cluster.startAgent("cpus:2;mem:2048;disk:4096",
                       {"--master=" + url, "--ip=" + hosts.ip(host), "--attributes=host:" + std::to_string(host)},
                       hosts.launcher(host));
  }
  REQUIRE(eventually([&] { return masters.state(leader)["agents"].size() == 3; }, 30s));

  std::string input = textInput(cluster.dir(), 1);
  std::string output = cluster.dir() + "/wordcount";
  auto result = runProgram({binary("clusternodes-mapreduce"), "--master=" + url, "--task-mem=512",
                            "--executor-mem=256", "--locality-delay=200ms", "--reducers=3", "--split-size=256K",
                            "wordcount", input, output},
                           240s);
  INFO("output: " << result.output);
  REQUIRE(result.exitCode == 0);
  auto got = counts(jobOutput(output));
  auto want = referenceWordCount(input);
  CHECK(got.size() == want.size());
  CHECK(got == want);
  // Its executors ran on every host: each agent has the job's sandbox.
  for (size_t host = 0; host < 3; ++host) {
    int executors = 0;
    for (const auto& framework : fs::directory_iterator(cluster.dir() + "/agent-" + std::to_string(host) + "/sandboxes")) {
      executors += fs::exists(framework.path() / "executors" / "mr-tasktracker") ? 1 : 0;
    }
    CHECK_MESSAGE(executors == 1, "host " << host);
  }
}
