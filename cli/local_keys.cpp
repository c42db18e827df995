#include "cli/local_keys.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/curve.hpp"

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

}  // namespace

std::vector<std::string> LocalKeys::masterFlags() const {
  return {"--key=" + masterKey, "--credentials=" + credentials, "--authenticate-agents", "--authenticate-frameworks"};
}

std::vector<std::string> LocalKeys::agentFlags() const { return {"--key=" + agentKey, "--master-key=" + masterPublic}; }

bool LocalKeys::operatorReady() const { return exists(operatorKey) && exists(masterPublic); }

LocalKeys localKeys(const std::string& workDir) {
  LocalKeys keys;
  keys.dir = workDir + "/keys";
  keys.masterKey = keys.dir + "/master.key";
  keys.masterPublic = keys.dir + "/master.pub";
  keys.agentKey = keys.dir + "/" + kAgent + ".key";
  keys.operatorKey = keys.dir + "/" + kOperator + ".key";
  keys.credentials = keys.dir + "/credentials.toml";
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
  return keys;
}

}  // namespace clusternodes::cli
