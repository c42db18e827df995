#include "common/http_auth.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <toml++/toml.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/curve.hpp"
#include "common/file_system.hpp"
#include "common/fingerprint.hpp"

namespace clusternodes {
namespace {

bool isHashText(std::string_view text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string trimmed(std::string_view text) {
  size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return {};
  size_t end = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(begin, end - begin + 1));
}

HttpResponse unauthorized(const std::string& challenge, const std::string& why) {
  HttpResponse response = HttpResponse::jsonError(401, why);
  response.headers["WWW-Authenticate"] = challenge;
  return response;
}

bool isOpen(const HttpAuthPolicy& policy, const std::string& path) {
  for (const auto& open : policy.open) {
    bool prefix = open.size() > 1 && open.back() == '/';
    if (prefix ? path.compare(0, open.size(), open) == 0 : path == open) return true;
  }
  return false;
}

}  // namespace

Result<HttpAuthentication> parseHttpAuthentication(std::string_view text) {
  if (text == "none") return HttpAuthentication::kNone;
  if (text == "writes") return HttpAuthentication::kWrites;
  if (text == "all") return HttpAuthentication::kAll;
  return invalid("'" + std::string(text) + "' is not one of all, writes, none");
}

const char* httpAuthenticationName(HttpAuthentication mode) {
  switch (mode) {
    case HttpAuthentication::kNone: return "none";
    case HttpAuthentication::kWrites: return "writes";
    case HttpAuthentication::kAll: return "all";
  }
  return "none";
}

Result<HttpTokens> HttpTokens::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return notFound("cannot read " + path + ": " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  toml::table table;
  try {
    table = toml::parse(text.str(), path);
  } catch (const toml::parse_error& e) {
    return invalid(path + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description()));
  }
  HttpTokens tokens;
  for (const auto& [key, node] : table) {
    if (key.str() != "token") {
      return invalid(path + ":" + std::to_string(node.source().begin.line) + ": unknown key '" +
                     std::string(key.str()) + "' (a tokens file holds [[token]] entries)");
    }
  }
  const auto* entries = table["token"].as_array();
  if (table.contains("token") && entries == nullptr) {
    return invalid(path + ":" + std::to_string(table["token"].node()->source().begin.line) +
                   ": 'token' must be [[token]] entries");
  }
  if (entries == nullptr) return tokens;
  for (const auto& node : *entries) {
    std::string at = path + ":" + std::to_string(node.source().begin.line);
    const auto* entry = node.as_table();
    if (entry == nullptr) return invalid(at + ": a [[token]] entry must be a table");
    for (const auto& [key, value] : *entry) {
      if (key.str() != "principal" && key.str() != "sha256") {
        return invalid(at + ": unknown key '" + std::string(key.str()) + "' (a token has principal and sha256)");
      }
    }
    auto principal = (*entry)["principal"].value<std::string>();
    auto hash = (*entry)["sha256"].value<std::string>();
    if (!principal) return invalid(at + ": the token names no principal");
    if (auto valid = checkPrincipal(*principal); !valid) return invalid(at + ": " + valid.error().message);
    if (!hash || !isHashText(*hash)) return invalid(at + ": sha256 must be 64 lower-case hex digits");
    if (!tokens.principals_.emplace(*hash, *principal).second) return invalid(at + ": this token is listed twice");
  }
  return tokens;
}

std::optional<std::string> HttpTokens::principalOf(std::string_view token) const {
  auto it = principals_.find(httpTokenHash(token));
  if (it == principals_.end()) return std::nullopt;
  return it->second;
}

std::string generateHttpToken() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("the system's random source failed");
  return hexText(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
}

std::string httpTokenHash(std::string_view token) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(token.data(), token.size(), digest, &size, EVP_sha256(), nullptr);
  return hexText(std::string_view(reinterpret_cast<const char*>(digest), size));
}

Result<void> addHttpToken(const std::string& tokensFile, const std::string& principal, std::string_view token) {
  if (auto valid = checkPrincipal(principal); !valid) return valid;
  if (::access(tokensFile.c_str(), F_OK) == 0) {
    // Never append to a file the daemons would refuse.
    if (auto existing = HttpTokens::load(tokensFile); !existing) return existing.error();
  }
  std::string entry = "\n[[token]]\nprincipal = \"" + principal + "\"\nsha256 = \"" + httpTokenHash(token) + "\"\n";
  return appendDurably(tokensFile, entry, 0600);
}

Result<std::string> readHttpToken(const std::string& path) {
  std::ifstream in(path);
  if (!in) return notFound("cannot read the token in " + path + ": " + std::strerror(errno));
  std::string line;
  std::getline(in, line);
  std::string token = trimmed(line);
  if (token.empty()) return invalid(path + " holds no token");
  return token;
}

Result<void> writeHttpToken(const std::string& path, std::string_view token) {
  return writeFileDurably(path, std::string(token) + "\n", 0600);
}

HttpGate httpAuthGate(std::shared_ptr<const HttpAuthPolicy> policy) {
  return [policy = std::move(policy)](HttpRequest& request) -> std::optional<HttpResponse> {
    auto refuse = [&](const std::string& challenge, const std::string& why) {
      if (policy->refused) ++*policy->refused;
      return unauthorized(challenge, why);
    };
    auto header = request.headers.find("authorization");
    if (header != request.headers.end()) {
      std::string_view value = header->second;
      // The scheme is case-insensitive (RFC 7235).
      if (value.size() < 7 || strncasecmp(value.data(), "Bearer ", 7) != 0) {
        return refuse("Bearer realm=\"clusternodes\", error=\"invalid_request\"",
                      "the Authorization header must be 'Bearer TOKEN'");
      }
      std::string token = trimmed(value.substr(7));
      auto principal = policy->tokens ? policy->tokens->principalOf(token) : std::nullopt;
      if (!principal) {
        return refuse("Bearer realm=\"clusternodes\", error=\"invalid_token\"",
                      "the token is not one this daemon knows (--http-credentials)");
      }
      request.principal = *principal;
      return std::nullopt;
    }
    bool needed = false;
    if (!isOpen(*policy, request.path)) {
      needed = policy->mode == HttpAuthentication::kAll ||
               (policy->mode == HttpAuthentication::kWrites && request.method != "GET" && request.method != "HEAD");
    }
    if (needed && policy->queryToken && request.query.count("token") != 0) {
      auto principal = policy->queryToken(request);
      if (!principal) return refuse("Bearer realm=\"clusternodes\", error=\"invalid_token\"", principal.error().message);
      request.principal = *principal;
      return std::nullopt;
    }
    if (needed) {
      return refuse("Bearer realm=\"clusternodes\"",
                    request.method + " " + request.path + " needs a token: send 'Authorization: Bearer TOKEN'");
    }
    return std::nullopt;
  };
}

Result<HttpAuthPolicy> loadHttpAuthPolicy(const std::string& mode, const std::string& tokensFile) {
  HttpAuthPolicy policy;
  if (!tokensFile.empty()) {
    auto tokens = HttpTokens::load(tokensFile);
    if (!tokens) return Error{tokens.error().code, "--http-credentials: " + tokens.error().message};
    policy.tokens = std::move(*tokens);
  }
  if (mode.empty()) {
    policy.mode = policy.tokens ? HttpAuthentication::kWrites : HttpAuthentication::kNone;
    return policy;
  }
  auto parsed = parseHttpAuthentication(mode);
  if (!parsed) return Error{parsed.error().code, "--http-authenticate: " + parsed.error().message};
  policy.mode = *parsed;
  if (policy.mode != HttpAuthentication::kNone && !policy.tokens) {
    return invalid("--http-authenticate=" + mode + " needs --http-credentials, the tokens file");
  }
  return policy;
}

}  // namespace clusternodes
