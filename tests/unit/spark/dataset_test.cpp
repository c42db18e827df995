// Every transformation and action, in local mode, with exact expectations.
#include <doctest/doctest.h>

#include <filesystem>
#include <sstream>

#include "tests/unit/spark/spark_test_util.hpp"

using namespace clusternodes::spark;
using namespace spark_test;

namespace {

std::vector<Record> pairs(std::vector<std::pair<std::string, std::string>> kv) {
  std::vector<Record> out;
  for (auto& [k, v] : kv) out.push_back(Record{k, v});
  return out;
}

std::vector<std::string> values(const std::vector<Record>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) out.push_back(r.value);
  return out;
}

FunctionRegistry testRegistry() {
  FunctionRegistry registry;
  registry.map("upper", [](const Record& r) {
    Record out = r;
    for (char& c : out.value) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
  });
  registry.filter("even", [](const Record& r) { return parseInt64(r.value) % 2 == 0; });
  registry.mapValues("double", [](const std::string& v) { return std::to_string(parseInt64(v) * 2); });
  registry.flatMap("twice", [](const Record& r, Emit emit) {
    emit(r);
    emit(r);
  });
  return registry;
}

}  // namespace

TEST_CASE("dataset: narrow transformations keep partitions and order") {
  auto registry = testRegistry();
  auto ctx = localContext(registry);
  auto nums = ctx.parallelize(std::vector<std::string>{"1", "2", "3", "4", "5", "6"}, 3);
  CHECK(nums.numPartitions() == 3);
  CHECK(values(nums.filter("even").collect()) == std::vector<std::string>{"2", "4", "6"});
  CHECK(values(nums.flatMap("twice").collect()).size() == 12);
  CHECK(ctx.parallelize(std::vector<std::string>{"ab", "c"}, 2).map("upper").collect() ==
        pairs({{"", "AB"}, {"", "C"}}));
  auto kv = ctx.parallelize(pairs({{"a", "1"}, {"b", "2"}}), 2);
  CHECK(kv.mapValues("double").collect() == pairs({{"a", "2"}, {"b", "4"}}));
  CHECK(kv.map("swap").collect() == pairs({{"1", "a"}, {"2", "b"}}));
  auto u = nums.unionWith(kv);
  CHECK(u.numPartitions() == 5);
  CHECK(u.count() == 8);
  CHECK(u.collect().back() == Record{"b", "2"});
}

TEST_CASE("dataset: reduceByKey, groupByKey, distinct") {
  auto registry = testRegistry();
  auto ctx = localContext(registry, 3);
  auto kv = ctx.parallelize(pairs({{"b", "2"}, {"a", "1"}, {"b", "5"}, {"c", "x"}, {"a", "3"}, {"b", "2"}}), 3);
  auto sums = ctx.parallelize(pairs({{"b", "2"}, {"a", "1"}, {"b", "5"}, {"a", "3"}}), 2).reduceByKey("sum", 3);
  CHECK(sums.numPartitions() == 3);
  CHECK(sorted(sums.collect()) == pairs({{"a", "4"}, {"b", "7"}}));
  auto groups = sorted(kv.groupByKey(2).collect());
  REQUIRE(groups.size() == 3);
  CHECK(groups[0] == Record{"a", std::string("1") + kGroupSeparator + "3"});
  CHECK(splitGroup(groups[1].value) == std::vector<std::string>{"2", "2", "5"});
  CHECK(groups[2] == Record{"c", "x"});
  CHECK(sorted(kv.distinct(4).collect()) == pairs({{"a", "1"}, {"a", "3"}, {"b", "2"}, {"b", "5"}, {"c", "x"}}));
  auto words = ctx.parallelize(std::vector<std::string>{"x", "y", "x", "x"}, 2).distinct();
  CHECK(sorted(words.collect()) == pairs({{"", "x"}, {"", "y"}}));
}

TEST_CASE("dataset: join pairs every left value with every right value of a key") {
  FunctionRegistry registry;
  auto ctx = localContext(registry, 2);
  auto left = ctx.parallelize(pairs({{"k1", "a"}, {"k2", "b"}, {"k1", "c"}, {"k3", "only-left"}}), 2);
  auto right = ctx.parallelize(pairs({{"k1", "x"}, {"k2", "y"}, {"k2", "z"}, {"k4", "only-right"}}), 3);
  auto joined = left.join(right, 2);
  CHECK(sorted(joined.collect()) ==
        pairs({{"k1", "a\tx"}, {"k1", "c\tx"}, {"k2", "b\ty"}, {"k2", "b\tz"}}));
}

TEST_CASE("dataset: sortByKey gives a total order across partitions") {
  FunctionRegistry registry;
  auto ctx = localContext(registry, 2);
  std::vector<Record> input;
  for (int i = 0; i < 500; ++i) input.push_back(Record{std::to_string((i * 7919) % 1000), std::to_string(i)});
  auto data = ctx.parallelize(input, 5);
  auto asc = data.sortByKey(true, 4);
  CHECK(asc.numPartitions() > 1);
  auto out = asc.collect();
  CHECK(out == sorted(input));
  auto desc = data.sortByKey(false, 3).collect();
  auto expected = sorted(input);
  std::reverse(expected.begin(), expected.end());
  CHECK(desc == expected);
  // Few distinct keys: fewer partitions, still ordered.
  auto few = ctx.parallelize(pairs({{"b", "1"}, {"a", "2"}, {"b", "3"}, {"a", "4"}}), 2).sortByKey(true, 8);
  CHECK(few.collect() == pairs({{"a", "2"}, {"a", "4"}, {"b", "1"}, {"b", "3"}}));
}

TEST_CASE("dataset: count, take, reduce") {
  FunctionRegistry registry;
  auto ctx = localContext(registry, 2);
  std::vector<std::string> nums;
  for (int i = 1; i <= 100; ++i) nums.push_back(std::to_string(i));
  auto data = ctx.parallelize(nums, 7);
  CHECK(data.count() == 100);
  CHECK(data.reduce("sum") == "5050");
  CHECK(data.reduce("max") == "100");
  CHECK(values(data.take(3)) == std::vector<std::string>{"1", "2", "3"});
  CHECK(values(data.take(30)).size() == 30);
  CHECK(values(data.take(30))[29] == "30");
  CHECK(data.take(1000).size() == 100);
  CHECK(data.take(0).empty());
  auto empty = ctx.parallelize(std::vector<std::string>{}, 3);
  CHECK(empty.count() == 0);
  CHECK(empty.collect().empty());
  CHECK_THROWS_AS(empty.reduce("sum"), JobError);
}

TEST_CASE("dataset: saveAsTextFile writes one part per partition, then _SUCCESS") {
  FunctionRegistry registry;
  auto ctx = localContext(registry, 2);
  TempDir dir;
  std::string out = dir.file("out");
  ctx.parallelize(pairs({{"a", "1"}, {"", "plain"}, {"c", "3"}}), 2).saveAsTextFile(out);
  CHECK(readText(out + "/part-00000") == "a\t1\n");
  CHECK(readText(out + "/part-00001") == "plain\nc\t3\n");
  CHECK(std::filesystem::exists(out + "/_SUCCESS"));
  CHECK_FALSE(std::filesystem::exists(out + "/_temporary"));
  CHECK_THROWS_AS(ctx.parallelize(std::vector<std::string>{"x"}, 1).saveAsTextFile(out), std::invalid_argument);
  // What was saved reads back.
  CHECK(sorted(ctx.textFile(out, 3).map("parse_pair").collect()) == pairs({{"a", "1"}, {"c", "3"}, {"plain", ""}}));
}

TEST_CASE("dataset: unknown and wrong-kind function names fail where they are declared") {
  FunctionRegistry registry;
  auto ctx = localContext(registry, 1);
  auto data = ctx.parallelize(std::vector<std::string>{"a"}, 1);
  auto message = [](auto&& fn) -> std::string {
    try {
      fn();
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "no error";
  };
  CHECK(message([&] { data.map("nope"); }) == "map(\"nope\"): no map function named 'nope' is registered");
  CHECK(message([&] { data.map("sum"); }) == "map(\"sum\"): 'sum' is a reduce function, not a map function");
  CHECK(message([&] { data.reduceByKey("split_words"); }).find("is a flatMap function, not a reduce function") !=
        std::string::npos);
  CHECK(message([&] { data.filter("swap"); }).find("not a filter function") != std::string::npos);
  CHECK(message([&] { data.reduce("identity"); }).find("not a reduce function") != std::string::npos);
  CHECK(message([&] { ctx.textFile("/no/such/input"); }).find("does not exist") != std::string::npos);
  CHECK_THROWS_AS(registry.map("sum", [](const Record& r) { return r; }), std::invalid_argument);
}

TEST_CASE("dataset: a function that keeps failing fails the job after 4 attempts, naming the stage") {
  FunctionRegistry registry;
  LocalBackend* backend = nullptr;
  auto ctx = localContext(registry, 2, 1, &backend);
  auto data = ctx.parallelize(std::vector<std::string>{"1", "2", "three"}, 3).map("pair_with_one").map("swap");
  try {
    data.reduceByKey("sum").collect();
    FAIL("no error");
  } catch (const JobError& e) {
    std::string what = e.what();
    CHECK(what.find(" failed 4 times; last error: ") != std::string::npos);
    CHECK(what.find("(collect at dataset_test.cpp:") != std::string::npos);
    CHECK(what.find("'three' is not a decimal integer") != std::string::npos);
    CHECK(what.find("stage ") != std::string::npos);
  }
  CHECK(ctx.lastJob().failedAttempts == 4);
  // The context stays usable.
  CHECK(data.count() == 3);
}

TEST_CASE("dataset: built-in functions") {
  FunctionRegistry registry;
  auto ctx = localContext(registry, 1);
  auto words = ctx.parallelize(std::vector<std::string>{"It's a Dog-eat-dog world, 2024!", "", "  tab\there "}, 2);
  CHECK(values(words.flatMap("split_words").collect()) ==
        std::vector<std::string>{"it", "s", "a", "dog", "eat", "dog", "world", "tab", "here"});
  CHECK(values(words.flatMap("split_whitespace").collect()) ==
        std::vector<std::string>{"It's", "a", "Dog-eat-dog", "world,", "2024!", "tab", "here"});
  CHECK(words.filter("non_empty").count() == 2);
  auto kv = ctx.parallelize(std::vector<std::string>{"k\tv\tw", "solo"}, 1).map("parse_pair");
  CHECK(kv.collect() == pairs({{"k", "v\tw"}, {"solo", ""}}));
  CHECK(values(kv.map("format_pair").collect()) == std::vector<std::string>{"k\tv\tw", "solo\t"});
  CHECK(values(kv.map("key_only").collect()) == std::vector<std::string>{"k", "solo"});
  CHECK(values(kv.mapValues("value_length").map("value_only").collect()) == std::vector<std::string>{"3", "0"});
  CHECK(ctx.parallelize(std::vector<std::string>{"5", "-3", "9"}, 2).reduce("min") == "-3");
}

TEST_CASE("dataset: progress lines per stage and a job summary") {
  FunctionRegistry registry;
  std::ostringstream log;
  ContextOptions options;
  options.log = &log;
  auto ctx = Context::create(registry, std::make_unique<LocalBackend>(registry, LocalOptions{2, 1, ""}), options);
  REQUIRE(ctx);
  auto counts = ctx->parallelize(std::vector<std::string>{"a b", "b c"}, 2).flatMap("split_words").map("pair_with_one").reduceByKey("sum", 3);
  counts.count();
  std::string text = log.str();
  CHECK(text.find("(map at dataset_test.cpp:") != std::string::npos);
  CHECK(text.find("): 2/2 tasks") != std::string::npos);
  CHECK(text.find("(count at dataset_test.cpp:") != std::string::npos);
  CHECK(text.find("): 3/3 tasks") != std::string::npos);
  CHECK(text.find("finished in ") != std::string::npos);
  CHECK(text.find("2 stages run, 0 skipped, 5 tasks, 0 failed attempts") != std::string::npos);
  MESSAGE(text);
}
