// Dataset: a handle to one node of the lineage graph (see context.hpp for
// the overview). Copying a Dataset copies the handle; the node is shared and
// never changes, except that cache() marks it.
//
// Errors. Transformations check their arguments on the driver and throw
// std::invalid_argument at once: an unknown function name, a name of the
// wrong kind ("'sum' is a reduce function, not a map function"), datasets of
// two contexts. Actions run a job and throw JobError when it fails (a task
// failed 4 times, a stage lost its inputs 4 times), with a message naming the
// stage, the partition and the last error.
#pragma once

#include <cstdint>
#include <memory>
#include <source_location>
#include <stdexcept>
#include <string>
#include <vector>

#include "spark/plan.hpp"
#include "spark/record.hpp"

namespace clusternodes::spark {

namespace detail {
struct ContextCore;
}

// A job failed; what() names the stage, partition and last error.
class JobError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Where a transformation or action was declared, for progress lines
// ("reduceByKey at wordcount.cpp:31"). Leave it defaulted.
using Site = std::source_location;

class Dataset {
 public:
  // --- narrow transformations (no shuffle) ---
  // Each record through a registered map function.
  Dataset map(const std::string& fn, Site site = Site::current()) const;
  // 0..n records per record, from a registered flatMap function.
  Dataset flatMap(const std::string& fn, Site site = Site::current()) const;
  // The records a registered filter function keeps.
  Dataset filter(const std::string& fn, Site site = Site::current()) const;
  // (k, f(v)) for every (k, v), with a registered mapValues function.
  Dataset mapValues(const std::string& fn, Site site = Site::current()) const;
  // This dataset's partitions, then other's (`union` is a C++ keyword).
  Dataset unionWith(const Dataset& other, Site site = Site::current()) const;

  // --- wide transformations (a shuffle; numPartitions 0: the largest
  // parent's number of partitions) ---
  // One (k, v) per key, v folded with a registered reduce function, which
  // also combines map-side. Output keys ascend within each partition.
  Dataset reduceByKey(const std::string& fn, int numPartitions = 0, Site site = Site::current()) const;
  // One (k, v) per key; v is the key's values in bytewise order joined with
  // kGroupSeparator ('\x1f'); splitGroup() splits it.
  Dataset groupByKey(int numPartitions = 0, Site site = Site::current()) const;
  // (k, l + '\t' + r) for every pair of (k, l) here and (k, r) in other
  // (inner join), ordered by key, then l, then r.
  Dataset join(const Dataset& other, int numPartitions = 0, Site site = Site::current()) const;
  // Every record, ordered by key (then value) across partitions: partition
  // i's keys all come before partition i+1's. Runs a sampling job at once to
  // choose the ranges (as terasort does); numPartitions may come out lower
  // when the keys have few distinct values.
  Dataset sortByKey(bool ascending = true, int numPartitions = 0, Site site = Site::current()) const;
  // Each distinct (key, value) record once.
  Dataset distinct(int numPartitions = 0, Site site = Site::current()) const;

  // Keep computed partitions in the executors' memory for later jobs.
  // Returns *this; marks the node (every handle to it sees the mark).
  Dataset& cache();

  // --- actions: run a job; throw JobError when it fails ---
  // Every record, partition by partition.
  std::vector<Record> collect(Site site = Site::current()) const;
  int64_t count(Site site = Site::current()) const;
  // The first n records (scans as few partitions as it can).
  std::vector<Record> take(int64_t n, Site site = Site::current()) const;
  // The values folded with a registered reduce function (keys ignored);
  // JobError on an empty dataset.
  std::string reduce(const std::string& fn, Site site = Site::current()) const;
  // DIR/part-00000 ... one file per partition, each line the value, or
  // "key<TAB>value" when the key is not empty; then DIR/_SUCCESS. Each part
  // appears atomically. std::invalid_argument when DIR exists and is not
  // empty.
  void saveAsTextFile(const std::string& dir, Site site = Site::current()) const;

  int id() const;
  int numPartitions() const;
  NodePtr node() const { return node_; }

 private:
  friend class Context;
  friend struct detail::ContextCore;
  Dataset(std::shared_ptr<detail::ContextCore> core, std::shared_ptr<Node> node)
      : core_(std::move(core)), node_(std::move(node)) {}

  std::shared_ptr<detail::ContextCore> core_;
  std::shared_ptr<Node> node_;
};

}  // namespace clusternodes::spark
