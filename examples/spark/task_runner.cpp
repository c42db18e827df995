#include "spark/task_runner.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

namespace clusternodes::spark {

namespace fs = std::filesystem;

// ---- files ------------------------------------------------------------------

namespace {

void writeFile(const std::string& path, std::string_view data) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) throw std::runtime_error("cannot create " + path);
  bool ok = data.empty() || std::fwrite(data.data(), 1, data.size(), f) == data.size();
  ok = std::fclose(f) == 0 && ok;
  if (!ok) throw std::runtime_error("cannot write " + path);
}

std::string numbered(const char* prefix, int index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%05d", prefix, index);
  return buf;
}

}  // namespace

DirShuffleStore::DirShuffleStore(std::string executorId, std::string dir)
    : executorId_(std::move(executorId)), dir_(std::move(dir)) {}

std::string DirShuffleStore::runPath(int shuffleId, int mapPartition, int reducePartition) {
  return "shuffle_" + std::to_string(shuffleId) + "/map_" + std::to_string(mapPartition) + "/" +
         numbered("part_", reducePartition);
}

Result<MapOutputLocation> DirShuffleStore::write(int shuffleId, int mapPartition,
                                                 const std::vector<std::string>& runs) {
  try {
    fs::path shuffleDir = fs::path(dir_) / ("shuffle_" + std::to_string(shuffleId));
    fs::create_directories(shuffleDir);
    fs::path tmp = shuffleDir / (".map_" + std::to_string(mapPartition) + "." + std::to_string(++sequence_));
    fs::create_directories(tmp);
    for (size_t r = 0; r < runs.size(); ++r) {
      writeFile((tmp / numbered("part_", static_cast<int>(r))).string(), runs[r]);
    }
    fs::path final = shuffleDir / ("map_" + std::to_string(mapPartition));
    std::error_code ec;
    fs::remove_all(final, ec);  // a retried task replaces the output
    fs::rename(tmp, final);
    return MapOutputLocation{executorId_, dir_};
  } catch (const std::exception& e) {
    return internalError(std::string("cannot write shuffle output: ") + e.what());
  }
}

Result<std::string> DirShuffleStore::read(const MapOutputLocation& location, int shuffleId, int mapPartition,
                                          int reducePartition) {
  std::string path = location.address + "/" + runPath(shuffleId, mapPartition, reducePartition);
  std::ifstream in(path, std::ios::binary);
  if (!in) return notFound("shuffle output " + path + " is missing");
  std::ostringstream data;
  data << in.rdbuf();
  if (in.bad()) return internalError("cannot read " + path);
  return std::move(data).str();
}

Block MemoryBlockCache::get(int nodeId, int partition) {
  std::lock_guard lock(mu_);
  auto it = blocks_.find({nodeId, partition});
  if (it == blocks_.end()) {
    ++misses_;
    return nullptr;
  }
  ++hits_;
  return it->second;
}

void MemoryBlockCache::put(int nodeId, int partition, Block block) {
  std::lock_guard lock(mu_);
  blocks_[{nodeId, partition}] = std::move(block);
}

void MemoryBlockCache::clear() {
  std::lock_guard lock(mu_);
  blocks_.clear();
}

size_t MemoryBlockCache::size() const {
  std::lock_guard lock(mu_);
  return blocks_.size();
}

int rangePartition(const std::vector<std::string>& bounds, bool ascending, std::string_view key) {
  auto it = std::upper_bound(bounds.begin(), bounds.end(), key,
                             [](std::string_view k, const std::string& b) { return k < std::string_view(b); });
  int index = static_cast<int>(it - bounds.begin());
  return ascending ? index : static_cast<int>(bounds.size()) - index;
}

// ---- one task ---------------------------------------------------------------

namespace {

// A shuffle input that could not be read: the task reports kFetchFailed.
struct FetchFailure {
  int shuffleId;
  int mapPartition;
  std::string message;
  MapOutputLocation location;
};

using Records = std::vector<Record>;

class Execution {
 public:
  Execution(const TaskDescription& task, const Plan& plan, const FunctionRegistry& registry, ShuffleStore& shuffle,
            BlockCache& cache, TaskResult& result)
      : task_(task), plan_(plan), registry_(registry), shuffle_(shuffle), cache_(cache), result_(result) {}

  // The records of partition p of `node`.
  Block compute(const Node& node, int p) {
    if (p < 0 || p >= node.numPartitions) {
      throw std::runtime_error("partition " + std::to_string(p) + " of node " + std::to_string(node.id) +
                               " does not exist");
    }
    if (node.cached) {
      if (Block block = cache_.get(node.id, p)) {
        ++result_.metrics.cacheHits;
        return block;
      }
      ++result_.metrics.cacheMisses;
    }
    auto block = std::make_shared<const Records>(computeUncached(node, p));
    if (node.cached) {
      cache_.put(node.id, p, block);
      result_.cachedBlocks.emplace_back(node.id, p);
    }
    return block;
  }

  // The runs a shuffle map task writes for `wide`'s shuffle `parentIndex`.
  std::vector<std::string> shuffleRuns(const Records& records, const Node& wide) {
    const int reducers = wide.numPartitions;
    std::vector<std::vector<const Record*>> buckets(static_cast<size_t>(reducers));
    auto bucketOf = [&](const Record& r) -> size_t {
      if (wide.op == Op::kSortByKey) return static_cast<size_t>(rangePartition(wide.bounds, wide.ascending, r.key));
      uint64_t h = fnv1a64(r.key);
      if (wide.op == Op::kDistinct) h = fnv1a64(r.value, h * 31 + 7);
      return static_cast<size_t>(h % static_cast<uint64_t>(reducers));
    };
    std::vector<std::string> runs(static_cast<size_t>(reducers));
    if (reducers == 0) return runs;
    if (wide.op == Op::kReduceByKey) {
      // Combine map-side first: one record per key leaves this task.
      const ReduceFn& fn = reduceFn(wide.fn);
      std::unordered_map<std::string_view, std::string> combined;
      for (const auto& r : records) {
        auto [it, inserted] = combined.try_emplace(r.key, r.value);
        if (!inserted) it->second = fn(it->second, r.value);
      }
      std::vector<std::vector<RecordView>> views(runs.size());
      for (const auto& [key, value] : combined) {
        size_t b = static_cast<size_t>(fnv1a64(key) % static_cast<uint64_t>(reducers));
        views[b].push_back({key, value});
      }
      for (size_t b = 0; b < runs.size(); ++b) {
        std::sort(views[b].begin(), views[b].end(), lessKeyValue);
        for (const auto& v : views[b]) appendRecord(runs[b], v.key, v.value);
      }
    } else {
      for (const auto& r : records) buckets[bucketOf(r)].push_back(&r);
      for (size_t b = 0; b < runs.size(); ++b) {
        auto& bucket = buckets[b];
        std::sort(bucket.begin(), bucket.end(), [](const Record* x, const Record* y) {
          return lessKeyValue({x->key, x->value}, {y->key, y->value});
        });
        const Record* last = nullptr;
        for (const Record* r : bucket) {
          if (wide.op == Op::kDistinct && last != nullptr && *last == *r) continue;
          appendRecord(runs[b], *r);
          last = r;
        }
      }
    }
    for (const auto& run : runs) result_.metrics.shuffleBytesWritten += static_cast<int64_t>(run.size());
    return runs;
  }

 private:
  const ReduceFn& reduceFn(const std::string& name) {
    const ReduceFn* fn = registry_.findReduce(name);
    if (fn == nullptr) throw std::runtime_error("no reduce function named '" + name + "' in this executor");
    return *fn;
  }

  template <typename Fn>
  const Fn& lookup(const Fn* fn, const Node& node) {
    if (fn == nullptr) {
      throw std::runtime_error(std::string("no ") + toString(node.op) + " function named '" + node.fn +
                               "' in this executor");
    }
    return *fn;
  }

  Records computeUncached(const Node& node, int p) {
    Records out;
    switch (node.op) {
      case Op::kTextFile: {
        ++result_.metrics.sourceReads;
        readSplitLines(node.splits[static_cast<size_t>(p)],
                       [&out](std::string_view line) { out.push_back(Record{std::string(), std::string(line)}); });
        return out;
      }
      case Op::kParallelize:
        ++result_.metrics.sourceReads;
        return node.slices[static_cast<size_t>(p)];
      case Op::kMap: {
        const MapFn& fn = lookup(registry_.findMap(node.fn), node);
        Block in = compute(*node.parents[0], p);
        out.reserve(in->size());
        for (const auto& r : *in) out.push_back(fn(r));
        return out;
      }
      case Op::kFlatMap: {
        const FlatMapFn& fn = lookup(registry_.findFlatMap(node.fn), node);
        Block in = compute(*node.parents[0], p);
        Emit emit(&out);
        for (const auto& r : *in) fn(r, emit);
        return out;
      }
      case Op::kFilter: {
        const FilterFn& fn = lookup(registry_.findFilter(node.fn), node);
        Block in = compute(*node.parents[0], p);
        for (const auto& r : *in) {
          if (fn(r)) out.push_back(r);
        }
        return out;
      }
      case Op::kMapValues: {
        const MapValuesFn& fn = lookup(registry_.findMapValues(node.fn), node);
        Block in = compute(*node.parents[0], p);
        out.reserve(in->size());
        for (const auto& r : *in) out.push_back(Record{r.key, fn(r.value)});
        return out;
      }
      case Op::kUnion: {
        auto [parent, pp] = unionSource(node, p);
        return *compute(*node.parents[parent], pp);
      }
      case Op::kReduceByKey: {
        const ReduceFn& fn = reduceFn(node.fn);
        Shuffled in = readShuffle(node, 0, p);
        forEachGroup(in, [&](std::string_view key, const std::vector<std::string_view>& values) {
          std::string acc(values[0]);
          for (size_t i = 1; i < values.size(); ++i) acc = fn(acc, std::string(values[i]));
          out.push_back(Record{std::string(key), std::move(acc)});
        });
        return out;
      }
      case Op::kGroupByKey: {
        Shuffled in = readShuffle(node, 0, p);
        forEachGroup(in, [&](std::string_view key, const std::vector<std::string_view>& values) {
          std::string joined;
          for (size_t i = 0; i < values.size(); ++i) {
            if (i > 0) joined.push_back(kGroupSeparator);
            joined.append(values[i]);
          }
          out.push_back(Record{std::string(key), std::move(joined)});
        });
        return out;
      }
      case Op::kDistinct: {
        Shuffled in = readShuffle(node, 0, p);
        RecordView v;
        while (in.merger.next(v)) {
          if (!out.empty() && out.back().key == v.key && out.back().value == v.value) continue;
          out.push_back(Record{std::string(v.key), std::string(v.value)});
        }
        return out;
      }
      case Op::kSortByKey: {
        Shuffled in = readShuffle(node, 0, p);
        RecordView v;
        while (in.merger.next(v)) out.push_back(Record{std::string(v.key), std::string(v.value)});
        if (!node.ascending) std::reverse(out.begin(), out.end());
        return out;
      }
      case Op::kJoin: {
        Shuffled left = readShuffle(node, 0, p);
        Shuffled right = readShuffle(node, 1, p);
        std::vector<std::pair<std::string_view, std::vector<std::string_view>>> rightGroups;
        forEachGroup(right, [&](std::string_view key, const std::vector<std::string_view>& values) {
          rightGroups.emplace_back(key, values);
        });
        size_t ri = 0;
        forEachGroup(left, [&](std::string_view key, const std::vector<std::string_view>& values) {
          while (ri < rightGroups.size() && rightGroups[ri].first < key) ++ri;
          if (ri == rightGroups.size() || rightGroups[ri].first != key) return;
          for (auto l : values) {
            for (auto r : rightGroups[ri].second) {
              std::string value;
              value.reserve(l.size() + r.size() + 1);
              value.append(l).append("\t").append(r);
              out.push_back(Record{std::string(key), std::move(value)});
            }
          }
        });
        return out;
      }
    }
    throw std::runtime_error("unknown operation");
  }

  // The merged, sorted records of one reduce partition of a shuffle.
  struct Shuffled {
    std::vector<std::string> blobs;  // the runs' bytes, which the views point into
    RunMerger merger{{}};
  };

  Shuffled readShuffle(const Node& wide, size_t parentIndex, int p) {
    int shuffleId = wide.shuffleIds[parentIndex];
    auto it = task_.shuffleInputs.find(shuffleId);
    if (it == task_.shuffleInputs.end()) {
      throw std::runtime_error("the task names no map outputs for shuffle " + std::to_string(shuffleId));
    }
    const auto& outputs = it->second;
    Shuffled s;
    s.blobs.reserve(outputs.size());
    for (size_t m = 0; m < outputs.size(); ++m) {
      if (!outputs[m]) {
        throw FetchFailure{shuffleId, static_cast<int>(m), "map output " + std::to_string(m) + " of shuffle " +
                                                               std::to_string(shuffleId) + " is missing", {}};
      }
      auto run = shuffle_.read(*outputs[m], shuffleId, static_cast<int>(m), p);
      if (!run) throw FetchFailure{shuffleId, static_cast<int>(m), run.error().message, *outputs[m]};
      result_.metrics.shuffleBytesRead += static_cast<int64_t>(run->size());
      s.blobs.push_back(std::move(*run));
    }
    std::vector<std::vector<RecordView>> runs(s.blobs.size());
    for (size_t m = 0; m < s.blobs.size(); ++m) {
      if (!decodeRun(s.blobs[m], runs[m])) {
        throw std::runtime_error("map output " + std::to_string(m) + " of shuffle " + std::to_string(shuffleId) +
                                 " is malformed");
      }
    }
    s.merger = RunMerger(std::move(runs));
    return s;
  }

  // Calls group(key, values) once per distinct key, in key order.
  template <typename Group>
  static void forEachGroup(Shuffled& in, Group&& group) {
    RecordView v;
    if (!in.merger.next(v)) return;
    std::vector<std::string_view> values{v.value};
    std::string_view key = v.key;
    while (in.merger.next(v)) {
      if (v.key != key) {
        group(key, values);
        values.clear();
        key = v.key;
      }
      values.push_back(v.value);
    }
    group(key, values);
  }

  const TaskDescription& task_;
  const Plan& plan_;
  const FunctionRegistry& registry_;
  ShuffleStore& shuffle_;
  BlockCache& cache_;
  TaskResult& result_;
};

void saveLines(const Records& records, const std::string& dir, int partition, int64_t taskId) {
  std::string data;
  for (const auto& r : records) {
    if (!r.key.empty()) {
      data.append(r.key);
      data.push_back('\t');
    }
    data.append(r.value);
    data.push_back('\n');
  }
  fs::path tmpDir = fs::path(dir) / "_temporary";
  fs::create_directories(tmpDir);
  std::string name = numbered("part-", partition);
  fs::path tmp = tmpDir / (name + ".task-" + std::to_string(taskId));
  writeFile(tmp.string(), data);
  fs::rename(tmp, fs::path(dir) / name);
}

std::string applyAction(const TaskDescription& task, const Records& records, const FunctionRegistry& registry) {
  const ActionSpec& a = task.action;
  switch (a.kind) {
    case ActionKind::kCollect:
      return encodeRun(records);
    case ActionKind::kCount:
      return std::to_string(records.size());
    case ActionKind::kTake: {
      std::string run;
      size_t n = std::min(records.size(), static_cast<size_t>(std::max<int64_t>(a.n, 0)));
      for (size_t i = 0; i < n; ++i) appendRecord(run, records[i]);
      return run;
    }
    case ActionKind::kReduce: {
      const ReduceFn* fn = registry.findReduce(a.fn);
      if (fn == nullptr) throw std::runtime_error("no reduce function named '" + a.fn + "' in this executor");
      if (records.empty()) return std::string();
      std::string acc = records[0].value;
      for (size_t i = 1; i < records.size(); ++i) acc = (*fn)(acc, records[i].value);
      return "=" + acc;
    }
    case ActionKind::kSave:
      saveLines(records, a.outputDir, task.partition, task.taskId);
      return std::to_string(records.size());
    case ActionKind::kSampleKeys: {
      std::string run;
      size_t n = static_cast<size_t>(std::max<int64_t>(a.n, 0));
      if (records.empty() || n == 0) return run;
      size_t count = std::min(n, records.size());
      for (size_t i = 0; i < count; ++i) appendRecord(run, records[i * records.size() / count].key, "");
      return run;
    }
  }
  throw std::runtime_error("unknown action");
}

}  // namespace

TaskRunner::TaskRunner(std::string executorId, const FunctionRegistry& registry, ShuffleStore& shuffle,
                       BlockCache& cache)
    : executorId_(std::move(executorId)), registry_(registry), shuffle_(shuffle), cache_(cache) {}

TaskResult TaskRunner::run(const TaskDescription& task) {
  TaskResult result;
  result.taskId = task.taskId;
  result.stageId = task.stageId;
  result.partition = task.partition;
  result.attempt = task.attempt;
  result.executorId = executorId_;
  auto fail = [&result](TaskStatus status, std::string error) {
    result.status = status;
    result.error = std::move(error);
    result.result.clear();
    result.mapOutputSizes.clear();
  };
  try {
    if (!task.plan) throw std::runtime_error("the task carries no plan");
    auto plan = parsePlan(*task.plan);
    if (!plan) throw std::runtime_error(plan.error().message);
    NodePtr node = plan->find(task.nodeId);
    if (!node) throw std::runtime_error("the plan has no node " + std::to_string(task.nodeId));
    Execution exec(task, *plan, registry_, shuffle_, cache_, result);
    Block records = exec.compute(*node, task.partition);
    result.metrics.recordsOut = static_cast<int64_t>(records->size());
    if (task.isShuffleMap()) {
      NodePtr wide = plan->find(task.shuffleNodeId);
      if (!wide || !isWide(wide->op)) throw std::runtime_error("the plan has no wide node " + std::to_string(task.shuffleNodeId));
      auto runs = exec.shuffleRuns(*records, *wide);
      auto location = shuffle_.write(task.shuffleId, task.partition, runs);
      if (!location) throw std::runtime_error(location.error().message);
      result.mapOutput = *location;
      for (const auto& run : runs) result.mapOutputSizes.push_back(static_cast<int64_t>(run.size()));
    } else {
      result.result = applyAction(task, *records, registry_);
    }
    result.status = TaskStatus::kSuccess;
  } catch (const FetchFailure& f) {
    fail(TaskStatus::kFetchFailed, f.message);
    result.fetchShuffleId = f.shuffleId;
    result.fetchMapPartition = f.mapPartition;
    result.fetchLocation = f.location;
  } catch (const std::exception& e) {
    fail(TaskStatus::kFailed, e.what());
  } catch (...) {
    fail(TaskStatus::kFailed, "unknown exception");
  }
  return result;
}

}  // namespace clusternodes::spark
