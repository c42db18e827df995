// teragen, teravalidate, sampling, and terasort's total order.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "examples/mapreduce/terasort.hpp"
#include "tests/harness/temp_dir.hpp"
#include "tests/unit/mapreduce/mr_test_util.hpp"

using namespace clusternodes;
using namespace clusternodes::mapreduce;
using namespace clusternodes::mapreduce::testing;
using clusternodes::testing::TempDir;

TEST_CASE("teragen: 100-byte records, printable keys, deterministic given the seed") {
  std::string record = teraRecord(7, 42);
  REQUIRE(record.size() == 100);
  CHECK(record.back() == '\n');
  for (size_t i = 0; i < 10; ++i) {
    CHECK(record[i] >= ' ');
    CHECK(record[i] <= '~');
  }
  CHECK(record.substr(10, 2) == "  ");
  CHECK(record.substr(12, 32) == "0000000000000000000000000000002A");
  for (size_t i = 44; i < 99; ++i) CHECK((record[i] >= 'A' && record[i] <= 'Z'));
  CHECK(teraRecord(7, 42) == record);
  CHECK(teraRecord(8, 42) != record);

  TempDir dir("cn-test-mr");
  REQUIRE(teragen(1000, dir.path + "/a", 3, 5).ok());
  REQUIRE(teragen(1000, dir.path + "/b", 3, 5).ok());
  for (const char* name : {"part-00000", "part-00001", "part-00002"}) {
    CHECK(readFile(dir.path + "/a/" + name) == readFile(dir.path + "/b/" + name));
  }
  auto sizes = std::filesystem::file_size(dir.path + "/a/part-00000") +
               std::filesystem::file_size(dir.path + "/a/part-00001") +
               std::filesystem::file_size(dir.path + "/a/part-00002");
  CHECK(sizes == 100000);
  CHECK_FALSE(teragen(10, dir.path + "/a", 1, 5).ok());  // exists with files
}

TEST_CASE("terasort: sampled cut points give a total order across partitions") {
  TempDir dir("cn-test-mr");
  REQUIRE(teragen(3000, dir.path + "/in", 2, 11).ok());
  auto files = listInputFiles(dir.path + "/in");
  REQUIRE(files.ok());
  auto splits = computeSplits(*files, 20000);
  REQUIRE(splits.ok());
  auto keys = sampleKeys(*splits, 1000, 10);
  REQUIRE(keys.ok());
  CHECK(keys->size() >= 990);
  CHECK(std::is_sorted(keys->begin(), keys->end()));
  auto cuts = cutPoints(*keys, 4);
  REQUIRE(cuts.size() == 3);
  CHECK(std::is_sorted(cuts.begin(), cuts.end()));

  JobSpec job;
  job.kind = JobKind::kTeraSort;
  job.reducers = 4;
  job.cutPoints = cuts;
  auto parts = runLocalJob(job, *files, 20000, dir.path + "/w");
  REQUIRE(parts.size() == 4);
  std::string all;
  for (const auto& part : parts) {
    CHECK(part.size() > 0);  // the sample splits the keys roughly evenly
    all += part;
  }
  std::vector<std::string> records;
  for (size_t pos = 0; pos < all.size(); pos += 100) records.push_back(all.substr(pos, 100));
  CHECK(records.size() == 3000);
  CHECK(std::is_sorted(records.begin(), records.end(),
                       [](const std::string& a, const std::string& b) { return a.substr(0, 10) < b.substr(0, 10); }));

  // Written as part-r-* files, it validates, and matches its input.
  std::filesystem::create_directories(dir.path + "/out");
  for (size_t r = 0; r < parts.size(); ++r) writeFile(dir.path + "/out/" + numberedName("part-r-", static_cast<int>(r)), parts[r]);
  auto valid = teravalidate(dir.path + "/out", dir.path + "/in");
  REQUIRE_MESSAGE(valid.ok(), (valid.ok() ? "" : valid.error().message));
  CHECK(valid->records == 3000);
  auto input = summarize(*files);
  REQUIRE(input.ok());
  CHECK(input->checksum == valid->checksum);
}

TEST_CASE("terasort: duplicate keys are all kept") {
  TempDir dir("cn-test-mr");
  std::string text;
  for (int i = 0; i < 5; ++i) text += "SAMEKEY000" + std::string(89, static_cast<char>('a' + i)) + "\n";
  writeFile(dir.path + "/in", text);
  JobSpec job;
  job.kind = JobKind::kTeraSort;
  job.reducers = 2;
  job.cutPoints = {"M"};
  auto parts = runLocalJob(job, {dir.path + "/in"}, 150, dir.path + "/w");
  CHECK(parts[0].empty());
  CHECK(parts[1].size() == text.size());
}

TEST_CASE("teravalidate: catches an unsorted file, files out of order, and a changed multiset") {
  TempDir dir("cn-test-mr");
  std::string a = teraRecord(1, 1), b = teraRecord(1, 2), c = teraRecord(1, 3);
  std::vector<std::string> sorted = {a, b, c};
  std::sort(sorted.begin(), sorted.end());
  writeFile(dir.path + "/in/part-00000", a + b + c);

  writeFile(dir.path + "/good/part-r-00000", sorted[0] + sorted[1]);
  writeFile(dir.path + "/good/part-r-00001", sorted[2]);
  writeFile(dir.path + "/good/_SUCCESS", "");
  auto good = teravalidate(dir.path + "/good", dir.path + "/in");
  REQUIRE(good.ok());
  CHECK(good->records == 3);

  writeFile(dir.path + "/unsorted/part-r-00000", sorted[1] + sorted[0] + sorted[2]);
  auto unsorted = teravalidate(dir.path + "/unsorted");
  REQUIRE_FALSE(unsorted.ok());
  CHECK(unsorted.error().message.find("misordered: part-r-00000 record 2") == 0);

  writeFile(dir.path + "/across/part-r-00000", sorted[2]);
  writeFile(dir.path + "/across/part-r-00001", sorted[0] + sorted[1]);
  auto across = teravalidate(dir.path + "/across");
  REQUIRE_FALSE(across.ok());
  CHECK(across.error().message.find("part-r-00001 record 1") != std::string::npos);

  writeFile(dir.path + "/missing/part-r-00000", sorted[0] + sorted[1]);
  auto missing = teravalidate(dir.path + "/missing", dir.path + "/in");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message == "the output holds 2 records, the input 3");

  std::string changed = sorted[2];
  changed[50] = changed[50] == 'A' ? 'B' : 'A';  // same key, different record
  writeFile(dir.path + "/changed/part-r-00000", sorted[0] + sorted[1] + changed);
  auto differs = teravalidate(dir.path + "/changed", dir.path + "/in");
  REQUIRE_FALSE(differs.ok());
  CHECK(differs.error().message.find("checksum") != std::string::npos);
  CHECK(teravalidate(dir.path + "/changed").ok());  // sorted, when not compared

  CHECK_FALSE(teravalidate(dir.path + "/nothing").ok());
}

TEST_CASE("checksum: order-independent") {
  TempDir dir("cn-test-mr");
  writeFile(dir.path + "/x", "one\ntwo\nthree\n");
  writeFile(dir.path + "/y", "three\none\ntwo");
  auto x = summarize({dir.path + "/x"});
  auto y = summarize({dir.path + "/y"});
  REQUIRE(x.ok());
  REQUIRE(y.ok());
  CHECK(x->records == 3);
  CHECK(x->checksum == y->checksum);
}
