// Unit tests for the Reaper's shared containers (executors run inside the
// launcher): their end comes from the launcher's word or from the launcher's
// death, once, and kill() never signals the launcher. A `sleep` child of the
// test stands in for the launcher, on a real Loop.
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <thread>

#include "agent/containerizer/reaper.hpp"
#include "common/loop.hpp"
#include "common/process.hpp"

using namespace clusternodes;
using namespace clusternodes::agent;

namespace {

// A stand-in launcher: `sleep 30`, in a session of its own.
std::unique_ptr<ChildProcess> startSleeper(Loop& loop) {
  SpawnOptions options;
  options.file = "/bin/sleep";
  options.args = {"sleep", "30"};
  auto child = ChildProcess::spawn(loop, options, [](const ExitStatus&) {});
  REQUIRE(child);
  return std::move(child.value());
}

// Runs the loop until `done` holds or 5 s have passed.
template <typename F>
bool runUntil(Loop& loop, F done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  Timer tick(loop);
  tick.start(std::chrono::milliseconds(10), [&] {
    if (done() || std::chrono::steady_clock::now() > deadline) loop.stop();
  }, std::chrono::milliseconds(10));
  loop.run();
  return done();
}

}  // namespace

TEST_CASE("a shared container ends when the launcher says so, once, and kill() leaves the launcher alone") {
  Loop loop;
  Reaper reaper(loop, loop.time());
  auto launcher = startSleeper(loop);
  pid_t pid = launcher->pid();
  uint64_t start = processStartTime(pid).value_or(0);
  REQUIRE(start != 0);

  int ends = 0;
  std::optional<ExitStatus> status;
  reaper.shared("c1", pid, start, [&](std::optional<ExitStatus> exit) {
    ++ends;
    status = exit;
  });
  CHECK(reaper.running("c1"));
  reaper.kill("c1");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(processStartTime(pid).value_or(0) == start);  // the launcher still runs

  reaper.ended("c1", ExitStatus{3, 0});
  reaper.ended("c1", ExitStatus{4, 0});
  CHECK(ends == 1);
  REQUIRE(status);
  CHECK(status->code == 3);
  CHECK_FALSE(reaper.running("c1"));
  ::kill(pid, SIGKILL);
}

TEST_CASE("every shared container of a launcher that dies ends") {
  Loop loop;
  Reaper reaper(loop, loop.time());
  auto launcher = startSleeper(loop);
  pid_t pid = launcher->pid();
  uint64_t start = processStartTime(pid).value_or(0);
  REQUIRE(start != 0);

  int ends = 0;
  reaper.shared("c1", pid, start, [&](std::optional<ExitStatus> exit) { ends += exit ? 100 : 1; });
  reaper.shared("c2", pid, start, [&](std::optional<ExitStatus> exit) { ends += exit ? 100 : 1; });
  ::kill(pid, SIGKILL);
  CHECK(runUntil(loop, [&] { return ends == 2; }));
  CHECK_FALSE(reaper.running("c1"));
  CHECK_FALSE(reaper.running("c2"));
}
