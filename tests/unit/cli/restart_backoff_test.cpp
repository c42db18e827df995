#include <doctest/doctest.h>

#include <vector>

#include "cli/restart_backoff.hpp"

using clusternodes::cli::RestartBackoff;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

long long secondsOf(RestartBackoff::Duration d) { return std::chrono::duration_cast<seconds>(d).count(); }

}  // namespace

TEST_CASE("service backoff: 1 s after the first end, doubled after each further one, at most 30 s") {
  RestartBackoff backoff;
  std::vector<long long> waits;
  for (int i = 0; i < 8; ++i) waits.push_back(secondsOf(backoff.ended(std::nullopt)));
  CHECK(waits == std::vector<long long>{1, 2, 4, 8, 16, 30, 30, 30});
  CHECK(backoff.failures() == 8);
}

TEST_CASE("service backoff: a task that ran 10 s was healthy, and the wait after it starts over at 1 s") {
  RestartBackoff backoff;
  backoff.ended(seconds(1));
  backoff.ended(seconds(2));
  CHECK(secondsOf(backoff.ended(seconds(9))) == 4);     // short runs count as failures
  CHECK(secondsOf(backoff.ended(seconds(10))) == 1);    // a healthy run resets it
  CHECK(secondsOf(backoff.ended(milliseconds(500))) == 2);
  CHECK(secondsOf(backoff.ended(seconds(3600))) == 1);
}
