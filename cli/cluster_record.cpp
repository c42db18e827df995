#include "cli/cluster_record.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace clusternodes::cli {

namespace {

using nlohmann::json;

Result<std::string> stringField(const json& j, const char* name, const std::string& where = "") {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) return invalid("no string field \"" + where + name + "\"");
  return it->get<std::string>();
}

Result<int> pidValue(const json& v, const std::string& what) {
  if (!v.is_number_integer() || v.get<int64_t>() <= 0 || v.get<int64_t>() > 0x7fffffff) {
    return invalid(what + " is not a process id");
  }
  return static_cast<int>(v.get<int64_t>());
}

// pids.NAME, which must be there.
Result<int> pidField(const json& pids, const char* name) {
  auto it = pids.find(name);
  if (it == pids.end()) return invalid(std::string("no pids.") + name);
  return pidValue(*it, std::string("pids.") + name);
}

Result<std::vector<MasterRecord>> parseMasters(const json& masters) {
  if (!masters.is_array() || masters.empty()) return invalid("\"masters\" is not a non-empty array");
  std::vector<MasterRecord> out;
  for (size_t i = 0; i < masters.size(); ++i) {
    std::string where = "masters[" + std::to_string(i) + "].";
    const auto& m = masters[i];
    if (!m.is_object()) return invalid("masters[" + std::to_string(i) + "] is not an object");
    auto address = stringField(m, "address", where);
    if (!address) return address.error();
    auto http = stringField(m, "http", where);
    if (!http) return http.error();
    if (!m.contains("supervisor")) return invalid("no " + where + "supervisor");
    auto supervisor = pidValue(m["supervisor"], where + "supervisor");
    if (!supervisor) return supervisor.error();
    out.push_back({*address, *http, *supervisor});
  }
  return out;
}

// The "pids" object (and "masters") into `record`.
Result<void> parsePids(const json& j, ClusterRecord& record) {
  auto pids = j.find("pids");
  if (pids == j.end() || !pids->is_object()) return invalid("no object field \"pids\"");
  if (auto masters = j.find("masters"); masters != j.end()) {
    auto parsed = parseMasters(*masters);
    if (!parsed) return parsed.error();
    record.masters = std::move(*parsed);
    auto zooKeeper = pidField(*pids, "zookeeper");
    if (!zooKeeper) return zooKeeper.error();
    record.zooKeeperPid = *zooKeeper;
  } else {
    auto master = pidField(*pids, "master");
    if (!master) return master.error();
    record.masterPid = *master;
  }
  auto agents = pids->find("agents");
  if (agents == pids->end() || !agents->is_array()) return invalid("no array pids.agents");
  for (size_t i = 0; i < agents->size(); ++i) {
    auto pid = pidValue((*agents)[i], "pids.agents[" + std::to_string(i) + "]");
    if (!pid) return pid.error();
    record.agentPids.push_back(*pid);
  }
  return {};
}

}  // namespace

std::string serializeClusterRecord(const ClusterRecord& record) {
  json pids = {{"agents", record.agentPids}};
  json j = {{"master", record.master}, {"http", record.http}, {"work_dir", record.workDir}};
  if (record.highlyAvailable()) {
    pids["zookeeper"] = record.zooKeeperPid;
    json masters = json::array();
    for (const auto& m : record.masters) {
      masters.push_back({{"address", m.address}, {"http", m.http}, {"supervisor", m.supervisorPid}});
    }
    j["masters"] = std::move(masters);
  } else {
    pids["master"] = record.masterPid;
  }
  j["pids"] = std::move(pids);
  return j.dump(2) + "\n";
}

Result<ClusterRecord> parseClusterRecord(std::string_view text) {
  auto j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return invalid("not JSON");
  if (!j.is_object()) return invalid("not a JSON object");
  ClusterRecord record;
  for (auto [name, field] : {std::pair{"master", &record.master}, {"http", &record.http},
                             {"work_dir", &record.workDir}}) {
    auto value = stringField(j, name);
    if (!value) return value.error();
    *field = *value;
  }
  if (auto pids = parsePids(j, record); !pids) return pids.error();
  return record;
}

Result<ClusterRecord> loadClusterRecord(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return notFound("no " + path);
    return internalError("cannot read " + path + ": " + std::strerror(errno));
  }
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) return internalError("cannot read " + path);
  auto record = parseClusterRecord(text.str());
  if (!record) return invalid(path + ": " + record.error().message);
  return record;
}

Result<void> saveClusterRecord(const std::string& path, const ClusterRecord& record) {
  std::string temporary = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << serializeClusterRecord(record);
    out.flush();
    if (!out) {
      std::remove(temporary.c_str());
      return internalError("cannot write " + temporary);
    }
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::string reason = std::strerror(errno);
    std::remove(temporary.c_str());
    return internalError("cannot rename " + temporary + " to " + path + ": " + reason);
  }
  return {};
}

Result<std::string> resolveWorkDir(const std::string& flag, const char* clusternodesHome, const char* home) {
  if (!flag.empty()) return flag;
  if (clusternodesHome != nullptr && *clusternodesHome != '\0') return std::string(clusternodesHome);
  if (home != nullptr && *home != '\0') {
    std::string base = home;
    if (base.size() > 1 && base.back() == '/') base.pop_back();
    return (base == "/" ? std::string() : base) + "/.clusternodes";
  }
  return invalid("neither $CLUSTERNODES_HOME nor $HOME is set; pass --work-dir=DIR");
}

}  // namespace clusternodes::cli
