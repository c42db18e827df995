// Streaming: shell commands as filters, as mappers and reducers.
#include <doctest/doctest.h>

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "examples/mapreduce/streaming.hpp"
#include "tests/harness/temp_dir.hpp"
#include "tests/unit/mapreduce/mr_test_util.hpp"

using namespace clusternodes;
using namespace clusternodes::mapreduce;
using namespace clusternodes::mapreduce::testing;
using clusternodes::testing::TempDir;

namespace {

// Polls `predicate` every 10 ms until it holds or 20 s pass.
bool waitUntil(const std::function<bool()>& predicate) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!predicate()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// How many processes of the process group `group` run (zombies, which no
// one may reap here, do not count).
int liveProcessesInGroup(pid_t group) {
  int count = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    std::ifstream in(entry.path() / "stat");
    std::string stat;
    if (!std::getline(in, stat)) continue;
    // pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 1));
    char state = 0;
    long parent = 0;
    long processGroup = 0;
    if (fields >> state >> parent >> processGroup && processGroup == group && state != 'Z' && state != 'X') ++count;
  }
  return count;
}

}  // namespace

TEST_CASE("runFilter: pipes input through a command and collects its stdout") {
  std::string output;
  auto result = runFilter("tr a-z A-Z", "hello\nworld\n", output);
  CHECK(result.ok());
  CHECK(output == "HELLO\nWORLD\n");
}

TEST_CASE("runFilter: large input and output in both directions do not deadlock") {
  std::string input;
  for (int i = 0; i < 200000; ++i) input += "line " + std::to_string(i) + "\n";  // ~2.5 MB, beyond pipe buffers
  std::string output;
  auto result = runFilter("cat", input, output);
  CHECK(result.ok());
  CHECK(output == input);
}

TEST_CASE("runFilter: a failing command reports its status and the tail of its stderr") {
  std::string output;
  auto result = runFilter("echo partial; echo 'something broke' >&2; exit 3", "ignored input\n", output);
  CHECK_FALSE(result.ok());
  CHECK(result.exitCode == 3);
  CHECK(output == "partial\n");
  CHECK(result.describe("mapper 'x'") == "mapper 'x' exited with status 3: something broke");
}

TEST_CASE("runFilter: a command that does not read its input still ends cleanly") {
  std::string input(4 << 20, 'x');
  std::string output;
  auto result = runFilter("echo done", input, output);
  CHECK(result.ok());
  CHECK(output == "done\n");
}

TEST_CASE("runFilter: a signal ending the command is reported") {
  std::string output;
  auto result = runFilter("kill -9 $$", "", output);
  CHECK(result.signal == 9);
  CHECK_FALSE(result.ok());
}

TEST_CASE("runFilter: cancelling kills the command's process group") {
  TempDir dir("cn-test-mr");
  const std::string groupFile = dir.path + "/group";
  std::atomic<bool> cancel{false};
  std::string output;
  // The shell leads the group and says which it is; `sleep` and `cat` hold
  // the output open for 30 s unless the whole group is killed.
  auto filtering = std::async(std::launch::async, [&] {
    return runFilter("echo $$ > " + groupFile + "; sleep 30 | cat", "", output, &cancel);
  });
  pid_t group = 0;
  REQUIRE(waitUntil([&] {
    group = static_cast<pid_t>(std::atoi(readFile(groupFile).c_str()));
    return group > 0;
  }));
  cancel = true;
  // A wait limit well inside the 30 s that a kill of the shell alone would take.
  REQUIRE(filtering.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
  auto result = filtering.get();
  CHECK(result.cancelled);
  CHECK_FALSE(result.ok());
  CHECK(waitUntil([&] { return liveProcessesInGroup(group) == 0; }));
}

TEST_CASE("streaming job: a tr/awk word count equals the built-in one") {
  TempDir dir("cn-test-mr");
  writeFile(dir.path + "/in", "b a c\na b\n\nc c c\nlast");
  JobSpec job;
  job.kind = JobKind::kStreaming;
  job.reducers = 2;
  job.mapper = "tr -s ' ' '\\n' | grep -v '^$' | sed 's/$/\t1/'";
  job.reducer = "awk -F '\\t' '{ n[$1] += $2 } END { for (k in n) print k \"\\t\" n[k] }' | LC_ALL=C sort";
  auto parts = runLocalJob(job, {dir.path + "/in"}, 4, dir.path + "/w");
  std::map<std::string, std::string> counts;
  for (const auto& part : parts) {
    size_t pos = 0;
    while (pos < part.size()) {
      size_t nl = part.find('\n', pos);
      std::string line = part.substr(pos, nl - pos);
      pos = nl + 1;
      size_t tab = line.find('\t');
      counts[line.substr(0, tab)] = line.substr(tab + 1);
    }
  }
  CHECK(counts == std::map<std::string, std::string>{{"a", "2"}, {"b", "2"}, {"c", "4"}, {"last", "1"}});
}

TEST_CASE("streaming job: the reducer sees its keys sorted, and key-only lines without a tab") {
  TempDir dir("cn-test-mr");
  writeFile(dir.path + "/in", "pear\napple\nfig\napple\n");
  JobSpec job;
  job.kind = JobKind::kStreaming;
  job.reducers = 1;
  job.mapper = "cat";
  job.reducer = "cat";
  auto parts = runLocalJob(job, {dir.path + "/in"}, 6, dir.path + "/w");
  REQUIRE(parts.size() == 1);
  CHECK(parts[0] == "apple\napple\nfig\npear\n");
}

TEST_CASE("streaming job: a combiner command runs on each sorted map output") {
  TempDir dir("cn-test-mr");
  writeFile(dir.path + "/in", "x\nx\ny\nx\n");
  JobSpec job;
  job.kind = JobKind::kStreaming;
  job.reducers = 1;
  job.mapper = "sed 's/$/\t1/'";
  job.combinerCommand = "uniq -c | awk '{ print $2 \"\\t\" $1 }'";
  job.reducer = "cat";
  InputSplit split{dir.path + "/in", 0, 8, {}};
  auto output = runMapTask(job, split, dir.path + "/m");
  CHECK(readFile(output.files[0]) == "x\t3\ny\t1\n");
}

TEST_CASE("streaming job: a failing mapper fails the map task with its status and stderr") {
  TempDir dir("cn-test-mr");
  writeFile(dir.path + "/in", "a\n");
  JobSpec job;
  job.kind = JobKind::kStreaming;
  job.reducers = 1;
  job.mapper = "echo 'no such thing' >&2; exit 7";
  job.reducer = "cat";
  try {
    runMapTask(job, InputSplit{dir.path + "/in", 0, 2, {}}, dir.path + "/m");
    FAIL("the map task should have failed");
  } catch (const TaskError& e) {
    std::string what = e.what();
    CHECK(what.find("exited with status 7") != std::string::npos);
    CHECK(what.find("no such thing") != std::string::npos);
  }
}
