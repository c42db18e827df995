// Bearer tokens on the daemons' HTTP ports.
//
// A tokens file maps tokens to principals. It holds each token's SHA-256,
// never the token itself, so that reading the file (a backup, a config
// management tool) gives no one a token:
//
//   [[token]]
//   principal = "ops"
//   sha256 = "9f86d0...0f00a08"   # of the token; `clusternodes tokens generate`
//
// A request names its token in `Authorization: Bearer TOKEN`. What needs
// one is --http-authenticate's choice:
//
//   none    nothing (a valid token still names the caller, for the ACLs)
//   writes  every method but GET and HEAD (the default with a tokens file)
//   all     everything but /health and the web UI's own files
//
// A missing token where one is needed, or a token the file does not hold,
// gets 401 with a WWW-Authenticate challenge (RFC 6750); what the ACLs
// then refuse the principal gets 403, from the handler.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "clusternodes/result.hpp"
#include "common/http_server.hpp"

namespace clusternodes {

enum class HttpAuthentication { kNone, kWrites, kAll };

Result<HttpAuthentication> parseHttpAuthentication(std::string_view text);
const char* httpAuthenticationName(HttpAuthentication mode);

class HttpTokens {
 public:
  // Reads a tokens file; errors name FILE:LINE.
  static Result<HttpTokens> load(const std::string& path);

  // The principal of `token`, if the file holds it.
  std::optional<std::string> principalOf(std::string_view token) const;
  size_t size() const { return principals_.size(); }

 private:
  std::unordered_map<std::string, std::string> principals_;  // SHA-256 (hex) -> principal
};

// A new token: 32 random bytes from the system's CSPRNG, as 64 hex digits.
std::string generateHttpToken();
// Its SHA-256, as the tokens file keeps it (hex).
std::string httpTokenHash(std::string_view token);
// Adds `token` for `principal` to the tokens file (made 0600 when absent).
Result<void> addHttpToken(const std::string& tokensFile, const std::string& principal, std::string_view token);
// Reads a token from a file (its first line, trimmed).
Result<std::string> readHttpToken(const std::string& path);
// Writes a token to a new file, 0600, through a temporary file.
Result<void> writeHttpToken(const std::string& path, std::string_view token);

struct HttpAuthPolicy {
  HttpAuthentication mode = HttpAuthentication::kNone;
  std::optional<HttpTokens> tokens;
  // Paths answered whatever the mode (/health; the web UI's page and files,
  // which a browser fetches without a header). A path ending in '/' covers
  // everything under it, but "/" is the root page alone.
  std::vector<std::string> open;
  // What refused requests are counted in; may be null.
  std::shared_ptr<uint64_t> refused;
  // Another credential, in the query (`?token=`), for a request that needs
  // one and has no Authorization header: the agents' sandbox tokens. Gives
  // the principal it names, or an error (401, with its words). Unset: a
  // query token is no credential.
  std::function<Result<std::string>(const HttpRequest&)> queryToken;
};

// The gate for HttpServer::gate(): fills request.principal from a valid
// token, and answers 401 where `policy` needs a token the request lacks.
HttpGate httpAuthGate(std::shared_ptr<const HttpAuthPolicy> policy);

// Reads --http-authenticate and --http-credentials into a policy; the mode
// "" means the default (writes with a tokens file, none without).
Result<HttpAuthPolicy> loadHttpAuthPolicy(const std::string& mode, const std::string& tokensFile);

}  // namespace clusternodes
