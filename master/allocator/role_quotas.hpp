// The roles' quotas as the DRF allocator applies them: each role's guarantee
// (what it is offered first, and what other roles leave free for it) and
// limit (what it and its subtree may hold at most), over the Sorter's roles
// and their allocations. Amounts are Scalars (thousandths).
//
// Read-only on the Sorter; the allocator tells it when quotas change
// (set()) and when roles were added (refresh()). Loop thread only.
#pragma once

#include <map>
#include <optional>
#include <vector>

#include "master/allocator/sorter.hpp"
#include "master/quota.hpp"

namespace clusternodes::master {

struct RoleQuota {
  Quota quota;
  Scalars guarantee;
  bool hasLimit = false;
};

// Whether `resources` names the kind `kind` (even with a zero amount).
bool hasKind(const Resources& resources, const char* kind);

// `resources` with each share kind cut to `room` (thousandths), taking from
// unreserved entries first; other resources pass whole.
Resources clip(const Resources& resources, const Scalars& room);

class RoleQuotas {
 public:
  explicit RoleQuotas(const Sorter& sorter) : sorter_(sorter) {}

  // Sets a role's quota; an empty guarantee and limit removes it.
  void set(Sorter::RoleIndex role, const Quota& quota);
  // After roles were added to the Sorter: which have a limited ancestor.
  void refreshIfRolesChanged() {
    if (limitedRoles_.size() != sorter_.roleCount()) refresh();
  }

  bool empty() const { return quotas_.empty(); }
  const std::map<Sorter::RoleIndex, RoleQuota>& all() const { return quotas_; }
  const RoleQuota* find(Sorter::RoleIndex role) const;
  // Whether the role or an ancestor has a limit.
  bool limitedRole(Sorter::RoleIndex role) const { return role < limitedRoles_.size() && limitedRoles_[role]; }

  // `offer` cut down to the quota limits of the role and its ancestors.
  Resources limited(const Resources& offer, Sorter::RoleIndex role) const;
  // What a role with a guarantee still misses of it, kind by kind; kinds the
  // guarantee does not name come along in full (INT64_MAX), so that an offer
  // can run tasks. nullopt when it misses nothing.
  std::optional<Scalars> missing(Sorter::RoleIndex role, const RoleQuota& quota) const;
  // What the roles with a guarantee still miss, in thousandths. A parent's
  // guarantee covers its children's: a subtree needs the larger of its own
  // shortfall and the sum of its children's.
  Scalars unmetGuarantees() const;
  // `offerable` less the unreserved resources other roles' unmet guarantees
  // need: the cluster keeps at least `headroom` of its `freeUnreserved`
  // resources free.
  Resources withoutHeadroom(const Resources& offerable, Sorter::RoleIndex role, const Scalars& headroom,
                            const Scalars& freeUnreserved) const;

 private:
  void refresh();

  const Sorter& sorter_;
  std::map<Sorter::RoleIndex, RoleQuota> quotas_;
  std::vector<bool> limitedRoles_;  // by role: it or an ancestor has a limit
};

}  // namespace clusternodes::master
