// /metrics as an operator scrapes it: a real master and two agents, a
// framework with a running, a finished and a failed task, and a malformed
// message; each scrape passes `promtool check metrics` (Debian's prometheus
// package) without a lint complaint, and its values tell what the cluster
// did.
#include <doctest/doctest.h>

#include <atomic>
#include <fstream>
#include <zmq.hpp>

#include "common/http_client.hpp"
#include "tests/harness/cluster.hpp"
#include "tests/harness/driver.hpp"
#include "tests/harness/prometheus_text.hpp"
#include "tests/harness/recording_scheduler.hpp"

using namespace clusternodes;
using namespace clusternodes::testing;

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

std::string scrape(const std::string& httpBase) {
  auto r = httpGet(httpBase + "/metrics", 5);
  return r && r->status == 200 ? r->body : std::string();
}

// promtool's verdict on a scrape: its exit code and everything it printed
// (problems and lint complaints alike).
ProgramResult promtoolCheck(const std::string& text, const std::string& file) {
  std::ofstream(file) << text;
  return runProgram({"/bin/sh", "-c", "promtool check metrics < '" + file + "'"}, std::chrono::seconds(30));
}

// A message that is not Cap'n Proto, through a DEALER like any peer's.
void sendMalformed(const std::string& endpoint) {
  zmq::context_t context(1);
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 2000);
  socket.connect(endpoint);
  socket.send(zmq::buffer(std::string("this is not a Cap'n Proto message")), zmq::send_flags::none);
}

// The samples of `scraped`, or none when it does not parse.
std::vector<MetricSample> parsed(const std::string& scraped) {
  try {
    return parsePrometheusText(scraped);
  } catch (const std::exception&) {
    return {};
  }
}

double value(const std::vector<MetricSample>& samples, const std::string& name,
             const std::map<std::string, std::string>& labels = {}) {
  return valueOf(samples, name, labels).value_or(-1);
}

// The tasks in every state but `state`.
double tasksNotIn(const std::vector<MetricSample>& samples, const std::string& name, const std::string& state) {
  return sumOf(samples, name) - value(samples, name, {{"state", state}});
}

}  // namespace

TEST_CASE("/metrics on the master and the agents passes promtool and tells what the cluster does") {
  REQUIRE_MESSAGE(runProgram({"/bin/sh", "-c", "command -v promtool"}).exitCode == 0,
                  "promtool is missing: install Debian's prometheus package (scripts/setup.sh does)");
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent("cpus:2;mem:1024;disk:2048;ports:[31000-31099]");
  cluster.startAgent("cpus:3;mem:2048;disk:1024;ports:[32000-32049]");
  cluster.waitForAgents(2);
  std::string worker = agentId(cluster, 0);
  std::string spare = agentId(cluster, 1);

  // Three tasks on the first agent; the second agent's first offer is
  // declined, and its next ones are kept.
  RecordingScheduler scheduler;
  std::atomic<bool> launched{false};
  std::atomic<bool> declined{false};
  scheduler.onOffer = [&](SchedulerDriver* driver, const Offer& offer) {
    if (offer.agentId.value == worker && !launched.exchange(true)) {
      driver->launchTasks({offer.id},
                          {makeTask("sleeper", offer, "sleep 600", "cpus:0.5;mem:64;disk:32;ports:[31000-31001]"),
                           makeTask("finisher", offer, "true"), makeTask("failer", offer, "exit 3")});
    } else if (offer.agentId.value == spare && !declined.exchange(true)) {
      driver->declineOffer(offer.id, Filters{0});
    }
  };
  auto driver = startDriver(scheduler, cluster, "metrics");
  REQUIRE(scheduler.waitForState(TaskID{"sleeper"}, TaskState::kRunning));
  REQUIRE(scheduler.waitForState(TaskID{"finisher"}, TaskState::kFinished));
  REQUIRE(scheduler.waitForState(TaskID{"failer"}, TaskState::kFailed));
  sendMalformed("tcp://" + cluster.master());

  // Scrapes until the ended tasks are acknowledged and forgotten, the
  // malformed message is counted and the second agent is offered again; the
  // checks below read the last scrapes.
  std::string masterText;
  std::string workerText;
  std::string spareText;
  std::vector<MetricSample> m;
  std::vector<MetricSample> w;
  std::vector<MetricSample> s;
  bool settled = eventually([&] {
    masterText = scrape(cluster.masterHttp());
    workerText = scrape(cluster.agentHttp(0));
    spareText = scrape(cluster.agentHttp(1));
    m = parsed(masterText);
    w = parsed(workerText);
    s = parsed(spareText);
    return value(m, "clusternodes_master_tasks", {{"state", "TASK_RUNNING"}}) == 1 &&
           tasksNotIn(m, "clusternodes_master_tasks", "TASK_RUNNING") == 0 &&
           value(w, "clusternodes_agent_tasks", {{"state", "TASK_RUNNING"}}) == 1 &&
           tasksNotIn(w, "clusternodes_agent_tasks", "TASK_RUNNING") == 0 &&
           value(m, "clusternodes_master_messages_dropped_total") >= 1 &&
           value(m, "clusternodes_master_cpus", {{"role", "*"}, {"state", "offered"}}) > 0;
  });
  INFO("master:\n" << masterText);
  INFO("agent 0:\n" << workerText);
  REQUIRE(settled);

  {
    INFO("promtool accepts every scrape without a complaint");
    for (const auto& [name, text] :
         std::vector<std::pair<std::string, std::string>>{{"master", masterText}, {"agent-0", workerText},
                                                          {"agent-1", spareText}}) {
      auto checked = promtoolCheck(text, cluster.dir() + "/" + name + ".metrics");
      INFO(name << ": " << checked.output);
      CHECK(checked.exitCode == 0);
      CHECK(checked.output.empty());
    }
  }

  {
    INFO("the master counts agents, frameworks, offers, tasks, updates and dropped messages");
    CHECK(value(m, "clusternodes_master_agents", {{"state", "registered"}}) == 2);
    CHECK(value(m, "clusternodes_master_agents", {{"state", "unreachable"}}) == 0);
    CHECK(value(m, "clusternodes_master_frameworks", {{"state", "connected"}}) == 1);
    CHECK(value(m, "clusternodes_master_frameworks", {{"state", "disconnected"}}) == 0);

    double sent = value(m, "clusternodes_master_offers_total", {{"event", "sent"}});
    CHECK(sent >= 3);
    CHECK(value(m, "clusternodes_master_offers_total", {{"event", "accepted"}}) >= 1);
    CHECK(value(m, "clusternodes_master_offers_total", {{"event", "declined"}}) == 1);
    CHECK(value(m, "clusternodes_master_offers_outstanding") >= 1);
    // Every offer sent is accounted for.
    CHECK(sent == value(m, "clusternodes_master_offers_total", {{"event", "accepted"}}) +
                      value(m, "clusternodes_master_offers_total", {{"event", "declined"}}) +
                      value(m, "clusternodes_master_offers_total", {{"event", "rescinded"}}) +
                      value(m, "clusternodes_master_offers_outstanding"));

    CHECK(value(m, "clusternodes_master_tasks_launched_total") == 3);
    CHECK(value(m, "clusternodes_master_tasks_terminal_total", {{"state", "TASK_FINISHED"}}) == 1);
    CHECK(value(m, "clusternodes_master_tasks_terminal_total", {{"state", "TASK_FAILED"}}) == 1);
    CHECK(sumOf(m, "clusternodes_master_tasks_terminal_total") == 2);
    // STARTING and RUNNING of each task, and the end of two, each once: an
    // executor's re-send of an update already acknowledged is not forwarded
    // again, and the agent's own re-sends count as retries.
    CHECK(value(m, "clusternodes_master_status_updates_total", {{"kind", "new"}}) == 8);
    CHECK(value(m, "clusternodes_master_status_updates_total", {{"kind", "unknown_task"}}) == 0);
    CHECK(value(m, "clusternodes_master_messages_dropped_total") >= 1);
    CHECK(value(m, "clusternodes_master_role_weight", {{"role", "*"}}) == 1);
  }

  {
    INFO("allocation latency is a histogram with cumulative buckets");
    auto buckets = samplesOf(m, "clusternodes_master_allocation_duration_seconds_bucket");
    REQUIRE(buckets.size() >= 2);
    double count = value(m, "clusternodes_master_allocation_duration_seconds_count");
    CHECK(count > 0);
    CHECK(count == value(m, "clusternodes_master_allocation_runs_total"));
    CHECK(value(m, "clusternodes_master_allocation_duration_seconds_sum") >= 0);
    double previousBound = -1;
    double previousCount = 0;
    for (const auto& b : buckets) {
      double bound = b.labels.at("le") == "+Inf" ? INFINITY : std::stod(b.labels.at("le"));
      CHECK(bound > previousBound);
      CHECK(b.value >= previousCount);
      previousBound = bound;
      previousCount = b.value;
    }
    CHECK(buckets.back().labels.at("le") == "+Inf");
    CHECK(buckets.back().value == count);
  }

  {
    INFO("the master's resources add up to the agents', and what is used is the running task's");
    CHECK(sumOf(m, "clusternodes_master_cpus") == doctest::Approx(2 + 3));
    CHECK(sumOf(m, "clusternodes_master_memory_bytes") == (1024 + 2048) * kMiB);
    CHECK(sumOf(m, "clusternodes_master_disk_bytes") == (2048 + 1024) * kMiB);
    CHECK(sumOf(m, "clusternodes_master_ports") == 100 + 50);
    CHECK(value(m, "clusternodes_master_cpus", {{"role", "*"}, {"state", "used"}}) == doctest::Approx(0.5));
    CHECK(value(m, "clusternodes_master_memory_bytes", {{"role", "*"}, {"state", "used"}}) == 64 * kMiB);
    CHECK(value(m, "clusternodes_master_disk_bytes", {{"role", "*"}, {"state", "used"}}) == 32 * kMiB);
    CHECK(value(m, "clusternodes_master_ports", {{"role", "*"}, {"state", "used"}}) == 2);
    CHECK(samplesOf(m, "clusternodes_master_gpus").empty());  // no agent has any
  }

  {
    INFO("each agent reports its tasks, executors and resources");
    CHECK(value(w, "clusternodes_agent_registered") == 1);
    CHECK(value(w, "clusternodes_agent_executors", {{"type", "command"}}) == 1);
    CHECK(value(w, "clusternodes_agent_cpus", {{"role", "*"}, {"state", "used"}}) == doctest::Approx(0.5));
    CHECK(value(w, "clusternodes_agent_cpus", {{"role", "*"}, {"state", "idle"}}) == doctest::Approx(1.5));
    CHECK(value(w, "clusternodes_agent_memory_bytes", {{"role", "*"}, {"state", "used"}}) == 64 * kMiB);
    CHECK(value(w, "clusternodes_agent_ports", {{"role", "*"}, {"state", "idle"}}) == 98);
    CHECK(value(w, "clusternodes_agent_messages_dropped_total") >= 0);
    // All three tasks ran here: 8 updates, each sent once apart from the
    // agent's own retries (an executor's re-send of an acknowledged update
    // is not forwarded again).
    CHECK(value(w, "clusternodes_agent_status_updates_sent_total") -
              value(w, "clusternodes_agent_status_update_retries_total") ==
          8);

    CHECK(value(s, "clusternodes_agent_registered") == 1);
    CHECK(sumOf(s, "clusternodes_agent_tasks") == 0);
    CHECK(value(s, "clusternodes_agent_cpus", {{"role", "*"}, {"state", "idle"}}) == 3);
    CHECK(samplesOf(s, "clusternodes_agent_container_memory_bytes").empty());
  }

  {
    INFO("the running task's container shows its usage and limits");
    std::map<std::string, std::string> sleeper{{"task_id", "sleeper"}};
    auto memory = samplesOf(w, "clusternodes_agent_container_memory_bytes", sleeper);
    REQUIRE(memory.size() == 1);
    CHECK(memory[0].value > 0);
    CHECK(memory[0].labels.count("framework_id") == 1);
    CHECK(!memory[0].labels.at("container_id").empty());
    CHECK(samplesOf(w, "clusternodes_agent_container_cpu_seconds_total", sleeper).size() == 1);
    CHECK(sumOf(w, "clusternodes_agent_container_memory_limit_bytes", sleeper) == 64 * kMiB);
    CHECK(sumOf(w, "clusternodes_agent_container_cpus_limit", sleeper) == doctest::Approx(0.5));
    // Only the running task has a container.
    CHECK(samplesOf(w, "clusternodes_agent_container_memory_bytes").size() == 1);
  }

  driver->stop();
  driver->join();
}
