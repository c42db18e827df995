// Which master a command talks to: --master=HOST:PORT (or zk://...), or the
// local cluster recorded in the work dir (with several masters, the one
// that leads; its endpoint then is their zk:// URL).
#pragma once

#include <optional>
#include <string>

#include "clusternodes/result.hpp"

namespace clusternodes::cli {

struct MasterTarget {
  std::string httpUrl;    // "http://127.0.0.1:8081"
  std::string endpoint;   // its ZeroMQ address, HOST:PORT, for a framework to register at
  std::string described;  // for messages: "the master at HOST:PORT"
  // CURVE for a framework: the local cluster's operator key and master key
  // when it has them; "" for a master named by --master.
  std::string keyFile;
  std::string masterKeyFile;
};

// The master to use, or nullopt after printing a one-line reason; then
// `exitCode` is 2 for a bad --master value, else 1. Its keys (the CLI asks
// a --master over ZeroMQ where its HTTP is, and frameworks register) are
// `keyFile` and `masterKeyFile` when given, else the local cluster's in
// `workDir` when it has them.
std::optional<MasterTarget> findMaster(const std::string& master, const std::string& workDir, int& exitCode,
                                       const std::string& keyFile = "", const std::string& masterKeyFile = "");

// HTTP bearer tokens (common/http_auth.hpp): CLUSTERNODES_TOKEN (the token)
// or CLUSTERNODES_TOKEN_FILE (a file holding it) makes every request of the
// CLI send it; without either, a command aimed at the local cluster sends
// the local cluster's own (WORK_DIR/keys/operator.token).
bool httpTokenFromEnvironment();
Result<void> useEnvironmentHttpToken();

// TLS: CLUSTERNODES_CA names the PEM file of the CAs every https:// request
// of the CLI trusts (a cluster's own CA); without it, the system's. Fails
// when the file cannot be read.
Result<void> useEnvironmentHttpCa();

}  // namespace clusternodes::cli
