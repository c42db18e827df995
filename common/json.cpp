#include "common/json.hpp"

namespace clusternodes {

nlohmann::json toJson(const Resources& resources) {
  nlohmann::json out = nlohmann::json::object();
  out["cpus"] = 0.0;
  out["mem"] = 0.0;
  out["disk"] = 0.0;
  for (const auto& e : resources.entries()) {
    if (e.isRanges) {
      out[e.name] = resources.ranges(e.name).toString();
    } else {
      out[e.name] = resources.scalar(e.name);
    }
  }
  return out;
}

Resources resourcesFromJson(const nlohmann::json& j) {
  Resources out;
  if (!j.is_object()) return out;
  for (const auto& [name, value] : j.items()) {
    if (value.is_number()) {
      out.addScalar(name, value.get<double>());
    } else if (value.is_string()) {
      auto parsed = Resources::parse(name + ":" + value.get<std::string>());
      if (parsed) out += *parsed;
    }
  }
  return out;
}

nlohmann::json toJson(const ContainerUsage& usage) {
  return {{"cpu_seconds", usage.cpuSeconds},
          {"cpu_user_seconds", usage.cpuUserSeconds},
          {"cpu_system_seconds", usage.cpuSystemSeconds},
          {"mem_bytes", usage.memBytes},
          {"mem_peak_bytes", usage.memPeakBytes},
          {"mem_limit_bytes", usage.memLimitBytes},
          {"oom_kills", usage.oomKills},
          {"processes", usage.processes},
          {"timestamp", usage.timestamp}};
}

nlohmann::json toJson(const DockerInfo& docker) {
  nlohmann::json mappings = nlohmann::json::array();
  for (const auto& mapping : docker.portMappings) {
    mappings.push_back(
        {{"host_port", mapping.hostPort}, {"container_port", mapping.containerPort}, {"protocol", mapping.protocol}});
  }
  return {{"image", docker.image}, {"force_pull", docker.forcePull}, {"port_mappings", mappings}};
}

std::string jsonText(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace clusternodes
