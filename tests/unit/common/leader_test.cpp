// The leader's znode: what a master writes, and what everyone who follows
// the election accepts from a path any ZooKeeper client may write to.
#include <doctest/doctest.h>

#include <string>

#include "common/leader.hpp"

using namespace clusternodes;

namespace {

LeaderInfo sampleLeader() {
  LeaderInfo info;
  info.id = "m-1";
  info.hostname = "host-a";
  info.ip = "10.0.0.7";
  info.port = 5050;
  info.httpPort = 8081;
  info.version = "1.2.3";
  return info;
}

// The JSON a master writes, with one port replaced by `value`.
std::string withPort(const std::string& which, const std::string& value) {
  std::string json = leaderInfoJson(sampleLeader());
  std::string key = which == "zmq" ? "\"zmq_port\":5050" : "\"address\":{\"hostname\":\"host-a\",\"ip\":\"10.0.0.7\",\"port\":8081}";
  auto at = json.find(key);
  REQUIRE(at != std::string::npos);
  std::string replaced = which == "zmq" ? "\"zmq_port\":" + value
                                        : "\"address\":{\"hostname\":\"host-a\",\"ip\":\"10.0.0.7\",\"port\":" + value + "}";
  return json.replace(at, key.size(), replaced);
}

}  // namespace

TEST_CASE("a leader's info survives the znode") {
  auto back = parseLeaderInfo(leaderInfoJson(sampleLeader()));
  REQUIRE(back.ok());
  CHECK(*back == sampleLeader());
  CHECK(back->endpoint() == "tcp://10.0.0.7:5050");
}

TEST_CASE("a leader's info with a port that is not an integer in range is refused, not converted") {
  // 1e20 as an int was undefined behaviour.
  for (const char* bad : {"1e20", "-5", "0", "65536", "5050.5", "\"5050\"", "null", "1e400"}) {
    INFO("zmq_port " << bad);
    auto parsed = parseLeaderInfo(withPort("zmq", bad));
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().message.find("does not hold a Clusternodes master's info") != std::string::npos);
  }
  for (const char* bad : {"1e20", "-2", "70000", "8081.5"}) {
    INFO("http port " << bad);
    CHECK_FALSE(parseLeaderInfo(withPort("http", bad)).ok());
  }
  // A master without HTTP writes -1.
  auto noHttp = parseLeaderInfo(withPort("http", "-1"));
  REQUIRE(noHttp.ok());
  CHECK(noHttp->httpPort == -1);
}

TEST_CASE("a znode that is not a leader's info says so") {
  for (const char* bad : {"", "{", "[]", "{\"id\":\"m\"}", "\"text\""}) {
    INFO("znode " << bad);
    CHECK_FALSE(parseLeaderInfo(bad).ok());
  }
}

TEST_CASE("a leader's HTTP scheme: https when it serves TLS, http when an older master wrote none, else refused") {
  LeaderInfo tls = sampleLeader();
  tls.httpTls = true;
  auto back = parseLeaderInfo(leaderInfoJson(tls));
  REQUIRE(back.ok());
  CHECK(back->httpTls);
  CHECK(back->httpUrl() == "https://10.0.0.7:8081");

  std::string json = leaderInfoJson(sampleLeader());
  auto at = json.find(",\"http_scheme\":\"http\"");
  REQUIRE(at != std::string::npos);
  auto old = parseLeaderInfo(std::string(json).erase(at, std::string(",\"http_scheme\":\"http\"").size()));
  REQUIRE(old.ok());
  CHECK(old->httpUrl() == "http://10.0.0.7:8081");

  auto odd = parseLeaderInfo(std::string(json).replace(at, 21, ",\"http_scheme\":\"ftp\""));
  CHECK_FALSE(odd.ok());
}
