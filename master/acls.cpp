#include "master/acls.hpp"

#include <toml++/toml.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "clusternodes/resources.hpp"
#include "clusternodes/values.hpp"
#include "common/curve.hpp"

namespace clusternodes::master {
namespace {

constexpr std::array kActions = {AclAction::kRegisterFramework, AclAction::kRunTask,      AclAction::kTeardown,
                                 AclAction::kReserve,           AclAction::kUpdateWeights, AclAction::kUpdateQuota};

constexpr const char* kAnyone = "*";

// What the action's objects are, in a sentence: "use role 'x'".
std::string doing(AclAction action, const std::string& object) {
  switch (action) {
    case AclAction::kRegisterFramework: return "register a framework in role '" + object + "'";
    case AclAction::kRunTask: return "run tasks as user '" + object + "'";
    case AclAction::kTeardown: return "kill or tear down the work of principal '" + object + "'";
    case AclAction::kReserve: return "reserve resources for role '" + object + "'";
    case AclAction::kUpdateWeights: return "change the weight of role '" + object + "'";
    case AclAction::kUpdateQuota: return "change the quota of role '" + object + "'";
  }
  return "";
}

std::string who(const std::string& principal) {
  return principal.empty() ? std::string("an anonymous peer") : "principal '" + principal + "'";
}

bool principalMatches(const std::vector<std::string>& principals, const std::string& principal) {
  for (const auto& p : principals) {
    if (p == kAnyone || p == principal) return true;
  }
  return false;
}

bool objectMatches(AclAction action, const std::vector<std::string>& objects, const std::string& object) {
  for (const auto& o : objects) {
    if (o == object) return true;
    if (o == kAnyone) {
      // Root only by name.
      if (action != AclAction::kRunTask || object != "root") return true;
      continue;
    }
    if (o.size() > 2 && o.ends_with("/*") && object.size() > o.size() - 1 &&
        object.compare(0, o.size() - 1, o, 0, o.size() - 1) == 0) {
      return true;  // "eng/*": a role under eng
    }
  }
  return false;
}

// Checks one name of a rule's list.
Result<void> checkName(AclAction action, bool principalList, const std::string& name) {
  if (name == kAnyone) return {};
  if (principalList || action == AclAction::kTeardown) return checkPrincipal(name);
  if (action == AclAction::kRunTask) return validateUser(name);
  // A role, or "ROLE/*" for the roles under it.
  std::string_view role = name;
  if (role.ends_with("/*")) role.remove_suffix(2);
  return validateRole(role);
}

// The array of strings at `key` of a rule; an error names the line.
Result<std::vector<std::string>> names(const toml::table& rule, const std::string& key, AclAction action,
                                       const std::string& at) {
  const toml::node* node = rule.get(key);
  if (node == nullptr) {
    return invalid(at + ": a [[" + aclActionName(action) + "]] rule needs `" + key + " = [...]`");
  }
  const toml::array* array = node->as_array();
  if (array == nullptr || array->empty()) {
    return invalid(at + ": `" + key + "` is a list of one or more names in quotes, \"*\" for any");
  }
  std::vector<std::string> out;
  for (const auto& element : *array) {
    auto name = element.value<std::string>();
    if (!name || !element.is_string()) return invalid(at + ": `" + key + "` holds only names in quotes");
    if (auto valid = checkName(action, key == "principals", *name); !valid) {
      return invalid(at + ": " + key + ": " + valid.error().message);
    }
    out.push_back(*name);
  }
  return out;
}

Result<AclRule> parseRule(const toml::table& rule, AclAction action, const std::string& path) {
  AclRule out;
  out.action = action;
  out.line = static_cast<int>(rule.source().begin.line);
  std::string at = path + ":" + std::to_string(out.line);
  for (const auto& [key, value] : rule) {
    std::string name(key.str());
    if (name != "principals" && name != aclObjectKey(action) && name != "allow") {
      return invalid(path + ":" + std::to_string(key.source().begin.line) + ": [[" + aclActionName(action) +
                     "]] has no key '" + name + "' (it takes principals, " + aclObjectKey(action) + " and allow)");
    }
  }
  auto principals = names(rule, "principals", action, at);
  if (!principals) return principals.error();
  auto objects = names(rule, aclObjectKey(action), action, at);
  if (!objects) return objects.error();
  out.principals = std::move(*principals);
  out.objects = std::move(*objects);
  if (const toml::node* allow = rule.get("allow")) {
    if (!allow->is_boolean()) return invalid(at + ": `allow` is true or false");
    out.allow = allow->as_boolean()->get();
  }
  return out;
}

}  // namespace

const char* aclActionName(AclAction action) {
  switch (action) {
    case AclAction::kRegisterFramework: return "register_framework";
    case AclAction::kRunTask: return "run_task";
    case AclAction::kTeardown: return "teardown";
    case AclAction::kReserve: return "reserve";
    case AclAction::kUpdateWeights: return "update_weights";
    case AclAction::kUpdateQuota: return "update_quota";
  }
  return "";
}

const char* aclObjectKey(AclAction action) {
  if (action == AclAction::kRunTask) return "users";
  if (action == AclAction::kTeardown) return "framework_principals";
  return "roles";
}

Result<Acls> Acls::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return notFound("cannot read " + path + ": " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  return parse(text.str(), path);
}

Result<Acls> Acls::parse(const std::string& text, const std::string& path) {
  toml::table table;
  try {
    table = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    return invalid(path + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description()));
  }
  Acls acls;
  acls.configured_ = true;
  acls.path_ = path;
  for (const auto& [key, node] : table) {
    std::string name(key.str());
    std::string at = path + ":" + std::to_string(key.source().begin.line);
    const AclAction* action = nullptr;
    for (const auto& a : kActions) {
      if (name == aclActionName(a)) action = &a;
    }
    if (action == nullptr) {
      return invalid(at + ": unknown rule [[" + name +
                     "]] (the kinds are register_framework, run_task, teardown, reserve, update_weights, "
                     "update_quota)");
    }
    const toml::array* rules = node.as_array();
    if (rules == nullptr || !rules->is_array_of_tables()) {
      return invalid(at + ": '" + name + "' is a list of rules, each written [[" + name + "]]");
    }
    for (const auto& element : *rules) {
      auto rule = parseRule(*element.as_table(), *action, path);
      if (!rule) return rule.error();
      acls.rules_.push_back(std::move(*rule));
    }
  }
  // toml++ keeps a table's keys sorted, not in file order: the rules of a
  // kind are in file order within their array, which is all that decides.
  return acls;
}

AclDecision Acls::check(AclAction action, const std::string& principal, const std::string& object) const {
  if (!configured_) return {true, ""};
  for (const auto& rule : rules_) {
    if (rule.action != action || !principalMatches(rule.principals, principal) ||
        !objectMatches(action, rule.objects, object)) {
      continue;
    }
    std::string where = path_ + ":" + std::to_string(rule.line) + " [[" + aclActionName(action) + "]]";
    return {rule.allow, (rule.allow ? "allowed by " : "denied by ") + where};
  }
  return {false, "no [[" + std::string(aclActionName(action)) + "]] rule in " + path_ + " allows it"};
}

Result<void> Acls::authorize(AclAction action, const std::string& principal, const std::string& object) const {
  auto decision = check(action, principal, object);
  if (decision.allowed) return {};
  return Error{ErrorCode::kDenied,
               "not authorized: " + who(principal) + " may not " + doing(action, object) + " (" + decision.reason + ")"};
}

}  // namespace clusternodes::master
