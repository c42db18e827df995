#include <doctest/doctest.h>

#include <csignal>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/loop.hpp"

using namespace clusternodes;
using std::chrono::milliseconds;
using std::chrono::microseconds;

TEST_CASE("Loop: run returns at once when there is nothing to do") {
  Loop loop;
  loop.run();
  CHECK(Loop::wallSeconds() > 1.6e9);
}

TEST_CASE("Timer: one-shot timers fire in deadline order") {
  Loop loop;
  std::vector<int> order;
  Timer a(loop);
  Timer b(loop);
  Timer c(loop);
  a.start(milliseconds(30), [&] { order.push_back(30); });
  b.start(milliseconds(10), [&] { order.push_back(10); });
  c.start(milliseconds(20), [&] { order.push_back(20); });
  CHECK(a.active());
  auto begin = std::chrono::steady_clock::now();
  loop.run();  // returns once every one-shot timer has fired
  CHECK(order == std::vector<int>{10, 20, 30});
  CHECK(std::chrono::steady_clock::now() - begin >= milliseconds(25));
  CHECK_FALSE(a.active());
  CHECK_FALSE(b.active());
}

TEST_CASE("Timer: repeating timer fires until stopped") {
  Loop loop;
  Timer t(loop);
  int fired = 0;
  t.start(
      milliseconds(1),
      [&] {
        if (++fired == 3) t.stop();
      },
      milliseconds(2));
  loop.run();
  CHECK(fired == 3);
  CHECK_FALSE(t.active());
}

TEST_CASE("Timer: sub-millisecond repeat still repeats") {
  Loop loop;
  Timer t(loop);
  int fired = 0;
  t.start(
      microseconds(10),
      [&] {
        if (++fired == 5) t.stop();
      },
      microseconds(10));
  loop.run();
  CHECK(fired == 5);
}

TEST_CASE("Timer: restart replaces the callback, even from inside it") {
  Loop loop;
  Timer t(loop);
  std::vector<std::string> seen;
  t.start(milliseconds(1), [&, tag = std::string(64, 'a')] {
    t.start(milliseconds(1), [&] { seen.push_back("second"); });
    seen.push_back(tag.substr(0, 1));  // the running closure is still alive
  });
  loop.run();
  CHECK(seen == std::vector<std::string>{"a", "second"});
}

TEST_CASE("Loop: stop makes run return while work remains") {
  Loop loop;
  Timer t(loop);
  int fired = 0;
  t.start(
      milliseconds(1),
      [&] {
        ++fired;
        loop.stop();
      },
      milliseconds(1));
  loop.run();
  CHECK(fired == 1);
  CHECK(t.active());
  loop.run();  // resumes
  CHECK(fired == 2);
}

TEST_CASE("Loop: post from another thread runs on the loop thread") {
  Loop loop;
  Timer keepAlive(loop);
  keepAlive.start(milliseconds(10000), [] {});
  std::thread::id loopThread = std::this_thread::get_id();
  std::thread::id ranOn;
  int ran = 0;
  std::thread poster([&] {
    for (int i = 0; i < 100; ++i) {
      loop.post([&, i] {
        CHECK(ran == i);  // in order
        ++ran;
        ranOn = std::this_thread::get_id();
        if (ran == 100) keepAlive.stop();
      });
    }
  });
  loop.run();
  poster.join();
  CHECK(ran == 100);
  CHECK(ranOn == loopThread);
}

TEST_CASE("Loop: work posted before run runs") {
  Loop loop;
  bool ran = false;
  loop.post([&] { ran = true; });
  loop.run();
  CHECK(ran);
}

TEST_CASE("Loop: an exception in a callback is contained") {
  Loop loop;
  Timer t(loop);
  bool after = false;
  loop.post([] { throw std::runtime_error("posted boom"); });
  loop.post([&] { after = true; });
  t.start(milliseconds(1), [] { throw std::runtime_error("timer boom"); });
  loop.run();
  CHECK(after);
  CHECK_FALSE(t.active());
}

TEST_CASE("Timer: destroying a timer inside its own callback is safe") {
  Loop loop;
  SUBCASE("one-shot") {
    auto t = std::make_unique<Timer>(loop);
    std::string seen;
    t->start(milliseconds(1), [&, tag = std::string(100, 'x')] {
      t.reset();
      seen = tag;  // the closure outlives its Timer for the rest of the call
    });
    loop.run();
    CHECK(t == nullptr);
    CHECK(seen == std::string(100, 'x'));
  }
  SUBCASE("repeating") {
    auto t = std::make_unique<Timer>(loop);
    int fired = 0;
    t->start(
        milliseconds(1),
        [&] {
          if (++fired == 2) t.reset();
        },
        milliseconds(1));
    loop.run();  // returns: the destroyed timer no longer holds the loop
    CHECK(fired == 2);
  }
  SUBCASE("another timer's callback destroys it") {
    auto victim = std::make_unique<Timer>(loop);
    Timer killer(loop);
    bool victimFired = false;
    victim->start(milliseconds(50), [&] { victimFired = true; });
    killer.start(milliseconds(1), [&] { victim.reset(); });
    loop.run();
    CHECK_FALSE(victimFired);
  }
}

TEST_CASE("Timer: a timer that outlives the loop run is closed by its destructor") {
  Loop loop;
  Timer t(loop);
  t.start(milliseconds(100000), [] {});
  loop.post([&] { loop.stop(); });
  loop.run();
  CHECK(t.active());
}

TEST_CASE("SignalWatcher: delivers the signal on the loop") {
  Loop loop;
  int received = 0;
  std::unique_ptr<SignalWatcher> watcher;
  watcher = std::make_unique<SignalWatcher>(loop, SIGUSR2, [&] {
    ++received;
    watcher.reset();  // destroying it from its own callback is safe too
  });
  Timer t(loop);
  t.start(milliseconds(1), [] { std::raise(SIGUSR2); });
  loop.run();
  CHECK(received == 1);
  CHECK(watcher == nullptr);
}
