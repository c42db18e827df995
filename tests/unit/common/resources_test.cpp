// Unit tests for Resources, RangeSet and the task state/reason names.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "clusternodes/resources.hpp"
#include "clusternodes/values.hpp"

using namespace clusternodes;

namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

Resources mustParse(std::string_view text) {
  auto r = Resources::parse(text);
  INFO("parsing: " << std::string(text));
  REQUIRE(r.ok());
  return *r;
}

// Asserts that parsing fails with kInvalid and that the message names `token`.
void expectParseError(std::string_view text, std::string_view token) {
  auto r = Resources::parse(text);
  INFO("parsing: " << std::string(text));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::kInvalid);
  INFO("message: " << r.error().message);
  CHECK(r.error().message.find(token) != std::string::npos);
  CHECK(r.error().message.find('\n') == std::string::npos);
}

RangeSet rs(std::vector<Range> ranges) { return RangeSet(std::move(ranges)); }

}  // namespace

// ------------------------------------------------------------------ parsing

TEST_CASE("parsing a typical agent description yields each resource") {
  Resources r = mustParse("cpus:4;mem:8192;disk:20000;ports:[31000-32000]");
  CHECK(r.cpus() == 4.0);
  CHECK(r.mem() == 8192.0);
  CHECK(r.disk() == 20000.0);
  CHECK(r.ports() == rs({{31000, 32000}}));
  CHECK(r.ports().size() == 1001);
  CHECK_FALSE(r.empty());
}

TEST_CASE("parsing the empty text yields empty resources") {
  CHECK(mustParse("").empty());
  CHECK(mustParse("   ").empty());
  CHECK(mustParse(";").empty());
  CHECK(mustParse("").toString() == "");
}

TEST_CASE("parsing tolerates whitespace around tokens and a trailing semicolon") {
  Resources r = mustParse("  cpus : 2 ;\tmem:\t1024 ; ports : [ 1 - 5 , 10-20 ] ; ");
  CHECK(r.cpus() == 2.0);
  CHECK(r.mem() == 1024.0);
  CHECK(r.ports() == rs({{1, 5}, {10, 20}}));
  CHECK(r == mustParse("cpus:2;mem:1024;ports:[1-5,10-20];"));
}

TEST_CASE("parsing reserved resources keeps them apart from unreserved ones") {
  Resources r = mustParse("cpus(ml):2;mem(ml):4096;cpus:2");
  CHECK(r.cpus() == 4.0);
  CHECK(r.scalar("cpus", "ml") == 2.0);
  CHECK(r.scalar("cpus", "*") == 2.0);
  CHECK(r.scalar("mem", "ml") == 4096.0);
  CHECK(r.scalar("mem", "*") == 0.0);
  CHECK(r.mem() == 4096.0);
}

TEST_CASE("parsing a role written as (*) means the default role") {
  CHECK(mustParse("cpus(*):3") == mustParse("cpus:3"));
  CHECK(mustParse("cpus( * ):3") == mustParse("cpus:3"));
  CHECK(mustParse("cpus(*):3").reservationRoles().empty());
}

TEST_CASE("parsing accepts role names made of letters digits and _ . / -") {
  Resources r = mustParse("cpus(team-a/ml_2.0):1");
  CHECK(r.scalar("cpus", "team-a/ml_2.0") == 1.0);
  CHECK(r.reservationRoles() == std::vector<std::string>{"team-a/ml_2.0"});
}

TEST_CASE("parsing several port ranges keeps them sorted and merged") {
  CHECK(mustParse("ports:[1-5,10-20]").ports() == rs({{1, 5}, {10, 20}}));
  CHECK(mustParse("ports:[10-20,1-5]").ports() == rs({{1, 5}, {10, 20}}));
  CHECK(mustParse("ports:[1-5,6-9]").ports() == rs({{1, 9}}));
  CHECK(mustParse("ports:[1-5,3-9]").ports() == rs({{1, 9}}));
}

TEST_CASE("parsing a single-value range and a bare value are the same") {
  CHECK(mustParse("ports:[7-7]").ports() == rs({{7, 7}}));
  CHECK(mustParse("ports:[7]").ports() == rs({{7, 7}}));
  CHECK(mustParse("ports:[7,9]").ports() == rs({{7, 7}, {9, 9}}));
}

TEST_CASE("parsing range bounds at the extremes of uint64 works") {
  Resources r = mustParse("ports:[0-18446744073709551615]");
  CHECK(r.ports() == rs({{0, kMax}}));
  CHECK(r.ports().size() == kMax);  // saturated
}

TEST_CASE("parsing an empty range list yields nothing") {
  CHECK(mustParse("ports:[]").empty());
  CHECK(mustParse("ports:[ ]").empty());
}

TEST_CASE("parsing drops zero-valued scalars") {
  Resources r = mustParse("cpus:0;mem:0.0;disk:0.0004;gpus:1");
  CHECK(r == mustParse("gpus:1"));
  CHECK(r.toString() == "gpus:1");
  CHECK(mustParse("cpus:-0").empty());
}

TEST_CASE("parsing the same name and role twice adds the amounts up") {
  CHECK(mustParse("cpus:1;cpus:2.5").cpus() == 3.5);
  CHECK(mustParse("cpus(a):1;cpus(a):1").scalar("cpus", "a") == 2.0);
  CHECK(mustParse("ports:[1-5];ports:[6-10]").ports() == rs({{1, 10}}));
  CHECK(mustParse("ports:[1-5];ports:[3-4]").ports() == rs({{1, 5}}));
}

TEST_CASE("parsing accepts decimal and exponent forms of scalars") {
  CHECK(mustParse("cpus:0.5").cpus() == 0.5);
  CHECK(mustParse("cpus:.5").cpus() == 0.5);
  CHECK(mustParse("cpus:1.125").cpus() == 1.125);
  CHECK(mustParse("mem:1e3").mem() == 1000.0);
}

TEST_CASE("parsing rounds scalars to the nearest thousandth") {
  CHECK(mustParse("cpus:0.0005").cpus() == 0.001);
  CHECK(mustParse("cpus:1.2344").cpus() == 1.234);
  CHECK(mustParse("cpus:1.2346").cpus() == 1.235);
  CHECK(mustParse("cpus:1.2346") == mustParse("cpus:1.235"));
}

TEST_CASE("parsing a token without a colon fails naming the token") {
  expectParseError("cpus:1;mem1024", "mem1024");
  expectParseError("cpus", "cpus");
}

TEST_CASE("parsing a token with an empty name fails naming the token") {
  expectParseError(":4", ":4");
  expectParseError("cpus:1; :4", ":4");
  expectParseError("(ml):4", "(ml):4");
}

TEST_CASE("parsing a name with forbidden characters fails naming the token") {
  expectParseError("cp us:1", "cp us");
  expectParseError("cpus*:1", "cpus*");
}

TEST_CASE("parsing a bad number fails naming the token and the number") {
  expectParseError("cpus:abc", "cpus:abc");
  expectParseError("cpus:abc", "'abc'");
  expectParseError("cpus:4x", "cpus:4x");
  expectParseError("cpus:+4", "cpus:+4");
  expectParseError("cpus:1:2", "cpus:1:2");
  expectParseError("cpus:", "cpus:");
  expectParseError("ports:[1-x]", "ports:[1-x]");
  expectParseError("ports:[1-x]", "'x'");
  expectParseError("ports:[-5]", "ports:[-5]");
  expectParseError("ports:[1-99999999999999999999]", "99999999999999999999");
  expectParseError("ports:[1-5,]", "ports:[1-5,]");
  expectParseError("ports:[,1-5]", "ports:[,1-5]");
}

TEST_CASE("parsing a negative NaN or infinite scalar fails naming the token") {
  expectParseError("cpus:-1", "cpus:-1");
  expectParseError("cpus:-0.5", "cpus:-0.5");
  expectParseError("cpus:nan", "cpus:nan");
  expectParseError("cpus:inf", "cpus:inf");
  expectParseError("cpus:-inf", "cpus:-inf");
  expectParseError("cpus:infinity", "cpus:infinity");
  expectParseError("cpus:1e400", "cpus:1e400");
}

TEST_CASE("parsing a scalar above the maximum fails naming the token") {
  expectParseError("mem:1e13", "mem:1e13");
  CHECK(mustParse("mem:1e12").mem() == 1e12);
}

TEST_CASE("parsing a range whose begin exceeds its end fails naming the token") {
  expectParseError("ports:[10-5]", "ports:[10-5]");
  expectParseError("ports:[1-2,10-5]", "'10-5'");
}

TEST_CASE("parsing unbalanced brackets fails naming the token") {
  expectParseError("ports:[1-5", "ports:[1-5");
  expectParseError("ports:1-5]", "ports:1-5]");
  expectParseError("ports:[[1-5]]", "ports:[[1-5]]");
  expectParseError("ports:[1-5]]", "ports:[1-5]]");
  expectParseError("ports:[", "ports:[");
  expectParseError("ports:[1-5];cpus:[", "cpus:[");
}

TEST_CASE("parsing bad role syntax fails naming the token") {
  expectParseError("cpus():1", "cpus():1");
  expectParseError("cpus( ):1", "cpus( ):1");
  expectParseError("cpus(ml:1", "cpus(ml:1");
  expectParseError("cpusml):1", "cpusml):1");
  expectParseError("cpus(ml)x:1", "cpus(ml)x:1");
  expectParseError("cpus((ml)):1", "cpus((ml)):1");
  expectParseError("cpus(m l):1", "cpus(m l):1");
  expectParseError("cpus(ml*):1", "cpus(ml*):1");
  expectParseError("cpus(**):1", "cpus(**):1");
  expectParseError("cpus)ml(:1", "cpus)ml(:1");
}

TEST_CASE("a reservation for a role that is not a valid role path is refused, naming the rule it breaks") {
  // The same rules as a framework's roles (validateRole): a reservation
  // cannot name a role no framework could ever subscribe to.
  expectParseError("cpus(a/../b):1", "'..' segment");
  expectParseError("cpus(./a):1", "'.' segment");
  expectParseError("cpus(a//b):1", "empty path segment");
  expectParseError("cpus(/a):1", "empty path segment");
  expectParseError("cpus(a/):1", "empty path segment");
  expectParseError("cpus(-a):1", "starts with '-'");
  CHECK(mustParse("cpus(a/b-c/.d):1").scalar("cpus", "a/b-c/.d") == 1.0);
}

TEST_CASE("a role is the default role or a path of non-empty segments, none of them . or .., not starting with -") {
  for (const char* role : {"*", "eng/ml", "a/b/c", "team.x/ml", "ml-2", "a/-b", "_x"}) {
    INFO("role: " << role);
    CHECK(validateRole(role).ok());
  }
  for (const char* role : {"", "/eng", "eng/", "eng//ml", "./eng", "eng/..", ".", "..", "-eng", "m l", "ml*", "**",
                           "a/*", "r\xc3\xb4le", "a\tb", "a\\b"}) {
    INFO("role: " << role);
    CHECK_FALSE(validateRole(role).ok());
  }
  CHECK(validateRole("eng//ml").error().message.find("empty path segment") != std::string::npos);
  CHECK(validateRole("eng/..").error().message.find("'..' segment") != std::string::npos);
  CHECK(validateRole("-eng").error().message.find("starts with '-'") != std::string::npos);
  CHECK(validateRole("a*").error().message.find("outside [A-Za-z0-9_./-]") != std::string::npos);
}

TEST_CASE("a parse error is reported for the first bad token only") {
  auto r = Resources::parse("cpus:1;mem:x;disk:y");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("mem:x") != std::string::npos);
  CHECK(r.error().message.find("disk:y") == std::string::npos);
}

// -------------------------------------------------------------- toString

TEST_CASE("toString is sorted by name then role and omits the default role") {
  Resources r = mustParse("ports:[5-6];mem(b):2;cpus(ml):2;mem:1;cpus:1;mem(a):3");
  CHECK(r.toString() == "cpus:1;cpus(ml):2;mem:1;mem(a):3;mem(b):2;ports:[5-6]");
}

TEST_CASE("toString prints scalars with up to three decimals and no trailing zeros") {
  CHECK(Resources().addScalar("cpus", 0.5).toString() == "cpus:0.5");
  CHECK(Resources().addScalar("cpus", 2).toString() == "cpus:2");
  CHECK(Resources().addScalar("cpus", 1.125).toString() == "cpus:1.125");
  CHECK(Resources().addScalar("cpus", 1.1).toString() == "cpus:1.1");
  CHECK(Resources().addScalar("cpus", 0.001).toString() == "cpus:0.001");
  CHECK(Resources().addScalar("cpus", 0.05).toString() == "cpus:0.05");
  CHECK(Resources().addScalar("mem", 1024).toString() == "mem:1024");
  CHECK(Resources().addScalar("mem", 1e12).toString() == "mem:1000000000000");
}

TEST_CASE("toString prints single-value ranges as a-a") {
  CHECK(mustParse("ports:[7]").toString() == "ports:[7-7]");
  CHECK(mustParse("ports:[1-3,7]").toString() == "ports:[1-3,7-7]");
}

TEST_CASE("parsing the text form gives back the same resources") {
  const std::vector<std::string> samples = {
      "",
      "cpus:4;mem:8192;disk:20000;ports:[31000-32000]",
      "cpus(ml):2;mem(ml):4096;cpus:2",
      "ports:[1-5,10-20]",
      "cpus:0.001;mem:0.999;disk:1.5",
      "gpus(a/b.c-d_e):1;gpus(z):2;gpus:3",
      "ports:[0-0,18446744073709551615-18446744073709551615]",
      "ports(web):[80-80,443-443];ports:[8000-9000]",
      "mem:1000000000000",
  };
  for (const auto& text : samples) {
    Resources r = mustParse(text);
    INFO("sample: " << text << " -> " << r.toString());
    CHECK(mustParse(r.toString()) == r);
    CHECK(mustParse(r.toString()).toString() == r.toString());
  }
  CHECK(mustParse("cpus:4;mem:8192;disk:20000;ports:[31000-32000]").toString() ==
        "cpus:4;disk:20000;mem:8192;ports:[31000-32000]");
}

TEST_CASE("built resources round-trip through the text form") {
  Resources r;
  r.addScalar("cpus", 0.1).addScalar("cpus", 0.2).addScalar("mem", 333.333, "r1");
  r.addRanges("ports", rs({{5, 9}, {1, 3}}), "r2");
  CHECK(r.toString() == "cpus:0.3;mem(r1):333.333;ports(r2):[1-3,5-9]");
  CHECK(mustParse(r.toString()) == r);
}

TEST_CASE("entries follow the toString order and carry amounts") {
  Resources r = mustParse("ports:[1-2];cpus(ml):2;cpus:1.5");
  auto entries = r.entries();
  REQUIRE(entries.size() == 3);
  CHECK(entries[0].name == "cpus");
  CHECK(entries[0].role == "*");
  CHECK_FALSE(entries[0].isRanges);
  CHECK(entries[0].scalar == 1.5);
  CHECK(entries[1].name == "cpus");
  CHECK(entries[1].role == "ml");
  CHECK(entries[1].scalar == 2.0);
  CHECK(entries[2].name == "ports");
  CHECK(entries[2].isRanges);
  CHECK(entries[2].ranges == rs({{1, 2}}));
  CHECK(Resources().entries().empty());
}

// ------------------------------------------------------------ arithmetic

TEST_CASE("adding resources sums scalars and unions ranges") {
  Resources a = mustParse("cpus:1;mem:512;ports:[1-5]");
  Resources b = mustParse("cpus:2;disk:10;ports:[6-10,20-30]");
  Resources sum = a + b;
  CHECK(sum.cpus() == 3.0);
  CHECK(sum.mem() == 512.0);
  CHECK(sum.disk() == 10.0);
  CHECK(sum.ports() == rs({{1, 10}, {20, 30}}));
  CHECK(sum == b + a);
}

TEST_CASE("subtracting resources takes scalars away and removes ports") {
  Resources offer = mustParse("cpus:4;mem:8192;ports:[31000-32000]");
  Resources task = mustParse("cpus:1;mem:512;ports:[31000-31000]");
  REQUIRE(offer.contains(task));
  Resources left = offer - task;
  CHECK(left == mustParse("cpus:3;mem:7680;ports:[31001-32000]"));
  CHECK(left + task == offer);
}

TEST_CASE("subtracting more than is present saturates at zero") {
  Resources r = mustParse("cpus:1;mem:100");
  r -= mustParse("cpus:5");
  CHECK(r.cpus() == 0.0);
  CHECK(r == mustParse("mem:100"));
  r -= mustParse("mem:100.001;disk:50");
  CHECK(r.empty());
  CHECK(r.toString() == "");
}

TEST_CASE("subtracting resources that are absent changes nothing") {
  Resources r = mustParse("cpus:1;ports:[1-5]");
  r -= mustParse("gpus:2;ports(ml):[1-5];cpus(ml):1");
  CHECK(r == mustParse("cpus:1;ports:[1-5]"));
}

TEST_CASE("subtracting every port leaves no ports entry") {
  Resources r = mustParse("cpus:1;ports:[1-5]");
  r -= mustParse("ports:[0-10]");
  CHECK(r == mustParse("cpus:1"));
  CHECK(r.entries().size() == 1);
}

TEST_CASE("subtracting resources from themselves leaves nothing") {
  Resources r = mustParse("cpus:1;cpus(ml):2;ports:[1-5]");
  const Resources& same = r;  // an alias, as callers may hold one
  r -= same;
  CHECK(r.empty());
}

TEST_CASE("adding resources to themselves doubles them") {
  Resources r = mustParse("cpus:1;cpus(ml):2;ports:[1-5]");
  r += r;
  CHECK(r == mustParse("cpus:2;cpus(ml):4;ports:[1-5]"));
}

TEST_CASE("adding 0.1 a thousand times then subtracting it returns to empty") {
  Resources r;
  Resources tenth = mustParse("cpus:0.1");
  for (int i = 0; i < 1000; ++i) r += tenth;
  CHECK(r.cpus() == 100.0);
  CHECK(r == mustParse("cpus:100"));
  for (int i = 0; i < 1000; ++i) r -= tenth;
  CHECK(r.empty());
  CHECK(r == Resources());
}

TEST_CASE("adding 0.1 with the builder a thousand times is exact") {
  Resources r;
  for (int i = 0; i < 1000; ++i) r.addScalar("cpus", 0.1);
  CHECK(r.toString() == "cpus:100");
  for (int i = 0; i < 999; ++i) r -= Resources().addScalar("cpus", 0.1);
  CHECK(r.toString() == "cpus:0.1");
}

TEST_CASE("reservations are subtracted only from the same role") {
  Resources r = mustParse("cpus:2;cpus(ml):2");
  r -= mustParse("cpus(ml):3");
  CHECK(r == mustParse("cpus:2"));
  r -= mustParse("cpus(other):1");
  CHECK(r == mustParse("cpus:2"));
}

// -------------------------------------------------------------- contains

TEST_CASE("contains checks scalar amounts") {
  Resources r = mustParse("cpus:2;mem:1024");
  CHECK(r.contains(mustParse("cpus:2")));
  CHECK(r.contains(mustParse("cpus:1.999;mem:1024")));
  CHECK_FALSE(r.contains(mustParse("cpus:2.001")));
  CHECK_FALSE(r.contains(mustParse("disk:1")));
  CHECK(r.contains(Resources()));
  CHECK(Resources().contains(Resources()));
  CHECK_FALSE(Resources().contains(r));
}

TEST_CASE("contains checks ranges are a subset") {
  Resources r = mustParse("ports:[1-10,20-30]");
  CHECK(r.contains(mustParse("ports:[1-10]")));
  CHECK(r.contains(mustParse("ports:[2-3,25-30]")));
  CHECK_FALSE(r.contains(mustParse("ports:[10-20]")));
  CHECK_FALSE(r.contains(mustParse("ports:[0-0]")));
  CHECK_FALSE(r.contains(mustParse("ports:[31-31]")));
}

TEST_CASE("contains does not let one role stand in for another") {
  Resources r = mustParse("cpus(ml):4;ports(ml):[1-10]");
  CHECK(r.contains(mustParse("cpus(ml):4")));
  CHECK_FALSE(r.contains(mustParse("cpus:1")));
  CHECK_FALSE(r.contains(mustParse("ports:[1-1]")));
  CHECK_FALSE(mustParse("cpus:4").contains(mustParse("cpus(ml):1")));
}

// -------------------------------------------------------- roles and views

TEST_CASE("reserved and unreserved split resources by role") {
  Resources r = mustParse("cpus:1;cpus(ml):2;mem(ml):64;ports(web):[80-80];ports:[1-2]");
  CHECK(r.reserved("ml") == mustParse("cpus(ml):2;mem(ml):64"));
  CHECK(r.reserved("web") == mustParse("ports(web):[80-80]"));
  CHECK(r.reserved("none").empty());
  CHECK(r.unreserved() == mustParse("cpus:1;ports:[1-2]"));
  CHECK(r.reserved("*") == r.unreserved());
  CHECK(r.unreserved() + r.reserved("ml") + r.reserved("web") == r);
}

TEST_CASE("reservationRoles lists each reserving role once in order") {
  Resources r = mustParse("cpus(zeta):1;mem(alpha):1;cpus(alpha):1;ports(mid):[1-1];cpus:9");
  CHECK(r.reservationRoles() == std::vector<std::string>{"alpha", "mid", "zeta"});
  CHECK(mustParse("cpus:1").reservationRoles().empty());
  CHECK(Resources().reservationRoles().empty());
}

TEST_CASE("scalar and ranges sum over roles unless a role is given") {
  Resources r = mustParse("cpus:1;cpus(a):2;cpus(b):3;ports(a):[1-3];ports:[4-6];ports(b):[9-9]");
  CHECK(r.scalar("cpus") == 6.0);
  CHECK(r.scalar("cpus", "a") == 2.0);
  CHECK(r.scalar("cpus", "nope") == 0.0);
  CHECK(r.scalar("gpus") == 0.0);
  CHECK(r.ranges("ports") == rs({{1, 6}, {9, 9}}));
  CHECK(r.ranges("ports", "a") == rs({{1, 3}}));
  CHECK(r.ranges("ports", "*") == rs({{4, 6}}));
  CHECK(r.ranges("other").empty());
}

TEST_CASE("a name that is a prefix of another does not mix their amounts") {
  Resources r = mustParse("cpu:1;cpus:2;cpusx:4");
  CHECK(r.scalar("cpu") == 1.0);
  CHECK(r.scalar("cpus") == 2.0);
}

// -------------------------------------------------------------- equality

TEST_CASE("equality ignores the order of construction") {
  Resources a = mustParse("cpus:1;mem:2;ports:[1-2,5-6]");
  Resources b = mustParse("ports:[5-6];mem:2;ports:[1-2];cpus:0.5;cpus:0.5");
  Resources c;
  c.addRanges("ports", rs({{5, 6}})).addScalar("mem", 2).addRanges("ports", rs({{1, 2}}));
  c.addScalar("cpus", 1);
  CHECK(a == b);
  CHECK(a == c);
  CHECK_FALSE(a != c);
  CHECK(a != mustParse("cpus:1;mem:2"));
  CHECK(a != mustParse("cpus(ml):1;mem:2;ports:[1-2,5-6]"));
}

TEST_CASE("resources reduced to zero equal empty resources") {
  Resources r = mustParse("cpus:1;ports:[1-1]");
  r -= mustParse("cpus:1;ports:[1-1]");
  CHECK(r.empty());
  CHECK(r == Resources());
}

// --------------------------------------------------------------- builders

TEST_CASE("builders ignore zero negative and non-finite amounts") {
  Resources r;
  r.addScalar("cpus", 0).addScalar("cpus", -1).addScalar("cpus", std::nan(""));
  r.addScalar("cpus", std::numeric_limits<double>::infinity());
  r.addScalar("cpus", 0.0001);
  r.addRanges("ports", RangeSet());
  r.addScalar("", 3);
  CHECK(r.empty());
}

TEST_CASE("builders treat an empty role as the default role") {
  Resources r;
  r.addScalar("cpus", 1, "");
  CHECK(r == mustParse("cpus:1"));
  CHECK(r.scalar("cpus", "") == 1.0);
}

TEST_CASE("scalars saturate at the maximum amount") {
  Resources r;
  r.addScalar("mem", 1e300);
  CHECK(r.mem() == 1e12);
  r += mustParse("mem:1e12");
  CHECK(r.mem() == 1e12);
  CHECK(mustParse(r.toString()) == r);
}

// --------------------------------------------------------------- RangeSet

TEST_CASE("a range set sorts and merges overlapping intervals") {
  RangeSet s = rs({{10, 20}, {1, 5}, {15, 30}, {3, 4}});
  CHECK(s.ranges() == std::vector<Range>{{1, 5}, {10, 30}});
}

TEST_CASE("a range set merges adjacent intervals") {
  CHECK(rs({{1, 3}, {4, 5}}).ranges() == std::vector<Range>{{1, 5}});
  CHECK((rs({{1, 3}}) += rs({{4, 5}})) == rs({{1, 5}}));
  CHECK(rs({{1, 3}, {5, 5}}).ranges() == std::vector<Range>{{1, 3}, {5, 5}});
}

TEST_CASE("a range set drops intervals whose begin exceeds their end") {
  CHECK(rs({{5, 1}}).empty());
  CHECK(rs({{5, 1}, {7, 8}}) == rs({{7, 8}}));
}

TEST_CASE("a range set merges intervals that touch the top of uint64") {
  RangeSet s = rs({{kMax - 1, kMax}, {kMax, kMax}, {kMax - 5, kMax - 2}});
  CHECK(s.ranges() == std::vector<Range>{{kMax - 5, kMax}});
  CHECK(s.size() == 6);
}

TEST_CASE("subtracting a middle port range splits it in two") {
  RangeSet s = rs({{31000, 32000}});
  s -= rs({{31100, 31199}});
  CHECK(s.ranges() == std::vector<Range>{{31000, 31099}, {31200, 32000}});
  CHECK(s.size() == 100 + 801);
}

TEST_CASE("subtracting ranges trims edges and removes covered intervals") {
  RangeSet s = rs({{1, 10}, {20, 30}, {40, 50}});
  s -= rs({{0, 2}, {9, 21}, {35, 60}});
  CHECK(s.ranges() == std::vector<Range>{{3, 8}, {22, 30}});
}

TEST_CASE("subtracting many small holes from one range leaves the pieces between") {
  RangeSet s = rs({{0, 10}});
  s -= rs({{1, 1}, {3, 3}, {5, 6}, {10, 10}});
  CHECK(s.ranges() == std::vector<Range>{{0, 0}, {2, 2}, {4, 4}, {7, 9}});
}

TEST_CASE("subtracting one range that spans several intervals removes them all") {
  RangeSet s = rs({{1, 2}, {4, 5}, {7, 8}, {10, 11}});
  s -= rs({{2, 10}});
  CHECK(s.ranges() == std::vector<Range>{{1, 1}, {11, 11}});
}

TEST_CASE("subtracting at the bounds of uint64 does not overflow") {
  RangeSet all = rs({{0, kMax}});
  RangeSet s = all;
  s -= rs({{0, 0}, {kMax, kMax}});
  CHECK(s.ranges() == std::vector<Range>{{1, kMax - 1}});
  s = all;
  s -= rs({{5, kMax}});
  CHECK(s.ranges() == std::vector<Range>{{0, 4}});
  s = all;
  s -= all;
  CHECK(s.empty());
  s = all;
  const RangeSet& same = s;
  s -= same;
  CHECK(s.empty());
}

TEST_CASE("subtracting disjoint ranges changes nothing") {
  RangeSet s = rs({{10, 20}});
  s -= rs({{1, 9}, {21, 30}});
  CHECK(s == rs({{10, 20}}));
  s -= RangeSet();
  CHECK(s == rs({{10, 20}}));
}

TEST_CASE("a range set size counts integers and saturates") {
  CHECK(RangeSet().size() == 0);
  CHECK(rs({{5, 5}}).size() == 1);
  CHECK(rs({{1, 5}, {10, 20}}).size() == 16);
  CHECK(rs({{0, kMax - 1}}).size() == kMax);
  CHECK(rs({{0, kMax}}).size() == kMax);
  CHECK(rs({{0, kMax - 2}, {kMax, kMax}}).size() == kMax);
  CHECK(rs({{1, kMax}}).size() == kMax);
}

TEST_CASE("a range set contains values and subsets") {
  RangeSet s = rs({{1, 5}, {10, 20}});
  CHECK(s.contains(1));
  CHECK(s.contains(5));
  CHECK(s.contains(15));
  CHECK_FALSE(s.contains(0));
  CHECK_FALSE(s.contains(7));
  CHECK_FALSE(s.contains(21));
  CHECK(s.contains(rs({{2, 3}, {10, 20}})));
  CHECK(s.contains(RangeSet()));
  CHECK_FALSE(s.contains(rs({{4, 10}})));
  CHECK_FALSE(RangeSet().contains(5));
  CHECK(rs({{0, kMax}}).contains(kMax));
}

TEST_CASE("range set operations agree with a simple bitmask model") {
  // Deterministic pseudo-random sets over [0, 64), checked against bitmasks.
  uint64_t seed = 0x9e3779b97f4a7c15ULL;
  auto next = [&seed]() {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
  };
  auto randomSet = [&next](uint64_t& mask) {
    std::vector<Range> ranges;
    mask = 0;
    uint64_t count = next() % 6;
    for (uint64_t i = 0; i < count; ++i) {
      uint64_t a = next() % 64;
      uint64_t b = next() % 64;
      if (a > b) std::swap(a, b);
      ranges.push_back({a, b});
      for (uint64_t v = a; v <= b; ++v) mask |= uint64_t{1} << v;
    }
    return RangeSet(std::move(ranges));
  };
  auto maskOf = [](const RangeSet& s) {
    uint64_t mask = 0;
    for (const Range& r : s.ranges()) {
      for (uint64_t v = r.begin; v <= r.end; ++v) mask |= uint64_t{1} << v;
    }
    return mask;
  };
  auto normalised = [](const RangeSet& s) {
    const auto& r = s.ranges();
    for (size_t i = 0; i < r.size(); ++i) {
      if (r[i].begin > r[i].end) return false;
      if (i > 0 && r[i].begin <= r[i - 1].end + 1) return false;  // sorted, gapped
    }
    return true;
  };
  for (int round = 0; round < 2000; ++round) {
    uint64_t ma = 0;
    uint64_t mb = 0;
    RangeSet a = randomSet(ma);
    RangeSet b = randomSet(mb);
    REQUIRE(maskOf(a) == ma);
    RangeSet sum = a;
    sum += b;
    RangeSet diff = a;
    diff -= b;
    CHECK(normalised(sum));
    CHECK(normalised(diff));
    CHECK(maskOf(sum) == (ma | mb));
    CHECK(maskOf(diff) == (ma & ~mb));
    CHECK(a.contains(b) == ((ma & mb) == mb));
    CHECK(a.size() == static_cast<uint64_t>(__builtin_popcountll(ma)));
  }
}

TEST_CASE("a range set prints as bracketed inclusive intervals") {
  CHECK(RangeSet().toString() == "[]");
  CHECK(rs({{31000, 31005}, {31010, 31010}}).toString() == "[31000-31005,31010-31010]");
}

// ----------------------------------------------------------------- values

TEST_CASE("every task state name parses back to the same state") {
  const std::vector<std::pair<TaskState, std::string>> states = {
      {TaskState::kStaging, "TASK_STAGING"},   {TaskState::kStarting, "TASK_STARTING"},
      {TaskState::kRunning, "TASK_RUNNING"},   {TaskState::kKilling, "TASK_KILLING"},
      {TaskState::kFinished, "TASK_FINISHED"}, {TaskState::kFailed, "TASK_FAILED"},
      {TaskState::kKilled, "TASK_KILLED"},     {TaskState::kError, "TASK_ERROR"},
      {TaskState::kLost, "TASK_LOST"},         {TaskState::kDropped, "TASK_DROPPED"},
      {TaskState::kUnreachable, "TASK_UNREACHABLE"}, {TaskState::kGone, "TASK_GONE"},
      {TaskState::kUnknown, "TASK_UNKNOWN"},
  };
  for (const auto& [state, name] : states) {
    CHECK(std::string(toString(state)) == name);
    CHECK(parseTaskState(name) == state);
    CHECK(parseTaskState(toString(state)) == state);
  }
}

TEST_CASE("unknown task state text does not parse") {
  CHECK_FALSE(parseTaskState("").has_value());
  CHECK_FALSE(parseTaskState("RUNNING").has_value());
  CHECK_FALSE(parseTaskState("task_running").has_value());
  CHECK_FALSE(parseTaskState("TASK_RUNNING ").has_value());
}

TEST_CASE("terminal task states are exactly the ones that end a task") {
  CHECK_FALSE(isTerminal(TaskState::kStaging));
  CHECK_FALSE(isTerminal(TaskState::kStarting));
  CHECK_FALSE(isTerminal(TaskState::kRunning));
  CHECK_FALSE(isTerminal(TaskState::kKilling));
  CHECK_FALSE(isTerminal(TaskState::kUnreachable));
  CHECK(isTerminal(TaskState::kFinished));
  CHECK(isTerminal(TaskState::kFailed));
  CHECK(isTerminal(TaskState::kKilled));
  CHECK(isTerminal(TaskState::kError));
  CHECK(isTerminal(TaskState::kLost));
  CHECK(isTerminal(TaskState::kDropped));
  CHECK(isTerminal(TaskState::kGone));
  CHECK(isTerminal(TaskState::kUnknown));
}

TEST_CASE("every task reason name parses back to the same reason") {
  const std::vector<std::pair<TaskReason, std::string>> reasons = {
      {TaskReason::kNone, "REASON_NONE"},
      {TaskReason::kCommandExited, "REASON_COMMAND_EXITED"},
      {TaskReason::kCommandSignaled, "REASON_COMMAND_SIGNALED"},
      {TaskReason::kKilledByFramework, "REASON_KILLED_BY_FRAMEWORK"},
      {TaskReason::kInvalidTask, "REASON_INVALID_TASK"},
      {TaskReason::kExecutorTerminated, "REASON_EXECUTOR_TERMINATED"},
      {TaskReason::kExecutorFailedToStart, "REASON_EXECUTOR_FAILED_TO_START"},
      {TaskReason::kAgentRemoved, "REASON_AGENT_REMOVED"},
      {TaskReason::kAgentUnreachable, "REASON_AGENT_UNREACHABLE"},
      {TaskReason::kAgentRestarted, "REASON_AGENT_RESTARTED"},
      {TaskReason::kFrameworkRemoved, "REASON_FRAMEWORK_REMOVED"},
      {TaskReason::kReconciliation, "REASON_RECONCILIATION"},
      {TaskReason::kTaskUnknown, "REASON_TASK_UNKNOWN"},
      {TaskReason::kInvalidOffers, "REASON_INVALID_OFFERS"},
      {TaskReason::kMemoryLimit, "REASON_MEMORY_LIMIT"},
      {TaskReason::kCommandNotFound, "REASON_COMMAND_NOT_FOUND"},
      {TaskReason::kCommandNotExecutable, "REASON_COMMAND_NOT_EXECUTABLE"},
      {TaskReason::kContainerLaunchFailed, "REASON_CONTAINER_LAUNCH_FAILED"},
      {TaskReason::kImageUnavailable, "REASON_IMAGE_UNAVAILABLE"},
      {TaskReason::kContainerizerUnsupported, "REASON_CONTAINERIZER_UNSUPPORTED"},
      {TaskReason::kTaskUnauthorized, "REASON_TASK_UNAUTHORIZED"},
  };
  for (const auto& [reason, name] : reasons) {
    CHECK(std::string(toString(reason)) == name);
    CHECK(parseTaskReason(name) == reason);
  }
  CHECK_FALSE(parseTaskReason("REASON_BOGUS").has_value());
  CHECK_FALSE(parseTaskReason("").has_value());
}
