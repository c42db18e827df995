#include "cli/cluster_record.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace clusternodes::cli {

std::string serializeClusterRecord(const ClusterRecord& record) {
  nlohmann::json j = {
      {"master", record.master},
      {"http", record.http},
      {"work_dir", record.workDir},
      {"pids", {{"master", record.masterPid}, {"agents", record.agentPids}}},
  };
  return j.dump(2) + "\n";
}

Result<ClusterRecord> parseClusterRecord(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return invalid("not JSON");
  if (!j.is_object()) return invalid("not a JSON object");

  auto stringField = [&](const char* name) -> Result<std::string> {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string()) return invalid(std::string("no string field \"") + name + "\"");
    return it->get<std::string>();
  };
  auto pidValue = [](const nlohmann::json& v, const std::string& what) -> Result<int> {
    if (!v.is_number_integer() || v.get<int64_t>() <= 0 || v.get<int64_t>() > 0x7fffffff) {
      return invalid(what + " is not a process id");
    }
    return static_cast<int>(v.get<int64_t>());
  };

  ClusterRecord record;
  auto master = stringField("master");
  if (!master) return master.error();
  record.master = *master;
  auto http = stringField("http");
  if (!http) return http.error();
  record.http = *http;
  auto workDir = stringField("work_dir");
  if (!workDir) return workDir.error();
  record.workDir = *workDir;

  auto pids = j.find("pids");
  if (pids == j.end() || !pids->is_object()) return invalid("no object field \"pids\"");
  auto masterPid = pids->find("master");
  if (masterPid == pids->end()) return invalid("no pids.master");
  auto parsedMaster = pidValue(*masterPid, "pids.master");
  if (!parsedMaster) return parsedMaster.error();
  record.masterPid = *parsedMaster;
  auto agents = pids->find("agents");
  if (agents == pids->end() || !agents->is_array()) return invalid("no array pids.agents");
  for (size_t i = 0; i < agents->size(); ++i) {
    auto pid = pidValue((*agents)[i], "pids.agents[" + std::to_string(i) + "]");
    if (!pid) return pid.error();
    record.agentPids.push_back(*pid);
  }
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
