// What the service commands (service_command.cpp) and the service
// scheduler process (service_scheduler.cpp) agree on: names and files.
#pragma once

#include <string>

#include "clusternodes/result.hpp"

namespace clusternodes::cli {

// A service's name becomes part of its task ids ("NAME.0.1") and file
// names: 1 to 64 letters, digits, '-' and '_'. Fails (kInvalid) with the
// reason.
Result<void> checkServiceName(const std::string& name);

// "docker:NAME": how the master lists the service's framework.
std::string serviceFrameworkName(const std::string& name);

// WORK_DIR/services, where each service keeps NAME.log and NAME.pid.
std::string servicesDir(const std::string& workDir);

}  // namespace clusternodes::cli
