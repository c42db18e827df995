// JobTracker: the scheduling decisions, driven by made-up offers, status
// updates and a made-up clock.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "examples/mapreduce/job_tracker.hpp"

using namespace clusternodes;
using namespace clusternodes::mapreduce;
using namespace std::chrono_literals;

namespace {

Resources res(const std::string& text) {
  auto parsed = Resources::parse(text);
  REQUIRE(parsed.ok());
  return *parsed;
}

Offer offer(const std::string& agent, const std::string& host, const std::string& resources = "cpus:4;mem:4096",
            std::vector<Attribute> attributes = {}) {
  static int next = 0;
  Offer o;
  o.id.value = "offer-" + std::to_string(++next);
  o.agentId.value = agent;
  o.hostname = host;
  o.resources = res(resources);
  o.attributes = std::move(attributes);
  return o;
}

InputSplit split(const std::string& name, std::vector<std::string> hosts = {}) {
  return InputSplit{"/data/" + name, 0, 100, std::move(hosts)};
}

TrackerOptions options(int reducers = 1) {
  TrackerOptions o;
  o.reducers = reducers;
  o.maxAttempts = 3;
  o.localityDelay = 3s;
  o.taskResources = res("cpus:1;mem:256");
  o.executorResources = res("cpus:0.5;mem:64");
  return o;
}

TaskStatus status(const std::string& taskId, TaskState state, const std::string& agent = "", std::string message = "") {
  TaskStatus s;
  s.taskId.value = taskId;
  s.state = state;
  s.agentId.value = agent;
  s.message = std::move(message);
  return s;
}

TaskResult mapResult(int reducers, const std::string& agent, uint64_t bytesRead = 100) {
  TaskResult r;
  for (int i = 0; i < reducers; ++i) r.outputs.push_back("http://" + agent + "/part-" + std::to_string(i));
  r.bytesRead = bytesRead;
  return r;
}

std::vector<std::string> ids(const OfferDecision& d) {
  std::vector<std::string> out;
  for (const auto& l : d.launches) out.push_back(l.taskId);
  return out;
}

const TimePoint t0 = TimePoint{} + 1000s;

// Finishes every launched map of `d` on `agent`.
void finishMaps(JobTracker& tracker, const OfferDecision& d, const std::string& agent, int reducers, TimePoint now) {
  for (const auto& l : d.launches) {
    if (l.type == TaskType::kMap) tracker.statusUpdate(status(l.taskId, TaskState::kFinished, agent), mapResult(reducers, agent), now);
  }
}

}  // namespace

TEST_CASE("tracker: packs an offer by its cpus and mem, with the executor's resources once per agent") {
  JobTracker tracker({split("a"), split("b"), split("c"), split("d"), split("e")}, options(), t0);
  // 3.5 cpus: executor 0.5 + 3 tasks.
  auto first = tracker.offer(offer("agent-1", "h1", "cpus:3.5;mem:4096"), t0);
  CHECK(ids(first) == std::vector<std::string>{"m-00000-a1", "m-00001-a1", "m-00002-a1"});
  CHECK(first.launches[0].withExecutor);
  CHECK_FALSE(first.launches[1].withExecutor);
  CHECK(tracker.hasExecutorOn(AgentID{"agent-1"}));
  // The executor is there now: 2 cpus hold 2 tasks.
  auto second = tracker.offer(offer("agent-1", "h1", "cpus:2;mem:4096"), t0);
  CHECK(ids(second) == std::vector<std::string>{"m-00003-a1", "m-00004-a1"});
  CHECK_FALSE(second.launches[0].withExecutor);
  // mem limits too; a new agent pays for its executor.
  JobTracker other({split("a"), split("b")}, options(), t0);
  auto small = other.offer(offer("agent-2", "h2", "cpus:8;mem:500"), t0);
  CHECK(ids(small) == std::vector<std::string>{"m-00000-a1"});  // 64 + 256 fits, 64 + 512 does not
  auto tooSmall = other.offer(offer("agent-3", "h3", "cpus:1;mem:4096"), t0);  // 1 < 1.5
  CHECK(tooSmall.launches.empty());
}

TEST_CASE("tracker: reduces launch only once every map is done") {
  JobTracker tracker({split("a"), split("b")}, options(2), t0);
  auto maps = tracker.offer(offer("agent-1", "h1"), t0);
  REQUIRE(maps.launches.size() == 2);
  auto none = tracker.offer(offer("agent-1", "h1"), t0);
  CHECK(none.launches.empty());
  CHECK(none.refuseSeconds >= 1);  // nothing to run until something changes
  tracker.statusUpdate(status("m-00000-a1", TaskState::kRunning, "agent-1"), {}, t0);
  tracker.statusUpdate(status("m-00000-a1", TaskState::kFinished, "agent-1"), mapResult(2, "agent-1"), t0);
  tracker.takeReviveRequest();
  CHECK(tracker.offer(offer("agent-1", "h1"), t0).launches.empty());  // one map still running
  tracker.statusUpdate(status("m-00001-a1", TaskState::kFinished, "agent-1"), mapResult(2, "agent-1"), t0);
  CHECK(tracker.takeReviveRequest());
  auto reduces = tracker.offer(offer("agent-1", "h1"), t0);
  CHECK(ids(reduces) == std::vector<std::string>{"r-00000-a1", "r-00001-a1"});
  CHECK((reduces.launches[0].type == TaskType::kReduce));
  auto inputs = tracker.reduceInputs(1);
  REQUIRE(inputs.size() == 2);
  CHECK(inputs[0].mapIndex == 0);
  CHECK(inputs[0].url == "http://agent-1/part-1");
  CHECK_FALSE(tracker.finished());
  tracker.statusUpdate(status("r-00000-a1", TaskState::kFinished, "agent-1"), {}, t0);
  tracker.statusUpdate(status("r-00001-a1", TaskState::kFinished, "agent-1"), {}, t0);
  CHECK(tracker.finished());
  CHECK_FALSE(tracker.failed());
  CHECK(tracker.progress().mapsDone == 2);
  CHECK(tracker.progress().bytesRead == 200);
}

TEST_CASE("tracker: delay scheduling prefers local maps and waits before running one remotely") {
  JobTracker tracker({split("a", {"h1"}), split("b", {"h2"}), split("c", {"h1"})}, options(), t0);
  // h1 takes its two local maps and leaves b (on h2).
  auto onH1 = tracker.offer(offer("agent-1", "h1"), t0);
  CHECK(ids(onH1) == std::vector<std::string>{"m-00000-a1", "m-00002-a1"});
  CHECK(onH1.launches[0].dataLocal);
  // Before the delay, h1 may not take b; the offer comes back soon.
  auto early = tracker.offer(offer("agent-1", "h1"), t0 + 1s);
  CHECK(early.launches.empty());
  CHECK(early.refuseSeconds <= 0.2);
  CHECK(early.refuseSeconds > 0);
  // h2's offer takes it at once, locally.
  JobTracker local({split("a", {"h1"}), split("b", {"h2"})}, options(), t0);
  auto h2 = local.offer(offer("agent-2", "h2"), t0 + 1s);
  CHECK(ids(h2) == std::vector<std::string>{"m-00001-a1"});
  CHECK(h2.launches[0].dataLocal);
  // Once the delay has passed, a remote offer gets it.
  auto late = tracker.offer(offer("agent-1", "h1"), t0 + 3s);
  CHECK(ids(late) == std::vector<std::string>{"m-00001-a1"});
  CHECK_FALSE(late.launches[0].dataLocal);
  auto p = tracker.progress();
  CHECK(p.mapLaunches == 3);
  CHECK(p.dataLocalMapLaunches == 2);
}

TEST_CASE("tracker: zero locality delay launches anywhere at once, maps without hosts go anywhere") {
  auto o = options();
  o.localityDelay = 0s;
  JobTracker tracker({split("a", {"far"}), split("b", {"far"})}, o, t0);
  CHECK(tracker.offer(offer("agent-1", "h1"), t0).launches.size() == 2);
  JobTracker noHosts({split("a"), split("b")}, options(), t0);
  CHECK(noHosts.offer(offer("agent-1", "h1"), t0).launches.size() == 2);
}

TEST_CASE("tracker: locality can match an agent attribute instead of the hostname") {
  auto o = options();
  o.localityAttribute = "rack";
  JobTracker tracker({split("a", {"r2"}), split("b", {"r1"})}, o, t0);
  auto d = tracker.offer(offer("agent-1", "h1", "cpus:1.5;mem:4096", {{"rack", "r1"}}), t0);
  CHECK(ids(d) == std::vector<std::string>{"m-00001-a1"});
  CHECK(d.launches[0].dataLocal);
}

TEST_CASE("tracker: a failed attempt is retried on another agent first") {
  JobTracker tracker({split("a")}, options(), t0);
  auto first = tracker.offer(offer("agent-1", "h1"), t0);
  REQUIRE(ids(first) == std::vector<std::string>{"m-00000-a1"});
  tracker.statusUpdate(status("m-00000-a1", TaskState::kFailed, "agent-1", "boom"), {}, t0 + 1s);
  CHECK(tracker.takeReviveRequest());
  CHECK(tracker.progress().failedAttempts == 1);
  // agent-1 is avoided for a while...
  CHECK(tracker.offer(offer("agent-1", "h1"), t0 + 2s).launches.empty());
  // ...agent-2 takes the retry.
  auto retry = tracker.offer(offer("agent-2", "h2"), t0 + 2s);
  CHECK(ids(retry) == std::vector<std::string>{"m-00000-a2"});
  // With no other agent, the failed one gets it after the delay.
  JobTracker lonely({split("a")}, options(), t0);
  lonely.offer(offer("agent-1", "h1"), t0);
  lonely.statusUpdate(status("m-00000-a1", TaskState::kFailed, "agent-1"), {}, t0);
  CHECK(lonely.offer(offer("agent-1", "h1"), t0 + 1s).launches.empty());
  CHECK(ids(lonely.offer(offer("agent-1", "h1"), t0 + 4s)) == std::vector<std::string>{"m-00000-a2"});
}

TEST_CASE("tracker: the last allowed failure fails the job, naming the task and the error") {
  JobTracker tracker({split("a"), split("b")}, options(), t0);  // max 3 attempts
  auto now = t0;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    now += 10s;
    auto d = tracker.offer(offer("agent-" + std::to_string(attempt), "h"), now);
    REQUIRE(!d.launches.empty());
    CHECK(d.launches[0].taskId == "m-00000-a" + std::to_string(attempt));
    // keep m-00001 running on the first offer, fail m-00000 each time
    tracker.statusUpdate(status("m-00000-a" + std::to_string(attempt), TaskState::kFailed,
                                "agent-" + std::to_string(attempt), "exit " + std::to_string(attempt)),
                         {}, now);
    CHECK(tracker.failed() == (attempt == 3));
  }
  CHECK(tracker.error() == "map task m-00000 (a bytes 0-100) failed 3 times; last error: TASK_FAILED: exit 3");
  CHECK(tracker.offer(offer("agent-9", "h"), now).launches.empty());
}

TEST_CASE("tracker: updates of stale attempts and unknown tasks are ignored, our own kills are no failure") {
  JobTracker tracker({split("a")}, options(), t0);
  tracker.offer(offer("agent-1", "h1"), t0);
  tracker.statusUpdate(status("m-00000-a1", TaskState::kLost, ""), {}, t0);
  CHECK(tracker.progress().failedAttempts == 1);
  tracker.statusUpdate(status("m-00000-a1", TaskState::kFailed, "agent-1"), {}, t0);  // the same attempt again
  tracker.statusUpdate(status("nonsense", TaskState::kFailed, "agent-1"), {}, t0);
  CHECK(tracker.progress().failedAttempts == 1);

  auto retry = tracker.offer(offer("agent-2", "h2"), t0 + 1s);
  REQUIRE(ids(retry) == std::vector<std::string>{"m-00000-a2"});
  tracker.killRequested("m-00000-a2");
  tracker.statusUpdate(status("m-00000-a2", TaskState::kKilled, "agent-2"), {}, t0 + 1s);
  CHECK(tracker.progress().failedAttempts == 1);
  CHECK(ids(tracker.offer(offer("agent-2", "h2"), t0 + 1s)) == std::vector<std::string>{"m-00000-a3"});
}

TEST_CASE("tracker: a lost executor sends its finished maps back to pending and forgets the executor") {
  JobTracker tracker({split("a"), split("b"), split("c")}, options(2), t0);
  auto on1 = tracker.offer(offer("agent-1", "h1", "cpus:2.5;mem:4096"), t0);  // a, b
  auto on2 = tracker.offer(offer("agent-2", "h2", "cpus:1.5;mem:4096"), t0);  // c
  REQUIRE(on1.launches.size() == 2);
  REQUIRE(on2.launches.size() == 1);
  finishMaps(tracker, on1, "agent-1", 2, t0);
  finishMaps(tracker, on2, "agent-2", 2, t0);
  CHECK(tracker.progress().mapsDone == 3);
  auto reduces = tracker.offer(offer("agent-2", "h2", "cpus:2;mem:4096"), t0);
  REQUIRE(reduces.launches.size() == 2);
  tracker.takeReviveRequest();

  tracker.executorLost(AgentID{"agent-1"}, "", t0 + 1s);
  CHECK_FALSE(tracker.hasExecutorOn(AgentID{"agent-1"}));
  CHECK(tracker.hasExecutorOn(AgentID{"agent-2"}));
  auto p = tracker.progress();
  CHECK(p.mapsDone == 1);
  CHECK(p.lostMapOutputs == 2);
  CHECK(p.bytesRead == 300);  // the lost maps' bytes were read all the same
  CHECK(tracker.takeReviveRequest());

  // The running reducers fail to fetch; they wait for the maps, and are not charged.
  TaskResult fetchFailed;
  fetchFailed.fetchFailed = {0, 1};
  tracker.statusUpdate(status("r-00000-a1", TaskState::kFailed, "agent-2", "cannot fetch"), fetchFailed, t0 + 2s);
  CHECK(tracker.progress().failedAttempts == 2);  // the two lost outputs only

  // agent-1 comes back: the maps rerun there (the executor is paid for again)...
  auto rerun = tracker.offer(offer("agent-1", "h1", "cpus:4;mem:4096"), t0 + 10s);
  CHECK(ids(rerun) == std::vector<std::string>{"m-00000-a2", "m-00001-a2"});
  CHECK(rerun.launches[0].withExecutor);
  finishMaps(tracker, rerun, "agent-1", 2, t0 + 11s);
  // ...then the reducer that failed, as a new attempt.
  auto again = tracker.offer(offer("agent-2", "h2"), t0 + 12s);
  CHECK(ids(again) == std::vector<std::string>{"r-00000-a2"});
}

TEST_CASE("tracker: a reducer's fetch failure re-runs the named map, a TASK_LOST loses its agent's outputs") {
  JobTracker tracker({split("a"), split("b")}, options(1), t0);
  auto maps1 = tracker.offer(offer("agent-1", "h1", "cpus:1.5;mem:4096"), t0);
  auto maps2 = tracker.offer(offer("agent-2", "h2", "cpus:1.5;mem:4096"), t0);
  finishMaps(tracker, maps1, "agent-1", 1, t0);
  finishMaps(tracker, maps2, "agent-2", 1, t0);
  auto reduce = tracker.offer(offer("agent-3", "h3"), t0);
  REQUIRE(ids(reduce) == std::vector<std::string>{"r-00000-a1"});
  TaskResult fetchFailed;
  fetchFailed.fetchFailed = {1};
  tracker.statusUpdate(status("r-00000-a1", TaskState::kFailed, "agent-3"), fetchFailed, t0 + 1s);
  CHECK(tracker.progress().mapsDone == 1);
  CHECK(tracker.offer(offer("agent-3", "h3"), t0 + 5s).launches.size() == 1);  // m-00001-a2

  // A lost task anywhere on agent-1 takes agent-1's map outputs with it.
  JobTracker other({split("a"), split("b")}, options(1), t0);
  auto d = other.offer(offer("agent-1", "h1", "cpus:1.5;mem:4096"), t0);
  finishMaps(other, d, "agent-1", 1, t0);
  other.offer(offer("agent-1", "h1", "cpus:1;mem:4096"), t0);  // m-00001 on agent-1 too
  other.statusUpdate(status("m-00001-a1", TaskState::kLost, "agent-1"), {}, t0 + 1s);
  CHECK(other.progress().mapsDone == 0);
  CHECK_FALSE(other.hasExecutorOn(AgentID{"agent-1"}));
}

TEST_CASE("tracker: once every reducer is done, lost map outputs do not matter") {
  JobTracker tracker({split("a")}, options(1), t0);
  auto m = tracker.offer(offer("agent-1", "h1"), t0);
  finishMaps(tracker, m, "agent-1", 1, t0);
  auto r = tracker.offer(offer("agent-1", "h1"), t0);
  tracker.statusUpdate(status(r.launches.at(0).taskId, TaskState::kFinished, "agent-1"), {}, t0);
  REQUIRE(tracker.finished());
  tracker.agentLost(AgentID{"agent-1"}, t0 + 1s);
  CHECK(tracker.finished());
  CHECK(tracker.progress().mapsDone == 1);
  CHECK_FALSE(tracker.takeReviveRequest());
}

TEST_CASE("tracker: a map reporting the wrong number of outputs is a failed attempt") {
  JobTracker tracker({split("a")}, options(3), t0);
  tracker.offer(offer("agent-1", "h1"), t0);
  tracker.statusUpdate(status("m-00000-a1", TaskState::kFinished, "agent-1"), mapResult(1, "agent-1"), t0);
  CHECK(tracker.progress().mapsDone == 0);
  CHECK(tracker.progress().failedAttempts == 1);
}

TEST_CASE("tracker: no input means no maps, and reduces run at once") {
  JobTracker tracker({}, options(2), t0);
  CHECK(ids(tracker.offer(offer("agent-1", "h1"), t0)) == std::vector<std::string>{"r-00000-a1", "r-00001-a1"});
  CHECK(tracker.reduceInputs(0).empty());
}

TEST_CASE("tracker: the progress line") {
  JobProgress p;
  p.maps = 16;
  p.mapsDone = 12;
  p.reduces = 4;
  p.bytesRead = 48ULL << 20;
  p.failedAttempts = 1;
  CHECK(progressLine(p) == "map 12/16 (75%)  reduce 0/4 (0%)  read 48.0 MiB  failed attempts 1");
}

TEST_CASE("offers that fit no task are named, with the flags to lower, until one fits") {
  JobTracker tracker({split("a")}, options(), t0);
  CHECK(tracker.fitProblem().empty());
  // 1 cpu cannot hold a task's 1 cpu and the executor's 0.5.
  auto small = tracker.offer(offer("s1", "h1", "cpus:1;mem:4096"), t0);
  CHECK(small.launches.empty());
  auto problem = tracker.fitProblem();
  CHECK(problem.find("cpus:1") != std::string::npos);
  CHECK(problem.find("for the executor") != std::string::npos);
  CHECK(problem.find("--task-cpus") != std::string::npos);
  auto fits = tracker.offer(offer("s2", "h2", "cpus:2;mem:4096"), t0);
  CHECK(fits.launches.size() == 1);
  CHECK(tracker.fitProblem().empty());
}
