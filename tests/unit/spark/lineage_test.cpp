// Caching across jobs, and recomputation from lineage after a lost executor.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <set>

#include "tests/unit/spark/spark_test_util.hpp"

using namespace clusternodes::spark;
using namespace spark_test;

namespace {

std::string formatDouble(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

void registerPageRank(FunctionRegistry& registry) {
  // (page, "dst1\x1fdst2<TAB>rank") -> (dst, rank / n) for each dst, and
  // (page, 0) so that every page keeps a rank.
  registry.flatMap("pr_contribs", [](const Record& in, Emit emit) {
    size_t tab = in.value.rfind('\t');
    auto dsts = splitGroup(std::string_view(in.value).substr(0, tab));
    double rank = std::stod(in.value.substr(tab + 1));
    for (const auto& d : dsts) emit(d, formatDouble(rank / static_cast<double>(dsts.size())));
    emit(in.key, "0");
  });
  registry.reduce("pr_sum", [](const std::string& a, const std::string& b) {
    return formatDouble(std::stod(a) + std::stod(b));
  });
  registry.mapValues("pr_damp", [](const std::string& v) { return formatDouble(0.15 + 0.85 * std::stod(v)); });
  registry.mapValues("pr_init", [](const std::string&) { return std::string("1"); });
}

std::string generateEdges(int pages, int edges) {
  std::string text;
  uint64_t s = 12345;
  for (int i = 0; i < edges; ++i) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    int a = static_cast<int>((s >> 33) % static_cast<uint64_t>(pages));
    int b = static_cast<int>((s >> 13) % static_cast<uint64_t>(pages));
    text += "p" + std::to_string(a) + "\tp" + std::to_string(b) + "\n";
  }
  return text;
}

std::map<std::string, double> referencePageRank(const std::string& edges, int iterations) {
  std::map<std::string, std::set<std::string>> links;
  size_t pos = 0;
  while (pos < edges.size()) {
    size_t nl = edges.find('\n', pos);
    std::string line = edges.substr(pos, nl - pos);
    pos = nl + 1;
    size_t tab = line.find('\t');
    links[line.substr(0, tab)].insert(line.substr(tab + 1));
  }
  std::map<std::string, double> ranks;
  for (const auto& [page, dsts] : links) ranks[page] = 1.0;
  for (int i = 0; i < iterations; ++i) {
    std::map<std::string, double> contribs;
    for (const auto& [page, dsts] : links) {
      auto r = ranks.find(page);
      if (r == ranks.end()) continue;
      for (const auto& d : dsts) contribs[d] += r->second / static_cast<double>(dsts.size());
      contribs[page] += 0;
    }
    ranks.clear();
    for (const auto& [page, c] : contribs) ranks[page] = 0.15 + 0.85 * c;
  }
  return ranks;
}

}  // namespace

TEST_CASE("lineage: an iterative job over a cached graph does not re-read its input") {
  TempDir dir;
  std::string edges = generateEdges(60, 400);
  writeText(dir.file("edges.txt"), edges);
  FunctionRegistry registry;
  registerPageRank(registry);
  auto ctx = localContext(registry, 3);
  auto links = ctx.textFile(dir.file("edges.txt"), 4).map("parse_pair").distinct().groupByKey();
  links.cache();
  auto ranks = links.mapValues("pr_init");
  const int kIterations = 4;
  std::vector<Record> result;
  for (int i = 0; i < kIterations; ++i) {
    ranks = links.join(ranks).flatMap("pr_contribs").reduceByKey("pr_sum").mapValues("pr_damp");
    result = ranks.collect();
    const JobStats& stats = ctx.lastJob();
    if (i == 0) {
      CHECK(stats.metrics.sourceReads == 4);
    } else {
      CHECK_MESSAGE(stats.metrics.sourceReads == 0, "iteration " << i);
      CHECK(stats.metrics.cacheHits >= links.numPartitions());
      CHECK(stats.metrics.cacheMisses == 0);
      CHECK(stats.stagesSkipped > 0);  // the earlier iterations' shuffles are reused
    }
  }
  auto expected = referencePageRank(edges, kIterations);
  REQUIRE(result.size() == expected.size());
  for (const auto& r : result) {
    REQUIRE(expected.count(r.key) == 1);
    CHECK(std::stod(r.value) == doctest::Approx(expected[r.key]).epsilon(1e-9));
  }
}

TEST_CASE("lineage: a lost executor's map outputs are recomputed, and only those") {
  TempDir dir;
  std::string text = generateText(150 * 1024, 3);
  writeText(dir.file("in.txt"), text);
  FunctionRegistry registry;
  LocalBackend* backend = nullptr;
  auto ctx = localContext(registry, 3, 1, &backend);
  auto counts = ctx.textFile(dir.file("in.txt"), 6).flatMap("split_words").map("pair_with_one").reduceByKey("sum", 4);
  REQUIRE(counts.numPartitions() == 4);
  auto expected = referenceWordCount(text);
  CHECK(toCounts(counts.collect()) == expected);
  int shuffle = counts.node()->shuffleIds[0];
  int maps = ctx.textFile(dir.file("in.txt"), 6).numPartitions();
  CHECK(ctx.scheduler().availableOutputs(shuffle) == maps);

  std::string victim = ctx.scheduler().mapOutput(shuffle, 0)->executorId;
  std::set<int> lost;
  for (int m = 0; m < maps; ++m) {
    if (ctx.scheduler().mapOutput(shuffle, m)->executorId == victim) lost.insert(m);
  }
  REQUIRE(lost.size() < static_cast<size_t>(maps));
  REQUIRE(backend->loseExecutor(victim));

  CHECK(toCounts(counts.collect()) == expected);
  const JobStats& stats = ctx.lastJob();
  REQUIRE(stats.stages.size() == 2);
  CHECK(stats.stages[0].shuffleMap);
  std::set<int> rerun(stats.stages[0].partitionsRun.begin(), stats.stages[0].partitionsRun.end());
  CHECK(rerun == lost);
  CHECK(stats.stages[0].tasksLaunched == static_cast<int>(lost.size()));
  CHECK(stats.stages[1].tasksLaunched == 4);
  CHECK(stats.failedAttempts == 0);

  // A third job finds everything in place.
  CHECK(counts.count() == static_cast<int64_t>(expected.size()));
  CHECK(ctx.lastJob().stagesSkipped == 1);
  CHECK(ctx.lastJob().stages.size() == 1);
}

TEST_CASE("lineage: losing an executor during a job still gives the right answer, re-running only lost work") {
  TempDir dir;
  std::string text = generateText(150 * 1024, 5);
  writeText(dir.file("in.txt"), text);
  FunctionRegistry registry;
  LocalBackend* backend = nullptr;
  std::string victim;
  std::set<int> lost;
  std::map<int, std::string> mapExecutors;
  ContextOptions options;
  options.onTaskEnded = [&](const TaskResult& r) {
    // When the last map task ends, before any reduce task starts, kill the
    // executor holding map output 0 (and whatever else it holds).
    if (!victim.empty() || r.status != TaskStatus::kSuccess || r.mapOutput.executorId.empty()) return;
    mapExecutors[r.partition] = r.mapOutput.executorId;
    if (mapExecutors.size() < 6) return;
    victim = mapExecutors[0];
    for (const auto& [m, e] : mapExecutors) {
      if (e == victim) lost.insert(m);
    }
    backend->loseExecutor(victim);
  };
  auto ctx = localContext(registry, 3, 1, &backend, options);
  auto counts = ctx.textFile(dir.file("in.txt"), 6).flatMap("split_words").map("pair_with_one").reduceByKey("sum", 4);
  CHECK(toCounts(counts.collect()) == referenceWordCount(text));
  REQUIRE_FALSE(victim.empty());
  REQUIRE_FALSE(lost.empty());
  const JobStats& stats = ctx.lastJob();
  CHECK(stats.succeeded);
  const StageStats* mapStage = nullptr;
  const StageStats* resultStage = nullptr;
  for (const auto& s : stats.stages) (s.shuffleMap ? mapStage : resultStage) = &s;
  REQUIRE(mapStage != nullptr);
  REQUIRE(resultStage != nullptr);
  // Six map tasks, then the lost ones again.
  CHECK(mapStage->tasksLaunched == 6 + static_cast<int>(lost.size()));
  std::set<int> rerun(mapStage->partitionsRun.begin() + 6, mapStage->partitionsRun.end());
  CHECK(rerun == lost);
  CHECK(resultStage->done == 4);
  CHECK(backend->executors().size() == 2);
}
