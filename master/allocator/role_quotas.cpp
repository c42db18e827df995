#include "master/allocator/role_quotas.hpp"

#include <algorithm>
#include <array>
#include <cmath>

namespace clusternodes::master {

bool hasKind(const Resources& resources, const char* kind) {
  for (const auto& e : resources.entries()) {
    if (e.name == kind) return true;
  }
  return false;
}

Resources clip(const Resources& resources, const Scalars& room) {
  Resources out;
  std::array<int64_t, Scalars::kKinds> left = room.value;
  auto entries = resources.entries();
  // Reserved entries first: they can go nowhere else.
  std::stable_sort(entries.begin(), entries.end(), [](const Resources::Entry& a, const Resources::Entry& b) {
    return (a.role != kDefaultRole) > (b.role != kDefaultRole);
  });
  for (const auto& e : entries) {
    if (e.isRanges) {
      out.addRanges(e.name, e.ranges, e.role);
      continue;
    }
    auto kind = std::find_if(Scalars::names().begin(), Scalars::names().end(),
                             [&](const char* n) { return e.name == n; });
    if (kind == Scalars::names().end()) {
      out.addScalar(e.name, e.scalar, e.role);
      continue;
    }
    size_t k = static_cast<size_t>(kind - Scalars::names().begin());
    int64_t want = std::llround(e.scalar * 1000.0);
    int64_t give = std::min(want, left[k]);
    if (give > 0) out.addScalar(e.name, static_cast<double>(give) / 1000.0, e.role);
    left[k] -= give;
  }
  return out;
}

void RoleQuotas::set(Sorter::RoleIndex role, const Quota& quota) {
  if (quota.guarantee.empty() && quota.limit.empty()) {
    quotas_.erase(role);
  } else {
    RoleQuota& q = quotas_[role];
    q.quota = quota;
    q.guarantee = Scalars::of(quota.guarantee);
    q.hasLimit = !quota.limit.empty();
  }
  refresh();
}

void RoleQuotas::refresh() {
  limitedRoles_.assign(sorter_.roleCount(), false);
  for (Sorter::RoleIndex r = 0; r < sorter_.roleCount(); ++r) {
    for (Sorter::RoleIndex a = r;; a = sorter_.parent(a)) {
      auto q = quotas_.find(a);
      if (q != quotas_.end() && q->second.hasLimit) limitedRoles_[r] = true;
      if (a == Sorter::kRoot) break;
    }
  }
}

const RoleQuota* RoleQuotas::find(Sorter::RoleIndex role) const {
  auto q = quotas_.find(role);
  return q == quotas_.end() ? nullptr : &q->second;
}

Resources RoleQuotas::limited(const Resources& offer, Sorter::RoleIndex role) const {
  if (!limitedRole(role)) return offer;
  Resources out = offer;
  for (Sorter::RoleIndex r = role;; r = sorter_.parent(r)) {
    auto q = quotas_.find(r);
    if (q != quotas_.end() && q->second.hasLimit) {
      Scalars room;
      const Scalars& used = sorter_.allocation(r, true);
      Scalars limit = Scalars::of(q->second.quota.limit);
      for (size_t k = 0; k < Scalars::kKinds; ++k) {
        bool named = q->second.quota.limit.scalar(Scalars::names()[k]) > 0 ||
                     hasKind(q->second.quota.limit, Scalars::names()[k]);
        room.value[k] = named ? std::max<int64_t>(0, limit.value[k] - used.value[k]) : INT64_MAX;
      }
      out = clip(out, room);
    }
    if (r == Sorter::kRoot) break;
  }
  return out;
}

std::optional<Scalars> RoleQuotas::missing(Sorter::RoleIndex role, const RoleQuota& q) const {
  if (q.guarantee.empty()) return std::nullopt;
  const Scalars& used = sorter_.allocation(role, true);
  Scalars missing;
  bool short_ = false;
  for (size_t k = 0; k < Scalars::kKinds; ++k) {
    bool named = hasKind(q.quota.guarantee, Scalars::names()[k]);
    missing.value[k] = named ? std::max<int64_t>(0, q.guarantee.value[k] - used.value[k]) : INT64_MAX;
    short_ |= named && missing.value[k] > 0;
  }
  if (!short_) return std::nullopt;
  return missing;
}

Scalars RoleQuotas::unmetGuarantees() const {
  if (quotas_.empty()) return Scalars();
  std::vector<Scalars> below(sorter_.roleCount());  // sum of the children's needs
  // Children are created after their parents, so higher indices first.
  for (Sorter::RoleIndex r = static_cast<Sorter::RoleIndex>(sorter_.roleCount()); r-- > 1;) {
    Scalars need = below[r];
    if (auto q = quotas_.find(r); q != quotas_.end()) {
      const Scalars& used = sorter_.allocation(r, true);
      for (size_t k = 0; k < Scalars::kKinds; ++k) {
        need.value[k] = std::max(need.value[k], std::max<int64_t>(0, q->second.guarantee.value[k] - used.value[k]));
      }
    }
    below[sorter_.parent(r)] += need;
  }
  return below[Sorter::kRoot];
}

Resources RoleQuotas::withoutHeadroom(const Resources& offerable, Sorter::RoleIndex role, const Scalars& headroom,
                                      const Scalars& freeUnreserved) const {
  // A role still short of its own guarantee is what the headroom is for.
  for (Sorter::RoleIndex r = role;; r = sorter_.parent(r)) {
    auto q = quotas_.find(r);
    if (q != quotas_.end() && !q->second.guarantee.empty()) {
      const Scalars& used = sorter_.allocation(r, true);
      for (size_t k = 0; k < Scalars::kKinds; ++k) {
        if (used.value[k] < q->second.guarantee.value[k]) return offerable;
      }
    }
    if (r == Sorter::kRoot) break;
  }
  Scalars room;
  for (size_t k = 0; k < Scalars::kKinds; ++k) {
    room.value[k] = headroom.value[k] > 0 ? std::max<int64_t>(0, freeUnreserved.value[k] - headroom.value[k])
                                          : INT64_MAX;
  }
  Resources reserved = offerable - offerable.unreserved();
  return reserved + clip(offerable.unreserved(), room);
}

}  // namespace clusternodes::master
