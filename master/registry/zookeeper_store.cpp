#include "master/registry/zookeeper_store.hpp"

#include <charconv>
#include <cstdio>
#include <system_error>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/json.hpp"

namespace clusternodes::master {
namespace {

// Where new entries go. Each group's new entries fill one bucket, "sNNNNNNNN"
// (numbered in order), until it holds about kFillBytes; then the next is
// opened. A group commit of many new entries (10,000 agents registering at
// once) then rewrites one or two buckets of a few kilobytes each, where
// entries placed by a hash of their name touched nearly every bucket, and
// every write rewrote a third of the registry. Entries stay where they were
// first written: a change rewrites that bucket only. A new leader reads
// every bucket, one request each (10,000 agents: about 150).
constexpr size_t kFillBytes = 16 * 1024;
constexpr const char* kFillPrefix = "s";

// What an entry adds to its bucket's JSON object: "NAME":"VALUE", (escapes
// aside).
size_t entryBytes(const std::string& name, const std::string& value) { return name.size() + value.size() + 6; }

// The sequence number of a fill bucket's name ("s00000012" -> 12), or
// nullopt for any other name (buckets of earlier layouts: "b017" of 128,
// "b0201" of 256, placed by a hash of their entries' names, which stay
// where they are).
std::optional<uint64_t> fillSequence(const std::string& bucket) {
  if (bucket.size() != 9 || bucket.compare(0, 1, kFillPrefix) != 0 || bucket[1] < '0' || bucket[1] > '9') {
    return std::nullopt;
  }
  uint64_t n = 0;
  const char* end = bucket.data() + bucket.size();
  auto [at, error] = std::from_chars(bucket.data() + 1, end, n);
  if (error != std::errc() || at != end) return std::nullopt;
  return n;
}

class ZooKeeperStore final : public RegistryStore {
 public:
  ZooKeeperStore(ZooKeeper& zk, std::string root, std::string fence)
      : zk_(zk), root_(std::move(root)), fence_(std::move(fence)) {}

  Result<RegistryEntries> load() override {
    if (auto made = zk_.createPath(root_); !made) return made.error();
    buckets_.clear();
    groups_.clear();
    placed_.clear();
    filling_.clear();
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
          placed_[group + "/" + name] = paths[i];
        }
        // The group's last fill bucket goes on filling; new ones are
        // numbered after it.
        auto sequence = fillSequence(paths[i].substr(paths[i].rfind('/') + 1));
        auto& fill = filling_[group];
        if (sequence && *sequence >= fill.next) {
          fill.next = *sequence + 1;
          fill.path = paths[i];
          fill.bytes = 0;
          for (const auto& [name, value] : bucket) fill.bytes += entryBytes(name, value);
        }
      }
    } catch (const std::exception& e) {
      buckets_.clear();
      filling_.clear();
      return invalid(std::string("the registry in ZooKeeper is corrupt: ") + e.what());
    }
    return entries;
  }

  Result<void> save(const RegistryChanges& changes) override {
    // The buckets the changes touch, as they will be.
    std::map<std::string, std::map<std::string, std::string>> next;
    // Each bucket's changed keys (set or removed), for placed_ once written.
    std::map<std::string, std::vector<std::pair<std::string, bool>>> placing;
    for (const auto& [key, value] : changes) {
      auto [group, name] = splitEntryKey(key);
      if (name.empty()) return invalid("the registry entry '" + key + "' has no group");
      if (!groups_.count(group)) {
        if (auto made = zk_.createPath(root_ + "/" + group); !made) return refused(made.error());
        groups_.insert(group);
      }
      auto placed = placed_.find(key);
      std::string path = placed != placed_.end() ? placed->second : place(group, name, value.value_or(""));
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
      placing[path].emplace_back(key, value.has_value());
    }
    std::vector<ZooKeeper::Op> ops;
    std::vector<std::string> batch;  // the buckets of `ops`
    size_t bytes = 0;
    auto flush = [&]() -> Result<void> {
      if (ops.empty()) return {};
      ops.insert(ops.begin(), ZooKeeper::Op{ZooKeeper::Op::Kind::kCheck, fence_, "", -1});
      if (auto done = zk_.multi(ops); !done) return refused(done.error());
      for (const auto& path : batch) {
        for (const auto& [key, value] : placing[path]) {
          if (value) {
            placed_[key] = path;
          } else {
            placed_.erase(key);
          }
        }
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
        data = jsonText(j);
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

  // The fill bucket a new entry of `group` goes to (opening the next one
  // when the current one is full), counting the entry into it.
  std::string place(const std::string& group, const std::string& name, const std::string& value) {
    auto& fill = filling_[group];
    size_t bytes = entryBytes(name, value);
    if (fill.path.empty() || (fill.bytes > 0 && fill.bytes + bytes > kFillBytes)) {
      char bucket[16];
      std::snprintf(bucket, sizeof bucket, "%s%08llu", kFillPrefix, static_cast<unsigned long long>(fill.next++));
      fill.path = root_ + "/" + group + "/" + bucket;
      fill.bytes = 0;
    }
    fill.bytes += bytes;
    return fill.path;
  }

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
  // The bucket each entry ("GROUP/NAME") is in: where it was loaded from or
  // last written.
  std::unordered_map<std::string, std::string> placed_;
  // Each group's fill bucket: where its new entries go, about how much it
  // holds, and the number of the next one. An entry counted in and then not
  // written (a failed save) only makes the bucket fill up sooner.
  struct Filling {
    std::string path;
    size_t bytes = 0;
    uint64_t next = 0;
  };
  std::map<std::string, Filling> filling_;
};

}  // namespace

std::unique_ptr<RegistryStore> makeZooKeeperStore(ZooKeeper& zk, std::string root, std::string fence) {
  return std::make_unique<ZooKeeperStore>(zk, std::move(root), std::move(fence));
}

}  // namespace clusternodes::master
