#include "spark/plan.hpp"

#include <map>
#include <nlohmann/json.hpp>
#include <set>

namespace clusternodes::spark {

using nlohmann::json;

namespace {

constexpr struct {
  Op op;
  const char* name;
} kOps[] = {
    {Op::kTextFile, "textFile"},       {Op::kParallelize, "parallelize"}, {Op::kMap, "map"},
    {Op::kFlatMap, "flatMap"},         {Op::kFilter, "filter"},           {Op::kMapValues, "mapValues"},
    {Op::kUnion, "union"},             {Op::kReduceByKey, "reduceByKey"}, {Op::kGroupByKey, "groupByKey"},
    {Op::kJoin, "join"},               {Op::kSortByKey, "sortByKey"},     {Op::kDistinct, "distinct"},
};

bool parseOp(const std::string& name, Op& op) {
  for (const auto& o : kOps) {
    if (name == o.name) {
      op = o.op;
      return true;
    }
  }
  return false;
}

bool takesFunction(Op op) {
  return op == Op::kMap || op == Op::kFlatMap || op == Op::kFilter || op == Op::kMapValues || op == Op::kReduceByKey;
}

void collect(const NodePtr& node, std::set<int>& seen, std::vector<const Node*>& order) {
  if (!seen.insert(node->id).second) return;
  for (const auto& parent : node->parents) collect(parent, seen, order);
  order.push_back(node.get());
}

}  // namespace

const char* toString(Op op) {
  for (const auto& o : kOps) {
    if (o.op == op) return o.name;
  }
  return "?";
}

bool isWide(Op op) {
  return op == Op::kReduceByKey || op == Op::kGroupByKey || op == Op::kJoin || op == Op::kSortByKey ||
         op == Op::kDistinct;
}

std::string Node::describe() const {
  std::string s = toString(op);
  if (!site.empty()) s += " at " + site;
  return s;
}

NodePtr Plan::find(int id) const {
  for (const auto& node : nodes_) {
    if (node->id == id) return node;
  }
  return nullptr;
}

std::pair<size_t, int> unionSource(const Node& node, int p) {
  for (size_t i = 0; i < node.parents.size(); ++i) {
    int n = node.parents[i]->numPartitions;
    if (p < n) return {i, p};
    p -= n;
  }
  return {node.parents.size(), -1};
}

std::string serialisePlan(const std::vector<NodePtr>& roots) {
  std::set<int> seen;
  std::vector<const Node*> order;
  for (const auto& root : roots) collect(root, seen, order);
  json nodes = json::array();
  for (const Node* node : order) {
    json j = {{"id", node->id}, {"op", toString(node->op)}, {"partitions", node->numPartitions}};
    json parents = json::array();
    for (const auto& p : node->parents) parents.push_back(p->id);
    j["parents"] = std::move(parents);
    if (takesFunction(node->op)) j["fn"] = node->fn;
    if (isWide(node->op)) j["shuffles"] = node->shuffleIds;
    if (node->cached) j["cache"] = true;
    if (!node->site.empty()) j["site"] = node->site;
    if (node->op == Op::kTextFile) {
      json splits = json::array();
      for (const auto& s : node->splits) {
        splits.push_back({{"path", s.path}, {"offset", s.offset}, {"length", s.length}});
      }
      j["splits"] = std::move(splits);
    } else if (node->op == Op::kParallelize) {
      json slices = json::array();
      for (const auto& slice : node->slices) slices.push_back(base64Encode(encodeRun(slice)));
      j["slices"] = std::move(slices);
    } else if (node->op == Op::kSortByKey) {
      j["ascending"] = node->ascending;
      json bounds = json::array();
      for (const auto& b : node->bounds) bounds.push_back(base64Encode(b));
      j["bounds"] = std::move(bounds);
    }
    nodes.push_back(std::move(j));
  }
  return json{{"version", 1}, {"nodes", std::move(nodes)}}.dump();
}

Result<Plan> parsePlan(const std::string& text) {
  try {
    json doc = json::parse(text);
    if (doc.at("version").get<int>() != 1) return invalid("plan: unsupported version");
    Plan plan;
    std::map<int, NodePtr> byId;
    for (const auto& j : doc.at("nodes")) {
      auto node = std::make_shared<Node>();
      node->id = j.at("id").get<int>();
      std::string op = j.at("op").get<std::string>();
      if (!parseOp(op, node->op)) return invalid("plan: unknown op '" + op + "'");
      node->numPartitions = j.at("partitions").get<int>();
      if (node->numPartitions < 0) return invalid("plan: node " + std::to_string(node->id) + ": bad partitions");
      if (byId.count(node->id) != 0) return invalid("plan: node " + std::to_string(node->id) + " twice");
      for (const auto& p : j.at("parents")) {
        auto it = byId.find(p.get<int>());
        if (it == byId.end()) {
          return invalid("plan: node " + std::to_string(node->id) + " names parent " + std::to_string(p.get<int>()) +
                         " before it");
        }
        node->parents.push_back(it->second);
      }
      if (takesFunction(node->op)) node->fn = j.at("fn").get<std::string>();
      if (isWide(node->op)) node->shuffleIds = j.at("shuffles").get<std::vector<int>>();
      node->cached = j.value("cache", false);
      node->site = j.value("site", std::string());
      size_t wantParents = 1;
      if (node->op == Op::kTextFile || node->op == Op::kParallelize) wantParents = 0;
      if (node->op == Op::kJoin) wantParents = 2;
      bool parentsOk = node->op == Op::kUnion ? !node->parents.empty() : node->parents.size() == wantParents;
      if (!parentsOk || (isWide(node->op) && node->shuffleIds.size() != node->parents.size())) {
        return invalid("plan: node " + std::to_string(node->id) + " (" + op + ") has the wrong number of parents");
      }
      if (node->op == Op::kTextFile) {
        for (const auto& s : j.at("splits")) {
          node->splits.push_back(
              {s.at("path").get<std::string>(), s.at("offset").get<uint64_t>(), s.at("length").get<uint64_t>()});
        }
        if (node->splits.size() != static_cast<size_t>(node->numPartitions)) {
          return invalid("plan: node " + std::to_string(node->id) + ": splits do not match partitions");
        }
      } else if (node->op == Op::kParallelize) {
        std::string bytes;
        for (const auto& s : j.at("slices")) {
          std::vector<Record> slice;
          if (!base64Decode(s.get<std::string>(), bytes) || !decodeRun(bytes, slice)) {
            return invalid("plan: node " + std::to_string(node->id) + ": malformed slice");
          }
          node->slices.push_back(std::move(slice));
        }
        if (node->slices.size() != static_cast<size_t>(node->numPartitions)) {
          return invalid("plan: node " + std::to_string(node->id) + ": slices do not match partitions");
        }
      } else if (node->op == Op::kSortByKey) {
        node->ascending = j.at("ascending").get<bool>();
        for (const auto& b : j.at("bounds")) {
          std::string bytes;
          if (!base64Decode(b.get<std::string>(), bytes)) return invalid("plan: malformed sort bound");
          node->bounds.push_back(std::move(bytes));
        }
        if (node->numPartitions > 0 && node->bounds.size() + 1 != static_cast<size_t>(node->numPartitions)) {
          return invalid("plan: node " + std::to_string(node->id) + ": bounds do not match partitions");
        }
      } else if (node->op == Op::kUnion) {
        int sum = 0;
        for (const auto& p : node->parents) sum += p->numPartitions;
        if (sum != node->numPartitions) return invalid("plan: union partitions do not add up");
      } else if (!isWide(node->op)) {
        if (node->numPartitions != node->parents[0]->numPartitions) {
          return invalid("plan: node " + std::to_string(node->id) + ": a narrow op changes the partitions");
        }
      }
      byId[node->id] = node;
      plan.add(std::move(node));
    }
    return plan;
  } catch (const json::exception& e) {
    return invalid(std::string("plan: ") + e.what());
  }
}

}  // namespace clusternodes::spark
