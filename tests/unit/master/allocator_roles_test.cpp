// Unit tests for the DRF allocator's roles, quota, reservations and filters,
// driven through the Allocator interface with a manual clock. Every test
// captures what the offer callback hands out.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "clusternodes/resources.hpp"
#include "clusternodes/values.hpp"
#include "common/clock.hpp"
#include "master/allocator/allocator.hpp"
#include "tests/unit/master/allocator_harness.hpp"

using namespace clusternodes;
using namespace clusternodes::master;
using namespace clusternodes::master::testing;

// ------------------------------------------------------------ hierarchical roles

TEST_CASE("roles: weights on eng and ops split the cluster 3:1, and eng/ml and eng/web share eng's part") {
  Harness h;
  h.allocator->updateWeights({{"eng", 3.0}, {"ops", 1.0}});
  h.addFramework("fw-ml", "eng/ml");
  h.addFramework("fw-web", "eng/web");
  h.addFramework("fw-ops", "ops");

  // Agents join one at a time, with an allocation round after each; each
  // round offers that whole agent to one framework.
  for (int i = 1; i <= 16; ++i) {
    h.addAgent(agentName(i), "cpus:4;mem:4096");
    auto offers = h.round();
    INFO("agent " << i);
    REQUIRE(offers.size() == 1);
    CHECK(offers[0].allocation.agentId == agentId(agentName(i)));
    CHECK(offers[0].allocation.resources == res("cpus:4;mem:4096"));
  }
  // Weights on leaf roles alone would split the agents evenly between the
  // three; eng's weight covers its whole subtree, which splits evenly.
  CHECK(countFor(h.log, "fw-ml") == 6);
  CHECK(countFor(h.log, "fw-web") == 6);
  CHECK(countFor(h.log, "fw-ops") == 4);
  const std::map<std::string, std::string> roleOf = {{"fw-ml", "eng/ml"}, {"fw-web", "eng/web"}, {"fw-ops", "ops"}};
  for (const auto& o : h.log) CHECK(o.allocation.role == roleOf.at(o.framework.value));

  auto eng = h.roleSummary("eng");
  auto ml = h.roleSummary("eng/ml");
  auto ops = h.roleSummary("ops");
  REQUIRE(eng);
  REQUIRE(ml);
  REQUIRE(ops);
  CHECK(eng->weight == 3.0);
  CHECK(ml->weight == 1.0);  // weights are not inherited
  CHECK(eng->share == doctest::Approx(12.0 / 16.0));
  CHECK(ml->share == doctest::Approx(6.0 / 16.0));
  CHECK(ops->share == doctest::Approx(4.0 / 16.0));
  CHECK(eng->allocated == res("cpus:48;mem:49152"));
  CHECK(ml->allocated == res("cpus:24;mem:24576"));

  // Everything handed back and re-offered in one round gives the same split.
  h.declineAll(std::vector<Offered>(h.log));
  CHECK(h.allocatedToRole("eng").empty());
  auto again = h.round();
  CHECK(again.size() == 16);
  CHECK(countFor(again, "fw-ml") == 6);
  CHECK(countFor(again, "fw-web") == 6);
  CHECK(countFor(again, "fw-ops") == 4);
}

TEST_CASE("roles: a role's own frameworks compete with its sub-roles as one sibling") {
  Harness h;
  h.addFramework("fw-eng-1", "eng");
  h.addFramework("fw-eng-2", "eng");
  h.addFramework("fw-ml", "eng/ml");
  for (int i = 1; i <= 4; ++i) h.addAgent(agentName(i), "cpus:4;mem:4096");
  auto offers = h.round();
  // eng's own two frameworks share one half of eng, eng/ml has the other;
  // flat DRF would give fw-eng-1 two agents and the others one each.
  CHECK(describe(offers) == expect({"fw-eng-1@agent-01(eng):cpus:4;mem:4096", "fw-eng-2@agent-03(eng):cpus:4;mem:4096",
                                  "fw-ml@agent-02(eng/ml):cpus:4;mem:4096", "fw-ml@agent-04(eng/ml):cpus:4;mem:4096"}));
}

TEST_CASE("roles: a framework subscribed to two roles is offered under each of them") {
  SUBCASE("unreserved agents alternate between its roles by DRF") {
    Harness h;
    h.addFramework("fw-multi", std::vector<std::string>{"a", "b"});
    h.addAgent("agent-1", "cpus:4;mem:4096");
    h.addAgent("agent-2", "cpus:4;mem:4096");
    auto offers = h.round();
    CHECK(h.callbackCalls == 1);  // one callback for the framework, both allocations in it
    CHECK(describe(offers) ==
          expect({"fw-multi@agent-1(a):cpus:4;mem:4096", "fw-multi@agent-2(b):cpus:4;mem:4096"}));
    CHECK(h.allocatedToRole("a") == res("cpus:4;mem:4096"));
    CHECK(h.allocatedToRole("b") == res("cpus:4;mem:4096"));
    CHECK(h.allocatedTo("fw-multi") == res("cpus:8;mem:8192"));

    // Handing back one agent uncharges the role that held it.
    h.decline(offers[1]);
    CHECK(h.allocatedToRole("b").empty());
    CHECK(h.allocatedToRole("a") == res("cpus:4;mem:4096"));
    auto again = h.round();
    CHECK(describe(again) == expect({"fw-multi@agent-2(b):cpus:4;mem:4096"}));
  }

  SUBCASE("each role gets the reservations it may use") {
    Harness h;
    h.addFramework("fw-multi", std::vector<std::string>{"a", "b"});
    h.addAgent("agent-1", "cpus(a):1;cpus(b):2;mem(b):512;cpus:1;mem:1024");
    auto offers = h.round();
    CHECK(describe(offers) == expect({"fw-multi@agent-1(a):cpus(a):1;cpus:1;mem:1024",
                                    "fw-multi@agent-1(b):cpus(b):2;mem(b):512"}));
    CHECK(h.allocatedToRole("a") == res("cpus(a):1;cpus:1;mem:1024"));
    CHECK(h.allocatedToRole("b") == res("cpus(b):2;mem(b):512"));

    // One hand-back covering both roles' parts.
    h.allocator->recoverResources(fwId("fw-multi"), agentId("agent-1"), res("cpus(a):1;cpus(b):2"), std::nullopt);
    CHECK(h.allocatedToRole("a") == res("cpus:1;mem:1024"));
    CHECK(h.allocatedToRole("b") == res("mem(b):512"));
  }
}

// ------------------------------------------------------------ quota guarantees

TEST_CASE("quota: a guarantee is met first under contention") {
  SUBCASE("from the start, with a greedy framework registered first") {
    Harness h;
    h.addFramework("fw-greedy", "*");
    for (int i = 1; i <= 4; ++i) h.addAgent(agentName(i), "cpus:4;mem:4096");
    h.addFramework("fw-q", "q");
    h.allocator->updateQuota("q", Quota{res("cpus:6;mem:6144"), {}});
    auto offers = h.round();
    Resources toQ = sumFor(offers, "fw-q");
    CHECK(toQ.cpus() >= 6);
    CHECK(toQ.mem() >= 6144);
    CHECK(sumFor(offers, "fw-greedy") + toQ == res("cpus:16;mem:16384"));  // the rest to the greedy one
    auto q = h.roleSummary("q");
    REQUIRE(q);
    CHECK(q->guarantee == res("cpus:6;mem:6144"));
    CHECK(q->allocated.contains(res("cpus:6;mem:6144")));
  }

  SUBCASE("as agents free up, ahead of a framework DRF prefers") {
    Harness h;
    h.allocator->updateWeights({{"*", 10.0}});
    h.addFramework("fw-greedy", "*");
    h.addFramework("fw-q", "q");
    for (int i = 1; i <= 4; ++i) h.addAgent(agentName(i), "cpus:4;mem:4096");
    auto first = h.round();
    // With weight 10, the greedy framework gets three agents of four.
    REQUIRE(countFor(first, "fw-greedy") == 3);
    REQUIRE(h.allocatedTo("fw-q") == res("cpus:4;mem:4096"));

    h.allocator->updateQuota("q", Quota{res("cpus:6;mem:6144"), {}});
    CHECK(h.round().empty());  // nothing is free

    // The greedy framework's tasks on one agent end. Its weighted share
    // (0.5 / 10) is far below q's (0.25), so DRF alone would give it all
    // back; q takes what it misses first.
    Offered greedyAgent;
    for (const auto& o : first) {
      if (o.framework == fwId("fw-greedy")) greedyAgent = o;
    }
    h.decline(greedyAgent);
    auto second = h.round();
    const std::string agent = greedyAgent.allocation.agentId.value;
    CHECK(describe(second) ==
          expect({"fw-greedy@" + agent + "(*):cpus:2;mem:2048", "fw-q@" + agent + "(q):cpus:2;mem:2048"}));
    CHECK(h.allocatedToRole("q") == res("cpus:6;mem:6144"));

    // Once met, the guarantee takes nothing more: the next freed resources
    // follow DRF again.
    h.allocator->recoverResources(fwId("fw-greedy"), agentId(agent), res("cpus:2;mem:2048"), std::nullopt);
    auto third = h.round();
    CHECK(describe(third) == expect({"fw-greedy@" + agent + "(*):cpus:2;mem:2048"}));
  }
}

TEST_CASE("quota: headroom keeps unreserved resources free for an unmet guarantee") {
  Harness h;
  h.allocator->updateQuota("q", Quota{res("cpus:4;mem:4096"), {}});
  h.addFramework("fw-star", "*");
  h.addFramework("fw-web", "web");
  for (int i = 1; i <= 3; ++i) h.addAgent(agentName(i), "cpus:2;mem:2048");
  h.addAgent(agentName(4), "cpus(web):2;mem(web):1024");

  // Six unreserved cpus, four held for q (which has no framework yet): the
  // others get two between them, and web its own reservation.
  auto first = h.round();
  CHECK(describe(first) ==
        expect({"fw-star@agent-01(*):cpus:2;mem:2048", "fw-web@agent-04(web):cpus(web):2;mem(web):1024"}));
  for (int i = 0; i < 3; ++i) {
    CHECK(h.round().empty());
    h.clock.advance(10);
  }

  // Handed back and re-offered: still no more than the headroom allows.
  h.declineAll(first);
  auto second = h.round();
  Resources unreserved;
  for (const auto& o : second) unreserved += o.allocation.resources.unreserved();
  CHECK(unreserved == res("cpus:2;mem:2048"));
  CHECK(h.allocatedToRole("*").contains(res("cpus:2;mem:2048")));

  // q's framework arrives and gets the held resources at once.
  h.addFramework("fw-q", "q");
  auto third = h.round();
  CHECK(describe(third) ==
        expect({"fw-q@agent-02(q):cpus:2;mem:2048", "fw-q@agent-03(q):cpus:2;mem:2048"}));

  // When q hands part back it is short again and gets it back first, though
  // DRF would prefer * ("*" sorts before "q" at equal shares).
  h.decline(third[1]);
  auto fourth = h.round();
  CHECK(describe(fourth) == expect({"fw-q@agent-03(q):cpus:2;mem:2048"}));
}

TEST_CASE("quota: a guarantee on a role is met through the frameworks of its sub-roles") {
  Harness h;
  h.allocator->updateQuota("q", Quota{res("cpus:4;mem:4096"), {}});
  h.addFramework("fw-star", "*");
  h.addFramework("fw-sub", "q/sub");
  for (int i = 1; i <= 3; ++i) h.addAgent(agentName(i), "cpus:2;mem:2048");
  auto offers = h.round();
  // q/sub counts towards q's guarantee and is served first; * gets the rest.
  CHECK(sumFor(offers, "fw-sub") == res("cpus:4;mem:4096"));
  CHECK(sumFor(offers, "fw-star") == res("cpus:2;mem:2048"));
  CHECK(h.allocatedToRole("q") == res("cpus:4;mem:4096"));
}

TEST_CASE("quota: a guarantee naming only cpus is met with offers that also carry the agents' memory") {
  Harness h;
  h.allocator->updateQuota("q", Quota{res("cpus:3"), {}});
  h.addFramework("fw-star", "*");
  h.addFramework("fw-q", "q");
  for (int i = 1; i <= 3; ++i) h.addAgent(agentName(i), "cpus:2;mem:2048");
  auto offers = h.round();
  // q is served first, up to 3 cpus; the memory beside them comes along, so
  // that the offers can run tasks.
  Resources toQ = sumFor(offers, "fw-q");
  CHECK(toQ.cpus() == doctest::Approx(3));
  CHECK(toQ.mem() > 0);
  for (const auto& o : offers) {
    if (o.framework.value == "fw-q") CHECK(o.allocation.resources.mem() > 0);
  }
}

TEST_CASE("quota: a child's guarantee inside its parent's is not held back twice") {
  Harness h;
  // eng's guarantee of 4 cpus includes eng/ml's 2: 4 cpus are held, not 6.
  h.allocator->updateQuota("eng", Quota{res("cpus:4;mem:4096"), {}});
  h.allocator->updateQuota("eng/ml", Quota{res("cpus:2;mem:2048"), {}});
  h.addFramework("fw-star", "*");
  for (int i = 1; i <= 4; ++i) h.addAgent(agentName(i), "cpus:2;mem:2048");
  auto offers = h.round();
  // Eight cpus, four held for eng (which has no framework yet): * gets four.
  CHECK(sumFor(offers, "fw-star") == res("cpus:4;mem:4096"));
}

// ------------------------------------------------------------ quota limits

TEST_CASE("quota: limits on a role and its parent are never exceeded, across many agents and rounds") {
  Harness h;
  h.allocator->updateQuota("eng", Quota{{}, res("cpus:6;mem:6144")});
  h.allocator->updateQuota("eng/ml", Quota{{}, res("cpus:2;mem:2048")});
  h.addFramework("fw-ml", "eng/ml");
  h.addFramework("fw-web", "eng/web");
  h.addFramework("fw-ops", "ops");
  for (int i = 1; i <= 8; ++i) h.addAgent(agentName(i), "cpus:4;mem:4096");

  std::mt19937 rng(7);
  std::map<std::pair<std::string, std::string>, Resources> held;  // by framework and agent
  auto handBack = [&](const std::string& fw, const std::string& agent, const Resources& resources,
                      std::optional<Filters> filters) {
    h.allocator->recoverResources(fwId(fw), agentId(agent), resources, filters);
    held[{fw, agent}] -= resources;
  };
  Resources engPeak;
  int engOffers = 0;
  for (int round = 0; round < 60; ++round) {
    auto offers = h.round();
    INFO("round " << round);
    engOffers += countFor(offers, "fw-ml") + countFor(offers, "fw-web");
    Resources eng = h.allocatedToRole("eng");
    Resources ml = h.allocatedToRole("eng/ml");
    CHECK(eng.cpus() <= 6);
    CHECK(eng.mem() <= 6144);
    CHECK(ml.cpus() <= 2);
    CHECK(ml.mem() <= 2048);
    CHECK(eng == h.allocatedTo("fw-ml") + h.allocatedTo("fw-web"));
    if (eng.cpus() > engPeak.cpus()) engPeak = eng;
    for (const auto& o : offers) {
      const std::string& fw = o.framework.value;
      const std::string& agent = o.allocation.agentId.value;
      held[{fw, agent}] += o.allocation.resources;
      if (fw == "fw-ops") {
        // ops refuses everything for a while, so eng could take it all.
        handBack(fw, agent, o.allocation.resources, Filters{25});
      } else if (rng() % 3 == 0) {
        handBack(fw, agent, o.allocation.resources, rng() % 2 == 0 ? std::optional<Filters>(Filters{3}) : std::nullopt);
      }
    }
    // Now and then a task of an eng framework ends.
    for (auto& [key, resources] : held) {
      if (key.first != "fw-ops" && resources.contains(res("cpus:1;mem:1024")) && rng() % 4 == 0) {
        handBack(key.first, key.second, res("cpus:1;mem:1024"), std::nullopt);
      }
    }
    h.clock.advance(1);
  }
  // The limit is reached, not merely respected, and eng kept getting offers.
  CHECK(engPeak.cpus() == 6);
  CHECK(engOffers >= 30);
}

TEST_CASE("quota: a limit clips an offer and leaves the rest to other roles") {
  Harness h;
  h.allocator->updateQuota("eng", Quota{{}, res("cpus:6;mem:6144")});
  h.addFramework("fw-ml", "eng/ml");
  h.addFramework("fw-ops", "ops");
  h.addAgent("agent-1", "cpus:4;mem:4096");
  h.addAgent("agent-2", "cpus:4;mem:4096");
  h.addAgent("agent-3", "cpus:4;mem:4096");
  auto offers = h.round();
  // eng first (name), then ops (lower share), then eng with 2 cpus of room;
  // the 2 it may not take go to ops.
  CHECK(describe(offers) == expect({"fw-ml@agent-1(eng/ml):cpus:4;mem:4096", "fw-ml@agent-3(eng/ml):cpus:2;mem:2048",
                                  "fw-ops@agent-2(ops):cpus:4;mem:4096", "fw-ops@agent-3(ops):cpus:2;mem:2048"}));
}

TEST_CASE("quota: what a limit kept back is offered once the role holds less elsewhere") {
  Harness h;
  h.allocator->updateQuota("ml", Quota{{}, res("cpus:4;mem:4096")});
  h.addFramework("fw-ml", "ml");
  h.addAgent("agent-1", "cpus:4;mem:4096");
  h.addAgent("agent-2", "cpus:4;mem:4096");
  auto first = h.round();
  REQUIRE(describe(first) == expect({"fw-ml@agent-1(ml):cpus:4;mem:4096"}));
  CHECK(h.round().empty());  // at its limit

  // It refuses agent-1 for an hour: its limit now lets it have agent-2,
  // which nothing else touched.
  h.decline(first[0], Filters{3600});
  CHECK(describe(h.round()) == expect({"fw-ml@agent-2(ml):cpus:4;mem:4096"}));
}

TEST_CASE("quota: what the headroom kept back is offered once more is free elsewhere") {
  Harness h;
  h.allocator->updateQuota("q", Quota{res("cpus:4;mem:4096"), {}});
  h.addFramework("fw-star", "*");
  for (int i = 1; i <= 4; ++i) h.addAgent(agentName(i), "cpus:2;mem:2048");
  // Eight cpus, four kept for q.
  auto first = h.round();
  REQUIRE(describe(first) ==
          expect({"fw-star@agent-01(*):cpus:2;mem:2048", "fw-star@agent-02(*):cpus:2;mem:2048"}));
  CHECK(h.round().empty());

  // agent-01 comes back, refused: six cpus are free, two more than q needs,
  // and they may go to * on another agent.
  h.decline(first[0], Filters{3600});
  CHECK(describe(h.round()) == expect({"fw-star@agent-03(*):cpus:2;mem:2048"}));
  CHECK(h.round().empty());
}

// ------------------------------------------------------------ reservations in the hierarchy

TEST_CASE("reservations: resources reserved for eng go to eng and its sub-roles, never to ops or *") {
  Harness h;
  h.addFramework("fw-ops", "ops");
  h.addFramework("fw-star", "*");
  h.addFramework("fw-eng", "eng");
  h.addAgent("agent-1", "cpus(eng):2;mem(eng):2048");
  h.addAgent("agent-2", "cpus(eng/ml):1;mem(eng/ml):512");

  // eng may use its own reservation but not one of its child eng/ml.
  auto first = h.round();
  CHECK(describe(first) == expect({"fw-eng@agent-1(eng):cpus(eng):2;mem(eng):2048"}));
  h.decline(first[0], Filters{1000});
  CHECK(h.round().empty());  // nobody else may take it

  // A framework in eng/ml may use both.
  h.addFramework("fw-ml", "eng/ml");
  auto second = h.round();
  CHECK(describe(second) == expect({"fw-ml@agent-1(eng/ml):cpus(eng):2;mem(eng):2048",
                                  "fw-ml@agent-2(eng/ml):cpus(eng/ml):1;mem(eng/ml):512"}));
  // And its subtree is charged for them.
  CHECK(h.allocatedToRole("eng") == res("cpus(eng):2;mem(eng):2048;cpus(eng/ml):1;mem(eng/ml):512"));

  // Handed back for good, they still go to none of the others.
  h.allocator->removeFramework(fwId("fw-ml"));
  h.allocator->reviveOffers(fwId("fw-ops"), {});
  h.allocator->reviveOffers(fwId("fw-star"), {});
  CHECK(h.round().empty());
  for (const auto& o : h.log) {
    if (o.framework == fwId("fw-ops") || o.framework == fwId("fw-star")) {
      CHECK(o.allocation.resources.reservationRoles().empty());
    }
  }
  // Until fw-eng's filter is lifted.
  h.allocator->reviveOffers(fwId("fw-eng"), {});
  CHECK(describe(h.round()) == expect({"fw-eng@agent-1(eng):cpus(eng):2;mem(eng):2048"}));
}

TEST_CASE("reservations: unreserved and reserved resources of an agent split between roles in one round") {
  Harness h;
  h.addFramework("fw-star", "*");
  h.addFramework("fw-ml", "eng/ml");
  h.addAgent("agent-1", "cpus(eng):2;cpus:2;mem:2048");
  auto offers = h.round();
  // * first (by name), with only the unreserved part; eng/ml then gets the
  // reservation for eng. Offers are delivered in framework id order.
  CHECK(describe(offers) ==
        expect({"fw-ml@agent-1(eng/ml):cpus(eng):2", "fw-star@agent-1(*):cpus:2;mem:2048"}));
}

// ------------------------------------------------------------ filters

TEST_CASE("filters: a partial refuse filter does not block a later bigger offer on that agent") {
  Harness h;
  h.addFramework("fw-a");
  h.addAgent("agent-1", "cpus:4;mem:4096");
  auto first = h.round();
  REQUIRE(first.size() == 1);

  // It launches a task on cpus:1;mem:1024 and refuses the rest for a minute.
  h.allocator->recoverResources(fwId("fw-a"), agentId("agent-1"), res("cpus:3;mem:3072"), Filters{60});
  CHECK(h.allocator->footprint().filters == 1);
  CHECK(h.round().empty());  // exactly what it refused
  h.clock.advance(10);
  CHECK(h.round().empty());

  // The task ends: the whole agent is more than it refused.
  h.allocator->recoverResources(fwId("fw-a"), agentId("agent-1"), res("cpus:1;mem:1024"), std::nullopt);
  auto second = h.round();
  CHECK(describe(second) == expect({"fw-a@agent-1(*):cpus:4;mem:4096"}));

  // Part of what it refused is still refused until the filter expires.
  h.allocator->recoverResources(fwId("fw-a"), agentId("agent-1"), res("cpus:2;mem:2048"), std::nullopt);
  CHECK(h.round().empty());
  h.clock.advance(49);  // 59 s in
  CHECK(h.round().empty());
  h.clock.advance(2);
  CHECK(describe(h.round()) == expect({"fw-a@agent-1(*):cpus:2;mem:2048"}));
  CHECK(h.allocator->footprint().filters == 0);
}

TEST_CASE("filters: under a quota limit, a filter refuses only what was declined") {
  Harness h;
  h.allocator->updateQuota("ml", Quota{{}, res("cpus:2;mem:2048")});
  h.addFramework("fw-ml", "ml");
  h.addAgent("agent-1", "cpus:4;mem:4096");
  REQUIRE(describe(h.round()) == expect({"fw-ml@agent-1(ml):cpus:2;mem:2048"}));

  // It launches a task on half and refuses the other half: all its limit
  // lets it have there for now, but not all it could ever be offered.
  h.allocator->recoverResources(fwId("fw-ml"), agentId("agent-1"), res("cpus:1;mem:1024"), Filters{3600});
  CHECK(h.round().empty());

  // The task ends: it may now have cpus:2;mem:2048, more than it refused.
  h.allocator->recoverResources(fwId("fw-ml"), agentId("agent-1"), res("cpus:1;mem:1024"), std::nullopt);
  CHECK(describe(h.round()) == expect({"fw-ml@agent-1(ml):cpus:2;mem:2048"}));
}

TEST_CASE("filters: a filter set under a quota limit does not outgrow a raised limit") {
  Harness h;
  h.allocator->updateQuota("ml", Quota{{}, res("cpus:2;mem:2048")});
  h.addFramework("fw-ml", "ml");
  h.addAgent("agent-1", "cpus:4;mem:4096");
  auto first = h.round();
  REQUIRE(describe(first) == expect({"fw-ml@agent-1(ml):cpus:2;mem:2048"}));
  h.decline(first[0], Filters{3600});
  CHECK(h.round().empty());

  h.allocator->updateQuota("ml", Quota{{}, res("cpus:4;mem:4096")});
  CHECK(describe(h.round()) == expect({"fw-ml@agent-1(ml):cpus:4;mem:4096"}));
}

TEST_CASE("filters: expire with the manual clock alone, each at its own time") {
  Harness h;
  h.addFramework("fw-a");
  for (int i = 1; i <= 4; ++i) h.addAgent(agentName(i), "cpus:1;mem:1024");
  auto first = h.round();
  REQUIRE(first.size() == 4);
  // Three agents declined at once with one filter, the last with a longer one.
  h.decline(first[0], Filters{5});
  h.decline(first[1], Filters{5});
  h.decline(first[2], Filters{5});
  h.decline(first[3], Filters{8});
  CHECK(h.allocator->footprint().filters == 4);
  CHECK(h.round().empty());

  // No other event between: the clock passing the expiry is enough for allocate().
  h.clock.advance(4.9);
  CHECK(h.round().empty());
  h.clock.advance(0.2);
  CHECK(describe(h.round()) == expect({"fw-a@agent-01(*):cpus:1;mem:1024", "fw-a@agent-02(*):cpus:1;mem:1024",
                                     "fw-a@agent-03(*):cpus:1;mem:1024"}));
  CHECK(h.allocator->footprint().filters == 1);
  h.clock.advance(2.8);  // 7.9 s in
  CHECK(h.round().empty());
  h.clock.advance(0.2);
  CHECK(describe(h.round()) == expect({"fw-a@agent-04(*):cpus:1;mem:1024"}));
  CHECK(h.allocator->footprint().filters == 0);
}

TEST_CASE("filters: a newer filter on the same agent outlives the older one's expiry") {
  Harness h;
  h.addFramework("fw-a");
  h.addAgent("agent-1", "cpus:4;mem:4096");
  REQUIRE(h.round().size() == 1);
  h.allocator->recoverResources(fwId("fw-a"), agentId("agent-1"), res("cpus:3;mem:3072"), Filters{5});
  h.allocator->recoverResources(fwId("fw-a"), agentId("agent-1"), res("cpus:1;mem:1024"), std::nullopt);
  auto bigger = h.round();
  REQUIRE(describe(bigger) == expect({"fw-a@agent-1(*):cpus:4;mem:4096"}));
  h.decline(bigger[0], Filters{100});
  CHECK(h.allocator->footprint().filters == 1);  // replaced, not added

  h.clock.advance(6);  // the first filter's time is up, not the second's
  CHECK(h.round().empty());
  h.clock.advance(90);
  CHECK(h.round().empty());
  h.clock.advance(5);
  CHECK(h.round().size() == 1);
}

TEST_CASE("filters: reviveOffers clears the filters of that framework only") {
  Harness h;
  h.addFramework("fw-a");
  h.addFramework("fw-b");
  h.addAgent("agent-1", "cpus:2;mem:2048");
  h.addAgent("agent-2", "cpus:2;mem:2048");
  // Each framework refuses both agents.
  for (int i = 0; i < 2; ++i) {
    auto offers = h.round();
    REQUIRE(offers.size() == 2);
    h.declineAll(offers, Filters{3600});
  }
  CHECK(h.round().empty());
  CHECK(h.allocator->footprint().filters == 4);

  h.allocator->reviveOffers(fwId("fw-a"), {});
  CHECK(h.allocator->footprint().filters == 2);
  auto revived = h.round();
  CHECK(describe(revived) == expect({"fw-a@agent-1(*):cpus:2;mem:2048", "fw-a@agent-2(*):cpus:2;mem:2048"}));

  // fw-b still refuses them: handed back by fw-a (which then stops
  // wanting offers), they are offered to no one.
  h.allocator->suppressOffers(fwId("fw-a"), {});
  h.declineAll(revived);
  CHECK(h.round().empty());
  h.clock.advance(3601);
  CHECK(countFor(h.round(), "fw-b") == 2);
}

TEST_CASE("filters: revive with a role set clears only that role's filters") {
  Harness h;
  h.addFramework("fw-multi", std::vector<std::string>{"a", "b"});
  h.addAgent("agent-1", "cpus(a):1;mem(a):512;cpus(b):1;mem(b):512");
  auto offers = h.round();
  REQUIRE(offers.size() == 2);
  h.declineAll(offers, Filters{3600});
  CHECK(h.allocator->footprint().filters == 2);
  CHECK(h.round().empty());

  h.allocator->reviveOffers(fwId("fw-multi"), {"b"});
  CHECK(h.allocator->footprint().filters == 1);
  CHECK(describe(h.round()) == expect({"fw-multi@agent-1(b):cpus(b):1;mem(b):512"}));
}

// ------------------------------------------------------------ suppress

TEST_CASE("suppress: a role set suppresses only those roles of a two-role framework") {
  Harness h;
  h.addFramework("fw-multi", std::vector<std::string>{"a", "b"});
  h.addAgent("agent-1", "cpus:2;mem:2048");
  h.addAgent("agent-2", "cpus:2;mem:2048");

  h.allocator->suppressOffers(fwId("fw-multi"), {"a"});
  auto first = h.round();
  CHECK(describe(first) == expect({"fw-multi@agent-1(b):cpus:2;mem:2048", "fw-multi@agent-2(b):cpus:2;mem:2048"}));
  CHECK_FALSE(h.summary("fw-multi")->suppressed);  // it still wants offers for b

  h.declineAll(first);
  h.allocator->suppressOffers(fwId("fw-multi"), {"b"});
  CHECK(h.round().empty());
  CHECK(h.summary("fw-multi")->suppressed);

  h.allocator->reviveOffers(fwId("fw-multi"), {"a"});
  auto second = h.round();
  CHECK(describe(second) == expect({"fw-multi@agent-1(a):cpus:2;mem:2048", "fw-multi@agent-2(a):cpus:2;mem:2048"}));
  CHECK_FALSE(h.summary("fw-multi")->suppressed);

  // A role the framework does not have changes nothing.
  h.declineAll(second);
  h.allocator->suppressOffers(fwId("fw-multi"), {"c"});
  CHECK(h.round().size() == 2);
}

TEST_CASE("suppress: a suppressed role stays suppressed across deactivation and activation") {
  Harness h;
  h.addFramework("fw-multi", std::vector<std::string>{"a", "b"});
  h.addAgent("agent-1", "cpus:2;mem:2048");
  h.allocator->suppressOffers(fwId("fw-multi"), {"a"});
  h.allocator->deactivateFramework(fwId("fw-multi"));
  CHECK(h.round().empty());
  h.allocator->activateFramework(fwId("fw-multi"));
  CHECK(describe(h.round()) == expect({"fw-multi@agent-1(b):cpus:2;mem:2048"}));
}

TEST_CASE("updateFramework: roles joined are offered, roles left keep what they hold until freed and are offered "
          "nothing") {
  Harness h;
  h.addFramework("fw", std::vector<std::string>{"a"});
  h.addAgent("agent-1", "cpus:2;mem:2048");
  auto held = h.round();
  REQUIRE(describe(held) == expect({"fw@agent-1(a):cpus:2;mem:2048"}));
  h.addFramework("other", "c");

  // fw moves from a to b: a keeps what it holds (its share, its quota).
  h.allocator->updateFramework(fwId("fw"), {"b"}, {});
  CHECK(h.allocatedToRole("a") == res("cpus:2;mem:2048"));
  CHECK(h.allocatedTo("fw") == res("cpus:2;mem:2048"));
  for (int i = 2; i <= 5; ++i) h.addAgent(agentName(i), "cpus:2;mem:2048");
  auto next = h.round();
  CHECK(next.size() == 4);
  CHECK(countFor(next, "fw") >= 1);
  for (const auto& offer : next) {
    if (offer.framework.value == "fw") CHECK(offer.allocation.role == "b");
  }

  // Freed, a's part is gone, and nothing is offered in a again.
  h.declineAll(held);
  CHECK(h.allocatedToRole("a").empty());
  h.declineAll(next);
  auto after = h.round();
  CHECK(after.size() == 5);
  for (const auto& offer : after) CHECK(offer.allocation.role != "a");

  // Back to a: offered there again.
  h.declineAll(after);
  h.allocator->updateFramework(fwId("fw"), {"a"}, {});
  auto back = h.round();
  CHECK(countFor(back, "fw") >= 1);
  for (const auto& offer : back) {
    if (offer.framework.value == "fw") CHECK(offer.allocation.role == "a");
  }
}

TEST_CASE("recoverResources: resources handed back with their role uncharge that role, not another of the "
          "framework's on the same agent") {
  Harness h;
  h.addFramework("fw", std::vector<std::string>{"a", "b"});
  h.addAgent("agent-1", "cpus:4;mem:4096");
  h.allocator->suppressOffers(fwId("fw"), {"b"});
  auto toA = h.round();
  REQUIRE(describe(toA) == expect({"fw@agent-1(a):cpus:4;mem:4096"}));
  // a hands half back; b, revived, is offered that half.
  h.allocator->recoverResources(fwId("fw"), agentId("agent-1"), res("cpus:2;mem:2048"), std::nullopt, "a");
  h.allocator->suppressOffers(fwId("fw"), {"a"});
  h.allocator->reviveOffers(fwId("fw"), {"b"});
  REQUIRE(describe(h.round()) == expect({"fw@agent-1(b):cpus:2;mem:2048"}));
  CHECK(h.allocatedToRole("a") == res("cpus:2;mem:2048"));
  CHECK(h.allocatedToRole("b") == res("cpus:2;mem:2048"));

  // b's half comes back named as b's: a keeps its own.
  h.allocator->recoverResources(fwId("fw"), agentId("agent-1"), res("cpus:2;mem:2048"), std::nullopt, "b");
  CHECK(h.allocatedToRole("a") == res("cpus:2;mem:2048"));
  CHECK(h.allocatedToRole("b").empty());

  // A role it left keeps its part until that part comes back named as its.
  h.allocator->updateFramework(fwId("fw"), {"b"}, {});
  CHECK(h.allocatedToRole("a") == res("cpus:2;mem:2048"));
  h.allocator->recoverResources(fwId("fw"), agentId("agent-1"), res("cpus:2;mem:2048"), std::nullopt, "a");
  CHECK(h.allocatedToRole("a").empty());
  CHECK(describe(h.round()) == expect({"fw@agent-1(b):cpus:4;mem:4096"}));
}

TEST_CASE("updateFramework: sets the suppressed roles exactly, and a role taken out of suppression loses its filters") {
  Harness h;
  h.addFramework("fw", std::vector<std::string>{"a", "b"});
  h.addAgent("agent-1", "cpus:2;mem:2048");
  h.allocator->updateFramework(fwId("fw"), {"a", "b"}, {"a"});
  auto offers = h.round();
  CHECK(describe(offers) == expect({"fw@agent-1(b):cpus:2;mem:2048"}));
  h.declineAll(offers, Filters{3600});  // b refuses agent-1 for an hour

  h.allocator->updateFramework(fwId("fw"), {"a", "b"}, {"b"});  // a revived, b suppressed
  CHECK(describe(h.round()) == expect({"fw@agent-1(a):cpus:2;mem:2048"}));
  CHECK_FALSE(h.summary("fw")->suppressed);

  h.declineAll(h.log);
  h.allocator->updateFramework(fwId("fw"), {"a", "b"}, {"a", "b"});
  CHECK(h.round().empty());
  CHECK(h.summary("fw")->suppressed);

  // b out of suppression: its hour-long filter goes with it.
  h.allocator->updateFramework(fwId("fw"), {"a", "b"}, {"a"});
  CHECK(describe(h.round()) == expect({"fw@agent-1(b):cpus:2;mem:2048"}));

  // Suppressed, then deactivated and activated: still suppressed.
  h.declineAll(h.log);
  h.allocator->updateFramework(fwId("fw"), {"a", "b"}, {"a", "b"});
  h.allocator->deactivateFramework(fwId("fw"));
  h.allocator->activateFramework(fwId("fw"));
  CHECK(h.round().empty());
}

// ------------------------------------------------------------ agents coming back

TEST_CASE("agents: an agent removed with filters on it and added again under the same id is offered afresh") {
  Harness h;
  h.addFramework("fw-a");
  h.addAgent("agent-1", "cpus:4;mem:4096");
  h.addAgent("agent-2", "cpus:1;mem:1024");
  auto first = h.round();
  REQUIRE(first.size() == 2);
  h.declineAll(first, Filters{10});
  CHECK(h.allocator->footprint().filters == 2);
  CHECK(h.round().empty());

  h.allocator->removeAgent(agentId("agent-1"));
  CHECK(h.allocator->footprint().filters == 1);
  CHECK(h.allocator->footprint().agents == 1);
  h.addAgent("agent-1", "cpus:8;mem:8192");
  CHECK(describe(h.round()) == expect({"fw-a@agent-1(*):cpus:8;mem:8192"}));
  CHECK(h.allocatedTo("fw-a") == res("cpus:8;mem:8192"));

  // Refused again, for longer: the first filter's expiry must not lift it.
  h.allocator->recoverResources(fwId("fw-a"), agentId("agent-1"), res("cpus:8;mem:8192"), Filters{100});
  h.clock.advance(11);
  CHECK(describe(h.round()) == expect({"fw-a@agent-2(*):cpus:1;mem:1024"}));
  h.clock.advance(80);  // 91 s in
  CHECK(h.round().empty());
  h.clock.advance(10);
  CHECK(describe(h.round()) == expect({"fw-a@agent-1(*):cpus:8;mem:8192"}));
}

TEST_CASE("agents: a new agent in a removed agent's place does not inherit or lose filters") {
  Harness h;
  h.addFramework("fw-a");
  h.addAgent("agent-1", "cpus:4;mem:4096");
  auto first = h.round();
  REQUIRE(first.size() == 1);
  h.decline(first[0], Filters{10});
  h.allocator->removeAgent(agentId("agent-1"));

  h.addAgent("agent-9", "cpus:4;mem:4096");
  auto second = h.round();
  CHECK(describe(second) == expect({"fw-a@agent-9(*):cpus:4;mem:4096"}));
  h.decline(second[0], Filters{100});
  h.clock.advance(11);  // agent-1's old filter expires
  CHECK(h.round().empty());
  CHECK(h.allocator->footprint().filters == 1);
  h.clock.advance(90);
  CHECK(describe(h.round()) == expect({"fw-a@agent-9(*):cpus:4;mem:4096"}));
}

TEST_CASE("agents: removing an agent uncharges every role that held part of it") {
  Harness h;
  h.addFramework("fw-multi", std::vector<std::string>{"a", "b"});
  h.addFramework("fw-c", "c");
  h.addAgent("agent-1", "cpus(a):1;cpus(b):1;cpus(c):1;mem:1024");
  h.addAgent("agent-2", "cpus:1;mem:1024");
  auto offers = h.round();
  REQUIRE(offers.size() == 4);
  // a took the unreserved part of agent-1, so b got agent-2.
  CHECK(h.allocatedToRole("b") == res("cpus(b):1;cpus:1;mem:1024"));
  h.allocator->removeAgent(agentId("agent-1"));
  CHECK(h.allocatedToRole("a").empty());
  CHECK(h.allocatedToRole("b") == res("cpus:1;mem:1024"));
  CHECK(h.allocatedToRole("c").empty());
  CHECK(h.allocatedTo("fw-multi") == res("cpus:1;mem:1024"));
  CHECK(h.allocatedTo("fw-c").empty());
  // Shares are of the cluster that is left, for roles and frameworks alike.
  CHECK(h.roleSummary("a")->share == 0);
  CHECK(h.roleSummary("b")->share == doctest::Approx(1.0));
  CHECK(h.roleSummary("c")->share == 0);
  CHECK(h.summary("fw-multi")->share == doctest::Approx(1.0));
  CHECK(h.summary("fw-c")->share == 0);
}

// ------------------------------------------------------------ removing frameworks

TEST_CASE("frameworks: a removed framework's allocation no longer counts in its role's share") {
  Harness h;
  h.addFramework("fw-a1", "a");
  h.addFramework("fw-b", "b");
  h.addAgent("agent-1", "cpus:4;mem:4096");
  REQUIRE(describe(h.round()) == expect({"fw-a1@agent-1(a):cpus:4;mem:4096"}));
  h.allocator->removeFramework(fwId("fw-a1"));
  auto a = h.roleSummary("a");
  REQUIRE(a);
  CHECK(a->share == 0);
  CHECK(a->allocated.empty());

  // Role a (empty now) and role b tie; a comes first by name.
  h.addFramework("fw-a2", "a");
  CHECK(describe(h.round()) == expect({"fw-a2@agent-1(a):cpus:4;mem:4096"}));
  h.addAgent("agent-2", "cpus:4;mem:4096");
  CHECK(describe(h.round()) == expect({"fw-b@agent-2(b):cpus:4;mem:4096"}));
}

// ------------------------------------------------------------ reservation operations

TEST_CASE("transformAllocation: a reservation made from an offer is afterwards offered only to its role") {
  Harness h;
  h.addFramework("fw-ml", "ml");
  h.addAgent("agent-1", "cpus:2;mem:2048");
  REQUIRE(describe(h.round()) == expect({"fw-ml@agent-1(ml):cpus:2;mem:2048"}));

  // RESERVE cpus:1 for ml.
  h.allocator->transformAllocation(fwId("fw-ml"), agentId("agent-1"), res("cpus:1"), res("cpus(ml):1"));
  CHECK(h.allocatedTo("fw-ml") == res("cpus(ml):1;cpus:1;mem:2048"));
  CHECK(h.allocatedToRole("ml") == res("cpus(ml):1;cpus:1;mem:2048"));
  CHECK(h.summary("fw-ml")->share == doctest::Approx(1.0));  // the cluster did not grow

  // Everything comes back and ml refuses it for an hour; * may have only
  // the unreserved part.
  h.allocator->recoverResources(fwId("fw-ml"), agentId("agent-1"), res("cpus(ml):1;cpus:1;mem:2048"),
                                Filters{3600});
  h.addFramework("fw-star", "*");
  CHECK(describe(h.round()) == expect({"fw-star@agent-1(*):cpus:1;mem:2048"}));
  h.allocator->recoverResources(fwId("fw-star"), agentId("agent-1"), res("cpus:1;mem:2048"), std::nullopt);
  CHECK(describe(h.round()) == expect({"fw-star@agent-1(*):cpus:1;mem:2048"}));

  // ml gets its reservation (and whatever * does not hold) once it revives.
  h.allocator->reviveOffers(fwId("fw-ml"), {});
  CHECK(describe(h.round()) == expect({"fw-ml@agent-1(ml):cpus(ml):1"}));

  // UNRESERVE turns it back: after recovery * may have it.
  h.allocator->transformAllocation(fwId("fw-ml"), agentId("agent-1"), res("cpus(ml):1"), res("cpus:1"));
  CHECK(h.allocatedTo("fw-ml") == res("cpus:1"));
  h.allocator->removeFramework(fwId("fw-ml"));
  CHECK(describe(h.round()) == expect({"fw-star@agent-1(*):cpus:1"}));
}

TEST_CASE("transformAllocation: a filter that refused a whole agent is partial once the agent has more") {
  Harness h;
  h.addFramework("fw-ml", "ml");
  h.addFramework("fw-star", "*");
  h.addAgent("agent-1", "cpus(ml):1;cpus:1;mem:1024");
  auto first = h.round();
  // * first, with the unreserved part; ml then gets its reservation.
  REQUIRE(describe(first) == expect({"fw-ml@agent-1(ml):cpus(ml):1", "fw-star@agent-1(*):cpus:1;mem:1024"}));
  // * refuses all it could ever be offered there.
  h.decline(first[1], Filters{3600});
  CHECK(describe(h.round()) == expect({"fw-ml@agent-1(ml):cpus:1;mem:1024"}));

  // ml gives its reservation up: the agent now has cpus:2 unreserved, more
  // than * refused.
  h.allocator->transformAllocation(fwId("fw-ml"), agentId("agent-1"), res("cpus(ml):1"), res("cpus:1"));
  h.allocator->recoverResources(fwId("fw-ml"), agentId("agent-1"), res("cpus:2;mem:1024"), Filters{3600});
  CHECK(describe(h.round()) == expect({"fw-star@agent-1(*):cpus:2;mem:1024"}));
}

// ------------------------------------------------------------ footprint

TEST_CASE("footprint: counts agents and live filters") {
  Harness h;
  h.addFramework("fw-a");
  h.addFramework("fw-b");
  for (int i = 1; i <= 3; ++i) h.addAgent(agentName(i), "cpus:1;mem:1024");
  CHECK(h.allocator->footprint().agents == 3);
  CHECK(h.allocator->footprint().filters == 0);
  size_t emptyBytes = h.allocator->footprint().bytes;
  CHECK(emptyBytes > 0);

  auto first = h.round();
  REQUIRE(first.size() == 3);
  h.declineAll(first, Filters{30});
  CHECK(h.allocator->footprint().filters == 3);
  auto second = h.round();
  REQUIRE(second.size() == 3);
  h.declineAll(second, Filters{60});
  CHECK(h.allocator->footprint().filters == 6);
  CHECK(h.allocator->footprint().bytes > emptyBytes);

  h.allocator->removeAgent(agentId(agentName(3)));
  CHECK(h.allocator->footprint().agents == 2);
  CHECK(h.allocator->footprint().filters == 4);

  h.clock.advance(31);
  h.round();  // expiry happens at allocation time
  CHECK(h.allocator->footprint().filters == 2);  // the 30 s ones are gone

  h.allocator->removeFramework(fwId("fw-a"));
  h.allocator->removeFramework(fwId("fw-b"));
  CHECK(h.allocator->footprint().filters == 0);
}

// ------------------------------------------------------------ allocate() against allocateAll()

namespace {

// Drives two allocators with the same random events. One allocates
// incrementally, the other looks at every agent each time; the offers must
// be the same, or allocate() missed an agent some change made offerable.
class Twins {
 public:
  Twins(uint32_t seed, bool withQuota) : rng_(seed), withQuota_(withQuota) {}

  void run(int steps) {
    for (int step = 0; step < steps; ++step) {
      std::string event = randomEvent();
      INFO("step " << step << ": " << event);
      compareRound();
    }
  }

 private:
  using Key = std::pair<std::string, std::string>;  // framework, agent

  int pick(int n) { return static_cast<int>(rng_() % static_cast<uint32_t>(n)); }
  template <typename T>
  const T& any(const std::vector<T>& items) {
    return items[static_cast<size_t>(pick(static_cast<int>(items.size())))];
  }

  template <typename Fn>
  void both(Fn&& fn) {
    fn(*incremental_.allocator);
    fn(*full_.allocator);
  }

  void forgetFramework(const std::string& fw) {
    for (auto it = held_.begin(); it != held_.end();) it = it->first.first == fw ? held_.erase(it) : std::next(it);
  }
  void forgetAgent(const std::string& agent) {
    for (auto it = held_.begin(); it != held_.end();) it = it->first.second == agent ? held_.erase(it) : std::next(it);
  }

  std::string randomEvent() {
    static const std::vector<std::string> kFrameworks = {"fw-0", "fw-1", "fw-2", "fw-3", "fw-4"};
    static const std::vector<std::string> kAgents = {"agent-0", "agent-1", "agent-2", "agent-3",
                                                     "agent-4", "agent-5", "agent-6"};
    static const std::vector<std::string> kRoles = {"*", "a", "a/x", "b"};
    static const std::vector<std::string> kAgentResources = {
        "cpus:4;mem:4096",
        "cpus:2;mem:8192;disk:100",
        "cpus(a):2;mem(a):1024;cpus:2;mem:2048",
        "cpus(b):1;cpus:1;mem:1024;ports:[1-10]",
        "cpus(a/x):2;mem(a/x):512;cpus:1;mem:512",
        "cpus:1;mem:256;gpus:1",
    };
    int op = pick(100);
    if (op < 10) {
      const std::string& fw = any(kFrameworks);
      std::vector<std::string> roles;
      for (const auto& role : kRoles) {
        if (pick(3) == 0) roles.push_back(role);
      }
      if (roles.empty()) roles.push_back(any(kRoles));
      bool active = pick(5) != 0;
      frameworks_[fw] = roles;
      forgetFramework(fw);  // added again: it starts afresh
      both([&](Allocator& a) { a.addFramework(fwId(fw), FrameworkOptions{roles, active}, {}); });
      return "addFramework " + fw;
    }
    if (op < 14) {
      const std::string& fw = any(kFrameworks);
      frameworks_.erase(fw);
      forgetFramework(fw);
      both([&](Allocator& a) { a.removeFramework(fwId(fw)); });
      return "removeFramework " + fw;
    }
    if (op < 18) {
      const std::string& fw = any(kFrameworks);
      bool activate = pick(2) == 0;
      both([&](Allocator& a) {
        if (activate) {
          a.activateFramework(fwId(fw));
        } else {
          a.deactivateFramework(fwId(fw));
        }
      });
      return (activate ? "activate " : "deactivate ") + fw;
    }
    if (op < 27) {
      const std::string& agent = any(kAgents);
      const std::string& text = any(kAgentResources);
      std::map<FrameworkID, Resources> used;
      forgetAgent(agent);
      if (pick(4) == 0 && !frameworks_.empty()) {
        auto it = frameworks_.begin();
        std::advance(it, pick(static_cast<int>(frameworks_.size())));
        used[fwId(it->first)] = res("cpus:1;mem:256");
        held_[{it->first, agent}] += res("cpus:1;mem:256");
      }
      both([&](Allocator& a) { a.addAgent(agentId(agent), agent, res(text), used); });
      return "addAgent " + agent + " " + text;
    }
    if (op < 31) {
      const std::string& agent = any(kAgents);
      forgetAgent(agent);
      both([&](Allocator& a) { a.removeAgent(agentId(agent)); });
      return "removeAgent " + agent;
    }
    if (op < 58 && !held_.empty()) {
      auto it = held_.begin();
      std::advance(it, pick(static_cast<int>(held_.size())));
      auto [fw, agent] = it->first;
      Resources part = it->second;
      if (pick(3) == 0) {  // half of every scalar, no ranges
        part = Resources();
        for (const auto& e : it->second.entries()) {
          if (e.isRanges) continue;
          int64_t half = std::llround(e.scalar * 1000.0) / 2;
          if (half > 0) part.addScalar(e.name, static_cast<double>(half) / 1000.0, e.role);
        }
        if (part.empty()) part = it->second;
      }
      std::optional<Filters> filters;
      if (pick(2) == 0) filters = Filters{static_cast<double>(pick(4) == 0 ? 0 : 1 + pick(30))};
      it->second -= part;
      if (it->second.empty()) held_.erase(it);
      both([&](Allocator& a) { a.recoverResources(fwId(fw), agentId(agent), part, filters); });
      return "recover " + fw + "@" + agent + " " + part.toString() +
             (filters ? " filter " + std::to_string(filters->refuseSeconds) : "");
    }
    if (op < 66) {
      const std::string& fw = any(kFrameworks);
      if (pick(4) == 0 && frameworks_.count(fw) != 0) {  // new roles, some suppressed
        std::vector<std::string> roles;
        std::set<std::string> suppressed;
        for (const auto& role : kRoles) {
          if (pick(2) != 0) continue;
          roles.push_back(role);
          if (pick(3) == 0) suppressed.insert(role);
        }
        if (roles.empty()) roles.push_back(any(kRoles));
        frameworks_[fw] = roles;
        both([&](Allocator& a) { a.updateFramework(fwId(fw), roles, suppressed); });
        return "updateFramework " + fw + " " + std::to_string(roles.size()) + " role(s), " +
               std::to_string(suppressed.size()) + " suppressed";
      }
      std::set<std::string> roles;
      if (pick(2) == 0) roles.insert(any(kRoles));
      bool suppress = pick(2) == 0;
      both([&](Allocator& a) {
        if (suppress) {
          a.suppressOffers(fwId(fw), roles);
        } else {
          a.reviveOffers(fwId(fw), roles);
        }
      });
      return (suppress ? "suppress " : "revive ") + fw + (roles.empty() ? "" : " " + *roles.begin());
    }
    if (op < 70) {
      std::map<std::string, double> weights = {{any(kRoles), 0.5 + pick(4)}};
      both([&](Allocator& a) { a.updateWeights(weights); });
      return "updateWeights";
    }
    if (op < 74 && !held_.empty()) {
      // RESERVE one unreserved cpu for a role of the holder, or UNRESERVE one.
      auto it = held_.begin();
      std::advance(it, pick(static_cast<int>(held_.size())));
      auto [fw, agent] = it->first;
      auto roles = frameworks_.count(fw) != 0 ? frameworks_[fw] : std::vector<std::string>{};
      std::string role = roles.empty() ? "*" : any(roles);
      if (role == "*") role = "b";
      Resources unreserved = res("cpus:1");
      Resources reserved = Resources().addScalar("cpus", 1, role);
      bool reserve = pick(2) == 0;
      const Resources& from = reserve ? unreserved : reserved;
      const Resources& to = reserve ? reserved : unreserved;
      if (!it->second.contains(from)) return "transform skipped";
      it->second = it->second - from + to;
      both([&](Allocator& a) { a.transformAllocation(fwId(fw), agentId(agent), from, to); });
      return std::string(reserve ? "reserve " : "unreserve ") + fw + "@" + agent + " " + role;
    }
    if (withQuota_ && op < 80) {
      static const std::vector<std::string> kQuotaRoles = {"a", "a/x", "b", "*"};
      const std::string& role = any(kQuotaRoles);
      Quota quota;
      if (pick(2) == 0) quota.guarantee = res(pick(2) == 0 ? "cpus:3" : "cpus:2;mem:2048");
      if (pick(2) == 0) quota.limit = res(pick(2) == 0 ? "cpus:4" : "cpus:3;mem:4096");
      both([&](Allocator& a) { a.updateQuota(role, quota); });
      return "updateQuota " + role + " guarantee " + quota.guarantee.toString() + " limit " + quota.limit.toString();
    }
    double seconds = 0.5 * (1 + pick(30));
    incremental_.clock.advance(seconds);
    full_.clock.advance(seconds);
    return "advance " + std::to_string(seconds);
  }

  void compareRound() {
    size_t before = incremental_.log.size();
    size_t beforeFull = full_.log.size();
    incremental_.allocator->allocate();
    full_.allocator->allocateAll();
    std::vector<Offered> offers(incremental_.log.begin() + static_cast<std::ptrdiff_t>(before),
                                incremental_.log.end());
    std::vector<Offered> offersFull(full_.log.begin() + static_cast<std::ptrdiff_t>(beforeFull), full_.log.end());
    REQUIRE(join(describe(offers)) == join(describe(offersFull)));
    for (const auto& o : offers) held_[{o.framework.value, o.allocation.agentId.value}] += o.allocation.resources;

    // The figures the master shows agree too.
    auto a = incremental_.allocator->frameworkSummaries();
    auto b = full_.allocator->frameworkSummaries();
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      REQUIRE(a[i].id == b[i].id);
      REQUIRE(a[i].allocated == b[i].allocated);
      REQUIRE(a[i].share == b[i].share);
    }
    REQUIRE(incremental_.allocator->footprint().filters == full_.allocator->footprint().filters);
  }

  std::mt19937 rng_;
  bool withQuota_;
  Harness incremental_;
  Harness full_;
  std::map<std::string, std::vector<std::string>> frameworks_;  // live frameworks' roles
  std::map<Key, Resources> held_;  // what the frameworks hold, as the driver knows it
};

}  // namespace

TEST_CASE("allocate() offers what allocateAll() would, over random event sequences") {
  for (uint32_t seed = 1; seed <= 40; ++seed) {
    INFO("seed " << seed);
    Twins(seed, /*withQuota=*/false).run(400);
  }
}

TEST_CASE("allocate() offers what allocateAll() would, with quota guarantees and limits") {
  for (uint32_t seed = 1; seed <= 40; ++seed) {
    INFO("seed " << seed);
    Twins(seed, /*withQuota=*/true).run(400);
  }
}
