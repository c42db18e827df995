// Records, runs, base64, text splits, the plan's and tasks' wire forms.
#include <doctest/doctest.h>

#include <set>

#include "examples/spark/plan.hpp"
#include "examples/spark/record.hpp"
#include "examples/spark/task.hpp"
#include "examples/spark/text_input.hpp"
#include "tests/unit/spark/spark_test_util.hpp"

using namespace clusternodes::spark;
using namespace spark_test;

TEST_CASE("format: runs carry any bytes") {
  std::vector<Record> records = {{"", ""}, {"k", "v"}, {std::string("a\0b", 3), "tab\tnl\n"}, {"", std::string(300, 'x')}};
  std::string run = encodeRun(records);
  std::vector<Record> back;
  REQUIRE(decodeRun(run, back));
  CHECK(back == records);
  std::vector<RecordView> views;
  CHECK_FALSE(decodeRun(std::string_view(run).substr(0, run.size() - 1), views));
}

TEST_CASE("format: the merger yields (key, value) order across runs") {
  std::vector<std::vector<RecordView>> runs = {{{"a", "2"}, {"c", "1"}}, {{"a", "1"}, {"b", "9"}}, {}};
  RunMerger merger(std::move(runs));
  RecordView v;
  std::vector<std::string> out;
  while (merger.next(v)) out.push_back(std::string(v.key) + std::string(v.value));
  CHECK(out == std::vector<std::string>{"a1", "a2", "b9", "c1"});
}

TEST_CASE("format: base64 round-trips") {
  for (const std::string& s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar", std::string("\0\xff\x80", 3)}) {
    std::string back;
    REQUIRE(base64Decode(base64Encode(s), back));
    CHECK(back == s);
  }
  CHECK(base64Encode("foobar") == "Zm9vYmFy");
  std::string out;
  CHECK_FALSE(base64Decode("Zm9", out));
  CHECK_FALSE(base64Decode("Zm9v!A==", out));
}

TEST_CASE("format: every line is read by exactly one split, whatever the split size") {
  TempDir dir;
  std::string text = "first\n\nthird line\nx\n" + std::string(100, 'y') + "\nno newline at end";
  writeText(dir.file("in.txt"), text);
  std::vector<std::string> expected = {"first", "", "third line", "x", std::string(100, 'y'), "no newline at end"};
  for (int parts : {1, 2, 3, 5, 7, 16, 64, 1000}) {
    auto splits = computeTextSplits(dir.file("in.txt"), parts);
    REQUIRE(splits);
    std::vector<std::string> lines;
    for (const auto& s : *splits) readSplitLines(s, [&](std::string_view l) { lines.emplace_back(l); });
    CHECK_MESSAGE(lines == expected, "partitions: " << parts);
  }
}

TEST_CASE("format: a directory's files in name order, skipping _ and . names") {
  TempDir dir;
  writeText(dir.file("b.txt"), "b1\nb2\n");
  writeText(dir.file("a.txt"), "a1\n");
  writeText(dir.file("_SUCCESS"), "");
  writeText(dir.file(".hidden"), "h\n");
  writeText(dir.file("empty"), "");
  auto splits = computeTextSplits(dir.path(), 2);
  REQUIRE(splits);
  std::vector<std::string> lines;
  for (const auto& s : *splits) readSplitLines(s, [&](std::string_view l) { lines.emplace_back(l); });
  CHECK(lines == std::vector<std::string>{"a1", "b1", "b2"});
  CHECK_FALSE(computeTextSplits(dir.file("nope"), 2));
}

TEST_CASE("format: a plan round-trips through its JSON") {
  auto src = std::make_shared<Node>();
  src->id = 1;
  src->op = Op::kParallelize;
  src->numPartitions = 2;
  src->slices = {{{"", "a"}, {"k", std::string("\0\x01", 2)}}, {}};
  src->site = "t.cpp:1";
  auto text = std::make_shared<Node>();
  text->id = 2;
  text->op = Op::kTextFile;
  text->numPartitions = 1;
  text->splits = {{"/data/in.txt", 10, 20}};
  auto m = std::make_shared<Node>();
  m->id = 3;
  m->op = Op::kMap;
  m->fn = "parse_pair";
  m->numPartitions = 1;
  m->parents = {text};
  m->cached = true;
  auto j = std::make_shared<Node>();
  j->id = 4;
  j->op = Op::kJoin;
  j->numPartitions = 3;
  j->parents = {src, m};
  j->shuffleIds = {5, 6};
  auto s = std::make_shared<Node>();
  s->id = 5;
  s->op = Op::kSortByKey;
  s->ascending = false;
  s->bounds = {"b", std::string("m\0", 2)};
  s->numPartitions = 3;
  s->parents = {j};
  s->shuffleIds = {7};
  auto u = std::make_shared<Node>();
  u->id = 6;
  u->op = Op::kUnion;
  u->numPartitions = 5;
  u->parents = {s, src};

  std::string json = serialisePlan({u});
  auto plan = parsePlan(json);
  REQUIRE_MESSAGE(plan, plan.error().message);
  CHECK(plan->nodes().size() == 6);
  CHECK(serialisePlan({plan->find(6)}) == json);
  auto back = plan->find(5);
  REQUIRE(back);
  CHECK_FALSE(back->ascending);
  CHECK(back->bounds == s->bounds);
  CHECK(plan->find(1)->slices == src->slices);
  CHECK(plan->find(1)->site == "t.cpp:1");
  CHECK(plan->find(2)->splits == text->splits);
  CHECK(plan->find(3)->cached);
  CHECK(plan->find(3)->fn == "parse_pair");
  CHECK(plan->find(4)->shuffleIds == std::vector<int>{5, 6});
  CHECK(plan->find(4)->parents[1]->id == 3);
  CHECK(unionSource(*plan->find(6), 3) == std::pair<size_t, int>{1, 0});
}

TEST_CASE("format: malformed plans are refused with a reason") {
  CHECK_FALSE(parsePlan("not json"));
  CHECK_FALSE(parsePlan(R"({"version":2,"nodes":[]})"));
  auto unknownOp = parsePlan(R"({"version":1,"nodes":[{"id":1,"op":"explode","partitions":1,"parents":[]}]})");
  REQUIRE_FALSE(unknownOp);
  CHECK(unknownOp.error().message.find("explode") != std::string::npos);
  auto lateParent = parsePlan(
      R"({"version":1,"nodes":[{"id":2,"op":"map","fn":"identity","partitions":1,"parents":[1]}]})");
  CHECK_FALSE(lateParent);
  auto badSlices = parsePlan(R"({"version":1,"nodes":[{"id":1,"op":"parallelize","partitions":2,"parents":[],"slices":[""]}]})");
  CHECK_FALSE(badSlices);
}

TEST_CASE("format: tasks and results round-trip") {
  TaskDescription t;
  t.taskId = 77;
  t.jobId = 3;
  t.stageId = 5;
  t.partition = 2;
  t.attempt = 1;
  t.plan = std::make_shared<const std::string>(R"({"version":1,"nodes":[]})");
  t.nodeId = 9;
  t.shuffleId = 4;
  t.shuffleNodeId = 10;
  t.action = {ActionKind::kTake, "", 5, ""};
  t.shuffleInputs[1] = {MapOutputLocation{"e1", "/a"}, std::nullopt};
  t.preferredExecutor = "e1";
  auto back = decodeTask(encodeTask(t));
  REQUIRE(back);
  CHECK(back->taskId == 77);
  CHECK(*back->plan == *t.plan);
  CHECK((back->action.kind == ActionKind::kTake));
  CHECK(back->action.n == 5);
  CHECK(back->shuffleInputs == t.shuffleInputs);
  CHECK(back->preferredExecutor == "e1");

  TaskResult r;
  r.taskId = 77;
  r.executorId = "e1";
  r.status = TaskStatus::kFetchFailed;
  r.error = "gone";
  r.result = std::string("\0\xff", 2);
  r.fetchShuffleId = 1;
  r.fetchMapPartition = 0;
  r.fetchLocation = {"e2", "/b"};
  r.cachedBlocks = {{3, 1}};
  r.mapOutputSizes = {1, 2};
  r.metrics.sourceReads = 4;
  auto rb = decodeTaskResult(encodeTaskResult(r));
  REQUIRE(rb);
  CHECK((rb->status == TaskStatus::kFetchFailed));
  CHECK(rb->result == r.result);
  CHECK(rb->fetchLocation == r.fetchLocation);
  CHECK(rb->cachedBlocks == r.cachedBlocks);
  CHECK(rb->mapOutputSizes == r.mapOutputSizes);
  CHECK(rb->metrics.sourceReads == 4);
  CHECK_FALSE(decodeTask("{}"));
  CHECK_FALSE(decodeTaskResult("[]"));
}
