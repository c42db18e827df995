// Sandbox tokens: what the master signs, what an agent accepts.
#include <doctest/doctest.h>

#include <string>

#include "common/sandbox_token.hpp"

using namespace clusternodes;

namespace {

const int64_t kNow = 1'800'000'000'000;

SandboxGrant grant() { return SandboxGrant{"agent-1", "fw-1/task-1", kNow + 300'000}; }

}  // namespace

TEST_CASE("sandbox token: what the master signs comes back whole under its key") {
  std::string key = generateSandboxKey();
  CHECK(key.size() == 32);
  CHECK(generateSandboxKey() != key);
  std::string token = signSandboxToken(key, grant());
  CHECK(token.rfind("v1.", 0) == 0);
  for (char c : token) CHECK((std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.'));  // URL-safe
  auto back = verifySandboxToken(key, token);
  REQUIRE_MESSAGE(back.ok(), (back.ok() ? "" : back.error().message));
  CHECK(back->agentId == "agent-1");
  CHECK(back->path == "fw-1/task-1");
  CHECK(back->expiresMs == kNow + 300'000);
}

TEST_CASE("sandbox token: another key, a changed byte, a cut token or no key at all is refused") {
  std::string key = generateSandboxKey();
  std::string token = signSandboxToken(key, grant());
  CHECK(verifySandboxToken(generateSandboxKey(), token).error().message.find("not the master's") != std::string::npos);
  CHECK(verifySandboxToken("", token).error().message.find("no signing key") != std::string::npos);
  // Every single changed character: the grant's or the signature's.
  for (size_t i = 3; i < token.size(); ++i) {
    if (token[i] == '.') continue;
    std::string changed = token;
    changed[i] = changed[i] == 'a' ? 'b' : 'a';
    auto refused = verifySandboxToken(key, changed);
    INFO(i);
    CHECK_FALSE(refused.ok());
    CHECK(refused.error().code == ErrorCode::kDenied);
  }
  // A longer grant with the old signature: the signature covers the grant.
  SandboxGrant wider = grant();
  wider.path = "fw-1";
  std::string widerToken = signSandboxToken(key, wider);
  std::string spliced = widerToken.substr(0, widerToken.rfind('.')) + token.substr(token.rfind('.'));
  CHECK_FALSE(verifySandboxToken(key, spliced).ok());
  for (std::string bad : {std::string(), std::string("v1."), std::string("v2.") + token.substr(3), token.substr(0, token.size() - 1),
                          std::string("v1..") , std::string("v1.zz.zz"), token + "."}) {
    INFO(bad);
    CHECK_FALSE(verifySandboxToken(key, bad).ok());
  }
}

TEST_CASE("sandbox token: a grant covers its agent, its directory and what is under it, until it expires") {
  SandboxGrant g = grant();
  CHECK(grantAllows(g, "agent-1", "fw-1/task-1", kNow).ok());
  CHECK(grantAllows(g, "agent-1", "fw-1/task-1/run-9/stdout", kNow).ok());
  CHECK(grantAllows(g, "agent-1", "fw-1/task-1/run-9/stdout", kNow + 299'999).ok());
  auto expired = grantAllows(g, "agent-1", "fw-1/task-1/run-9/stdout", kNow + 300'000);
  REQUIRE_FALSE(expired.ok());
  CHECK(expired.error().message.find("expired") != std::string::npos);
  CHECK(grantAllows(g, "agent-2", "fw-1/task-1", kNow).error().message.find("for agent agent-1") != std::string::npos);
  for (const char* outside : {"fw-1/task-10", "fw-1/task-1x/stdout", "fw-1", "fw-2/task-1", "", "fw-1/task"}) {
    INFO(outside);
    CHECK_FALSE(grantAllows(g, "agent-1", outside, kNow).ok());
  }
  g.path.clear();  // a grant of nothing covers nothing
  CHECK_FALSE(grantAllows(g, "agent-1", "", kNow).ok());
}
