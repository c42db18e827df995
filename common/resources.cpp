#include "clusternodes/resources.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <set>
#include <system_error>
#include <utility>

namespace clusternodes {

namespace {

constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();

// Scalars are kept in thousandths and capped at 1e12 units. Below the cap a
// value survives toString()/parse() exactly (a double holds it to well under
// half a thousandth), so the text form always round-trips.
constexpr int64_t kScale = 1000;
constexpr int64_t kMaxThousandths = 1'000'000'000'000'000;

int64_t addCapped(int64_t a, int64_t b) {  // REQUIRES: 0 <= a, b <= cap
  return std::min(a + b, kMaxThousandths);
}

// REQUIRES: value finite and >= 0. Values beyond the cap come back as the cap.
int64_t toThousandths(double value) {
  double scaled = value * static_cast<double>(kScale);
  if (scaled >= static_cast<double>(kMaxThousandths)) return kMaxThousandths;
  return std::llround(scaled);
}

std::string formatThousandths(int64_t t) {
  std::string out = std::to_string(t / kScale);
  int frac = static_cast<int>(t % kScale);
  if (frac != 0) {
    char digits[8];
    std::snprintf(digits, sizeof digits, "%03d", frac);
    std::string fraction(digits);
    while (fraction.back() == '0') fraction.pop_back();
    out += '.';
    out += fraction;
  }
  return out;
}

const std::string& normRole(const std::string& role) {
  static const std::string kStar = kDefaultRole;
  return role.empty() ? kStar : role;
}

std::string_view trim(std::string_view s) {
  const char* kSpace = " \t\r\n\f\v";
  size_t first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  size_t last = s.find_last_not_of(kSpace);
  return s.substr(first, last - first + 1);
}

bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '.' || c == '/' || c == '-';
}

bool validName(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), isNameChar);
}

Error tokenError(std::string_view token, std::string_view why) {
  std::string message = "invalid resource '";
  message += token;
  message += "': ";
  message += why;
  return invalid(std::move(message));
}

std::string quoted(std::string_view s) {
  std::string out = "'";
  out += s;
  out += "'";
  return out;
}

std::optional<uint64_t> parseU64(std::string_view s) {
  if (s.empty()) return std::nullopt;
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

std::optional<double> parseDouble(std::string_view s) {
  if (s.empty()) return std::nullopt;
  double value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

// Parses the text between '[' and ']': "a-b, c-d", a bare "a" meaning a-a.
Result<RangeSet> parseRangeList(std::string_view inner, std::string_view token) {
  std::vector<Range> ranges;
  inner = trim(inner);
  if (inner.empty()) return RangeSet();
  while (true) {
    size_t comma = inner.find(',');
    std::string_view piece = trim(inner.substr(0, comma));
    if (piece.empty()) return tokenError(token, "empty range");
    size_t dash = piece.find('-');
    std::string_view beginText = trim(piece.substr(0, dash));
    std::string_view endText =
        dash == std::string_view::npos ? beginText : trim(piece.substr(dash + 1));
    auto begin = parseU64(beginText);
    if (!begin) return tokenError(token, "bad number " + quoted(beginText));
    auto end = parseU64(endText);
    if (!end) return tokenError(token, "bad number " + quoted(endText));
    if (*begin > *end) {
      return tokenError(token, "range " + quoted(piece) + " has begin > end");
    }
    ranges.push_back({*begin, *end});
    if (comma == std::string_view::npos) break;
    inner = inner.substr(comma + 1);
  }
  return RangeSet(std::move(ranges));
}

struct ParsedToken {
  std::string name;
  std::string role;
  bool isRanges = false;
  int64_t thousandths = 0;
  RangeSet ranges;
};

// Parses one "name(role):value" token (already trimmed, non-empty).
Result<ParsedToken> parseToken(std::string_view token) {
  size_t colon = token.find(':');
  if (colon == std::string_view::npos) return tokenError(token, "missing ':'");
  std::string_view head = trim(token.substr(0, colon));
  std::string_view valueText = trim(token.substr(colon + 1));

  ParsedToken out;
  out.role = kDefaultRole;
  size_t open = head.find('(');
  size_t close = head.find(')');
  std::string_view name = head;
  if (open != std::string_view::npos || close != std::string_view::npos) {
    if (open == std::string_view::npos || close != head.size() - 1 || close < open ||
        head.find('(', open + 1) != std::string_view::npos) {
      return tokenError(token, "bad role syntax, expected 'name(role)'");
    }
    name = trim(head.substr(0, open));
    std::string_view role = trim(head.substr(open + 1, close - open - 1));
    if (role.empty()) return tokenError(token, "empty role");
    if (auto valid = validateRole(role); !valid) return tokenError(token, valid.error().message);
    out.role = std::string(role);
  }
  if (name.empty()) return tokenError(token, "empty name");
  if (!validName(name)) {
    return tokenError(token, "bad name " + quoted(name) +
                                 " (allowed: letters, digits, '_', '.', '/', '-')");
  }
  out.name = std::string(name);

  if (valueText.empty()) return tokenError(token, "missing value");
  if (valueText.front() == '[') {
    if (valueText.size() < 2 || valueText.back() != ']') {
      return tokenError(token, "unbalanced brackets");
    }
    std::string_view inner = valueText.substr(1, valueText.size() - 2);
    if (inner.find_first_of("[]") != std::string_view::npos) {
      return tokenError(token, "unbalanced brackets");
    }
    auto ranges = parseRangeList(inner, token);
    if (!ranges) return ranges.error();
    out.isRanges = true;
    out.ranges = std::move(*ranges);
    return out;
  }
  if (valueText.find_first_of("[]") != std::string_view::npos) {
    return tokenError(token, "unbalanced brackets");
  }
  auto value = parseDouble(valueText);
  if (!value) return tokenError(token, "bad number " + quoted(valueText));
  if (!std::isfinite(*value) || *value < 0) {
    return tokenError(token, "scalar " + quoted(valueText) + " must be finite and non-negative");
  }
  if (*value * static_cast<double>(kScale) > static_cast<double>(kMaxThousandths)) {
    return tokenError(token, "scalar " + quoted(valueText) + " exceeds the maximum " +
                                 formatThousandths(kMaxThousandths));
  }
  out.thousandths = toThousandths(*value);
  return out;
}

// Walks both maps in key order, a scalar before a range set of the same key.
template <typename ScalarMap, typename RangeMap, typename OnScalar, typename OnRanges>
void walk(const ScalarMap& scalars, const RangeMap& ranges, OnScalar onScalar,
          OnRanges onRanges) {
  auto s = scalars.begin();
  auto r = ranges.begin();
  while (s != scalars.end() || r != ranges.end()) {
    if (r == ranges.end() || (s != scalars.end() && s->first <= r->first)) {
      onScalar(s->first, s->second);
      ++s;
    } else {
      onRanges(r->first, r->second);
      ++r;
    }
  }
}

}  // namespace

// ---------------------------------------------------------------- RangeSet

// Intervals with begin > end are dropped.
RangeSet::RangeSet(std::vector<Range> ranges) : ranges_(std::move(ranges)) {
  std::erase_if(ranges_, [](const Range& r) { return r.begin > r.end; });
  std::sort(ranges_.begin(), ranges_.end(), [](const Range& a, const Range& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::vector<Range> merged;
  merged.reserve(ranges_.size());
  for (const Range& r : ranges_) {
    if (!merged.empty()) {
      Range& last = merged.back();
      // Overlapping or adjacent (careful: last.end + 1 overflows at the top).
      if (last.end == kMaxU64 || r.begin <= last.end + 1) {
        last.end = std::max(last.end, r.end);
        continue;
      }
    }
    merged.push_back(r);
  }
  ranges_ = std::move(merged);
}

uint64_t RangeSet::size() const {
  uint64_t total = 0;
  for (const Range& r : ranges_) {
    uint64_t span = r.end - r.begin;  // count - 1
    if (span == kMaxU64 || total > kMaxU64 - (span + 1)) return kMaxU64;
    total += span + 1;
  }
  return total;
}

bool RangeSet::contains(const RangeSet& other) const {
  for (const Range& o : other.ranges_) {
    auto it = std::upper_bound(ranges_.begin(), ranges_.end(), o.begin,
                               [](uint64_t v, const Range& r) { return v < r.begin; });
    if (it == ranges_.begin()) return false;
    --it;  // the last interval starting at or before o.begin
    if (it->end < o.end) return false;
  }
  return true;
}

bool RangeSet::contains(uint64_t value) const {
  return contains(RangeSet({{value, value}}));
}

RangeSet& RangeSet::operator+=(const RangeSet& other) {
  if (other.ranges_.empty()) return *this;
  if (ranges_.empty()) {
    ranges_ = other.ranges_;
    return *this;
  }
  std::vector<Range> all = ranges_;
  all.insert(all.end(), other.ranges_.begin(), other.ranges_.end());
  *this = RangeSet(std::move(all));
  return *this;
}

RangeSet& RangeSet::operator-=(const RangeSet& other) {
  if (this == &other) {
    ranges_.clear();
    return *this;
  }
  const std::vector<Range>& sub = other.ranges_;
  std::vector<Range> out;
  size_t j = 0;
  for (const Range& r : ranges_) {
    while (j < sub.size() && sub[j].end < r.begin) ++j;
    uint64_t cur = r.begin;
    bool consumed = false;
    for (size_t k = j; k < sub.size() && sub[k].begin <= r.end; ++k) {
      if (sub[k].begin > cur) out.push_back({cur, sub[k].begin - 1});
      if (sub[k].end >= r.end) {
        consumed = true;
        break;
      }
      cur = sub[k].end + 1;  // sub[k].end < r.end, so no overflow
    }
    if (!consumed) out.push_back({cur, r.end});
  }
  ranges_ = std::move(out);
  return *this;
}

std::string RangeSet::toString() const {
  std::string out = "[";
  for (size_t i = 0; i < ranges_.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(ranges_[i].begin);
    out += '-';
    out += std::to_string(ranges_[i].end);
  }
  out += ']';
  return out;
}

// --------------------------------------------------------------- Resources

Result<void> validateRole(std::string_view role) {
  std::string quotedRole = "'" + std::string(role) + "'";
  if (role.empty()) return invalid("role is empty");
  if (role == kDefaultRole) return {};
  // '*' is the default role only as a whole; other roles are
  // '/'-separated paths ("eng/ml") of non-empty segments.
  for (unsigned char c : role) {
    if (!(std::isalnum(c) || c == '_' || c == '-' || c == '.' || c == '/')) {
      return invalid("role " + quotedRole + " has a character outside [A-Za-z0-9_./-]");
    }
  }
  if (role.front() == '-') return invalid("role " + quotedRole + " starts with '-'");
  size_t start = 0;
  while (start <= role.size()) {
    size_t end = role.find('/', start);
    if (end == std::string_view::npos) end = role.size();
    std::string_view segment = role.substr(start, end - start);
    if (segment.empty()) return invalid("role " + quotedRole + " has an empty path segment");
    if (segment == "." || segment == "..") {
      return invalid("role " + quotedRole + " has a '" + std::string(segment) + "' segment");
    }
    start = end + 1;
  }
  return {};
}

Result<Resources> Resources::parse(std::string_view text) {
  Resources out;
  while (true) {
    size_t semi = text.find(';');
    std::string_view token = trim(text.substr(0, semi));
    if (!token.empty()) {  // empty tokens (e.g. a trailing ';') are skipped
      auto parsed = parseToken(token);
      if (!parsed) return parsed.error();
      Key key{std::move(parsed->name), std::move(parsed->role)};
      if (parsed->isRanges) {
        if (!parsed->ranges.empty()) out.ranges_[key] += parsed->ranges;
      } else if (parsed->thousandths > 0) {
        int64_t& slot = out.scalars_[key];
        slot = addCapped(slot, parsed->thousandths);
      }
    }
    if (semi == std::string_view::npos) break;
    text = text.substr(semi + 1);
  }
  return out;
}

// Builders ignore empty names and non-finite or non-positive amounts; an
// empty role means "*". Amounts are capped at 1e12.
Resources& Resources::addScalar(const std::string& name, double value,
                                const std::string& role) {
  if (name.empty() || !std::isfinite(value) || value <= 0) return *this;
  int64_t t = toThousandths(value);
  if (t <= 0) return *this;
  int64_t& slot = scalars_[{name, normRole(role)}];
  slot = addCapped(slot, t);
  return *this;
}

Resources& Resources::addRanges(const std::string& name, const RangeSet& ranges,
                                const std::string& role) {
  if (name.empty() || ranges.empty()) return *this;
  ranges_[{name, normRole(role)}] += ranges;
  return *this;
}

double Resources::scalar(const std::string& name) const {
  int64_t total = 0;
  for (auto it = scalars_.lower_bound({name, ""}); it != scalars_.end() && it->first.first == name;
       ++it) {
    total = total > std::numeric_limits<int64_t>::max() - it->second
                ? std::numeric_limits<int64_t>::max()
                : total + it->second;
  }
  return static_cast<double>(total) / kScale;
}

double Resources::scalar(const std::string& name, const std::string& role) const {
  auto it = scalars_.find({name, normRole(role)});
  return it == scalars_.end() ? 0.0 : static_cast<double>(it->second) / kScale;
}

RangeSet Resources::ranges(const std::string& name) const {
  RangeSet total;
  for (auto it = ranges_.lower_bound({name, ""}); it != ranges_.end() && it->first.first == name;
       ++it) {
    total += it->second;
  }
  return total;
}

RangeSet Resources::ranges(const std::string& name, const std::string& role) const {
  auto it = ranges_.find({name, normRole(role)});
  return it == ranges_.end() ? RangeSet() : it->second;
}

bool Resources::empty() const { return scalars_.empty() && ranges_.empty(); }

bool Resources::contains(const Resources& other) const {
  for (const auto& [key, amount] : other.scalars_) {
    auto it = scalars_.find(key);
    if (it == scalars_.end() || it->second < amount) return false;
  }
  for (const auto& [key, set] : other.ranges_) {
    auto it = ranges_.find(key);
    if (it == ranges_.end() || !it->second.contains(set)) return false;
  }
  return true;
}

Resources& Resources::operator+=(const Resources& other) {
  if (this == &other) {
    Resources copy = other;
    return *this += copy;
  }
  if (empty()) {  // the common case of a fresh sum: one copy
    *this = other;
    return *this;
  }
  for (const auto& [key, amount] : other.scalars_) {
    int64_t& slot = scalars_[key];
    slot = addCapped(slot, amount);
  }
  for (const auto& [key, set] : other.ranges_) ranges_[key] += set;
  return *this;
}

Resources& Resources::operator-=(const Resources& other) {
  if (this == &other || *this == other) {  // taking everything, as an offer of all that is free does
    scalars_.clear();
    ranges_.clear();
    return *this;
  }
  for (const auto& [key, amount] : other.scalars_) {
    auto it = scalars_.find(key);
    if (it == scalars_.end()) continue;
    if (it->second <= amount) {
      scalars_.erase(it);
    } else {
      it->second -= amount;
    }
  }
  for (const auto& [key, set] : other.ranges_) {
    auto it = ranges_.find(key);
    if (it == ranges_.end()) continue;
    it->second -= set;
    if (it->second.empty()) ranges_.erase(it);
  }
  return *this;
}

bool Resources::operator==(const Resources& other) const {
  return scalars_ == other.scalars_ && ranges_ == other.ranges_;
}

Resources Resources::reserved(const std::string& role) const {
  const std::string& wanted = normRole(role);
  Resources out;
  for (const auto& [key, amount] : scalars_) {
    if (key.second == wanted) out.scalars_.emplace(key, amount);
  }
  for (const auto& [key, set] : ranges_) {
    if (key.second == wanted) out.ranges_.emplace(key, set);
  }
  return out;
}

Resources Resources::unreserved() const { return reserved(kDefaultRole); }

std::vector<std::string> Resources::reservationRoles() const {
  std::set<std::string> roles;
  for (const auto& entry : scalars_) roles.insert(entry.first.second);
  for (const auto& entry : ranges_) roles.insert(entry.first.second);
  roles.erase(kDefaultRole);
  return {roles.begin(), roles.end()};
}

std::string Resources::toString() const {
  std::string out;
  auto appendKey = [&out](const Key& key) {
    if (!out.empty()) out += ';';
    out += key.first;
    if (key.second != kDefaultRole) {
      out += '(';
      out += key.second;
      out += ')';
    }
    out += ':';
  };
  walk(
      scalars_, ranges_,
      [&](const Key& key, int64_t amount) {
        appendKey(key);
        out += formatThousandths(amount);
      },
      [&](const Key& key, const RangeSet& set) {
        appendKey(key);
        out += set.toString();
      });
  return out;
}

std::vector<Resources::Entry> Resources::entries() const {
  std::vector<Entry> out;
  walk(
      scalars_, ranges_,
      [&out](const Key& key, int64_t amount) {
        Entry e;
        e.name = key.first;
        e.role = key.second;
        e.scalar = static_cast<double>(amount) / kScale;
        out.push_back(std::move(e));
      },
      [&out](const Key& key, const RangeSet& set) {
        Entry e;
        e.name = key.first;
        e.role = key.second;
        e.isRanges = true;
        e.ranges = set;
        out.push_back(std::move(e));
      });
  return out;
}

}  // namespace clusternodes
