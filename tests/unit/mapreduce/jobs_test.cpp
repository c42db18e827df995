// The built-in jobs end to end in one process (map, combine, partition,
// sort, merge, reduce), against simple reference computations.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "examples/mapreduce/job.hpp"
#include "examples/mapreduce/map_task.hpp"
#include "examples/mapreduce/records.hpp"
#include "examples/mapreduce/reduce_task.hpp"
#include "tests/harness/temp_dir.hpp"
#include "tests/unit/mapreduce/mr_test_util.hpp"

using namespace clusternodes;
using namespace clusternodes::mapreduce;
using namespace clusternodes::mapreduce::testing;
using clusternodes::testing::TempDir;

namespace {

const char* kText =
    "The quick brown fox jumps over the lazy dog.\n"
    "THE DOG barks; the fox runs -- quick, quick!\n"
    "\n"
    "it's 42 o'clock: fox-trot, Fox_trot and foxes\n"
    "caf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9 dog\n"
    "last line without a newline dog";

std::map<std::string, uint64_t> referenceWordCount(const std::string& text) {
  std::map<std::string, uint64_t> counts;
  std::string word;
  for (char c : text + " ") {
    if (std::isalpha(static_cast<unsigned char>(c)) && static_cast<unsigned char>(c) < 128) {
      word.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    } else if (!word.empty()) {
      ++counts[word];
      word.clear();
    }
  }
  return counts;
}

// Parses "key<TAB>count" lines, checking the order within the file.
std::map<std::string, uint64_t> parseCounts(const std::vector<std::string>& parts) {
  std::map<std::string, uint64_t> counts;
  for (const auto& part : parts) {
    std::string previous;
    bool first = true;
    for (const auto& record : parseRun(part, false)) {
      std::string key(record.key);
      CHECK(counts.count(key) == 0);  // each key in one partition, once
      if (!first) CHECK(previous < key);
      previous = key;
      first = false;
      counts[key] = parseCount(record.value);
    }
  }
  return counts;
}

}  // namespace

TEST_CASE("wordcount: words are runs of ASCII letters, lowercased") {
  std::vector<std::string> words;
  std::string scratch;
  forEachWord("It's 42 o'clock: Fox-trot caf\xc3\xa9X", scratch, [&](std::string_view w) { words.emplace_back(w); });
  CHECK(words == std::vector<std::string>{"it", "s", "o", "clock", "fox", "trot", "caf", "x"});
}

TEST_CASE("wordcount: map, combine and reduce agree with a reference count, with and without the combiner") {
  TempDir dir("cn-test-mr");
  writeFile(dir.path + "/in/a.txt", kText);
  writeFile(dir.path + "/in/b.txt", std::string(kText) + "\nzebra Zebra\n");
  auto reference = referenceWordCount(std::string(kText) + "\n" + kText + "\nzebra Zebra\n");
  for (bool combiner : {true, false}) {
    for (int reducers : {1, 3}) {
      for (uint64_t splitSize : {7, 50, 1 << 20}) {
        JobSpec job;
        job.kind = JobKind::kWordCount;
        job.reducers = reducers;
        job.combiner = combiner;
        std::string work = dir.path + "/w-" + std::to_string(combiner) + std::to_string(reducers) +
                           std::to_string(splitSize);
        auto parts = runLocalJob(job, {dir.path + "/in/a.txt", dir.path + "/in/b.txt"}, splitSize, work);
        INFO("combiner " << combiner << " reducers " << reducers << " split size " << splitSize);
        CHECK(parts.size() == static_cast<size_t>(reducers));
        CHECK(parseCounts(parts) == reference);
      }
    }
  }
}

TEST_CASE("wordcount: the combiner shrinks map output to one record per distinct word") {
  TempDir dir("cn-test-mr");
  writeFile(dir.path + "/in", "a a a b\nb a\n");
  InputSplit split{dir.path + "/in", 0, 12, {}};
  JobSpec job;
  job.reducers = 1;
  job.combiner = true;
  auto combined = runMapTask(job, split, dir.path + "/m1");
  CHECK(combined.stats.recordsIn == 2);
  CHECK(combined.stats.recordsOut == 2);
  CHECK(readFile(combined.files[0]) == "a\t4\nb\t2\n");
  job.combiner = false;
  auto plain = runMapTask(job, split, dir.path + "/m2");
  CHECK(plain.stats.recordsOut == 6);
  CHECK(readFile(plain.files[0]) == "a\t1\na\t1\na\t1\na\t1\nb\t1\nb\t1\n");
  CHECK(plain.stats.partitionBytes[0] == readFile(plain.files[0]).size());
}

TEST_CASE("grep: counts every non-overlapping match of an extended regex") {
  TempDir dir("cn-test-mr");
  writeFile(dir.path + "/in", "foo food fo\nfoofoo bar\nxfooo\n");
  JobSpec job;
  job.kind = JobKind::kGrep;
  job.pattern = "fo+";
  job.reducers = 2;
  auto parts = runLocalJob(job, {dir.path + "/in"}, 5, dir.path + "/w");
  std::map<std::string, uint64_t> expected = {{"fo", 1}, {"foo", 4}, {"fooo", 1}};
  CHECK(parseCounts(parts) == expected);
}

TEST_CASE("grep: empty matches advance, anchors match at the line start only") {
  auto regex = Regex::compile("x*");
  REQUIRE(regex.ok());
  std::vector<std::string> matches;
  std::string scratch;
  (*regex)->forEachMatch("axxbx", scratch, [&](std::string_view m) { matches.emplace_back(m); });
  CHECK(matches == std::vector<std::string>{"xx", "x"});

  auto anchored = Regex::compile("^a");
  REQUIRE(anchored.ok());
  matches.clear();
  (*anchored)->forEachMatch("aaa", scratch, [&](std::string_view m) { matches.emplace_back(m); });
  CHECK(matches == std::vector<std::string>{"a"});
}

TEST_CASE("grep: a bad pattern fails with regerror's text") {
  auto regex = Regex::compile("a(b");
  REQUIRE_FALSE(regex.ok());
  CHECK(regex.error().message.find("bad pattern 'a(b'") == 0);
  CHECK(regex.error().message.size() > std::string("bad pattern 'a(b': ").size());
}

TEST_CASE("partitioning: stable FNV-1a hash, or cut points for a total order") {
  CHECK(partitionOf("anything", 1, {}) == 0);
  CHECK(partitionOf("word", 7, {}) == static_cast<int>(fnv1a64("word") % 7));
  CHECK(fnv1a64("") == 0xcbf29ce484222325ULL);
  CHECK(fnv1a64("a") == 0xaf63dc4c8601ec8cULL);  // the published FNV-1a test vector
  std::vector<std::string> cuts = {"d", "m", "t"};
  CHECK(partitionOf("a", 4, cuts) == 0);
  CHECK(partitionOf("d", 4, cuts) == 1);  // equal to a cut point: after it
  CHECK(partitionOf("e", 4, cuts) == 1);
  CHECK(partitionOf("m", 4, cuts) == 2);
  CHECK(partitionOf("zz", 4, cuts) == 3);
}

TEST_CASE("merge: a k-way merge of sorted runs is sorted, complete and stable") {
  std::vector<std::string> texts = {"a\t1\nc\t1\ne\t1\n", "", "b\t2\nc\t2\nz\t2\n", "c\t3\n"};
  std::vector<std::vector<Record>> runs;
  for (const auto& text : texts) runs.push_back(parseRun(text, false));
  RunMerger merger(std::move(runs));
  std::vector<std::string> merged;
  Record record;
  while (merger.next(record)) merged.push_back(std::string(record.key) + ":" + std::string(record.value));
  CHECK(merged == std::vector<std::string>{"a:1", "b:2", "c:1", "c:2", "c:3", "e:1", "z:2"});

  RunMerger again({parseRun("a\t1\na\t2\n", false), parseRun("a\t3\nb\t1\n", false)});
  std::vector<std::string> groups;
  forEachGroup([&](Record& r) { return again.next(r); },
               [&](std::string_view key, const std::vector<std::string_view>& values) {
                 std::string g(key);
                 for (auto v : values) g += "," + std::string(v);
                 groups.push_back(g);
               });
  CHECK(groups == std::vector<std::string>{"a,1,2,3", "b,1"});
}

TEST_CASE("merge: many random runs merge to the sorted union") {
  uint64_t state = 99;
  auto rnd = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33;
  };
  std::vector<std::string> texts(9);
  std::vector<std::string> all;
  for (auto& text : texts) {
    std::vector<std::string> keys;
    size_t n = rnd() % 50;
    for (size_t i = 0; i < n; ++i) keys.push_back(std::string(1 + rnd() % 3, static_cast<char>('a' + rnd() % 5)));
    std::sort(keys.begin(), keys.end());
    for (const auto& k : keys) {
      text += k + "\tv\n";
      all.push_back(k);
    }
  }
  std::sort(all.begin(), all.end());
  std::vector<std::vector<Record>> runs;
  for (const auto& text : texts) runs.push_back(parseRun(text, false));
  RunMerger merger(std::move(runs));
  std::vector<std::string> merged;
  Record record;
  while (merger.next(record)) merged.emplace_back(record.key);
  CHECK(merged == all);
}

TEST_CASE("runs: key and value split at the first tab, raw records keyed by 10 bytes") {
  auto kv = parseRun("k\tv\tw\nonlykey\n\tv\n", false);
  REQUIRE(kv.size() == 3);
  CHECK(kv[0].key == "k");
  CHECK(kv[0].value == "v\tw");
  CHECK(kv[1].key == "onlykey");
  CHECK(kv[1].value.empty());
  CHECK(kv[2].key.empty());
  auto raw = parseRun("0123456789rest\nshort\n", true);
  REQUIRE(raw.size() == 2);
  CHECK(raw[0].key == "0123456789");
  CHECK(raw[0].value == "0123456789rest");
  CHECK(raw[1].key == "short");
}

TEST_CASE("reduce: unfetchable map outputs are reported by map index, and no part file is written") {
  TempDir dir("cn-test-mr");
  writeFile(dir.path + "/m0", "a\t1\n");
  JobSpec job;
  job.reducers = 1;
  std::vector<MapInput> inputs = {{0, dir.path + "/m0"}, {1, dir.path + "/gone1"}, {2, dir.path + "/gone2"}};
  auto outcome = runReduceTask(job, 0, inputs, dir.path + "/out", "r-00000-a1", fileFetcher());
  CHECK(outcome.fetchFailed == std::vector<int>{1, 2});
  CHECK(outcome.fetchError.find("map 1") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir.path + "/out/part-r-00000"));
}

TEST_CASE("reduce: the part file is written through _temporary and renamed") {
  TempDir dir("cn-test-mr");
  writeFile(dir.path + "/m0", "a\t1\nb\t2\n");
  writeFile(dir.path + "/m1", "a\t5\n");
  JobSpec job;
  job.reducers = 4;
  auto outcome = runReduceTask(job, 3, {{0, dir.path + "/m0"}, {1, dir.path + "/m1"}}, dir.path + "/out",
                               "r-00003-a2", fileFetcher());
  CHECK(outcome.outputFile == dir.path + "/out/part-r-00003");
  CHECK(readFile(outcome.outputFile) == "a\t6\nb\t2\n");
  CHECK(outcome.stats.recordsIn == 3);
  CHECK(outcome.stats.recordsOut == 2);
  CHECK_FALSE(std::filesystem::exists(dir.path + "/out/_temporary/r-00003-a2"));
}

TEST_CASE("map: an empty split and an empty file give empty partitions") {
  TempDir dir("cn-test-mr");
  writeFile(dir.path + "/empty", "");
  JobSpec job;
  job.reducers = 3;
  auto output = runMapTask(job, InputSplit{dir.path + "/empty", 0, 0, {}}, dir.path + "/m");
  REQUIRE(output.files.size() == 3);
  for (const auto& file : output.files) CHECK(readFile(file).empty());
  CHECK(output.stats.recordsIn == 0);
}

TEST_CASE("map: a cancelled task stops with TaskCancelled") {
  TempDir dir("cn-test-mr");
  std::string text;
  for (int i = 0; i < 10000; ++i) text += "word\n";
  writeFile(dir.path + "/in", text);
  std::atomic<bool> cancel{true};
  JobSpec job;
  CHECK_THROWS_AS(runMapTask(job, InputSplit{dir.path + "/in", 0, text.size(), {}}, dir.path + "/m", &cancel),
                  TaskCancelled);
}

TEST_CASE("sort: bytewise key order (prefix shortcut included), equal keys in input order") {
  uint64_t state = 7;
  auto rnd = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33;
  };
  // Keys around 8 bytes long, from a tiny alphabet holding NUL and 0xff,
  // so that equal prefixes and zero padding are common.
  const char alphabet[] = {'\0', 'a', 'b', '\xff'};
  std::vector<std::string> keys;
  for (int i = 0; i < 3000; ++i) {
    std::string key;
    size_t length = rnd() % 12;
    for (size_t j = 0; j < length; ++j) key.push_back(alphabet[rnd() % 4]);
    keys.push_back(key);
  }
  std::vector<std::string> values;
  for (size_t i = 0; i < keys.size(); ++i) values.push_back(std::to_string(i));
  std::vector<Record> records;
  for (size_t i = 0; i < keys.size(); ++i) records.push_back({keys[i], values[i]});
  sortByKey(records);
  std::vector<std::pair<std::string, size_t>> expected;
  for (size_t i = 0; i < keys.size(); ++i) expected.emplace_back(keys[i], i);
  std::stable_sort(expected.begin(), expected.end(), [](const auto& a, const auto& b) {
    return std::string_view(a.first) < std::string_view(b.first);  // memcmp order
  });
  REQUIRE(records.size() == expected.size());
  for (size_t i = 0; i < records.size(); ++i) {
    CHECK(std::string(records[i].key) == expected[i].first);
    CHECK(std::string(records[i].value) == std::to_string(expected[i].second));
  }
}
