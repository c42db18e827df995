#include "mapreduce/job_tracker.hpp"

#include <algorithm>
#include <cstdio>

#include "mapreduce/util.hpp"

namespace clusternodes::mapreduce {

namespace {

using std::chrono::nanoseconds;

constexpr double kIdleRefuseSeconds = 5;    // nothing to run: revived when there is
constexpr double kBusyRefuseSeconds = 1;    // the offer is too small for a task
constexpr double kWaitRefuseSeconds = 0.2;  // waiting for a local offer (at most)
constexpr nanoseconds kMinAvoidance = std::chrono::seconds(1);

double seconds(nanoseconds d) { return std::chrono::duration<double>(d).count(); }

int percent(int done, int total) { return total == 0 ? 100 : done * 100 / total; }

std::string describeStatus(const TaskStatus& status) {
  std::string text = toString(status.state);
  if (status.reason != TaskReason::kNone) text += std::string(" (") + toString(status.reason) + ")";
  if (!status.message.empty()) text += ": " + status.message;
  return text;
}

}  // namespace

std::string progressLine(const JobProgress& p) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "map %d/%d (%d%%)  reduce %d/%d (%d%%)  read %s  failed attempts %d", p.mapsDone,
                p.maps, percent(p.mapsDone, p.maps), p.reducesDone, p.reduces, percent(p.reducesDone, p.reduces),
                humanBytes(p.bytesRead).c_str(), p.failedAttempts);
  return buf;
}

JobTracker::JobTracker(std::vector<InputSplit> splits, TrackerOptions options, TimePoint now)
    : options_(std::move(options)) {
  if (options_.reducers < 1) options_.reducers = 1;
  if (options_.maxAttempts < 1) options_.maxAttempts = 1;
  for (size_t i = 0; i < splits.size(); ++i) {
    Task task;
    task.type = TaskType::kMap;
    task.index = static_cast<int>(i);
    task.name = numberedName("m-", task.index);
    task.split = std::move(splits[i]);
    task.pendingSince = now;
    maps_.push_back(std::move(task));
  }
  for (int r = 0; r < options_.reducers; ++r) {
    Task task;
    task.type = TaskType::kReduce;
    task.index = r;
    task.name = numberedName("r-", r);
    task.pendingSince = now;
    reduces_.push_back(std::move(task));
  }
}

JobTracker::Task& JobTracker::taskOf(TaskType type, int index) {
  return type == TaskType::kMap ? maps_.at(static_cast<size_t>(index)) : reduces_.at(static_cast<size_t>(index));
}

std::string JobTracker::describe(const Task& task) const {
  if (task.type == TaskType::kMap) return "map task " + task.name + " (" + task.split.describe() + ")";
  return "reduce task " + task.name;
}

bool JobTracker::avoids(const Task& task, const std::string& agent, TimePoint now) const {
  if (task.failedAgents.count(agent) == 0) return false;
  return now - task.pendingSince < std::max(options_.localityDelay, kMinAvoidance);
}

bool JobTracker::hasPendingRunnable() const {
  if (failed() || finished()) return false;
  if (!mapsDone()) {
    return std::any_of(maps_.begin(), maps_.end(), [](const Task& t) { return t.phase == Phase::kPending; });
  }
  return std::any_of(reduces_.begin(), reduces_.end(), [](const Task& t) { return t.phase == Phase::kPending; });
}

JobTracker::Task* JobTracker::pick(const std::string& agent, const std::string& host, TimePoint now,
                                   bool& dataLocal, nanoseconds& soonest) {
  dataLocal = false;
  if (!mapsDone()) {
    Task* anywhere = nullptr;
    Task* remote = nullptr;
    for (auto& task : maps_) {
      if (task.phase != Phase::kPending) continue;
      if (avoids(task, agent, now)) {
        auto wait = std::max(options_.localityDelay, kMinAvoidance) - (now - task.pendingSince);
        soonest = std::min(soonest, std::chrono::duration_cast<nanoseconds>(wait));
        continue;
      }
      const auto& hosts = task.split.hosts;
      if (hosts.empty()) {
        if (anywhere == nullptr) anywhere = &task;
        continue;
      }
      if (!host.empty() && std::find(hosts.begin(), hosts.end(), host) != hosts.end()) {
        dataLocal = true;
        return &task;  // the first local one
      }
      auto waited = now - task.pendingSince;
      if (waited >= options_.localityDelay) {
        if (remote == nullptr) remote = &task;
      } else {
        soonest = std::min(soonest, std::chrono::duration_cast<nanoseconds>(options_.localityDelay - waited));
      }
    }
    return anywhere != nullptr ? anywhere : remote;
  }
  for (auto& task : reduces_) {
    if (task.phase != Phase::kPending) continue;
    if (avoids(task, agent, now)) {
      auto wait = std::max(options_.localityDelay, kMinAvoidance) - (now - task.pendingSince);
      soonest = std::min(soonest, std::chrono::duration_cast<nanoseconds>(wait));
      continue;
    }
    return &task;
  }
  return nullptr;
}

std::string JobTracker::fitProblem() const { return unfit_; }

OfferDecision JobTracker::offer(const Offer& offer, TimePoint now) {
  OfferDecision decision;
  if (!hasPendingRunnable()) {
    decision.refuseSeconds = kIdleRefuseSeconds;
    return decision;
  }
  std::string host = offer.hostname;
  if (!options_.localityAttribute.empty()) {
    host.clear();
    for (const auto& attribute : offer.attributes) {
      if (attribute.name == options_.localityAttribute) host = attribute.value;
    }
  }
  const std::string& agent = offer.agentId.value;
  Resources remaining = offer.resources;
  bool tooSmall = false;
  nanoseconds soonest = nanoseconds::max();
  for (;;) {
    bool withExecutor = executors_.count(agent) == 0;
    Resources need = options_.taskResources;
    if (withExecutor) need += options_.executorResources;
    if (!remaining.contains(need)) {
      tooSmall = true;
      if (auto p = progress(); decision.launches.empty() && p.mapsRunning + p.reducesRunning == 0) {
        unfit_ = "offers such as " + offer.resources.toString() + " from agent " + agent + " fit no task: a task needs " +
                 options_.taskResources.toString() +
                 (withExecutor ? " plus " + options_.executorResources.toString() + " for the executor" : "") +
                 " (lower --task-cpus, --task-mem, --executor-cpus or --executor-mem)";
      }
      break;
    }
    unfit_.clear();
    bool dataLocal = false;
    Task* task = pick(agent, host, now, dataLocal, soonest);
    if (task == nullptr) break;
    remaining -= need;
    task->phase = Phase::kRunning;
    task->attempts += 1;
    task->currentId = attemptId(task->name, task->attempts);
    task->agent = agent;
    attemptIds_[task->currentId] = {task->type, task->index};
    executors_.insert(agent);
    if (task->type == TaskType::kMap) {
      ++mapLaunches_;
      if (dataLocal) ++dataLocalLaunches_;
    }
    TaskLaunch launch;
    launch.type = task->type;
    launch.index = task->index;
    launch.attempt = task->attempts;
    launch.task = task->name;
    launch.taskId = task->currentId;
    launch.withExecutor = withExecutor;
    launch.dataLocal = dataLocal;
    decision.launches.push_back(std::move(launch));
  }
  if (!hasPendingRunnable()) {
    decision.refuseSeconds = kIdleRefuseSeconds;
  } else if (tooSmall) {
    decision.refuseSeconds = kBusyRefuseSeconds;
  } else if (soonest != nanoseconds::max()) {
    decision.refuseSeconds = std::clamp(seconds(soonest), 0.05, kWaitRefuseSeconds);
  } else {
    decision.refuseSeconds = kWaitRefuseSeconds;
  }
  return decision;
}

void JobTracker::makePending(Task& task, TimePoint now) {
  task.phase = Phase::kPending;
  task.pendingSince = now;
  reviveRequested_ = true;
}

void JobTracker::attemptFailed(Task& task, const std::string& why, TimePoint now) {
  ++failedAttempts_;
  task.failures += 1;
  task.lastError = why;
  if (!task.agent.empty()) task.failedAgents.insert(task.agent);
  makePending(task, now);
  if (task.failures >= options_.maxAttempts && error_.empty()) {
    error_ = describe(task) + " failed " + std::to_string(task.failures) + " times; last error: " + why;
  }
}

void JobTracker::loseMapOutput(Task& map, const std::string& why, TimePoint now) {
  if (map.phase != Phase::kDone) return;
  --mapsDone_;
  ++lostMapOutputs_;
  map.outputs.clear();  // its stats stay: the bytes were read
  attemptFailed(map, "output lost: " + why, now);
}

void JobTracker::loseOutputsOn(const std::string& agent, const std::string& why, TimePoint now) {
  if (finished()) return;
  for (auto& map : maps_) {
    if (map.phase == Phase::kDone && map.agent == agent) loseMapOutput(map, why, now);
  }
}

bool JobTracker::agentBusy(const std::string& agent, const std::string& exceptId) const {
  auto busy = [&](const Task& t) {
    return t.agent == agent && t.currentId != exceptId && (t.phase == Phase::kRunning || t.phase == Phase::kDone);
  };
  return std::any_of(maps_.begin(), maps_.end(), busy) || std::any_of(reduces_.begin(), reduces_.end(), busy);
}

void JobTracker::statusUpdate(const TaskStatus& status, const TaskResult& result, TimePoint now) {
  auto found = attemptIds_.find(status.taskId.value);
  if (found == attemptIds_.end()) return;
  Task& task = taskOf(found->second.first, found->second.second);
  const bool current = task.currentId == status.taskId.value && task.phase == Phase::kRunning;
  const std::string agent = !status.agentId.empty() ? status.agentId.value : (current ? task.agent : "");

  if (status.state == TaskState::kLost || status.state == TaskState::kGone) {
    // The agent (or the executor on it) is gone with its map outputs.
    if (!agent.empty()) {
      executors_.erase(agent);
      loseOutputsOn(agent, toString(status.state) + std::string(" of ") + status.taskId.value + " on agent " + agent,
                     now);
    }
  }
  if (!current || !isTerminal(status.state)) return;

  if (status.state == TaskState::kFinished) {
    if (task.type == TaskType::kMap) {
      if (result.outputs.size() != reduces_.size()) {
        attemptFailed(task, "the map reported " + std::to_string(result.outputs.size()) + " outputs for " +
                                std::to_string(reduces_.size()) + " reducers", now);
        return;
      }
      task.phase = Phase::kDone;
      task.outputs = result.outputs;
      task.result = result;
      ++mapsDone_;
      if (mapsDone()) {
        for (auto& reduce : reduces_) {
          if (reduce.phase == Phase::kPending) reduce.pendingSince = now;
        }
        reviveRequested_ = true;
      }
    } else {
      task.phase = Phase::kDone;
      task.result = result;
      ++reducesDone_;
    }
    return;
  }

  if (status.state == TaskState::kKilled && killRequested_.count(status.taskId.value) > 0) {
    makePending(task, now);  // our own doing: no failure
    return;
  }
  if (status.state == TaskState::kError || status.state == TaskState::kDropped) {
    // The launch never ran: if nothing else of ours is on that agent, the
    // executor may not have started either.
    if (!agent.empty() && !agentBusy(agent, status.taskId.value)) executors_.erase(agent);
  }
  if (task.type == TaskType::kReduce && !result.fetchFailed.empty()) {
    bool named = false;
    for (int index : result.fetchFailed) {
      if (index < 0 || index >= static_cast<int>(maps_.size())) continue;
      named = true;
      loseMapOutput(maps_[static_cast<size_t>(index)], "reducer " + task.name + " could not fetch it (" +
                                                           (result.error.empty() ? status.message : result.error) + ")",
                    now);
    }
    if (named) {
      makePending(task, now);  // not the reducer's fault
      return;
    }
  }
  attemptFailed(task, describeStatus(status), now);
}

void JobTracker::executorLost(const AgentID& agentId, const std::string& why, TimePoint now) {
  executors_.erase(agentId.value);
  loseOutputsOn(agentId.value, why.empty() ? "the executor on agent " + agentId.value + " was lost" : why, now);
}

void JobTracker::agentLost(const AgentID& agentId, TimePoint now) {
  executorLost(agentId, "agent " + agentId.value + " was lost", now);
}

void JobTracker::killRequested(const std::string& taskId) { killRequested_.insert(taskId); }

std::vector<MapInput> JobTracker::reduceInputs(int partition) const {
  std::vector<MapInput> inputs;
  for (const auto& map : maps_) {
    if (map.phase != Phase::kDone || partition < 0 || static_cast<size_t>(partition) >= map.outputs.size()) continue;
    inputs.push_back({map.index, map.outputs[static_cast<size_t>(partition)]});
  }
  return inputs;
}

bool JobTracker::takeReviveRequest() {
  bool requested = reviveRequested_;
  reviveRequested_ = false;
  return requested && !failed() && !finished();
}

JobProgress JobTracker::progress() const {
  JobProgress p;
  p.maps = static_cast<int>(maps_.size());
  p.reduces = static_cast<int>(reduces_.size());
  p.mapsDone = mapsDone_;
  p.reducesDone = reducesDone_;
  p.failedAttempts = failedAttempts_;
  p.lostMapOutputs = lostMapOutputs_;
  p.mapLaunches = mapLaunches_;
  p.dataLocalMapLaunches = dataLocalLaunches_;
  for (const auto& map : maps_) {
    if (map.phase == Phase::kRunning) ++p.mapsRunning;
    // The last successful attempt's stats, even when its output was lost since.
    p.bytesRead += map.result.bytesRead;
    p.mapOutputBytes += map.result.mapOutputBytes;
  }
  for (const auto& reduce : reduces_) {
    if (reduce.phase == Phase::kRunning) ++p.reducesRunning;
    if (reduce.phase != Phase::kDone) continue;
    p.outputBytes += reduce.result.bytesOut;
    p.outputRecords += reduce.result.recordsOut;
  }
  return p;
}

std::vector<std::string> JobTracker::runningAttempts() const {
  std::vector<std::string> ids;
  for (const auto* tasks : {&maps_, &reduces_}) {
    for (const auto& task : *tasks) {
      if (task.phase == Phase::kRunning) ids.push_back(task.currentId);
    }
  }
  return ids;
}

}  // namespace clusternodes::mapreduce
