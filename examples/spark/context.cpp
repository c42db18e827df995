#include "spark/context.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>

namespace clusternodes::spark {

namespace fs = std::filesystem;

std::string humanBytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  }
  return buf;
}

namespace detail {

std::string siteText(const Site& site) {
  std::string file = fs::path(site.file_name()).filename().string();
  return file + ":" + std::to_string(site.line());
}

struct ContextCore {
  const FunctionRegistry& registry;
  std::unique_ptr<Backend> backend;
  ContextOptions options;
  DagScheduler dag;
  int nextNodeId = 1;
  int nextShuffleId = 0;
  std::vector<JobStats> jobs;

  ContextCore(const FunctionRegistry& r, std::unique_ptr<Backend> b, ContextOptions o)
      : registry(r), backend(std::move(b)), options(std::move(o)), dag(DagOptions{options.maxTaskAttempts, 4}) {}

  std::ostream& log() { return options.log != nullptr ? *options.log : std::cerr; }

  int defaultParallelism() const {
    if (options.defaultParallelism > 0) return options.defaultParallelism;
    return std::max(2, backend->totalCores());
  }

  std::shared_ptr<Node> makeNode(Op op, std::vector<NodePtr> parents, const Site& site) {
    auto node = std::make_shared<Node>();
    node->id = nextNodeId++;
    node->op = op;
    node->parents = std::move(parents);
    node->site = siteText(site);
    if (isWide(op)) {
      for (size_t i = 0; i < node->parents.size(); ++i) node->shuffleIds.push_back(nextShuffleId++);
    }
    return node;
  }

  void checkFunction(const char* op, const std::string& fn, FunctionKind kind) const {
    auto ok = registry.check(fn, kind);
    if (!ok) throw std::invalid_argument(std::string(op) + "(\"" + fn + "\"): " + ok.error().message);
  }

  void apply(const BackendEvent& event) {
    switch (event.kind) {
      case BackendEvent::Kind::kTaskEnded:
        if (options.onTaskEnded) options.onTaskEnded(event.result);
        dag.taskEnded(event.result);
        break;
      case BackendEvent::Kind::kExecutorLost: {
        LostData lost = dag.executorLost(event.executorId, event.shuffleOutputsLost);
        if (!options.quiet) {
          log() << "executor " << event.executorId << " lost (" << event.reason << "): " << lost.mapOutputs
                << " map outputs and " << lost.cachedPartitions << " cached partitions to recompute\n";
        }
        break;
      }
      case BackendEvent::Kind::kExecutorAdded:
        break;
    }
  }

  // Runs one job to its end; its per-partition results. Throws JobError.
  std::vector<std::string> runJob(const NodePtr& node, ActionSpec action, std::vector<int> partitions,
                                  const Site& site) {
    // Learn what happened since the last job (lost executors) before planning.
    while (auto event = backend->nextEvent(std::chrono::milliseconds(0))) apply(*event);
    std::string name = std::string(toString(action.kind)) + " at " + siteText(site);
    auto start = std::chrono::steady_clock::now();
    dag.submitJob(node, std::move(action), std::move(partitions), name);
    std::map<int, int> printed;  // stage -> done count last printed
    auto lastPrint = start;
    auto progress = [&](bool force) {
      if (options.quiet) return;
      auto now = std::chrono::steady_clock::now();
      for (const auto& s : dag.jobStats().stages) {
        auto it = printed.find(s.stageId);
        bool finished = s.done == s.partitions;
        if (it != printed.end() && it->second == s.done) continue;
        if (!force && !finished && it != printed.end() && now - lastPrint < std::chrono::milliseconds(500)) continue;
        log() << "stage " << s.stageId << " (" << s.name << "): " << s.done << "/" << s.partitions << " tasks";
        if (finished && s.tasksLaunched > s.partitions) {
          // Work done twice: retries, and partitions recomputed after a loss.
          log() << " (" << s.tasksLaunched << " launched, " << s.failedAttempts << " failed attempts)";
        }
        log() << "\n";
        printed[s.stageId] = s.done;
        lastPrint = now;
      }
    };
    for (;;) {
      for (auto& task : dag.takeTasks()) backend->submit(std::move(task));
      if (!dag.jobRunning()) break;
      progress(false);
      auto event = backend->nextEvent(std::chrono::milliseconds(200));
      if (event) apply(*event);
    }
    progress(true);
    JobStats stats = dag.jobStats();
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    jobs.push_back(stats);
    if (!options.quiet) {
      char secs[32];
      std::snprintf(secs, sizeof secs, "%.2f", seconds);
      if (stats.succeeded) {
        log() << "job " << stats.jobId << " (" << stats.name << ") finished in " << secs
              << " s: " << stats.stages.size() << " stages run, " << stats.stagesSkipped << " skipped, "
              << stats.tasks << " tasks, " << stats.failedAttempts << " failed attempts, "
              << stats.metrics.cacheHits << " cache hits, " << stats.metrics.sourceReads << " source reads, shuffle "
              << humanBytes(stats.metrics.shuffleBytesWritten) << " written / "
              << humanBytes(stats.metrics.shuffleBytesRead) << " read\n";
      } else {
        log() << "job " << stats.jobId << " (" << stats.name << ") failed after " << secs << " s: " << stats.error
              << "\n";
      }
    }
    if (!stats.succeeded) throw JobError("job " + std::to_string(stats.jobId) + " (" + name + ") failed: " + stats.error);
    return dag.results();
  }
};

}  // namespace detail

using detail::ContextCore;

// ---- Context ----------------------------------------------------------------

Result<Context> Context::create(const FunctionRegistry& registry, std::unique_ptr<Backend> backend,
                                ContextOptions options) {
  if (!backend) return invalid("no backend");
  auto started = backend->start();
  if (!started) return started.error();
  return Context(std::make_shared<ContextCore>(registry, std::move(backend), std::move(options)));
}

Context::~Context() {
  if (core_ && core_->backend) core_->backend->stop();
}

Dataset Context::textFile(const std::string& path, int minPartitions, Site site) {
  auto splits = computeTextSplits(path, minPartitions > 0 ? minPartitions : core_->defaultParallelism());
  if (!splits) throw std::invalid_argument("textFile(\"" + path + "\"): " + splits.error().message);
  auto node = core_->makeNode(Op::kTextFile, {}, site);
  node->splits = std::move(*splits);
  node->numPartitions = static_cast<int>(node->splits.size());
  return Dataset(core_, std::move(node));
}

Dataset Context::parallelize(const std::vector<Record>& records, int numSlices, Site site) {
  int slices = numSlices > 0 ? numSlices : core_->defaultParallelism();
  auto node = core_->makeNode(Op::kParallelize, {}, site);
  size_t n = records.size();
  for (int i = 0; i < slices; ++i) {
    size_t begin = n * static_cast<size_t>(i) / static_cast<size_t>(slices);
    size_t end = n * static_cast<size_t>(i + 1) / static_cast<size_t>(slices);
    node->slices.emplace_back(records.begin() + static_cast<std::ptrdiff_t>(begin),
                              records.begin() + static_cast<std::ptrdiff_t>(end));
  }
  node->numPartitions = slices;
  return Dataset(core_, std::move(node));
}

Dataset Context::parallelize(const std::vector<std::string>& values, int numSlices, Site site) {
  std::vector<Record> records;
  records.reserve(values.size());
  for (const auto& v : values) records.push_back(Record{std::string(), v});
  return parallelize(records, numSlices, site);
}

const JobStats& Context::lastJob() const {
  static const JobStats kNone;
  return core_->jobs.empty() ? kNone : core_->jobs.back();
}
const std::vector<JobStats>& Context::jobs() const { return core_->jobs; }
int Context::defaultParallelism() const { return core_->defaultParallelism(); }
Backend& Context::backend() { return *core_->backend; }
const DagScheduler& Context::scheduler() const { return core_->dag; }

// ---- Dataset: transformations -------------------------------------------------

Dataset Dataset::map(const std::string& fn, Site site) const {
  core_->checkFunction("map", fn, FunctionKind::kMap);
  auto node = core_->makeNode(Op::kMap, {node_}, site);
  node->fn = fn;
  node->numPartitions = node_->numPartitions;
  return Dataset(core_, node);
}

Dataset Dataset::flatMap(const std::string& fn, Site site) const {
  core_->checkFunction("flatMap", fn, FunctionKind::kFlatMap);
  auto node = core_->makeNode(Op::kFlatMap, {node_}, site);
  node->fn = fn;
  node->numPartitions = node_->numPartitions;
  return Dataset(core_, node);
}

Dataset Dataset::filter(const std::string& fn, Site site) const {
  core_->checkFunction("filter", fn, FunctionKind::kFilter);
  auto node = core_->makeNode(Op::kFilter, {node_}, site);
  node->fn = fn;
  node->numPartitions = node_->numPartitions;
  return Dataset(core_, node);
}

Dataset Dataset::mapValues(const std::string& fn, Site site) const {
  core_->checkFunction("mapValues", fn, FunctionKind::kMapValues);
  auto node = core_->makeNode(Op::kMapValues, {node_}, site);
  node->fn = fn;
  node->numPartitions = node_->numPartitions;
  return Dataset(core_, node);
}

namespace {

void sameContext(const std::shared_ptr<ContextCore>& ca, const std::shared_ptr<ContextCore>& cb, const char* op) {
  if (ca != cb) throw std::invalid_argument(std::string(op) + ": the datasets belong to different contexts");
}

int widePartitions(int requested, const std::vector<NodePtr>& parents) {
  if (requested > 0) return requested;
  int n = 1;
  for (const auto& p : parents) n = std::max(n, p->numPartitions);
  return n;
}

}  // namespace

Dataset Dataset::unionWith(const Dataset& other, Site site) const {
  sameContext(core_, other.core_, "union");
  auto node = core_->makeNode(Op::kUnion, {node_, other.node_}, site);
  node->numPartitions = node_->numPartitions + other.node_->numPartitions;
  return Dataset(core_, node);
}

Dataset Dataset::reduceByKey(const std::string& fn, int numPartitions, Site site) const {
  core_->checkFunction("reduceByKey", fn, FunctionKind::kReduce);
  auto node = core_->makeNode(Op::kReduceByKey, {node_}, site);
  node->fn = fn;
  node->numPartitions = widePartitions(numPartitions, node->parents);
  return Dataset(core_, node);
}

Dataset Dataset::groupByKey(int numPartitions, Site site) const {
  auto node = core_->makeNode(Op::kGroupByKey, {node_}, site);
  node->numPartitions = widePartitions(numPartitions, node->parents);
  return Dataset(core_, node);
}

Dataset Dataset::join(const Dataset& other, int numPartitions, Site site) const {
  sameContext(core_, other.core_, "join");
  auto node = core_->makeNode(Op::kJoin, {node_, other.node_}, site);
  node->numPartitions = widePartitions(numPartitions, node->parents);
  return Dataset(core_, node);
}

Dataset Dataset::distinct(int numPartitions, Site site) const {
  auto node = core_->makeNode(Op::kDistinct, {node_}, site);
  node->numPartitions = widePartitions(numPartitions, node->parents);
  return Dataset(core_, node);
}

Dataset Dataset::sortByKey(bool ascending, int numPartitions, Site site) const {
  int wanted = widePartitions(numPartitions, {node_});
  std::vector<std::string> bounds;
  if (wanted > 1 && node_->numPartitions > 0) {
    // Sample keys evenly from every partition, then cut the sorted sample
    // into `wanted` ranges.
    int parts = node_->numPartitions;
    ActionSpec sample;
    sample.kind = ActionKind::kSampleKeys;
    sample.n = std::clamp<int64_t>(20LL * wanted / parts + 1, 20, 1000);
    auto results = core_->runJob(node_, sample, {}, site);
    std::vector<std::string> keys;
    for (const auto& run : results) {
      std::vector<Record> records;
      if (!decodeRun(run, records)) throw JobError("sortByKey: a malformed key sample");
      for (auto& r : records) keys.push_back(std::move(r.key));
    }
    std::sort(keys.begin(), keys.end());
    for (int i = 1; i < wanted && !keys.empty(); ++i) {
      const std::string& b = keys[keys.size() * static_cast<size_t>(i) / static_cast<size_t>(wanted)];
      if (bounds.empty() || bounds.back() < b) bounds.push_back(b);
    }
  }
  auto node = core_->makeNode(Op::kSortByKey, {node_}, site);
  node->ascending = ascending;
  node->bounds = std::move(bounds);
  node->numPartitions = static_cast<int>(node->bounds.size()) + 1;
  return Dataset(core_, node);
}

Dataset& Dataset::cache() {
  node_->cached = true;
  return *this;
}

int Dataset::id() const { return node_->id; }
int Dataset::numPartitions() const { return node_->numPartitions; }

// ---- Dataset: actions ---------------------------------------------------------

namespace {

ActionSpec actionOf(ActionKind kind) {
  ActionSpec action;
  action.kind = kind;
  return action;
}

std::vector<Record> decodeAll(const std::vector<std::string>& runs) {
  std::vector<Record> out;
  for (const auto& run : runs) {
    if (!decodeRun(run, out)) throw JobError("a task returned malformed records");
  }
  return out;
}

}  // namespace

std::vector<Record> Dataset::collect(Site site) const {
  return decodeAll(core_->runJob(node_, actionOf(ActionKind::kCollect), {}, site));
}

int64_t Dataset::count(Site site) const {
  int64_t total = 0;
  for (const auto& r : core_->runJob(node_, actionOf(ActionKind::kCount), {}, site)) total += parseInt64(r);
  return total;
}

std::vector<Record> Dataset::take(int64_t n, Site site) const {
  std::vector<Record> out;
  int next = 0;
  int batch = 1;
  const int total = node_->numPartitions;
  while (static_cast<int64_t>(out.size()) < n && next < total) {
    std::vector<int> parts;
    for (int p = next; p < std::min(total, next + batch); ++p) parts.push_back(p);
    next += static_cast<int>(parts.size());
    batch *= 4;
    ActionSpec action = actionOf(ActionKind::kTake);
    action.n = n - static_cast<int64_t>(out.size());
    for (auto& r : decodeAll(core_->runJob(node_, action, parts, site))) {
      if (static_cast<int64_t>(out.size()) >= n) break;
      out.push_back(std::move(r));
    }
  }
  return out;
}

std::string Dataset::reduce(const std::string& fn, Site site) const {
  core_->checkFunction("reduce", fn, FunctionKind::kReduce);
  ActionSpec action = actionOf(ActionKind::kReduce);
  action.fn = fn;
  auto results = core_->runJob(node_, action, {}, site);
  const ReduceFn& f = *core_->registry.findReduce(fn);
  std::optional<std::string> acc;
  for (const auto& r : results) {
    if (r.empty()) continue;
    std::string value = r.substr(1);
    acc = acc ? f(*acc, value) : value;
  }
  if (!acc) throw JobError("reduce(\"" + fn + "\") of an empty dataset");
  return *acc;
}

void Dataset::saveAsTextFile(const std::string& dir, Site site) const {
  std::error_code ec;
  fs::path out = fs::absolute(dir, ec);
  if (ec) throw std::invalid_argument("saveAsTextFile(\"" + dir + "\"): " + ec.message());
  if (fs::exists(out, ec) && !fs::is_empty(out, ec)) {
    throw std::invalid_argument("saveAsTextFile(\"" + dir + "\"): the directory exists and is not empty");
  }
  fs::create_directories(out, ec);
  if (ec) throw std::invalid_argument("saveAsTextFile(\"" + dir + "\"): cannot create it: " + ec.message());
  ActionSpec action = actionOf(ActionKind::kSave);
  action.outputDir = out.string();
  core_->runJob(node_, action, {}, site);
  fs::remove_all(out / "_temporary", ec);
  std::FILE* f = std::fopen((out / "_SUCCESS").c_str(), "wb");
  if (f == nullptr || std::fclose(f) != 0) throw JobError("saveAsTextFile: cannot write " + (out / "_SUCCESS").string());
}

}  // namespace clusternodes::spark
