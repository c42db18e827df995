// High availability across hosts: masters, ZooKeeper servers and agents on
// three network namespaces of a bridge this test creates (tests/harness/
// hosts.hpp), and the framework in this process. A leader's host cut off,
// ZooKeeper servers restarted one by one, the ensemble's quorum lost and
// regained, a leader SIGKILLed under a steady load of tasks.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/harness/cluster.hpp"
#include "tests/harness/driver.hpp"
#include "tests/harness/hosts.hpp"
#include "tests/harness/masters.hpp"
#include "tests/harness/text.hpp"
#include "tests/harness/zookeeper.hpp"

using namespace clusternodes;
using namespace clusternodes::testing;
using namespace std::chrono_literals;

namespace {

// The masters' session timeout: long enough that three JVMs and the
// sanitizer builds on two cores do not cost a leader its session by
// accident, short enough for a test.
const char* kSessionTimeout = "--zk-session-timeout=4s";

// Three hosts. ZooKeeper: one server on each host (an ensemble), or one
// standalone server on host 2. Masters on the hosts `masterHosts` names,
// an agent on each host, all following the leader through the zk:// URL.
struct HostsCluster {
  HostsCluster(bool ensemble, const std::vector<size_t>& masterHosts) {
    size_t servers = ensemble ? 3 : 1;
    std::vector<std::string> members;
    for (size_t i = 0; i < servers; ++i) {
      size_t host = ensemble ? i : 2;
      members.push_back(hosts.ip(host) + ":2888:3888");
    }
    std::string connect;
    for (size_t i = 0; i < servers; ++i) {
      size_t host = ensemble ? i : 2;
      ZooKeeperServerConfig config;
      config.dir = cluster.dir() + "/zk-" + std::to_string(i);
      config.clientAddress = hosts.ip(host);
      config.clientPort = 2181;  // every host has its own ports
      if (ensemble) {
        config.id = static_cast<int>(i) + 1;
        config.ensemble = members;
      }
      zk.push_back(std::make_unique<ZooKeeperServer>(config, true, hosts.launcher(host)));
      connect += (connect.empty() ? "" : ",") + zk.back()->connectString();
    }
    for (auto& server : zk) server->awaitServing();
    url = "zk://" + connect + "/clusternodes";
    masters = std::make_unique<MasterGroup>(cluster.dir(), url, std::vector<std::string>{kSessionTimeout});
    for (size_t host : masterHosts) masters->start(hosts.ip(host), hosts.launcher(host));
    leader = masters->awaitLeader();
    for (size_t host = 0; host < hosts.size(); ++host) {
      cluster.startAgent("cpus:2;mem:1024;disk:512", {"--master=" + url, "--ip=" + hosts.ip(host)},
                         hosts.launcher(host));
    }
    REQUIRE(eventually([&] { return activeAgents(leader) == hosts.size(); }, 30s));
  }

  size_t activeAgents(size_t master) const {
    auto s = masters->state(master);
    size_t active = 0;
    if (!s.is_object()) return 0;
    for (const auto& a : s["agents"]) active += a.value("active", false) ? 1 : 0;
    return active;
  }

  Hosts hosts{3};
  TestCluster cluster;
  std::vector<std::unique_ptr<ZooKeeperServer>> zk;
  std::string url;
  std::unique_ptr<MasterGroup> masters;
  size_t leader = 0;
};

// The time stamp ("2026-12-07 01:02:03.456") of the first line of `log`
// that contains `needle`, or "" when none does.
std::string loggedAt(const std::string& logFile, const std::string& needle) {
  std::ifstream in(logFile);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(needle) != std::string::npos && line.size() >= 23) return line.substr(0, 23);
  }
  return "";
}

// A framework with a long task on agent `agent`, started before a failover
// so that the test can see it run through. It declines what it does not
// launch on, so that the steady load beside it is offered everything.
struct LongTask {
  LongTask(HostsCluster& c, size_t agent) : cluster(c) {
    scheduler.onOffer = [this](SchedulerDriver* driver, const Offer& offer) { onOffer(driver, offer); };
    auto info = frameworkInfo("ha-hosts-framework");
    info.failoverTimeoutSeconds = 3600;
    driver = SchedulerDriver::create(&scheduler, info, {.master = c.url});
    REQUIRE(driver->start() == DriverStatus::kRunning);
    REQUIRE(scheduler.waitForRegistration());
    launch("long-1", "exec sleep 600", agentId(c.cluster, agent), "");
    REQUIRE(scheduler.waitForState(TaskID{"long-1"}, TaskState::kRunning, 30s));
    REQUIRE(eventually([&] {
      pids = c.cluster.processesMatching("sleep 600", true);
      return pids.size() == 1;
    }));
  }
  ~LongTask() { driver->stop(); }

  // Launches `id` on the next offer from `agent` (any when empty) made by
  // the master `masterId` (any when empty).
  void launch(const std::string& id, const std::string& command, const std::string& agent,
              const std::string& masterId) {
    std::lock_guard<std::mutex> lock(mutex);
    pending = Pending{id, command, agent, masterId};
  }

  void onOffer(SchedulerDriver* d, const Offer& offer) {
    std::optional<Pending> task;
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (pending && (pending->agent.empty() || offer.agentId.value == pending->agent) &&
          offer.id.value.rfind(pending->masterId, 0) == 0) {
        task.swap(pending);
      }
    }
    if (!task) {
      d->declineOffer(offer.id, Filters{.refuseSeconds = 0.5});
      return;
    }
    d->launchTasks({offer.id}, {makeTask(task->id, offer, task->command)});
  }

  // After a failover to `leader`: the task runs on, the same process,
  // known to the new leader, and a new task runs to its end.
  void checkServedBy(size_t leader, const std::string& newTask) {
    auto& masters = *cluster.masters;
    REQUIRE(eventually([&] { return MasterGroup::taskState(masters.state(leader), "long-1") == "TASK_RUNNING"; }, 30s));
    CHECK(cluster.cluster.processesMatching("sleep 600", true) == pids);
    size_t offersBefore = scheduler.offers().size();
    std::string leaderId = masters.state(leader).value("id", "");
    launch(newTask, "true", "", leaderId);
    bool finished = scheduler.waitForState(TaskID{newTask}, TaskState::kFinished, 60s).has_value();
    if (!finished) {
      // What the framework saw since, to tell a task that failed from
      // offers that never came or came from the wrong master.
      std::string updates, offers;
      for (const auto& u : scheduler.statusesOf(TaskID{newTask})) updates += std::string(toString(u.state)) + " (" + u.message + "); ";
      auto all = scheduler.offers();
      for (size_t i = offersBefore; i < all.size(); ++i) offers += all[i].id.value + " on " + all[i].agentId.value + "; ";
      std::string logged;
      std::ifstream log(masters.process(leader).logFile());
      for (std::string line; std::getline(log, line);) {
        if (line.find(newTask) != std::string::npos || line.find(" W ") != std::string::npos ||
            line.find(" E ") != std::string::npos || line.find("framework") != std::string::npos) {
          logged += line + "\n";
        }
      }
      MESSAGE("leader " << leaderId << "; updates of " << newTask << ": " << updates << "offers since the launch: "
                        << offers << "leader's task state: " << MasterGroup::taskState(masters.state(leader), newTask)
                        << "; the leader's log on frameworks, the task, warnings and errors:\n"
                        << logged);
    }
    REQUIRE(finished);
    bool known = false;
    auto frameworks = masters.state(leader)["frameworks"];
    for (const auto& f : frameworks) known |= f.value("id", "") == scheduler.frameworkId().value;
    CHECK_MESSAGE(known, scheduler.frameworkId().value << " not among " << frameworks.dump());
  }

  struct Pending {
    std::string id, command, agent, masterId;
  };
  HostsCluster& cluster;
  RecordingScheduler scheduler;
  std::unique_ptr<SchedulerDriver> driver;
  std::vector<pid_t> pids;
  std::mutex mutex;
  std::optional<Pending> pending;
};

// A framework that keeps tasks coming (two per offer, each appending its id
// to a file the hosts share, then sleeping 0.2 s) until stopped, through
// whatever befalls the masters meanwhile.
class SteadyLoad {
 public:
  SteadyLoad(const std::string& url, std::string ranFile) : ran_(std::move(ranFile)) {
    scheduler_.onOffer = [this](SchedulerDriver* driver, const Offer& offer) { launchOn(driver, offer); };
    // Partition-aware: a task on a host cut off is unreachable, and ends
    // when its host is back, rather than being given up as lost.
    auto info = frameworkInfo("ha-steady-load", true);
    info.failoverTimeoutSeconds = 3600;
    driver_ = SchedulerDriver::create(&scheduler_, info, {.master = url});
    REQUIRE(driver_->start() == DriverStatus::kRunning);
    REQUIRE(scheduler_.waitForRegistration());
  }
  ~SteadyLoad() { driver_->stop(); }

  int finished() {
    int n = 0;
    for (const auto& status : scheduler_.statuses()) n += status.state == TaskState::kFinished ? 1 : 0;
    return n;
  }
  // Waits until `more` tasks beyond those finished now have finished.
  void awaitProgress(int more, std::chrono::milliseconds timeout = 120s) {
    int target = finished() + more;
    REQUIRE_MESSAGE(scheduler_.waitFor([&] { return finished() >= target; }, timeout),
                    "the load stalled at " << finished() << " finished tasks");
  }

  // Stops launching; waits for every task's end, asking the master about
  // those without one; checks that every task that ran, or was reported
  // running, finished, and that none ran twice.
  void stopAndCheck() {
    std::map<std::string, AgentID> placed;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopped_ = true;
      placed = placed_;
    }
    REQUIRE(eventually([&] { return settled(placed); }, 120s));
    std::map<std::string, int> runs;
    for (const auto& line : lines(readFile(ran_))) ++runs[line];
    int notRun = 0;
    std::string example;
    for (const auto& [id, agent] : placed) {
      auto statuses = scheduler_.statusesOf(TaskID{id});
      bool everRunning = false;
      std::optional<TaskStatus> end;
      for (const auto& s : statuses) {
        everRunning |= s.state == TaskState::kRunning;
        if (!end && isTerminal(s.state)) end = s;
      }
      INFO(id << " ended " << toString(end->state) << ": " << end->message);
      CHECK(runs[id] <= 1);  // never twice
      if (end->state == TaskState::kFinished) {
        CHECK(runs[id] == 1);
      } else {  // not lost: it never ran, and nothing said it did
        CHECK_FALSE(everRunning);
        CHECK(runs[id] == 0);
        if (++notRun == 1) example = id + ": " + toString(end->state) + " " + end->message;
      }
    }
    MESSAGE((placed.size() - notRun) << " tasks finished; " << notRun
                                   << " launched on offers of a master that went away never ran, as the master said ("
                                   << example << ")");
    CHECK(notRun * 4 < static_cast<int>(placed.size()));
  }

 private:
  void launchOn(SchedulerDriver* driver, const Offer& offer) {
    std::vector<TaskInfo> tasks;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      // Two tasks at most, as many as the offer holds.
      int fit = static_cast<int>(std::min(offer.resources.cpus() / 0.5, offer.resources.mem() / 16));
      for (int k = 0; k < std::min(2, fit) && !stopped_; ++k) {
        std::string id = "load-" + std::to_string(placed_.size());
        tasks.push_back(makeTask(id, offer, "echo " + id + " >> " + ran_ + "; sleep 0.2", "cpus:0.5;mem:16"));
        placed_[id] = offer.agentId;
      }
    }
    if (tasks.empty()) {
      driver->declineOffer(offer.id);
      return;
    }
    driver->launchTasks({offer.id}, tasks);
  }

  // Whether every task has ended; asks the master about those that have not.
  bool settled(const std::map<std::string, AgentID>& placed) {
    std::vector<TaskStatus> open;
    for (const auto& [id, agent] : placed) {
      bool ended = false;
      for (const auto& s : scheduler_.statusesOf(TaskID{id})) ended |= isTerminal(s.state);
      if (ended) continue;
      TaskStatus asked;
      asked.taskId.value = id;
      asked.agentId = agent;
      open.push_back(asked);
    }
    if (open.empty()) return true;
    driver_->reconcileTasks(open);
    std::this_thread::sleep_for(1s);
    return false;
  }

  std::string ran_;
  RecordingScheduler scheduler_;
  std::unique_ptr<SchedulerDriver> driver_;
  std::mutex mutex_;
  bool stopped_ = false;
  std::map<std::string, AgentID> placed_;  // task -> its offer's agent
};

}  // namespace

TEST_CASE("ha hosts: a leader whose host is cut off stops before another is elected, and its last write is refused") {
  HostsCluster c(true, {0, 1, 2});
  auto& masters = *c.masters;
  size_t old = c.leader;  // master i runs on host i
  // The long task on a host that stays connected.
  LongTask work(c, (old + 1) % 3);
  SteadyLoad load(c.url, c.cluster.dir() + "/ran");
  load.awaitProgress(10);
  std::string oldEndpoint = masters.state(old).value("endpoint", "");
  REQUIRE(oldEndpoint.rfind("tcp://", 0) == 0);

  c.hosts.cutOff(old);
  // An agent that starts on the cut-off host now reaches only the deposed
  // leader: that master cannot write it into the registry, so it never
  // admits it, and no other master ever heard of it.
  size_t late = c.cluster.startAgent("cpus:1;mem:256;disk:64",
                                     {"--master=" + oldEndpoint.substr(6), "--ip=" + c.hosts.ip(old)},
                                     c.hosts.launcher(old));
  int status = masters.process(old).wait(60s);
  REQUIRE_MESSAGE(status != -1, "the cut-off leader did not stop");
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  size_t next = masters.awaitLeader();
  CHECK(next != old);

  // It stopped acting before the other was elected, by their own logs
  // (one clock: the hosts share the machine's).
  std::string stopped = loggedAt(masters.process(old).logFile(), "this master no longer leads");
  std::string elected = loggedAt(masters.process(next).logFile(), "elected: this master leads");
  REQUIRE(!stopped.empty());
  REQUIRE(!elected.empty());
  CHECK(stopped < elected);
  MESSAGE("deposed leader stopped at " << stopped << ", next elected at " << elected);

  work.checkServedBy(next, "after-cut");
  load.awaitProgress(10);
  // The late agent: never registered, unknown to the new leader.
  CHECK(readFile(c.cluster.agent(late).logFile()).find("registered with the master") == std::string::npos);
  std::string lateHttp = c.cluster.agentHttp(late).substr(7);  // without "http://"
  auto nextState = masters.state(next);
  for (const auto& a : nextState["agents"]) CHECK(a.value("http_address", "") != lateHttp);
  c.cluster.agent(late).signal(SIGKILL);

  // Back on the network, restarted as its supervisor would, the old leader
  // stands by for the new one, and the cut-off host's agent comes back.
  c.hosts.reconnect(old);
  masters.restart(old);
  std::string nextId = masters.state(next).value("id", "");
  CHECK(eventually([&] {
    auto s = masters.state(old);
    return s.is_object() && !s.value("leading", true) && s["leader_info"].is_object() &&
           s["leader_info"].value("id", "") == nextId;
  }, 30s));
  CHECK(eventually([&] { return c.activeAgents(next) == 3; }, 60s));
  CHECK(masters.leaders() == std::vector<size_t>{next});
  load.stopAndCheck();
}

TEST_CASE("ha hosts: ZooKeeper servers restarted one by one, then the quorum lost and regained, lose nothing") {
  HostsCluster c(true, {0, 1, 2});
  auto& masters = *c.masters;
  LongTask work(c, 2);
  SteadyLoad load(c.url, c.cluster.dir() + "/ran");
  load.awaitProgress(10);

  // A rolling restart of the ensemble: one leader throughout, or a
  // failover; the cluster serves after each.
  for (size_t i = 0; i < 3; ++i) {
    INFO("restarting ZooKeeper server " << i);
    c.zk[i]->stop(SIGTERM);
    c.zk[i]->start();
    c.zk[i]->awaitServing();
    size_t leader = masters.awaitLeader(60s);
    REQUIRE(eventually([&] { return c.activeAgents(leader) == 3; }, 60s));
    for (size_t m = 0; m < masters.size(); ++m) {
      if (!masters.process(m).alive()) masters.restart(m);  // as its supervisor would
    }
    load.awaitProgress(5);
  }

  // Two servers of three gone: no quorum. The leader stops, and nobody
  // leads while the quorum is away; the task runs on.
  size_t before = masters.awaitLeader(60s);
  c.zk[0]->stop();
  c.zk[1]->stop();
  int status = masters.process(before).wait(60s);
  REQUIRE_MESSAGE(status != -1, "the leader went on without a quorum");
  CHECK(WEXITSTATUS(status) == 1);
  masters.restart(before);  // it waits for ZooKeeper, as its supervisor would restart it
  std::this_thread::sleep_for(3s);
  CHECK(masters.leaders().empty());
  CHECK(c.cluster.processesMatching("sleep 600", true) == work.pids);

  // The quorum back: a master leads with everything the registry held,
  // and the same task, framework and agents.
  c.zk[0]->start();
  c.zk[1]->start();
  for (auto& server : c.zk) server->awaitServing();
  size_t after = masters.awaitLeader(60s);
  REQUIRE(eventually([&] { return c.activeAgents(after) == 3; }, 60s));
  work.checkServedBy(after, "after-quorum");
  CHECK(masters.state(after)["agents"].size() == 3);
  load.awaitProgress(10);
  load.stopAndCheck();
}

TEST_CASE("ha hosts: the leader SIGKILLed under a steady load of tasks: one new leader, followed by all, no task lost or run twice") {
  HostsCluster c(false, {0, 1, 2});
  auto& masters = *c.masters;
  SteadyLoad load(c.url, c.cluster.dir() + "/ran");
  load.awaitProgress(20);
  masters.process(c.leader).signal(SIGKILL);
  size_t next = masters.awaitLeader();
  CHECK(next != c.leader);
  // Every agent follows it, and the load goes on.
  REQUIRE(eventually([&] { return c.activeAgents(next) == 3; }, 60s));
  load.awaitProgress(20);
  CHECK(masters.leaders() == std::vector<size_t>{next});
  load.stopAndCheck();
}
