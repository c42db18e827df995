// A task's status updates: one ordered stream per task, forwarded to the
// master once on disk, its head re-sent with a doubling backoff (from
// --status-update-retry-interval up to 32 times that) until the framework's
// acknowledgement names it.
#include <spdlog/spdlog.h>

#include "agent/agent.hpp"
#include "agent/agent_runs.hpp"

namespace clusternodes::agent {
namespace {

using wire::text;

constexpr auto kMaxStatusBackoffFactor = 32;

}  // namespace

TaskStatus Agent::agentStatus(const Run& run, TaskState state, TaskReason reason, const std::string& message) {
  TaskStatus status;
  status.taskId = run.task.taskId;
  status.agentId = agentId_;
  status.state = state;
  status.reason = reason;
  status.message = message;
  status.source = TaskSource::kAgent;
  status.timestamp = time_.wallSeconds();
  status.uuid = randomUuid();
  return status;
}

void Agent::enqueueStatus(const FrameworkID& frameworkId, TaskStatus status) {
  TaskKey key{frameworkId, status.taskId};
  auto& stream = streams_[key];
  if (!stream) {
    stream = std::make_unique<UpdateStream>(time_);
    stream->frameworkId = frameworkId;
  }
  stream->pending.push_back(std::move(status));
  checkpointUpdates(key);
  // Forwarded once on disk, so that an update the framework saw is one a
  // restarted agent still has.
  if (!stream->inFlight) whenDurable([this, key] { startStream(key); });
}

void Agent::startStream(const TaskKey& key) {
  auto it = streams_.find(key);
  if (it == streams_.end() || it->second->inFlight || it->second->pending.empty()) return;
  it->second->inFlight = true;
  it->second->backoff = flags_.statusUpdateRetry;
  sendHead(*it->second, key);
}

void Agent::sendHead(UpdateStream& stream, const TaskKey& key) {
  if (stream.pending.empty()) return;
  if (registered_) {
    capnp::MallocMessageBuilder message;
    auto update = message.initRoot<wire::Envelope>().initStatusUpdate();
    update.setFrameworkId(stream.frameworkId.value);
    wire::toWire(stream.pending.front(), stream.frameworkId, update.initStatus());
    sendToMaster(message);
    ++metrics_.statusUpdatesSent;
  }
  stream.retry.start(stream.backoff, [this, key] {
    auto it = streams_.find(key);
    if (it == streams_.end()) return;
    auto& s = *it->second;
    ++metrics_.statusUpdateRetries;
    s.backoff = std::min(s.backoff * 2, flags_.statusUpdateRetry * kMaxStatusBackoffFactor);
    sendHead(s, key);
  });
}

void Agent::resendAll() {
  whenDurable([this] {
    for (auto& [key, stream] : streams_) {
      if (stream->pending.empty()) continue;
      stream->inFlight = true;
      stream->backoff = flags_.statusUpdateRetry;
      sendHead(*stream, key);
    }
  });
}

void Agent::onAck(wire::StatusUpdateAck::Reader message) {
  TaskKey key{FrameworkID{text(message.getFrameworkId())}, TaskID{text(message.getTaskId())}};
  auto it = streams_.find(key);
  if (it == streams_.end()) return;
  auto& stream = *it->second;
  if (stream.pending.empty() || stream.pending.front().uuid != text(message.getUuid())) return;
  stream.pending.pop_front();
  stream.retry.stop();
  stream.inFlight = false;
  if (!stream.pending.empty()) {
    checkpointUpdates(key);
    whenDurable([this, key] { startStream(key); });
    return;
  }
  forgetIfDone(key);
  // A run that goes on keeps an empty list: the acknowledged update must not
  // be re-sent after a restart.
  if (runs_.count(key) != 0) checkpointUpdates(key);
}

void Agent::forgetIfDone(const TaskKey& key) {
  auto stream = streams_.find(key);
  bool streamEmpty = stream == streams_.end() || stream->second->pending.empty();
  if (!streamEmpty) return;
  auto run = runs_.find(key);
  if (run != runs_.end()) {
    if (!isTerminal(run->second->state) || !run->second->exited()) return;
    auto executor = executorsByKey_.find(run->second->executorKey());
    if (executor != executorsByKey_.end()) {
      if (!executor->second->builtIn()) {
        executor->second->tasks.erase(key.second);
      } else if (!run->second->custom()) {
        // A built-in executor's checkpoint is its task's: kept until it ends.
        return;
      }
    }
    checkpoints_.removeRun(run->second->containerId);
    runs_.erase(run);
    if (finished_.insert(key).second) finishedOrder_.push_back(key);
    while (finishedOrder_.size() > kRememberFinished) {
      finished_.erase(finishedOrder_.front());
      finishedOrder_.pop_front();
    }
  }
  if (stream != streams_.end()) streams_.erase(stream);
}

}  // namespace clusternodes::agent
