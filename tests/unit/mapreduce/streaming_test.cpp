// Streaming: shell commands as filters, as mappers and reducers.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>

#include "examples/mapreduce/streaming.hpp"
#include "tests/harness/temp_dir.hpp"
#include "tests/unit/mapreduce/mr_test_util.hpp"

using namespace clusternodes;
using namespace clusternodes::mapreduce;
using namespace clusternodes::mapreduce::testing;
using clusternodes::testing::TempDir;

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
  std::atomic<bool> cancel{false};
  std::string output;
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    cancel = true;
  });
  auto started = std::chrono::steady_clock::now();
  auto result = runFilter("sleep 30 | cat", "", output, &cancel);
  canceller.join();
  CHECK(result.cancelled);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));
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
