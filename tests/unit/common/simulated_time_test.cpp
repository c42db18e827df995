#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "common/clock.hpp"
#include "tests/harness/simulated_time.hpp"

using namespace clusternodes;
using clusternodes::testing::SimulatedTime;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST_CASE("SimulatedTime: a timer fires only when time reaches its deadline, with now() at the deadline") {
  SimulatedTime time;
  double start = time.now();
  Timer timer(time);
  double firedAt = 0;
  timer.start(seconds(5), [&] { firedAt = time.now(); });
  time.advance(milliseconds(4999));
  CHECK(firedAt == 0);
  CHECK(timer.active());
  time.advance(seconds(3));
  CHECK(firedAt == doctest::Approx(start + 5));
  CHECK(time.now() == doctest::Approx(start + 8));
  CHECK_FALSE(timer.active());
}

TEST_CASE("SimulatedTime: timers run in deadline order, ties in the order scheduled, and repeat until stopped") {
  SimulatedTime time;
  std::vector<std::string> order;
  Timer a(time), b(time), c(time);
  a.start(seconds(2), [&] { order.push_back("a"); });
  b.start(seconds(1), [&] { order.push_back("b"); }, seconds(1));
  c.start(seconds(2), [&] { order.push_back("c"); });
  time.advance(seconds(3));
  // b fired at 1 s and was scheduled again after a and c: it runs after them at 2 s.
  CHECK(order == std::vector<std::string>{"b", "a", "c", "b", "b"});
  b.stop();
  time.advance(seconds(10));
  CHECK(order.size() == 5);
  CHECK(time.pending() == 0);
}

TEST_CASE("SimulatedTime: a callback may restart, stop or destroy timers, and what it starts runs in the same advance") {
  SimulatedTime time;
  int retries = 0;
  Timer retry(time);
  std::function<void()> again = [&] {
    ++retries;
    retry.start(seconds(retries), again);  // backoff: 1 s, 2 s, 3 s ...
  };
  retry.start(seconds(1), again);
  time.advance(seconds(7));  // due at 1, 2, 4, 7
  CHECK(retries == 4);

  auto doomed = std::make_unique<Timer>(time);
  int ran = 0;
  doomed->start(seconds(1), [&] {
    ++ran;
    doomed.reset();
  });
  time.advance(seconds(2));
  CHECK(ran == 1);
  CHECK(doomed == nullptr);
}

TEST_CASE("SimulatedTime: destroying a timer cancels it, and restarting moves its deadline") {
  SimulatedTime time;
  int fired = 0;
  {
    Timer gone(time);
    gone.start(seconds(1), [&] { ++fired; });
  }
  Timer moved(time);
  moved.start(seconds(1), [&] { ++fired; });
  moved.start(seconds(5), [&] { fired += 10; });
  time.advance(seconds(2));
  CHECK(fired == 0);
  time.advance(seconds(3));
  CHECK(fired == 10);
  CHECK(time.wallSeconds() > 1.6e9);
}
