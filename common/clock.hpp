// Clock and timers: the daemons' only view of time, so that their time-based
// logic (timeouts, retries, filters, backoff) runs on simulated time in unit
// tests and on libuv's loop in production.
//
//   Loop loop;                       // production: loop.time() is libuv's
//   Timer retry(loop.time());        // (Timer(loop) is the same)
//   retry.start(std::chrono::seconds(1), [&] { ... });
//
//   SimulatedTime time;              // tests (tests/harness/simulated_time.hpp)
//   Timer retry(time);
//   time.advance(std::chrono::seconds(1));  // runs the callback, here
#pragma once

#include <chrono>
#include <functional>
#include <memory>

namespace clusternodes {

class Loop;

using Duration = std::chrono::nanoseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic seconds from an arbitrary origin.
  virtual double now() const = 0;
  // Seconds since the Unix epoch, for what is shown to people and stored
  // (task timestamps, registration times). Not monotonic.
  virtual double wallSeconds() const {
    using namespace std::chrono;
    return duration<double>(system_clock::now().time_since_epoch()).count();
  }
};

class SteadyClock : public Clock {
 public:
  double now() const override {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
};

// A clock tests advance by hand. Wall time moves with it, from a fixed date.
class ManualClock : public Clock {
 public:
  double now() const override { return now_; }
  double wallSeconds() const override { return 1.8e9 + now_; }
  void advance(double seconds) { now_ += seconds; }

 private:
  double now_ = 1000.0;
};

// One timer of a TimeSource. The callback runs on the source's thread; it
// may restart, stop or destroy its own timer.
class TimerBackend {
 public:
  virtual ~TimerBackend() = default;
  // `fn` runs after `delay`, then every `repeat` when repeat is non-zero.
  // Starting an active timer restarts it.
  virtual void start(Duration delay, std::function<void()> fn, Duration repeat) = 0;
  virtual void stop() = 0;
  virtual bool active() const = 0;
};

// A clock that can also run callbacks later.
class TimeSource : public Clock {
 public:
  virtual std::unique_ptr<TimerBackend> newTimer() = 0;
};

// A one-shot or repeating timer of a TimeSource. Destroying it stops it.
class Timer {
 public:
  explicit Timer(TimeSource& time) : impl_(time.newTimer()) {}
  // A timer of the loop's own time source (common/loop.cpp).
  explicit Timer(Loop& loop);
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // Starts (or restarts) the timer: `fn` runs after `delay`, then every
  // `repeat` when repeat is non-zero.
  void start(Duration delay, std::function<void()> fn, Duration repeat = Duration::zero()) {
    impl_->start(delay, std::move(fn), repeat);
  }
  void stop() { impl_->stop(); }
  bool active() const { return impl_->active(); }

 private:
  std::unique_ptr<TimerBackend> impl_;
};

}  // namespace clusternodes
