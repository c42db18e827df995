// Blocking helpers for tools (the CLI, tests) that talk to a master: find
// its HTTP address from its ZeroMQ address.
#pragma once

#include <optional>
#include <string>

#include "clusternodes/result.hpp"
#include "common/curve.hpp"

namespace clusternodes {

struct MasterAddress {
  std::string id;
  std::string host;  // as given in HOST:PORT
  int httpPort = 0;
  bool httpTls = false;  // its HTTP port speaks TLS
  std::string httpUrl() const { return (httpTls ? "https://" : "http://") + host + ":" + std::to_string(httpPort); }
};

// Asks the master at HOST:PORT for its id and HTTP port; a standby master
// (--zk) names the leader, which is asked in its place. `master` may be a
// zk:// URL: the leader its election names. Fails with kUnavailable when no
// leader answers within `timeoutSeconds`. With `keys` (the tool's key pair
// and the master's public key), over CURVE, as a master started with --key
// requires.
Result<MasterAddress> queryMaster(const std::string& master, double timeoutSeconds = 5,
                                  const std::optional<CurveClientKeys>& keys = std::nullopt);

}  // namespace clusternodes
