// HTTP bearer tokens: the tokens file, and the gate every request passes.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <fstream>
#include <set>
#include <string>

#include "common/http_auth.hpp"
#include "tests/harness/temp_dir.hpp"

using namespace clusternodes;
using clusternodes::testing::TempDir;

namespace {

void writeText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

HttpRequest request(const std::string& method, const std::string& path, const std::string& authorization = "") {
  HttpRequest r;
  r.method = method;
  r.path = path;
  if (!authorization.empty()) r.headers["authorization"] = authorization;
  return r;
}

// A policy with one token for "ops".
std::shared_ptr<HttpAuthPolicy> policyWith(HttpAuthentication mode, const std::string& dir, std::string& token) {
  token = generateHttpToken();
  std::string file = dir + "/tokens.toml";
  ::unlink(file.c_str());
  REQUIRE(addHttpToken(file, "ops", token));
  auto policy = std::make_shared<HttpAuthPolicy>();
  policy->mode = mode;
  policy->tokens = *HttpTokens::load(file);
  policy->open = {"/health", "/", "/ui/"};
  policy->refused = std::make_shared<uint64_t>(0);
  return policy;
}

}  // namespace

TEST_CASE("a generated token names its principal through the tokens file, which holds only its hash") {
  TempDir dir("cn-http-auth");
  std::string file = dir.path + "/tokens.toml";
  std::string ops = generateHttpToken();
  std::string ci = generateHttpToken();
  CHECK(ops.size() == 64);
  CHECK(ops != ci);
  REQUIRE(addHttpToken(file, "ops", ops));
  REQUIRE(addHttpToken(file, "ci-bot", ci));
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text.find(ops) == std::string::npos);
  CHECK(text.find(httpTokenHash(ops)) != std::string::npos);

  auto tokens = HttpTokens::load(file);
  REQUIRE(tokens.ok());
  CHECK(tokens->size() == 2);
  CHECK(tokens->principalOf(ops) == std::optional<std::string>("ops"));
  CHECK(tokens->principalOf(ci) == std::optional<std::string>("ci-bot"));
  CHECK_FALSE(tokens->principalOf(ops.substr(1)).has_value());
  CHECK_FALSE(tokens->principalOf("").has_value());
}

TEST_CASE("a token file is written 0600 and read back trimmed, and an empty one is refused") {
  TempDir dir("cn-http-auth");
  std::string path = dir.path + "/ops.token";
  REQUIRE(writeHttpToken(path, "abc123"));
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(*readHttpToken(path) == "abc123");
  writeText(path, "  \n");
  CHECK_FALSE(readHttpToken(path).ok());
  CHECK_FALSE(readHttpToken(dir.path + "/missing").ok());
}

TEST_CASE("a bad tokens file is refused with its line and why") {
  TempDir dir("cn-http-auth");
  std::string file = dir.path + "/tokens.toml";
  std::string hash(64, 'a');
  struct Case {
    std::string text;
    std::string why;
  };
  for (const auto& c : {Case{"[[token]]\nprincipal = \"ops\"\n", "sha256 must be"},
                        Case{"[[token]]\nsha256 = \"" + hash + "\"\n", "names no principal"},
                        Case{"[[token]]\nprincipal = \"a b\"\nsha256 = \"" + hash + "\"\n", "may hold only"},
                        Case{"[[token]]\nprincipal = \"ops\"\nsha256 = \"" + std::string(64, 'G') + "\"\n",
                             "64 lower-case hex"},
                        Case{"[[token]]\nprincipal = \"ops\"\nsha256 = \"" + hash + "\"\ntoken = \"x\"\n",
                             "unknown key 'token'"},
                        Case{"[[token]]\nprincipal = \"a\"\nsha256 = \"" + hash + "\"\n[[token]]\nprincipal = \"b\"\n"
                             "sha256 = \"" + hash + "\"\n",
                             "listed twice"},
                        Case{"tokens = 1\n", "unknown key 'tokens'"},
                        Case{"token = \"x\"\n", "[[token]] entries"},
                        Case{"[[token]\n", ""}}) {
    writeText(file, c.text);
    auto tokens = HttpTokens::load(file);
    INFO(c.text);
    REQUIRE_FALSE(tokens.ok());
    CHECK(tokens.error().message.find(file + ":") == 0);
    CHECK(tokens.error().message.find(c.why) != std::string::npos);
  }
  // Adding to a broken file would hide the break: refused.
  writeText(file, "[[token]]\nprincipal = \"ops\"\n");
  CHECK_FALSE(addHttpToken(file, "ci", generateHttpToken()).ok());
  CHECK_FALSE(addHttpToken(dir.path + "/new.toml", "not a principal", generateHttpToken()).ok());
}

TEST_CASE("the gate: writes need a token, reads do not, and a known token names the principal") {
  TempDir dir("cn-http-auth");
  std::string token;
  auto policy = policyWith(HttpAuthentication::kWrites, dir.path, token);
  auto gate = httpAuthGate(policy);

  auto read = request("GET", "/state");
  CHECK_FALSE(gate(read).has_value());
  CHECK(read.principal.empty());

  auto write = request("PUT", "/api/v1/weights");
  auto refused = gate(write);
  REQUIRE(refused.has_value());
  CHECK(refused->status == 401);
  CHECK(refused->headers.at("WWW-Authenticate") == "Bearer realm=\"clusternodes\"");
  CHECK(refused->body.find("needs a token") != std::string::npos);

  auto signed_ = request("PUT", "/api/v1/weights", "Bearer " + token);
  CHECK_FALSE(gate(signed_).has_value());
  CHECK(signed_.principal == "ops");
  auto lowerScheme = request("DELETE", "/api/v1/quota", "bearer  " + token + " ");
  CHECK_FALSE(gate(lowerScheme).has_value());
  CHECK(lowerScheme.principal == "ops");

  // A token it does not know is refused even where none is needed: a
  // caller with a stale token learns so at once.
  auto wrong = request("GET", "/state", "Bearer " + generateHttpToken());
  auto wrongAnswer = gate(wrong);
  REQUIRE(wrongAnswer.has_value());
  CHECK(wrongAnswer->status == 401);
  CHECK(wrongAnswer->headers.at("WWW-Authenticate").find("error=\"invalid_token\"") != std::string::npos);
  auto basic = request("GET", "/state", "Basic b3BzOnNlY3JldA==");
  auto basicAnswer = gate(basic);
  REQUIRE(basicAnswer.has_value());
  CHECK(basicAnswer->headers.at("WWW-Authenticate").find("error=\"invalid_request\"") != std::string::npos);
  CHECK(*policy->refused == 3);
}

TEST_CASE("the gate: with all, every request but the open paths needs a token, and with none, none does") {
  TempDir dir("cn-http-auth");
  std::string token;
  auto all = httpAuthGate(policyWith(HttpAuthentication::kAll, dir.path, token));
  for (const char* path : {"/state", "/metrics", "/files/read", "/nowhere", "/healthz", "/ui"}) {
    auto r = request("GET", path);
    INFO(path);
    auto answer = all(r);
    REQUIRE(answer.has_value());
    CHECK(answer->status == 401);
  }
  for (const char* path : {"/health", "/", "/ui/app.js", "/ui/pages/tasks.js"}) {
    auto r = request("GET", path);
    INFO(path);
    CHECK_FALSE(all(r).has_value());
  }
  auto withToken = request("GET", "/state", "Bearer " + token);
  CHECK_FALSE(all(withToken).has_value());

  auto none = httpAuthGate(policyWith(HttpAuthentication::kNone, dir.path, token));
  auto put = request("PUT", "/api/v1/weights");
  CHECK_FALSE(none(put).has_value());
  auto named = request("PUT", "/api/v1/weights", "Bearer " + token);
  CHECK_FALSE(none(named).has_value());
  CHECK(named.principal == "ops");
}

TEST_CASE("--http-authenticate and --http-credentials: defaults, and what cannot work is refused") {
  TempDir dir("cn-http-auth");
  std::string file = dir.path + "/tokens.toml";
  REQUIRE(addHttpToken(file, "ops", generateHttpToken()));
  CHECK(loadHttpAuthPolicy("", "")->mode == HttpAuthentication::kNone);
  CHECK(loadHttpAuthPolicy("", file)->mode == HttpAuthentication::kWrites);
  CHECK(loadHttpAuthPolicy("all", file)->mode == HttpAuthentication::kAll);
  CHECK(loadHttpAuthPolicy("none", "")->mode == HttpAuthentication::kNone);
  auto noTokens = loadHttpAuthPolicy("writes", "");
  REQUIRE_FALSE(noTokens.ok());
  CHECK(noTokens.error().message == "--http-authenticate=writes needs --http-credentials, the tokens file");
  auto badMode = loadHttpAuthPolicy("some", file);
  REQUIRE_FALSE(badMode.ok());
  CHECK(badMode.error().message == "--http-authenticate: 'some' is not one of all, writes, none");
  auto missing = loadHttpAuthPolicy("", dir.path + "/missing.toml");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.find("--http-credentials: cannot read") == 0);
}
