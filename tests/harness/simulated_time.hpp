// SimulatedTime: a TimeSource whose time moves only when a test says so.
//
//   SimulatedTime time;
//   Timer t(time);
//   t.start(std::chrono::seconds(5), [&] { fired = true; });
//   time.advance(std::chrono::seconds(4));   // nothing yet
//   time.advance(std::chrono::seconds(1));   // fired, inside advance()
//
// advance() runs every timer that falls due in the interval, in deadline
// order (ties in the order they were scheduled), with now() set to each one's
// deadline while it runs; timers started by a callback run in the same
// advance() if they fall due in it. Single-threaded, like a daemon's loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "common/clock.hpp"

namespace clusternodes::testing {

class SimulatedTime final : public TimeSource {
 public:
  double now() const override { return std::chrono::duration<double>(now_).count(); }
  double wallSeconds() const override { return kWallOrigin + now(); }

  std::unique_ptr<TimerBackend> newTimer() override { return std::make_unique<SimTimer>(*this); }

  // Moves time forward by `by`, running what falls due on the way.
  void advance(Duration by) {
    Duration until = now_ + by;
    while (!due_.empty() && due_.begin()->first.first <= until) {
      auto it = due_.begin();
      SimTimer* timer = it->second;
      now_ = it->first.first;
      due_.erase(it);
      timer->fire();
    }
    now_ = until;
  }

  // Timers waiting to run.
  size_t pending() const { return due_.size(); }

 private:
  static constexpr double kWallOrigin = 1.8e9;

  class SimTimer final : public TimerBackend {
   public:
    explicit SimTimer(SimulatedTime& time) : time_(time) {}
    ~SimTimer() override { stop(); }

    void start(Duration delay, std::function<void()> fn, Duration repeat) override {
      stop();
      fn_ = std::make_shared<std::function<void()>>(std::move(fn));
      repeat_ = repeat;
      schedule(time_.now_ + std::max(delay, Duration::zero()));
    }
    void stop() override {
      if (key_) time_.due_.erase(*key_);
      key_.reset();
    }
    bool active() const override { return key_.has_value(); }

    void fire() {
      key_.reset();
      auto fn = fn_;  // the callback may restart or destroy this timer
      if (repeat_ > Duration::zero()) schedule(time_.now_ + repeat_);
      if (fn && *fn) (*fn)();
    }

   private:
    void schedule(Duration at) {
      Key key{at, time_.sequence_++};
      time_.due_.emplace(key, this);
      key_ = key;
    }

    SimulatedTime& time_;
    std::shared_ptr<std::function<void()>> fn_;
    Duration repeat_{};
    std::optional<std::pair<Duration, uint64_t>> key_;
  };

  using Key = std::pair<Duration, uint64_t>;
  Duration now_ = std::chrono::seconds(1000);
  uint64_t sequence_ = 0;
  std::map<Key, SimTimer*> due_;
};

}  // namespace clusternodes::testing
