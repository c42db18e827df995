// Unit tests for the DRF allocator, driven through the Allocator interface
// with a manual clock. Every test captures what the offer callback hands out.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "clusternodes/resources.hpp"
#include "clusternodes/values.hpp"
#include "common/clock.hpp"
#include "master/allocator/allocator.hpp"
#include "tests/unit/master/allocator_harness.hpp"

using namespace clusternodes;
using namespace clusternodes::master;
using namespace clusternodes::master::testing;


// ------------------------------------------------------------ basic offers

TEST_CASE("a single framework is offered all of an agent's free resources") {
  Harness h;
  h.addFramework("fw-1");
  h.addAgent("agent-1", "cpus:4;mem:8192;disk:1000;ports:[31000-32000]");

  auto offers = h.round();
  REQUIRE(offers.size() == 1);
  CHECK(offers[0].framework == fwId("fw-1"));
  CHECK(offers[0].allocation.agentId == agentId("agent-1"));
  CHECK(offers[0].allocation.role == "*");
  CHECK(offers[0].allocation.resources == res("cpus:4;mem:8192;disk:1000;ports:[31000-32000]"));

  // Offered resources stay allocated until handed back.
  CHECK(h.round().empty());
  CHECK(h.summary("fw-1")->allocated == res("cpus:4;mem:8192;disk:1000;ports:[31000-32000]"));
}

TEST_CASE("one allocation round offers every agent, with one callback per framework") {
  Harness h;
  h.addFramework("fw-1");
  h.addAgent("agent-1", "cpus:2;mem:1024");
  h.addAgent("agent-2", "cpus:4;mem:2048");

  auto offers = h.round();
  CHECK(h.callbackCalls == 1);
  CHECK(describe(offers) ==
        std::vector<std::string>{"fw-1@agent-1(*):cpus:2;mem:1024", "fw-1@agent-2(*):cpus:4;mem:2048"});
}

TEST_CASE("only the free part of an agent is offered once some of it is handed back") {
  Harness h;
  h.addFramework("fw-1");
  h.addAgent("agent-1", "cpus:4;mem:4096");
  auto first = h.round();
  REQUIRE(first.size() == 1);

  // The framework launches a task on cpus:1;mem:1024 and returns the rest.
  h.allocator->recoverResources(fwId("fw-1"), agentId("agent-1"), res("cpus:3;mem:3072"), std::nullopt);
  auto second = h.round();
  REQUIRE(second.size() == 1);
  CHECK(second[0].allocation.resources == res("cpus:3;mem:3072"));
}

TEST_CASE("no offers are made before initialize or without agents") {
  ManualClock clock;
  auto allocator = makeDrfAllocator(clock);
  allocator->addFramework(fwId("fw-1"), FrameworkOptions{{"*"}, true}, {});
  allocator->addAgent(agentId("agent-1"), "h", res("cpus:1;mem:128"), {});
  allocator->allocate();  // no callback yet: must not crash

  Harness h;
  h.addFramework("fw-1");
  CHECK(h.round().empty());
}

// ------------------------------------------------------------ DRF order

TEST_CASE("the framework with the lower dominant share is offered first") {
  Harness h;
  h.addFramework("fw-a");
  h.addFramework("fw-b");
  h.addAgent("agent-1", "cpus:4;mem:4096");
  auto first = h.round();
  REQUIRE(first.size() == 1);
  CHECK(first[0].framework == fwId("fw-a"));  // equal shares: the smaller id

  // fw-a now holds the whole first agent; a new agent goes to fw-b although
  // fw-a's id sorts first.
  h.addAgent("agent-2", "cpus:4;mem:4096");
  auto second = h.round();
  REQUIRE(second.size() == 1);
  CHECK(second[0].framework == fwId("fw-b"));
}

TEST_CASE("frameworks with complementary demands end with near-equal dominant shares") {
  // One big agent. fw-cpu runs cpu-heavy tasks, fw-mem memory-heavy ones;
  // each keeps one task per offer and hands the rest back.
  Harness h;
  h.addFramework("fw-cpu");
  h.addFramework("fw-mem");
  h.addAgent("agent-1", "cpus:12;mem:12288");
  const std::map<std::string, Resources> task = {
      {"fw-cpu", res("cpus:2;mem:512")},   // 1/6 of the cpus, 1/24 of the memory
      {"fw-mem", res("cpus:0.5;mem:2048")},  // 1/24 of the cpus, 1/6 of the memory
  };
  std::map<std::string, int> launched;

  for (int i = 0; i < 30; ++i) {
    std::map<std::string, double> shares;
    for (const auto& s : h.allocator->frameworkSummaries()) shares[s.id.value] = s.share;
    auto offers = h.round();
    if (offers.empty()) break;
    REQUIRE(offers.size() == 1);
    const std::string who = offers[0].framework.value;
    const std::string other = who == "fw-cpu" ? "fw-mem" : "fw-cpu";
    INFO("round " << i << ": offered to " << who);
    // DRF: the offer goes to the framework with the lower share.
    CHECK(shares[who] <= shares[other]);

    const Resources& offered = offers[0].allocation.resources;
    if (!offered.contains(task.at(who))) {  // the agent is full for it
      h.decline(offers[0]);
      break;
    }
    ++launched[who];
    h.allocator->recoverResources(offers[0].framework, agentId("agent-1"), offered - task.at(who),
                                  std::nullopt);
  }

  CHECK(launched["fw-cpu"] >= 4);
  CHECK(launched["fw-mem"] >= 4);
  auto cpuShare = h.summary("fw-cpu")->share;
  auto memShare = h.summary("fw-mem")->share;
  CHECK(cpuShare == doctest::Approx(launched["fw-cpu"] / 6.0));
  CHECK(memShare == doctest::Approx(launched["fw-mem"] / 6.0));
  // Within one task's worth of each other.
  CHECK(std::fabs(cpuShare - memShare) <= 1.0 / 6.0 + 1e-9);
}

TEST_CASE("ties between equal shares are broken by id, independent of insertion order") {
  auto run = [](bool reversed) {
    Harness h;
    std::vector<std::string> frameworks = {"fw-a", "fw-b", "fw-c"};
    std::vector<std::string> agents = {"agent-1", "agent-2", "agent-3", "agent-4", "agent-5"};
    if (reversed) {
      std::reverse(frameworks.begin(), frameworks.end());
      std::reverse(agents.begin(), agents.end());
    }
    for (const auto& f : frameworks) h.addFramework(f);
    for (const auto& a : agents) h.addAgent(a, "cpus:2;mem:2048");
    std::vector<Offered> all;
    for (int i = 0; i < 3; ++i) {
      auto offers = h.round();
      all.insert(all.end(), offers.begin(), offers.end());
      // Hand half of every offer back so the next round has work to do.
      for (const auto& o : offers) {
        h.allocator->recoverResources(o.framework, o.allocation.agentId, res("cpus:1;mem:1024"), std::nullopt);
      }
    }
    return describe(all);
  };

  auto forward = run(false);
  CHECK(forward == run(false));  // the same inputs give the same offers
  CHECK(forward == run(true));   // and insertion order does not matter

  // Agents are walked in id order and, at equal shares, the smallest
  // framework id wins; offers are delivered framework by framework.
  REQUIRE(forward.size() >= 5);
  CHECK(std::vector<std::string>(forward.begin(), forward.begin() + 5) ==
        std::vector<std::string>{"fw-a@agent-1(*):cpus:2;mem:2048", "fw-a@agent-4(*):cpus:2;mem:2048",
                                 "fw-b@agent-2(*):cpus:2;mem:2048", "fw-b@agent-5(*):cpus:2;mem:2048",
                                 "fw-c@agent-3(*):cpus:2;mem:2048"});
}

TEST_CASE("agents that join between rounds are walked in id order with those already known") {
  // Two frameworks at equal shares take turns agent by agent, in the order
  // agents are walked: which framework gets an agent shows where it stood.
  auto offersOf = [](const std::vector<std::vector<std::string>>& batches) {
    Harness h;
    h.addFramework("fw-a");
    h.addFramework("fw-b");
    std::vector<std::string> seen;
    for (const auto& batch : batches) {
      for (const auto& a : batch) h.addAgent(a, "cpus:2;mem:2048");
      for (const auto& o : h.round()) {
        // Hand every offer back, so that each round offers every agent.
        h.allocator->recoverResources(o.framework, o.allocation.agentId, o.allocation.resources, std::nullopt);
      }
    }
    // One more round over all of them, after the last batch.
    h.allocator->allocateAll();
    for (const auto& o : h.log) seen.push_back(o.framework.value + "@" + o.allocation.agentId.value);
    return std::vector<std::string>(seen.end() - static_cast<std::ptrdiff_t>(5), seen.end());
  };
  auto together = offersOf({{"agent-1", "agent-2", "agent-3", "agent-4", "agent-5"}});
  CHECK(offersOf({{"agent-3", "agent-1"}, {"agent-5", "agent-2"}, {"agent-4"}}) == together);
  CHECK(offersOf({{"agent-5"}, {"agent-4"}, {"agent-3"}, {"agent-2"}, {"agent-1"}}) == together);
}

// ------------------------------------------------------------ weights

TEST_CASE("role weights 2:1 split equal agents 2:1 over repeated allocation rounds") {
  Harness h;
  h.allocator->updateWeights({{"analytics", 2.0}, {"batch", 1.0}});
  h.addFramework("fw-analytics", "analytics");
  h.addFramework("fw-batch", "batch");

  // Agents join one at a time, with an allocation round after each.
  for (int i = 1; i <= 12; ++i) {
    h.addAgent("agent-" + std::string(i < 10 ? "0" : "") + std::to_string(i), "cpus:4;mem:4096");
    auto offers = h.round();
    CHECK(offers.size() == 1);
  }
  CHECK(countFor(h.log, "fw-analytics") == 8);
  CHECK(countFor(h.log, "fw-batch") == 4);

  auto analytics = h.roleSummary("analytics");
  auto batch = h.roleSummary("batch");
  REQUIRE(analytics);
  REQUIRE(batch);
  CHECK(analytics->weight == 2.0);
  CHECK(batch->weight == 1.0);
  CHECK(analytics->share == doctest::Approx(8.0 / 12.0));
  CHECK(batch->share == doctest::Approx(4.0 / 12.0));

  // Everything handed back and re-offered in one round gives the same split.
  for (const auto& o : std::vector<Offered>(h.log)) h.decline(o);
  auto again = h.round();
  CHECK(again.size() == 12);
  CHECK(countFor(again, "fw-analytics") == 8);
  CHECK(countFor(again, "fw-batch") == 4);
}

TEST_CASE("without weights two roles split equal agents evenly") {
  Harness h;
  h.addFramework("fw-x", "x");
  h.addFramework("fw-y", "y");
  for (int i = 1; i <= 6; ++i) h.addAgent("agent-" + std::to_string(i), "cpus:4;mem:4096");
  auto offers = h.round();
  CHECK(countFor(offers, "fw-x") == 3);
  CHECK(countFor(offers, "fw-y") == 3);
}

// ------------------------------------------------------------ filters

TEST_CASE("a declined offer with a refuse filter goes to another framework at once and back after the filter") {
  Harness h;
  h.addFramework("fw-a");
  h.addFramework("fw-b");
  h.addAgent("agent-1", "cpus:4;mem:4096");

  auto first = h.round();
  REQUIRE(first.size() == 1);
  REQUIRE(first[0].framework == fwId("fw-a"));
  h.decline(first[0], Filters{5});

  // Immediately, in the next round, the other framework gets it.
  auto second = h.round();
  REQUIRE(second.size() == 1);
  CHECK(second[0].framework == fwId("fw-b"));
  CHECK(second[0].allocation.resources == res("cpus:4;mem:4096"));
  h.decline(second[0]);  // no filter

  // Before 5 s pass, fw-a (though first by id) is still filtered.
  h.clock.advance(4.9);
  auto third = h.round();
  REQUIRE(third.size() == 1);
  CHECK(third[0].framework == fwId("fw-b"));
  h.decline(third[0]);

  // Once the clock passes 5 s, fw-a is offered again.
  h.clock.advance(0.2);
  auto fourth = h.round();
  REQUIRE(fourth.size() == 1);
  CHECK(fourth[0].framework == fwId("fw-a"));
}

TEST_CASE("a refuse filter keeps the resources from the declining framework until it expires") {
  Harness h;
  h.addFramework("fw-a");
  h.addAgent("agent-1", "cpus:4;mem:4096");
  auto first = h.round();
  REQUIRE(first.size() == 1);
  h.decline(first[0], Filters{5});

  CHECK(h.round().empty());
  h.clock.advance(2);
  CHECK(h.round().empty());
  h.clock.advance(2.9);
  CHECK(h.round().empty());
  h.clock.advance(0.2);
  auto after = h.round();
  REQUIRE(after.size() == 1);
  CHECK(after[0].allocation.resources == res("cpus:4;mem:4096"));
}

TEST_CASE("a refuse filter applies only to the agent it was set on") {
  Harness h;
  h.addFramework("fw-a");
  h.addAgent("agent-1", "cpus:4;mem:4096");
  h.addAgent("agent-2", "cpus:4;mem:4096");
  auto first = h.round();
  REQUIRE(first.size() == 2);
  h.decline(first[0], Filters{5});  // agent-1, filtered
  h.decline(first[1]);              // agent-2, no filter

  auto second = h.round();
  CHECK(describe(second) == std::vector<std::string>{"fw-a@agent-2(*):cpus:4;mem:4096"});
}

TEST_CASE("refuseSeconds 0 sets no filter") {
  Harness h;
  h.addFramework("fw-a");
  h.addFramework("fw-b");
  h.addAgent("agent-1", "cpus:4;mem:4096");
  auto first = h.round();
  REQUIRE(first.size() == 1);
  h.decline(first[0], Filters{0});

  auto second = h.round();
  REQUIRE(second.size() == 1);
  CHECK(second[0].framework == fwId("fw-a"));
}

TEST_CASE("reviveOffers clears the framework's filters") {
  Harness h;
  h.addFramework("fw-a");
  h.addAgent("agent-1", "cpus:4;mem:4096");
  auto first = h.round();
  REQUIRE(first.size() == 1);
  h.decline(first[0], Filters{3600});
  CHECK(h.round().empty());

  h.allocator->reviveOffers(fwId("fw-a"), {});
  auto second = h.round();
  REQUIRE(second.size() == 1);
  CHECK(second[0].framework == fwId("fw-a"));
}

// ------------------------------------------------------------ suppress, activation

TEST_CASE("a suppressed framework gets no offers until it revives") {
  Harness h;
  h.addFramework("fw-a");
  h.addAgent("agent-1", "cpus:4;mem:4096");
  h.allocator->suppressOffers(fwId("fw-a"), {});

  CHECK(h.round().empty());
  h.clock.advance(60);
  CHECK(h.round().empty());
  auto suppressed = h.summary("fw-a");
  REQUIRE(suppressed);
  CHECK(suppressed->suppressed);
  CHECK(suppressed->waitingSeconds == 0);  // it does not want offers

  h.allocator->reviveOffers(fwId("fw-a"), {});
  CHECK_FALSE(h.summary("fw-a")->suppressed);
  auto offers = h.round();
  REQUIRE(offers.size() == 1);
  CHECK(offers[0].framework == fwId("fw-a"));
}

TEST_CASE("resources a suppressed framework would have got go to another framework") {
  Harness h;
  h.addFramework("fw-a");
  h.addFramework("fw-b");
  h.addAgent("agent-1", "cpus:4;mem:4096");
  h.allocator->suppressOffers(fwId("fw-a"), {});
  auto offers = h.round();
  REQUIRE(offers.size() == 1);
  CHECK(offers[0].framework == fwId("fw-b"));
}

TEST_CASE("a deactivated framework gets nothing until it is activated again") {
  Harness h;
  h.addFramework("fw-a");
  h.addAgent("agent-1", "cpus:4;mem:4096");
  h.allocator->deactivateFramework(fwId("fw-a"));
  CHECK(h.round().empty());
  CHECK(h.summary("fw-a")->waitingSeconds == 0);

  h.allocator->activateFramework(fwId("fw-a"));
  CHECK(h.round().size() == 1);
}

TEST_CASE("a framework added inactive gets nothing") {
  Harness h;
  h.addFramework("fw-a", "*", /*active=*/false);
  h.addAgent("agent-1", "cpus:4;mem:4096");
  CHECK(h.round().empty());
}

// ------------------------------------------------------------ reservations

TEST_CASE("resources reserved for a role are offered only to that role's frameworks") {
  const char* kAgent = "cpus(ml):2;mem(ml):1024;cpus:2;mem:1024";

  SUBCASE("a framework of role * never sees the reservation") {
    Harness h;
    h.addFramework("fw-star", "*");
    h.addAgent("agent-1", kAgent);
    for (int i = 0; i < 5; ++i) {
      auto offers = h.round();
      REQUIRE(offers.size() == 1);
      CHECK(offers[0].allocation.resources == res("cpus:2;mem:1024"));
      CHECK(offers[0].allocation.resources.reservationRoles().empty());
      h.decline(offers[0]);
    }
  }

  SUBCASE("a framework of role ml alone gets reserved and unreserved resources") {
    Harness h;
    h.addFramework("fw-ml", "ml");
    h.addAgent("agent-1", kAgent);
    auto offers = h.round();
    REQUIRE(offers.size() == 1);
    CHECK(offers[0].allocation.role == "ml");
    CHECK(offers[0].allocation.resources == res(kAgent));
  }

  SUBCASE("with both roles present, only ml gets the reservation") {
    Harness h;
    h.addFramework("fw-star", "*");
    h.addFramework("fw-ml", "ml");
    h.addAgent("agent-1", kAgent);
    for (int i = 0; i < 4; ++i) h.round();
    Resources toStar;
    Resources toMl;
    for (const auto& o : h.log) {
      if (o.framework == fwId("fw-star")) {
        CHECK(o.allocation.role == "*");
        toStar += o.allocation.resources;
      } else {
        CHECK(o.allocation.role == "ml");
        toMl += o.allocation.resources;
      }
    }
    CHECK(toStar.reservationRoles().empty());
    CHECK(toMl.contains(res("cpus(ml):2;mem(ml):1024")));
    CHECK(toStar + toMl == res(kAgent));  // everything offered exactly once
  }
}

// ------------------------------------------------------------ agents and frameworks leaving

TEST_CASE("removeAgent drops the agent's resources") {
  Harness h;
  h.addFramework("fw-a");
  h.addAgent("agent-1", "cpus:4;mem:4096");
  h.addAgent("agent-2", "cpus:2;mem:2048");
  auto offers = h.round();
  REQUIRE(offers.size() == 2);

  h.allocator->removeAgent(agentId("agent-1"));
  auto summary = h.summary("fw-a");
  CHECK(summary->allocated == res("cpus:2;mem:2048"));
  CHECK(summary->share == doctest::Approx(1.0));  // all of what is left

  // A late hand-back for the removed agent is ignored, and nothing of it is offered.
  h.allocator->recoverResources(fwId("fw-a"), agentId("agent-1"), res("cpus:4;mem:4096"), std::nullopt);
  CHECK(h.round().empty());
  CHECK(h.summary("fw-a")->allocated == res("cpus:2;mem:2048"));
}

TEST_CASE("a removed agent's free resources are not offered") {
  Harness h;
  h.addFramework("fw-a");
  h.addAgent("agent-1", "cpus:4;mem:4096");
  h.addAgent("agent-2", "cpus:2;mem:2048");
  h.allocator->removeAgent(agentId("agent-1"));
  CHECK(describe(h.round()) == std::vector<std::string>{"fw-a@agent-2(*):cpus:2;mem:2048"});
}

TEST_CASE("removeFramework frees its allocation for the others") {
  Harness h;
  h.addFramework("fw-a");
  h.addFramework("fw-b");
  h.addAgent("agent-1", "cpus:4;mem:4096");
  auto first = h.round();
  REQUIRE(first.size() == 1);
  REQUIRE(first[0].framework == fwId("fw-a"));
  CHECK(h.round().empty());

  h.allocator->removeFramework(fwId("fw-a"));
  CHECK_FALSE(h.summary("fw-a"));
  auto second = h.round();
  REQUIRE(second.size() == 1);
  CHECK(second[0].framework == fwId("fw-b"));
  CHECK(second[0].allocation.resources == res("cpus:4;mem:4096"));
}

TEST_CASE("a framework with two roles has each role's allocation return to zero when it hands resources back") {
  Harness h;
  h.allocator->addFramework(fwId("fw-multi"), FrameworkOptions{{"a", "b"}, true}, {});
  h.addAgent("agent-1", "cpus(b):2;mem(b):512");  // only role b may use it
  auto offers = h.round();
  REQUIRE(offers.size() == 1);
  CHECK(offers[0].allocation.role == "b");
  CHECK(h.roleSummary("b")->allocated == res("cpus(b):2;mem(b):512"));
  CHECK(h.roleSummary("a")->allocated.empty());

  h.decline(offers[0]);
  CHECK(h.roleSummary("b")->allocated.empty());
  CHECK(h.roleSummary("a")->allocated.empty());
  CHECK(h.summary("fw-multi")->allocated.empty());

  // Offered again, then lost with the agent: the role is uncharged too.
  REQUIRE(h.round().size() == 1);
  h.allocator->removeAgent(agentId("agent-1"));
  CHECK(h.roleSummary("b")->allocated.empty());

  // And when the framework goes away.
  h.addAgent("agent-2", "cpus(b):1;mem(b):256");
  REQUIRE(h.round().size() == 1);
  h.allocator->removeFramework(fwId("fw-multi"));
  h.addFramework("fw-other", "b");
  CHECK(h.roleSummary("b")->allocated.empty());
}

// ------------------------------------------------------------ quota

TEST_CASE("a quota limit caps what a role is offered") {
  Harness h;
  h.addFramework("fw-ml", "ml");
  h.addFramework("fw-star", "*");
  h.allocator->updateQuota("ml", Quota{{}, res("cpus:3")});
  h.addAgent("agent-1", "cpus:2;mem:2048");
  h.addAgent("agent-2", "cpus:2;mem:2048");

  // * declines whatever it is offered (and refuses it for a minute), so ml
  // may take every cpu it wants; it must stop at its limit.
  for (int i = 0; i < 5; ++i) {
    for (const auto& o : h.round()) {
      if (o.framework == fwId("fw-star")) h.decline(o, Filters{60});
    }
  }
  auto ml = h.roleSummary("ml");
  REQUIRE(ml);
  CHECK(ml->allocated.cpus() == 3.0);  // the limit, not more and not less
  CHECK(h.summary("fw-ml")->allocated.cpus() == 3.0);
  // A kind the limit does not name is not limited.
  CHECK(h.summary("fw-ml")->allocated.mem() == 4096.0);

  // What ml may not take still goes to other roles.
  h.clock.advance(61);
  auto rest = h.round();
  REQUIRE(rest.size() == 1);
  CHECK(rest[0].framework == fwId("fw-star"));
  CHECK(rest[0].allocation.resources == res("cpus:1"));
}

TEST_CASE("a quota limit counts reserved and unreserved resources together") {
  Harness h;
  h.addFramework("fw-ml", "ml");
  h.allocator->updateQuota("ml", Quota{{}, res("cpus:3")});
  h.addAgent("agent-1", "cpus(ml):2;cpus:2;mem:1024");

  auto offers = h.round();
  REQUIRE(offers.size() == 1);
  CHECK(offers[0].allocation.resources.cpus() <= 3.0);
  CHECK(h.roleSummary("ml")->allocated.cpus() <= 3.0);
  CHECK(h.round().empty());
}

TEST_CASE("a role at its quota limit offers nothing more until resources come back") {
  Harness h;
  h.addFramework("fw-ml", "ml");
  h.allocator->updateQuota("ml", Quota{{}, res("cpus:2;mem:2048")});
  h.addAgent("agent-1", "cpus:2;mem:2048");
  h.addAgent("agent-2", "cpus:2;mem:2048");
  auto first = h.round();
  CHECK(describe(first) == std::vector<std::string>{"fw-ml@agent-1(ml):cpus:2;mem:2048"});
  CHECK(h.round().empty());

  h.allocator->recoverResources(fwId("fw-ml"), agentId("agent-1"), res("cpus:1;mem:1024"), std::nullopt);
  Resources offered;
  for (const auto& o : h.round()) offered += o.allocation.resources;
  CHECK(offered == res("cpus:1;mem:1024"));
}

// ------------------------------------------------------------ recovery after a restart

TEST_CASE("addAgent with used resources counts them as allocated") {
  Harness h;
  h.addFramework("fw-a");
  h.addFramework("fw-b");
  h.addAgent("agent-1", "cpus:4;mem:4096", {{fwId("fw-a"), res("cpus:1;mem:1024")}});

  CHECK(h.summary("fw-a")->allocated == res("cpus:1;mem:1024"));
  CHECK(h.summary("fw-a")->share == doctest::Approx(0.25));

  // Only the rest is offered, and to fw-b, whose share is lower.
  auto offers = h.round();
  REQUIRE(offers.size() == 1);
  CHECK(offers[0].framework == fwId("fw-b"));
  CHECK(offers[0].allocation.resources == res("cpus:3;mem:3072"));

  // When the task ends its resources come back and can be offered.
  h.allocator->recoverResources(fwId("fw-a"), agentId("agent-1"), res("cpus:1;mem:1024"), std::nullopt);
  CHECK(h.summary("fw-a")->allocated.empty());
  auto later = h.round();
  REQUIRE(later.size() == 1);
  CHECK(later[0].allocation.resources == res("cpus:1;mem:1024"));
}

// ------------------------------------------------------------ summaries

TEST_CASE("frameworkSummaries report shares and the time a starved framework has waited") {
  Harness h;
  h.addFramework("fw-a");
  h.addFramework("fw-b");
  h.addFramework("fw-c");
  // Cluster: cpus 8, mem 4096.
  h.addAgent("agent-1", "cpus:6;mem:2048");
  h.addAgent("agent-2", "cpus:2;mem:2048");
  auto offers = h.round();
  CHECK(describe(offers) == std::vector<std::string>{"fw-a@agent-1(*):cpus:6;mem:2048",
                                                     "fw-b@agent-2(*):cpus:2;mem:2048"});
  CHECK(h.summary("fw-a")->share == doctest::Approx(0.75));  // cpus dominate
  CHECK(h.summary("fw-b")->share == doctest::Approx(0.5));   // mem dominates
  CHECK(h.summary("fw-c")->share == 0);
  CHECK(h.roleSummary("*")->share == doctest::Approx(1.0));

  // fw-c is starved: its waiting time grows with the clock.
  CHECK(h.summary("fw-c")->waitingSeconds == doctest::Approx(0));
  h.clock.advance(3);
  h.round();
  CHECK(h.summary("fw-c")->waitingSeconds == doctest::Approx(3));
  h.clock.advance(4);
  h.round();
  CHECK(h.summary("fw-c")->waitingSeconds == doctest::Approx(7));

  // Once it gets an offer, the wait is over.
  h.decline(offers[1], Filters{5});  // fw-b hands agent-2 back and refuses it
  auto later = h.round();
  REQUIRE(later.size() == 1);
  CHECK(later[0].framework == fwId("fw-c"));
  CHECK(h.summary("fw-c")->waitingSeconds == doctest::Approx(0));
  CHECK(h.summary("fw-c")->share == doctest::Approx(0.5));
}
