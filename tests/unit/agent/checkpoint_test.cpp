// Unit tests of the agent's checkpoints (agent/checkpoint.hpp) on a
// temporary work dir, and of processStartTime, which recovery relies on.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "agent/checkpoint.hpp"
#include "common/process.hpp"
#include "tests/harness/temp_dir.hpp"

using namespace clusternodes;
using namespace clusternodes::agent;
using clusternodes::testing::TempDir;
namespace fs = std::filesystem;

namespace {

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

RunCheckpoint sampleRun(const std::string& id) {
  RunCheckpoint run;
  run.containerId = id;
  run.runTask = std::string("\0\1binary\0task", 13);
  run.sandbox = "/work/sandboxes/f/t/" + id;
  run.executorPid = 4242;
  run.state = TaskState::kRunning;
  return run;
}

}  // namespace

TEST_CASE("writeAtomically replaces a file whole and leaves no temporary behind") {
  TempDir tmp{"cn-checkpoint-test"};
  std::string path = tmp.path + "/deep/er/file";
  REQUIRE(writeAtomically(path, "first").ok());
  CHECK(readFile(path) == "first");
  REQUIRE(writeAtomically(path, "second, longer").ok());
  CHECK(readFile(path) == "second, longer");
  REQUIRE(writeAtomically(path, "").ok());
  CHECK(readFile(path).empty());
  CHECK_FALSE(fs::exists(path + ".tmp"));
  // A file where the directory should be: a clear error, not a crash.
  auto blocked = writeAtomically(path + "/below", "x");
  REQUIRE_FALSE(blocked.ok());
  CHECK(blocked.error().message.find(path) != std::string::npos);
}

TEST_CASE("the agent checkpoint keeps the id and boot id, none or a broken one is an error") {
  TempDir tmp{"cn-checkpoint-test"};
  Checkpoints checkpoints(tmp.path);
  auto none = checkpoints.loadAgent();
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().code == ErrorCode::kNotFound);

  REQUIRE(checkpoints.saveAgent({AgentID{"agent-7"}, "boot-1"}).ok());
  auto loaded = checkpoints.loadAgent();
  REQUIRE(loaded.ok());
  CHECK(loaded->agentId.value == "agent-7");
  CHECK(loaded->bootId == "boot-1");

  std::ofstream(tmp.path + "/meta/agent.json") << "{not json";
  auto broken = checkpoints.loadAgent();
  REQUIRE_FALSE(broken.ok());
  CHECK(broken.error().code == ErrorCode::kInvalid);
  std::ofstream(tmp.path + "/meta/agent.json") << R"({"boot_id": "b"})";
  CHECK_FALSE(checkpoints.loadAgent().ok());
}

TEST_CASE("run checkpoints round-trip, take state updates, and skip what cannot be read") {
  TempDir tmp{"cn-checkpoint-test"};
  Checkpoints checkpoints(tmp.path);
  CHECK(checkpoints.loadRuns().empty());  // no meta dir at all

  RunCheckpoint a = sampleRun("run-a");
  RunCheckpoint b = sampleRun("run-b");
  b.state = TaskState::kStarting;
  REQUIRE(checkpoints.saveRun(a).ok());
  REQUIRE(checkpoints.saveRun(b).ok());
  b.state = TaskState::kFinished;
  b.executorPid = 99;
  REQUIRE(checkpoints.saveRunState(b).ok());

  // Broken runs: no task, a state that is not one, not JSON.
  fs::create_directories(tmp.path + "/meta/runs/no-task");
  std::ofstream(tmp.path + "/meta/runs/no-task/run.json") << R"({"state": "TASK_RUNNING"})";
  fs::create_directories(tmp.path + "/meta/runs/bad-state");
  std::ofstream(tmp.path + "/meta/runs/bad-state/task.bin") << "x";
  std::ofstream(tmp.path + "/meta/runs/bad-state/run.json") << R"({"state": "TASK_SLEEPING"})";
  fs::create_directories(tmp.path + "/meta/runs/garbage");
  std::ofstream(tmp.path + "/meta/runs/garbage/task.bin") << "x";
  std::ofstream(tmp.path + "/meta/runs/garbage/run.json") << "]]";

  std::vector<std::string> broken;
  auto runs = checkpoints.loadRuns(&broken);
  std::sort(broken.begin(), broken.end());
  CHECK(broken == std::vector<std::string>{"bad-state", "garbage", "no-task"});
  REQUIRE(runs.size() == 2);
  std::sort(runs.begin(), runs.end(), [](const auto& x, const auto& y) { return x.containerId < y.containerId; });
  CHECK(runs[0].containerId == "run-a");
  CHECK(runs[0].runTask == a.runTask);
  CHECK(runs[0].sandbox == a.sandbox);
  CHECK(runs[0].executorPid == 4242);
  CHECK(std::string(toString(runs[0].state)) == "TASK_RUNNING");
  CHECK(runs[1].containerId == "run-b");
  CHECK(runs[1].runTask == b.runTask);
  CHECK(runs[1].executorPid == 99);
  CHECK(std::string(toString(runs[1].state)) == "TASK_FINISHED");

  checkpoints.removeRun("run-a");
  checkpoints.removeRun("never-was");
  CHECK(checkpoints.loadRuns().size() == 1);
  checkpoints.clear();
  CHECK(checkpoints.loadRuns().empty());
  CHECK_FALSE(checkpoints.loadAgent().ok());
}

TEST_CASE("a run's pending status updates round-trip in order, are replaced whole, and may be none") {
  TempDir tmp{"cn-checkpoint-test"};
  Checkpoints checkpoints(tmp.path);
  REQUIRE(checkpoints.saveRun(sampleRun("run-u")).ok());
  auto loaded = [&] {
    auto runs = checkpoints.loadRuns();
    REQUIRE(runs.size() == 1);
    return runs[0].updates;
  };
  CHECK(loaded().empty());  // no updates.bin yet

  // Binary records, one empty, one longer than 255 bytes (a multi-byte length).
  std::vector<std::string> updates = {std::string("first\0update", 12), "", std::string(70000, 'x'), "last"};
  REQUIRE(checkpoints.saveUpdates("run-u", updates).ok());
  CHECK(loaded() == updates);

  // Acknowledged ones go: the file is replaced, not appended to.
  REQUIRE(checkpoints.saveUpdates("run-u", {"last"}).ok());
  CHECK(loaded() == std::vector<std::string>{"last"});
  REQUIRE(checkpoints.saveUpdates("run-u", {}).ok());
  CHECK(loaded().empty());
  CHECK_FALSE(fs::exists(tmp.path + "/meta/runs/run-u/updates.bin.tmp"));

  // A file that does not split into records loses the updates, not the run.
  std::ofstream(tmp.path + "/meta/runs/run-u/updates.bin", std::ios::binary) << std::string("\xff\0\0\0abc", 7);
  auto runs = checkpoints.loadRuns();
  REQUIRE(runs.size() == 1);
  CHECK(runs[0].updates.empty());
  CHECK(runs[0].containerId == "run-u");
}

TEST_CASE("processStartTime: stable for a live process, none for a zombie or a missing pid") {
  auto mine = processStartTime(::getpid());
  REQUIRE(mine.has_value());
  CHECK(processStartTime(::getpid()) == mine);
  CHECK_FALSE(processStartTime(0).has_value());
  CHECK_FALSE(processStartTime(-1).has_value());

  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) ::_exit(0);
  // Until it is reaped, the child is a zombie: not a live process.
  bool zombie = false;
  for (int i = 0; i < 200 && !zombie; ++i) {
    zombie = !processStartTime(child).has_value();
    if (!zombie) ::usleep(5000);
  }
  CHECK(zombie);
  int status = 0;
  ::waitpid(child, &status, 0);
  CHECK_FALSE(processStartTime(child).has_value());
}

TEST_CASE("executor checkpoints round-trip, are removed, and a broken one is dropped") {
  TempDir dir{"cn-checkpoint-test"};
  Checkpoints checkpoints(dir.path);
  CHECK(checkpoints.loadExecutors().empty());
  ExecutorCheckpoint executor{"c-1", std::string("\0info\1", 6), "/work/sandboxes/f/executors/e/c-1", 777, 123456};
  REQUIRE(checkpoints.saveExecutor(executor).ok());
  REQUIRE(checkpoints.saveExecutor({"c-2", "other", "/s/2", 778, 9}).ok());
  auto loaded = checkpoints.loadExecutors();
  REQUIRE(loaded.size() == 2);
  auto first = loaded[0].containerId == "c-1" ? loaded[0] : loaded[1];
  CHECK(first.info == executor.info);
  CHECK(first.sandbox == executor.sandbox);
  CHECK(first.pid == 777);
  CHECK(first.startTime == 123456);

  checkpoints.removeExecutor("c-2");
  REQUIRE(checkpoints.loadExecutors().size() == 1);
  // A checkpoint without its executor.json (a crash between the two
  // writes) is skipped and removed.
  fs::remove(dir.path + "/meta/executors/c-1/executor.json");
  CHECK(checkpoints.loadExecutors().empty());
  CHECK_FALSE(fs::exists(dir.path + "/meta/executors/c-1"));
}
