#include "master/registry/registry.hpp"

#include "common/json.hpp"

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

namespace clusternodes::master {
namespace {

AgentMark parseMark(const std::string& text) {
  if (text == "unreachable") return AgentMark::kUnreachable;
  if (text == "gone") return AgentMark::kGone;
  if (text == "admitted") return AgentMark::kAdmitted;
  throw std::runtime_error("an agent has the unknown mark '" + text + "'");
}

nlohmann::json frameworkJson(const FrameworkRecord& record) {
  const auto& info = record.info;
  return {{"id", info.id.value},
          {"name", info.name},
          {"user", info.user},
          {"role", info.role},
          {"roles", info.roles},
          {"principal", info.principal},
          {"failover_timeout", info.failoverTimeoutSeconds},
          {"partition_aware", info.partitionAware},
          {"hostname", info.hostname},
          {"webui_url", info.webuiUrl},
          {"registered_at", record.registeredAt}};
}

FrameworkRecord frameworkFromJson(const nlohmann::json& j) {
  FrameworkRecord record;
  auto& info = record.info;
  info.id.value = j.at("id").get<std::string>();
  if (info.id.empty()) throw std::runtime_error("a framework without an id");
  info.name = j.value("name", "");
  info.user = j.value("user", "");
  info.role = j.value("role", "*");
  info.roles = j.value("roles", std::vector<std::string>{});
  info.principal = j.value("principal", "");
  info.failoverTimeoutSeconds = j.value("failover_timeout", 0.0);
  info.partitionAware = j.value("partition_aware", false);
  info.hostname = j.value("hostname", "");
  info.webuiUrl = j.value("webui_url", "");
  record.registeredAt = j.value("registered_at", 0.0);
  return record;
}

}  // namespace

std::pair<std::string, std::string> splitEntryKey(const std::string& key) {
  auto slash = key.find('/');
  if (slash == std::string::npos) return {key, ""};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

const char* agentMarkName(AgentMark mark) {
  switch (mark) {
    case AgentMark::kAdmitted: return "admitted";
    case AgentMark::kUnreachable: return "unreachable";
    case AgentMark::kGone: return "gone";
  }
  return "admitted";
}

namespace {

// Keys of entries: GROUP/NAME.
std::string agentKey(const AgentID& id) { return "agents/" + id.value; }
std::string frameworkKey(const FrameworkID& id) { return "frameworks/" + id.value; }
std::string reservationKey(const AgentID& id) { return "reservations/" + id.value; }
std::string weightKey(const std::string& role) { return "weights/" + role; }
std::string quotaKey(const std::string& role) { return "quotas/" + role; }

// Invalid UTF-8 in a peer's string is replaced, never thrown from a write.
std::string dump(const nlohmann::json& j) { return jsonText(j); }

// registry.json keeps the registry as one document, grouped as it always
// was: {"version": 1, "agents": [...], "frameworks": [...],
// "reservations": {AGENT: RESOURCES}, "weights": {ROLE: W},
// "quotas": {ROLE: {"guarantee", "limit"}}}. It converts between that and
// entries, and keeps the entries it last wrote.
class FileSystemStore final : public RegistryStore {
 public:
  FileSystemStore(const std::string& workDir, std::shared_ptr<FileSystem> files)
      : path_(workDir + "/registry.json"), files_(std::move(files)) {}

  Result<RegistryEntries> load() override {
    auto content = files_->read(path_);
    entries_.clear();
    if (!content && content.error().code == ErrorCode::kNotFound) return entries_;
    if (!content) return content.error();
    try {
      auto j = nlohmann::json::parse(*content);
      for (const auto& a : j.at("agents")) entries_["agents/" + a.at("id").get<std::string>()] = dump(a);
      static const nlohmann::json none = nlohmann::json::object();
      auto group = [&](const char* name) -> const nlohmann::json& { return j.contains(name) ? j.at(name) : none; };
      for (const auto& f : group("frameworks")) entries_["frameworks/" + f.at("id").get<std::string>()] = dump(f);
      for (const auto& [agent, text] : group("reservations").items()) {
        entries_["reservations/" + agent] = dump({{"agent", agent}, {"resources", text}});
      }
      for (const auto& [role, weight] : group("weights").items()) {
        entries_["weights/" + role] = dump({{"role", role}, {"weight", weight}});
      }
      for (const auto& [role, q] : group("quotas").items()) {
        auto quota = q;
        quota["role"] = role;
        entries_["quotas/" + role] = dump(quota);
      }
    } catch (const std::exception& e) {
      entries_.clear();
      return invalid(std::string("the registry is corrupt: ") + e.what());
    }
    return entries_;
  }

  Result<void> save(const RegistryChanges& changes) override {
    // Applied in place (copying ten thousand entries for every write cost
    // more than the write), and put back as they were if the file cannot
    // be written.
    std::vector<std::pair<std::string, std::optional<std::string>>> undo;
    undo.reserve(changes.size());
    for (const auto& [key, value] : changes) {
      auto it = entries_.find(key);
      undo.emplace_back(key, it == entries_.end() ? std::nullopt : std::optional<std::string>(it->second));
      if (value) {
        entries_.insert_or_assign(key, *value);
      } else if (it != entries_.end()) {
        entries_.erase(it);
      }
    }
    document(entries_, document_);
    if (auto saved = files_->replace(path_, document_, true); !saved) {
      for (auto it = undo.rbegin(); it != undo.rend(); ++it) {
        if (it->second) {
          entries_.insert_or_assign(it->first, std::move(*it->second));
        } else {
          entries_.erase(it->first);
        }
      }
      return saved;
    }
    return {};
  }

 private:
  // The document of `entries`, written into `out`. Their values are JSON
  // texts already: those of agents and frameworks, all but a few, go in as
  // they are (parsing and printing each again made a write of 10,000 agents
  // cost tens of ms); the few others are reshaped. `out` keeps its capacity
  // from one write to the next: a new string of a megabyte or more at each
  // write had the kernel zero fresh pages for it every time, a sixth of the
  // master's CPU while 10,000 agents registered.
  static void document(const RegistryEntries& entries, std::string& out) {
    // The entries of one group, in key order, each as its NAME and value.
    auto each = [&](std::string_view group, const std::function<void(std::string_view, const std::string&)>& fn) {
      std::string prefix = std::string(group) + "/";
      for (auto it = entries.lower_bound(prefix); it != entries.end() && it->first.starts_with(prefix); ++it) {
        fn(std::string_view(it->first).substr(prefix.size()), it->second);
      }
    };
    auto list = [&](std::string_view group) {
      bool first = true;
      each(group, [&](std::string_view, const std::string& value) {
        out += first ? "\n  " : ",\n  ";
        first = false;
        out += value;
      });
    };
    nlohmann::json reservations = nlohmann::json::object();
    nlohmann::json weights = nlohmann::json::object();
    nlohmann::json quotas = nlohmann::json::object();
    each("reservations", [&](std::string_view name, const std::string& value) {
      reservations[std::string(name)] = nlohmann::json::parse(value).at("resources");
    });
    each("weights", [&](std::string_view name, const std::string& value) {
      weights[std::string(name)] = nlohmann::json::parse(value).at("weight");
    });
    each("quotas", [&](std::string_view name, const std::string& value) {
      auto v = nlohmann::json::parse(value);
      v.erase("role");
      quotas[std::string(name)] = std::move(v);
    });
    out.clear();
    out += "{\n \"agents\": [";
    list("agents");
    out += "\n ],\n \"frameworks\": [";
    list("frameworks");
    out += "\n ],\n \"quotas\": " + dump(quotas) + ",\n \"reservations\": " + dump(reservations) + ",\n";
    out += " \"version\": 1,\n \"weights\": " + dump(weights) + "\n}";
  }

  std::string path_;
  std::shared_ptr<FileSystem> files_;
  RegistryEntries entries_;  // what the file holds
  std::string document_;     // the last document written, its buffer reused
};

}  // namespace

std::unique_ptr<RegistryStore> makeFileStore(const std::string& workDir) {
  return std::make_unique<FileSystemStore>(workDir, makeFileSystem());
}

std::unique_ptr<RegistryStore> makeFileStore(const std::string& workDir, std::shared_ptr<FileSystem> files) {
  return std::make_unique<FileSystemStore>(workDir, std::move(files));
}

Registry::Registry(std::unique_ptr<RegistryStore> store) : store_(std::move(store)) {}

Result<void> Registry::recover() {
  auto entries = store_->load();
  if (!entries) return entries.error();
  agents_.clear();
  frameworks_.clear();
  weights_.clear();
  quotas_.clear();
  reservations_.clear();
  pending_.clear();
  // A first start writes an empty registry, so that an unwritable work dir
  // is found now rather than at the first agent.
  if (entries->empty()) return save();
  try {
    for (const auto& [key, value] : *entries) recoverEntry(key, value);
  } catch (const std::exception& e) {
    agents_.clear();
    frameworks_.clear();
    weights_.clear();
    quotas_.clear();
    reservations_.clear();
    return invalid(std::string("the registry is corrupt: ") + e.what());
  }
  return {};
}

void Registry::recoverEntry(const std::string& key, const std::string& value) {
  auto j = nlohmann::json::parse(value);
  std::string group = splitEntryKey(key).first;
  if (group == "agents") {
    AgentRecord r;
    r.id.value = j.at("id").get<std::string>();
    r.hostname = j.value("hostname", "");
    r.mark = parseMark(j.value("mark", "admitted"));
    r.markedAt = j.value("marked_at", 0.0);
    agents_[r.id] = r;
  } else if (group == "frameworks") {
    auto record = frameworkFromJson(j);
    frameworks_[record.info.id] = std::move(record);
  } else if (group == "reservations") {
    std::string agent = j.at("agent").get<std::string>();
    auto reserved = Resources::parse(j.at("resources").get<std::string>());
    if (!reserved) throw std::runtime_error("the reservations on agent " + agent + " do not parse");
    reservations_[AgentID{agent}] = *reserved;
  } else if (group == "weights") {
    weights_[j.at("role").get<std::string>()] = j.at("weight").get<double>();
  } else if (group == "quotas") {
    std::string role = j.at("role").get<std::string>();
    auto guarantee = Resources::parse(j.value("guarantee", ""));
    auto limit = Resources::parse(j.value("limit", ""));
    if (!guarantee || !limit) throw std::runtime_error("the quota of role '" + role + "' does not parse");
    quotas_[role] = Quota{*guarantee, *limit};
  } else {
    throw std::runtime_error("an entry of the unknown kind '" + key + "'");
  }
}

std::optional<std::string> Registry::entry(const std::string& key) const {
  auto [group, name] = splitEntryKey(key);
  if (group == "agents") {
    auto it = agents_.find(AgentID{name});
    if (it == agents_.end()) return std::nullopt;
    const auto& r = it->second;
    return dump({{"id", r.id.value}, {"hostname", r.hostname}, {"mark", agentMarkName(r.mark)}, {"marked_at", r.markedAt}});
  }
  if (group == "frameworks") {
    auto it = frameworks_.find(FrameworkID{name});
    if (it == frameworks_.end()) return std::nullopt;
    return dump(frameworkJson(it->second));
  }
  if (group == "reservations") {
    auto it = reservations_.find(AgentID{name});
    if (it == reservations_.end()) return std::nullopt;
    return dump({{"agent", name}, {"resources", it->second.toString()}});
  }
  if (group == "weights") {
    auto it = weights_.find(name);
    if (it == weights_.end()) return std::nullopt;
    return dump({{"role", name}, {"weight", it->second}});
  }
  if (group == "quotas") {
    auto it = quotas_.find(name);
    if (it == quotas_.end()) return std::nullopt;
    return dump({{"role", name}, {"guarantee", it->second.guarantee.toString()}, {"limit", it->second.limit.toString()}});
  }
  return std::nullopt;
}

const AgentRecord* Registry::agent(const AgentID& id) const {
  auto it = agents_.find(id);
  return it == agents_.end() ? nullptr : &it->second;
}

// A change that cannot be saved is undone, so that memory never holds what
// the store does not (a later save would otherwise persist it).
Result<void> Registry::admit(const AgentRecord& record) {
  auto it = agents_.find(record.id);
  if (it != agents_.end() && it->second.mark == record.mark && it->second.hostname == record.hostname) return {};
  std::optional<AgentRecord> before;
  if (it != agents_.end()) before = it->second;
  agents_[record.id] = record;
  return persist({agentKey(record.id)}, [&] {
    if (before) {
      agents_[record.id] = std::move(*before);
    } else {
      agents_.erase(record.id);
    }
  });
}

Result<void> Registry::mark(const AgentID& id, AgentMark mark, double at) {
  auto it = agents_.find(id);
  if (it == agents_.end()) return notFound("agent " + id.value + " is not in the registry");
  AgentRecord before = it->second;
  it->second.mark = mark;
  it->second.markedAt = at;
  std::vector<std::string> keys{agentKey(id)};
  // Forget the oldest gone agents beyond the cap.
  std::vector<std::pair<double, AgentID>> gone;
  for (const auto& [agentId, r] : agents_) {
    if (r.mark == AgentMark::kGone) gone.emplace_back(r.markedAt, agentId);
  }
  std::map<AgentID, AgentRecord> forgotten;
  if (gone.size() > kMaxGoneAgents) {
    std::sort(gone.begin(), gone.end());
    for (size_t i = 0; i < gone.size() - kMaxGoneAgents; ++i) {
      forgotten.emplace(gone[i].second, agents_.at(gone[i].second));
      agents_.erase(gone[i].second);
      keys.push_back(agentKey(gone[i].second));
    }
  }
  return persist(keys, [&] {
    agents_[id] = std::move(before);
    agents_.merge(forgotten);
  });
}

Result<void> Registry::putFramework(const FrameworkRecord& record, bool now) {
  auto it = frameworks_.find(record.info.id);
  std::optional<FrameworkRecord> before;
  if (it != frameworks_.end()) {
    if (frameworkJson(it->second) == frameworkJson(record)) return {};
    before = it->second;
  }
  frameworks_[record.info.id] = record;
  return persist({frameworkKey(record.info.id)}, [&] {
    if (before) {
      frameworks_[record.info.id] = std::move(*before);
    } else {
      frameworks_.erase(record.info.id);
    }
  }, now);
}

Result<void> Registry::removeFramework(const FrameworkID& id) {
  auto it = frameworks_.find(id);
  if (it == frameworks_.end()) return {};
  FrameworkRecord before = std::move(it->second);
  frameworks_.erase(it);
  return persist({frameworkKey(id)}, [&] { frameworks_.emplace(id, std::move(before)); });
}

Result<void> Registry::remove(const AgentID& id) {
  auto it = agents_.find(id);
  if (it == agents_.end()) return {};
  AgentRecord before = std::move(it->second);
  agents_.erase(it);
  std::optional<Resources> reservedBefore;
  if (auto r = reservations_.find(id); r != reservations_.end()) {
    reservedBefore = std::move(r->second);
    reservations_.erase(r);
  }
  return persist({agentKey(id), reservationKey(id)}, [&] {
    agents_.emplace(id, std::move(before));
    if (reservedBefore) reservations_[id] = std::move(*reservedBefore);
  });
}

Resources Registry::reservations(const AgentID& id) const {
  auto it = reservations_.find(id);
  return it == reservations_.end() ? Resources() : it->second;
}

Result<void> Registry::setReservations(const AgentID& id, const Resources& reserved) {
  std::optional<Resources> before;
  if (auto it = reservations_.find(id); it != reservations_.end()) before = it->second;
  if (reserved.empty()) {
    reservations_.erase(id);
  } else {
    reservations_[id] = reserved;
  }
  return persist({reservationKey(id)}, [&] {
    if (before) {
      reservations_[id] = std::move(*before);
    } else {
      reservations_.erase(id);
    }
  });
}

Result<void> Registry::setWeights(const std::map<std::string, double>& weights) {
  auto before = weights_;
  std::vector<std::string> keys;
  for (const auto& [role, weight] : weights) {
    weights_[role] = weight;
    keys.push_back(weightKey(role));
  }
  return persist(keys, [&] { weights_ = std::move(before); }, true);
}

Result<void> Registry::setQuota(const std::string& role, const Quota& quota) {
  auto before = quotas_;
  if (quota.guarantee.empty() && quota.limit.empty()) {
    quotas_.erase(role);
  } else {
    quotas_[role] = quota;
  }
  return persist({quotaKey(role)}, [&] { quotas_ = std::move(before); }, true);
}

void Registry::stageChanges(std::function<void()> staged) {
  staging_ = true;
  staged_ = std::move(staged);
}

Result<void> Registry::commit() {
  if (!dirty_) return {};
  return save();
}

void Registry::afterDurable(std::function<void()> fn) {
  if (!dirty_) return fn();
  waiting_.push_back(std::move(fn));
}

Result<void> Registry::persist(const std::vector<std::string>& keys, const std::function<void()>& undo, bool now) {
  for (const auto& key : keys) pending_[key] = entry(key);
  if (staging_ && !now) {
    dirty_ = true;
    if (staged_) staged_();
    return {};
  }
  auto saved = save();
  if (!saved) {
    undo();
    // What is staged stays staged; the undone entries are staged as they
    // are again (a store that wrote part of a batch gets them back).
    if (staging_) {
      for (const auto& key : keys) pending_[key] = entry(key);
    } else {
      pending_.clear();
    }
  }
  return saved;
}

Result<void> Registry::save() {
  if (auto saved = store_->save(pending_); !saved) return saved;
  pending_.clear();
  dirty_ = false;
  // What waited for these changes; a callback may stage and wait again.
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& fn : waiting) fn();
  return {};
}

}  // namespace clusternodes::master
