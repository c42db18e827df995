// The Spark-style framework on a real cluster (a master and two agents on
// loopback): its example programs and a test program, each the driver and,
// started by the agents, its own executors. Word count against coreutils,
// answers that do not depend on partitions or executors, page rank against a
// reference computed here, the cache keeping later iterations off the input,
// an executor killed mid-job, and failures that name their cause.
#include <doctest/doctest.h>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/harness/cluster.hpp"
#include "tests/harness/text.hpp"

using namespace clusternodes;
using namespace clusternodes::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const char* kFortunes = "/usr/share/games/fortunes";

// One file of real English: every fortunes database, `copies` times over.
std::string textFile(const std::string& dir, int copies) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(kFortunes)) {
    auto name = entry.path().filename().string();
    if (entry.is_regular_file() && name.find('.') == std::string::npos) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() > 10);
  std::string path = dir + "/text-" + std::to_string(copies) + ".txt";
  std::ofstream out(path, std::ios::binary);
  for (int copy = 0; copy < copies; ++copy) {
    for (const auto& file : files) out << readFile(file.string());
  }
  return path;
}

// Every part-* file of a saved dataset, concatenated in name order.
std::string savedOutput(const std::string& dir) { return partFiles(dir, "part-"); }

// "word<TAB>count" lines as a map; a word twice is an error.
std::map<std::string, long> counts(const std::string& text) {
  std::map<std::string, long> out;
  for (const auto& line : lines(text)) {
    auto tab = line.find('\t');
    REQUIRE_MESSAGE(tab != std::string::npos, "no tab in output line '" << line << "'");
    bool fresh = out.emplace(line.substr(0, tab), std::stol(line.substr(tab + 1))).second;
    REQUIRE_MESSAGE(fresh, "word '" << line.substr(0, tab) << "' twice in the output");
  }
  return out;
}

std::map<std::string, long> referenceWordCount(const std::string& input) {
  auto result = runProgram({"/bin/sh", "-c",
                            "tr -cs 'A-Za-z' '\\n' < '" + input + "' | tr 'A-Z' 'a-z' | grep -v '^$' | "
                            "LC_ALL=C sort | uniq -c | sed -E 's/^ *([0-9]+) (.*)$/\\2\\t\\1/'"},
                           120s);
  REQUIRE(result.exitCode == 0);
  return counts(result.output);
}

// Every number after `label` in `text`, in order: "(\d+) source reads".
std::vector<long> numbersBefore(const std::string& text, const std::string& label) {
  std::vector<long> out;
  std::regex re("(\\d+) " + label);
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it) {
    out.push_back(std::stol((*it)[1]));
  }
  return out;
}

class SparkCluster {
 public:
  SparkCluster() {
    cluster.startMaster();
    cluster.startAgent("cpus:2;mem:2048;disk:4096");
    cluster.startAgent("cpus:2;mem:2048;disk:4096");
    cluster.waitForAgents(2);
  }

  // `program` with the cluster's master, 512 MiB executors (the sanitizer
  // builds need several times a plain build's memory) unless `args` says
  // otherwise, and `args`.
  std::vector<std::string> command(const std::string& program, const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {binary(program), "--master=" + cluster.master()};
    bool memGiven = std::any_of(args.begin(), args.end(),
                                [](const std::string& a) { return a.rfind("--executor-mem=", 0) == 0; });
    if (!memGiven) argv.push_back("--executor-mem=512");
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  ProgramResult run(const std::string& program, const std::vector<std::string>& args,
                    std::chrono::milliseconds timeout = 240s) const {
    auto result = runProgram(command(program, args), timeout);
    INFO("output: " << result.output);
    return result;
  }

  TestCluster cluster;
};

// A graph of `pages` pages, each line "PAGE LINK...": a few links each,
// some pages with none, some linked to by nobody.
std::string writeGraph(const std::string& path, int pages) {
  std::ofstream out(path);
  for (int i = 0; i < pages; ++i) {
    out << "p" << i;
    int links = (i * 7) % 9;
    for (int k = 0; k < links; ++k) out << " p" << (i * 31 + k * 17 + 5) % (pages + 40);  // beyond `pages`: no line
    out << "\n";
  }
  return path;
}

// The same iterations as clusternodes-spark-pagerank, in one process.
std::map<std::string, double> referencePageRank(const std::string& graph, int iterations) {
  std::map<std::string, std::vector<std::string>> links;
  for (const auto& line : lines(readFile(graph))) {
    std::istringstream in(line);
    std::string page, link;
    if (!(in >> page)) continue;
    auto& out = links[page];
    while (in >> link) out.push_back(link);
  }
  std::map<std::string, double> ranks;
  for (const auto& [page, out] : links) ranks[page] = 1.0;
  for (int i = 0; i < iterations; ++i) {
    std::map<std::string, double> received;
    for (const auto& [page, out] : links) {
      auto rank = ranks.find(page);
      if (rank == ranks.end()) continue;
      received[page] += 0.0;
      for (const auto& link : out) received[link] += rank->second / static_cast<double>(out.size());
    }
    ranks.clear();
    for (const auto& [page, sum] : received) ranks[page] = 0.15 + 0.85 * sum;
  }
  return ranks;
}

std::map<std::string, double> savedRanks(const std::string& dir) {
  std::map<std::string, double> out;
  for (const auto& line : lines(savedOutput(dir))) {
    auto tab = line.find('\t');
    REQUIRE(tab != std::string::npos);
    out[line.substr(0, tab)] = std::stod(line.substr(tab + 1));
  }
  return out;
}

void checkRanks(const std::map<std::string, double>& got, const std::map<std::string, double>& want) {
  REQUIRE(got.size() == want.size());
  int off = 0;
  for (const auto& [page, rank] : want) {
    auto it = got.find(page);
    if (it == got.end() || std::fabs(it->second - rank) > 1e-9 * std::max(1.0, rank)) {
      if (++off <= 5) MESSAGE("page " << page << ": want " << rank << ", got " << (it == got.end() ? -1 : it->second));
    }
  }
  CHECK(off == 0);
}

}  // namespace

TEST_CASE("spark word count of several megabytes of real text equals coreutils' count") {
  SparkCluster spark;
  std::string input = textFile(spark.cluster.dir(), 2);
  CHECK(fs::file_size(input) > 4'000'000);
  std::string output = spark.cluster.dir() + "/wordcount";
  auto result = spark.run("clusternodes-spark-wordcount", {"--partitions=6", input, output});
  REQUIRE_MESSAGE(result.exitCode == 0, result.output);
  CHECK(fs::exists(output + "/_SUCCESS"));
  auto got = counts(savedOutput(output));
  auto want = referenceWordCount(input);
  CHECK(got.size() == want.size());
  CHECK(got == want);
  CHECK(want.at("the") > 10000);
  // Both agents ran an executor, and the run says what it did.
  CHECK(result.output.find("2 executors (0 lost)") != std::string::npos);
  CHECK(result.output.find("stage ") != std::string::npos);
  CHECK(result.output.find("6/6 tasks") != std::string::npos);

  // An existing output is refused, not overwritten.
  auto again = spark.run("clusternodes-spark-wordcount", {input, output}, 60s);
  CHECK(again.exitCode == 1);
  CHECK(again.output.find("exists") != std::string::npos);
  CHECK(counts(savedOutput(output)) == want);
}

TEST_CASE("spark answers do not depend on the number of partitions or executors") {
  SparkCluster spark;
  std::string input = textFile(spark.cluster.dir(), 1);
  auto want = referenceWordCount(input);
  struct Setup {
    std::vector<std::string> flags;
    std::string executors;
  };
  std::vector<Setup> setups = {
      {{"--partitions=1", "--max-executors=1"}, "1 executors"},
      {{"--partitions=7"}, "2 executors"},
      {{"--partitions=23", "--executor-cpus=2"}, "2 executors"},
  };
  int n = 0;
  for (const auto& setup : setups) {
    INFO("flags: " << setup.flags[0]);
    std::string output = spark.cluster.dir() + "/wc-" + std::to_string(n++);
    auto args = setup.flags;
    args.push_back(input);
    args.push_back(output);
    auto result = spark.run("clusternodes-spark-wordcount", args);
    REQUIRE_MESSAGE(result.exitCode == 0, result.output);
    CHECK(result.output.find(setup.executors + " (0 lost)") != std::string::npos);
    CHECK(counts(savedOutput(output)) == want);
  }

  // A join of two files, sorted by key: the same bytes whichever way it ran.
  std::string left = spark.cluster.dir() + "/left.txt";
  std::string right = spark.cluster.dir() + "/right.txt";
  {
    std::ofstream l(left), r(right);
    for (int i = 0; i < 3000; ++i) l << "k" << (i * 13) % 1000 << " left-" << i << "\n";
    for (int i = 0; i < 2000; ++i) r << "k" << (i * 7) % 1500 << "\tright-" << i << "\n";
  }
  std::multiset<std::string> wantJoin;
  {
    std::multimap<std::string, std::string> rights;
    for (int i = 0; i < 2000; ++i) rights.emplace("k" + std::to_string((i * 7) % 1500), "right-" + std::to_string(i));
    for (int i = 0; i < 3000; ++i) {
      std::string key = "k" + std::to_string((i * 13) % 1000);
      auto [from, to] = rights.equal_range(key);
      for (auto it = from; it != to; ++it) wantJoin.insert(key + "\tleft-" + std::to_string(i) + "\t" + it->second);
    }
  }
  REQUIRE(wantJoin.size() > 1000);
  std::string first;
  for (const auto& partitions : {"--partitions=2", "--partitions=9"}) {
    INFO(partitions);
    std::string output = spark.cluster.dir() + "/join-" + std::string(partitions).substr(13);
    auto result = spark.run("clusternodes-spark-join", {partitions, left, right, output});
    REQUIRE_MESSAGE(result.exitCode == 0, result.output);
    std::string text = savedOutput(output);
    auto got = lines(text);
    CHECK(std::multiset<std::string>(got.begin(), got.end()) == wantJoin);
    // Sorted by key across the part files.
    std::vector<std::string> keys;
    for (const auto& line : got) keys.push_back(line.substr(0, line.find('\t')));
    CHECK(std::is_sorted(keys.begin(), keys.end()));
    if (first.empty()) {
      first = text;
    } else {
      CHECK(text.size() == first.size());
    }
  }
}

TEST_CASE("spark page rank over a cached graph reads the input once and matches a reference") {
  SparkCluster spark;
  std::string graph = writeGraph(spark.cluster.dir() + "/graph.txt", 3000);
  const int iterations = 4;
  auto want = referencePageRank(graph, iterations);
  REQUIRE(want.size() > 3000);

  std::string cachedOut = spark.cluster.dir() + "/ranks-cached";
  auto cached = spark.run("clusternodes-spark-pagerank", {"--partitions=4", "--iterations=4", "--top=3",
                                                         "--output=" + cachedOut, graph});
  REQUIRE_MESSAGE(cached.exitCode == 0, cached.output);
  checkRanks(savedRanks(cachedOut), want);
  // Iteration lines: "iteration 2: 3040 pages, 0 source reads, 4 cache hits".
  // The job summaries say "N source reads" too; take the iteration lines.
  std::regex iterationLine("iteration (\\d+): \\d+ pages, (\\d+) source reads, (\\d+) cache hits");
  std::map<int, std::pair<long, long>> perIteration;
  for (auto it = std::sregex_iterator(cached.output.begin(), cached.output.end(), iterationLine);
       it != std::sregex_iterator(); ++it) {
    perIteration[std::stoi((*it)[1])] = {std::stol((*it)[2]), std::stol((*it)[3])};
  }
  REQUIRE(perIteration.size() == static_cast<size_t>(iterations));
  CHECK(perIteration[1].first > 0);  // the first builds the cache from the file
  for (int i = 2; i <= iterations; ++i) {
    INFO("iteration " << i);
    CHECK(perIteration[i].first == 0);
    CHECK(perIteration[i].second == 4);  // every partition of the graph, from memory
  }

  // Without the cache every iteration reads the file again, and the answer
  // is the same.
  std::string uncachedOut = spark.cluster.dir() + "/ranks-uncached";
  auto uncached = spark.run("clusternodes-spark-pagerank", {"--partitions=4", "--iterations=4", "--top=3",
                                                           "--no-cache", "--output=" + uncachedOut, graph});
  REQUIRE_MESSAGE(uncached.exitCode == 0, uncached.output);
  checkRanks(savedRanks(uncachedOut), want);
  std::map<int, long> uncachedReads;
  for (auto it = std::sregex_iterator(uncached.output.begin(), uncached.output.end(), iterationLine);
       it != std::sregex_iterator(); ++it) {
    uncachedReads[std::stoi((*it)[1])] = std::stol((*it)[2]);
  }
  for (int i = 2; i <= iterations; ++i) CHECK(uncachedReads[i] >= 4);
}

TEST_CASE("killing a spark executor mid-job gives the right answer and re-runs only the lost work") {
  SparkCluster spark;
  std::string input = textFile(spark.cluster.dir(), 1);
  std::string output = spark.cluster.dir() + "/survivor";
  std::string log = spark.cluster.dir() + "/job.log";
  // One core per executor and a map that takes its time: the kill lands
  // with maps done on both executors and maps still to do.
  auto job = std::make_unique<Process>(
      spark.command("spark-test-app", {"--partitions=12", "slow-wordcount", input, output}), log);
  std::regex progress("stage \\d+ \\([^)]*\\): (\\d+)/(\\d+) tasks");
  REQUIRE(eventually(
      [&] {
        std::string text = readFile(log);
        std::smatch m;
        std::string::const_iterator from = text.begin();
        int done = 0;
        while (std::regex_search(from, text.cend(), m, progress)) {
          done = std::stoi(m[1]);
          from = m[0].second;
        }
        return done >= 4;
      },
      180s));
  auto agent = spark.cluster.agentState(0);
  REQUIRE(agent["executors"].size() == 1);
  int pid = agent["executors"][0]["pid"];
  REQUIRE(pid > 0);
  ::kill(pid, SIGKILL);
  int status = job->wait(240s);
  std::string text = readFile(log);
  INFO("job output: " << text);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  CHECK(counts(savedOutput(output)) == referenceWordCount(input));

  // "executor exec-1 lost (...): 3 map outputs and 0 cached partitions to recompute"
  std::smatch lost;
  REQUIRE(std::regex_search(text, lost, std::regex("executor (exec-\\d+) lost \\([^\\n]*\\): (\\d+) map outputs")));
  int lostOutputs = std::stoi(lost[2]);
  CHECK(lostOutputs >= 1);
  CHECK(lostOutputs < 12);
  // The map stage ran each partition once, then again only what was lost
  // and what failed with the executor: "12/12 tasks (16 launched, 1 failed
  // attempts)".
  std::smatch mapStage;
  REQUIRE(std::regex_search(text, mapStage, std::regex("\\): 12/12 tasks \\((\\d+) launched, (\\d+) failed attempts\\)")));
  int launched = std::stoi(mapStage[1]);
  int failed = std::stoi(mapStage[2]);
  CHECK(failed >= 0);
  CHECK(launched == 12 + lostOutputs + failed);
  // Every successful map task read its split once: the lost ones twice.
  auto reads = numbersBefore(text, "source reads");
  REQUIRE(reads.size() == 1);
  CHECK(reads[0] == 12 + lostOutputs);
  // A replacement may have started on the agent that lost one.
  CHECK(text.find("executors (1 lost)") != std::string::npos);
}

TEST_CASE("spark failures end the program with a message that names the cause") {
  SparkCluster spark;
  std::string input = spark.cluster.dir() + "/small.txt";
  std::ofstream(input) << "one\ntwo\nthree\n";

  // User code that throws: four attempts, then the job fails with its words.
  auto failed = spark.run("spark-test-app", {"--partitions=2", "fail", input, spark.cluster.dir() + "/never"});
  CHECK(failed.exitCode == 1);
  CHECK(failed.output.find("failed 4 times") != std::string::npos);
  CHECK(failed.output.find("broken record of") != std::string::npos);

  // Executors no agent can hold: the program gives up, naming the flags.
  auto tooBig = spark.run("clusternodes-spark-wordcount",
                          {"--executor-mem=100000", "--start-timeout=3s", input, spark.cluster.dir() + "/big"}, 60s);
  CHECK(tooBig.exitCode == 1);
  CHECK(tooBig.output.find("no executor registered within 3 s") != std::string::npos);
  CHECK(tooBig.output.find("--executor-mem") != std::string::npos);

  // A bad flag: refused before anything starts, naming the flag.
  auto bad = spark.run("clusternodes-spark-wordcount", {"--executor-cpus=0.5", input, spark.cluster.dir() + "/x"}, 30s);
  CHECK(bad.exitCode == 2);
  CHECK(bad.output.find("--executor-cpus") != std::string::npos);
}
