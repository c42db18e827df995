// The agent's /metrics: its counters, its tasks, executors and resources,
// and what each live container uses, in the Prometheus text format.
// docs/metrics.md describes every metric.
#include <algorithm>

#include "agent/agent.hpp"
#include "agent/agent_runs.hpp"
#include "common/prometheus.hpp"

namespace clusternodes::agent {
namespace {

using prometheus::Labels;
using prometheus::Writer;

// A container's usage and the limits the agent set on it, under `labels`.
void containerMetrics(Writer& out, const Labels& labels, const ContainerUsage& usage, const ContainerLimits& limits) {
  out.counter("clusternodes_agent_container_cpu_seconds_total",
              "CPU time the container's processes used (user and system).", usage.cpuSeconds, labels);
  out.gauge("clusternodes_agent_container_memory_bytes",
            "Memory the container uses now (what counts against its limit).", static_cast<double>(usage.memBytes),
            labels);
  out.gauge("clusternodes_agent_container_memory_peak_bytes", "The most memory the container has used.",
            static_cast<double>(std::max(usage.memPeakBytes, usage.memBytes)), labels);
  out.gauge("clusternodes_agent_container_processes", "Processes in the container.",
            static_cast<double>(usage.processes), labels);
  out.counter("clusternodes_agent_container_oom_kills_total",
              "Processes of the container the kernel killed at its memory limit.",
              static_cast<double>(usage.oomKills), labels);
  out.gauge("clusternodes_agent_container_cpus_limit", "CPUs the container was given (its share of the host's CPU).",
            limits.cpus, labels);
  if (limits.cpuQuota) {
    out.gauge("clusternodes_agent_container_cpus_quota", "The container's hard CPU limit (CFS quota), in CPUs.",
              *limits.cpuQuota, labels);
  }
  if (limits.memBytes > 0) {
    out.gauge("clusternodes_agent_container_memory_limit_bytes", "The container's memory limit.",
              static_cast<double>(limits.memBytes), labels);
  }
}

}  // namespace

std::string Agent::metricsText() {
  Writer out;
  auto counter = [&](const char* name, const char* help, uint64_t value) {
    out.counter(name, help, static_cast<double>(value));
  };
  auto gauge = [&](const char* name, const char* help, double value) { out.gauge(name, help, value); };

  gauge("clusternodes_agent_registered", "Whether the agent is registered with a master.", registered_ ? 1 : 0);
  counter("clusternodes_agent_registrations_total", "Registrations and re-registrations sent to the master.",
          metrics_.registrations);
  counter("clusternodes_agent_messages_received_total", "Messages received by the agent.", metrics_.messagesReceived);
  counter("clusternodes_agent_messages_dropped_total", "Malformed, truncated or unknown messages dropped.",
          droppedMessages());
  counter("clusternodes_agent_tasks_launched_total", "Tasks launched.", metrics_.tasksLaunched);
  counter("clusternodes_agent_http_unauthorized_total",
          "HTTP requests answered 401: no token where --http-authenticate needs one, or an unknown token.",
          httpUnauthorized());
  counter("clusternodes_agent_http_tls_failures_total",
          "HTTPS connections (--tls-cert) that failed before a request: a refused or broken handshake, or plain "
          "HTTP sent to the TLS port.",
          httpTlsFailures());
  counter("clusternodes_agent_checkpoint_commits_total",
          "Batches of checkpoint changes written (at most one per loop turn).", metrics_.checkpointCommits);
  counter("clusternodes_agent_checkpoint_write_failures_total",
          "Checkpoint writes that failed; acknowledgements wait until a write succeeds.",
          metrics_.checkpointWriteFailures);
  gauge("clusternodes_agent_checkpoint_failing", "1 while checkpoint writes fail (and /health answers 503).",
        checkpointFailure_ ? 1 : 0);
  counter("clusternodes_agent_launches_queued_total",
          "Launches that waited for a start slot (--max-starting-executors).", metrics_.launchesQueued);
  gauge("clusternodes_agent_executors_starting", "Executors started whose task is not running yet.", starting_);
  counter("clusternodes_agent_status_updates_sent_total", "Status updates sent to the master.",
          metrics_.statusUpdatesSent);
  counter("clusternodes_agent_status_update_retries_total", "Status updates re-sent for lack of an acknowledgement.",
          metrics_.statusUpdateRetries);
  size_t pending = 0;
  for (const auto& [key, stream] : streams_) pending += stream->pending.size();
  gauge("clusternodes_agent_status_updates_pending", "Status updates not yet acknowledged by their framework.",
        static_cast<double>(pending));
  counter("clusternodes_agent_memory_limit_kills_total", "Tasks the kernel killed at their memory limit.",
          metrics_.memoryLimitKills);
  counter("clusternodes_agent_containers_destroyed_total",
          "Containers whose processes were killed and cgroups removed.", metrics_.containersDestroyed);
  counter("clusternodes_agent_sandboxes_collected_total", "Finished sandboxes removed by the garbage collector.",
          gc_->collected());
  gauge("clusternodes_agent_sandboxes_pending_gc", "Finished sandboxes waiting for garbage collection.",
        static_cast<double>(gc_->pending()));
  gauge("clusternodes_agent_framework_executors", "Frameworks' own executors running.",
        static_cast<double>(std::count_if(executorsByKey_.begin(), executorsByKey_.end(),
                                          [](const auto& entry) { return !entry.second->builtIn(); })));

  // Tasks by state, the executor processes alive, and what they hold.
  std::map<TaskState, size_t> tasks;
  std::map<std::string, size_t> executors{{"command", 0}, {"docker", 0}, {"framework", 0}};
  Resources used;
  for (const auto& [key, run] : runs_) {
    ++tasks[run->state];
    if (!isTerminal(run->state)) used += run->task.resources;
  }
  for (const auto& [key, executor] : executorsByKey_) {
    if (executor->exited() || executor->phase == ExecutorPhase::kQueued) continue;
    used += executor->info.resources;
    static const char* const kTypes[] = {"command", "docker", "framework"};
    if (executor->pid != 0) ++executors[kTypes[static_cast<int>(executor->kind)]];
  }
  for (int s = static_cast<int>(TaskState::kStaging); s <= static_cast<int>(TaskState::kUnknown); ++s) {
    auto state = static_cast<TaskState>(s);
    out.gauge("clusternodes_agent_tasks",
              "Tasks on the agent, by state; an ended task stays until its last status update is acknowledged.",
              static_cast<double>(tasks[state]), {{"state", toString(state)}});
  }
  for (const auto& [type, count] : executors) {
    out.gauge("clusternodes_agent_executors",
              "Executor processes running, by type: one per command or Docker task, and frameworks' own executors.",
              static_cast<double>(count), {{"type", type}});
  }
  prometheus::writeResources(out, "clusternodes_agent_", "of this agent",
                             {{"used", used}, {"idle", info_.resources - used}});

  // Every live container the agent measures; Docker measures its own.
  for (auto& [key, run] : runs_) {
    Executor* executor = measured(*run);
    if (executor == nullptr || isTerminal(run->state)) continue;
    containerMetrics(out,
                     {{"framework_id", key.first.value}, {"task_id", key.second.value},
                      {"container_id", run->containerId}},
                     usageOf(*run, *executor),
                     containerLimits(run->task.resources.cpus(), run->task.resources.mem(), run->task.cpuLimit,
                                     flags_.isolation.enableCfs));
  }
  for (auto& [key, executor] : executorsByKey_) {
    if (executor->builtIn() || !executorContainers_->measures(executor->containerId) || executor->exited()) continue;
    auto usage = executorContainers_->usage(executor->containerId);
    containerMetrics(out,
                     {{"framework_id", key.first.value}, {"executor_id", key.second.value},
                      {"container_id", executor->containerId}},
                     usage ? *usage : ContainerUsage{}, limitsOf(*executor));
  }
  return out.text();
}

}  // namespace clusternodes::agent
