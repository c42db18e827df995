// The driver-executor protocol's encoding, and the executor's side of its
// reliability (a repeated launch, acknowledgements, heartbeats), with a fake
// ExecutorDriver.
#include <doctest/doctest.h>

#include <condition_variable>
#include <mutex>

#include "examples/spark/executor.hpp"
#include "examples/spark/plan.hpp"
#include "examples/spark/protocol.hpp"
#include "tests/unit/spark/spark_test_util.hpp"

using namespace clusternodes;
using namespace clusternodes::spark;
using spark_test::TempDir;

TEST_CASE("spark protocol: every message round-trips, malformed ones are errors, not crashes") {
  auto launch = decodeDriverMessage(encodeLaunch("{\"task\":1}"));
  REQUIRE(launch);
  CHECK((launch->kind == DriverMessage::Kind::kLaunch));
  CHECK(launch->task == "{\"task\":1}");
  auto ack = decodeDriverMessage(encodeAck({3, 9, 1LL << 40}));
  REQUIRE(ack);
  CHECK((ack->kind == DriverMessage::Kind::kAck));
  CHECK(ack->acked == std::vector<int64_t>{3, 9, 1LL << 40});

  auto result = decodeExecutorMessage(encodeResult(std::string("bytes\0\n\xff", 8)));
  REQUIRE(result);
  CHECK((result->kind == ExecutorMessage::Kind::kResult));
  CHECK(result->result == std::string("bytes\0\n\xff", 8));
  auto file = decodeExecutorMessage(encodeResultFile(ResultFile{7, "/sandbox/results/task-7", 123456789}));
  REQUIRE(file);
  CHECK(file->file.taskId == 7);
  CHECK(file->file.path == "/sandbox/results/task-7");
  CHECK(file->file.size == 123456789);
  Heartbeat h{"exec-3", 4, "http://127.0.0.1:5051", "/sb", {5, 6}};
  auto beat = decodeExecutorMessage(encodeHeartbeat(h));
  REQUIRE(beat);
  CHECK(beat->heartbeat.executorId == "exec-3");
  CHECK(beat->heartbeat.cores == 4);
  CHECK(beat->heartbeat.fileUrl == "http://127.0.0.1:5051");
  CHECK(beat->heartbeat.tasks == std::vector<int64_t>{5, 6});

  for (std::string bad : {std::string(), std::string("L"), std::string("Lx"), std::string("Z\n{}"),
                          std::string("A\nnot json"), std::string("A\n{\"a\":1}")}) {
    INFO("bad: " << bad);
    CHECK_FALSE(decodeDriverMessage(bad));
  }
  for (std::string bad : {std::string("H\n{}"), std::string("F\n[1]"), std::string("H\n{\"executor\":1}"),
                          std::string("Q\n"), std::string("R")}) {
    INFO("bad: " << bad);
    CHECK_FALSE(decodeExecutorMessage(bad));
  }
}

namespace {

class FakeDriver : public ExecutorDriver {
 public:
  DriverStatus start() override { return DriverStatus::kRunning; }
  DriverStatus stop() override { return DriverStatus::kStopped; }
  DriverStatus abort() override { return DriverStatus::kAborted; }
  DriverStatus join() override { return DriverStatus::kStopped; }
  DriverStatus run() override { return DriverStatus::kStopped; }
  DriverStatus sendStatusUpdate(const clusternodes::TaskStatus& status) override {
    std::lock_guard lock(mu_);
    statuses_.push_back(status);
    return DriverStatus::kRunning;
  }
  DriverStatus sendFrameworkMessage(const std::string& data) override {
    std::lock_guard lock(mu_);
    auto message = decodeExecutorMessage(data);
    REQUIRE(message);
    messages_.push_back(*message);
    cv_.notify_all();
    return DriverStatus::kRunning;
  }

  // Waits for a message that satisfies `match`; returns it.
  template <typename Match>
  ExecutorMessage waitFor(Match match, std::chrono::seconds timeout = std::chrono::seconds(20)) {
    std::unique_lock lock(mu_);
    ExecutorMessage found;
    size_t from = 0;
    bool ok = cv_.wait_for(lock, timeout, [&] {
      for (; from < messages_.size(); ++from) {
        if (match(messages_[from])) {
          found = messages_[from++];
          return true;
        }
      }
      return false;
    });
    REQUIRE(ok);
    return found;
  }
  size_t resultsFor(int64_t taskId) {
    std::lock_guard lock(mu_);
    size_t n = 0;
    for (const auto& m : messages_) {
      if (m.kind != ExecutorMessage::Kind::kResult) continue;
      auto r = decodeTaskResult(m.result);
      if (r && r->taskId == taskId) ++n;
    }
    return n;
  }
  std::vector<clusternodes::TaskStatus> statuses() {
    std::lock_guard lock(mu_);
    return statuses_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ExecutorMessage> messages_;
  std::vector<clusternodes::TaskStatus> statuses_;
};

// A count of the values of a two-slice parallelize.
TaskDescription countTask(int64_t taskId, int partition) {
  auto node = std::make_shared<Node>();
  node->id = 1;
  node->op = Op::kParallelize;
  node->slices = {{Record{"", "a"}, Record{"", "b"}}, {Record{"", "c"}}};
  node->numPartitions = 2;
  TaskDescription t;
  t.taskId = taskId;
  t.stageId = 0;
  t.partition = partition;
  t.plan = std::make_shared<const std::string>(serialisePlan({node}));
  t.nodeId = 1;
  t.action.kind = ActionKind::kCount;
  return t;
}

bool isResultOf(const ExecutorMessage& m, int64_t taskId) {
  if (m.kind != ExecutorMessage::Kind::kResult) return false;
  auto r = decodeTaskResult(m.result);
  return r && r->taskId == taskId;
}

}  // namespace

TEST_CASE("spark executor: runs tasks sent as messages, once each, until acknowledged") {
  TempDir dir;
  FunctionRegistry registry;
  FakeDriver driver;
  SparkExecutor executor(registry, dir.path());
  ExecutorInfo info;
  info.executorId.value = "exec-1";
  executor.registered(&driver, info, FrameworkID{"fw"}, FrameworkInfo{}, ExecutorAgentInfo{AgentID{"a"}, "h", "http://127.0.0.1:1"});
  TaskInfo holder;
  holder.taskId.value = "executor-1";
  holder.resources.addScalar("cpus", 2);
  executor.launchTask(&driver, holder);
  REQUIRE(driver.statuses().size() == 1);
  CHECK(std::string(toString(driver.statuses()[0].state)) == "TASK_RUNNING");

  // Heartbeats say who it is and how many tasks it runs at once.
  auto beat = driver.waitFor([](const ExecutorMessage& m) { return m.kind == ExecutorMessage::Kind::kHeartbeat; });
  CHECK(beat.heartbeat.executorId == "exec-1");
  CHECK(beat.heartbeat.cores == 2);
  CHECK(beat.heartbeat.sandbox == dir.path());

  executor.frameworkMessage(&driver, encodeLaunch(encodeTask(countTask(10, 0))));
  auto first = driver.waitFor([](const ExecutorMessage& m) { return isResultOf(m, 10); });
  auto result = decodeTaskResult(first.result);
  REQUIRE(result);
  CHECK(std::string(toString(result->status)) == "success");
  CHECK(result->result == "2");
  CHECK(result->executorId == "exec-1");

  // Launched again (the driver missed the result): the result again, not a
  // second run; an unacknowledged result is listed in heartbeats.
  executor.frameworkMessage(&driver, encodeLaunch(encodeTask(countTask(10, 0))));
  driver.waitFor([](const ExecutorMessage& m) { return isResultOf(m, 10); });
  auto listed = driver.waitFor([](const ExecutorMessage& m) {
    return m.kind == ExecutorMessage::Kind::kHeartbeat &&
           std::find(m.heartbeat.tasks.begin(), m.heartbeat.tasks.end(), 10) != m.heartbeat.tasks.end();
  });
  (void)listed;

  // Acknowledged: no longer listed, and a late repeat of the launch is ignored.
  executor.frameworkMessage(&driver, encodeAck({10}));
  driver.waitFor([](const ExecutorMessage& m) {
    return m.kind == ExecutorMessage::Kind::kHeartbeat &&
           std::find(m.heartbeat.tasks.begin(), m.heartbeat.tasks.end(), 10) == m.heartbeat.tasks.end();
  });
  size_t before = driver.resultsFor(10);
  executor.frameworkMessage(&driver, encodeLaunch(encodeTask(countTask(10, 0))));
  executor.frameworkMessage(&driver, encodeLaunch(encodeTask(countTask(11, 1))));
  auto second = decodeTaskResult(driver.waitFor([](const ExecutorMessage& m) { return isResultOf(m, 11); }).result);
  REQUIRE(second);
  CHECK(second->result == "1");
  CHECK(driver.resultsFor(10) == before);

  // Garbage from the driver is dropped; the executor goes on.
  executor.frameworkMessage(&driver, "nonsense");
  executor.frameworkMessage(&driver, encodeLaunch("{not a task"));
  executor.frameworkMessage(&driver, encodeLaunch(encodeTask(countTask(12, 0))));
  driver.waitFor([](const ExecutorMessage& m) { return isResultOf(m, 12); });
  CHECK(executor.stopWorkers());
}
