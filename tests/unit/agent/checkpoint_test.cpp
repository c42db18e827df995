// Unit tests of the agent's checkpoints (agent/checkpoint.hpp) on a
// temporary work dir, and of processStartTime, which recovery relies on.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "agent/checkpoint.hpp"
#include "common/process.hpp"
#include "tests/harness/faulty_file_system.hpp"
#include "tests/harness/temp_dir.hpp"

using namespace clusternodes;
using namespace clusternodes::agent;
using clusternodes::testing::FaultyFileSystem;
using clusternodes::testing::FileFaults;
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

// What a restarted agent would read from `dir`.
struct Reopened {
  std::map<std::string, RunCheckpoint> runs;
  std::map<std::string, ExecutorCheckpoint> executors;
  std::vector<std::string> broken;
};

Reopened reopen(const std::string& dir) {
  auto files = makeFileSystem();
  Checkpoints checkpoints(dir, *files);
  Reopened out;
  checkpoints.load(&out.broken);
  out.runs = checkpoints.runs();
  out.executors = checkpoints.executors();
  return out;
}

void appendRaw(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::app) << bytes;
}

}  // namespace

TEST_CASE("the file system replaces a file whole, and its errors name the path and the errno") {
  TempDir tmp{"cn-checkpoint-test"};
  auto files = makeFileSystem();
  std::string path = tmp.path + "/deep/er/file";
  REQUIRE(files->replace(path, "first").ok());
  CHECK(readFile(path) == "first");
  REQUIRE(files->replace(path, "second, longer", true).ok());
  CHECK(readFile(path) == "second, longer");
  REQUIRE(files->append(path, "+more").ok());
  CHECK(*files->read(path) == "second, longer+more");
  REQUIRE(files->truncate(path, 6).ok());
  CHECK(*files->read(path) == "second");
  CHECK_FALSE(fs::exists(path + ".tmp"));
  CHECK(files->read(tmp.path + "/none").error().code == ErrorCode::kNotFound);
  // A file where the directory should be: a clear error, not a crash.
  auto blocked = files->append(path + "/below", "x");
  REQUIRE_FALSE(blocked.ok());
  CHECK(blocked.error().message.find(path) != std::string::npos);
  auto inside = files->replace(path + "/below", "x");
  REQUIRE_FALSE(inside.ok());
  CHECK(inside.error().message.find(path) != std::string::npos);
  REQUIRE(files->remove(tmp.path + "/deep").ok());
  REQUIRE(files->remove(tmp.path + "/deep").ok());  // gone already: no error
}

TEST_CASE("the agent checkpoint keeps the id and boot id, none or a broken one is an error") {
  TempDir tmp{"cn-checkpoint-test"};
  auto files = makeFileSystem();
  Checkpoints checkpoints(tmp.path, *files);
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

TEST_CASE("runs and executors are staged, written by commit, and read back by a restarted agent") {
  TempDir tmp{"cn-checkpoint-test"};
  auto files = makeFileSystem();
  Checkpoints checkpoints(tmp.path, *files);
  checkpoints.load();
  CHECK(checkpoints.runs().empty());  // no meta dir at all
  CHECK_FALSE(checkpoints.staged());

  RunCheckpoint a = sampleRun("run-a");
  RunCheckpoint b = sampleRun("run-b");
  b.state = TaskState::kStarting;
  checkpoints.saveRun(a);
  checkpoints.saveRun(b);
  checkpoints.saveRunState("run-b", b.sandbox, 99, TaskState::kFinished);
  checkpoints.saveRunState("never-was", "/x", 1, TaskState::kRunning);  // not a run: nothing
  ExecutorCheckpoint executor{"c-1", std::string("\0info\1", 6), "/work/sandboxes/f/executors/e/c-1", 777, 123456};
  checkpoints.saveExecutor(executor);
  checkpoints.saveExecutor({"c-2", "other", "/s/2", 778, 9});
  CHECK(checkpoints.staged());
  // Staged is not written: a restart now would find nothing.
  CHECK(reopen(tmp.path).runs.empty());

  REQUIRE(checkpoints.commit().ok());
  CHECK_FALSE(checkpoints.staged());
  auto back = reopen(tmp.path);
  REQUIRE(back.runs.size() == 2);
  CHECK(back.runs["run-a"].runTask == a.runTask);
  CHECK(back.runs["run-a"].sandbox == a.sandbox);
  CHECK(back.runs["run-a"].executorPid == 4242);
  CHECK(std::string(toString(back.runs["run-a"].state)) == "TASK_RUNNING");
  CHECK(back.runs["run-b"].runTask == b.runTask);
  CHECK(back.runs["run-b"].executorPid == 99);
  CHECK(std::string(toString(back.runs["run-b"].state)) == "TASK_FINISHED");
  REQUIRE(back.executors.size() == 2);
  CHECK(back.executors["c-1"].info == executor.info);
  CHECK(back.executors["c-1"].sandbox == executor.sandbox);
  CHECK(back.executors["c-1"].pid == 777);
  CHECK(back.executors["c-1"].startTime == 123456);
  CHECK(back.broken.empty());

  checkpoints.removeRun("run-a");
  checkpoints.removeRun("never-was");
  checkpoints.removeExecutor("c-2");
  REQUIRE(checkpoints.commit().ok());
  back = reopen(tmp.path);
  CHECK(back.runs.size() == 1);
  CHECK(back.runs.count("run-b") == 1);
  CHECK(back.executors.size() == 1);

  checkpoints.clear();
  CHECK(reopen(tmp.path).runs.empty());
  CHECK_FALSE(checkpoints.loadAgent().ok());
}

TEST_CASE("a run's pending status updates round-trip in order, are replaced whole, and may be none") {
  TempDir tmp{"cn-checkpoint-test"};
  auto files = makeFileSystem();
  Checkpoints checkpoints(tmp.path, *files);
  checkpoints.load();
  checkpoints.saveRun(sampleRun("run-u"));
  REQUIRE(checkpoints.commit().ok());
  auto loaded = [&] {
    auto runs = reopen(tmp.path).runs;
    REQUIRE(runs.size() == 1);
    return runs["run-u"].updates;
  };
  CHECK(loaded().empty());

  // Binary records, one empty, one longer than 255 bytes (a multi-byte length).
  std::vector<std::string> updates = {std::string("first\0update", 12), "", std::string(70000, 'x'), "last"};
  checkpoints.saveUpdates("run-u", updates);
  REQUIRE(checkpoints.commit().ok());
  CHECK(loaded() == updates);

  // Acknowledged ones go: the list is replaced, not appended to.
  checkpoints.saveUpdates("run-u", {"last"});
  REQUIRE(checkpoints.commit().ok());
  CHECK(loaded() == std::vector<std::string>{"last"});
  checkpoints.saveUpdates("run-u", {});
  REQUIRE(checkpoints.commit().ok());
  CHECK(loaded().empty());
  // A run saved again keeps its updates.
  checkpoints.saveUpdates("run-u", {"kept"});
  checkpoints.saveRun(sampleRun("run-u"));
  REQUIRE(checkpoints.commit().ok());
  CHECK(loaded() == std::vector<std::string>{"kept"});
}

TEST_CASE("a torn or corrupt record ends what is read, and the next commit starts a clean generation") {
  TempDir tmp{"cn-checkpoint-test"};
  auto files = makeFileSystem();
  {
    Checkpoints checkpoints(tmp.path, *files);
    checkpoints.load();
    checkpoints.saveRun(sampleRun("run-1"));
    REQUIRE(checkpoints.commit().ok());
    checkpoints.saveRun(sampleRun("run-2"));
    REQUIRE(checkpoints.commit().ok());
  }
  std::string journal = tmp.path + "/meta/journal-0";
  std::string whole = readFile(journal);
  REQUIRE_FALSE(whole.empty());

  // The agent died halfway through writing a third record.
  appendRaw(journal, std::string("\x40\0\0\0\1\2\3\4R partial", 16));
  auto back = reopen(tmp.path);
  CHECK(back.runs.size() == 2);

  // A flipped byte in the second record: only the first is believed.
  std::string corrupt = whole;
  corrupt[corrupt.size() - 3] ^= 0x55;
  std::ofstream(journal, std::ios::binary | std::ios::trunc) << corrupt;
  back = reopen(tmp.path);
  CHECK(back.runs.size() == 1);
  CHECK(back.runs.count("run-1") == 1);

  // Carrying on from there: the next commit writes a snapshot of what was
  // read and a new journal, so the bad bytes are never read again.
  Checkpoints checkpoints(tmp.path, *files);
  checkpoints.load();
  CHECK(checkpoints.staged());
  checkpoints.saveRun(sampleRun("run-3"));
  REQUIRE(checkpoints.commit().ok());
  CHECK(checkpoints.snapshots() == 1);
  CHECK_FALSE(fs::exists(journal));
  checkpoints.removeRun("run-1");
  REQUIRE(checkpoints.commit().ok());
  CHECK(fs::exists(tmp.path + "/meta/journal-1"));
  back = reopen(tmp.path);
  CHECK(back.runs.size() == 1);
  CHECK(back.runs.count("run-3") == 1);
}

TEST_CASE("a journal that outgrows the live runs is folded into a snapshot") {
  TempDir tmp{"cn-checkpoint-test"};
  auto files = makeFileSystem();
  Checkpoints checkpoints(tmp.path, *files);
  checkpoints.load();
  // Runs that come and go, as a busy agent's do; each a few hundred bytes.
  for (int i = 0; i < 4000; ++i) {
    RunCheckpoint run = sampleRun("run-" + std::to_string(i));
    run.runTask = std::string(300, 't');
    checkpoints.saveRun(run);
    checkpoints.saveUpdates(run.containerId, {std::string(200, 'u')});
    if (i % 100 != 0) checkpoints.removeRun(run.containerId);
    REQUIRE(checkpoints.commit().ok());
  }
  CHECK(checkpoints.snapshots() >= 1);
  CHECK(checkpoints.journalBytes() <= (1u << 20));
  auto back = reopen(tmp.path);
  REQUIRE(back.runs.size() == 40);
  CHECK(back.runs["run-3900"].updates == std::vector<std::string>{std::string(200, 'u')});
  CHECK(back.runs["run-3900"].runTask == std::string(300, 't'));
}

TEST_CASE("a failed write loses nothing: the batch stays staged, a torn part is taken back, and it is written later") {
  TempDir tmp{"cn-checkpoint-test"};
  auto faults = std::make_shared<FileFaults>();
  FaultyFileSystem files(faults);
  Checkpoints checkpoints(tmp.path, files);
  checkpoints.load();
  checkpoints.saveRun(sampleRun("run-1"));
  REQUIRE(checkpoints.commit().ok());

  // The disk fills up in the middle of the next batch's write.
  faults->failWrites = true;
  faults->tornBytes = 20;
  checkpoints.saveRun(sampleRun("run-2"));
  checkpoints.saveUpdates("run-1", {"update-1"});
  auto failed = checkpoints.commit();
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().message.find(tmp.path + "/meta/journal-0") != std::string::npos);
  CHECK(failed.error().message.find("errno 28") != std::string::npos);
  CHECK(checkpoints.staged());
  // What is on disk is what was there before, whole.
  auto back = reopen(tmp.path);
  CHECK(back.runs.size() == 1);
  CHECK(back.runs["run-1"].updates.empty());

  // More changes while it fails; then space comes back.
  checkpoints.saveUpdates("run-1", {"update-1", "update-2"});
  REQUIRE_FALSE(checkpoints.commit().ok());
  faults->failWrites = false;
  REQUIRE(checkpoints.commit().ok());
  CHECK_FALSE(checkpoints.staged());
  back = reopen(tmp.path);
  CHECK(back.runs.size() == 2);
  CHECK(back.runs["run-1"].updates == std::vector<std::string>{"update-1", "update-2"});
  CHECK(back.broken.empty());
}

TEST_CASE("a torn write that cannot be taken back is left behind by a new generation") {
  TempDir tmp{"cn-checkpoint-test"};
  auto faults = std::make_shared<FileFaults>();
  FaultyFileSystem files(faults);
  Checkpoints checkpoints(tmp.path, files);
  checkpoints.load();
  checkpoints.saveRun(sampleRun("run-1"));
  REQUIRE(checkpoints.commit().ok());
  faults->failWrites = true;
  faults->failTruncate = true;
  faults->tornBytes = 12;
  checkpoints.saveRun(sampleRun("run-2"));
  REQUIRE_FALSE(checkpoints.commit().ok());
  faults->failWrites = false;
  faults->failTruncate = false;
  REQUIRE(checkpoints.commit().ok());
  CHECK(checkpoints.snapshots() == 1);
  checkpoints.saveRun(sampleRun("run-3"));
  REQUIRE(checkpoints.commit().ok());
  auto back = reopen(tmp.path);
  CHECK(back.runs.size() == 3);
  CHECK(back.broken.empty());
}

TEST_CASE("checkpoints in the layout before the journal are read, and rewritten in the new one") {
  TempDir tmp{"cn-checkpoint-test"};
  std::string meta = tmp.path + "/meta";
  fs::create_directories(meta + "/runs/run-old");
  std::ofstream(meta + "/runs/run-old/task.bin", std::ios::binary) << std::string("\0task", 5);
  std::ofstream(meta + "/runs/run-old/run.json") << R"({"sandbox": "/s/old", "executor_pid": 31, "state": "TASK_RUNNING"})";
  std::string updates;
  for (const std::string& u : {std::string("one"), std::string("two")}) {
    updates += std::string(1, static_cast<char>(u.size())) + std::string(3, '\0') + u;
  }
  std::ofstream(meta + "/runs/run-old/updates.bin", std::ios::binary) << updates;
  fs::create_directories(meta + "/runs/no-task");
  std::ofstream(meta + "/runs/no-task/run.json") << R"({"state": "TASK_RUNNING"})";
  fs::create_directories(meta + "/executors/c-old");
  std::ofstream(meta + "/executors/c-old/executor.bin", std::ios::binary) << "info";
  std::ofstream(meta + "/executors/c-old/executor.json") << R"({"sandbox": "/s/e", "pid": 41, "start_time": 77})";

  auto files = makeFileSystem();
  Checkpoints checkpoints(tmp.path, *files);
  std::vector<std::string> broken;
  checkpoints.load(&broken);
  CHECK(broken == std::vector<std::string>{"no-task"});
  REQUIRE(checkpoints.runs().size() == 1);
  const auto& run = checkpoints.runs().at("run-old");
  CHECK(run.runTask == std::string("\0task", 5));
  CHECK(run.sandbox == "/s/old");
  CHECK(run.executorPid == 31);
  CHECK(run.updates == std::vector<std::string>{"one", "two"});
  REQUIRE(checkpoints.executors().size() == 1);
  CHECK(checkpoints.executors().at("c-old").startTime == 77);

  REQUIRE(checkpoints.commit().ok());
  CHECK_FALSE(fs::exists(meta + "/runs"));
  CHECK_FALSE(fs::exists(meta + "/executors"));
  auto back = reopen(tmp.path);
  CHECK(back.runs.size() == 1);
  CHECK(back.runs["run-old"].updates == std::vector<std::string>{"one", "two"});
  CHECK(back.executors.size() == 1);
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

