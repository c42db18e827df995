// Unit tests for the sandbox garbage collector, on a real temporary directory
// and a real Loop. Each test drives the loop until what it waits for holds,
// with a deadline so that a broken collector fails rather than hangs.
#include <doctest/doctest.h>

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>

#include "agent/garbage_collector.hpp"
#include "common/loop.hpp"
#include "tests/harness/temp_dir.hpp"

using namespace clusternodes;
using namespace clusternodes::agent;
namespace fs = std::filesystem;
using std::chrono::hours;
using std::chrono::milliseconds;

using clusternodes::testing::TempDir;

namespace {

// A run directory <root>/<framework>/<task>/<run> with some content.
std::string makeRun(const std::string& root, const std::string& framework, const std::string& task,
                    const std::string& run) {
  fs::path dir = fs::path(root) / framework / task / run;
  fs::create_directories(dir / "nested");
  std::ofstream(dir / "stdout") << "output\n";
  std::ofstream(dir / "nested" / "file") << "x";
  return dir.string();
}

// Sets a directory's modification time `age` into the past.
void age(const std::string& dir, std::chrono::seconds by) {
  fs::last_write_time(dir, fs::file_time_type::clock::now() - by);
}

// Runs `loop` until `done` holds (checked every few ms) or `limit` passes.
bool runUntil(Loop& loop, const std::function<bool()>& done, milliseconds limit = milliseconds(5000)) {
  if (done()) return true;
  Timer poll(loop);
  Timer deadline(loop);
  poll.start(
      milliseconds(2),
      [&] {
        if (done()) loop.stop();
      },
      milliseconds(2));
  deadline.start(limit, [&] { loop.stop(); });
  loop.run();
  return done();
}

// Gives the loop `time` to run (to see that something does NOT happen).
void runFor(Loop& loop, milliseconds time) {
  Timer deadline(loop);
  deadline.start(time, [&] { loop.stop(); });
  loop.run();
}

// No headroom, so that the collector's deadline is at most `delay` whatever
// the fill of the test machine's disk.
GcOptions options(std::chrono::nanoseconds delay) {
  GcOptions o;
  o.delay = delay;
  o.diskHeadroom = 0.0;
  o.diskWatchInterval = milliseconds(50);
  return o;
}

}  // namespace

// A scheduled run goes after its delay, with its task and framework
// directories once empty; the sandboxes root itself stays.
TEST_CASE("GarbageCollector: a scheduled run is removed with its empty parents, not the root") {
  TempDir tmp("cn-gc-test");
  std::string run = makeRun(tmp.path, "fw1", "task1", "run1");
  Loop loop;
  GarbageCollector gc(loop, tmp.path, options(milliseconds(100)));
  gc.schedule(run);
  CHECK(gc.pending() == 1);
  CHECK(gc.collected() == 0);
  if (gc.allowedAge() > milliseconds(20)) CHECK(fs::exists(run));  // not before its delay
  REQUIRE(runUntil(loop, [&] { return gc.collected() == 1; }));
  CHECK(gc.pending() == 0);
  CHECK_FALSE(fs::exists(run));
  CHECK_FALSE(fs::exists(tmp.path + "/fw1/task1"));
  CHECK_FALSE(fs::exists(tmp.path + "/fw1"));
  CHECK(fs::is_directory(tmp.path));
}

// A sibling run (another run of the task) keeps the task and framework
// directories; removing it later removes them too.
TEST_CASE("GarbageCollector: a sibling run keeps the parent directories") {
  TempDir tmp("cn-gc-test");
  std::string first = makeRun(tmp.path, "fw", "task", "run1");
  std::string second = makeRun(tmp.path, "fw", "task", "run2");
  std::string otherTask = makeRun(tmp.path, "fw", "task2", "run1");
  Loop loop;
  GarbageCollector gc(loop, tmp.path, options(milliseconds(50)));
  gc.schedule(first);
  REQUIRE(runUntil(loop, [&] { return gc.collected() == 1; }));
  CHECK_FALSE(fs::exists(first));
  CHECK(fs::exists(second));
  CHECK(fs::is_directory(tmp.path + "/fw/task"));

  gc.schedule(second);
  REQUIRE(runUntil(loop, [&] { return gc.collected() == 2; }));
  CHECK_FALSE(fs::exists(tmp.path + "/fw/task"));
  CHECK(fs::is_directory(tmp.path + "/fw"));  // task2 still holds it
  CHECK(fs::exists(otherTask));
}

// Several runs scheduled one after another all go, in order, each counted
// once; pending() follows.
TEST_CASE("GarbageCollector: several scheduled runs are all collected") {
  TempDir tmp("cn-gc-test");
  Loop loop;
  GarbageCollector gc(loop, tmp.path, options(milliseconds(30)));
  std::set<std::string> runs;
  for (int i = 0; i < 4; ++i) {
    runs.insert(makeRun(tmp.path, "fw" + std::to_string(i % 2), "t" + std::to_string(i), "r"));
  }
  for (const auto& run : runs) gc.schedule(run);
  CHECK(gc.pending() <= 4);
  REQUIRE(runUntil(loop, [&] { return gc.collected() == 4; }));
  CHECK(gc.pending() == 0);
  for (const auto& run : runs) CHECK_FALSE(fs::exists(run));
  CHECK(fs::is_empty(tmp.path));
}

// start() picks up the runs an earlier agent left behind (by their mtime):
// old ones go at once, recent ones wait their delay, active ones and stray
// files are left alone.
TEST_CASE("GarbageCollector: start schedules leftovers by mtime, not active runs") {
  TempDir tmp("cn-gc-test");
  std::string active = makeRun(tmp.path, "fw", "task", "active");
  std::string recent = makeRun(tmp.path, "fw", "task", "recent");
  std::string old = makeRun(tmp.path, "fw", "old-task", "old");
  age(old, hours(24 * 14));  // twice the one-week delay
  std::ofstream(tmp.path + "/stray-file") << "not a framework";
  std::ofstream(tmp.path + "/fw/stray-file") << "not a task";
  std::ofstream(tmp.path + "/fw/task/stray-file") << "not a run";

  Loop loop;
  GcOptions o = options(hours(24 * 7));
  GarbageCollector gc(loop, tmp.path, o);
  gc.start({active});
  // The two-week-old run is collected within start() itself.
  CHECK(gc.collected() == 1);
  CHECK_FALSE(fs::exists(old));
  CHECK_FALSE(fs::exists(tmp.path + "/fw/old-task"));
  // The recent one waits (a week, less what the disk's fill takes off).
  CHECK(gc.pending() == 1);
  CHECK(fs::exists(recent));
  CHECK(fs::exists(active));
  CHECK(fs::exists(tmp.path + "/stray-file"));
  CHECK(fs::exists(tmp.path + "/fw/task/stray-file"));
  // A while of running (disk checks every 50 ms) changes nothing.
  runFor(loop, milliseconds(150));
  CHECK(gc.collected() == 1);
  CHECK(gc.pending() == 1);
  CHECK(fs::exists(recent));
}

// With a short delay the leftovers found by start() go once the loop runs,
// the active run stays.
TEST_CASE("GarbageCollector: start's leftovers are collected after the delay") {
  TempDir tmp("cn-gc-test");
  std::string active = makeRun(tmp.path, "fw", "task", "active");
  std::string leftover = makeRun(tmp.path, "fw", "task", "leftover");
  Loop loop;
  GarbageCollector gc(loop, tmp.path, options(milliseconds(100)));
  gc.start({active});
  REQUIRE(runUntil(loop, [&] { return gc.collected() == 1; }));
  CHECK(gc.pending() == 0);
  CHECK_FALSE(fs::exists(leftover));
  CHECK(fs::exists(active));
}

// start() on a root that does not exist yet (a fresh agent) schedules
// nothing and does not throw.
TEST_CASE("GarbageCollector: start on a missing root") {
  TempDir tmp("cn-gc-test");
  Loop loop;
  GarbageCollector gc(loop, tmp.path + "/sandboxes", options(milliseconds(10)));
  gc.start({});
  CHECK(gc.pending() == 0);
  CHECK(gc.collected() == 0);
  runFor(loop, milliseconds(30));
  CHECK(gc.collected() == 0);
}

// A headroom of 1.0 means the disk is always "full": allowedAge() is zero and
// even with a week's delay a scheduled run goes at once.
TEST_CASE("GarbageCollector: full headroom removes at once") {
  TempDir tmp("cn-gc-test");
  std::string run = makeRun(tmp.path, "fw", "task", "run");
  Loop loop;
  GcOptions o;
  o.delay = hours(24 * 7);
  o.diskHeadroom = 1.0;
  GarbageCollector gc(loop, tmp.path, o);
  CHECK(gc.allowedAge() == std::chrono::nanoseconds::zero());
  gc.schedule(run);
  REQUIRE(runUntil(loop, [&] { return gc.collected() == 1; }));
  CHECK_FALSE(fs::exists(run));
  CHECK(gc.pending() == 0);
}

// allowedAge() is the delay shrunk by the disk's fill: never more than the
// delay, never negative, zero once headroom + fill reach 1.
TEST_CASE("GarbageCollector: allowedAge bounds") {
  TempDir tmp("cn-gc-test");
  Loop loop;
  GcOptions o;
  o.delay = hours(24 * 7);
  o.diskHeadroom = 0.0;
  GarbageCollector none(loop, tmp.path, o);
  CHECK(none.allowedAge() <= o.delay);
  CHECK(none.allowedAge() >= std::chrono::nanoseconds::zero());
  o.diskHeadroom = 0.5;
  GarbageCollector half(loop, tmp.path, o);
  CHECK(half.allowedAge() <= o.delay / 2 + std::chrono::seconds(1));
  CHECK(half.allowedAge() <= none.allowedAge());
  o.diskHeadroom = 2.0;  // beyond 1: still zero, not negative
  GarbageCollector over(loop, tmp.path, o);
  CHECK(over.allowedAge() == std::chrono::nanoseconds::zero());
}

// A run that disappeared before its time (removed by hand) does not stop
// the collector; later runs are still collected.
TEST_CASE("GarbageCollector: a run already gone does not stop the rest") {
  TempDir tmp("cn-gc-test");
  std::string gone = makeRun(tmp.path, "fw", "a", "r");
  std::string later = makeRun(tmp.path, "fw", "b", "r");
  Loop loop;
  GarbageCollector gc(loop, tmp.path, options(milliseconds(20)));
  gc.schedule(gone);
  gc.schedule(later);
  fs::remove_all(gone);
  REQUIRE(runUntil(loop, [&] { return gc.pending() == 0; }));
  CHECK_FALSE(fs::exists(later));
  CHECK(fs::is_directory(tmp.path));
}
