// For tests that need a Docker engine and the local test image
// clusternodes/busybox. The test command (scripts/test.sh, through
// scripts/docker.sh) starts dockerd and builds the image, so a test that
// finds either missing fails, saying which and how to get it: it never skips.
//
//   TEST_CASE("...") {
//     REQUIRE_DOCKER();
//     ...
//   }
#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include "agent/docker/client.hpp"

namespace clusternodes::testing {

inline const std::string kDockerTestImage = "clusternodes/busybox";

// The Docker engine at $DOCKER_SOCKET, as scripts/docker.sh takes it, else
// at Docker's default socket (where the agents the harness starts look).
inline docker::Client dockerTestClient() {
  const char* socket = std::getenv("DOCKER_SOCKET");
  return socket != nullptr && *socket != '\0' ? docker::Client(socket) : docker::Client();
}

// What keeps the Docker tests from running here, or "" when nothing does.
inline std::string dockerUnavailable() {
  docker::Client client = dockerTestClient();
  if (auto ping = client.ping(); !ping) {
    return "Docker does not answer (" + ping.error().message + "); scripts/docker.sh starts dockerd";
  }
  auto image = client.hasImage(kDockerTestImage);
  if (!image) return "cannot look for the image " + kDockerTestImage + ": " + image.error().message;
  if (!*image) return "no image " + kDockerTestImage + "; scripts/docker.sh builds it";
  return "";
}

}  // namespace clusternodes::testing

// Fails the test, with the reason, unless Docker answers and has the test
// image.
#define REQUIRE_DOCKER()                                                  \
  do {                                                                    \
    const std::string why = ::clusternodes::testing::dockerUnavailable(); \
    REQUIRE_MESSAGE(why.empty(), why);                                    \
  } while (false)
