#include <doctest/doctest.h>

#include <chrono>
#include <set>

#include "common/backoff.hpp"

using namespace clusternodes;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST_CASE("RetryBackoff: each delay is drawn between b and 2b, b doubling up to the cap, and reset starts again") {
  RetryBackoff backoff(milliseconds(250), seconds(4), 42);
  std::set<int64_t> firsts;
  for (milliseconds b : {milliseconds(250), milliseconds(500), milliseconds(1000), milliseconds(2000),
                         milliseconds(4000), milliseconds(4000)}) {
    CHECK(backoff.current() == b);
    auto delay = backoff.next();
    CHECK(delay >= b);
    CHECK(delay < 2 * b);
  }
  // Many agents with their own seeds do not re-send in step.
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    RetryBackoff one(milliseconds(1000), seconds(4), seed);
    firsts.insert(std::chrono::duration_cast<milliseconds>(one.next()).count());
  }
  CHECK(firsts.size() > 40);
  backoff.reset();
  CHECK(backoff.current() == milliseconds(250));
  RetryBackoff never(milliseconds(0), seconds(4), 1);
  CHECK(never.next() == std::chrono::nanoseconds::zero());
}
