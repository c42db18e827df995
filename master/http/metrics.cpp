#include "master/http/metrics.hpp"

#include <chrono>

#include "common/prometheus.hpp"
#include "master/master.hpp"

namespace clusternodes::master {
namespace {

using prometheus::Writer;

// Every task state, in the enum's order.
std::vector<TaskState> allTaskStates() {
  std::vector<TaskState> out;
  for (int s = static_cast<int>(TaskState::kStaging); s <= static_cast<int>(TaskState::kUnknown); ++s) {
    out.push_back(static_cast<TaskState>(s));
  }
  return out;
}

void agentMetrics(Writer& out, const Master& master) {
  const auto& state = master.state();
  const auto& m = state.metrics;
  size_t reachable = 0;
  for (const auto& [id, agent] : state.agents) reachable += agent.reachable ? 1 : 0;
  const char* agents = "Agents known to the master, by state.";
  out.gauge("clusternodes_master_agents", agents, static_cast<double>(reachable), {{"state", "registered"}});
  out.gauge("clusternodes_master_agents", agents, static_cast<double>(state.agents.size() - reachable),
            {{"state", "unreachable"}});
  const char* registrations = "Agent registrations accepted: new agents, and known agents re-registering.";
  out.counter("clusternodes_master_agent_registrations_total", registrations, static_cast<double>(m.agentsRegistered),
              {{"type", "new"}});
  out.counter("clusternodes_master_agent_registrations_total", registrations,
              static_cast<double>(m.agentsReregistered), {{"type", "reregistration"}});
  out.counter("clusternodes_master_agent_registrations_repeated_total",
              "Registrations an agent re-sent while its first was being answered, or after it was.",
              static_cast<double>(m.agentRegistrationsRepeated));
  const char* removed = "Agents marked unreachable (missed pings) or gone (removed for good).";
  out.counter("clusternodes_master_agents_removed_total", removed, static_cast<double>(m.agentsLost),
              {{"mark", "unreachable"}});
  out.counter("clusternodes_master_agents_removed_total", removed, static_cast<double>(m.agentsGone),
              {{"mark", "gone"}});
  out.counter("clusternodes_master_agent_removals_deferred_total",
              "Times an agent that missed its pings waited for --agent-removal-rate-limit.",
              static_cast<double>(m.agentRemovalsDeferred));
}

void frameworkMetrics(Writer& out, const Master& master) {
  const auto& state = master.state();
  const auto& m = state.metrics;
  size_t connected = 0;
  for (const auto& [id, fw] : state.frameworks) connected += fw.connected ? 1 : 0;
  const char* frameworks = "Frameworks known to the master, by whether their scheduler is connected.";
  out.gauge("clusternodes_master_frameworks", frameworks, static_cast<double>(connected), {{"state", "connected"}});
  out.gauge("clusternodes_master_frameworks", frameworks, static_cast<double>(state.frameworks.size() - connected),
            {{"state", "disconnected"}});
  out.counter("clusternodes_master_frameworks_registered_total", "Subscriptions of frameworks new to the master.",
              static_cast<double>(m.frameworksRegistered));
  out.counter("clusternodes_master_frameworks_removed_total",
              "Frameworks removed (torn down, or past their failover timeout).",
              static_cast<double>(m.frameworksRemoved));

  auto summaries = master.allocator().frameworkSummaries();
  out.gauge("clusternodes_master_frameworks_starved",
            "Frameworks that have wanted offers for longer than --starvation-threshold while others hold resources.",
            static_cast<double>(starvedFrameworks(master, summaries).size()));
  for (const auto& s : summaries) {
    out.gauge("clusternodes_master_framework_waiting_seconds",
              "How long each framework that wants offers has waited for one.", s.waitingSeconds,
              {{"framework_id", s.id.value}});
  }

  size_t executors = 0;
  for (const auto& [id, agent] : state.agents) executors += agent.executors.size();
  out.gauge("clusternodes_master_executors", "Frameworks' own executors running on the reachable agents.",
            static_cast<double>(executors));
  out.counter("clusternodes_master_executors_exited_total", "Frameworks' executors that ended.",
              static_cast<double>(m.executorsExited));
  out.counter("clusternodes_master_framework_messages_total",
              "Framework messages relayed between schedulers and their executors.",
              static_cast<double>(m.frameworkMessages));
}

void aclMetrics(Writer& out, const Master& master) {
  const auto& denials = master.state().metrics.aclDenials;
  for (auto action : {AclAction::kRegisterFramework, AclAction::kRunTask, AclAction::kTeardown, AclAction::kReserve,
                      AclAction::kUpdateWeights, AclAction::kUpdateQuota}) {
    auto count = denials.find(aclActionName(action));
    out.counter("clusternodes_master_acl_denials_total", "Requests the ACLs (--acls) denied, by action.",
                count == denials.end() ? 0 : static_cast<double>(count->second), {{"action", aclActionName(action)}});
  }
}

void offerMetrics(Writer& out, const Master& master) {
  const auto& state = master.state();
  const auto& m = state.metrics;
  const char* offers =
      "Offers, by what happened to them: every offer sent is accepted, declined, rescinded or still outstanding.";
  out.counter("clusternodes_master_offers_total", offers, static_cast<double>(m.offersSent), {{"event", "sent"}});
  out.counter("clusternodes_master_offers_total", offers, static_cast<double>(m.offersAccepted),
              {{"event", "accepted"}});
  out.counter("clusternodes_master_offers_total", offers, static_cast<double>(m.offersDeclined),
              {{"event", "declined"}});
  out.counter("clusternodes_master_offers_total", offers, static_cast<double>(m.offersRescinded),
              {{"event", "rescinded"}});
  out.gauge("clusternodes_master_offers_outstanding", "Offers sent and not yet answered or rescinded.",
            static_cast<double>(state.offers.size()));
  const char* operations = "RESERVE and UNRESERVE operations, by result.";
  out.counter("clusternodes_master_operations_total", operations, static_cast<double>(m.reservationsChanged),
              {{"result", "applied"}});
  out.counter("clusternodes_master_operations_total", operations, static_cast<double>(m.operationsDropped),
              {{"result", "dropped"}});
}

void taskMetrics(Writer& out, const Master& master) {
  const auto& state = master.state();
  const auto& m = state.metrics;
  std::map<TaskState, size_t> byState;
  for (const auto& [id, fw] : state.frameworks) {
    for (const auto& [taskId, task] : fw.tasks) ++byState[task.state];
  }
  for (auto s : allTaskStates()) {
    out.gauge("clusternodes_master_tasks",
              "Tasks the master holds, by state; an ended task stays until its framework acknowledges the end.",
              static_cast<double>(byState[s]), {{"state", toString(s)}});
  }
  out.counter("clusternodes_master_tasks_launched_total", "Tasks sent to agents.",
              static_cast<double>(m.tasksLaunched));
  for (auto s : allTaskStates()) {
    if (!isTerminal(s)) continue;
    auto count = m.tasksTerminal.find(toString(s));
    out.counter("clusternodes_master_tasks_terminal_total", "Tasks that reached a terminal state, by state.",
                count == m.tasksTerminal.end() ? 0 : static_cast<double>(count->second), {{"state", toString(s)}});
  }
  const char* updates =
      "Status updates received from agents: new ones, repeats of the task's last update (sent again for want of an "
      "acknowledgement), and updates of tasks the master no longer holds.";
  uint64_t fresh = m.statusUpdates - m.statusUpdatesDuplicate - m.statusUpdatesUnknownTask;
  out.counter("clusternodes_master_status_updates_total", updates, static_cast<double>(fresh), {{"kind", "new"}});
  out.counter("clusternodes_master_status_updates_total", updates, static_cast<double>(m.statusUpdatesDuplicate),
              {{"kind", "retry"}});
  out.counter("clusternodes_master_status_updates_total", updates, static_cast<double>(m.statusUpdatesUnknownTask),
              {{"kind", "unknown_task"}});
}

void messageMetrics(Writer& out, const Master& master) {
  const auto& m = master.state().metrics;
  out.counter("clusternodes_master_messages_received_total",
              "Messages received from agents and frameworks: on the master's socket, and the HTTP scheduler API's "
              "calls.",
              static_cast<double>(m.messagesReceived));
  out.counter("clusternodes_master_messages_dropped_total", "Malformed, truncated or unknown messages dropped.",
              static_cast<double>(master.droppedMessages()));
  out.counter("clusternodes_master_messages_redirected_total",
              "Messages a standby master answered by naming the leader.", static_cast<double>(m.redirectedMessages));
  out.counter("clusternodes_master_http_unauthorized_total",
              "HTTP requests answered 401: no token where --http-authenticate needs one, or a token "
              "--http-credentials does not hold.",
              static_cast<double>(master.httpUnauthorized()));
  out.counter("clusternodes_master_http_tls_failures_total",
              "HTTPS connections (--tls-cert) that failed before a request: a refused or broken handshake, or plain "
              "HTTP sent to the TLS port.",
              static_cast<double>(master.httpTlsFailures()));
  const auto* api = master.schedulerApi();
  out.gauge("clusternodes_master_scheduler_api_streams",
            "Open subscriptions of the Mesos v1 scheduler HTTP API (POST /api/v1/scheduler).",
            api != nullptr ? static_cast<double>(api->streams()) : 0.0);
  out.counter("clusternodes_master_scheduler_api_events_total",
              "Events written to the Mesos v1 scheduler API's subscriptions (heartbeats included).",
              api != nullptr ? static_cast<double>(api->eventsSent()) : 0.0);
  out.counter("clusternodes_master_scheduler_api_refused_calls_total",
              "Calls to the Mesos v1 scheduler API answered 4xx or 5xx: malformed, invalid, of another stream, or not "
              "supported.",
              api != nullptr ? static_cast<double>(api->refusedCalls()) : 0.0);
  const auto* operatorStreams = master.operatorStreams();
  out.gauge("clusternodes_master_operator_api_streams",
            "Open event streams of the Mesos v1 operator API (SUBSCRIBE on POST /api/v1).",
            operatorStreams != nullptr ? static_cast<double>(operatorStreams->streams()) : 0.0);
  out.counter("clusternodes_master_operator_api_events_total",
              "Events written to the Mesos v1 operator API's event streams (SUBSCRIBED and heartbeats included).",
              operatorStreams != nullptr ? static_cast<double>(operatorStreams->eventsSent()) : 0.0);
  out.gauge("clusternodes_master_leading", "1 when this master leads, 0 while it stands by (--zk).",
            master.leading() ? 1.0 : 0.0);
  if (const auto* authenticator = master.authenticator()) {
    const char* help =
        "Peers refused (--key): unknown_key (not in --credentials), not_curve (no CURVE), bad_handshake (not the "
        "master's key), not_an_agent, not_a_framework (a key of the other kind registering), wrong_principal (a "
        "message on a registered peer's connection from another principal).";
    for (const char* reason :
         {"unknown_key", "not_curve", "bad_handshake", "not_an_agent", "not_a_framework", "wrong_principal"}) {
      auto count = authenticator->refused().find(reason);
      out.counter("clusternodes_master_peers_refused_total", help,
                  count == authenticator->refused().end() ? 0.0 : static_cast<double>(count->second),
                  {{"reason", reason}});
    }
  }
}

void registryMetrics(Writer& out, const Master& master) {
  out.counter("clusternodes_master_registry_write_failures_total",
              "Writes of the registry that failed (each is retried; replies wait for it).",
              static_cast<double>(master.state().metrics.registryWriteFailures));
  out.histogram("clusternodes_master_registry_write_seconds",
                "How long each write of the registry took (one write carries every change staged since the last).",
                master.state().metrics.registryWriteSeconds);
  out.gauge("clusternodes_master_registry_failing",
            "1 while the last write of the registry failed: registrations and subscriptions wait unanswered.",
            master.registryFailing() ? 1 : 0);
}

void allocationMetrics(Writer& out, const Master& master) {
  const auto& histogram = master.state().metrics.allocationSeconds;
  out.histogram("clusternodes_master_allocation_duration_seconds", "How long each allocation round took.",
                histogram);
  // The histogram's count and sum under the names they had before it.
  out.counter("clusternodes_master_allocation_runs_total", "Allocation rounds run.",
              static_cast<double>(histogram.count()));
  out.counter("clusternodes_master_allocation_seconds_total", "Time spent in allocation rounds.", histogram.sum());
  auto roles = master.allocator().roleSummaries();
  for (const auto& r : roles) {
    out.gauge("clusternodes_master_role_dominant_share", "Each role's dominant share of the cluster.", r.share,
              {{"role", r.role}});
  }
  for (const auto& r : roles) {
    out.gauge("clusternodes_master_role_weight", "Each role's weight.", r.weight, {{"role", r.role}});
  }
}

// The reachable agents' resources: held by tasks and executors, offered,
// and neither.
void resourceMetrics(Writer& out, const Master& master) {
  const auto& state = master.state();
  Resources used;
  Resources offered;
  Resources idle;
  for (const auto& [id, agent] : state.agents) {
    if (!agent.reachable) continue;
    Resources onOffer;
    for (const auto& offerId : agent.offers) {
      if (auto offer = state.offers.find(offerId); offer != state.offers.end()) onOffer += offer->second.resources;
    }
    used += agent.used;
    offered += onOffer;
    idle += agent.info.resources - agent.used - onOffer;
  }
  prometheus::writeResources(out, "clusternodes_master_", "of the reachable agents",
                             {{"used", used}, {"offered", offered}, {"idle", idle}});
}

}  // namespace

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

std::string metricsText(const Master& master) {
  Writer out;
  agentMetrics(out, master);
  frameworkMetrics(out, master);
  offerMetrics(out, master);
  aclMetrics(out, master);
  taskMetrics(out, master);
  messageMetrics(out, master);
  registryMetrics(out, master);
  allocationMetrics(out, master);
  resourceMetrics(out, master);
  return out.text();
}

}  // namespace clusternodes::master
