#include "master/authentication.hpp"

#include <spdlog/spdlog.h>

#include "common/fingerprint.hpp"
#include "master/context.hpp"

namespace clusternodes::master {
namespace {

// Distinct refusals logged before the rest are only counted: a flood of
// random keys must not fill the log or the memory.
constexpr size_t kMaxLogged = 10000;

std::string shown(std::string_view principal) {
  return principal.empty() ? std::string("an anonymous peer") : "principal '" + std::string(principal) + "'";
}

}  // namespace

Result<std::optional<LinkSecurity>> loadLinkSecurity(const MasterFlags& flags) {
  if (flags.keyFile.empty()) {
    if (flags.authenticateAgents) return invalid("--authenticate-agents needs --key, the master's key pair");
    if (flags.authenticateFrameworks) return invalid("--authenticate-frameworks needs --key, the master's key pair");
    if (!flags.credentialsFile.empty()) return invalid("--credentials needs --key, the master's key pair");
    return std::optional<LinkSecurity>();
  }
  LinkSecurity security;
  auto key = readCurveKey(flags.keyFile, true);
  if (!key) return Error{key.error().code, "--key: " + key.error().message};
  security.key = std::move(*key);
  if (flags.credentialsFile.empty()) {
    if (flags.authenticateAgents) return invalid("--authenticate-agents needs --credentials, the agents' keys");
    if (flags.authenticateFrameworks) {
      return invalid("--authenticate-frameworks needs --credentials, the frameworks' keys");
    }
    return std::optional<LinkSecurity>(std::move(security));
  }
  auto credentials = readCredentials(flags.credentialsFile);
  if (!credentials) return Error{credentials.error().code, "--credentials: " + credentials.error().message};
  security.credentials = std::move(*credentials);
  return std::optional<LinkSecurity>(std::move(security));
}

Authenticator::Authenticator(Credentials credentials, bool authenticateAgents, bool authenticateFrameworks)
    : credentials_(std::move(credentials)),
      authenticateAgents_(authenticateAgents),
      authenticateFrameworks_(authenticateFrameworks) {}

bool Authenticator::refuse(const std::string& reason, const std::string& who) {
  ++refused_[reason];
  if (logged_.size() >= kMaxLogged) return false;
  return logged_.insert(reason + "\n" + who).second;
}

ZapVerdict Authenticator::admit(const ZapRequest& request) {
  if (request.mechanism != "CURVE") {
    refuse("not_curve", request.address);
    return ZapVerdict::refuse("this master speaks CURVE only");
  }
  if (const auto* known = credentials_.find(request.publicKey)) return ZapVerdict::admit(known->name);
  if (!authenticateAgents_ || !authenticateFrameworks_) return ZapVerdict::admit("");
  std::string fingerprint = keyFingerprint(request.publicKey);
  if (refuse("unknown_key", request.publicKey)) {
    spdlog::warn("refused a peer at {} with key {} ({}): the key is not in the credentials file", request.address,
                 fingerprint, request.publicKey);
  }
  return ZapVerdict::refuse("key " + fingerprint + " is not in the master's credentials");
}

void Authenticator::handshakeFailed(ZmqSocket::HandshakeFailure failure, int value) {
  using Failure = ZmqSocket::HandshakeFailure;
  // kRefused is ours, counted in admit().
  if (failure == Failure::kRefused) return;
  std::string reason = failure == Failure::kMechanism ? "not_curve" : "bad_handshake";
  if (refuse(reason, std::to_string(value))) {
    spdlog::warn("a peer failed the CURVE handshake: {} (further such failures are only counted in "
                 "clusternodes_master_peers_refused_total)",
                 ZmqSocket::describe(failure));
  }
}

Result<void> Authenticator::mayRegister(PeerKind kind, std::string_view principal) {
  const auto* known = principal.empty() ? nullptr : credentials_.named(principal);
  if (known != nullptr && known->kind == kind) return {};
  bool agent = kind == PeerKind::kAgent;
  if (!(agent ? authenticateAgents_ : authenticateFrameworks_)) return {};
  std::string what = peerKindName(kind);
  std::string why = known == nullptr ? "no " + what + " key"
                                     : std::string("the key of ") + peerKindName(known->kind) + " '" + known->name + "'";
  if (refuse(agent ? "not_an_agent" : "not_a_framework", std::string(principal))) {
    spdlog::warn("refused {} from {}: it presented {}", agent ? "an agent registration" : "a framework subscription",
                 shown(principal), why);
  }
  return Error{ErrorCode::kDenied, what + "s must present " + (agent ? "an " : "a ") + what + " key (this link presented " +
                                       why + ")"};
}

void Authenticator::impostor(std::string_view registeredAs, std::string_view principal, std::string_view what) {
  if (refuse("wrong_principal", std::string(registeredAs) + "\n" + std::string(principal))) {
    spdlog::warn("dropped a message ({}) sent as {} over the connection of {}", what, shown(principal),
                 shown(registeredAs));
  }
}

}  // namespace clusternodes::master
