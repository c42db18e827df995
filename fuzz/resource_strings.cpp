// Fuzz target: resource strings, role paths and the other small texts of
// flags and messages: Resources::parse (common/resources.cpp), validateRole
// and the allocator's role tree, task states and reasons, users (values),
// agent attributes, zk:// URLs, durations and sandbox tokens (an agent
// reads those from any HTTP client's ?token=).
//
// An input is one byte that picks what the rest is, modulo 4:
//
//   0  a resource string ("cpus(eng):2;mem:1024;ports:[31000-32000]")
//   1  two resource strings, separated by the first '|'
//   2  role paths, one a line
//   3  any of the small texts
//
// Beyond "no crash", the properties resources.hpp promises: the text form
// round-trips (parse(r.toString()) == r), as does the wire form the
// daemons send resources in; r - r is empty; a + b contains a and b, and
// (a + b) - b == a below the cap on scalars and when no range of a meets
// one of b.
#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>

#include "agent/resource_detection.hpp"
#include "clusternodes/resources.hpp"
#include "clusternodes/values.hpp"
#include "common/flags.hpp"
#include "common/sandbox_token.hpp"
#include "common/wire.hpp"
#include "common/zookeeper.hpp"
#include "fuzz/harness/daemon.hpp"
#include "master/allocator/sorter.hpp"

using namespace clusternodes;

namespace {

// Scalars at or above this many units are capped in arithmetic (resources.cpp).
constexpr double kCap = 1e12;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "%s\n", what.c_str());
  std::abort();
}

// Whether a range of `a` meets one of `b` of the same name and role: then
// (a + b) - b loses the shared part, as sets do.
bool rangesMeet(const Resources& a, const Resources& b) {
  for (const auto& e : a.entries()) {
    if (!e.isRanges) continue;
    RangeSet rest = e.ranges;
    rest -= b.ranges(e.name, e.role);
    if (rest != e.ranges) return true;
  }
  return false;
}

bool belowCap(const Resources& r) {
  for (const auto& e : r.entries()) {
    if (!e.isRanges && e.scalar >= kCap / 2) return false;
  }
  return true;
}

Resources throughWire(const Resources& r) {
  capnp::MallocMessageBuilder message;
  auto holder = message.initRoot<wire::ExecutorInfo>();
  wire::setResources(r, [&](unsigned n) { return holder.initResources(n); });
  auto words = capnp::messageToFlatArray(message);
  capnp::FlatArrayMessageReader reader(words);
  return wire::fromWire(reader.getRoot<wire::ExecutorInfo>().getResources());
}

void oneString(std::string_view text) {
  auto parsed = Resources::parse(text);
  if (!parsed) return;
  const Resources& r = *parsed;
  std::string canonical = r.toString();
  auto again = Resources::parse(canonical);
  if (!again) fail("parse() refuses what toString() wrote, '" + canonical + "': " + again.error().message);
  if (*again != r) fail("parse(toString()) is not the same resources: '" + canonical + "'");
  if (again->toString() != canonical) fail("toString() is not stable: '" + canonical + "'");
  if (throughWire(r) != r) fail("the wire form does not round-trip: '" + canonical + "'");
  if (!(r - r).empty()) fail("r - r is not empty: '" + canonical + "'");
  if (!r.contains(r)) fail("r does not contain itself: '" + canonical + "'");
  Resources split = r.unreserved();
  for (const auto& role : r.reservationRoles()) {
    (void)validateRole(role);
    split += r.reserved(role);
  }
  if (split != r) fail("the reserved and unreserved parts do not add up: '" + canonical + "'");
  (void)master::Scalars::of(r).dominantShare(master::Scalars::of(r + r));
}

void twoStrings(std::string_view text) {
  size_t bar = text.find('|');
  if (bar == std::string_view::npos) return;
  auto a = Resources::parse(text.substr(0, bar));
  auto b = Resources::parse(text.substr(bar + 1));
  if (!a || !b) return;
  Resources sum = *a + *b;
  if (!sum.contains(*a) || !sum.contains(*b)) fail("a + b does not contain a and b: '" + sum.toString() + "'");
  if (belowCap(sum) && !rangesMeet(*a, *b) && sum - *b != *a) {
    fail("(a + b) - b is not a: a '" + a->toString() + "', b '" + b->toString() + "'");
  }
  (void)(*a - *b).toString();
  (void)a->contains(*b);
}

void rolePaths(std::string_view text) {
  master::Sorter sorter;
  std::istringstream lines{std::string(text)};
  unsigned n = 0;
  for (std::string path; std::getline(lines, path) && n < 64; ++n) {
    if (!validateRole(path)) continue;
    auto role = sorter.role(path);
    if (sorter.path(role) != path) fail("the role tree names '" + path + "' '" + sorter.path(role) + "'");
    auto found = sorter.findRole(path);
    if (!found || *found != role) fail("the role tree does not find '" + path + "'");
    for (auto up = role; up != master::Sorter::kRoot; up = sorter.parent(up)) {
      if (!sorter.within(role, up)) fail("'" + path + "' is not within its ancestor '" + sorter.path(up) + "'");
    }
    sorter.setWeight(role, 1.0 + n);
    auto client = sorter.addClient("framework-" + std::to_string(n), role);
    sorter.add(client, master::Scalars::of(*Resources::parse("cpus:1;mem:128")));
  }
  sorter.setTotal(master::Scalars::of(*Resources::parse("cpus:64;mem:65536")));
  sorter.forEach([](master::Sorter::ClientIndex) { return true; });
}

void smallTexts(std::string_view text) {
  std::string s(text);
  (void)validateRole(text);
  (void)validateUser(text);
  if (auto state = parseTaskState(text)) {
    if (toString(*state) != text) fail("task state '" + s + "' does not name itself");
  }
  if (auto reason = parseTaskReason(text)) {
    if (toString(*reason) != text) fail("task reason '" + s + "' does not name itself");
  }
  (void)agent::parseAttributes(s);
  if (auto url = parseZkUrl(text)) {
    auto again = parseZkUrl(url->toString());
    if (!again || again->servers != url->servers || again->path != url->path || again->auth != url->auth) {
      fail("zk URL '" + s + "' does not round-trip through '" + url->toString() + "'");
    }
  }
  (void)parseDuration(text);

  // A token nobody signed is refused; what the key signs comes back whole.
  static const std::string key = "fuzz: the key a master would make";
  if (verifySandboxToken(key, text)) fail("an unsigned sandbox token was accepted: '" + s + "'");
  size_t bar = s.find('|');
  SandboxGrant grant{s.substr(0, bar), bar == std::string::npos ? "" : s.substr(bar + 1),
                     static_cast<int64_t>(s.size()) * 1'000'003 - 7};
  if (grant.agentId.find('\n') == std::string::npos && grant.path.find('\n') == std::string::npos) {
    auto back = verifySandboxToken(key, signSandboxToken(key, grant));
    if (!back || back->agentId != grant.agentId || back->path != grant.path || back->expiresMs != grant.expiresMs) {
      fail("a signed sandbox token does not come back whole: '" + s + "'");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool quiet = (fuzzing::quietLogs(), true);
  (void)quiet;
  if (size == 0) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: oneString(rest); break;
    case 1: twoStrings(rest); break;
    case 2: rolePaths(rest); break;
    case 3: smallTexts(rest); break;
  }
  return 0;
}
