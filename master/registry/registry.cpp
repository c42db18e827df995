#include "master/registry/registry.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <optional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

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

const char* agentMarkName(AgentMark mark) {
  switch (mark) {
    case AgentMark::kAdmitted: return "admitted";
    case AgentMark::kUnreachable: return "unreachable";
    case AgentMark::kGone: return "gone";
  }
  return "admitted";
}

namespace {

class FileSystemStore final : public RegistryStore {
 public:
  FileSystemStore(const std::string& workDir, std::shared_ptr<FileSystem> files)
      : path_(workDir + "/registry.json"), files_(std::move(files)) {}

  Result<std::string> load() override {
    auto content = files_->read(path_);
    if (!content && content.error().code == ErrorCode::kNotFound) return std::string();
    return content;
  }
  Result<void> save(const std::string& document) override { return files_->replace(path_, document, true); }

 private:
  std::string path_;
  std::shared_ptr<FileSystem> files_;
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
  auto document = store_->load();
  if (!document) return document.error();
  agents_.clear();
  frameworks_.clear();
  weights_.clear();
  quotas_.clear();
  reservations_.clear();
  // A first start writes an empty registry, so that an unwritable work dir
  // is found now rather than at the first agent.
  if (document->empty()) return persist();
  try {
    auto j = nlohmann::json::parse(*document);
    for (const auto& a : j.at("agents")) {
      AgentRecord r;
      r.id.value = a.at("id").get<std::string>();
      r.hostname = a.value("hostname", "");
      r.mark = parseMark(a.value("mark", "admitted"));
      r.markedAt = a.value("marked_at", 0.0);
      agents_[r.id] = r;
    }
    if (j.contains("frameworks")) {
      for (const auto& f : j.at("frameworks")) {
        auto record = frameworkFromJson(f);
        frameworks_[record.info.id] = std::move(record);
      }
    }
    if (j.contains("reservations")) {
      for (const auto& [agent, text] : j.at("reservations").items()) {
        auto reserved = Resources::parse(text.get<std::string>());
        if (!reserved) throw std::runtime_error("the reservations on agent " + agent + " do not parse");
        reservations_[AgentID{agent}] = *reserved;
      }
    }
    if (j.contains("weights")) {
      for (const auto& [role, weight] : j.at("weights").items()) weights_[role] = weight.get<double>();
    }
    if (j.contains("quotas")) {
      for (const auto& [role, q] : j.at("quotas").items()) {
        auto guarantee = Resources::parse(q.value("guarantee", ""));
        auto limit = Resources::parse(q.value("limit", ""));
        if (!guarantee || !limit) throw std::runtime_error("the quota of role '" + role + "' does not parse");
        quotas_[role] = Quota{*guarantee, *limit};
      }
    }
  } catch (const std::exception& e) {
    return invalid(std::string("the registry is corrupt: ") + e.what());
  }
  return {};
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
  auto saved = persist();
  if (!saved) {
    if (before) {
      agents_[record.id] = std::move(*before);
    } else {
      agents_.erase(record.id);
    }
  }
  return saved;
}

Result<void> Registry::mark(const AgentID& id, AgentMark mark, double at) {
  auto it = agents_.find(id);
  if (it == agents_.end()) return notFound("agent " + id.value + " is not in the registry");
  AgentRecord before = it->second;
  it->second.mark = mark;
  it->second.markedAt = at;
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
    }
  }
  auto saved = persist();
  if (!saved) {
    agents_[id] = std::move(before);
    agents_.merge(forgotten);
  }
  return saved;
}

Result<void> Registry::putFramework(const FrameworkRecord& record) {
  auto it = frameworks_.find(record.info.id);
  std::optional<FrameworkRecord> before;
  if (it != frameworks_.end()) {
    if (frameworkJson(it->second) == frameworkJson(record)) return {};
    before = it->second;
  }
  frameworks_[record.info.id] = record;
  auto saved = persist();
  if (!saved) {
    if (before) {
      frameworks_[record.info.id] = std::move(*before);
    } else {
      frameworks_.erase(record.info.id);
    }
  }
  return saved;
}

Result<void> Registry::removeFramework(const FrameworkID& id) {
  auto it = frameworks_.find(id);
  if (it == frameworks_.end()) return {};
  FrameworkRecord before = std::move(it->second);
  frameworks_.erase(it);
  auto saved = persist();
  if (!saved) frameworks_.emplace(id, std::move(before));
  return saved;
}

Result<void> Registry::remove(const AgentID& id) {
  auto it = agents_.find(id);
  if (it == agents_.end()) return persist();
  AgentRecord before = std::move(it->second);
  agents_.erase(it);
  auto reservationsBefore = reservations_;
  reservations_.erase(id);
  auto saved = persist();
  if (!saved) {
    agents_.emplace(id, std::move(before));
    reservations_ = std::move(reservationsBefore);
  }
  return saved;
}

Resources Registry::reservations(const AgentID& id) const {
  auto it = reservations_.find(id);
  return it == reservations_.end() ? Resources() : it->second;
}

Result<void> Registry::setReservations(const AgentID& id, const Resources& reserved) {
  auto before = reservations_;
  if (reserved.empty()) {
    reservations_.erase(id);
  } else {
    reservations_[id] = reserved;
  }
  auto saved = persist();
  if (!saved) reservations_ = std::move(before);
  return saved;
}

Result<void> Registry::setWeights(const std::map<std::string, double>& weights) {
  auto before = weights_;
  for (const auto& [role, weight] : weights) weights_[role] = weight;
  auto saved = save();
  if (!saved) weights_ = std::move(before);
  return saved;
}

Result<void> Registry::setQuota(const std::string& role, const Quota& quota) {
  auto before = quotas_;
  if (quota.guarantee.empty() && quota.limit.empty()) {
    quotas_.erase(role);
  } else {
    quotas_[role] = quota;
  }
  auto saved = save();
  if (!saved) quotas_ = std::move(before);
  return saved;
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

Result<void> Registry::persist() {
  if (!staging_) return save();
  dirty_ = true;
  if (staged_) staged_();
  return {};
}

Result<void> Registry::save() {
  nlohmann::json j;
  j["version"] = 1;
  j["agents"] = nlohmann::json::array();
  for (const auto& [id, r] : agents_) {
    j["agents"].push_back(
        {{"id", id.value}, {"hostname", r.hostname}, {"mark", agentMarkName(r.mark)}, {"marked_at", r.markedAt}});
  }
  j["frameworks"] = nlohmann::json::array();
  for (const auto& [id, record] : frameworks_) j["frameworks"].push_back(frameworkJson(record));
  j["reservations"] = nlohmann::json::object();
  for (const auto& [id, reserved] : reservations_) j["reservations"][id.value] = reserved.toString();
  j["weights"] = nlohmann::json::object();
  for (const auto& [role, weight] : weights_) j["weights"][role] = weight;
  j["quotas"] = nlohmann::json::object();
  for (const auto& [role, q] : quotas_) {
    j["quotas"][role] = {{"guarantee", q.guarantee.toString()}, {"limit", q.limit.toString()}};
  }
  if (auto saved = store_->save(j.dump(1)); !saved) return saved;
  dirty_ = false;
  // What waited for these changes; a callback may stage and wait again.
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& fn : waiting) fn();
  return {};
}

}  // namespace clusternodes::master
