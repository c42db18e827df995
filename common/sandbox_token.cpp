#include "common/sandbox_token.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>

#include "common/fingerprint.hpp"

namespace clusternodes {

namespace {

constexpr std::string_view kVersion = "v1.";

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Lower-case hex digits into `out`; false for anything else.
bool unhex(std::string_view text, std::string& out) {
  if (text.size() % 2 != 0) return false;
  out.clear();
  out.reserve(text.size() / 2);
  for (size_t i = 0; i < text.size(); i += 2) {
    int hi = hexDigit(text[i]);
    int lo = hexDigit(text[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

std::string mac(std::string_view key, std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(text.data()),
           text.size(), digest, &length) == nullptr) {
    throw std::runtime_error("HMAC-SHA256 failed");
  }
  return std::string(reinterpret_cast<const char*>(digest), length);
}

Error denied(const std::string& why) { return Error{ErrorCode::kDenied, "sandbox token: " + why}; }

}  // namespace

std::string generateSandboxKey() {
  std::string key(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1) {
    throw std::runtime_error("the system's random number generator failed");
  }
  return key;
}

std::string signSandboxToken(std::string_view key, const SandboxGrant& grant) {
  std::string body = std::string(kVersion) +
                     hexText(grant.agentId + "\n" + grant.path + "\n" + std::to_string(grant.expiresMs));
  return body + "." + hexText(mac(key, body));
}

Result<SandboxGrant> verifySandboxToken(std::string_view key, std::string_view token) {
  if (key.empty()) return denied("this agent has no signing key yet (it is not registered with a master)");
  if (token.size() > 16 * 1024 || token.substr(0, kVersion.size()) != kVersion) return denied("malformed");
  size_t dot = token.rfind('.');
  if (dot < kVersion.size()) return denied("malformed");
  std::string_view body = token.substr(0, dot);
  std::string signature;
  if (!unhex(token.substr(dot + 1), signature)) return denied("malformed");
  std::string expected = mac(key, body);
  if (signature.size() != expected.size() || CRYPTO_memcmp(signature.data(), expected.data(), expected.size()) != 0) {
    return denied("the signature is not the master's (a master that has since restarted, or a forgery)");
  }
  std::string payload;
  if (!unhex(body.substr(kVersion.size()), payload)) return denied("malformed");
  size_t first = payload.find('\n');
  size_t second = first == std::string::npos ? first : payload.find('\n', first + 1);
  if (second == std::string::npos) return denied("malformed");
  SandboxGrant grant;
  grant.agentId = payload.substr(0, first);
  grant.path = payload.substr(first + 1, second - first - 1);
  try {
    size_t used = 0;
    std::string expiry = payload.substr(second + 1);
    grant.expiresMs = std::stoll(expiry, &used);
    if (used != expiry.size()) return denied("malformed");
  } catch (const std::exception&) {
    return denied("malformed");
  }
  return grant;
}

Result<void> grantAllows(const SandboxGrant& grant, const std::string& agentId, const std::string& relativePath,
                         int64_t nowMs) {
  if (grant.agentId != agentId) return denied("it is for agent " + grant.agentId + ", not this one");
  if (nowMs >= grant.expiresMs) return denied("it has expired; ask the master for a new one");
  bool inside = !grant.path.empty() && relativePath.compare(0, grant.path.size(), grant.path) == 0 &&
                (relativePath.size() == grant.path.size() || relativePath[grant.path.size()] == '/');
  if (!inside) return denied("it covers " + grant.path + ", not " + relativePath);
  return {};
}

}  // namespace clusternodes
