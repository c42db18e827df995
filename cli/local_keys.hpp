// The local cluster's CURVE keys: `clusternodes start` makes them in
// WORK_DIR/keys on first use, so that the local cluster is authenticated
// and encrypted like a deployed one.
//
//   keys/master.key, master.pub      the masters' key pair (all of them share it)
//   keys/agent.key, agent.pub        the local agents' key pair (principal "agent")
//   keys/operator.key, operator.pub  the CLI's frameworks' (principal "operator"):
//                                    `clusternodes run` and services, and your own
//                                    frameworks against the local cluster
//   keys/credentials.toml            the master's --credentials: agent and operator
//   keys/operator.token              the CLI's HTTP bearer token (principal "operator")
//   keys/http-tokens.toml            the daemons' --http-credentials: its hash
//   acls.toml                        the master's --acls: the operator may do
//                                    everything, running tasks as the user who
//                                    started the cluster or as nobody (kept
//                                    once written: edit it, then restart)
#pragma once

#include <string>
#include <vector>

#include "clusternodes/result.hpp"

namespace clusternodes::cli {

struct LocalKeys {
  std::string dir;
  std::string masterKey, masterPublic;
  std::string agentKey;
  std::string operatorKey;
  std::string credentials;
  std::string operatorToken;
  std::string httpTokens;
  std::string acls;

  // The master's flags for these keys: --key, --credentials, both
  // --authenticate flags, --http-credentials and --acls.
  std::vector<std::string> masterFlags() const;
  // An agent's: --key, --master-key and --http-credentials.
  std::vector<std::string> agentFlags() const;
  // Whether the operator's key and the master's public key exist (a local
  // cluster started by an older version has none).
  bool operatorReady() const;
};

// The key paths of the local cluster in `workDir` (nothing is made).
LocalKeys localKeys(const std::string& workDir);

// Makes what is missing of the local cluster's keys and its ACL file
// (existing keys are kept, so running tasks and frameworks keep working
// across restarts; an existing ACL file is the operator's).
Result<LocalKeys> ensureLocalKeys(const std::string& workDir);

}  // namespace clusternodes::cli
