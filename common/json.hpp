// JSON forms of the value types, for /state and the CLI.
#pragma once

#include <nlohmann/json.hpp>

#include "clusternodes/resources.hpp"
#include "clusternodes/values.hpp"
#include "common/container_usage.hpp"

namespace clusternodes {

// {"cpus": 2, "mem": 1024, "disk": 0, "ports": "[31000-32000]"} summed over
// roles; every scalar present is listed, ports only when present.
nlohmann::json toJson(const Resources& resources);
// Inverse of toJson() for the CLI (ports from their text form).
Resources resourcesFromJson(const nlohmann::json& j);

// {"cpu_seconds": ..., "mem_bytes": ..., "mem_peak_bytes": ..., ...}
nlohmann::json toJson(const ContainerUsage& usage);
// {"image", "force_pull", "port_mappings": [{"host_port", "container_port", "protocol"}]}
nlohmann::json toJson(const DockerInfo& docker);

// j.dump(), with invalid UTF-8 (a peer's strings are not checked for it
// everywhere) replaced by U+FFFD instead of thrown: one framework's odd
// name must not make /state fail for everyone.
std::string jsonText(const nlohmann::json& j);

}  // namespace clusternodes
