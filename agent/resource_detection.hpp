// What an agent advertises: resources detected from the host, overridden by
// --resources, and attributes from --attributes.
#pragma once

#include <string>
#include <vector>

#include "clusternodes/resources.hpp"
#include "clusternodes/values.hpp"

namespace clusternodes::agent {

// Detects cpus (online processors), mem (physical memory less what the host
// keeps for itself: 1 GiB, or half on hosts with less than 2 GiB) and disk
// (the work dir's file system, less 5 GiB or half), plus ports:[31000-32000].
// Each kind named in `overrides` ("cpus:2;mem:1024") replaces the detected
// amount; reservations ("cpus(ml):2") count toward their kind.
Result<Resources> detectResources(const std::string& workDir, const std::string& overrides);

// Parses "rack:r1;zone:a".
Result<std::vector<Attribute>> parseAttributes(const std::string& text);

// The host's boot id (/proc/sys/kernel/random/boot_id), or "" if unknown.
std::string bootId();

}  // namespace clusternodes::agent
