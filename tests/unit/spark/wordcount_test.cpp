// Word count against a straightforward reference, at several partition and
// executor counts.
#include <doctest/doctest.h>

#include <filesystem>

#include "tests/unit/spark/spark_test_util.hpp"

using namespace clusternodes::spark;
using namespace spark_test;

namespace {

std::map<std::string, int64_t> wordCount(Context& ctx, const std::string& path, int partitions, int reducers) {
  return toCounts(ctx.textFile(path, partitions)
                      .flatMap("split_words")
                      .map("pair_with_one")
                      .reduceByKey("sum", reducers)
                      .collect());
}

}  // namespace

TEST_CASE("wordcount: equals the reference on generated text") {
  TempDir dir;
  std::string text = generateText(300 * 1024);
  writeText(dir.file("in.txt"), text);
  auto expected = referenceWordCount(text);
  REQUIRE(expected.size() > 15);
  FunctionRegistry registry;
  auto ctx = localContext(registry, 2);
  auto counts = wordCount(ctx, dir.file("in.txt"), 4, 3);
  CHECK(counts == expected);
  // Every key once: reduceByKey's output has no duplicates.
  auto records = ctx.textFile(dir.file("in.txt"), 4).flatMap("split_words").map("pair_with_one").reduceByKey("sum").collect();
  CHECK(records.size() == expected.size());
  const auto& stats = ctx.lastJob();
  CHECK(stats.succeeded);
  CHECK(stats.stages.size() == 2);
  CHECK(stats.metrics.shuffleBytesWritten > 0);
  CHECK(stats.metrics.shuffleBytesWritten == stats.metrics.shuffleBytesRead);
}

TEST_CASE("wordcount: results do not depend on partitions or executors") {
  TempDir dir;
  std::string text = generateText(120 * 1024, 7);
  writeText(dir.file("in.txt"), text);
  auto expected = referenceWordCount(text);
  FunctionRegistry registry;
  for (int executors : {1, 2, 4}) {
    auto ctx = localContext(registry, executors);
    for (int partitions : {1, 3, 7}) {
      CHECK_MESSAGE(wordCount(ctx, dir.file("in.txt"), partitions, partitions) == expected,
                    executors << " executors, " << partitions << " partitions");
    }
  }
}

TEST_CASE("wordcount: the fortunes files") {
  const std::string dir = "/usr/share/games/fortunes";
  std::error_code ec;
  REQUIRE_MESSAGE(std::filesystem::is_directory(dir, ec), "no " << dir << ": scripts/setup.sh installs fortunes");
  // The text files (not the .dat indexes), as one input directory.
  TempDir input;
  std::string all;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    auto name = entry.path().filename().string();
    if (!entry.is_regular_file() || name.find('.') != std::string::npos) continue;
    std::string text = readText(entry.path().string());
    writeText(input.file(name), text);
    all += text;
    if (!text.empty() && text.back() != '\n') all += "\n";
  }
  REQUIRE(all.size() > 100 * 1024);
  FunctionRegistry registry;
  auto ctx = localContext(registry, 2, 2);
  CHECK(wordCount(ctx, input.path(), 5, 4) == referenceWordCount(all));
  CHECK(ctx.textFile(input.path(), 5).count() == static_cast<int64_t>(std::count(all.begin(), all.end(), '\n')));
}
