// The master's HTTP endpoints: /state (JSON), /health, /metrics (Prometheus
// text format), the operator API under /api/v1 (role weights, quotas, the
// last events) and the web UI's files (master/http/webui.cpp).
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <set>

#include "common/http_client.hpp"
#include "common/json.hpp"
#include "common/sandbox_token.hpp"
#include "master/http/endpoints.hpp"
#include "master/http/metrics.hpp"
#include "master/http/operator_api.hpp"
#include "master/http/scheduler_api.hpp"
#include "master/http/webui.hpp"
#include "master/master.hpp"

namespace clusternodes::master {
namespace {

nlohmann::json attributesJson(const std::vector<Attribute>& attributes) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& a : attributes) out[a.name] = a.value;
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

nlohmann::json agentJson(const AgentID& id, const AgentEntry& agent, const Resources& offered) {
  return {
      {"id", id.value},
      {"hostname", agent.info.hostname},
      {"http_port", agent.info.httpPort},
      // Where to reach its HTTP (files, state): its --ip, or its hostname
      // when it listens on every address; http_url with the scheme too.
      {"http_address", (agent.info.ip.empty() || agent.info.ip == "0.0.0.0" ? agent.info.hostname : agent.info.ip) +
                           ":" + std::to_string(agent.info.httpPort)},
      {"http_url", agent.info.httpUrl()},
      // Active once admitted for good: an agent whose admission is not on
      // disk yet has not been answered, and is offered nothing.
      {"active", agent.reachable && !agent.awaitingRegistered},
      {"admission_pending", agent.awaitingRegistered},
      {"reachable", agent.reachable},
      {"registered_time", agent.registeredAt},
      {"unreachable_time", agent.unreachableSince},
      {"resources", toJson(agent.info.resources)},
      {"used_resources", toJson(agent.used)},
      {"offered_resources", toJson(offered)},
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
  };
}

nlohmann::json rolesJson(const Master& master) {
  nlohmann::json roles = nlohmann::json::array();
  for (const auto& r : master.allocator().roleSummaries()) {
    bool belowGuarantee = false;
    for (const auto& e : r.guarantee.entries()) belowGuarantee |= r.allocated.scalar(e.name) < e.scalar;
    roles.push_back({{"role", r.role},
                    {"weight", r.weight},
                    {"dominant_share", r.share},
                    {"allocated", toJson(r.allocated)},
                    {"guarantee", r.guarantee.toString()},
                    {"limit", r.limit.toString()},
                    {"below_guarantee", belowGuarantee}});
  }
  return roles;
}

// Who leads, as the election sees it: this master, another, or none known.
nlohmann::json leaderJson(const Master& master) {
  if (master.leading()) {
    return {{"id", master.state().masterId},
            {"endpoint", master.endpoint()},
            {"http_port", master.httpPort()},
            {"http_scheme", master.servesTls() ? "https" : "http"}};
  }
  if (!master.leader()) return nullptr;
  const auto& leader = *master.leader();
  return {{"id", leader.id},          {"hostname", leader.hostname}, {"ip", leader.ip},
          {"port", leader.port},      {"http_port", leader.httpPort}, {"endpoint", leader.endpoint()},
          {"url", leader.httpUrl()}};
}

// What a standby master serves for /state: itself and who leads.
nlohmann::json standbyStateJson(const Master& master) {
  return {{"id", master.state().masterId},
          {"endpoint", master.endpoint()},
          {"start_time", master.state().startedAt},
          {"leading", false},
          {"zk", master.flags().zk},
          {"leader_info", leaderJson(master)}};
}

// `path` with each segment percent-encoded, its '/' kept.
std::string encodePath(const std::string& path) {
  std::string out;
  size_t start = 0;
  for (size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', start)) {
    out += urlEncode(path.substr(start, slash - start)) + "/";
    start = slash + 1;
  }
  return out + urlEncode(path.substr(start));
}

// `handler` on the leader; a standby redirects the call to the leader.
HttpHandler leaderOnly(Master& master, HttpHandler handler) {
  return [&master, handler = std::move(handler)](const HttpRequest& r) {
    if (!master.leading()) return redirectToLeader(master, r);
    return handler(r);
  };
}

nlohmann::json stateJson(const Master& master) {
  const auto& state = master.state();
  nlohmann::json j;
  j["id"] = state.masterId;
  j["endpoint"] = master.endpoint();
  j["start_time"] = state.startedAt;
  j["leading"] = true;
  if (!master.flags().zk.empty()) j["zk"] = master.flags().zk;
  j["leader_info"] = leaderJson(master);

  std::map<AgentID, Resources> offeredByAgent;
  std::map<FrameworkID, Resources> offeredByFramework;
  for (const auto& [id, offer] : state.offers) {
    offeredByAgent[offer.agentId] += offer.resources;
    offeredByFramework[offer.frameworkId] += offer.resources;
  }

  j["agents"] = nlohmann::json::array();
  for (const auto& [id, agent] : state.agents) j["agents"].push_back(agentJson(id, agent, offeredByAgent[id]));

  auto summaryList = master.allocator().frameworkSummaries();
  auto starved = starvedFrameworks(master, summaryList);
  std::map<FrameworkID, FrameworkSummary> summaries;
  for (auto& s : summaryList) summaries[s.id] = s;

  j["roles"] = rolesJson(master);

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

// Who asks through HTTP: the principal of the request's token ("" without
// one), as the server's gate found it.
const std::string& requestPrincipal(const HttpRequest& request) { return request.principal; }

// An operator call's failure, in JSON.
HttpResponse operatorError(const Error& error) {
  return HttpResponse::jsonError(operatorRefusalStatus(error), error.message);
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
  if (auto done = master.setWeights(requestPrincipal(request), weights); !done) return operatorError(done.error());
  return HttpResponse::json(200, jsonText(nlohmann::json{{"weights", weightsJson(master)}}));
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
  if (auto done = master.setQuota(requestPrincipal(request), body["role"].get<std::string>(), quota); !done) {
    return operatorError(done.error());
  }
  return HttpResponse::json(200, jsonText(nlohmann::json{{"quotas", quotasJson(master)}}));
}

nlohmann::json eventJson(const Event& e) {
  nlohmann::json j = {{"sequence", e.sequence}, {"time", e.time}, {"type", toString(e.type)}};
  auto add = [&j](const char* name, const std::string& value) {
    if (!value.empty()) j[name] = value;
  };
  add("agent_id", e.agentId);
  add("framework_id", e.frameworkId);
  add("task_id", e.taskId);
  add("state", e.state);
  add("reason", e.reason);
  add("message", e.message);
  return j;
}

// GET /api/v1/events[?since=SEQ]: the kept events newer than SEQ, oldest
// first, with the master's id (a new id means a restarted master, whose
// sequence started again) and its clock (to show ages in the master's time).
HttpResponse getEvents(const Master& master, const HttpRequest& request) {
  uint64_t since = 0;
  if (auto text = request.param("since"); !text.empty()) {
    bool digits = text.size() <= 19 && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits) {
      return HttpResponse::jsonError(400, "since must be an event sequence number (0 or more), not '" + text + "'");
    }
    since = std::stoull(text);
  }
  const auto& log = master.events();
  nlohmann::json events = nlohmann::json::array();
  for (const auto& e : log.since(since)) events.push_back(eventJson(e));
  nlohmann::json body = {{"master_id", master.state().masterId},
                         {"time", master.clock().wallSeconds()},
                         {"last_sequence", log.lastSequence()},
                         {"capacity", log.capacity()},
                         {"events", std::move(events)}};
  return HttpResponse::json(200, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

// GET /api/v1/sandbox-token?framework_id=F&task_id=T: a token that lets its
// bearer read the task's sandbox on its agent for kSandboxTokenLifetime
// (common/sandbox_token.hpp), and where: what the web UI reads task output
// with when the agents want a credential for every request.
HttpResponse getSandboxToken(const Master& master, const HttpRequest& request) {
  std::string frameworkId = request.param("framework_id");
  std::string taskId = request.param("task_id");
  if (frameworkId.empty() || taskId.empty()) {
    return HttpResponse::jsonError(400, "name the task: ?framework_id=F&task_id=T");
  }
  const auto& state = master.state();
  auto framework = state.frameworks.find(FrameworkID{frameworkId});
  if (framework == state.frameworks.end()) {
    return HttpResponse::jsonError(404, "the master knows no framework '" + frameworkId + "'");
  }
  const Task* task = nullptr;
  if (auto active = framework->second.tasks.find(TaskID{taskId}); active != framework->second.tasks.end()) {
    task = &active->second;
  } else {
    const auto& ended = framework->second.completed;
    auto newest = std::find_if(ended.rbegin(), ended.rend(), [&](const Task& t) { return t.info.taskId.value == taskId; });
    if (newest != ended.rend()) task = &*newest;
  }
  if (task == nullptr) return HttpResponse::jsonError(404, "the master knows no task '" + taskId + "' of " + frameworkId);
  auto agent = state.agents.find(task->info.agentId);
  if (agent == state.agents.end()) {
    return HttpResponse::jsonError(404, "task '" + taskId + "' ran on agent " + task->info.agentId.value +
                                            ", which the master no longer knows");
  }
  // A task of the framework's own executor writes in its executor's sandbox.
  std::string path = task->info.executor ? frameworkId + "/executors/" + task->info.executor->executorId.value
                                         : frameworkId + "/" + taskId;
  auto lifetime = std::chrono::duration_cast<std::chrono::milliseconds>(kSandboxTokenLifetime).count();
  SandboxGrant grant{agent->first.value, path,
                     static_cast<int64_t>(master.clock().wallSeconds() * 1000.0) + lifetime};
  nlohmann::json body = {{"token", signSandboxToken(state.sandboxKey, grant)},
                         {"agent_id", grant.agentId},
                         {"agent_url", agent->second.info.httpUrl()},
                         {"path", grant.path},
                         {"expires", static_cast<double>(grant.expiresMs) / 1000.0}};
  return HttpResponse::json(200, jsonText(body));
}

}  // namespace

HttpResponse redirectToLeader(const Master& master, const HttpRequest& r) {
  if (!master.leader()) {
    return HttpResponse::jsonError(503, "this master stands by and no master leads now; try again shortly");
  }
  std::string location = master.leader()->httpUrl() + encodePath(r.path);
  char separator = '?';
  for (const auto& [name, value] : r.query) {
    location += separator + urlEncode(name) + "=" + urlEncode(value);
    separator = '&';
  }
  auto response = HttpResponse::jsonError(307, "this master stands by; the leader is at " + master.leader()->httpUrl());
  response.headers["Location"] = location;
  return response;
}

void installMasterEndpoints(HttpServer& http, Master& master) {
  installWebUi(http);
  http.route("GET", "/api/v1/events", leaderOnly(master, [&master](const HttpRequest& r) { return getEvents(master, r); }));
  // 503 while the registry cannot be written: the master then answers no
  // registration or subscription, and a supervisor should know. A standby
  // is healthy, and says who leads.
  http.route("GET", "/health", [&master](const HttpRequest&) {
    if (!master.leading()) {
      return HttpResponse::text(200, "standing by; the leader is " +
                                         (master.leader() ? master.leader()->httpUrl() : std::string("not known")) +
                                         "\n");
    }
    if (master.registryFailing()) return HttpResponse::text(503, "the registry cannot be written\n");
    return HttpResponse::text(200, "ok\n");
  });
  http.route("GET", "/state", [&master](const HttpRequest&) {
    if (!master.leading()) return HttpResponse::json(200, jsonText(standbyStateJson(master)));
    return HttpResponse::json(200, jsonText(stateJson(master)));
  });
  http.route("GET", "/api/v1/sandbox-token",
             leaderOnly(master, [&master](const HttpRequest& r) { return getSandboxToken(master, r); }));
  http.route("GET", "/api/v1/weights", leaderOnly(master, [&master](const HttpRequest&) {
    return HttpResponse::json(200, jsonText(nlohmann::json{{"weights", weightsJson(master)}}));
  }));
  http.route("PUT", "/api/v1/weights", leaderOnly(master, [&master](const HttpRequest& r) { return putWeights(master, r); }));
  http.route("GET", "/api/v1/quota", leaderOnly(master, [&master](const HttpRequest&) {
    return HttpResponse::json(200, jsonText(nlohmann::json{{"quotas", quotasJson(master)}}));
  }));
  http.route("PUT", "/api/v1/quota", leaderOnly(master, [&master](const HttpRequest& r) { return putQuota(master, r); }));
  http.route("DELETE", "/api/v1/quota", leaderOnly(master, [&master](const HttpRequest& r) {
    std::string role = r.param("role");
    if (role.empty()) return HttpResponse::jsonError(400, "name the role: DELETE /api/v1/quota?role=R");
    if (master.registry().quotas().count(role) == 0) return HttpResponse::jsonError(404, "role '" + role + "' has no quota");
    if (auto done = master.setQuota(requestPrincipal(r), role, Quota{}); !done) return operatorError(done.error());
    return HttpResponse::json(200, jsonText(nlohmann::json{{"quotas", quotasJson(master)}}));
  }));
  // The Mesos v1 operator API (master/http/operator_api.hpp).
  http.route("POST", "/api/v1", [&master](const HttpRequest& r) { return handleOperatorCall(master, r); });
  http.route("GET", "/metrics", [&master](const HttpRequest&) {
    auto response = HttpResponse::text(200, metricsText(master));
    response.contentType = "text/plain; version=0.0.4; charset=utf-8";
    return response;
  });
}

}  // namespace clusternodes::master
