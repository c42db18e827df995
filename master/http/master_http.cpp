// The master's HTTP endpoints: /state (JSON), /health and /metrics
// (Prometheus text format).
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "common/json.hpp"
#include "master/master.hpp"

namespace clusternodes::master {
namespace {

nlohmann::json attributesJson(const std::vector<Attribute>& attributes) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& a : attributes) out[a.name] = a.value;
  return out;
}

nlohmann::json stateJson(const Master& master) {
  const auto& state = master.state();
  nlohmann::json j;
  j["id"] = state.masterId;
  j["endpoint"] = master.endpoint();
  j["start_time"] = state.startedAt;

  std::map<AgentID, Resources> offeredByAgent;
  std::map<FrameworkID, Resources> offeredByFramework;
  for (const auto& [id, offer] : state.offers) {
    offeredByAgent[offer.agentId] += offer.resources;
    offeredByFramework[offer.frameworkId] += offer.resources;
  }

  j["agents"] = nlohmann::json::array();
  for (const auto& [id, agent] : state.agents) {
    j["agents"].push_back({
        {"id", id.value},
        {"hostname", agent.info.hostname},
        {"http_port", agent.info.httpPort},
        {"active", agent.reachable},
        {"reachable", agent.reachable},
        {"registered_time", agent.registeredAt},
        {"unreachable_time", agent.unreachableSince},
        {"resources", toJson(agent.info.resources)},
        {"used_resources", toJson(agent.used)},
        {"offered_resources", toJson(offeredByAgent[id])},
        {"attributes", attributesJson(agent.info.attributes)},
        {"task_count", agent.tasks.size()},
    });
  }

  std::map<FrameworkID, FrameworkSummary> summaries;
  for (auto& s : master.allocator().frameworkSummaries()) summaries[s.id] = s;

  j["frameworks"] = nlohmann::json::array();
  j["tasks"] = nlohmann::json::array();
  for (const auto& [id, fw] : state.frameworks) {
    Resources used;
    for (const auto& [taskId, task] : fw.tasks) {
      if (task.state != TaskState::kUnreachable && !isTerminal(task.state)) used += task.info.resources;
      j["tasks"].push_back({
          {"id", taskId.value},
          {"name", task.info.name},
          {"framework_id", id.value},
          {"agent_id", task.info.agentId.value},
          {"state", toString(task.state)},
          {"resources", toJson(task.info.resources)},
          {"status_message", task.lastStatus.message},
          {"status_reason", toString(task.lastStatus.reason)},
          {"created_time", task.createdAt},
      });
    }
    auto summary = summaries.find(id);
    double share = summary == summaries.end() ? 0 : summary->second.share;
    double waiting = summary == summaries.end() ? 0 : summary->second.waitingSeconds;
    j["frameworks"].push_back({
        {"id", id.value},
        {"name", fw.info.name},
        {"user", fw.info.user},
        {"role", fw.info.role},
        {"principal", fw.info.principal},
        {"hostname", fw.info.hostname},
        {"connected", fw.connected},
        {"recovered", fw.recovered},
        {"partition_aware", fw.info.partitionAware},
        {"failover_timeout", fw.info.failoverTimeoutSeconds},
        {"registered_time", fw.registeredAt},
        {"dominant_share", share},
        {"suppressed", summary != summaries.end() && summary->second.suppressed},
        {"waiting_for_offers_seconds", waiting},
        {"task_count", fw.tasks.size()},
        {"completed_task_count", fw.completedTasks},
        {"used_resources", toJson(used)},
        {"offered_resources", toJson(offeredByFramework[id])},
    });
  }

  const auto& m = state.metrics;
  j["metrics"] = {
      {"messages_received", m.messagesReceived}, {"messages_dropped", master.droppedMessages()},
      {"offers_sent", m.offersSent},             {"offers_declined", m.offersDeclined},
      {"offers_rescinded", m.offersRescinded},   {"tasks_launched", m.tasksLaunched},
      {"tasks_invalid", m.tasksInvalid},         {"agents_lost", m.agentsLost},
      {"outstanding_offers", state.offers.size()},
  };
  return j;
}

std::string metricsText(const Master& master) {
  const auto& state = master.state();
  const auto& m = state.metrics;
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  size_t reachable = 0;
  for (const auto& [id, agent] : state.agents) reachable += agent.reachable ? 1 : 0;
  metric("clusternodes_master_agents", "gauge", "Agents known to the master, by state.");
  out += fmt::format("clusternodes_master_agents{{state=\"registered\"}} {}\n", reachable);
  out += fmt::format("clusternodes_master_agents{{state=\"unreachable\"}} {}\n", state.agents.size() - reachable);
  metric("clusternodes_master_frameworks", "gauge", "Frameworks known to the master.");
  out += fmt::format("clusternodes_master_frameworks {}\n", state.frameworks.size());
  metric("clusternodes_master_messages_received_total", "counter", "Messages received on the master's socket.");
  out += fmt::format("clusternodes_master_messages_received_total {}\n", m.messagesReceived);
  metric("clusternodes_master_messages_dropped_total", "counter",
         "Malformed, truncated or unknown messages dropped.");
  out += fmt::format("clusternodes_master_messages_dropped_total {}\n", master.droppedMessages());
  metric("clusternodes_master_offers_total", "counter", "Offers, by what happened to them.");
  out += fmt::format("clusternodes_master_offers_total{{event=\"sent\"}} {}\n", m.offersSent);
  out += fmt::format("clusternodes_master_offers_total{{event=\"declined\"}} {}\n", m.offersDeclined);
  out += fmt::format("clusternodes_master_offers_total{{event=\"rescinded\"}} {}\n", m.offersRescinded);
  metric("clusternodes_master_tasks_launched_total", "counter", "Tasks sent to agents.");
  out += fmt::format("clusternodes_master_tasks_launched_total {}\n", m.tasksLaunched);
  metric("clusternodes_master_tasks_terminal_total", "counter", "Tasks that reached a terminal state, by state.");
  out += fmt::format("clusternodes_master_tasks_terminal_total{{state=\"TASK_ERROR\"}} {}\n", m.tasksInvalid);
  for (const auto& [name, count] : m.tasksTerminal) {
    out += fmt::format("clusternodes_master_tasks_terminal_total{{state=\"{}\"}} {}\n", name, count);
  }
  metric("clusternodes_master_allocation_runs_total", "counter", "Allocation rounds run.");
  out += fmt::format("clusternodes_master_allocation_runs_total {}\n", m.allocationRuns);
  metric("clusternodes_master_allocation_seconds_total", "counter", "Time spent in allocation rounds.");
  out += fmt::format("clusternodes_master_allocation_seconds_total {:.6f}\n", m.allocationSecondsTotal);
  metric("clusternodes_master_framework_waiting_seconds", "gauge",
         "How long each framework that wants offers has waited for one.");
  for (const auto& s : master.allocator().frameworkSummaries()) {
    out += fmt::format("clusternodes_master_framework_waiting_seconds{{framework_id=\"{}\"}} {:.3f}\n", s.id.value,
                       s.waitingSeconds);
  }
  return out;
}

}  // namespace

void installMasterEndpoints(HttpServer& http, const Master& master) {
  http.route("GET", "/", [&master](const HttpRequest&) {
    const auto& state = master.state();
    size_t reachable = 0;
    for (const auto& [id, agent] : state.agents) reachable += agent.reachable ? 1 : 0;
    auto response = HttpResponse::text(
        200, fmt::format("<!doctype html><title>Clusternodes master</title>"
                         "<h1>Clusternodes master {}</h1>"
                         "<p>{} agent(s) registered, {} framework(s), {} outstanding offer(s).</p>"
                         "<ul><li><a href=\"/state\">/state</a> (JSON)</li>"
                         "<li><a href=\"/metrics\">/metrics</a> (Prometheus)</li>"
                         "<li><a href=\"/health\">/health</a></li></ul>",
                         state.masterId, reachable, state.frameworks.size(), state.offers.size()));
    response.contentType = "text/html; charset=utf-8";
    return response;
  });
  http.route("GET", "/health", [](const HttpRequest&) { return HttpResponse::text(200, "ok\n"); });
  http.route("GET", "/state", [&master](const HttpRequest&) {
    return HttpResponse::json(200, stateJson(master).dump());
  });
  http.route("GET", "/metrics", [&master](const HttpRequest&) {
    auto response = HttpResponse::text(200, metricsText(master));
    response.contentType = "text/plain; version=0.0.4; charset=utf-8";
    return response;
  });
}

}  // namespace clusternodes::master
