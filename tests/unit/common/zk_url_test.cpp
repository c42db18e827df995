// zk:// URLs, as everything that names a master takes them.
#include <doctest/doctest.h>

#include "common/zookeeper.hpp"

using namespace clusternodes;

TEST_CASE("zk:// URLs name servers and a path, and bad ones say what is wrong") {
  auto url = parseZkUrl("zk://h1:2181,10.0.0.2:2182/clusternodes/");
  REQUIRE(url.ok());
  CHECK(url->servers == "h1:2181,10.0.0.2:2182");
  CHECK(url->path == "/clusternodes");
  CHECK(url->auth.empty());
  CHECK(url->toString() == "zk://h1:2181,10.0.0.2:2182/clusternodes");
  auto withAuth = parseZkUrl("zk://ops:secret@h1:2181/mesos");
  REQUIRE(withAuth.ok());
  CHECK(withAuth->auth == "ops:secret");
  CHECK(withAuth->servers == "h1:2181");
  for (const char* bad : {"zk://h1:2181", "zk://h1:2181/", "zk:///path", "zk://h1/path", "zk://h1:port/path",
                          "zk://h1:99999/path", "zk://h1:2181,/path", "zk://user@h1:2181/p", "http://h1:2181/p",
                          "zk://h1:2181//p"}) {
    INFO(bad);
    auto parsed = parseZkUrl(bad);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().code == ErrorCode::kInvalid);
    CHECK(parsed.error().message.find(bad) != std::string::npos);
  }
}
