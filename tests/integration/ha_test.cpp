// Masters highly available through a real ZooKeeper server: election,
// standbys that redirect, and failover with agents and a framework that
// follow the leader through a zk:// URL while their tasks keep running.
#include <doctest/doctest.h>

#include <signal.h>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/http_client.hpp"
#include "common/leader.hpp"
#include "common/master_client.hpp"
#include "tests/harness/cluster.hpp"
#include "tests/harness/driver.hpp"
#include "tests/harness/masters.hpp"
#include "tests/harness/text.hpp"
#include "tests/harness/zookeeper.hpp"

using namespace clusternodes;
using namespace clusternodes::testing;
using namespace std::chrono_literals;

namespace {

// A ZooKeeper server, `masters` masters elected through it (one leads when
// this returns) and `agents` agents following the leader by the zk:// URL.
struct HaCluster {
  HaCluster(int masterCount, int agents, const std::string& resources = "cpus:2;mem:2048;disk:1024") {
    for (int i = 0; i < masterCount; ++i) masters.start();
    leader = masters.awaitLeader();
    for (int i = 0; i < agents; ++i) cluster.startAgent(resources, {"--master=" + url});
    REQUIRE(eventually([&] { return masters.state(leader)["agents"].size() == static_cast<size_t>(agents); }));
  }
  TestCluster cluster;
  ZooKeeperServer zk{cluster.dir() + "/zk"};
  std::string url = "zk://" + zk.connectString() + "/clusternodes";
  MasterGroup masters{cluster.dir(), url};
  size_t leader = 0;
};

// "word<TAB>count" lines as a map, counts of a word repeated summed.
std::map<std::string, long> wordCounts(const std::string& text) {
  std::map<std::string, long> out;
  for (const auto& line : lines(text)) {
    auto tab = line.find('\t');
    REQUIRE_MESSAGE(tab != std::string::npos, "no tab in output line '" << line << "'");
    out[line.substr(0, tab)] += std::stol(line.substr(tab + 1));
  }
  return out;
}

}  // namespace

TEST_CASE("ha: one of three masters leads, standbys say who and redirect API calls, and tools find the leader") {
  HaCluster ha(3, 0);
  auto& masters = ha.masters;
  const auto& url = ha.url;
  size_t leader = ha.leader;
  auto leaderState = masters.state(leader);
  std::string leaderId = leaderState.value("id", "");

  for (size_t i = 0; i < 3; ++i) {
    if (i == leader) continue;
    INFO("standby " << i);
    // /state and /health name the leader.
    REQUIRE(eventually([&] {
      auto s = masters.state(i);
      return s.is_object() && s["leader_info"].is_object() && s["leader_info"].value("id", "") == leaderId;
    }));
    auto s = masters.state(i);
    CHECK(s.value("leading", true) == false);
    CHECK(s["leader_info"].value("url", "") == masters.http(leader));
    auto health = httpGet(masters.http(i) + "/health", 5);
    REQUIRE(health.ok());
    CHECK(health->status == 200);
    CHECK(health->body.find(masters.http(leader)) != std::string::npos);
    // An API call is redirected, 307, to the leader.
    auto weights = httpGet(masters.http(i) + "/api/v1/weights", 5);
    REQUIRE(weights.ok());
    CHECK(weights->status == 307);
    CHECK(weights->body.find(masters.http(leader)) != std::string::npos);
    // So is a Mesos scheduler's SUBSCRIBE (docs/mesos-compatibility.md).
    auto subscribe = httpPost(masters.http(i) + "/api/v1/scheduler",
                              R"({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n"}}})");
    REQUIRE(subscribe.ok());
    CHECK(subscribe->status == 307);
    CHECK(subscribe->body.find(masters.http(leader)) != std::string::npos);
    // A tool asking a standby over ZeroMQ is sent on to the leader.
    std::string endpoint = s.value("endpoint", "");
    REQUIRE(endpoint.rfind("tcp://", 0) == 0);
    auto asked = queryMaster(endpoint.substr(6), 5);
    REQUIRE(asked.ok());
    CHECK(asked->id == leaderId);
    CHECK(asked->httpUrl() == masters.http(leader));
  }
  auto weights = httpGet(masters.http(leader) + "/api/v1/weights", 5);
  REQUIRE(weights.ok());
  CHECK(weights->status == 200);

  // The leader's znode holds Mesos-shaped JSON that tools find the leader by.
  auto found = detectLeader(url, 10s);
  REQUIRE(found.ok());
  CHECK(found->id == leaderId);
  CHECK(found->httpUrl() == masters.http(leader));
  auto address = queryMaster(url, 10);
  REQUIRE(address.ok());
  CHECK(address->id == leaderId);
  CHECK(address->httpUrl() == masters.http(leader));
}

TEST_CASE("ha: when the leading master is SIGKILLed a standby leads, and agents, a framework and its task follow it") {
  HaCluster ha(2, 2, "cpus:2;mem:1024;disk:512");
  auto& masters = ha.masters;
  auto& cluster = ha.cluster;
  const auto& url = ha.url;
  size_t first = ha.leader;

  RecordingScheduler scheduler;
  auto info = frameworkInfo("ha-framework");
  info.failoverTimeoutSeconds = 3600;
  auto driver = SchedulerDriver::create(&scheduler, info, {.master = url});
  REQUIRE(driver->start() == DriverStatus::kRunning);
  REQUIRE(scheduler.waitForRegistration());
  auto offer = scheduler.waitForOffer();
  REQUIRE(offer);
  driver->launchTasks({offer->id}, {makeTask("long-1", *offer, "exec sleep 600")});
  REQUIRE(scheduler.waitForState(TaskID{"long-1"}, TaskState::kRunning));
  std::vector<pid_t> pids;
  REQUIRE(eventually([&] {
    pids = cluster.processesMatching("sleep 600", true);
    return pids.size() == 1;
  }));

  masters.process(first).signal(SIGKILL);
  size_t second = masters.awaitLeader();
  CHECK(second != first);

  // Everything comes back to the new leader, which read the registry the
  // old one wrote: both agents, the framework (it subscribes again under
  // its id) and the running task, reported by its agent.
  REQUIRE(eventually([&] {
    auto s = masters.state(second);
    if (!s.is_object() || s["agents"].size() != 2) return false;
    for (const auto& a : s["agents"]) {
      if (!a.value("active", false)) return false;
    }
    return MasterGroup::taskState(s, "long-1") == "TASK_RUNNING";
  }, 30s));
  REQUIRE(scheduler.waitForRegistration(2));
  CHECK(scheduler.frameworkId().value == masters.state(second)["frameworks"][0].value("id", ""));
  // The task was not restarted: the same process runs on.
  CHECK(cluster.processesMatching("sleep 600", true) == pids);

  // And the new leader serves: a new task runs to its end.
  // (Offers the old leader made before it died are of no use now.)
  std::string newLeaderId = masters.state(second).value("id", "");
  std::optional<Offer> next;
  REQUIRE(eventually([&] {
    next = scheduler.waitForOffer(1s);
    return next && next->id.value.rfind(newLeaderId, 0) == 0;
  }, 30s));
  driver->launchTasks({next->id}, {makeTask("after-failover", *next, "true")});
  REQUIRE(scheduler.waitForState(TaskID{"after-failover"}, TaskState::kFinished, 30s));

  // Reconciliation on the new leader knows the task that ran through the failover.
  driver->reconcileTasks({});
  REQUIRE(scheduler.waitFor([&] {
    for (const auto& s : scheduler.statusesOf(TaskID{"long-1"})) {
      if (s.state == TaskState::kRunning && s.reason == TaskReason::kReconciliation) return true;
    }
    return false;
  }));
  driver->stop();
}

TEST_CASE("ha: launch-tasks, clusternodes-mapreduce, a Spark-style program and the CLI find the leader by zk:// URL") {
  HaCluster ha(2, 2);
  auto& masters = ha.masters;
  auto& cluster = ha.cluster;
  const auto& url = ha.url;
  size_t leader = ha.leader;

  auto launched = runProgram({binary("launch-tasks"), "--master=" + url, "--tasks=4", "--command=true",
                              "--cpus=0.1", "--mem=16", "--timeout=60"});
  INFO("launch-tasks: " << launched.output);
  CHECK(launched.exitCode == 0);

  // Input: 300 lines "alpha beta gamma alpha".
  std::string input = cluster.dir() + "/input";
  std::filesystem::create_directories(input);
  {
    std::ofstream out(input + "/words.txt");
    for (int i = 0; i < 300; ++i) out << "alpha beta gamma alpha\n";
  }
  const std::map<std::string, long> want = {{"alpha", 600}, {"beta", 300}, {"gamma", 300}};

  auto mapreduce = runProgram({binary("clusternodes-mapreduce"), "--master=" + url, "--task-mem=512",
                               "--executor-mem=256", "--reducers=2", "wordcount", input, cluster.dir() + "/mr-out"},
                              240s);
  INFO("clusternodes-mapreduce: " << mapreduce.output);
  REQUIRE(mapreduce.exitCode == 0);
  CHECK(wordCounts(partFiles(cluster.dir() + "/mr-out", "part-r-")) == want);

  auto spark = runProgram({binary("clusternodes-spark-wordcount"), "--master=" + url, "--executor-mem=512",
                           "--partitions=2", input + "/words.txt", cluster.dir() + "/spark-out"},
                          240s);
  INFO("clusternodes-spark-wordcount: " << spark.output);
  REQUIRE(spark.exitCode == 0);
  CHECK(wordCounts(partFiles(cluster.dir() + "/spark-out", "part-")) == want);

  auto status = runProgram({binary("clusternodes"), "status", "--master=" + url}, 30s);
  INFO("clusternodes status: " << status.output);
  CHECK(status.exitCode == 0);
  CHECK(status.output.find(masters.state(leader).value("id", "") + " leads at") != std::string::npos);
}
