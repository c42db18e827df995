// /metrics series that tests/integration/metrics_test.cpp does not assert:
// a real master and agent, a framework that launches tasks and kills one,
// and the values each series should have after that.
#include <doctest/doctest.h>

#include <atomic>

#include "common/http_client.hpp"
#include "tests/harness/cluster.hpp"
#include "tests/harness/driver.hpp"
#include "tests/harness/prometheus_text.hpp"
#include "tests/harness/recording_scheduler.hpp"

using namespace clusternodes;
using namespace clusternodes::testing;

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

std::vector<MetricSample> scrapeSamples(const std::string& httpBase, std::string* text = nullptr) {
  auto r = httpGet(httpBase + "/metrics", 5);
  std::string body = r && r->status == 200 ? r->body : std::string();
  if (text) *text = body;
  try {
    return parsePrometheusText(body);
  } catch (const std::exception&) {
    return {};
  }
}

double value(const std::vector<MetricSample>& samples, const std::string& name,
             const std::map<std::string, std::string>& labels = {}) {
  return valueOf(samples, name, labels).value_or(-1);
}

}  // namespace

TEST_CASE("metrics coverage: task, message, registration and container series follow what the cluster did") {
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent("cpus:2;mem:1024;disk:512;gpus:1");
  cluster.waitForAgents(1);

  std::string masterText;
  std::string agentText;
  double commitsBefore = 0;
  double masterMessagesBefore = 0;
  double agentMessagesBefore = 0;
  {
    INFO("before any framework: one new agent registration, the agent registered and its disk reported");
    std::vector<MetricSample> m;
    std::vector<MetricSample> a;
    bool ready = eventually([&] {
      m = scrapeSamples(cluster.masterHttp(), &masterText);
      a = scrapeSamples(cluster.agentHttp(0), &agentText);
      return value(m, "clusternodes_master_agent_registrations_total", {{"type", "new"}}) == 1 &&
             value(a, "clusternodes_agent_registered") == 1;
    });
    INFO("master:\n" << masterText);
    INFO("agent:\n" << agentText);
    REQUIRE(ready);
    CHECK(value(m, "clusternodes_master_agent_registrations_total", {{"type", "reregistration"}}) == 0);
    CHECK(value(m, "clusternodes_master_agents_removed_total", {{"mark", "unreachable"}}) == 0);
    CHECK(value(m, "clusternodes_master_agents_removed_total", {{"mark", "gone"}}) == 0);
    CHECK(value(m, "clusternodes_master_frameworks_registered_total") == 0);
    CHECK(value(m, "clusternodes_master_frameworks_removed_total") == 0);
    CHECK(value(m, "clusternodes_master_executors") == 0);
    CHECK(value(m, "clusternodes_master_executors_exited_total") == 0);
    CHECK(value(m, "clusternodes_master_framework_messages_total") == 0);
    // At least the agent's registration came in on the socket.
    CHECK(value(m, "clusternodes_master_messages_received_total") >= 1);
    CHECK(value(a, "clusternodes_agent_registrations_total") >= 1);
    CHECK(value(a, "clusternodes_agent_messages_received_total") >= 1);  // the master's acknowledgement
    CHECK(value(a, "clusternodes_agent_tasks_launched_total") == 0);
    CHECK(value(a, "clusternodes_agent_disk_bytes", {{"role", "*"}, {"state", "idle"}}) == 512 * kMiB);
    CHECK(value(a, "clusternodes_agent_disk_bytes", {{"role", "*"}, {"state", "used"}}) == 0);
    CHECK(value(a, "clusternodes_agent_gpus", {{"role", "*"}, {"state", "idle"}}) == 1);
    CHECK(value(a, "clusternodes_agent_gpus", {{"role", "*"}, {"state", "used"}}) == 0);
    CHECK(sumOf(m, "clusternodes_master_gpus") == 1);
    CHECK(value(m, "clusternodes_master_gpus", {{"role", "*"}, {"state", "used"}}) == 0);
    commitsBefore = value(a, "clusternodes_agent_checkpoint_commits_total");
    CHECK(commitsBefore >= 0);
    masterMessagesBefore = value(m, "clusternodes_master_messages_received_total");
    agentMessagesBefore = value(a, "clusternodes_agent_messages_received_total");
  }

  // Two long tasks and a short one; the test kills one of the long ones.
  RecordingScheduler scheduler;
  std::atomic<bool> launched{false};
  scheduler.onOffer = [&](SchedulerDriver* driver, const Offer& offer) {
    if (!launched.exchange(true)) {
      driver->launchTasks({offer.id},
                          {makeTask("keeper", offer, "sleep 600", "cpus:0.5;mem:64;disk:16"),
                           makeTask("victim", offer, "sleep 600", "cpus:0.25;mem:32"),
                           makeTask("quick", offer, "true")});
    }
  };
  auto driver = startDriver(scheduler, cluster, "metrics-coverage");
  std::string frameworkId = scheduler.frameworkId().value;
  REQUIRE(scheduler.waitForState(TaskID{"keeper"}, TaskState::kRunning));
  REQUIRE(scheduler.waitForState(TaskID{"victim"}, TaskState::kRunning));
  REQUIRE(scheduler.waitForState(TaskID{"quick"}, TaskState::kFinished));
  driver->killTask(TaskID{"victim"});
  REQUIRE(scheduler.waitForState(TaskID{"victim"}, TaskState::kKilled));

  {
    INFO("with tasks run and one killed: the counters moved and the running task's container is measured");
    std::vector<MetricSample> m;
    std::vector<MetricSample> a;
    bool settled = eventually([&] {
      m = scrapeSamples(cluster.masterHttp(), &masterText);
      a = scrapeSamples(cluster.agentHttp(0), &agentText);
      return value(a, "clusternodes_agent_status_updates_pending") == 0 &&
             value(a, "clusternodes_agent_tasks", {{"state", "TASK_RUNNING"}}) == 1 &&
             sumOf(a, "clusternodes_agent_tasks") == 1 &&
             value(m, "clusternodes_master_tasks_terminal_total", {{"state", "TASK_KILLED"}}) == 1 &&
             value(a, "clusternodes_agent_executors_starting") == 0 &&
             value(a, "clusternodes_agent_containers_destroyed_total") >= 1 &&
             sumOf(a, "clusternodes_agent_container_processes", {{"task_id", "keeper"}}) >= 1;
    });
    INFO("master:\n" << masterText);
    INFO("agent:\n" << agentText);
    REQUIRE(settled);

    // Master.
    CHECK(value(m, "clusternodes_master_frameworks_registered_total") == 1);
    CHECK(value(m, "clusternodes_master_frameworks_removed_total") == 0);
    // 1 registration, a subscription, an accept, a kill, 3 tasks' updates...
    CHECK(value(m, "clusternodes_master_messages_received_total") >= masterMessagesBefore + 10);
    double runs = value(m, "clusternodes_master_allocation_runs_total");
    CHECK(runs >= 1);
    CHECK(value(m, "clusternodes_master_allocation_seconds_total") ==
          doctest::Approx(value(m, "clusternodes_master_allocation_duration_seconds_sum")));
    CHECK(value(m, "clusternodes_master_allocation_seconds_total") >= 0);
    // The one role in use holds 0.5 of 2 CPUs and 64 of 1024 MiB: dominant
    // share 0.25 (the kept offer, if any, adds to the role's allocation, so
    // it is at least that).
    auto shares = samplesOf(m, "clusternodes_master_role_dominant_share");
    REQUIRE(!shares.empty());
    double maxShare = 0;
    for (const auto& s : shares) {
      CHECK(s.value >= 0);
      CHECK(s.value <= 1.0 + 1e-9);
      maxShare = std::max(maxShare, s.value);
    }
    CHECK(maxShare >= 0.25 - 1e-9);
    auto waiting = samplesOf(m, "clusternodes_master_framework_waiting_seconds", {{"framework_id", frameworkId}});
    REQUIRE(waiting.size() == 1);
    CHECK(waiting[0].value >= 0);
    // Command tasks have no framework executor, and no message was relayed.
    CHECK(value(m, "clusternodes_master_executors") == 0);
    CHECK(value(m, "clusternodes_master_executors_exited_total") == 0);
    CHECK(value(m, "clusternodes_master_framework_messages_total") == 0);

    // Agent.
    CHECK(value(a, "clusternodes_agent_tasks_launched_total") == 3);
    CHECK(value(a, "clusternodes_agent_launches_queued_total") >= 0);
    // The launches and the status updates were checkpointed.
    CHECK(value(a, "clusternodes_agent_checkpoint_commits_total") > commitsBefore);
    // The launch, the kill and acknowledgements of the updates at least.
    CHECK(value(a, "clusternodes_agent_messages_received_total") >= agentMessagesBefore + 4);
    CHECK(value(a, "clusternodes_agent_registrations_total") >= 1);
    CHECK(value(a, "clusternodes_agent_disk_bytes", {{"role", "*"}, {"state", "used"}}) == 16 * kMiB);
    CHECK(value(a, "clusternodes_agent_disk_bytes", {{"role", "*"}, {"state", "idle"}}) == (512 - 16) * kMiB);
    // The tasks took no GPU.
    CHECK(value(a, "clusternodes_agent_gpus", {{"role", "*"}, {"state", "idle"}}) == 1);

    std::map<std::string, std::string> keeper{{"task_id", "keeper"}};
    auto memory = samplesOf(a, "clusternodes_agent_container_memory_bytes", keeper);
    auto peak = samplesOf(a, "clusternodes_agent_container_memory_peak_bytes", keeper);
    auto processes = samplesOf(a, "clusternodes_agent_container_processes", keeper);
    auto oom = samplesOf(a, "clusternodes_agent_container_oom_kills_total", keeper);
    REQUIRE(memory.size() == 1);
    REQUIRE(peak.size() == 1);
    REQUIRE(processes.size() == 1);
    REQUIRE(oom.size() == 1);
    CHECK(peak[0].value > 0);
    CHECK(peak[0].value >= memory[0].value);
    CHECK(processes[0].value >= 1);
    CHECK(oom[0].value == 0);
    CHECK(peak[0].labels.at("container_id") == memory[0].labels.at("container_id"));
    // The killed task's container is gone from the scrape.
    CHECK(samplesOf(a, "clusternodes_agent_container_processes", {{"task_id", "victim"}}).empty());
  }

  {
    INFO("a framework that stops without failover is torn down and counted as removed");
    driver->stop();
    driver->join();
    std::vector<MetricSample> m;
    bool removed = eventually([&] {
      m = scrapeSamples(cluster.masterHttp(), &masterText);
      return value(m, "clusternodes_master_frameworks_removed_total") == 1;
    });
    INFO("master:\n" << masterText);
    CHECK(removed);
    CHECK(value(m, "clusternodes_master_frameworks_registered_total") == 1);
    CHECK(samplesOf(m, "clusternodes_master_framework_waiting_seconds", {{"framework_id", frameworkId}}).empty());
  }

  {
    INFO("the agent reports 0 for registered once the master is gone");
    cluster.stopMaster();
    std::vector<MetricSample> a;
    bool gone = eventually(
        [&] {
          a = scrapeSamples(cluster.agentHttp(0), &agentText);
          return value(a, "clusternodes_agent_registered") == 0;
        },
        std::chrono::seconds(30));
    INFO("agent:\n" << agentText);
    CHECK(gone);
  }
}

TEST_CASE("metrics coverage: framework executor, framework message and executor exit series") {
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent("cpus:2;mem:1024;disk:1024");
  cluster.waitForAgents(1);


  // The first offer runs a teller and a waiter on the executor; later ones
  // are declined until the test asks for the crash, which the next offer
  // then launches.
  RecordingScheduler scheduler;
  std::atomic<int> phase{0};  // 0: first launch, 1: decline, 2: crash, 3: done
  scheduler.onOffer = [&](SchedulerDriver* driver, const Offer& offer) {
    int p = phase.load();
    if (p == 0 && phase.compare_exchange_strong(p, 1)) {
      driver->launchTasks({offer.id}, {executorTask("teller", offer, "tell:hello"), executorTask("waiter", offer, "wait")});
    } else if (p == 2 && phase.compare_exchange_strong(p, 3)) {
      driver->launchTasks({offer.id}, {executorTask("crasher", offer, "exit:3")});
    } else {
      driver->declineOffer(offer.id, Filters{0});
    }
  };
  auto driver = startDriver(scheduler, cluster, "metrics-coverage-executor");
  REQUIRE(scheduler.waitForState(TaskID{"teller"}, TaskState::kFinished, std::chrono::seconds(30)));
  REQUIRE(scheduler.waitForState(TaskID{"waiter"}, TaskState::kRunning, std::chrono::seconds(30)));
  REQUIRE(scheduler.waitFor([&] { return !scheduler.messages().empty(); }));
  auto agent = scheduler.messages().front().agentId;
  driver->sendFrameworkMessage(ExecutorID{"example"}, agent, "ping");
  REQUIRE(scheduler.waitFor([&] { return scheduler.messages().size() >= 2; }));

  std::string masterText;
  std::string agentText;
  {
    INFO("one framework executor runs, and three messages went through the master (tell, ping, echo)");
    std::vector<MetricSample> m;
    std::vector<MetricSample> a;
    bool settled = eventually([&] {
      m = scrapeSamples(cluster.masterHttp(), &masterText);
      a = scrapeSamples(cluster.agentHttp(0), &agentText);
      return value(m, "clusternodes_master_executors") == 1 &&
             value(m, "clusternodes_master_framework_messages_total") == 3 &&
             sumOf(a, "clusternodes_agent_container_processes", {{"executor_id", "example"}}) >= 1;
    });
    INFO("master:\n" << masterText);
    INFO("agent:\n" << agentText);
    REQUIRE(settled);
    CHECK(value(m, "clusternodes_master_executors_exited_total") == 0);
    std::map<std::string, std::string> ofExecutor{{"executor_id", "example"}};
    auto peak = samplesOf(a, "clusternodes_agent_container_memory_peak_bytes", ofExecutor);
    REQUIRE(peak.size() == 1);
    CHECK(peak[0].value > 0);
    CHECK(sumOf(a, "clusternodes_agent_container_oom_kills_total", ofExecutor) == 0);
    // The executor's container holds its own 0.1 CPUs and the waiter's 0.2.
    CHECK(sumOf(a, "clusternodes_agent_container_cpus_limit", ofExecutor) == doctest::Approx(0.3));
    CHECK(value(a, "clusternodes_agent_framework_executors") == 1);
    CHECK(value(a, "clusternodes_agent_tasks_launched_total") == 2);
  }

  // A task that makes the whole executor exit.
  phase = 2;
  driver->reviveOffers();
  REQUIRE(scheduler.waitFor([&] { return !scheduler.lostExecutors().empty(); }, std::chrono::seconds(30)));
  {
    INFO("the executor's exit is counted and it no longer runs");
    std::vector<MetricSample> m;
    bool exited = eventually([&] {
      m = scrapeSamples(cluster.masterHttp(), &masterText);
      return value(m, "clusternodes_master_executors_exited_total") == 1 &&
             value(m, "clusternodes_master_executors") == 0;
    });
    INFO("master:\n" << masterText);
    CHECK(exited);
    CHECK(value(m, "clusternodes_master_framework_messages_total") == 3);
  }
  driver->stop();
  driver->join();
}

TEST_CASE("metrics coverage: queued launches, CFS quota, pending updates, garbage collection and agent partition") {
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent("cpus:2;mem:1024;disk:1024",
                     {"--max-starting-executors=1", "--cgroups-enable-cfs", "--gc-delay=1s"});
  cluster.waitForAgents(1);

  RecordingScheduler scheduler;
  launchOnOffers(scheduler, {{"", [](const Offer& offer) {
                                return std::vector<TaskInfo>{makeTask("capped", offer, "sleep 600", "cpus:0.5;mem:32"),
                                                             makeTask("brief", offer, "true"),
                                                             makeTask("other", offer, "sleep 600")};
                              }}});
  auto driver = startDriver(scheduler, cluster, frameworkInfo("metrics-coverage-acks"), /*implicitAcks=*/false);
  // Without acknowledgements each task's first update is all that comes.
  REQUIRE(scheduler.waitFor(
      [&] {
        return !scheduler.statusesOf(TaskID{"capped"}).empty() && !scheduler.statusesOf(TaskID{"brief"}).empty() &&
               !scheduler.statusesOf(TaskID{"other"}).empty();
      },
      std::chrono::seconds(30)));
  // Acknowledges every update not acknowledged yet.
  size_t acked = 0;
  auto acknowledgeAll = [&] {
    auto statuses = scheduler.statuses();
    for (; acked < statuses.size(); ++acked) driver->acknowledgeStatusUpdate(statuses[acked]);
  };

  std::string masterText;
  std::string agentText;
  {
    INFO("nothing acknowledged yet: the agent holds updates pending; launches waited for the one start slot");
    std::vector<MetricSample> a;
    bool seen = eventually([&] {
      a = scrapeSamples(cluster.agentHttp(0), &agentText);
      return value(a, "clusternodes_agent_status_updates_pending") >= 3;
    });
    INFO("agent:\n" << agentText);
    REQUIRE(seen);
    // Three launches, one slot: at least the later two waited.
    CHECK(value(a, "clusternodes_agent_launches_queued_total") >= 2);
    CHECK(value(a, "clusternodes_agent_tasks_launched_total") == 3);
  }

  REQUIRE(scheduler.waitFor(
      [&] {
        acknowledgeAll();
        return !!scheduler.waitForState(TaskID{"capped"}, TaskState::kRunning, std::chrono::milliseconds(0)) &&
               !!scheduler.waitForState(TaskID{"other"}, TaskState::kRunning, std::chrono::milliseconds(0)) &&
               !!scheduler.waitForState(TaskID{"brief"}, TaskState::kFinished, std::chrono::milliseconds(0));
      },
      std::chrono::seconds(30)));
  acknowledgeAll();
  {
    INFO("running: no executor is starting, and with --cgroups-enable-cfs a task's CFS quota is its cpus");
    std::vector<MetricSample> a;
    bool running = eventually([&] {
      a = scrapeSamples(cluster.agentHttp(0), &agentText);
      return value(a, "clusternodes_agent_executors_starting") == 0 &&
             samplesOf(a, "clusternodes_agent_container_cpus_quota", {{"task_id", "capped"}}).size() == 1;
    });
    INFO("agent:\n" << agentText);
    REQUIRE(running);
    CHECK(sumOf(a, "clusternodes_agent_container_cpus_quota", {{"task_id", "capped"}}) == doctest::Approx(0.5));
    CHECK(sumOf(a, "clusternodes_agent_container_cpus_quota", {{"task_id", "other"}}) == doctest::Approx(0.1));
  }
  {
    INFO("acknowledged: nothing pending, and the finished task's sandbox is collected after --gc-delay");
    std::vector<MetricSample> a;
    bool collected = eventually(
        [&] {
          acknowledgeAll();  // and any update that arrives meanwhile
          a = scrapeSamples(cluster.agentHttp(0), &agentText);
          return value(a, "clusternodes_agent_status_updates_pending") == 0 &&
                 value(a, "clusternodes_agent_sandboxes_collected_total") >= 1;
        },
        std::chrono::seconds(30));
    INFO("agent:\n" << agentText);
    CHECK(collected);
  }

  {
    INFO("a stopped agent is marked unreachable, and registers again when it resumes");
    std::vector<MetricSample> m;
    cluster.agent(0).signal(SIGSTOP);
    bool unreachable = eventually(
        [&] {
          m = scrapeSamples(cluster.masterHttp(), &masterText);
          return value(m, "clusternodes_master_agents_removed_total", {{"mark", "unreachable"}}) == 1;
        },
        std::chrono::seconds(30));
    cluster.agent(0).signal(SIGCONT);
    INFO("master:\n" << masterText);
    REQUIRE(unreachable);
    CHECK(value(m, "clusternodes_master_agents", {{"state", "unreachable"}}) == 1);
    CHECK(value(m, "clusternodes_master_agents_removed_total", {{"mark", "gone"}}) == 0);
    CHECK(value(m, "clusternodes_master_agent_registrations_total", {{"type", "reregistration"}}) == 0);

    std::vector<MetricSample> a;
    bool back = eventually(
        [&] {
          m = scrapeSamples(cluster.masterHttp(), &masterText);
          a = scrapeSamples(cluster.agentHttp(0), &agentText);
          return value(m, "clusternodes_master_agent_registrations_total", {{"type", "reregistration"}}) >= 1 &&
                 value(m, "clusternodes_master_agents", {{"state", "registered"}}) == 1 &&
                 value(a, "clusternodes_agent_registered") == 1;
        },
        std::chrono::seconds(30));
    INFO("agent:\n" << agentText);
    CHECK(back);
    CHECK(value(m, "clusternodes_master_agent_registrations_total", {{"type", "new"}}) == 1);
    CHECK(value(a, "clusternodes_agent_registrations_total") >= 2);
  }
  driver->stop();
  driver->join();
}
