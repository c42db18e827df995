#include "cli/local_keys.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "common/curve.hpp"
#include "common/http_auth.hpp"
#include "common/users.hpp"

namespace clusternodes::cli {
namespace {

constexpr const char* kAgent = "agent";
constexpr const char* kOperator = "operator";

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// The key pair NAME in `dir`, made when its .key file is missing.
Result<CurveKey> ensureKey(const std::string& dir, const std::string& name) {
  std::string path = dir + "/" + name + ".key";
  if (exists(path)) return readCurveKey(path, true);
  CurveKey key = generateCurveKey(name);
  if (auto written = writeCurveKey(key, dir, /*overwrite=*/true); !written) return written.error();
  return key;
}

// The local cluster's ACLs: the operator (the CLI, and your frameworks with
// its key) may do everything, and runs tasks as you or as nobody.
Result<void> writeLocalAcls(const std::string& path) {
  auto self = currentUser();
  if (!self) return self.error();
  std::string text =
      "# Who may do what on this local cluster: the master's --acls (docs/security.md).\n"
      "# `clusternodes start` wrote it; edit it, then stop and start the cluster.\n"
      "#\n"
      "# The CLI and your frameworks (principal \"operator\") may use every role and\n"
      "# run tasks as the user who started the cluster, or as nobody.\n"
      "[[register_framework]]\nprincipals = [\"operator\"]\nroles = [\"*\"]\n\n"
      "[[run_task]]\nprincipals = [\"operator\"]\nusers = [\"" +
      self->name + "\", \"nobody\"]\n\n"
      "[[reserve]]\nprincipals = [\"operator\"]\nroles = [\"*\"]\n\n"
      "[[teardown]]\nprincipals = [\"operator\"]\nframework_principals = [\"*\"]\n\n"
      "# The operator API over HTTP, with the CLI's token (keys/operator.token).\n"
      "[[update_weights]]\nprincipals = [\"operator\"]\nroles = [\"*\"]\n\n"
      "[[update_quota]]\nprincipals = [\"operator\"]\nroles = [\"*\"]\n";
  std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << text;
    if (!out.flush()) return internalError("cannot write " + temporary + ": " + std::strerror(errno));
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    return internalError("cannot write " + path + ": " + std::strerror(errno));
  }
  return {};
}

}  // namespace

std::vector<std::string> LocalKeys::masterFlags() const {
  return {"--key=" + masterKey, "--credentials=" + credentials, "--authenticate-agents", "--authenticate-frameworks",
          "--http-credentials=" + httpTokens, "--acls=" + acls};
}

std::vector<std::string> LocalKeys::agentFlags() const {
  return {"--key=" + agentKey, "--master-key=" + masterPublic, "--http-credentials=" + httpTokens};
}

bool LocalKeys::operatorReady() const { return exists(operatorKey) && exists(masterPublic); }

LocalKeys localKeys(const std::string& workDir) {
  LocalKeys keys;
  keys.dir = workDir + "/keys";
  keys.masterKey = keys.dir + "/master.key";
  keys.masterPublic = keys.dir + "/master.pub";
  keys.agentKey = keys.dir + "/" + kAgent + ".key";
  keys.operatorKey = keys.dir + "/" + kOperator + ".key";
  keys.credentials = keys.dir + "/credentials.toml";
  keys.operatorToken = keys.dir + "/" + kOperator + ".token";
  keys.httpTokens = keys.dir + "/http-tokens.toml";
  keys.acls = workDir + "/acls.toml";
  return keys;
}

Result<LocalKeys> ensureLocalKeys(const std::string& workDir) {
  LocalKeys keys = localKeys(workDir);
  if (::mkdir(keys.dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return internalError("cannot create " + keys.dir + ": " + std::strerror(errno));
  }
  auto master = ensureKey(keys.dir, "master");
  if (!master) return master.error();
  auto agent = ensureKey(keys.dir, kAgent);
  if (!agent) return agent.error();
  auto user = ensureKey(keys.dir, kOperator);
  if (!user) return user.error();
  // The credentials name the keys of this directory: made again when one
  // of them was replaced, or when the file is missing.
  auto credentials = readCredentials(keys.credentials);
  bool current = credentials && credentials->byKey.size() == 2 && credentials->find(agent->publicKey) != nullptr &&
                 credentials->find(user->publicKey) != nullptr;
  if (!current) {
    ::unlink(keys.credentials.c_str());
    if (auto added = addCredential(keys.credentials, PeerKind::kAgent, *agent); !added) return added.error();
    if (auto added = addCredential(keys.credentials, PeerKind::kFramework, *user); !added) return added.error();
  }
  // The operator's HTTP token, and the tokens file that holds its hash.
  if (!exists(keys.operatorToken)) {
    if (auto written = writeHttpToken(keys.operatorToken, generateHttpToken()); !written) return written.error();
  }
  auto token = readHttpToken(keys.operatorToken);
  if (!token) return token.error();
  auto tokens = HttpTokens::load(keys.httpTokens);
  if (!tokens || tokens->size() != 1 || tokens->principalOf(*token) != std::optional<std::string>(kOperator)) {
    ::unlink(keys.httpTokens.c_str());
    if (auto added = addHttpToken(keys.httpTokens, kOperator, *token); !added) return added.error();
  }
  if (!exists(keys.acls)) {
    if (auto written = writeLocalAcls(keys.acls); !written) return written.error();
  }
  return keys;
}

}  // namespace clusternodes::cli
