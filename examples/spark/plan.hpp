// The lineage graph (plan) and its serialised form.
//
// A Dataset is a handle to an immutable Node; a node names its operation, its
// parents, the registered function it applies, and its number of
// partitions. Node ids are assigned by the Context and are stable for the
// life of the application: the executors' caches and the DAG scheduler key
// on them.
//
// Narrow operations (map, flatMap, filter, mapValues, union) compute
// partition p from the same partition of their parent (union: from the
// parent partition p falls into, parents' partitions concatenated). Wide
// operations (reduceByKey, groupByKey, join, sortByKey, distinct) read one
// shuffle per parent, identified by a shuffle id the Context assigns.
//
// Serialised form (JSON, see serialisePlan): what a task carries instead of
// closures, so that an executor in another process rebuilds the same graph:
//   {"version":1,"nodes":[NODE...]}     parents before children
//   NODE = {"id":7,"op":"reduceByKey","parents":[6],"partitions":4,
//           "fn":"sum","shuffles":[3],"cache":false,"site":"wc.cpp:12",
//           ... op-specific fields ...}
//     textFile:    "splits":[{"path":"/abs/file","offset":0,"length":1048576}]
//     parallelize: "slices":["<base64 of a run>", ...]   (one per partition)
//     sortByKey:   "ascending":true,"bounds":["<base64 key>", ...]
//                  (partitions-1 upper bounds; empty for one partition)
//   "fn" is present for map, flatMap, filter, mapValues, reduceByKey.
// Bytes that need not be UTF-8 (data, keys) are base64; "site" is where the
// program declared the node (file:line), for progress lines.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "clusternodes/result.hpp"
#include "spark/record.hpp"
#include "spark/text_input.hpp"

namespace clusternodes::spark {

enum class Op {
  kTextFile,
  kParallelize,
  kMap,
  kFlatMap,
  kFilter,
  kMapValues,
  kUnion,
  kReduceByKey,
  kGroupByKey,
  kJoin,
  kSortByKey,
  kDistinct,
};
const char* toString(Op op);  // "reduceByKey"
// True for the operations that read shuffles.
bool isWide(Op op);

struct Node;
using NodePtr = std::shared_ptr<const Node>;

struct Node {
  int id = 0;
  Op op = Op::kParallelize;
  std::vector<NodePtr> parents;
  int numPartitions = 0;
  std::string fn;                 // the registered function, when the op takes one
  std::vector<int> shuffleIds;    // wide ops: one per parent
  bool cached = false;            // keep computed partitions in executor memory
  std::string site;               // "wordcount.cpp:31"
  std::vector<TextSplit> splits;  // textFile: one per partition
  std::vector<std::vector<Record>> slices;  // parallelize: one per partition
  bool ascending = true;          // sortByKey
  std::vector<std::string> bounds;  // sortByKey: numPartitions-1 upper bounds, sorted

  // "reduceByKey at wordcount.cpp:31"
  std::string describe() const;
};

// A parsed plan: its nodes by id.
class Plan {
 public:
  // Null when absent.
  NodePtr find(int id) const;
  void add(NodePtr node) { nodes_.push_back(std::move(node)); }
  const std::vector<NodePtr>& nodes() const { return nodes_; }

 private:
  std::vector<NodePtr> nodes_;  // parents before children
};

// The JSON text of every node reachable from `roots` (each once).
std::string serialisePlan(const std::vector<NodePtr>& roots);

// Rebuilds the graph. Fails on malformed JSON, unknown ops, parents that
// are missing or come after their child, and counts that do not agree.
Result<Plan> parsePlan(const std::string& text);

// Where partition `p` of a union node comes from: (parent index, parent
// partition). REQUIRES: node.op == Op::kUnion, 0 <= p < numPartitions.
std::pair<size_t, int> unionSource(const Node& node, int p);

}  // namespace clusternodes::spark
