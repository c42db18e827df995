// A role's quota: what it is guaranteed under contention and what it may
// never exceed. Set through the operator API, kept in the registry, enforced
// by the allocator.
#pragma once

#include "clusternodes/resources.hpp"

namespace clusternodes::master {

struct Quota {
  Resources guarantee;  // met first under contention
  Resources limit;      // never exceeded; empty: no limit
};

}  // namespace clusternodes::master
