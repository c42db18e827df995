// Authorization: who may do what, from the ACL file (--acls), in TOML.
//
//   # Each table is one rule of one kind; the first rule of a kind that
//   # names both the principal and the object decides. With the file, what
//   # no rule allows is denied.
//   [[register_framework]]          # subscribe in these roles
//   principals = ["analytics"]
//   roles = ["analytics", "analytics/*"]
//
//   [[run_task]]                    # run tasks as these users
//   principals = ["analytics"]
//   users = ["alice", "nobody"]
//
//   [[run_task]]
//   principals = ["*"]
//   users = ["root"]
//   allow = false
//
//   [[teardown]]                    # kill the tasks and tear down the
//   principals = ["ops"]            # frameworks of these principals
//   framework_principals = ["*"]
//
//   [[reserve]]                     # reserve and unreserve for these roles
//   [[update_weights]]              # change these roles' weights
//   [[update_quota]]                # change these roles' quota
//   principals = ["ops"]
//   roles = ["*"]
//
// Matching: "*" among `principals` matches every principal, the anonymous
// one ("", a peer on an unauthenticated link) included; among `roles`,
// every role; among `users`, every user but root, who is only ever allowed
// by name; among `framework_principals`, every principal. "eng/*" among
// roles matches the roles under eng ("eng/ml", "eng/ml/batch"), not eng.
// A framework's own tasks and the framework itself are always its own to
// kill and tear down: [[teardown]] is for everyone else's.
//
// Without an ACL file every request is allowed (Acls::allowAll()).
#pragma once

#include <string>
#include <vector>

#include "clusternodes/result.hpp"

namespace clusternodes::master {

enum class AclAction {
  kRegisterFramework,  // object: a role
  kRunTask,            // object: a user
  kTeardown,           // object: the principal whose framework or task it is
  kReserve,            // object: a role
  kUpdateWeights,      // object: a role
  kUpdateQuota,        // object: a role
};

// The table name of the action's rules ("run_task"), and what its objects
// are called ("users").
const char* aclActionName(AclAction action);
const char* aclObjectKey(AclAction action);

struct AclRule {
  AclAction action = AclAction::kRegisterFramework;
  std::vector<std::string> principals;
  std::vector<std::string> objects;
  bool allow = true;
  int line = 0;  // where it begins in the file
};

// The answer to one request. `reason` says which rule decided, or that none
// did ("" when allowed without an ACL file).
struct AclDecision {
  bool allowed = true;
  std::string reason;
};

class Acls {
 public:
  // No ACL file: everything is allowed.
  static Acls allowAll() { return Acls(); }
  // The rules of an ACL file. Fails (kInvalid) with "FILE:LINE: why" on a
  // syntax error, an unknown table or key, a rule without principals or
  // objects, or a name that is not a principal, a role or a user;
  // kNotFound when the file cannot be read.
  static Result<Acls> load(const std::string& path);
  // The same from text, `path` naming it in messages.
  static Result<Acls> parse(const std::string& text, const std::string& path);

  // Whether `principal` ("" for anonymous) may do `action` on `object`.
  AclDecision check(AclAction action, const std::string& principal, const std::string& object) const;
  // The same, as a Result whose error is the sentence to show the sender:
  // "ACL denied: ... (FILE:LINE [[run_task]])".
  Result<void> authorize(AclAction action, const std::string& principal, const std::string& object) const;

  bool configured() const { return configured_; }
  const std::string& path() const { return path_; }
  const std::vector<AclRule>& rules() const { return rules_; }

 private:
  Acls() = default;

  bool configured_ = false;
  std::string path_;
  std::vector<AclRule> rules_;
};

}  // namespace clusternodes::master
