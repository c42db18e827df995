// For tests that need a Docker engine and the local test image
// clusternodes/busybox (scripts/docker.sh builds it): without them such a
// test says why and skips; CI runs them.
//
//   TEST_CASE("...") {
//     SKIP_WITHOUT_DOCKER();
//     ...
//   }
#pragma once

#include <doctest/doctest.h>

#include <string>

#include "agent/docker/client.hpp"

namespace clusternodes::testing {

inline const std::string kDockerTestImage = "clusternodes/busybox";

// Why Docker tests cannot run here, or "" when they can.
inline std::string dockerUnavailable() {
  docker::Client client;
  if (auto ping = client.ping(); !ping) return "Docker does not answer: " + ping.error().message;
  auto image = client.hasImage(kDockerTestImage);
  if (!image || !*image) return "no image " + kDockerTestImage + " (scripts/docker.sh builds it)";
  return "";
}

}  // namespace clusternodes::testing

#define SKIP_WITHOUT_DOCKER()                                                        \
  do {                                                                               \
    if (auto why = ::clusternodes::testing::dockerUnavailable(); !why.empty()) {     \
      MESSAGE("skipped: " << why);                                                   \
      return;                                                                        \
    }                                                                                \
  } while (false)
