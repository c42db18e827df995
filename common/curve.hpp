// CURVE keys and the master's credentials file.
//
// Every ZeroMQ link between hosts (agent -> master, framework -> master) can
// be encrypted and authenticated with ZeroMQ's CURVE mechanism (RFC 26). Each
// side has a key pair; a client also needs the server's public key. Keys are
// kept as Z85 text (40 characters for 32 bytes), in small TOML files that
// `clusternodes keys generate NAME` writes:
//
//   NAME.key  (mode 0600)            NAME.pub  (mode 0644)
//   principal = "NAME"               principal = "NAME"
//   public-key = "<40 chars>"        public-key = "<40 chars>"
//   secret-key = "<40 chars>"
//
// The master's credentials file names whom it admits, by kind:
//
//   [agents]
//   host-a = "<public key>"
//   [frameworks]
//   spark = "<public key>"
//
// A principal is named once in the file, and a key belongs to one principal.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "clusternodes/result.hpp"

namespace clusternodes {

struct CurveKey {
  std::string principal;
  std::string publicKey;  // Z85
  std::string secretKey;  // Z85; empty when read from a public file
};

// A new key pair for `principal` (libzmq's zmq_curve_keypair).
CurveKey generateCurveKey(const std::string& principal);

// Whether `key` is a Z85-encoded 32-byte key.
Result<void> checkZ85Key(std::string_view key);

// The Z85 text of a raw 32-byte key; empty when `raw` is not 32 bytes.
std::string z85Key(std::string_view raw);

// A principal's name: 1-128 characters of letters, digits and ". _ -", not
// starting with '.' or '-' (it names the key files too).
Result<void> checkPrincipal(std::string_view principal);

// Writes DIR/NAME.key (0600: both halves) and DIR/NAME.pub (0644: the public
// half). Refuses to replace an existing file unless `overwrite`.
Result<void> writeCurveKey(const CurveKey& key, const std::string& dir, bool overwrite);
// The same as BASE.key and BASE.pub, whatever the principal: a host's agent
// key is /etc/clusternodes/keys/agent.key with the host's name inside.
Result<void> writeCurveKeyFiles(const CurveKey& key, const std::string& base, bool overwrite);

// BASE.key and BASE.pub for `principal`, made unless BASE.key exists (what
// the packages' postinst runs at install: a reinstall keeps the key).
// True when it wrote them.
Result<bool> ensureCurveKeyFiles(const std::string& base, const std::string& principal);

// A host name as a principal: characters a principal may not hold become
// '-', a leading '.' or '-' goes, and it is cut at 128 ("host" if nothing
// is left).
std::string principalFromHostname(std::string_view hostname);

// Reads a key file. With `secret`, the file must hold the secret half too,
// match its public half, and not be readable by group or others.
Result<CurveKey> readCurveKey(const std::string& path, bool secret);

// What a CURVE client presents: its key pair, and the public key of the
// server it will talk to.
struct CurveClientKeys {
  CurveKey own;
  std::string serverPublicKey;
};

// Reads a client's key pair file and its server's public key file; an
// error begins with the name the caller gives the file at fault ("--key",
// "masterKeyFile").
Result<CurveClientKeys> readCurveClientKeys(const std::string& keyFile, const std::string& keyName,
                                            const std::string& serverKeyFile, const std::string& serverKeyName);

enum class PeerKind { kAgent, kFramework };
const char* peerKindName(PeerKind kind);

// Whom the master admits: public key -> principal and kind.
struct Credentials {
  struct Principal {
    std::string name;
    PeerKind kind = PeerKind::kFramework;
  };
  std::map<std::string, Principal> byKey;  // by Z85 public key

  const Principal* find(const std::string& publicKey) const;
  // The kind of the principal named `name`, if the file names it.
  const Principal* named(std::string_view name) const;
};

// Reads a credentials file; kNotFound when it cannot be read, kInvalid (with
// FILE:LINE) for a bad key, a repeated principal or key, or another table.
Result<Credentials> readCredentials(const std::string& path);

// Adds `key`'s public half to the credentials file at `path` (made, 0644,
// when missing) as `kind`. Refuses a principal or key already in it.
Result<void> addCredential(const std::string& path, PeerKind kind, const CurveKey& key);

}  // namespace clusternodes
