#include "cli/master_target.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "cli/local_cluster.hpp"
#include "cli/local_keys.hpp"
#include "common/http_auth.hpp"
#include "common/http_client.hpp"
#include "common/master_client.hpp"

namespace clusternodes::cli {

bool httpTokenFromEnvironment() {
  const char* token = std::getenv("CLUSTERNODES_TOKEN");
  const char* file = std::getenv("CLUSTERNODES_TOKEN_FILE");
  return (token != nullptr && *token != '\0') || (file != nullptr && *file != '\0');
}

Result<void> useEnvironmentHttpToken() {
  if (const char* token = std::getenv("CLUSTERNODES_TOKEN"); token != nullptr && *token != '\0') {
    setHttpBearerToken(token);
    return {};
  }
  if (const char* file = std::getenv("CLUSTERNODES_TOKEN_FILE"); file != nullptr && *file != '\0') {
    auto token = readHttpToken(file);
    if (!token) return Error{token.error().code, "CLUSTERNODES_TOKEN_FILE: " + token.error().message};
    setHttpBearerToken(*token);
  }
  return {};
}

Result<void> useEnvironmentHttpCa() {
  const char* file = std::getenv("CLUSTERNODES_CA");
  if (file == nullptr || *file == '\0') return {};
  if (::access(file, R_OK) != 0) {
    return invalid(std::string("CLUSTERNODES_CA: cannot read ") + file + ": " + std::strerror(errno));
  }
  setHttpCaFile(file);
  return {};
}

std::optional<MasterTarget> findMaster(const std::string& master, const std::string& workDir, int& exitCode,
                                       const std::string& keyFile, const std::string& masterKeyFile) {
  exitCode = 1;
  MasterTarget target;
  if (!keyFile.empty() || !masterKeyFile.empty()) {
    target.keyFile = keyFile;
    target.masterKeyFile = masterKeyFile;
  } else if (auto dir = localWorkDir(workDir, /*create=*/false); dir) {
    if (auto keys = localKeys(*dir); keys.operatorReady()) {
      target.keyFile = keys.operatorKey;
      target.masterKeyFile = keys.masterPublic;
    }
  }
  std::optional<CurveClientKeys> keys;
  if (!target.keyFile.empty() || !target.masterKeyFile.empty()) {
    auto read = readCurveClientKeys(target.keyFile, "--key", target.masterKeyFile, "--master-key");
    if (!read) {
      std::cerr << "clusternodes: " << read.error().message << "\n";
      exitCode = 2;
      return std::nullopt;
    }
    keys = std::move(*read);
  }
  if (!master.empty()) {
    auto address = queryMaster(master, 5, keys);
    if (!address) {
      if (address.error().code == ErrorCode::kInvalid) {
        std::cerr << "clusternodes: --master: " << address.error().message << "\n";
        exitCode = 2;
        return std::nullopt;
      }
      std::cerr << "clusternodes: no master answers at " << master
                << "; check the address, or run 'clusternodes start' for a local cluster\n";
      return std::nullopt;
    }
    target.httpUrl = address->httpUrl();
    target.endpoint = master;
    target.described = "the master at " + master;
    return target;
  }
  auto dir = localWorkDir(workDir, /*create=*/false);
  if (!dir) {
    std::cerr << "clusternodes: " << dir.error().message << "\n";
    return std::nullopt;
  }
  auto record = loadClusterRecord(clusterRecordPath(*dir));
  if (!record) {
    if (record.error().code == ErrorCode::kNotFound) {
      std::cerr << "clusternodes: no local cluster is running in " << *dir
                << "; run 'clusternodes start' (or pass --master=HOST:PORT)\n";
    } else {
      std::cerr << "clusternodes: " << record.error().message
                << "; run 'clusternodes stop' then 'clusternodes start'\n";
    }
    return std::nullopt;
  }
  // The local cluster's HTTP token, unless the environment names one (it
  // goes to the local cluster only: never to a --master elsewhere).
  if (!httpTokenFromEnvironment()) {
    if (auto token = readHttpToken(localKeys(*dir).operatorToken); token) setHttpBearerToken(*token);
  }
  target.endpoint = record->master;
  target.described = "the local master " + record->master;
  auto leading = leadingMasterHttp(*record);
  if (!leading) {
    std::cerr << "clusternodes: of the local masters elected through " << record->master << ", "
              << leading.error().message << "; try again in a few seconds\n";
    return std::nullopt;
  }
  target.httpUrl = *leading;
  if (record->highlyAvailable()) target.described = "the leading local master at " + *leading;
  return target;
}

}  // namespace clusternodes::cli
