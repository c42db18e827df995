// clusternodes Spark-style framework: a driver with an RDD-like API whose
// jobs run as many short tasks on a few long-lived executors.
//
// Writing a program
// -----------------
// A program registers its functions by name, then builds datasets from a
// Context and runs actions on them:
//
//   #include "spark/context.hpp"
//   #include "spark/local_backend.hpp"
//   using namespace clusternodes::spark;
//
//   int main(int argc, char** argv) {
//     FunctionRegistry registry;  // built-ins: split_words, pair_with_one, sum, ...
//     registry.filter("long", [](const Record& r) { return r.value.size() > 3; });
//     // (cluster mode, next increment: when started by an agent as the
//     //  executor, the program hands `registry` to the executor here and
//     //  returns; nothing above this line may depend on being the driver.)
//     auto ctx = Context::create(registry, std::make_unique<LocalBackend>(registry, LocalOptions{.executors = 4}));
//     if (!ctx) { std::cerr << ctx.error().message << "\n"; return 1; }
//     auto counts = ctx->textFile(argv[1]).flatMap("split_words").filter("long")
//                       .map("pair_with_one").reduceByKey("sum");
//     counts.saveAsTextFile(argv[2]);   // part-00000 ... lines "word<TAB>count"
//   }
//
// Functions are named, never shipped: the same binary runs as driver and as
// executor, and both register the same names at start-up, so a task is just
// "this plan, this node, this partition" (plan.hpp, task.hpp). See
// functions.hpp for the signatures and the built-ins.
//
// Data model: every element is a Record {key, value} of bytes. textFile and
// parallelize(strings) give plain records (key empty, value = line); map
// functions like pair_with_one or parse_pair make pairs. Wide operations
// work on keys; reduce() and saveAsTextFile() on plain datasets use values.
//
// Execution: an action builds a job; the DAG scheduler (dag.hpp) splits it
// into stages at shuffles, skips stages whose shuffle outputs a previous job
// left behind, and retries failed tasks (4 attempts). Lost executors'
// shuffle outputs and cached partitions are recomputed from lineage,
// re-running only what was lost. Tasks run on a Backend (backend.hpp):
// LocalBackend runs executors as thread pools in this process (tests, small
// jobs); the cluster backend runs one executor per agent.
//
// Progress: each stage prints "stage 3 (reduceByKey at wc.cpp:12): 5/8
// tasks" to stderr as it goes and each job a summary line; set
// ContextOptions::quiet to silence them.
//
// Threads: a Context and its Datasets are used from one thread (the
// driver's); actions block until their job ends.
#pragma once

#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "clusternodes/result.hpp"
#include "spark/backend.hpp"
#include "spark/dag.hpp"
#include "spark/dataset.hpp"
#include "spark/functions.hpp"

namespace clusternodes::spark {

struct ContextOptions {
  // Partitions of textFile/parallelize when not given; 0: the backend's
  // total cores, at least 2.
  int defaultParallelism = 0;
  int maxTaskAttempts = 4;   // failed attempts of one partition before a job fails
  bool quiet = false;        // no progress lines or job summaries
  std::ostream* log = nullptr;  // where they go; null: std::cerr
  // Called on the driver thread with every task outcome, before the
  // scheduler sees it (tests use it to lose executors mid-job).
  std::function<void(const TaskResult&)> onTaskEnded;
};

class Context {
 public:
  // Starts the backend. `registry` must outlive the Context and its
  // Datasets. Fails when the backend cannot start.
  static Result<Context> create(const FunctionRegistry& registry, std::unique_ptr<Backend> backend,
                                ContextOptions options = {});
  Context(Context&&) noexcept = default;
  Context& operator=(Context&&) noexcept = default;
  ~Context();  // stops the backend

  // The lines of a file, or of a directory's files (names starting with '_'
  // or '.' skipped), split by byte ranges into about minPartitions
  // partitions (0: default parallelism). std::invalid_argument when the path
  // does not exist.
  Dataset textFile(const std::string& path, int minPartitions = 0, Site site = Site::current());
  // Plain records with these values, in numSlices contiguous slices.
  Dataset parallelize(const std::vector<std::string>& values, int numSlices = 0, Site site = Site::current());
  // These records, in numSlices contiguous slices.
  Dataset parallelize(const std::vector<Record>& records, int numSlices = 0, Site site = Site::current());

  // The last job's counters (stages run and skipped, tasks, failed
  // attempts, cache hits, source reads, shuffle bytes).
  const JobStats& lastJob() const;
  // Every job so far, in order.
  const std::vector<JobStats>& jobs() const;
  int defaultParallelism() const;
  Backend& backend();
  const DagScheduler& scheduler() const;

 private:
  explicit Context(std::shared_ptr<detail::ContextCore> core) : core_(std::move(core)) {}
  std::shared_ptr<detail::ContextCore> core_;
};

// "1.5 MiB"
std::string humanBytes(int64_t bytes);

}  // namespace clusternodes::spark
