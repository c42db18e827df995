// How an agent starts executors: a bounded number at a time, in order, and
// an executor (or a launcher) that never connects back fails its task
// instead of hanging it.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "clusternodes/scheduler.hpp"
#include "tests/harness/cluster.hpp"
#include "tests/harness/driver.hpp"
#include "tests/harness/recording_scheduler.hpp"

using namespace clusternodes;
using namespace clusternodes::testing;
using namespace std::chrono_literals;

namespace {

// A launcher directory whose clusternodes-executor never connects back.
std::string silentExecutorDir(const TestCluster& cluster, const std::string& marker) {
  std::string dir = cluster.dir() + "/silent-launcher";
  std::filesystem::create_directories(dir);
  std::string path = dir + "/clusternodes-executor";
  std::ofstream(path) << "#!/bin/sh\nexec sleep " << marker << "\n";
  ::chmod(path.c_str(), 0755);
  return dir;
}

// A launcher directory whose clusternodes-launcher never registers (its
// clusternodes-executor is the real one, which the agent checks is there).
std::string silentLauncherDir(const TestCluster& cluster, const std::string& marker) {
  std::string dir = cluster.dir() + "/silent-shared-launcher";
  std::filesystem::create_directories(dir);
  std::string path = dir + "/clusternodes-launcher";
  std::ofstream(path) << "#!/bin/sh\nexec sleep " << marker << "\n";
  ::chmod(path.c_str(), 0755);
  std::filesystem::copy_file(binary("clusternodes-executor"), dir + "/clusternodes-executor");
  return dir;
}

}  // namespace

TEST_CASE("an agent starts at most --max-starting-executors executors at once, and every queued task still runs") {
  TestCluster cluster;
  cluster.startMaster();
  size_t agent = cluster.startAgent("cpus:4;mem:4096;disk:1024", {"--max-starting-executors=2"});
  cluster.waitForAgents(1);

  constexpr int kTasks = 24;
  RecordingScheduler scheduler;
  std::atomic<bool> launched{false};
  scheduler.onOffer = [&](SchedulerDriver* driver, const Offer& offer) {
    if (launched.exchange(true)) return;
    std::vector<TaskInfo> tasks;
    for (int i = 0; i < kTasks; ++i) tasks.push_back(makeTask("t" + std::to_string(i), offer, "sleep 0.1"));
    driver->launchTasks({offer.id}, tasks);
  };
  auto driver = startDriver(scheduler, cluster, "bounded-starts");

  // While the tasks start, the agent never has more than two executors starting.
  int mostStarting = 0;
  bool allFinished = eventually(
      [&] {
        auto s = cluster.agentState(agent);
        if (s.is_object()) mostStarting = std::max(mostStarting, s["metrics"]["executors_starting"].get<int>());
        for (int i = 0; i < kTasks; ++i) {
          bool finished = false;
          for (const auto& st : scheduler.statusesOf(TaskID{"t" + std::to_string(i)})) {
            finished |= std::string(toString(st.state)) == "TASK_FINISHED";
          }
          if (!finished) return false;
        }
        return true;
      },
      60s);
  CHECK(allFinished);
  CHECK(mostStarting <= 2);
  auto s = cluster.agentState(agent);
  REQUIRE(s.is_object());
  CHECK(s["metrics"]["tasks_launched"].get<int>() == kTasks);
  CHECK(s["metrics"]["launches_queued"].get<int>() >= kTasks - 2);  // all but the first two waited
  CHECK(s["metrics"]["executors_starting"].get<int>() == 0);
  CHECK(s["metrics"]["launches_waiting"].get<int>() == 0);
  driver->stop();
  driver->join();
}

TEST_CASE("an executor that never registers fails its task, and a task killed while it waits never starts") {
  TestCluster cluster;
  cluster.startMaster();
  const std::string marker = "47.1717";
  size_t agent = cluster.startAgent("cpus:2;mem:2048;disk:1024",
                                    {"--launcher-dir=" + silentExecutorDir(cluster, marker), "--native-launcher=process",
                                     "--max-starting-executors=1", "--executor-registration-timeout=1500ms"});
  cluster.waitForAgents(1);

  RecordingScheduler scheduler;
  std::atomic<bool> launched{false};
  scheduler.onOffer = [&](SchedulerDriver* driver, const Offer& offer) {
    if (launched.exchange(true)) return;
    driver->launchTasks({offer.id}, {makeTask("first", offer, "true"), makeTask("second", offer, "true")});
  };
  auto driver = startDriver(scheduler, cluster, "silent-executor");

  // The first task's executor started (and hangs); the second waits its turn.
  REQUIRE(eventually([&] { return cluster.processesMatching("sleep " + marker).size() == 1; }));
  auto s = cluster.agentState(agent);
  REQUIRE(s.is_object());
  CHECK(s["metrics"]["launches_waiting"].get<int>() == 1);

  driver->killTask(TaskID{"second"});
  auto killed = scheduler.waitForState(TaskID{"second"}, TaskState::kKilled);
  REQUIRE(killed);
  CHECK(killed->message == "killed before it started");

  auto failed = scheduler.waitForState(TaskID{"first"}, TaskState::kFailed, 20s);
  REQUIRE(failed);
  CHECK(std::string(toString(failed->reason)) == "REASON_EXECUTOR_REGISTRATION_TIMEOUT");
  CHECK(failed->message == "the executor did not register within 1500 ms");
  // The hanging executor was killed, and the killed task never started one.
  CHECK(eventually([&] { return cluster.processesMatching("sleep " + marker).empty(); }));
  s = cluster.agentState(agent);
  REQUIRE(s.is_object());
  CHECK(s["metrics"]["tasks_launched"].get<int>() == 2);
  CHECK(s["metrics"]["executors_starting"].get<int>() == 0);
  for (const auto& st : scheduler.statusesOf(TaskID{"second"})) {
    CHECK(std::string(toString(st.state)) == "TASK_KILLED");  // no STARTING or RUNNING first
  }
  driver->stop();
  driver->join();
}

TEST_CASE("a launcher that never registers is killed after --executor-registration-timeout, and fails the task "
          "that waited for it, and the next task starts another") {
  TestCluster cluster;
  cluster.startMaster();
  const std::string marker = "47.2727";
  cluster.startAgent("cpus:2;mem:2048;disk:1024", {"--launcher-dir=" + silentLauncherDir(cluster, marker),
                                                   "--executor-registration-timeout=1500ms"});
  cluster.waitForAgents(1);
  // How many silent launchers the agent has killed, by its log.
  auto killed = [&] {
    std::ifstream in(cluster.dir() + "/agent-0.log");
    size_t count = 0;
    for (std::string line; std::getline(in, line);) {
      bool launcher = line.find("the launcher (pid") != std::string::npos;
      count += launcher && line.find("did not register within 1500 ms; killing it") != std::string::npos ? 1 : 0;
    }
    return count;
  };
  // The one started with the agent, killed for its silence.
  REQUIRE(eventually([&] { return killed() == 1; }, 10s));
  REQUIRE(eventually([&] { return cluster.processesMatching("sleep " + marker).empty(); }, 10s));

  RecordingScheduler scheduler;
  launchOnOffers(scheduler, {{"", [](const Offer& offer) {
                                return std::vector<TaskInfo>{makeTask("waited", offer, "true")};
                              }}});
  auto driver = startDriver(scheduler, cluster, "silent-launcher");
  // The task starts another launcher, silent too: killed in its turn, and
  // the task fails.
  auto failed = scheduler.waitForState(TaskID{"waited"}, TaskState::kFailed, 20s);
  REQUIRE(failed);
  CHECK(std::string(toString(failed->reason)) == "REASON_EXECUTOR_REGISTRATION_TIMEOUT");
  CHECK(eventually([&] { return killed() == 2; }, 10s));
  CHECK(eventually([&] { return cluster.processesMatching("sleep " + marker).empty(); }, 10s));
  driver->stop();
  driver->join();
}
