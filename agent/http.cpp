// The agent's HTTP endpoints: /health, /state, /containers, /metrics
// (metrics.cpp) and the sandboxes' files (sandbox_files.hpp).
#include <algorithm>

#include <nlohmann/json.hpp>

#include "agent/agent.hpp"
#include "agent/agent_runs.hpp"
#include "agent/sandbox_files.hpp"
#include "common/json.hpp"

namespace clusternodes::agent {

uint64_t Agent::droppedMessages() const {
  uint64_t frames = executors_ ? executors_->malformedFrames() : 0;
  if (master_) frames += master_->malformedFrames();
  return metrics_.messagesDropped + frames;
}

void Agent::installEndpoints() {
  http_->route("GET", "/health", [this](const HttpRequest&) {
    // Unhealthy while the checkpoint cannot be written: updates are then
    // neither acknowledged nor forwarded.
    if (checkpointFailure_) return HttpResponse::text(503, "checkpoint writes fail: " + *checkpointFailure_ + "\n");
    return HttpResponse::text(200, "ok\n");
  });
  installFileEndpoints(*http_, flags_.workDir + "/sandboxes");
  http_->route("GET", "/state", [this](const HttpRequest&) { return HttpResponse::json(200, jsonText(stateJson())); });
  // Every live container: its limits and what it uses now.
  http_->route("GET", "/containers",
               [this](const HttpRequest&) { return HttpResponse::json(200, jsonText(containersJson())); });
  http_->route("GET", "/metrics", [this](const HttpRequest&) {
    auto response = HttpResponse::text(200, metricsText());
    response.contentType = "text/plain; version=0.0.4; charset=utf-8";
    return response;
  });
}

nlohmann::json Agent::stateJson() {
  nlohmann::json j;
  j["id"] = agentId_.value;
  j["hostname"] = info_.hostname;
  j["registered"] = registered_;
  j["master"] = flags_.master;
  j["isolation"] = isolator_->name();
  j["resources"] = toJson(info_.resources);
  j["tasks"] = nlohmann::json::array();
  Resources used;
  for (const auto& [key, run] : runs_) {
    if (!isTerminal(run->state)) used += run->task.resources;
    j["tasks"].push_back({{"id", key.second.value},
                          {"framework_id", key.first.value},
                          {"state", toString(run->state)},
                          {"sandbox", run->sandbox},
                          {"container_id", run->containerId},
                          {"executor_pid", run->pid},
                          {"resources", toJson(run->task.resources)}});
  }
  j["executors"] = nlohmann::json::array();
  for (const auto& [key, executor] : executorsByKey_) {
    if (executor->builtIn()) continue;  // listed as their tasks
    if (!executor->exited()) used += executor->info.resources;
    nlohmann::json tasks = nlohmann::json::array();
    for (const auto& taskId : executor->tasks) tasks.push_back(taskId.value);
    j["executors"].push_back({{"id", key.second.value},
                              {"framework_id", key.first.value},
                              {"name", executor->info.name},
                              {"pid", executor->pid},
                              {"registered", executor->phase == ExecutorPhase::kRegistered},
                              {"container_id", executor->containerId},
                              {"sandbox", executor->sandbox},
                              {"tasks", tasks},
                              {"resources", toJson(executor->info.resources)}});
  }
  j["used_resources"] = toJson(used);
  size_t pending = 0;
  for (const auto& [key, stream] : streams_) pending += stream->pending.size();
  j["pending_status_updates"] = pending;
  j["sandboxes_pending_gc"] = gc_->pending();
  j["sandboxes_collected"] = gc_->collected();
  j["metrics"] = {{"messages_received", metrics_.messagesReceived},
                  {"messages_dropped", droppedMessages()},
                  {"tasks_launched", metrics_.tasksLaunched},
                  {"launches_queued", metrics_.launchesQueued},
                  {"executors_starting", starting_},
                  {"launches_waiting", std::count_if(executorsByKey_.begin(), executorsByKey_.end(),
                                                     [](const auto& entry) {
                                                       return entry.second->phase == ExecutorPhase::kQueued;
                                                     })},
                  {"status_updates_sent", metrics_.statusUpdatesSent},
                  {"status_update_retries", metrics_.statusUpdateRetries}};
  return j;
}

nlohmann::json Agent::containersJson() {
  nlohmann::json out = nlohmann::json::array();
  for (auto& [key, run] : runs_) {
    // The agent measures a native task's container; Docker measures its own
    // (docker stats), listed while the executor this agent started runs.
    Executor* executor = measured(*run);
    bool dockerListed = run->docker() && !run->recovered && run->pid > 0 && !run->exited();
    if (executor == nullptr && !dockerListed) continue;
    auto limits = containerLimits(run->task.resources.cpus(), run->task.resources.mem(), run->task.cpuLimit,
                                  flags_.isolation.enableCfs);
    nlohmann::json limitsJson = {{"cpus", limits.cpus}, {"mem_bytes", limits.memBytes}, {"cpu_quota", nullptr}};
    if (limits.cpuQuota) limitsJson["cpu_quota"] = *limits.cpuQuota;
    nlohmann::json container = {{"container_id", run->containerId},
                                {"framework_id", key.first.value},
                                {"task_id", key.second.value},
                                {"state", toString(run->state)},
                                {"executor_pid", run->pid},
                                {"sandbox", run->sandbox},
                                {"limits", limitsJson}};
    if (run->docker()) {
      container["isolation"] = "docker";
      container["docker_container"] = run->containerName();
      container["image"] = run->task.docker->image;
    } else {
      container["isolation"] = isolator_->name();
      container["cgroup"] = isolator_->location(run->containerId);
      if (executor != nullptr) container["usage"] = toJson(usageOf(*run, *executor));
    }
    out.push_back(std::move(container));
  }
  return out;
}

}  // namespace clusternodes::agent
