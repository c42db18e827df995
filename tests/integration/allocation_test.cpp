// Allocation with real processes: freed resources come back as offers,
// frameworks with several roles, and the operator API for weights and
// quotas, kept across a master restart.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <mutex>

#include "clusternodes/scheduler.hpp"
#include "common/http_client.hpp"
#include "tests/harness/cluster.hpp"
#include "tests/harness/driver.hpp"
#include "tests/harness/recording_scheduler.hpp"

using namespace clusternodes;
using namespace clusternodes::testing;
using namespace std::chrono_literals;

namespace {

nlohmann::json json(const Result<HttpResult>& r) {
  REQUIRE(r.ok());
  return nlohmann::json::parse(r->body, nullptr, false);
}

}  // namespace

TEST_CASE("a finished task's resources are offered again") {
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent("cpus:1;mem:256;disk:100");
  cluster.waitForAgents(1);

  // Each offer is used whole by one short task; the next offer can only come
  // from the resources that task frees. How soon it comes is for the
  // benchmarks (bench/allocator.cpp) to measure, not for a test to assert.
  std::mutex mutex;
  std::vector<Offer> offers;
  int finished = 0;
  std::atomic<int> launched{0};
  RecordingScheduler scheduler;
  scheduler.onOffer = [&](SchedulerDriver* driver, const Offer& offer) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      offers.push_back(offer);
    }
    if (launched >= 5) return;
    int n = launched++;
    driver->launchTasks({offer.id}, {makeTask("t" + std::to_string(n), offer, "sleep 0.2", "cpus:1;mem:256")});
  };
  scheduler.onStatus = [&](SchedulerDriver*, const TaskStatus& status) {
    if (std::string(toString(status.state)) != "TASK_FINISHED") return;
    std::lock_guard<std::mutex> lock(mutex);
    ++finished;
  };
  FrameworkInfo info;
  info.name = "reoffer";
  auto driver = startDriver(scheduler, cluster, info);

  // The five tasks ran one after another, each on what the one before freed,
  // and what the last freed came back too.
  REQUIRE(eventually([&] {
    std::lock_guard<std::mutex> lock(mutex);
    return finished == 5 && offers.size() >= 6;
  }, 60s));
  std::vector<Offer> seen;
  {
    std::lock_guard<std::mutex> lock(mutex);
    seen = offers;
  }
  for (const auto& offer : seen) {
    INFO("offer " << offer.id.value << ": " << offer.resources.toString());
    CHECK(offer.resources.cpus() == doctest::Approx(1.0));
  }
  driver->stop();
  driver->join();
}

TEST_CASE("a framework with two roles gets offers for each, and reserved resources only under their role") {
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent("cpus:2;mem:1024;cpus(b):1;mem(b):512");
  cluster.waitForAgents(1);

  RecordingScheduler scheduler;
  std::mutex mutex;
  std::vector<Offer> seen;
  scheduler.onOffer = [&](SchedulerDriver* driver, const Offer& offer) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      seen.push_back(offer);
    }
    Filters filters;
    filters.refuseSeconds = 0.05;
    driver->declineOffer(offer.id, filters);
  };
  FrameworkInfo info;
  info.name = "two-roles";
  info.roles = {"a", "b"};
  auto driver = startDriver(scheduler, cluster, info);

  REQUIRE(eventually([&] {
    std::lock_guard<std::mutex> lock(mutex);
    bool a = false;
    bool b = false;
    for (const auto& o : seen) {
      a |= o.allocationRole == "a";
      b |= o.allocationRole == "b";
    }
    return a && b;
  }));
  {
    // Released before the driver stops: its callback thread may be waiting
    // for it with an offer, and join() would wait for that thread.
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& o : seen) {
      INFO("offer for role " << o.allocationRole << ": " << o.resources.toString());
      CHECK((o.allocationRole == "a" || o.allocationRole == "b"));
      if (o.allocationRole == "a") CHECK(o.resources.reservationRoles().empty());
    }
  }
  auto state = cluster.state();
  REQUIRE(state.is_object());
  REQUIRE(state["frameworks"].size() == 1);
  CHECK(state["frameworks"][0]["roles"] == nlohmann::json::array({"a", "b"}));
  driver->stop();
  driver->join();
}

TEST_CASE("weights and quotas set through the operator API are validated, applied and kept across a restart") {
  TestCluster cluster;
  cluster.startMaster();
  const std::string api = cluster.masterHttp() + "/api/v1";

  auto put = httpSend("PUT", api + "/weights", R"({"eng": 2.5, "ops": 1})");
  REQUIRE(put.ok());
  CHECK(put->status == 200);
  auto weights = json(httpGet(api + "/weights"));
  CHECK(weights["weights"]["eng"] == 2.5);
  CHECK(weights["weights"]["ops"] == 1);

  // Bad input: a clear error, nothing changed.
  for (const std::string body : {R"({"eng": -1})", R"({"eng": "two"})", R"({"bad role": 2})", "not json", "{}"}) {
    auto bad = httpSend("PUT", api + "/weights", body);
    REQUIRE(bad.ok());
    INFO("body: " << body << " -> " << bad->body);
    CHECK(bad->status == 400);
    CHECK(json(bad).contains("error"));
  }
  CHECK(json(httpGet(api + "/weights"))["weights"]["eng"] == 2.5);

  put = httpSend("PUT", api + "/quota", R"({"role": "eng", "guarantee": "cpus:2;mem:1024", "limit": "cpus:4"})");
  REQUIRE(put.ok());
  CHECK(put->status == 200);
  for (const std::string body :
       {R"({"role": "eng", "guarantee": "cpus:8", "limit": "cpus:4"})", R"({"role": "*", "limit": "cpus:4"})",
        R"({"role": "eng", "limit": "ports:[1-2]"})", R"({"role": "eng", "limit": "cpus(eng):1"})",
        R"({"role": "eng", "limit": "cpus:x"})", R"({"role": "eng"})", R"({"guarantee": "cpus:1"})"}) {
    auto bad = httpSend("PUT", api + "/quota", body);
    REQUIRE(bad.ok());
    INFO("body: " << body << " -> " << bad->body);
    CHECK(bad->status == 400);
  }
  auto quotas = json(httpGet(api + "/quota"));
  CHECK(quotas["quotas"]["eng"]["guarantee"] == "cpus:2;mem:1024");
  CHECK(quotas["quotas"]["eng"]["limit"] == "cpus:4");

  // /state shows the roles with their weight and quota.
  auto roleOf = [&](const nlohmann::json& state, const std::string& name) {
    for (const auto& r : state["roles"]) {
      if (r["role"] == name) return r;
    }
    return nlohmann::json();
  };
  auto eng = roleOf(cluster.state(), "eng");
  CHECK(eng["weight"] == 2.5);
  CHECK(eng["guarantee"] == "cpus:2;mem:1024");
  CHECK(eng["below_guarantee"] == true);  // nothing is allocated to it yet

  // A restarted master has them back from its registry.
  cluster.stopMaster(SIGKILL);
  cluster.startMaster();
  CHECK(json(httpGet(api + "/weights"))["weights"]["eng"] == 2.5);
  CHECK(json(httpGet(api + "/quota"))["quotas"]["eng"]["limit"] == "cpus:4");

  auto removed = httpSend("DELETE", api + "/quota?role=eng", "");
  REQUIRE(removed.ok());
  CHECK(removed->status == 200);
  CHECK(json(httpGet(api + "/quota"))["quotas"].empty());
  auto again = httpSend("DELETE", api + "/quota?role=eng", "");
  REQUIRE(again.ok());
  CHECK(again->status == 404);
}

TEST_CASE("a framework kept from offers while another holds everything is reported starved") {
  TestCluster cluster;
  cluster.startMaster({"--starvation-threshold=300ms"});
  cluster.startAgent("cpus:1;mem:256;disk:100");
  cluster.waitForAgents(1);

  // The first framework takes the whole agent with a long task.
  RecordingScheduler greedy;
  std::atomic<bool> launched{false};
  greedy.onOffer = [&](SchedulerDriver* driver, const Offer& offer) {
    if (launched.exchange(true)) return;
    driver->launchTasks({offer.id}, {makeTask("hog", offer, "sleep 30", "cpus:1;mem:256")});
  };
  FrameworkInfo info;
  info.name = "greedy";
  auto first = startDriver(greedy, cluster, info);
  REQUIRE(greedy.waitForState(TaskID{"hog"}, TaskState::kRunning));

  RecordingScheduler waiting;
  info.name = "waiting";
  auto second = startDriver(waiting, cluster, info);
  FrameworkID waitingId = waiting.frameworkId();

  CHECK(eventually([&] {
    auto state = cluster.state();
    for (const auto& fw : state["frameworks"]) {
      if (fw["id"] == waitingId.value) return fw["starved"] == true;
    }
    return false;
  }));
  CHECK(cluster.masterGet("/metrics").find("clusternodes_master_frameworks_starved 1") != std::string::npos);
  auto state = cluster.state();
  for (const auto& fw : state["frameworks"]) {
    if (fw["name"] == "greedy") CHECK(fw["starved"] == false);
  }
  first->stop();
  first->join();
  second->stop();
  second->join();
}

TEST_CASE("RESERVE turns offered resources into reservations for the role, kept across a master restart, "
          "UNRESERVE gives them back") {
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent("cpus:2;mem:1024;disk:100");
  cluster.waitForAgents(1);

  // The framework of role ml reserves part of its first offer, tries a
  // reservation for another role (dropped), and declines the rest briefly.
  std::mutex mutex;
  std::vector<Offer> seen;
  std::atomic<int> step{0};
  RecordingScheduler ml;
  ml.onOffer = [&](SchedulerDriver* driver, const Offer& offer) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      seen.push_back(offer);
    }
    Filters brief;
    brief.refuseSeconds = 0.05;
    if (step == 0) {
      step = 1;
      Operation bad;
      bad.type = Operation::Type::kReserve;
      bad.resources = *Resources::parse("cpus(ops):0.5");
      Operation reserve;
      reserve.type = Operation::Type::kReserve;
      reserve.resources = *Resources::parse("cpus(ml):1;mem(ml):256");
      driver->acceptOffers({offer.id}, {bad, reserve}, brief);
    } else if (step == 2 && offer.resources.contains(*Resources::parse("cpus(ml):1"))) {
      step = 3;
      Operation unreserve;
      unreserve.type = Operation::Type::kUnreserve;
      unreserve.resources = *Resources::parse("cpus(ml):1;mem(ml):256");
      driver->acceptOffers({offer.id}, {unreserve}, brief);
    } else {
      driver->declineOffer(offer.id, brief);
    }
  };
  FrameworkInfo info;
  info.name = "reserver";
  info.roles = {"ml"};
  auto driver = startDriver(ml, cluster, info);

  auto agentTotal = [&] {
    auto state = cluster.state();
    return state.is_object() && state["agents"].size() == 1 ? state["agents"][0]["resources"] : nlohmann::json();
  };
  auto offeredReserved = [&] {
    std::lock_guard<std::mutex> lock(mutex);
    return !seen.empty() && seen.back().resources.contains(*Resources::parse("cpus(ml):1;mem(ml):256"));
  };
  REQUIRE(eventually(offeredReserved));
  CHECK(cluster.masterGet("/metrics").find("clusternodes_master_operations_total{result=\"dropped\"} 1") !=
        std::string::npos);
  // The scheduler heard why the reservation for the other role was refused.
  REQUIRE(ml.waitFor([&] { return !ml.refusedOperations().empty(); }));
  CHECK(ml.refusedOperations().front().find("RESERVE: RESERVE of cpus(ops):0.5: every resource must carry the "
                                            "offer's role 'ml'") == 0);
  CHECK(cluster.masterGet("/metrics").find("clusternodes_master_operations_total{result=\"applied\"} 1") !=
        std::string::npos);

  // Another role is never offered the reservation.
  RecordingScheduler ops;
  std::vector<Offer> opsSeen;
  ops.onOffer = [&](SchedulerDriver* d, const Offer& offer) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      opsSeen.push_back(offer);
    }
    Filters brief;
    brief.refuseSeconds = 0.05;
    d->declineOffer(offer.id, brief);
  };
  info.name = "other";
  info.roles = {"ops"};
  auto other = startDriver(ops, cluster, info);
  REQUIRE(eventually([&] {
    std::lock_guard<std::mutex> lock(mutex);
    return opsSeen.size() >= 3;
  }));
  {
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& o : opsSeen) CHECK(o.resources.reservationRoles().empty());
  }
  other->stop();
  other->join();

  // A restarted master takes the reservation back from its registry.
  cluster.stopMaster(SIGKILL);
  {
    std::lock_guard<std::mutex> lock(mutex);
    seen.clear();
  }
  cluster.startMaster();
  cluster.waitForAgents(1);
  REQUIRE(eventually(offeredReserved, 30s));

  // UNRESERVE: the role's offers come back unreserved.
  step = 2;
  REQUIRE(eventually([&] { return step == 3; }));
  REQUIRE(eventually([&] {
    std::lock_guard<std::mutex> lock(mutex);
    return !seen.empty() && seen.back().resources.reservationRoles().empty() &&
           seen.back().resources.contains(*Resources::parse("cpus:2;mem:1024"));
  }));
  INFO("agent total: " << agentTotal().dump());
  driver->stop();
  driver->join();
}

TEST_CASE("--offer-timeout rescinds an offer left unanswered and offers its resources again, unfiltered") {
  TestCluster cluster;
  cluster.startMaster({"--offer-timeout=300ms"});
  cluster.startAgent("cpus:1;mem:256;disk:100");
  cluster.waitForAgents(1);

  RecordingScheduler idle;  // takes offers and never answers
  FrameworkInfo info;
  info.name = "idle";
  auto driver = startDriver(idle, cluster, info);
  REQUIRE(idle.waitForOffer());
  // The master takes it back, and the same resources come again to the only
  // framework there is: no filter was set on its behalf.
  REQUIRE(eventually([&] { return idle.rescinded().size() >= 1 && idle.offers().size() >= 2; }, 20s));
  auto offers = idle.offers();
  CHECK(idle.rescinded().front() == offers.front().id);
  CHECK(offers[1].resources == offers[0].resources);
  CHECK(cluster.masterGet("/metrics").find("clusternodes_master_offers_total{event=\"rescinded\"}") !=
        std::string::npos);
  driver->stop();
  driver->join();
}
