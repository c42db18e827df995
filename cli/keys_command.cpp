// `clusternodes keys generate|add|show`: CURVE key pairs and the master's
// credentials file (common/curve.hpp); `clusternodes tokens generate`: HTTP
// bearer tokens and the daemons' tokens file (common/http_auth.hpp).
#include <unistd.h>

#include <iostream>

#include "cli/commands.hpp"
#include "common/curve.hpp"
#include "common/http_auth.hpp"
#include "common/fingerprint.hpp"

namespace clusternodes::cli {

int runKeysGenerate(const KeysOptions& options) {
  if (auto valid = checkPrincipal(options.name); !valid) {
    std::cerr << "clusternodes: keys generate: " << valid.error().message << "\n";
    return 2;
  }
  CurveKey key = generateCurveKey(options.name);
  if (auto written = writeCurveKey(key, options.dir, options.force); !written) {
    std::cerr << "clusternodes: keys generate: " << written.error().message << "\n";
    return 1;
  }
  std::string base = options.dir + "/" + options.name;
  std::cout << base << ".key: the key pair of '" << options.name << "' (keep it secret)\n"
            << base << ".pub: its public key " << keyFingerprint(key.publicKey) << "\n";
  return 0;
}

int runKeysAdd(const KeysOptions& options) {
  auto key = readCurveKey(options.file, false);
  if (!key) {
    std::cerr << "clusternodes: keys add: " << key.error().message << "\n";
    return 2;
  }
  PeerKind kind = options.agent ? PeerKind::kAgent : PeerKind::kFramework;
  if (auto added = addCredential(options.credentials, kind, *key); !added) {
    std::cerr << "clusternodes: keys add: " << added.error().message << "\n";
    return 1;
  }
  std::cout << "added " << peerKindName(kind) << " '" << key->principal << "' (" << keyFingerprint(key->publicKey)
            << ") to " << options.credentials << "; restart the masters to apply\n";
  return 0;
}

int runKeysShow(const KeysOptions& options) {
  auto key = readCurveKey(options.file, false);
  if (!key) {
    std::cerr << "clusternodes: keys show: " << key.error().message << "\n";
    return 2;
  }
  std::cout << "principal: " << key->principal << "\npublic key: " << key->publicKey
            << "\nfingerprint: " << keyFingerprint(key->publicKey) << "\n";
  return 0;
}

int runTokensGenerate(const TokensOptions& options) {
  if (auto valid = checkPrincipal(options.principal); !valid) {
    std::cerr << "clusternodes: tokens generate: " << valid.error().message << "\n";
    return 2;
  }
  if (!options.out.empty() && ::access(options.out.c_str(), F_OK) == 0) {
    std::cerr << "clusternodes: tokens generate: " << options.out << " exists already\n";
    return 1;
  }
  std::string token = generateHttpToken();
  // The token first: a hash in the file whose token was lost is harmless.
  if (!options.out.empty()) {
    if (auto written = writeHttpToken(options.out, token); !written) {
      std::cerr << "clusternodes: tokens generate: " << written.error().message << "\n";
      return 1;
    }
  }
  if (auto added = addHttpToken(options.credentials, options.principal, token); !added) {
    std::cerr << "clusternodes: tokens generate: " << added.error().message << "\n";
    if (!options.out.empty()) ::unlink(options.out.c_str());
    return 1;
  }
  if (options.out.empty()) {
    std::cout << token << "\n";
  } else {
    std::cout << options.out << ": the token of '" << options.principal << "' (keep it secret)\n";
  }
  std::cerr << "added its hash to " << options.credentials << "; restart the daemons to apply\n";
  return 0;
}

}  // namespace clusternodes::cli
