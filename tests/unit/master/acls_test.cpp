#include "master/acls.hpp"

#include <doctest/doctest.h>

using namespace clusternodes;
using namespace clusternodes::master;

namespace {

Acls parsed(const std::string& text) {
  auto acls = Acls::parse(text, "acls.toml");
  std::string error = acls.ok() ? std::string() : acls.error().message;
  INFO(error);
  REQUIRE(acls.ok());
  return *acls;
}

std::string parseError(const std::string& text) {
  auto acls = Acls::parse(text, "acls.toml");
  REQUIRE_FALSE(acls);
  return acls.error().message;
}

}  // namespace

TEST_CASE("acls: without a file everything is allowed") {
  auto acls = Acls::allowAll();
  CHECK_FALSE(acls.configured());
  CHECK(acls.check(AclAction::kRunTask, "", "root").allowed);
  CHECK(acls.authorize(AclAction::kUpdateWeights, "anyone", "*"));
}

TEST_CASE("acls: with a file what no rule allows is denied, and the denial names the rule") {
  auto acls = parsed(R"(
[[register_framework]]
principals = ["analytics"]
roles = ["analytics"]

[[run_task]]
principals = ["analytics"]
users = ["alice"]
)");
  CHECK(acls.configured());
  CHECK(acls.check(AclAction::kRegisterFramework, "analytics", "analytics").allowed);
  CHECK(acls.check(AclAction::kRegisterFramework, "analytics", "analytics").reason == "allowed by acls.toml:2 [[register_framework]]");
  auto denied = acls.authorize(AclAction::kRegisterFramework, "analytics", "ops");
  REQUIRE_FALSE(denied);
  CHECK(denied.error().code == ErrorCode::kDenied);
  CHECK(denied.error().message ==
        "not authorized: principal 'analytics' may not register a framework in role 'ops' (no [[register_framework]] "
        "rule in acls.toml allows it)");
  CHECK_FALSE(acls.check(AclAction::kRunTask, "other", "alice").allowed);
  CHECK_FALSE(acls.check(AclAction::kReserve, "analytics", "analytics").allowed);
  CHECK(acls.authorize(AclAction::kRunTask, "", "alice").error().message.find(
            "not authorized: an anonymous peer may not run tasks as user 'alice'") == 0);
}

TEST_CASE("acls: the first matching rule decides, a deny rule included") {
  auto acls = parsed(R"(
[[run_task]]
principals = ["ops"]
users = ["root"]

[[run_task]]
principals = ["*"]
users = ["root"]
allow = false

[[run_task]]
principals = ["*"]
users = ["*"]
)");
  CHECK(acls.check(AclAction::kRunTask, "ops", "root").allowed);
  auto denied = acls.check(AclAction::kRunTask, "dev", "root");
  CHECK_FALSE(denied.allowed);
  CHECK(denied.reason == "denied by acls.toml:6 [[run_task]]");
  CHECK(acls.check(AclAction::kRunTask, "dev", "nobody").allowed);
  CHECK(acls.check(AclAction::kRunTask, "", "nobody").allowed);
}

TEST_CASE("acls: users * never matches root, who is allowed only by name") {
  auto acls = parsed("[[run_task]]\nprincipals = [\"*\"]\nusers = [\"*\"]\n");
  CHECK(acls.check(AclAction::kRunTask, "dev", "nobody").allowed);
  CHECK_FALSE(acls.check(AclAction::kRunTask, "dev", "root").allowed);
}

TEST_CASE("acls: roles match exactly, by * or by a subtree") {
  auto acls = parsed(R"(
[[register_framework]]
principals = ["eng"]
roles = ["eng/*", "shared"]

[[update_weights]]
principals = ["ops"]
roles = ["*"]
)");
  CHECK(acls.check(AclAction::kRegisterFramework, "eng", "eng/ml").allowed);
  CHECK(acls.check(AclAction::kRegisterFramework, "eng", "eng/ml/batch").allowed);
  CHECK_FALSE(acls.check(AclAction::kRegisterFramework, "eng", "eng").allowed);
  CHECK_FALSE(acls.check(AclAction::kRegisterFramework, "eng", "engine").allowed);
  CHECK_FALSE(acls.check(AclAction::kRegisterFramework, "eng", "*").allowed);
  CHECK(acls.check(AclAction::kRegisterFramework, "eng", "shared").allowed);
  CHECK(acls.check(AclAction::kUpdateWeights, "ops", "*").allowed);
  CHECK(acls.check(AclAction::kUpdateWeights, "ops", "eng/ml").allowed);
  CHECK_FALSE(acls.check(AclAction::kUpdateQuota, "ops", "eng/ml").allowed);
}

TEST_CASE("acls: teardown rules name whose work a principal may end") {
  auto acls = parsed("[[teardown]]\nprincipals = [\"ops\"]\nframework_principals = [\"analytics\"]\n");
  CHECK(acls.check(AclAction::kTeardown, "ops", "analytics").allowed);
  CHECK_FALSE(acls.check(AclAction::kTeardown, "ops", "billing").allowed);
  CHECK(acls.authorize(AclAction::kTeardown, "dev", "billing").error().message ==
        "not authorized: principal 'dev' may not kill or tear down the work of principal 'billing' (no [[teardown]] "
        "rule in acls.toml allows it)");
}

TEST_CASE("acls: a bad file is refused with its line and what to write") {
  CHECK(parseError("[[run_tasks]]\nprincipals=[\"a\"]\nusers=[\"b\"]\n").find("acls.toml:1: unknown rule [[run_tasks]]") ==
        0);
  CHECK(parseError("[[run_task]]\nprincipals = [\"a\"]\n") ==
        "acls.toml:1: a [[run_task]] rule needs `users = [...]`");
  CHECK(parseError("[[run_task]]\nprincipals = []\nusers = [\"b\"]\n") ==
        "acls.toml:1: `principals` is a list of one or more names in quotes, \"*\" for any");
  CHECK(parseError("[[run_task]]\nprincipals = [\"a\"]\nusers = [\"b\"]\nroles = [\"x\"]\n") ==
        "acls.toml:4: [[run_task]] has no key 'roles' (it takes principals, users and allow)");
  CHECK(parseError("[[run_task]]\nprincipals = [\"a\"]\nusers = [\"0\"]\n") ==
        "acls.toml:1: users: user '0' is all digits (name the user, not the uid)");
  CHECK(parseError("[[register_framework]]\nprincipals = [\"a b\"]\nroles = [\"x\"]\n").find(
            "acls.toml:1: principals: principal 'a b' may hold only") == 0);
  CHECK(parseError("[[register_framework]]\nprincipals = [\"a\"]\nroles = [\"x/../y\"]\n") ==
        "acls.toml:1: roles: role 'x/../y' has a '..' segment");
  CHECK(parseError("[[reserve]]\nprincipals = [\"a\"]\nroles = [\"x\"]\nallow = \"yes\"\n") ==
        "acls.toml:1: `allow` is true or false");
  CHECK(parseError("run_task = 3\n") == "acls.toml:1: 'run_task' is a list of rules, each written [[run_task]]");
  CHECK(parseError("[[run_task]\n").find("acls.toml:1: ") == 0);
  auto missing = Acls::load("/nonexistent/acls.toml");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == ErrorCode::kNotFound);
}
