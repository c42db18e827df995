// The TaskTracker executor, driven by a fake ExecutorDriver.
#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "examples/mapreduce/executor.hpp"
#include "examples/mapreduce/task_spec.hpp"
#include "tests/harness/temp_dir.hpp"
#include "tests/unit/mapreduce/mr_test_util.hpp"

using namespace clusternodes;
using namespace clusternodes::mapreduce;
using namespace clusternodes::mapreduce::testing;
using clusternodes::testing::TempDir;

namespace {

class FakeDriver : public ExecutorDriver {
 public:
  DriverStatus start() override { return DriverStatus::kRunning; }
  DriverStatus stop() override { return DriverStatus::kStopped; }
  DriverStatus abort() override { return DriverStatus::kAborted; }
  DriverStatus join() override { return DriverStatus::kStopped; }
  DriverStatus run() override { return DriverStatus::kStopped; }
  DriverStatus sendStatusUpdate(const TaskStatus& status) override {
    std::lock_guard<std::mutex> lock(mutex_);
    statuses_.push_back(status);
    changed_.notify_all();
    return DriverStatus::kRunning;
  }
  DriverStatus sendFrameworkMessage(const std::string&) override { return DriverStatus::kRunning; }

  // Waits for a terminal update of `taskId`.
  TaskStatus waitTerminal(const std::string& taskId) {
    std::unique_lock<std::mutex> lock(mutex_);
    TaskStatus found;
    bool ok = changed_.wait_for(lock, std::chrono::seconds(20), [&] {
      for (const auto& s : statuses_) {
        if (s.taskId.value == taskId && isTerminal(s.state)) {
          found = s;
          return true;
        }
      }
      return false;
    });
    REQUIRE(ok);
    return found;
  }
  std::vector<TaskStatus> statuses() {
    std::lock_guard<std::mutex> lock(mutex_);
    return statuses_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<TaskStatus> statuses_;
};

TaskInfo taskWith(const std::string& id, const TaskSpec& spec) {
  TaskInfo task;
  task.taskId.value = id;
  task.data = encodeTaskSpec(spec);
  return task;
}

}  // namespace

TEST_CASE("executor: runs a map then a reduce, reporting URLs and results in the status data") {
  TempDir dir("cn-test-mr");
  writeFile(dir.path + "/in", "b a\na\n");
  FakeDriver driver;
  TaskTracker tracker(dir.path + "/sandbox", fileFetcher());
  ExecutorAgentInfo agent{AgentID{"agent-1"}, "host", "http://127.0.0.1:5052"};
  tracker.registered(&driver, ExecutorInfo{}, FrameworkID{"fw"}, FrameworkInfo{}, agent);

  TaskSpec map;
  map.type = TaskType::kMap;
  map.task = "m-00000";
  map.index = 0;
  map.attempt = 2;
  map.job.kind = JobKind::kWordCount;
  map.job.reducers = 2;
  map.split = InputSplit{dir.path + "/in", 0, 6, {}};
  tracker.launchTask(&driver, taskWith("m-00000-a2", map));
  TaskStatus done = driver.waitTerminal("m-00000-a2");
  REQUIRE((done.state == TaskState::kFinished));
  CHECK((driver.statuses().front().state == TaskState::kRunning));
  TaskResult result = decodeTaskResult(done.data);
  REQUIRE(result.outputs.size() == 2);
  std::string file = dir.path + "/sandbox/map-0-a2/part-1";
  CHECK(result.outputs[1] == TaskTracker::downloadUrl("http://127.0.0.1:5052", file));
  CHECK(result.outputs[1].find("http://127.0.0.1:5052/files/download?path=%2F") == 0);
  CHECK(result.recordsIn == 2);

  // The reduce reads the map's part files (paths stand for URLs here).
  TaskSpec reduce;
  reduce.type = TaskType::kReduce;
  reduce.task = "r-00001";
  reduce.index = 1;
  reduce.job = map.job;
  reduce.output = dir.path + "/out";
  reduce.inputs = {{0, file}};
  tracker.launchTask(&driver, taskWith("r-00001-a1", reduce));
  TaskStatus reduced = driver.waitTerminal("r-00001-a1");
  REQUIRE((reduced.state == TaskState::kFinished));
  CHECK(decodeTaskResult(reduced.data).outputFile == dir.path + "/out/part-r-00001");
  CHECK(readFile(dir.path + "/out/part-r-00001") == readFile(file));  // one map: its run, summed per key

  // A reduce whose input is gone fails, naming the map.
  reduce.inputs = {{3, dir.path + "/gone"}};
  tracker.launchTask(&driver, taskWith("r-00001-a2", reduce));
  TaskStatus failed = driver.waitTerminal("r-00001-a2");
  CHECK((failed.state == TaskState::kFailed));
  CHECK(decodeTaskResult(failed.data).fetchFailed == std::vector<int>{3});
  tracker.joinAll();
}

TEST_CASE("executor: bad task data fails the task, kill stops a running streaming task") {
  TempDir dir("cn-test-mr");
  writeFile(dir.path + "/in", "a\n");
  FakeDriver driver;
  TaskTracker tracker(dir.path + "/sandbox", fileFetcher());
  TaskInfo bad;
  bad.taskId.value = "bad";
  bad.data = "{not json";
  tracker.launchTask(&driver, bad);
  TaskStatus badStatus = driver.waitTerminal("bad");
  CHECK((badStatus.state == TaskState::kFailed));
  CHECK(badStatus.message.find("malformed task data") == 0);

  TaskSpec slow;
  slow.type = TaskType::kMap;
  slow.task = "m-00000";
  slow.job.kind = JobKind::kStreaming;
  slow.job.reducers = 1;
  slow.job.mapper = "sleep 30";
  slow.job.reducer = "cat";
  slow.split = InputSplit{dir.path + "/in", 0, 2, {}};
  tracker.launchTask(&driver, taskWith("m-00000-a1", slow));
  tracker.killTask(&driver, TaskID{"m-00000-a1"});
  // waitTerminal gives up after 20 s, before the mapper's 30 s: the kill
  // ended it.
  CHECK((driver.waitTerminal("m-00000-a1").state == TaskState::kKilled));

  tracker.killTask(&driver, TaskID{"unknown"});
  CHECK((driver.waitTerminal("unknown").state == TaskState::kKilled));
}

TEST_CASE("executor: shutdown cancels running tasks, and they end before the tracker goes") {
  TempDir dir("cn-test-mr");
  writeFile(dir.path + "/in", "a\n");
  FakeDriver driver;
  {
    TaskTracker tracker(dir.path + "/sandbox", fileFetcher());
    TaskSpec slow;
    slow.type = TaskType::kMap;
    slow.task = "m-00000";
    slow.job.kind = JobKind::kStreaming;
    slow.job.reducers = 1;
    slow.job.mapper = "sleep 30";
    slow.job.reducer = "cat";
    slow.split = InputSplit{dir.path + "/in", 0, 2, {}};
    tracker.launchTask(&driver, taskWith("m-00000-a1", slow));
    tracker.shutdown(&driver);
    tracker.cancelAndJoin();
  }
  CHECK((driver.waitTerminal("m-00000-a1").state == TaskState::kKilled));
}

TEST_CASE("task spec: map and reduce specs survive encoding") {
  TaskSpec spec;
  spec.type = TaskType::kReduce;
  spec.task = "r-00002";
  spec.index = 2;
  spec.attempt = 3;
  spec.job.kind = JobKind::kTeraSort;
  spec.job.reducers = 3;
  spec.job.cutPoints = {"a\tb", "zz"};
  spec.output = "/out";
  spec.inputs = {{0, "http://x/0"}, {5, "http://y/5"}};
  auto decoded = decodeTaskSpec(encodeTaskSpec(spec));
  REQUIRE(decoded.ok());
  CHECK((decoded->type == TaskType::kReduce));
  CHECK(decoded->attempt == 3);
  CHECK((decoded->job.kind == JobKind::kTeraSort));
  CHECK(decoded->job.cutPoints == spec.job.cutPoints);
  CHECK(decoded->inputs.size() == 2);
  CHECK(decoded->inputs[1].mapIndex == 5);
  CHECK(decoded->inputs[1].url == "http://y/5");
  CHECK_FALSE(decodeTaskSpec("{\"type\":\"reduce\"}").ok());

  auto result = decodeTaskResult(encodeMapResult({"u0", "u1"}, 10, 2, 3, {4, 5}));
  CHECK(result.outputs == std::vector<std::string>{"u0", "u1"});
  CHECK(result.bytesRead == 10);
  CHECK(result.mapOutputBytes == 9);
  CHECK(decodeTaskResult("garbage").outputs.empty());
}
