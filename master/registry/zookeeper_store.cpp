#include "master/registry/zookeeper_store.hpp"

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

namespace clusternodes::master {
namespace {

constexpr uint32_t kBuckets = 128;

// The bucket of an entry's NAME: FNV-1a, the same on every master.
std::string bucketOf(const std::string& name) {
  uint32_t hash = 2166136261u;
  for (unsigned char c : name) hash = (hash ^ c) * 16777619u;
  char text[8];
  std::snprintf(text, sizeof text, "b%03u", hash % kBuckets);
  return text;
}

class ZooKeeperStore final : public RegistryStore {
 public:
  ZooKeeperStore(ZooKeeper& zk, std::string root, std::string fence)
      : zk_(zk), root_(std::move(root)), fence_(std::move(fence)) {}

  Result<RegistryEntries> load() override {
    if (auto made = zk_.createPath(root_); !made) return made.error();
    buckets_.clear();
    groups_.clear();
    auto groups = zk_.children(root_);
    if (!groups) return groups.error();
    std::vector<std::string> paths;
    for (const auto& group : *groups) {
      groups_.insert(group);
      auto names = zk_.children(root_ + "/" + group);
      if (!names) return names.error();
      for (const auto& name : *names) paths.push_back(root_ + "/" + group + "/" + name);
    }
    auto values = zk_.getMany(paths);
    if (!values) return values.error();
    RegistryEntries entries;
    try {
      for (size_t i = 0; i < paths.size(); ++i) {
        if (!(*values)[i]) continue;  // removed since the listing
        std::string group = paths[i].substr(root_.size() + 1, paths[i].rfind('/') - root_.size() - 1);
        auto& bucket = buckets_[paths[i]];
        auto j = nlohmann::json::parse(*(*values)[i]);
        for (const auto& [name, value] : j.items()) {
          bucket[name] = value.get<std::string>();
          entries[group + "/" + name] = bucket[name];
        }
      }
    } catch (const std::exception& e) {
      buckets_.clear();
      return invalid(std::string("the registry in ZooKeeper is corrupt: ") + e.what());
    }
    return entries;
  }

  Result<void> save(const RegistryChanges& changes) override {
    // The buckets the changes touch, as they will be.
    std::map<std::string, std::map<std::string, std::string>> next;
    for (const auto& [key, value] : changes) {
      auto [group, name] = splitEntryKey(key);
      if (name.empty()) return invalid("the registry entry '" + key + "' has no group");
      if (!groups_.count(group)) {
        if (auto made = zk_.createPath(root_ + "/" + group); !made) return refused(made.error());
        groups_.insert(group);
      }
      std::string path = root_ + "/" + group + "/" + bucketOf(name);
      auto it = next.find(path);
      if (it == next.end()) {
        auto known = buckets_.find(path);
        it = next.emplace(path, known == buckets_.end() ? std::map<std::string, std::string>() : known->second).first;
      }
      if (value) {
        it->second[name] = *value;
      } else {
        it->second.erase(name);
      }
    }
    std::vector<ZooKeeper::Op> ops;
    std::vector<std::string> batch;  // the buckets of `ops`
    size_t bytes = 0;
    auto flush = [&]() -> Result<void> {
      if (ops.empty()) return {};
      ops.insert(ops.begin(), ZooKeeper::Op{ZooKeeper::Op::Kind::kCheck, fence_, "", -1});
      if (auto done = zk_.multi(ops); !done) return refused(done.error());
      for (const auto& path : batch) {
        if (next[path].empty()) {
          buckets_.erase(path);
        } else {
          buckets_[path] = next[path];
        }
      }
      ops.clear();
      batch.clear();
      bytes = 0;
      return {};
    };
    for (const auto& [path, entries] : next) {
      bool exists = buckets_.count(path) > 0;
      std::string data;
      if (!entries.empty()) {
        nlohmann::json j = nlohmann::json::object();
        for (const auto& [name, value] : entries) j[name] = value;
        data = j.dump();
        if (data.size() > kMaxBucketBytes) {
          return invalid("the registry bucket " + path + " would hold " + std::to_string(data.size()) +
                         " bytes, more than ZooKeeper takes in one znode");
        }
      }
      if (bytes + data.size() > kMaxBatchBytes) {
        if (auto ok = flush(); !ok) return ok;
      }
      if (entries.empty()) {
        if (!exists) continue;
        ops.push_back({ZooKeeper::Op::Kind::kDelete, path, "", -1});
      } else {
        ops.push_back({exists ? ZooKeeper::Op::Kind::kSet : ZooKeeper::Op::Kind::kCreate, path, std::move(data), -1});
      }
      bytes += ops.back().data.size() + path.size() + 64;
      batch.push_back(path);
    }
    if (changes.empty()) {
      // A first start: make sure this master can write where it must.
      ops.push_back({ZooKeeper::Op::Kind::kCheck, root_, "", -1});
    }
    return flush();
  }

 private:
  // Multi-ops and buckets stay well under ZooKeeper's 1 MiB request limit.
  static constexpr size_t kMaxBatchBytes = ZooKeeper::kMaxRequestBytes / 4;
  static constexpr size_t kMaxBucketBytes = ZooKeeper::kMaxRequestBytes * 3 / 4;

  Error refused(const Error& error) const {
    if (error.message.find("check " + fence_) != std::string::npos) {
      return {ErrorCode::kConflict, "this master no longer leads (its election znode " + fence_ +
                                        " is gone): the registry write is refused"};
    }
    return {error.code, "cannot write the registry in ZooKeeper: " + error.message};
  }

  ZooKeeper& zk_;
  std::string root_;
  std::string fence_;
  // What ZooKeeper holds: each bucket's path and entries (NAME -> value).
  std::map<std::string, std::map<std::string, std::string>> buckets_;
  std::set<std::string> groups_;  // groups whose znodes exist
};

}  // namespace

std::unique_ptr<RegistryStore> makeZooKeeperStore(ZooKeeper& zk, std::string root, std::string fence) {
  return std::make_unique<ZooKeeperStore>(zk, std::move(root), std::move(fence));
}

}  // namespace clusternodes::master
