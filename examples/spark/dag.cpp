#include "spark/dag.hpp"

#include <algorithm>
#include <functional>

namespace clusternodes::spark {

struct DagScheduler::Stage {
  int id = 0;
  bool shuffleMap = false;
  NodePtr node;   // the node whose partitions the tasks compute
  NodePtr wide;   // map stage: the node reading the shuffle
  int shuffleId = -1;
  std::string name;
  std::vector<std::optional<MapOutputLocation>> outputs;  // map stage, per partition

  // Per job state.
  bool active = false;   // tasks are being launched
  bool waiting = false;  // waits for parent stages
  int epoch = 0;         // bumped at each (re)submission
  int fetchFailures = 0;
  std::map<int, int> inFlight;  // partition -> running attempts
  std::map<int, int> failures;  // partition -> failed attempts
  std::map<int, int> launches;  // partition -> attempts launched
  std::shared_ptr<const std::string> plan;
  int planJob = -1;
};

DagScheduler::DagScheduler(DagOptions options) : options_(options) {}
DagScheduler::~DagScheduler() = default;

// ---- graph ------------------------------------------------------------------

DagScheduler::Stage& DagScheduler::shuffleStage(const NodePtr& wide, size_t parentIndex) {
  int shuffleId = wide->shuffleIds[parentIndex];
  auto it = shuffleStages_.find(shuffleId);
  if (it != shuffleStages_.end()) return *it->second;
  auto stage = std::make_unique<Stage>();
  stage->id = nextStageId_++;
  stage->shuffleMap = true;
  stage->node = wide->parents[parentIndex];
  stage->wide = wide;
  stage->shuffleId = shuffleId;
  stage->name = stage->node->describe();
  stage->outputs.resize(static_cast<size_t>(stage->node->numPartitions));
  Stage& ref = *stage;
  shuffleStages_[shuffleId] = stage.get();
  stages_[stage->id] = std::move(stage);
  return ref;
}

template <typename Fn>
void DagScheduler::forEachShuffleDep(const NodePtr& start, bool stopAtCached, Fn&& fn) {
  std::set<int> visited;
  std::vector<NodePtr> stack{start};
  while (!stack.empty()) {
    NodePtr node = stack.back();
    stack.pop_back();
    if (!visited.insert(node->id).second) continue;
    if (stopAtCached && node->cached && fullyCached(*node)) continue;
    if (isWide(node->op)) {
      for (size_t i = 0; i < node->parents.size(); ++i) fn(node, i);
    } else {
      for (const auto& parent : node->parents) stack.push_back(parent);
    }
  }
}

bool DagScheduler::fullyCached(const Node& node) const {
  for (int p = 0; p < node.numPartitions; ++p) {
    auto it = cacheLocs_.find({node.id, p});
    if (it == cacheLocs_.end() || it->second.empty()) return false;
  }
  return true;
}

bool DagScheduler::available(const Stage& stage) const {
  return std::all_of(stage.outputs.begin(), stage.outputs.end(), [](const auto& o) { return o.has_value(); });
}

bool DagScheduler::partitionDone(const Stage& stage, int p) const {
  if (stage.shuffleMap) return stage.outputs[static_cast<size_t>(p)].has_value();
  auto it = resultIndex_.find(p);
  return it == resultIndex_.end() || resultDone_[it->second];
}

std::vector<DagScheduler::Stage*> DagScheduler::missingParents(Stage& stage) {
  std::vector<Stage*> missing;
  forEachShuffleDep(stage.node, true, [&](const NodePtr& wide, size_t i) {
    Stage& parent = shuffleStage(wide, i);
    if (!available(parent)) missing.push_back(&parent);
  });
  return missing;
}

std::string DagScheduler::preferredExecutor(const Node& node, int p) const {
  if (node.cached) {
    auto it = cacheLocs_.find({node.id, p});
    if (it != cacheLocs_.end() && !it->second.empty()) return *it->second.begin();
  }
  switch (node.op) {
    case Op::kMap:
    case Op::kFlatMap:
    case Op::kFilter:
    case Op::kMapValues:
      return preferredExecutor(*node.parents[0], p);
    case Op::kUnion: {
      auto [parent, pp] = unionSource(node, p);
      return preferredExecutor(*node.parents[parent], pp);
    }
    default:
      return std::string();
  }
}

StageStats& DagScheduler::stageStats(const Stage& stage) {
  for (auto& s : stats_.stages) {
    if (s.stageId == stage.id) return s;
  }
  StageStats s;
  s.stageId = stage.id;
  s.name = stage.shuffleMap ? stage.name : stats_.name;
  s.shuffleMap = stage.shuffleMap;
  s.nodeId = stage.node->id;
  stats_.stages.push_back(std::move(s));
  return stats_.stages.back();
}

void DagScheduler::refreshDone() {
  // A lost map output undoes a finished partition: count from the state.
  for (auto& s : stats_.stages) {
    auto it = stages_.find(s.stageId);
    if (it == stages_.end()) continue;
    std::set<int> partitions(s.partitionsRun.begin(), s.partitionsRun.end());
    s.done = static_cast<int>(
        std::count_if(partitions.begin(), partitions.end(), [&](int p) { return partitionDone(*it->second, p); }));
  }
}

int DagScheduler::availableOutputs(int shuffleId) const {
  auto it = shuffleStages_.find(shuffleId);
  if (it == shuffleStages_.end()) return -1;
  return static_cast<int>(
      std::count_if(it->second->outputs.begin(), it->second->outputs.end(), [](const auto& o) { return o.has_value(); }));
}

std::optional<MapOutputLocation> DagScheduler::mapOutput(int shuffleId, int mapPartition) const {
  auto it = shuffleStages_.find(shuffleId);
  if (it == shuffleStages_.end() || mapPartition < 0 ||
      static_cast<size_t>(mapPartition) >= it->second->outputs.size()) {
    return std::nullopt;
  }
  return it->second->outputs[static_cast<size_t>(mapPartition)];
}

std::set<std::string> DagScheduler::cacheLocations(int nodeId, int partition) const {
  auto it = cacheLocs_.find({nodeId, partition});
  return it == cacheLocs_.end() ? std::set<std::string>() : it->second;
}

// ---- jobs -------------------------------------------------------------------

int DagScheduler::submitJob(NodePtr node, ActionSpec action, std::vector<int> partitions, std::string name) {
  if (partitions.empty()) {
    for (int p = 0; p < node->numPartitions; ++p) partitions.push_back(p);
  }
  jobId_ = nextJobId_++;
  stats_ = JobStats{};
  stats_.jobId = jobId_;
  stats_.name = std::move(name);
  action_ = std::move(action);
  jobPartitions_ = std::move(partitions);
  resultIndex_.clear();
  for (size_t i = 0; i < jobPartitions_.size(); ++i) resultIndex_[jobPartitions_[i]] = i;
  results_.assign(jobPartitions_.size(), std::string());
  resultDone_.assign(jobPartitions_.size(), false);
  ready_.clear();
  running_.clear();

  auto stage = std::make_unique<Stage>();
  stage->id = nextStageId_++;
  stage->node = std::move(node);
  stage->name = stats_.name;
  resultStage_ = stage.get();
  stages_[stage->id] = std::move(stage);

  // Every shuffle map stage of the job's graph, to count the skipped ones.
  jobMapStages_.clear();
  std::vector<NodePtr> frontier{resultStage_->node};
  while (!frontier.empty()) {
    NodePtr n = frontier.back();
    frontier.pop_back();
    forEachShuffleDep(n, false, [&](const NodePtr& wide, size_t i) {
      Stage& s = shuffleStage(wide, i);
      if (jobMapStages_.insert(s.id).second) frontier.push_back(s.node);
    });
  }
  for (auto& [id, s] : stages_) {
    s->active = false;
    s->waiting = false;
    s->inFlight.clear();
    s->failures.clear();
    s->fetchFailures = 0;
  }

  jobRunning_ = true;
  if (jobPartitions_.empty()) {
    stats_.succeeded = true;
    endJob();
    return jobId_;
  }
  submitStage(*resultStage_);
  return jobId_;
}

std::vector<TaskDescription> DagScheduler::takeTasks() {
  std::vector<TaskDescription> out;
  out.swap(ready_);
  return out;
}

void DagScheduler::submitStage(Stage& stage) {
  if (!jobRunning_ || stage.active || stage.waiting) return;
  auto missing = missingParents(stage);
  if (missing.empty()) {
    submitMissingTasks(stage);
    return;
  }
  stage.waiting = true;
  for (Stage* parent : missing) submitStage(*parent);
}

void DagScheduler::submitMissingTasks(Stage& stage) {
  if (!jobRunning_) return;
  if (!stage.active) {
    stage.active = true;
    stage.waiting = false;
    ++stage.epoch;
  }
  std::vector<int> todo;
  if (stage.shuffleMap) {
    for (int p = 0; p < stage.node->numPartitions; ++p) {
      if (!partitionDone(stage, p) && stage.inFlight.count(p) == 0) todo.push_back(p);
    }
  } else {
    for (int p : jobPartitions_) {
      if (!partitionDone(stage, p) && stage.inFlight.count(p) == 0) todo.push_back(p);
    }
  }
  if (todo.empty()) {
    if (stage.inFlight.empty()) stageCompleted(stage);
    return;
  }
  if (stage.planJob != jobId_ || !stage.plan) {
    std::vector<NodePtr> roots{stage.node};
    if (stage.wide) roots.push_back(stage.wide);
    stage.plan = std::make_shared<const std::string>(serialisePlan(roots));
    stage.planJob = jobId_;
  }
  StageStats& stats = stageStats(stage);
  for (int p : todo) {
    if (std::find(stats.partitionsRun.begin(), stats.partitionsRun.end(), p) == stats.partitionsRun.end()) {
      ++stats.partitions;
    }
    launch(stage, p);
  }
}

void DagScheduler::launch(Stage& stage, int p) {
  TaskDescription t;
  t.taskId = nextTaskId_++;
  t.jobId = jobId_;
  t.stageId = stage.id;
  t.partition = p;
  t.attempt = stage.launches[p]++;
  t.plan = stage.plan;
  t.nodeId = stage.node->id;
  if (stage.shuffleMap) {
    t.shuffleId = stage.shuffleId;
    t.shuffleNodeId = stage.wide->id;
  } else {
    t.action = action_;
  }
  forEachShuffleDep(stage.node, false, [&](const NodePtr& wide, size_t i) {
    Stage& parent = shuffleStage(wide, i);
    t.shuffleInputs[parent.shuffleId] = parent.outputs;
  });
  t.preferredExecutor = preferredExecutor(*stage.node, p);
  ++stage.inFlight[p];
  running_[t.taskId] = {stage.id, p, stage.epoch};
  StageStats& stats = stageStats(stage);
  ++stats.tasksLaunched;
  stats.partitionsRun.push_back(p);
  ++stats_.tasks;
  ready_.push_back(std::move(t));
}

void DagScheduler::stageCompleted(Stage& stage) {
  stage.active = false;
  stage.waiting = false;
  if (&stage == resultStage_) {
    stats_.succeeded = true;
    endJob();
    return;
  }
  submitWaitingStages();
}

void DagScheduler::submitWaitingStages() {
  std::vector<Stage*> waiting;
  for (auto& [id, s] : stages_) {
    if (s->waiting) waiting.push_back(s.get());
  }
  for (Stage* s : waiting) {
    if (!jobRunning_) return;
    if (!s->waiting) continue;
    s->waiting = false;
    submitStage(*s);
  }
}

void DagScheduler::failJob(std::string error) {
  stats_.succeeded = false;
  stats_.error = std::move(error);
  endJob();
}

void DagScheduler::endJob() {
  refreshDone();
  jobRunning_ = false;
  running_.clear();
  ready_.clear();
  int skipped = 0;
  for (int id : jobMapStages_) {
    bool ran = std::any_of(stats_.stages.begin(), stats_.stages.end(), [id](const StageStats& s) { return s.stageId == id; });
    if (!ran) ++skipped;
  }
  stats_.stagesSkipped = skipped;
  for (auto& [id, s] : stages_) {
    s->active = false;
    s->waiting = false;
    s->inFlight.clear();
  }
  // The result stage belongs to this job only.
  if (resultStage_ != nullptr) {
    stages_.erase(resultStage_->id);
    resultStage_ = nullptr;
  }
}

// ---- events -----------------------------------------------------------------

void DagScheduler::taskEnded(const TaskResult& r) {
  handleTaskEnded(r);
  if (jobRunning_) refreshDone();
}

void DagScheduler::handleTaskEnded(const TaskResult& r) {
  auto it = running_.find(r.taskId);
  if (it == running_.end() || !jobRunning_) return;
  Running running = it->second;
  running_.erase(it);
  auto sit = stages_.find(running.stageId);
  if (sit == stages_.end()) return;
  Stage& stage = *sit->second;
  int p = running.partition;
  if (--stage.inFlight[p] <= 0) stage.inFlight.erase(p);
  StageStats& stats = stageStats(stage);
  bool executorAlive = lostExecutors_.count(r.executorId) == 0;

  switch (r.status) {
    case TaskStatus::kSuccess: {
      const TaskMetrics& m = r.metrics;
      TaskMetrics& sum = stats_.metrics;
      sum.sourceReads += m.sourceReads;
      sum.cacheHits += m.cacheHits;
      sum.cacheMisses += m.cacheMisses;
      sum.shuffleBytesWritten += m.shuffleBytesWritten;
      sum.shuffleBytesRead += m.shuffleBytesRead;
      sum.recordsOut += m.recordsOut;
      if (executorAlive) {
        for (const auto& block : r.cachedBlocks) cacheLocs_[block].insert(r.executorId);
      }
      if (stage.shuffleMap) {
        if (executorAlive) stage.outputs[static_cast<size_t>(p)] = r.mapOutput;
      } else {
        auto idx = resultIndex_.find(p);
        if (idx != resultIndex_.end() && !resultDone_[idx->second]) {
          results_[idx->second] = r.result;
          resultDone_[idx->second] = true;
        }
      }
      if (stage.active) submitMissingTasks(stage);
      return;
    }
    case TaskStatus::kFailed:
    case TaskStatus::kExecutorLost: {
      ++stats.failedAttempts;
      ++stats_.failedAttempts;
      int failures = ++stage.failures[p];
      if (failures >= options_.maxTaskAttempts) {
        failJob("stage " + std::to_string(stage.id) + " (" + stats.name + ") partition " + std::to_string(p) +
                " failed " + std::to_string(failures) + " times; last error: " + r.error);
        return;
      }
      if (stage.active) submitMissingTasks(stage);
      return;
    }
    case TaskStatus::kFetchFailed: {
      ++stats.fetchFailures;
      auto mit = shuffleStages_.find(r.fetchShuffleId);
      if (mit == shuffleStages_.end()) {
        failJob("stage " + std::to_string(stage.id) + " (" + stats.name + ") partition " + std::to_string(p) +
                " read unknown shuffle " + std::to_string(r.fetchShuffleId) + ": " + r.error);
        return;
      }
      Stage& parent = *mit->second;
      // Whatever sat where the fetch failed is gone: forget every map output
      // at that location.
      if (!r.fetchLocation.executorId.empty()) {
        for (auto& [sid, s] : shuffleStages_) {
          for (auto& out : s->outputs) {
            if (out && *out == r.fetchLocation) out.reset();
          }
        }
      }
      if (r.fetchMapPartition >= 0 && static_cast<size_t>(r.fetchMapPartition) < parent.outputs.size()) {
        auto& out = parent.outputs[static_cast<size_t>(r.fetchMapPartition)];
        if (out && (r.fetchLocation.executorId.empty() || *out == r.fetchLocation)) out.reset();
      }
      if (running.epoch == stage.epoch && stage.active) {
        if (++stage.fetchFailures >= options_.maxFetchFailures) {
          failJob("stage " + std::to_string(stage.id) + " (" + stats.name + ") failed " +
                  std::to_string(stage.fetchFailures) + " times because shuffle inputs were lost; last error: " +
                  r.error);
          return;
        }
      }
      if (stage.active) {
        stage.active = false;
        stage.waiting = true;
      }
      if (stage.waiting) {
        // Recompute what the parent lacks, then this stage runs again.
        submitStage(parent);
        if (!parent.active && !parent.waiting && available(parent)) submitWaitingStages();
      }
      return;
    }
  }
}

LostData DagScheduler::executorLost(const std::string& executorId, bool shuffleOutputsLost) {
  LostData lost;
  lostExecutors_.insert(executorId);
  for (auto it = cacheLocs_.begin(); it != cacheLocs_.end();) {
    if (it->second.erase(executorId) != 0 && it->second.empty()) ++lost.cachedPartitions;
    it = it->second.empty() ? cacheLocs_.erase(it) : std::next(it);
  }
  if (shuffleOutputsLost) {
    for (auto& [sid, s] : shuffleStages_) {
      for (auto& out : s->outputs) {
        if (out && out->executorId == executorId) {
          out.reset();
          ++lost.mapOutputs;
        }
      }
    }
  }
  if (jobRunning_) refreshDone();
  return lost;
}

}  // namespace clusternodes::spark
