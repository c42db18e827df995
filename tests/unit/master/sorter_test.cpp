// Unit tests for the Sorter on its own: the hierarchical DRF order in which
// the allocator visits clients. Every test reads the order through forEach().
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "clusternodes/resources.hpp"
#include "master/allocator/sorter.hpp"

using namespace clusternodes;
using namespace clusternodes::master;

namespace {

Scalars scalars(std::string_view text) {
  auto parsed = Resources::parse(text);
  INFO("parsing: " << std::string(text));
  REQUIRE(parsed.ok());
  return Scalars::of(*parsed);
}

// The names of the clients forEach() visits, in order.
std::vector<std::string> order(Sorter& sorter) {
  std::vector<std::string> out;
  sorter.forEach([&](Sorter::ClientIndex c) {
    out.push_back(sorter.name(c));
    return true;
  });
  return out;
}

// The same, as "role:name", for clients whose names repeat across roles.
std::vector<std::string> qualifiedOrder(Sorter& sorter, Sorter::RoleIndex within = Sorter::kRoot) {
  std::vector<std::string> out;
  sorter.forEachIn(within, [&](Sorter::ClientIndex c) {
    out.push_back(sorter.path(sorter.roleOf(c)) + ":" + sorter.name(c));
    return true;
  });
  return out;
}

using Names = std::vector<std::string>;

}  // namespace

// ------------------------------------------------------------ Scalars

TEST_CASE("sorter Scalars: dominant share is the largest share over the kinds the total has") {
  Scalars total = scalars("cpus:10;mem:1000");
  CHECK(scalars("cpus:2;mem:100").dominantShare(total) == doctest::Approx(0.2));
  CHECK(scalars("cpus:1;mem:500").dominantShare(total) == doctest::Approx(0.5));
  // gpus are absent from the total: they do not count, however many.
  CHECK(scalars("cpus:1;gpus:4").dominantShare(total) == doctest::Approx(0.1));
  CHECK(Scalars().dominantShare(total) == 0);
  CHECK(scalars("cpus:1").dominantShare(Scalars()) == 0);

  // Subtraction floors at zero, kind by kind.
  Scalars s = scalars("cpus:1;mem:300");
  s -= scalars("cpus:2;mem:100");
  CHECK(s == scalars("mem:200"));
  CHECK_FALSE(s.empty());
  s -= scalars("mem:200");
  CHECK(s.empty());
}

// ------------------------------------------------------------ flat order

TEST_CASE("sorter: clients of one role are visited by ascending dominant share") {
  Sorter sorter;
  auto role = sorter.role("r");
  sorter.setTotal(scalars("cpus:10;mem:1000"));
  auto a = sorter.addClient("a", role);
  auto b = sorter.addClient("b", role);
  auto c = sorter.addClient("c", role);
  sorter.add(a, scalars("cpus:5"));           // 0.5
  sorter.add(b, scalars("cpus:1;mem:300"));   // 0.3, by memory
  sorter.add(c, scalars("cpus:4;mem:100"));   // 0.4, by cpus
  CHECK(order(sorter) == Names{"b", "c", "a"});
  CHECK(sorter.share(a) == doctest::Approx(0.5));
  CHECK(sorter.share(b) == doctest::Approx(0.3));

  // Each change moves the client to its new place at once.
  sorter.subtract(a, scalars("cpus:4"));      // 0.1
  CHECK(order(sorter) == Names{"a", "b", "c"});
  sorter.add(b, scalars("mem:500"));          // 0.8
  CHECK(order(sorter) == Names{"a", "c", "b"});
  sorter.subtract(b, scalars("cpus:1;mem:800"));  // 0
  CHECK(order(sorter) == Names{"b", "a", "c"});
  CHECK(sorter.allocation(b).empty());
  CHECK(sorter.allocation(role, true) == scalars("cpus:5;mem:100"));
  CHECK(sorter.allocation(Sorter::kRoot, true) == scalars("cpus:5;mem:100"));
}

TEST_CASE("sorter: equal shares are ordered by name whatever the insertion order") {
  const Names names = {"fw-b", "fw-10", "fw-9", "fw-a", "fw-1"};
  Names sortedNames = names;
  std::sort(sortedNames.begin(), sortedNames.end());  // fw-1, fw-10, fw-9, fw-a, fw-b

  Names permutation = names;
  std::sort(permutation.begin(), permutation.end());
  int permutations = 0;
  do {
    Sorter sorter;
    sorter.setTotal(scalars("cpus:100;mem:100"));
    auto role = sorter.role("r");
    std::map<std::string, Sorter::ClientIndex> index;
    for (const auto& name : permutation) index[name] = sorter.addClient(name, role);
    INFO("inserted as " << permutation[0] << "," << permutation[1] << "," << permutation[2] << ","
                        << permutation[3] << "," << permutation[4]);
    CHECK(order(sorter) == sortedNames);

    // Equal non-zero shares tie the same way, reached by different paths
    // (by cpus for some, by memory for others; up and down).
    sorter.add(index["fw-a"], scalars("cpus:3;mem:1"));
    sorter.add(index["fw-9"], scalars("cpus:1;mem:3"));
    sorter.add(index["fw-1"], scalars("cpus:7"));
    sorter.subtract(index["fw-1"], scalars("cpus:4"));
    sorter.add(index["fw-10"], scalars("mem:1"));
    CHECK(order(sorter) == Names{"fw-b", "fw-10", "fw-1", "fw-9", "fw-a"});
    ++permutations;
  } while (std::next_permutation(permutation.begin(), permutation.end()));
  CHECK(permutations == 120);
}

TEST_CASE("sorter: a role's weight divides its share") {
  Sorter sorter;
  sorter.setTotal(scalars("cpus:100"));
  auto x = sorter.addClient("fw-x", sorter.role("x"));
  auto y = sorter.addClient("fw-y", sorter.role("y"));
  sorter.add(x, scalars("cpus:40"));
  sorter.add(y, scalars("cpus:30"));
  CHECK(order(sorter) == Names{"fw-y", "fw-x"});

  sorter.setWeight(sorter.role("x"), 2);  // 0.4 / 2 = 0.2 < 0.3
  CHECK(sorter.weight(sorter.role("x")) == 2);
  CHECK(order(sorter) == Names{"fw-x", "fw-y"});

  // Weighted shares that tie go by name.
  sorter.add(x, scalars("cpus:20"));  // 0.6 / 2 = 0.3
  CHECK(order(sorter) == Names{"fw-x", "fw-y"});
  sorter.setWeight(sorter.role("y"), 0.5);  // 0.3 / 0.5 = 0.6 > 0.3
  CHECK(order(sorter) == Names{"fw-x", "fw-y"});
  sorter.setWeight(sorter.role("x"), 0.5);  // 1.2 > 0.6
  CHECK(order(sorter) == Names{"fw-y", "fw-x"});

  // Back to equal weights: 0.6 against 0.3.
  sorter.setWeight(sorter.role("x"), 1);
  sorter.setWeight(sorter.role("y"), 1);
  CHECK(order(sorter) == Names{"fw-y", "fw-x"});

  // A weight does not change how the role's own clients compare with each other.
  auto x2 = sorter.addClient("fw-x2", sorter.role("x"));
  sorter.add(x2, scalars("cpus:10"));
  sorter.setWeight(sorter.role("x"), 10);  // x: 0.7 / 10 < y: 0.3
  CHECK(order(sorter) == Names{"fw-x2", "fw-x", "fw-y"});
}

// ------------------------------------------------------------ hierarchy

TEST_CASE("sorter: roles form a tree by their paths") {
  Sorter sorter;
  auto ml = sorter.role("eng/ml");
  auto eng = sorter.findRole("eng");
  REQUIRE(eng);
  CHECK(sorter.parent(ml) == *eng);
  CHECK(sorter.parent(*eng) == Sorter::kRoot);
  CHECK(sorter.path(ml) == "eng/ml");
  CHECK(sorter.role("eng/ml") == ml);  // not created twice
  CHECK(sorter.roleCount() == 3);      // root, eng, eng/ml
  CHECK_FALSE(sorter.findRole("ml"));
  CHECK_FALSE(sorter.findRole("eng/web"));

  auto deep = sorter.role("eng/ml/deep");
  CHECK(sorter.within(deep, ml));
  CHECK(sorter.within(deep, *eng));
  CHECK(sorter.within(deep, Sorter::kRoot));
  CHECK(sorter.within(ml, ml));
  CHECK_FALSE(sorter.within(ml, deep));
  CHECK_FALSE(sorter.within(sorter.role("ops"), *eng));
  // "*" is a top-level role like any other.
  CHECK(sorter.parent(sorter.role("*")) == Sorter::kRoot);
}

TEST_CASE("sorter: siblings are ordered by their subtree's share, then visited depth first") {
  Sorter sorter;
  sorter.setTotal(scalars("cpus:100"));
  auto ops = sorter.addClient("fw-ops", sorter.role("ops"));
  auto ml = sorter.addClient("fw-ml", sorter.role("eng/ml"));
  auto web = sorter.addClient("fw-web", sorter.role("eng/web"));
  auto eng = sorter.addClient("fw-eng", sorter.role("eng"));  // eng's own client

  sorter.add(ops, scalars("cpus:10"));
  sorter.add(ml, scalars("cpus:4"));
  sorter.add(web, scalars("cpus:2"));
  sorter.add(eng, scalars("cpus:1"));
  // eng's subtree (7) before ops (10); within eng: "." (1), web (2), ml (4).
  CHECK(order(sorter) == Names{"fw-eng", "fw-web", "fw-ml", "fw-ops"});
  CHECK(sorter.roleShare(*sorter.findRole("eng")) == doctest::Approx(0.07));

  // fw-ml alone has less than fw-ops, but its subtree now has more.
  sorter.add(web, scalars("cpus:4"));  // eng: 11
  CHECK(order(sorter) == Names{"fw-ops", "fw-eng", "fw-ml", "fw-web"});

  // The own clients' group competes with its total, not client by client.
  auto eng2 = sorter.addClient("fw-eng2", sorter.role("eng"));
  sorter.add(eng2, scalars("cpus:4"));  // ".": 5, ml: 4, web: 6; eng: 15
  CHECK(order(sorter) == Names{"fw-ops", "fw-ml", "fw-eng", "fw-eng2", "fw-web"});

  // Weighting eng (the role) weights its subtree against ops and its own
  // clients' group against its children.
  sorter.setWeight(sorter.role("eng"), 2);  // eng 0.15/2 < ops 0.1; "." 0.05/2
  CHECK(order(sorter) == Names{"fw-eng", "fw-eng2", "fw-ml", "fw-web", "fw-ops"});

  // forEachIn visits one subtree only, in the same order.
  CHECK(qualifiedOrder(sorter, *sorter.findRole("eng")) ==
        Names{"eng:fw-eng", "eng:fw-eng2", "eng/ml:fw-ml", "eng/web:fw-web"});
  CHECK(qualifiedOrder(sorter, *sorter.findRole("eng/web")) == Names{"eng/web:fw-web"});
}

TEST_CASE("sorter: a role's own clients tie with its child roles by the name \".\"") {
  Sorter sorter;
  sorter.setTotal(scalars("cpus:100"));
  // Created in an order that differs from the name order.
  auto zeta = sorter.addClient("fw-z", sorter.role("eng/zeta"));
  auto own = sorter.addClient("fw-own", sorter.role("eng"));
  auto alpha = sorter.addClient("fw-a", sorter.role("eng/alpha"));
  auto dash = sorter.addClient("fw-dash", sorter.role("eng/-x"));  // '-' sorts before '.'
  CHECK(order(sorter) == Names{"fw-dash", "fw-own", "fw-a", "fw-z"});

  // Equal non-zero shares tie the same way.
  for (auto c : {zeta, own, alpha, dash}) sorter.add(c, scalars("cpus:5"));
  CHECK(order(sorter) == Names{"fw-dash", "fw-own", "fw-a", "fw-z"});

  // A top-level "*" ties before the others (by name), at every share.
  auto star = sorter.addClient("fw-star", sorter.role("*"));
  auto ops = sorter.addClient("fw-ops", sorter.role("ops"));
  sorter.add(star, scalars("cpus:20"));
  sorter.add(ops, scalars("cpus:20"));
  CHECK(order(sorter) == Names{"fw-star", "fw-dash", "fw-own", "fw-a", "fw-z", "fw-ops"});
}

TEST_CASE("sorter: deep hierarchies order every level by its own subtree shares") {
  Sorter sorter;
  sorter.setTotal(scalars("cpus:100;mem:100"));
  auto a = sorter.addClient("c-a", sorter.role("a/x/1"));
  auto b = sorter.addClient("c-b", sorter.role("a/x/2"));
  auto c = sorter.addClient("c-c", sorter.role("a/y"));
  auto d = sorter.addClient("c-d", sorter.role("b"));
  sorter.add(a, scalars("cpus:1"));
  sorter.add(b, scalars("mem:3"));
  sorter.add(c, scalars("cpus:3"));
  sorter.add(d, scalars("cpus:3;mem:2"));
  // a: cpus 4, mem 3 (0.04) > b: 0.03, so b first; within a: x (0.03 by mem:
  // cpus 1, mem 3) ties y (cpus 3) -> by name x; within x: 1 (0.01), 2 (0.03).
  CHECK(order(sorter) == Names{"c-d", "c-a", "c-b", "c-c"});

  // Shares of a subtree are of its summed allocation, not the sum of shares:
  // x has cpus 1 + mem 3 = 0.03, not 0.04.
  sorter.add(c, scalars("cpus:1"));  // y: 0.04
  CHECK(order(sorter) == Names{"c-d", "c-a", "c-b", "c-c"});
  sorter.subtract(d, scalars("cpus:3"));  // b: 0.02 < a: cpus 5 -> 0.05
  CHECK(order(sorter) == Names{"c-d", "c-a", "c-b", "c-c"});
  sorter.add(d, scalars("mem:10"));  // b: 0.12
  CHECK(order(sorter) == Names{"c-a", "c-b", "c-c", "c-d"});
  sorter.add(a, scalars("cpus:3"));  // x: cpus 4 -> 0.04, y 0.04: tie, x first; within x: 2 before 1
  CHECK(order(sorter) == Names{"c-b", "c-a", "c-c", "c-d"});
  sorter.add(b, scalars("cpus:1"));  // x: cpus 5 (0.05) > y (0.04)
  CHECK(order(sorter) == Names{"c-c", "c-b", "c-a", "c-d"});
}

// ------------------------------------------------------------ activity

TEST_CASE("sorter: inactive clients are skipped but keep their place") {
  Sorter sorter;
  sorter.setTotal(scalars("cpus:10"));
  auto a = sorter.addClient("a", sorter.role("r"));
  auto b = sorter.addClient("b", sorter.role("r"));
  auto c = sorter.addClient("c", sorter.role("s/t"));
  sorter.add(a, scalars("cpus:1"));
  sorter.add(b, scalars("cpus:2"));
  sorter.add(c, scalars("cpus:4"));
  CHECK(order(sorter) == Names{"a", "b", "c"});

  sorter.setActive(a, false);
  CHECK_FALSE(sorter.active(a));
  CHECK(order(sorter) == Names{"b", "c"});
  // Its allocation still counts for its role: r (3) stays before s (4).
  sorter.add(a, scalars("cpus:2"));  // r: 5 > s: 4
  CHECK(order(sorter) == Names{"c", "b"});
  sorter.setActive(a, true);
  CHECK(order(sorter) == Names{"c", "b", "a"});

  // A role whose clients are all inactive is skipped, with its subtree.
  sorter.setActive(c, false);
  CHECK(order(sorter) == Names{"b", "a"});
  sorter.setActive(a, false);
  sorter.setActive(b, false);
  CHECK(order(sorter).empty());
  sorter.setActive(b, false);  // twice is once
  sorter.setActive(c, true);
  CHECK(order(sorter) == Names{"c"});
  sorter.setActive(b, true);
  sorter.setActive(a, true);
  CHECK(order(sorter) == Names{"c", "b", "a"});
  CHECK(sorter.clientCount() == 3);  // inactive clients still count
}

TEST_CASE("sorter: forEach stops when the visitor returns false") {
  Sorter sorter;
  sorter.setTotal(scalars("cpus:10"));
  for (const char* name : {"a", "b", "c", "d"}) sorter.addClient(name, sorter.role(std::string("r-") + name));
  std::vector<std::string> seen;
  bool finished = sorter.forEach([&](Sorter::ClientIndex c) {
    seen.push_back(sorter.name(c));
    return seen.size() < 2;
  });
  CHECK_FALSE(finished);
  CHECK(seen == Names{"a", "b"});
  CHECK(sorter.forEach([](Sorter::ClientIndex) { return true; }));
}

// ------------------------------------------------------------ removal

TEST_CASE("sorter: removeClient drops it from the order and its role's totals, and its index is reused") {
  Sorter sorter;
  sorter.setTotal(scalars("cpus:10"));
  auto r = sorter.role("r");
  auto s = sorter.role("s");
  auto a = sorter.addClient("a", r);
  auto b = sorter.addClient("b", r);
  auto c = sorter.addClient("c", s);
  sorter.add(a, scalars("cpus:1"));
  sorter.add(b, scalars("cpus:3"));
  sorter.add(c, scalars("cpus:3"));
  CHECK(order(sorter) == Names{"c", "a", "b"});  // s (3) before r (4)
  CHECK(sorter.clientCount() == 3);
  CHECK(sorter.clientCapacity() == 3);

  // Removed with its allocation still on it: the role loses it.
  sorter.removeClient(b);
  CHECK(sorter.clientCount() == 2);
  CHECK(sorter.allocation(r, true) == scalars("cpus:1"));
  CHECK(sorter.allocation(Sorter::kRoot, true) == scalars("cpus:4"));
  CHECK(order(sorter) == Names{"a", "c"});

  // The next client takes the freed index, fresh: no allocation, active,
  // its own name and role.
  auto d = sorter.addClient("d", s);
  CHECK(d == b);
  CHECK(sorter.clientCapacity() == 3);
  CHECK(sorter.name(d) == "d");
  CHECK(sorter.roleOf(d) == s);
  CHECK(sorter.active(d));
  CHECK(sorter.allocation(d).empty());
  CHECK(order(sorter) == Names{"a", "d", "c"});  // r (1) before s (3): d (0) before c (3)

  // Removing a role's last client takes its own clients' group out of the
  // order; the role can have clients again later.
  sorter.removeClient(a);
  CHECK(sorter.allocation(r, true).empty());
  CHECK(order(sorter) == Names{"d", "c"});
  auto e = sorter.addClient("e", r);
  CHECK(e == a);
  CHECK(order(sorter) == Names{"e", "d", "c"});  // r (0) before s (3)

  // A reused index does not inherit the old client's inactivity.
  sorter.setActive(c, false);
  sorter.removeClient(c);
  auto f = sorter.addClient("f", r);
  CHECK(f == c);
  CHECK(sorter.active(f));
  CHECK(order(sorter) == Names{"e", "f", "d"});
  CHECK(sorter.clientCount() == 3);

  // Removing twice is harmless.
  sorter.removeClient(e);
  sorter.removeClient(e);
  CHECK(sorter.clientCount() == 2);
  CHECK(order(sorter) == Names{"f", "d"});
}

TEST_CASE("sorter: the same name may be a client of several roles") {
  Sorter sorter;
  sorter.setTotal(scalars("cpus:10"));
  auto a1 = sorter.addClient("fw-1", sorter.role("a"));
  auto b1 = sorter.addClient("fw-1", sorter.role("b"));
  auto a2 = sorter.addClient("fw-2", sorter.role("a"));
  CHECK(a1 != b1);
  sorter.add(a1, scalars("cpus:2"));
  sorter.add(b1, scalars("cpus:1"));
  CHECK(qualifiedOrder(sorter) == Names{"b:fw-1", "a:fw-2", "a:fw-1"});
  sorter.removeClient(b1);
  sorter.add(a2, scalars("cpus:3"));
  CHECK(qualifiedOrder(sorter) == Names{"a:fw-1", "a:fw-2"});
}

// ------------------------------------------------------------ cluster total

TEST_CASE("sorter: a new cluster total reorders at the next visit, when the dominant resource flips") {
  Sorter sorter;
  sorter.setTotal(scalars("cpus:10;mem:100"));
  auto a = sorter.addClient("a", sorter.role("r"));
  auto b = sorter.addClient("b", sorter.role("r"));
  auto x = sorter.addClient("x", sorter.role("s"));
  sorter.add(a, scalars("cpus:5;mem:10"));  // 0.5 by cpus
  sorter.add(b, scalars("cpus:2;mem:40"));  // 0.4 by mem
  sorter.add(x, scalars("cpus:1;mem:45"));  // s: 0.45
  CHECK(order(sorter) == Names{"x", "b", "a"});  // s 0.45 < r 0.7 (7 of 10 cpus)

  // Twice the cpus: a is 0.25 by cpus, b 0.4 by mem; r's total (7 cpus,
  // 50 mem) is 0.5 by mem, s 0.45.
  sorter.setTotal(scalars("cpus:20;mem:100"));
  CHECK(sorter.share(a) == doctest::Approx(0.25));
  CHECK(order(sorter) == Names{"x", "a", "b"});

  // Changes between the new total and the next visit count too.
  sorter.setTotal(scalars("cpus:20;mem:1000"));  // a 0.25, b 0.1; r 0.35, s 0.05
  sorter.add(b, scalars("cpus:4"));              // b 0.3;  r 0.55
  sorter.subtract(x, scalars("mem:45"));         // s 0.05
  sorter.add(x, scalars("cpus:10"));             // s 0.55: ties r, by name r
  CHECK(order(sorter) == Names{"a", "b", "x"});
  sorter.setTotal(scalars("cpus:40;mem:1000"));  // a 0.125, b 0.15; r 0.275, s 0.275: tie
  sorter.add(a, scalars("cpus:2"));              // a 0.175; r 0.325
  CHECK(order(sorter) == Names{"x", "b", "a"});

  // Setting the same total again changes nothing.
  sorter.setTotal(scalars("cpus:40;mem:1000"));
  CHECK(order(sorter) == Names{"x", "b", "a"});
  CHECK(sorter.total() == scalars("cpus:40;mem:1000"));
}

TEST_CASE("sorter: clients and roles added or removed while the order is stale land in their place") {
  Sorter sorter;
  sorter.setTotal(scalars("cpus:10"));
  auto a = sorter.addClient("a", sorter.role("r"));
  sorter.add(a, scalars("cpus:2"));
  CHECK(order(sorter) == Names{"a"});

  sorter.setTotal(scalars("cpus:20"));
  auto b = sorter.addClient("b", sorter.role("r"));
  auto c = sorter.addClient("c", sorter.role("q/deep"));
  sorter.add(c, scalars("cpus:3"));
  sorter.add(b, scalars("cpus:1"));
  sorter.removeClient(a);
  auto d = sorter.addClient("d", sorter.role("r"));
  sorter.add(d, scalars("cpus:5"));
  CHECK(order(sorter) == Names{"c", "b", "d"});  // q 3 < r 6
  sorter.setWeight(sorter.role("r"), 3);          // r 0.3 / 3 = 0.1 < q 0.15
  sorter.removeClient(b);
  CHECK(order(sorter) == Names{"d", "c"});
}

// ------------------------------------------------------------ randomized

namespace {

// A brute-force model of the documented order, recomputed from scratch.
struct Model {
  struct Client {
    std::string name;
    std::string role;
    bool active = true;
    Scalars allocation;
  };
  std::map<Sorter::ClientIndex, Client> clients;
  std::map<std::string, double> weights;  // by path; missing means 1
  std::set<std::string> roles;            // every created path, ancestors included
  Scalars total;

  static double share(const Scalars& allocation, const Scalars& total) {
    double out = 0;
    for (size_t k = 0; k < Scalars::kKinds; ++k) {
      if (total.value[k] > 0) {
        out = std::max(out, static_cast<double>(allocation.value[k]) / static_cast<double>(total.value[k]));
      }
    }
    return out;
  }
  double weight(const std::string& path) const {
    auto it = weights.find(path);
    return it == weights.end() ? 1.0 : it->second;
  }
  static std::string parentOf(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? "" : path.substr(0, slash);
  }
  static std::string lastSegment(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
  }
  static bool within(const std::string& path, const std::string& ancestor) {
    return ancestor.empty() || path == ancestor || path.rfind(ancestor + "/", 0) == 0;
  }
  void addRole(const std::string& path) {
    for (std::string p = path; !p.empty(); p = parentOf(p)) roles.insert(p);
  }

  Scalars subtree(const std::string& path) const {
    Scalars out;
    for (const auto& [index, client] : clients) {
      if (within(client.role, path)) out += client.allocation;
    }
    return out;
  }
  Scalars own(const std::string& path) const {
    Scalars out;
    for (const auto& [index, client] : clients) {
      if (client.role == path) out += client.allocation;
    }
    return out;
  }

  // The clients of `path`'s subtree in DRF order, active ones only.
  void visit(const std::string& path, std::vector<Sorter::ClientIndex>& out) const {
    struct Sibling {
      double key;
      std::string name;
      std::string path;  // empty for the own clients' group
    };
    std::vector<Sibling> siblings;
    bool hasOwn = false;
    for (const auto& [index, client] : clients) hasOwn |= client.role == path;
    if (hasOwn) siblings.push_back({share(own(path), total) / weight(path), ".", ""});
    for (const auto& role : roles) {
      if (parentOf(role) != path) continue;
      siblings.push_back({share(subtree(role), total) / weight(role), lastSegment(role), role});
    }
    std::sort(siblings.begin(), siblings.end(), [](const Sibling& a, const Sibling& b) {
      return a.key != b.key ? a.key < b.key : a.name < b.name;
    });
    for (const auto& sibling : siblings) {
      if (!sibling.path.empty()) {
        visit(sibling.path, out);
        continue;
      }
      std::vector<std::pair<double, const Client*>> mine;
      std::map<const Client*, Sorter::ClientIndex> indexOf;
      for (const auto& [index, client] : clients) {
        if (client.role != path) continue;
        mine.emplace_back(share(client.allocation, total), &client);
        indexOf[&client] = index;
      }
      std::sort(mine.begin(), mine.end(), [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first < b.first : a.second->name < b.second->name;
      });
      for (const auto& [key, client] : mine) {
        if (client->active) out.push_back(indexOf[client]);
      }
    }
  }
};

std::vector<Sorter::ClientIndex> sorterOrder(Sorter& sorter, Sorter::RoleIndex within) {
  std::vector<Sorter::ClientIndex> out;
  sorter.forEachIn(within, [&](Sorter::ClientIndex c) {
    out.push_back(c);
    return true;
  });
  return out;
}

std::string describeOrder(Sorter& sorter, const std::vector<Sorter::ClientIndex>& clients) {
  std::string out;
  for (auto c : clients) out += sorter.path(sorter.roleOf(c)) + ":" + sorter.name(c) + " ";
  return out;
}

void runRandomized(uint32_t seed, int steps) {
  std::mt19937 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint32_t>(n)); };
  const std::vector<std::string> paths = {"*", "a", "a/x", "a/y", "a/x/deep", "b", "b/z", "c"};
  const std::vector<std::string> names = {"fw-0", "fw-1", "fw-2", "fw-3", "fw-4", "fw-5", "fw-10"};
  const std::vector<double> weights = {0.5, 1, 1, 2, 3, 0.25, 1.5};
  // Small amounts over few kinds, so that equal shares (ties) are common.
  auto randomAmount = [&] {
    Scalars s;
    for (size_t k = 0; k < 3; ++k) {
      if (pick(2) == 0) s.value[k] = 1000 * pick(4);
    }
    return s;
  };
  auto randomTotal = [&] {
    Scalars s;
    // cpus, mem and disk from 0 to 25 (0 leaves the kind out of shares), gpus 0 or 7.
    for (size_t k = 0; k < 3; ++k) s.value[k] = 1000 * (pick(3) * 10 + 5 * pick(2));
    s.value[3] = 1000 * 7 * pick(2);
    return s;
  };

  Sorter sorter;
  Model model;
  for (int step = 0; step < steps; ++step) {
    int op = pick(100);
    std::string what;
    if (op < 15 || model.clients.empty()) {
      const std::string& path = paths[static_cast<size_t>(pick(static_cast<int>(paths.size())))];
      const std::string& name = names[static_cast<size_t>(pick(static_cast<int>(names.size())))];
      bool taken = std::any_of(model.clients.begin(), model.clients.end(),
                               [&](const auto& c) { return c.second.role == path && c.second.name == name; });
      if (taken) continue;
      auto index = sorter.addClient(name, sorter.role(path));
      what = "addClient " + name + " in " + path;
      REQUIRE(model.clients.count(index) == 0);
      model.clients[index] = Model::Client{name, path, true, Scalars()};
      model.addRole(path);
    } else {
      auto it = model.clients.begin();
      std::advance(it, pick(static_cast<int>(model.clients.size())));
      auto index = it->first;
      auto& client = it->second;
      if (op < 22) {
        what = "removeClient " + client.name;
        sorter.removeClient(index);
        model.clients.erase(it);
      } else if (op < 50) {
        Scalars amount = randomAmount();
        what = "add to " + client.name;
        sorter.add(index, amount);
        client.allocation += amount;
      } else if (op < 70) {
        // Never more than it holds (the allocator only hands back what it gave).
        Scalars amount = randomAmount();
        for (size_t k = 0; k < Scalars::kKinds; ++k) {
          amount.value[k] = std::min(amount.value[k], client.allocation.value[k]);
        }
        what = "subtract from " + client.name;
        sorter.subtract(index, amount);
        client.allocation -= amount;
      } else if (op < 82) {
        bool active = pick(3) != 0;
        what = std::string(active ? "activate " : "deactivate ") + client.name;
        sorter.setActive(index, active);
        client.active = active;
      } else if (op < 91) {
        const std::string& path = paths[static_cast<size_t>(pick(static_cast<int>(paths.size())))];
        double weight = weights[static_cast<size_t>(pick(static_cast<int>(weights.size())))];
        what = "setWeight " + path;
        sorter.setWeight(sorter.role(path), weight);
        model.addRole(path);
        model.weights[path] = weight;
      } else {
        Scalars total = randomTotal();
        what = "setTotal";
        sorter.setTotal(total);
        model.total = total;
      }
    }
    // Not every step looks: changes also pile up between visits.
    if (pick(3) == 0) continue;
    INFO("seed " << seed << ", step " << step << ": " << what);
    std::vector<Sorter::ClientIndex> expected;
    model.visit("", expected);
    auto actual = sorterOrder(sorter, Sorter::kRoot);
    INFO("expected " << describeOrder(sorter, expected));
    INFO("actual   " << describeOrder(sorter, actual));
    REQUIRE(actual == expected);

    // One subtree too, and the bookkeeping the allocator reads.
    const std::string& sub = paths[static_cast<size_t>(pick(static_cast<int>(paths.size())))];
    if (auto role = sorter.findRole(sub)) {
      std::vector<Sorter::ClientIndex> expectedSub;
      model.visit(sub, expectedSub);
      REQUIRE(sorterOrder(sorter, *role) == expectedSub);
      REQUIRE(sorter.allocation(*role, true) == model.subtree(sub));
    }
    REQUIRE(sorter.clientCount() == model.clients.size());
    for (const auto& [index, client] : model.clients) {
      REQUIRE(sorter.allocation(index) == client.allocation);
      REQUIRE(sorter.name(index) == client.name);
      REQUIRE(sorter.active(index) == client.active);
    }
  }
}

}  // namespace

TEST_CASE("sorter: random operations keep forEach in the documented order") {
  for (uint32_t seed = 1; seed <= 60; ++seed) runRandomized(seed, 600);
}
