#include <doctest/doctest.h>

#include "cli/agent_shares.hpp"
#include "cli/host_probe.hpp"

using namespace clusternodes;
using namespace clusternodes::cli;

TEST_CASE("cli: carvePortRanges splits the pool into disjoint consecutive ranges that cover it") {
  auto two = carvePortRanges({31000, 32999}, 2);
  REQUIRE(two);
  CHECK(*two == std::vector<Range>{{31000, 31999}, {32000, 32999}});

  auto three = carvePortRanges({31000, 32999}, 3);
  REQUIRE(three);
  // 2000 ports: 667 + 667 + 666, in order, no gap and no overlap.
  CHECK(*three == std::vector<Range>{{31000, 31666}, {31667, 32333}, {32334, 32999}});

  auto one = carvePortRanges({31000, 32999}, 1);
  REQUIRE(one);
  CHECK(*one == std::vector<Range>{{31000, 32999}});
}

TEST_CASE("cli: carvePortRanges covers the pool exactly for any number of parts") {
  for (int parts : {1, 2, 3, 7, 64, 256, 1999, 2000}) {
    auto ranges = carvePortRanges(kLocalPortPool, parts);
    REQUIRE(ranges);
    REQUIRE(ranges->size() == static_cast<size_t>(parts));
    uint64_t expected = kLocalPortPool.begin;
    for (const auto& r : *ranges) {
      CHECK(r.begin == expected);
      CHECK(r.end >= r.begin);
      expected = r.end + 1;
    }
    CHECK(expected == kLocalPortPool.end + 1);
  }
}

TEST_CASE("cli: carvePortRanges refuses impossible splits") {
  CHECK(!carvePortRanges({31000, 32999}, 0));
  CHECK(!carvePortRanges({31000, 32999}, -1));
  CHECK(!carvePortRanges({31000, 31001}, 3));
  CHECK(!carvePortRanges({5, 4}, 1));
}

TEST_CASE("cli: computeAgentShares divides cpus, memory and disk between the agents") {
  HostCapacity host{.cpus = 8, .memTotalMiB = 16384, .diskFreeMiB = 100000};
  auto shares = computeAgentShares(host, 2);
  REQUIRE(shares);
  REQUIRE(shares->size() == 2);
  for (const auto& s : *shares) {
    CHECK(s.cpus == doctest::Approx(4));
    CHECK(s.memMiB == (16384 - 1024) / 2);
    CHECK(s.diskMiB == 25000);
  }
  CHECK(shares->at(0).toResourcesFlag() == "cpus:4;mem:7680;disk:25000;ports:[31000-31999]");
  CHECK(shares->at(1).toResourcesFlag() == "cpus:4;mem:7680;disk:25000;ports:[32000-32999]");
}

TEST_CASE("cli: computeAgentShares keeps three decimals of cpus and never less than one") {
  HostCapacity host{.cpus = 8, .memTotalMiB = 16384, .diskFreeMiB = 1000};
  auto three = computeAgentShares(host, 3);
  REQUIRE(three);
  CHECK(three->at(0).cpus == doctest::Approx(2.666));
  CHECK(three->at(0).toResourcesFlag().rfind("cpus:2.666;", 0) == 0);
  // Shares never sum above the host when each gets at least one cpu's worth.
  CHECK(three->at(0).cpus * 3 <= host.cpus);

  HostCapacity small{.cpus = 2, .memTotalMiB = 2048, .diskFreeMiB = 10};
  auto four = computeAgentShares(small, 4);
  REQUIRE(four);
  CHECK(four->at(0).cpus == doctest::Approx(1));
  CHECK(four->at(0).memMiB == 256);  // (2048 - 1024) / 4 = 256
  CHECK(four->at(0).diskMiB == 1);   // floor(10 / 2 / 4)
}

TEST_CASE("cli: computeAgentShares gives at least 256 MiB and never negative disk") {
  HostCapacity tiny{.cpus = 1, .memTotalMiB = 900, .diskFreeMiB = 0};
  auto shares = computeAgentShares(tiny, 2);
  REQUIRE(shares);
  CHECK(shares->at(0).memMiB == kMinAgentMemMiB);
  CHECK(shares->at(0).diskMiB == 0);
  CHECK(shares->at(1).cpus == doctest::Approx(1));
}

TEST_CASE("cli: computeAgentShares refuses no agents") {
  HostCapacity host{.cpus = 4, .memTotalMiB = 8192, .diskFreeMiB = 1000};
  CHECK(!computeAgentShares(host, 0));
  CHECK(computeAgentShares(host, 0).error().code == ErrorCode::kInvalid);
}

TEST_CASE("cli: every share parses back as agent resources") {
  HostCapacity host{.cpus = 3, .memTotalMiB = 5000, .diskFreeMiB = 12345};
  auto shares = computeAgentShares(host, 2);
  REQUIRE(shares);
  auto parsed = Resources::parse(shares->at(1).toResourcesFlag());
  REQUIRE(parsed);
  CHECK(parsed->cpus() == doctest::Approx(1.5));
  CHECK(parsed->mem() == doctest::Approx(1988));
  CHECK(parsed->disk() == doctest::Approx(3086));
  CHECK(parsed->ports().toString() == "[32000-32999]");
}

TEST_CASE("cli: parseMemTotalMiB reads /proc/meminfo's MemTotal") {
  auto mem = parseMemTotalMiB("MemTotal:       16318480 kB\nMemFree:         1234 kB\n");
  REQUIRE(mem);
  CHECK(*mem == doctest::Approx(16318480.0 / 1024));
  auto later = parseMemTotalMiB("Foo: 1 kB\nMemTotal: 2048 kB\n");
  REQUIRE(later);
  CHECK(*later == doctest::Approx(2));
  CHECK(!parseMemTotalMiB("MemFree: 1 kB\n"));
  CHECK(!parseMemTotalMiB("MemTotal: lots\n"));
  CHECK(!parseMemTotalMiB(""));
}

TEST_CASE("cli: probeHost measures this machine") {
  auto host = probeHost("/");
  REQUIRE(host);
  CHECK(host->cpus >= 1);
  CHECK(host->memTotalMiB > 0);
  CHECK(host->diskFreeMiB >= 0);
  CHECK(!probeHost("/no/such/dir/for/clusternodes"));
}
