// Authentication: who may reach the master over ZeroMQ, and as whom.
//
// With --key the master's socket is a CURVE server: every link is
// encrypted, and each peer proves a key pair. Its ZapHandler asks
// `admit()` about each peer's public key at the handshake: a key in the
// credentials file is admitted as its principal; any other key is admitted
// anonymously (principal "") while some kind of peer may be anonymous, and
// refused when both --authenticate-agents and --authenticate-frameworks are
// on. Then each registration is checked for its kind (`mayRegisterAgent`,
// `maySubscribe`): an agent's key registers agents, a framework's key
// subscribes frameworks.
//
// Each refusal is counted by reason (clusternodes_master_peers_refused_total)
// and logged once per key or principal, not at every retry. Loop thread only.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "common/curve.hpp"
#include "common/transport.hpp"
#include "common/zap.hpp"

namespace clusternodes::master {

struct MasterFlags;

// The master's key pair and credentials, read as the flags name them;
// nullopt without --key. Errors begin with the flag at fault.
struct LinkSecurity {
  CurveKey key;
  Credentials credentials;
};
Result<std::optional<LinkSecurity>> loadLinkSecurity(const MasterFlags& flags);

class Authenticator {
 public:
  // `credentials` empty: no key is known (every peer is anonymous).
  Authenticator(Credentials credentials, bool authenticateAgents, bool authenticateFrameworks);

  // The ZapHandler's question: may this peer connect, and as whom?
  ZapVerdict admit(const ZapRequest& request);
  // A peer whose handshake failed before the question (not CURVE, or not
  // the master's key).
  void handshakeFailed(ZmqSocket::HandshakeFailure failure, int value);

  // Whether a peer authenticated as `principal` may register an agent, or
  // subscribe a framework; an Error (kDenied) says why not.
  Result<void> mayRegisterAgent(std::string_view principal) { return mayRegister(PeerKind::kAgent, principal); }
  Result<void> maySubscribe(std::string_view principal) { return mayRegister(PeerKind::kFramework, principal); }
  // A message from a registered peer whose link authenticated as another
  // principal than it registered as: counted, logged once.
  void impostor(std::string_view registeredAs, std::string_view principal, std::string_view what);

  // Refusals so far, by reason: unknown_key, not_curve, bad_handshake,
  // not_an_agent, not_a_framework, wrong_principal.
  const std::map<std::string, uint64_t>& refused() const { return refused_; }
  size_t knownKeys() const { return credentials_.byKey.size(); }

 private:
  Result<void> mayRegister(PeerKind kind, std::string_view principal);
  // Counts a refusal; true the first time `who` is refused for `reason`.
  bool refuse(const std::string& reason, const std::string& who);

  Credentials credentials_;
  bool authenticateAgents_;
  bool authenticateFrameworks_;
  std::map<std::string, uint64_t> refused_;
  std::set<std::string> logged_;  // reason + who, each logged once (bounded)
};

}  // namespace clusternodes::master
