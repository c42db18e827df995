// The master's HTTP endpoints: /state (JSON), /health, /metrics (Prometheus
// text format), and the operator API under /api/v1 (role weights, quotas).
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <set>

#include "common/json.hpp"
#include "master/master.hpp"

namespace clusternodes::master {
namespace {

nlohmann::json attributesJson(const std::vector<Attribute>& attributes) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& a : attributes) out[a.name] = a.value;
  return out;
}

// Frameworks that have waited past --starvation-threshold for an offer while
// others hold resources, by id.
std::set<FrameworkID> starvedFrameworks(const Master& master, const std::vector<FrameworkSummary>& summaries) {
  double threshold = std::chrono::duration<double>(master.flags().starvationThreshold).count();
  double heldCpus = 0;
  double heldMem = 0;
  for (const auto& s : summaries) {
    heldCpus += s.allocated.cpus();
    heldMem += s.allocated.mem();
  }
  std::set<FrameworkID> out;
  for (const auto& s : summaries) {
    bool othersHold = heldCpus - s.allocated.cpus() > 0 || heldMem - s.allocated.mem() > 0;
    if (!s.suppressed && s.waitingSeconds >= threshold && othersHold) out.insert(s.id);
  }
  return out;
}

nlohmann::json taskJson(const FrameworkID& frameworkId, const Task& task) {
  nlohmann::json j = {
      {"id", task.info.taskId.value},
      {"name", task.info.name},
      {"framework_id", frameworkId.value},
      {"agent_id", task.info.agentId.value},
      {"state", toString(task.state)},
      {"resources", toJson(task.info.resources)},
      {"status_message", task.lastStatus.message},
      {"status_reason", toString(task.lastStatus.reason)},
      {"created_time", task.createdAt},
  };
  if (task.usage) j["usage"] = toJson(*task.usage);
  if (task.info.docker) j["docker"] = toJson(*task.info.docker);
  return j;
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
        // Where to reach its HTTP (files, state): its --ip, or its hostname
        // when it listens on every address.
        {"http_address", (agent.info.ip.empty() || agent.info.ip == "0.0.0.0" ? agent.info.hostname : agent.info.ip) +
                             ":" + std::to_string(agent.info.httpPort)},
        {"active", agent.reachable},
        {"reachable", agent.reachable},
        {"registered_time", agent.registeredAt},
        {"unreachable_time", agent.unreachableSince},
        {"resources", toJson(agent.info.resources)},
        {"used_resources", toJson(agent.used)},
        {"offered_resources", toJson(offeredByAgent[id])},
        {"attributes", attributesJson(agent.info.attributes)},
        {"task_count", agent.tasks.size()},
        {"executors", [&] {
           nlohmann::json executors = nlohmann::json::array();
           for (const auto& [key, executor] : agent.executors) {
             executors.push_back({{"id", key.second.value},
                                  {"framework_id", key.first.value},
                                  {"name", executor.name},
                                  {"resources", toJson(executor.resources)}});
           }
           return executors;
         }()},
    });
  }

  auto summaryList = master.allocator().frameworkSummaries();
  auto starved = starvedFrameworks(master, summaryList);
  std::map<FrameworkID, FrameworkSummary> summaries;
  for (auto& s : summaryList) summaries[s.id] = s;

  j["roles"] = nlohmann::json::array();
  for (const auto& r : master.allocator().roleSummaries()) {
    bool belowGuarantee = false;
    for (const auto& e : r.guarantee.entries()) belowGuarantee |= r.allocated.scalar(e.name) < e.scalar;
    j["roles"].push_back({{"role", r.role},
                          {"weight", r.weight},
                          {"dominant_share", r.share},
                          {"allocated", toJson(r.allocated)},
                          {"guarantee", r.guarantee.toString()},
                          {"limit", r.limit.toString()},
                          {"below_guarantee", belowGuarantee}});
  }

  j["frameworks"] = nlohmann::json::array();
  j["tasks"] = nlohmann::json::array();
  j["completed_tasks"] = nlohmann::json::array();
  for (const auto& [id, fw] : state.frameworks) {
    Resources used;
    size_t executors = 0;
    for (const auto& [agentId, agent] : state.agents) {
      for (auto it = agent.executors.lower_bound({id, ExecutorID{}});
           it != agent.executors.end() && it->first.first == id; ++it) {
        used += it->second.resources;
        ++executors;
      }
    }
    for (const auto& [taskId, task] : fw.tasks) {
      if (task.state != TaskState::kUnreachable && !isTerminal(task.state)) used += task.info.resources;
      j["tasks"].push_back(taskJson(id, task));
    }
    for (const auto& task : fw.completed) j["completed_tasks"].push_back(taskJson(id, task));
    auto summary = summaries.find(id);
    double share = summary == summaries.end() ? 0 : summary->second.share;
    double waiting = summary == summaries.end() ? 0 : summary->second.waitingSeconds;
    j["frameworks"].push_back({
        {"id", id.value},
        {"name", fw.info.name},
        {"user", fw.info.user},
        {"role", subscribedRoles(fw.info).front()},
        {"roles", subscribedRoles(fw.info)},
        {"principal", fw.info.principal},
        {"hostname", fw.info.hostname},
        {"webui_url", fw.info.webuiUrl},
        {"connected", fw.connected},
        {"recovered", fw.recovered},
        {"partition_aware", fw.info.partitionAware},
        {"failover_timeout", fw.info.failoverTimeoutSeconds},
        {"registered_time", fw.registeredAt},
        {"dominant_share", share},
        {"suppressed", summary != summaries.end() && summary->second.suppressed},
        {"waiting_for_offers_seconds", waiting},
        {"starved", starved.count(id) != 0},
        {"task_count", fw.tasks.size()},
        {"executor_count", executors},
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
      {"agents_gone", m.agentsGone},             {"agent_removals_deferred", m.agentRemovalsDeferred},
      {"frameworks_removed", m.frameworksRemoved},
      {"framework_messages", m.frameworkMessages},  {"executors_exited", m.executorsExited},
      {"outstanding_offers", state.offers.size()},
      {"operations_applied", m.reservationsChanged}, {"operations_dropped", m.operationsDropped},
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
  metric("clusternodes_master_agents_removed_total", "counter",
         "Agents marked unreachable (missed pings) or gone (removed for good).");
  out += fmt::format("clusternodes_master_agents_removed_total{{mark=\"unreachable\"}} {}\n", m.agentsLost);
  out += fmt::format("clusternodes_master_agents_removed_total{{mark=\"gone\"}} {}\n", m.agentsGone);
  metric("clusternodes_master_agent_removals_deferred_total", "counter",
         "Times an agent that missed its pings waited for --agent-removal-rate-limit.");
  out += fmt::format("clusternodes_master_agent_removals_deferred_total {}\n", m.agentRemovalsDeferred);
  metric("clusternodes_master_frameworks_removed_total", "counter",
         "Frameworks removed (torn down, or past their failover timeout).");
  out += fmt::format("clusternodes_master_frameworks_removed_total {}\n", m.frameworksRemoved);
  metric("clusternodes_master_framework_messages_total", "counter",
         "Framework messages relayed between schedulers and their executors.");
  out += fmt::format("clusternodes_master_framework_messages_total {}\n", m.frameworkMessages);
  metric("clusternodes_master_executors_exited_total", "counter", "Frameworks' executors that ended.");
  out += fmt::format("clusternodes_master_executors_exited_total {}\n", m.executorsExited);
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
  metric("clusternodes_master_operations_total", "counter", "RESERVE and UNRESERVE operations, by result.");
  out += fmt::format("clusternodes_master_operations_total{{result=\"applied\"}} {}\n", m.reservationsChanged);
  out += fmt::format("clusternodes_master_operations_total{{result=\"dropped\"}} {}\n", m.operationsDropped);
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
  auto summaries = master.allocator().frameworkSummaries();
  metric("clusternodes_master_frameworks_starved", "gauge",
         "Frameworks that have wanted offers for longer than --starvation-threshold while others hold resources.");
  out += fmt::format("clusternodes_master_frameworks_starved {}\n", starvedFrameworks(master, summaries).size());
  metric("clusternodes_master_role_dominant_share", "gauge", "Each role's dominant share of the cluster.");
  auto roles = master.allocator().roleSummaries();
  for (const auto& r : roles) {
    out += fmt::format("clusternodes_master_role_dominant_share{{role=\"{}\"}} {:.6f}\n", r.role, r.share);
  }
  metric("clusternodes_master_role_weight", "gauge", "Each role's weight.");
  for (const auto& r : roles) out += fmt::format("clusternodes_master_role_weight{{role=\"{}\"}} {}\n", r.role, r.weight);
  metric("clusternodes_master_framework_waiting_seconds", "gauge",
         "How long each framework that wants offers has waited for one.");
  for (const auto& s : summaries) {
    out += fmt::format("clusternodes_master_framework_waiting_seconds{{framework_id=\"{}\"}} {:.3f}\n", s.id.value,
                       s.waitingSeconds);
  }
  return out;
}

nlohmann::json weightsJson(const Master& master) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& r : master.allocator().roleSummaries()) out[r.role] = r.weight;
  return out;
}

nlohmann::json quotasJson(const Master& master) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [role, q] : master.registry().quotas()) {
    out[role] = {{"guarantee", q.guarantee.toString()}, {"limit", q.limit.toString()}};
  }
  return out;
}

// PUT /api/v1/weights {"eng": 2, "ops": 1}
HttpResponse putWeights(Master& master, const HttpRequest& request) {
  auto body = nlohmann::json::parse(request.body, nullptr, false);
  if (!body.is_object()) return HttpResponse::jsonError(400, "the body must be a JSON object of role: weight");
  std::map<std::string, double> weights;
  for (const auto& [role, weight] : body.items()) {
    if (!weight.is_number()) return HttpResponse::jsonError(400, "the weight of role '" + role + "' must be a number");
    weights[role] = weight.get<double>();
  }
  if (auto done = master.setWeights(weights); !done) return HttpResponse::jsonError(400, done.error().message);
  return HttpResponse::json(200, nlohmann::json{{"weights", weightsJson(master)}}.dump());
}

// PUT /api/v1/quota {"role": "eng", "guarantee": "cpus:4;mem:4096", "limit": "cpus:8"}
HttpResponse putQuota(Master& master, const HttpRequest& request) {
  auto body = nlohmann::json::parse(request.body, nullptr, false);
  if (!body.is_object() || !body.contains("role") || !body["role"].is_string()) {
    return HttpResponse::jsonError(400, "the body must be a JSON object with a \"role\" and a \"guarantee\" and/or \"limit\"");
  }
  Quota quota;
  for (const char* part : {"guarantee", "limit"}) {
    if (!body.contains(part)) continue;
    if (!body[part].is_string()) return HttpResponse::jsonError(400, std::string(part) + " must be a resources string, e.g. \"cpus:4;mem:4096\"");
    auto parsed = Resources::parse(body[part].get<std::string>());
    if (!parsed) return HttpResponse::jsonError(400, std::string(part) + ": " + parsed.error().message);
    (std::string(part) == "guarantee" ? quota.guarantee : quota.limit) = *parsed;
  }
  if (quota.guarantee.empty() && quota.limit.empty()) {
    return HttpResponse::jsonError(400, "give a guarantee or a limit (DELETE /api/v1/quota?role=R removes a quota)");
  }
  if (auto done = master.setQuota(body["role"].get<std::string>(), quota); !done) {
    return HttpResponse::jsonError(400, done.error().message);
  }
  return HttpResponse::json(200, nlohmann::json{{"quotas", quotasJson(master)}}.dump());
}

}  // namespace

void installMasterEndpoints(HttpServer& http, Master& master) {
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
  http.route("GET", "/api/v1/weights", [&master](const HttpRequest&) {
    return HttpResponse::json(200, nlohmann::json{{"weights", weightsJson(master)}}.dump());
  });
  http.route("PUT", "/api/v1/weights", [&master](const HttpRequest& r) { return putWeights(master, r); });
  http.route("GET", "/api/v1/quota", [&master](const HttpRequest&) {
    return HttpResponse::json(200, nlohmann::json{{"quotas", quotasJson(master)}}.dump());
  });
  http.route("PUT", "/api/v1/quota", [&master](const HttpRequest& r) { return putQuota(master, r); });
  http.route("DELETE", "/api/v1/quota", [&master](const HttpRequest& r) {
    std::string role = r.param("role");
    if (role.empty()) return HttpResponse::jsonError(400, "name the role: DELETE /api/v1/quota?role=R");
    if (master.registry().quotas().count(role) == 0) return HttpResponse::jsonError(404, "role '" + role + "' has no quota");
    if (auto done = master.setQuota(role, Quota{}); !done) return HttpResponse::jsonError(400, done.error().message);
    return HttpResponse::json(200, nlohmann::json{{"quotas", quotasJson(master)}}.dump());
  });
  http.route("GET", "/metrics", [&master](const HttpRequest&) {
    auto response = HttpResponse::text(200, metricsText(master));
    response.contentType = "text/plain; version=0.0.4; charset=utf-8";
    return response;
  });
}

}  // namespace clusternodes::master
