#include "master/registry/zookeeper_store.hpp"

#include <set>
#include <vector>

namespace clusternodes::master {

std::string escapeZnodeName(const std::string& name) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(name.size());
  for (unsigned char c : name) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

std::string unescapeZnodeName(const std::string& name) {
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '%' && i + 2 < name.size() && digit(name[i + 1]) >= 0 && digit(name[i + 2]) >= 0) {
      out.push_back(static_cast<char>(digit(name[i + 1]) * 16 + digit(name[i + 2])));
      i += 2;
    } else {
      out.push_back(name[i]);
    }
  }
  return out;
}

namespace {

class ZooKeeperStore final : public RegistryStore {
 public:
  ZooKeeperStore(ZooKeeper& zk, std::string root, std::string fence)
      : zk_(zk), root_(std::move(root)), fence_(std::move(fence)) {}

  Result<RegistryEntries> load() override {
    if (auto made = zk_.createPath(root_); !made) return made.error();
    RegistryEntries entries;
    existing_.clear();
    groups_.clear();
    auto groups = zk_.children(root_);
    if (!groups) return groups.error();
    for (const auto& group : *groups) {
      groups_.insert(group);
      auto names = zk_.children(root_ + "/" + group);
      if (!names) return names.error();
      std::vector<std::string> paths;
      paths.reserve(names->size());
      for (const auto& name : *names) paths.push_back(root_ + "/" + group + "/" + name);
      auto values = zk_.getMany(paths);
      if (!values) return values.error();
      for (size_t i = 0; i < paths.size(); ++i) {
        if (!(*values)[i]) continue;  // removed since the listing
        std::string key = group + "/" + unescapeZnodeName((*names)[i]);
        entries[key] = std::move(*(*values)[i]);
        existing_.insert(key);
      }
    }
    return entries;
  }

  Result<void> save(const RegistryChanges& changes) override {
    std::vector<ZooKeeper::Op> ops;
    std::vector<std::pair<std::string, bool>> applied;  // key, exists after
    size_t bytes = 0;
    auto flush = [&]() -> Result<void> {
      if (ops.empty()) return {};
      ops.insert(ops.begin(), ZooKeeper::Op{ZooKeeper::Op::Kind::kCheck, fence_, "", -1});
      auto done = zk_.multi(ops);
      if (!done) return refused(done.error());
      for (const auto& [key, exists] : applied) {
        if (exists) {
          existing_.insert(key);
        } else {
          existing_.erase(key);
        }
      }
      ops.clear();
      applied.clear();
      bytes = 0;
      return {};
    };
    for (const auto& [key, value] : changes) {
      auto [group, name] = splitEntryKey(key);
      if (name.empty()) return invalid("the registry entry '" + key + "' has no group");
      if (!groups_.count(group)) {
        if (auto made = zk_.createPath(root_ + "/" + group); !made) return refused(made.error());
        groups_.insert(group);
      }
      std::string path = root_ + "/" + group + "/" + escapeZnodeName(name);
      bool exists = existing_.count(key) > 0;
      if (value) {
        ops.push_back({exists ? ZooKeeper::Op::Kind::kSet : ZooKeeper::Op::Kind::kCreate, path, *value, -1});
        bytes += path.size() + value->size() + 64;
      } else if (exists) {
        ops.push_back({ZooKeeper::Op::Kind::kDelete, path, "", -1});
        bytes += path.size() + 64;
      } else {
        continue;
      }
      applied.emplace_back(key, value.has_value());
      if (ops.size() >= kMaxOps || bytes >= kMaxBatchBytes) {
        if (auto ok = flush(); !ok) return ok;
      }
    }
    if (changes.empty()) {
      // A first start: make sure this master can write where it must.
      ops.push_back({ZooKeeper::Op::Kind::kCheck, root_, "", -1});
    }
    return flush();
  }

 private:
  // Batches stay well under ZooKeeper's 1 MiB request limit.
  static constexpr size_t kMaxOps = 1000;
  static constexpr size_t kMaxBatchBytes = ZooKeeper::kMaxRequestBytes / 4;

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
  std::set<std::string> existing_;  // keys whose znodes exist
  std::set<std::string> groups_;    // groups whose znodes exist
};

}  // namespace

std::unique_ptr<RegistryStore> makeZooKeeperStore(ZooKeeper& zk, std::string root, std::string fence) {
  return std::make_unique<ZooKeeperStore>(zk, std::move(root), std::move(fence));
}

}  // namespace clusternodes::master
