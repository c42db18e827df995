// jsonText: what every HTTP endpoint and the registry write JSON with.
#include <doctest/doctest.h>

#include <string>

#include "common/json.hpp"

using namespace clusternodes;

TEST_CASE("jsonText replaces invalid UTF-8 from a peer instead of throwing, and keeps valid text as it is") {
  nlohmann::json j = {{"name", std::string("bad\xff\xfe name")}, {"ok", "café ☕"}};
  CHECK_THROWS(j.dump());  // what /state and the registry did
  std::string text;
  REQUIRE_NOTHROW(text = jsonText(j));
  auto back = nlohmann::json::parse(text);
  CHECK(back["name"] == "bad\xEF\xBF\xBD\xEF\xBF\xBD name");  // two U+FFFD
  CHECK(back["ok"] == "café ☕");
}
