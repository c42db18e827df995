// The agent's launcher (agent/launcher/, docs/architecture.md "The
// launcher"): the one long-lived process that runs every native task's
// executor. What users rely on: it is there before the first task, a
// restarted agent takes it back with the tasks in it, its death ends its
// tasks with a reason and kills their processes, the next task gets a new
// one, and it does not outlive an agent that is gone for good with nothing
// left to run.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>

#include "clusternodes/scheduler.hpp"
#include "tests/harness/cluster.hpp"
#include "tests/harness/driver.hpp"
#include "tests/harness/recording_scheduler.hpp"

using namespace clusternodes;
using namespace clusternodes::testing;
using namespace std::chrono_literals;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The launcher named by the agent's pid file, when that process is a
// launcher; 0 otherwise.
pid_t launcherOf(const TestCluster& cluster, size_t agent) {
  std::ifstream in(cluster.dir() + "/agent-" + std::to_string(agent) + "/launcher/launcher.pid");
  pid_t pid = 0;
  if (!(in >> pid) || pid <= 0) return 0;
  return slurp("/proc/" + std::to_string(pid) + "/cmdline").find("clusternodes-launcher") != std::string::npos ? pid
                                                                                                              : 0;
}

// A specific process has ended (gone, or a zombie nobody reaped yet).
bool processGone(pid_t pid) {
  if (::kill(pid, 0) != 0) return errno == ESRCH;
  std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z';
}

pid_t parentOf(pid_t pid) {
  std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 1));
  char state = 0;
  pid_t parent = 0;
  fields >> state >> parent;
  return parent;
}

// The pid a task wrote to `path` (the shell's, which then execs).
pid_t pidIn(const std::string& path) {
  pid_t pid = 0;
  eventually([&] {
    std::string text = slurp(path);
    pid = text.empty() ? 0 : static_cast<pid_t>(std::atoi(text.c_str()));
    return pid > 0;
  });
  return pid;
}

// Launches the tasks `next` makes, one offer at a time, whenever `next` has
// one; declines the other offers briefly so that they come back.
class SteppingScheduler : public RecordingScheduler {
 public:
  explicit SteppingScheduler(std::function<std::optional<TaskInfo>(const Offer&)> next) {
    onOffer = [next = std::move(next)](SchedulerDriver* driver, const Offer& offer) {
      if (auto task = next(offer)) {
        driver->launchTasks({offer.id}, {*task});
        return;
      }
      Filters brief;
      brief.refuseSeconds = 0.1;
      driver->declineOffer(offer.id, brief);
    };
  }
};

// The text of the executor.log of `taskId`'s sandbox on the cluster's first
// agent ("" when there is none).
std::string executorLog(const TestCluster& cluster, const std::string& taskId) {
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(cluster.dir() + "/agent-0/sandboxes", ec)) {
    const auto& path = entry.path();
    if (path.filename() == "executor.log" && path.parent_path().parent_path().filename() == taskId) {
      return slurp(path.string());
    }
  }
  return "";
}

std::string history(RecordingScheduler& scheduler, const std::string& taskId) {
  std::string out;
  for (const auto& status : scheduler.statusesOf(TaskID{taskId})) {
    out += std::string(out.empty() ? "" : " ") + toString(status.state) + "(" + toString(status.reason) + ")";
  }
  return out;
}

}  // namespace

TEST_CASE("the launcher runs before the first task, and when it dies its tasks fail with a reason, their "
          "processes are killed, and the next task runs in a new one") {
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent("cpus:1;mem:512;disk:100");
  cluster.waitForAgents(1);
  pid_t first = 0;
  REQUIRE(eventually([&] { return (first = launcherOf(cluster, 0)) > 0; }));

  const std::string pidFile = cluster.dir() + "/crashed.pid";
  std::atomic<int> step{0};
  SteppingScheduler scheduler([&](const Offer& offer) -> std::optional<TaskInfo> {
    int expected = 0;
    if (step.compare_exchange_strong(expected, 1)) {
      return makeTask("crashed", offer, "echo $$ > " + pidFile + " && exec sleep 600.4141");
    }
    expected = 2;
    if (step.compare_exchange_strong(expected, 3)) return makeTask("after", offer, "true");
    return std::nullopt;
  });
  auto driver = startDriver(scheduler, cluster, "launcher-crash");
  REQUIRE(scheduler.waitForState(TaskID{"crashed"}, TaskState::kRunning));
  pid_t task = pidIn(pidFile);
  REQUIRE(task > 0);
  // The task's command is the launcher's child: its executor runs inside it.
  CHECK(parentOf(task) == first);

  REQUIRE(::kill(first, SIGKILL) == 0);
  auto end = terminalStatus(scheduler, "crashed", 30s);
  REQUIRE(end);
  INFO(history(scheduler, "crashed"));
  CHECK(std::string(toString(end->state)) == "TASK_FAILED");
  CHECK(std::string(toString(end->reason)) == "REASON_EXECUTOR_TERMINATED");
  // Its container is destroyed with what ran in it.
  CHECK(eventually([&] { return processGone(task); }, 15s));

  step = 2;
  auto after = terminalStatus(scheduler, "after", 30s);
  REQUIRE(after);
  INFO(history(scheduler, "after"));
  CHECK(std::string(toString(after->state)) == "TASK_FINISHED");
  pid_t second = launcherOf(cluster, 0);
  CHECK(second > 0);
  CHECK(second != first);
  driver->stop();
  driver->join();
}

TEST_CASE("a restarted agent takes its launcher back with the task in it, and the task finishes") {
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent("cpus:1;mem:512;disk:100");
  cluster.waitForAgents(1);

  const std::string go = cluster.dir() + "/go";
  std::atomic<int> step{0};
  SteppingScheduler scheduler([&](const Offer& offer) -> std::optional<TaskInfo> {
    int expected = 0;
    if (!step.compare_exchange_strong(expected, 1)) return std::nullopt;
    return makeTask("kept", offer, "while [ ! -e " + go + " ]; do sleep 0.05; done; echo 3.1415");
  });
  auto driver = startDriver(scheduler, cluster, "launcher-kept");
  REQUIRE(scheduler.waitForState(TaskID{"kept"}, TaskState::kRunning));
  pid_t launcher = launcherOf(cluster, 0);
  REQUIRE(launcher > 0);

  cluster.agent(0).signal(SIGKILL);
  REQUIRE(cluster.agent(0).wait(10s) != -1);
  cluster.restartAgent(0);
  cluster.waitForAgents(1);
  // The same launcher, and no second one.
  CHECK(launcherOf(cluster, 0) == launcher);
  CHECK(cluster.processesMatching("clusternodes-launcher").size() == 1);

  std::ofstream(go).put('\n');
  auto end = terminalStatus(scheduler, "kept", 30s);
  REQUIRE(end);
  INFO(history(scheduler, "kept"));
  CHECK(std::string(toString(end->state)) == "TASK_FINISHED");
  // Its executor's lines are in its sandbox, as a process's would be.
  std::string log = executorLog(cluster, "kept");
  INFO("executor.log: " << log);
  CHECK(log.find("started task kept as pid") != std::string::npos);
  CHECK(eventually([&] {
    return executorLog(cluster, "kept").find("task kept ended TASK_FINISHED") != std::string::npos;
  }));
  size_t running = 0;
  size_t finished = 0;
  for (const auto& status : scheduler.statusesOf(TaskID{"kept"})) {
    running += status.state == TaskState::kRunning ? 1 : 0;
    finished += status.state == TaskState::kFinished ? 1 : 0;
  }
  CHECK(running == 1);  // none lost or doubled by the restart
  CHECK(finished == 1);
  driver->stop();
  driver->join();
}

TEST_CASE("a launcher with nothing to run exits once its agent is gone") {
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent("cpus:1;mem:512;disk:100");
  cluster.waitForAgents(1);
  pid_t launcher = 0;
  REQUIRE(eventually([&] { return (launcher = launcherOf(cluster, 0)) > 0; }));

  cluster.agent(0).signal(SIGKILL);
  REQUIRE(cluster.agent(0).wait(10s) != -1);
  CHECK(eventually([&] { return processGone(launcher); }, 10s));
}
