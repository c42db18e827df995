// The DAG scheduler, driven with fake task results (no threads, no I/O).
#include <doctest/doctest.h>

#include <algorithm>

#include "examples/spark/dag.hpp"

using namespace clusternodes::spark;

namespace {

std::shared_ptr<Node> source(int id, int partitions) {
  auto n = std::make_shared<Node>();
  n->id = id;
  n->op = Op::kParallelize;
  n->numPartitions = partitions;
  n->slices.resize(static_cast<size_t>(partitions));
  return n;
}

std::shared_ptr<Node> narrow(int id, NodePtr parent, Op op = Op::kMap) {
  auto n = std::make_shared<Node>();
  n->id = id;
  n->op = op;
  n->fn = "identity";
  n->numPartitions = parent->numPartitions;
  n->parents = {std::move(parent)};
  return n;
}

std::shared_ptr<Node> wide(int id, Op op, std::vector<NodePtr> parents, int partitions, std::vector<int> shuffles) {
  auto n = std::make_shared<Node>();
  n->id = id;
  n->op = op;
  n->fn = op == Op::kReduceByKey ? "sum" : "";
  n->numPartitions = partitions;
  n->parents = std::move(parents);
  n->shuffleIds = std::move(shuffles);
  return n;
}

TaskResult success(const TaskDescription& t, const std::string& executor) {
  TaskResult r;
  r.taskId = t.taskId;
  r.stageId = t.stageId;
  r.partition = t.partition;
  r.attempt = t.attempt;
  r.executorId = executor;
  r.status = TaskStatus::kSuccess;
  if (t.isShuffleMap()) {
    r.mapOutput = {executor, "/work/" + executor};
  } else {
    r.result = "p" + std::to_string(t.partition);
  }
  return r;
}

TaskResult failure(const TaskDescription& t, const std::string& executor, const std::string& error) {
  TaskResult r = success(t, executor);
  r.status = TaskStatus::kFailed;
  r.error = error;
  r.result.clear();
  return r;
}

// Executor of a partition: e1 for even, e2 for odd.
std::string evenOdd(int partition) { return partition % 2 == 0 ? "e1" : "e2"; }

// Completes every task of the next wave with success; returns them.
std::vector<TaskDescription> runWave(DagScheduler& dag) {
  auto tasks = dag.takeTasks();
  for (const auto& t : tasks) dag.taskEnded(success(t, evenOdd(t.partition)));
  return tasks;
}

std::vector<int> partitionsOf(const std::vector<TaskDescription>& tasks) {
  std::vector<int> ps;
  for (const auto& t : tasks) ps.push_back(t.partition);
  std::sort(ps.begin(), ps.end());
  return ps;
}

ActionSpec collectAction() { return ActionSpec{ActionKind::kCollect, "", 0, ""}; }

}  // namespace

TEST_CASE("dag: a narrow job is one result stage") {
  DagScheduler dag;
  auto src = source(1, 3);
  auto m = narrow(2, src);
  dag.submitJob(m, collectAction(), {}, "collect");
  auto tasks = dag.takeTasks();
  REQUIRE(tasks.size() == 3);
  for (const auto& t : tasks) {
    CHECK_FALSE(t.isShuffleMap());
    CHECK(t.nodeId == 2);
    CHECK(t.shuffleInputs.empty());
    CHECK(t.plan != nullptr);
  }
  // Results arrive out of order; they come back in partition order.
  dag.taskEnded(success(tasks[2], "e1"));
  dag.taskEnded(success(tasks[0], "e1"));
  CHECK(dag.jobRunning());
  dag.taskEnded(success(tasks[1], "e2"));
  CHECK_FALSE(dag.jobRunning());
  CHECK(dag.jobStats().succeeded);
  CHECK(dag.results() == std::vector<std::string>{"p0", "p1", "p2"});
  CHECK(dag.jobStats().stages.size() == 1);
  CHECK(dag.jobStats().stagesSkipped == 0);
}

TEST_CASE("dag: stages split at every shuffle, and run parents first") {
  DagScheduler dag;
  auto src = source(1, 4);
  auto m1 = narrow(2, src);
  auto r = wide(3, Op::kReduceByKey, {m1}, 3, {0});
  auto m2 = narrow(4, r, Op::kMapValues);
  auto g = wide(5, Op::kGroupByKey, {m2}, 2, {1});
  auto f = narrow(6, g, Op::kFilter);
  dag.submitJob(f, collectAction(), {}, "collect");

  auto wave1 = runWave(dag);
  REQUIRE(wave1.size() == 4);
  for (const auto& t : wave1) {
    CHECK(t.isShuffleMap());
    CHECK(t.shuffleId == 0);
    CHECK(t.shuffleNodeId == 3);
    CHECK(t.nodeId == 2);  // the pipeline src -> m1
  }
  auto wave2 = runWave(dag);
  REQUIRE(wave2.size() == 3);
  for (const auto& t : wave2) {
    CHECK(t.shuffleId == 1);
    CHECK(t.nodeId == 4);
    REQUIRE(t.shuffleInputs.count(0) == 1);
    CHECK(t.shuffleInputs.at(0).size() == 4);
    CHECK(std::all_of(t.shuffleInputs.at(0).begin(), t.shuffleInputs.at(0).end(), [](const auto& o) { return o.has_value(); }));
  }
  auto wave3 = runWave(dag);
  REQUIRE(wave3.size() == 2);
  for (const auto& t : wave3) {
    CHECK_FALSE(t.isShuffleMap());
    CHECK(t.nodeId == 6);
    CHECK(t.shuffleInputs.count(1) == 1);
    CHECK(t.shuffleInputs.count(0) == 0);  // behind the shuffle boundary
  }
  CHECK(dag.jobStats().succeeded);
  CHECK(dag.jobStats().stages.size() == 3);
  CHECK(dag.jobStats().tasks == 9);
}

TEST_CASE("dag: a join's two map stages run side by side") {
  DagScheduler dag;
  auto a = source(1, 2);
  auto b = source(2, 3);
  auto j = wide(3, Op::kJoin, {a, b}, 2, {0, 1});
  dag.submitJob(j, collectAction(), {}, "collect");
  auto wave1 = dag.takeTasks();
  CHECK(wave1.size() == 5);
  for (const auto& t : wave1) dag.taskEnded(success(t, "e1"));
  auto wave2 = dag.takeTasks();
  REQUIRE(wave2.size() == 2);
  CHECK(wave2[0].shuffleInputs.size() == 2);
}

TEST_CASE("dag: a later job skips stages whose outputs exist") {
  DagScheduler dag;
  auto src = source(1, 4);
  auto r = wide(2, Op::kReduceByKey, {src}, 2, {0});
  auto g = wide(3, Op::kGroupByKey, {r}, 2, {1});
  dag.submitJob(g, collectAction(), {}, "collect");
  while (dag.jobRunning()) runWave(dag);
  CHECK(dag.jobStats().stages.size() == 3);

  auto m = narrow(4, g);
  dag.submitJob(m, ActionSpec{ActionKind::kCount, "", 0, ""}, {}, "count");
  auto tasks = runWave(dag);
  CHECK(tasks.size() == 2);
  CHECK_FALSE(tasks[0].isShuffleMap());
  CHECK_FALSE(dag.jobRunning());
  CHECK(dag.jobStats().stagesSkipped == 2);
  CHECK(dag.jobStats().stages.size() == 1);
}

TEST_CASE("dag: a lost executor's map outputs are recomputed, and only those") {
  DagScheduler dag;
  auto src = source(1, 6);
  auto r = wide(2, Op::kReduceByKey, {src}, 3, {0});
  dag.submitJob(r, collectAction(), {}, "collect");
  while (dag.jobRunning()) runWave(dag);
  CHECK(dag.availableOutputs(0) == 6);

  dag.executorLost("e2");  // held the odd partitions
  CHECK(dag.availableOutputs(0) == 3);
  dag.submitJob(r, collectAction(), {}, "collect");
  auto maps = dag.takeTasks();
  CHECK(partitionsOf(maps) == std::vector<int>{1, 3, 5});
  for (const auto& t : maps) {
    CHECK(t.isShuffleMap());
    dag.taskEnded(success(t, "e3"));
  }
  auto results = runWave(dag);
  CHECK(results.size() == 3);
  CHECK(dag.jobStats().succeeded);
  CHECK(dag.jobStats().stages[0].partitionsRun.size() == 3);
}

TEST_CASE("dag: a result from a lost executor does not count as an output") {
  DagScheduler dag;
  auto src = source(1, 2);
  auto r = wide(2, Op::kReduceByKey, {src}, 1, {0});
  dag.submitJob(r, collectAction(), {}, "collect");
  auto maps = dag.takeTasks();
  dag.executorLost("e2");
  dag.taskEnded(success(maps[0], "e1"));
  dag.taskEnded(success(maps[1], "e2"));  // arrived after its executor was lost
  CHECK(dag.availableOutputs(0) == 1);
  auto again = dag.takeTasks();
  REQUIRE(again.size() == 1);
  CHECK(again[0].partition == 1);
  CHECK(again[0].isShuffleMap());
}

TEST_CASE("dag: a fetch failure re-runs the lost map outputs, then the unfinished reduces") {
  DagScheduler dag;
  auto src = source(1, 4);
  auto r = wide(2, Op::kReduceByKey, {src}, 4, {0});
  dag.submitJob(r, collectAction(), {}, "collect");
  runWave(dag);  // map outputs: 0,2 on e1; 1,3 on e2
  auto reduces = dag.takeTasks();
  REQUIRE(reduces.size() == 4);
  dag.taskEnded(success(reduces[0], "e1"));
  // Reduce 1 cannot read map output 3 (e2's files are gone).
  TaskResult fetch = success(reduces[1], "e1");
  fetch.status = TaskStatus::kFetchFailed;
  fetch.fetchShuffleId = 0;
  fetch.fetchMapPartition = 3;
  fetch.fetchLocation = {"e2", "/work/e2"};
  fetch.error = "missing";
  dag.taskEnded(fetch);
  // Every output at that location is forgotten; only those maps re-run.
  CHECK(dag.availableOutputs(0) == 2);
  auto remaps = dag.takeTasks();
  CHECK(partitionsOf(remaps) == std::vector<int>{1, 3});
  // The reduces still running finish (2 succeeds; 3 fails to fetch too).
  dag.taskEnded(success(reduces[2], "e1"));
  TaskResult fetch2 = fetch;
  fetch2.taskId = reduces[3].taskId;
  fetch2.partition = 3;
  dag.taskEnded(fetch2);
  CHECK(dag.takeTasks().empty());
  for (const auto& t : remaps) dag.taskEnded(success(t, "e3"));
  auto rereduces = dag.takeTasks();
  CHECK(partitionsOf(rereduces) == std::vector<int>{1, 3});
  for (const auto& t : rereduces) {
    for (const auto& loc : t.shuffleInputs.at(0)) REQUIRE(loc.has_value());
    CHECK(t.shuffleInputs.at(0)[3]->executorId == "e3");
    dag.taskEnded(success(t, "e1"));
  }
  CHECK_FALSE(dag.jobRunning());
  CHECK(dag.jobStats().succeeded);
  CHECK(dag.results() == std::vector<std::string>{"p0", "p1", "p2", "p3"});
}

TEST_CASE("dag: failed tasks are retried, and the fourth failure fails the job") {
  DagScheduler dag;
  auto src = source(1, 2);
  dag.submitJob(src, collectAction(), {}, "collect at x.cpp:3");
  auto tasks = dag.takeTasks();
  dag.taskEnded(success(tasks[0], "e1"));
  TaskDescription t = tasks[1];
  for (int attempt = 0; attempt < 3; ++attempt) {
    CHECK(t.attempt == attempt);
    dag.taskEnded(failure(t, "e1", "boom " + std::to_string(attempt)));
    auto again = dag.takeTasks();
    REQUIRE(again.size() == 1);
    t = again[0];
  }
  dag.taskEnded(failure(t, "e1", "out of disk"));
  CHECK_FALSE(dag.jobRunning());
  CHECK_FALSE(dag.jobStats().succeeded);
  const std::string& error = dag.jobStats().error;
  CHECK(error.find("stage ") != std::string::npos);
  CHECK(error.find("collect at x.cpp:3") != std::string::npos);
  CHECK(error.find("partition 1 failed 4 times") != std::string::npos);
  CHECK(error.find("out of disk") != std::string::npos);
  CHECK(dag.jobStats().failedAttempts == 4);

  // Fewer failures: the job succeeds.
  dag.submitJob(src, collectAction(), {}, "collect");
  tasks = dag.takeTasks();
  dag.taskEnded(failure(tasks[0], "e1", "flaky"));
  dag.taskEnded(success(tasks[1], "e1"));
  auto retry = dag.takeTasks();
  REQUIRE(retry.size() == 1);
  dag.taskEnded(success(retry[0], "e2"));
  CHECK(dag.jobStats().succeeded);
  CHECK(dag.jobStats().failedAttempts == 1);
}

TEST_CASE("dag: results of tasks from an ended job are ignored") {
  DagScheduler dag;
  auto src = source(1, 2);
  dag.submitJob(src, collectAction(), {}, "one");
  auto tasks = dag.takeTasks();
  for (int i = 0; i < 4; ++i) {
    dag.taskEnded(failure(tasks[0], "e1", "x"));
    auto again = dag.takeTasks();
    if (!again.empty()) tasks[0] = again[0];
  }
  CHECK_FALSE(dag.jobRunning());
  dag.submitJob(src, collectAction(), {}, "two");
  auto fresh = dag.takeTasks();
  dag.taskEnded(success(tasks[1], "e1"));  // the old job's task
  CHECK(dag.jobRunning());
  for (const auto& t : fresh) dag.taskEnded(success(t, "e1"));
  CHECK(dag.jobStats().succeeded);
}

TEST_CASE("dag: cached partitions stop the walk, guide placement, and are recomputed when lost") {
  DagScheduler dag;
  auto src = source(1, 4);
  auto r = wide(2, Op::kReduceByKey, {src}, 4, {0});
  auto cached = narrow(3, r, Op::kMapValues);
  cached->cached = true;
  // Job 1 computes and caches the partitions: even on e1, odd on e2.
  dag.submitJob(cached, collectAction(), {}, "collect");
  runWave(dag);
  auto results = dag.takeTasks();
  for (const auto& t : results) {
    TaskResult ok = success(t, evenOdd(t.partition));
    ok.cachedBlocks = {{3, t.partition}};
    dag.taskEnded(ok);
  }
  CHECK(dag.cacheLocations(3, 1) == std::set<std::string>{"e2"});

  // Job 2 shuffles the cached node: its map tasks go where the blocks are.
  auto g = wide(4, Op::kGroupByKey, {cached}, 2, {1});
  dag.submitJob(g, collectAction(), {}, "collect");
  auto maps = dag.takeTasks();
  REQUIRE(maps.size() == 4);
  for (const auto& t : maps) {
    CHECK(t.shuffleId == 1);
    CHECK(t.preferredExecutor == evenOdd(t.partition));
    dag.taskEnded(success(t, evenOdd(t.partition)));
  }
  runWave(dag);
  CHECK(dag.jobStats().succeeded);

  // A job over the cached node runs one stage: the walk stops at the cache.
  auto m = narrow(5, cached);
  dag.submitJob(m, ActionSpec{ActionKind::kCount, "", 0, ""}, {}, "count");
  auto counts = runWave(dag);
  CHECK(counts.size() == 4);
  CHECK(dag.jobStats().stages.size() == 1);

  // e2 dies: its cached partitions (1, 3) and map outputs (1, 3) are gone.
  // Recomputing them needs only shuffle 0's lost partitions.
  dag.executorLost("e2");
  CHECK(dag.cacheLocations(3, 1).empty());
  dag.submitJob(m, ActionSpec{ActionKind::kCount, "", 0, ""}, {}, "count");
  auto remaps = dag.takeTasks();
  CHECK(partitionsOf(remaps) == std::vector<int>{1, 3});
  for (const auto& t : remaps) {
    CHECK(t.shuffleId == 0);
    dag.taskEnded(success(t, "e1"));
  }
  auto finals = dag.takeTasks();
  REQUIRE(finals.size() == 4);
  for (const auto& t : finals) {
    CHECK(t.preferredExecutor == (t.partition % 2 == 0 ? "e1" : ""));
    dag.taskEnded(success(t, "e1"));
  }
  CHECK(dag.jobStats().succeeded);
}

TEST_CASE("dag: a job over no partitions succeeds at once") {
  DagScheduler dag;
  auto src = source(1, 0);
  dag.submitJob(src, collectAction(), {}, "collect");
  CHECK_FALSE(dag.jobRunning());
  CHECK(dag.jobStats().succeeded);
  CHECK(dag.results().empty());
}
