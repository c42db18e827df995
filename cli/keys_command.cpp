// `clusternodes keys generate|add|show`: CURVE key pairs and the master's
// credentials file (common/curve.hpp).
#include <iostream>

#include "cli/commands.hpp"
#include "common/curve.hpp"
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

}  // namespace clusternodes::cli
