// Resources: what an agent offers and what a task asks for.
//
// A Resources value is a bag of named resources. Scalars (cpus, mem, disk,
// gpus, ...) add up; ranges (ports) are sets of unsigned integers kept as
// sorted, merged, inclusive intervals. Every resource carries a role: "*" for
// unreserved resources, or the role that holds a reservation ("cpus(ml):2").
//
//   auto offer = Resources::parse("cpus:4;mem:8192;ports:[31000-32000]");
//   auto task  = Resources::parse("cpus:1;mem:512;ports:[31000-31000]");
//   if (offer->contains(*task)) { Resources left = *offer - *task; }
//
// Scalar arithmetic is fixed-point to three decimals (as in Mesos), so that
// adding and subtracting 0.1 cpus a thousand times returns exactly to zero.
// Values never go negative: subtracting more than is present leaves zero
// (use contains() first when that matters).
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "clusternodes/result.hpp"

namespace clusternodes {

// An inclusive interval [begin, end] of unsigned integers.
struct Range {
  uint64_t begin = 0;
  uint64_t end = 0;
  bool operator==(const Range&) const = default;
};

// A sorted list of disjoint, non-adjacent inclusive intervals.
class RangeSet {
 public:
  RangeSet() = default;
  explicit RangeSet(std::vector<Range> ranges);  // normalises (sorts, merges)

  const std::vector<Range>& ranges() const { return ranges_; }
  bool empty() const { return ranges_.empty(); }
  uint64_t size() const;  // number of integers covered
  bool contains(const RangeSet& other) const;
  bool contains(uint64_t value) const;
  RangeSet& operator+=(const RangeSet& other);
  RangeSet& operator-=(const RangeSet& other);
  bool operator==(const RangeSet&) const = default;
  std::string toString() const;  // "[31000-31005,31010-31010]"

 private:
  std::vector<Range> ranges_;
};

inline constexpr const char* kDefaultRole = "*";

// A role name, as frameworks subscribe to it and resources are reserved for
// it: "*" (the default role), or a '/'-separated path ("eng/ml") of
// non-empty segments made of [A-Za-z0-9_.-], none of them "." or "..", not
// starting with '-' (Mesos's rules, in a stricter alphabet). The error says
// which rule the role breaks.
Result<void> validateRole(std::string_view role);

namespace detail {

// A map kept as a sorted vector: a Resources value holds a handful of
// entries, and copying or adding it then costs one allocation per map
// instead of one per entry. The subset of std::map's interface Resources uses.
template <typename K, typename V>
class FlatMap {
 public:
  using value_type = std::pair<K, V>;
  using iterator = typename std::vector<value_type>::iterator;
  using const_iterator = typename std::vector<value_type>::const_iterator;

  iterator begin() { return items_.begin(); }
  iterator end() { return items_.end(); }
  const_iterator begin() const { return items_.begin(); }
  const_iterator end() const { return items_.end(); }
  bool empty() const { return items_.empty(); }
  size_t size() const { return items_.size(); }
  void clear() { items_.clear(); }

  iterator lower_bound(const K& key) {
    return std::lower_bound(items_.begin(), items_.end(), key,
                            [](const value_type& item, const K& k) { return item.first < k; });
  }
  const_iterator lower_bound(const K& key) const {
    return std::lower_bound(items_.begin(), items_.end(), key,
                            [](const value_type& item, const K& k) { return item.first < k; });
  }
  iterator find(const K& key) {
    auto it = lower_bound(key);
    return it != items_.end() && it->first == key ? it : items_.end();
  }
  const_iterator find(const K& key) const {
    auto it = lower_bound(key);
    return it != items_.end() && it->first == key ? it : items_.end();
  }
  V& operator[](const K& key) {
    auto it = lower_bound(key);
    if (it == items_.end() || it->first != key) it = items_.insert(it, value_type(key, V()));
    return it->second;
  }
  // Inserts unless present; keys arrive in any order.
  void emplace(const K& key, const V& value) {
    auto it = lower_bound(key);
    if (it == items_.end() || it->first != key) items_.insert(it, value_type(key, value));
  }
  iterator erase(iterator it) { return items_.erase(it); }
  bool operator==(const FlatMap&) const = default;

 private:
  std::vector<value_type> items_;
};

}  // namespace detail

class Resources {
 public:
  Resources() = default;

  // Parses "name:value;name(role):value;ports:[a-b,c-d]". Scalars must be
  // finite and non-negative; range bounds must satisfy begin <= end. A name
  // may appear more than once (the amounts add up).
  static Result<Resources> parse(std::string_view text);

  // Builders.
  Resources& addScalar(const std::string& name, double value,
                       const std::string& role = kDefaultRole);
  Resources& addRanges(const std::string& name, const RangeSet& ranges,
                       const std::string& role = kDefaultRole);

  // Amount of a scalar summed over every role, or for one role.
  double scalar(const std::string& name) const;
  double scalar(const std::string& name, const std::string& role) const;
  RangeSet ranges(const std::string& name) const;  // union over roles
  RangeSet ranges(const std::string& name, const std::string& role) const;

  double cpus() const { return scalar("cpus"); }
  double mem() const { return scalar("mem"); }
  double disk() const { return scalar("disk"); }
  RangeSet ports() const { return ranges("ports"); }

  bool empty() const;
  // True when every resource of `other` (name, role and amount) is here.
  bool contains(const Resources& other) const;

  Resources& operator+=(const Resources& other);
  Resources& operator-=(const Resources& other);
  friend Resources operator+(Resources a, const Resources& b) { return a += b; }
  friend Resources operator-(Resources a, const Resources& b) { return a -= b; }
  bool operator==(const Resources& other) const;
  bool operator!=(const Resources& other) const { return !(*this == other); }

  // Only the resources reserved for `role` / only the unreserved ones.
  Resources reserved(const std::string& role) const;
  Resources unreserved() const;
  // The roles that hold a reservation here (never "*").
  std::vector<std::string> reservationRoles() const;

  // The canonical text form, parseable by parse(): sorted by name then role,
  // scalars with up to three decimals, e.g. "cpus:2;mem:1024;ports:[1-5]".
  std::string toString() const;

  // Visits each (name, role) entry.
  struct Entry {
    std::string name;
    std::string role;
    bool isRanges = false;
    double scalar = 0;
    RangeSet ranges;
  };
  std::vector<Entry> entries() const;

 private:
  using Key = std::pair<std::string, std::string>;  // name, role
  detail::FlatMap<Key, int64_t> scalars_;    // in thousandths
  detail::FlatMap<Key, RangeSet> ranges_;
};

}  // namespace clusternodes
