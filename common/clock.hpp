// Clock: monotonic seconds, injectable so that tests of time-based logic
// (filters, timeouts) run on simulated time.
#pragma once

#include <chrono>

namespace clusternodes {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic seconds from an arbitrary origin.
  virtual double now() const = 0;
};

class SteadyClock : public Clock {
 public:
  double now() const override {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
};

// A clock tests advance by hand.
class ManualClock : public Clock {
 public:
  double now() const override { return now_; }
  void advance(double seconds) { now_ += seconds; }

 private:
  double now_ = 1000.0;
};

}  // namespace clusternodes
