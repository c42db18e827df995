// Blocking helpers for tools (the CLI, tests) that talk to a master: find
// its HTTP address from its ZeroMQ address.
#pragma once

#include <string>

#include "clusternodes/result.hpp"

namespace clusternodes {

struct MasterAddress {
  std::string id;
  std::string host;  // as given in HOST:PORT
  int httpPort = 0;
  std::string httpUrl() const { return "http://" + host + ":" + std::to_string(httpPort); }
};

// Asks the master at HOST:PORT for its id and HTTP port. Fails with
// kUnavailable when it does not answer within `timeoutSeconds`.
Result<MasterAddress> queryMaster(const std::string& master, double timeoutSeconds = 5);

}  // namespace clusternodes
