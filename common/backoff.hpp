// RetryBackoff: when to re-send a registration that nobody answered.
//
// Mesos's shape: a back-off that doubles after every re-send up to a cap,
// and a random delay drawn from it, so that agents that started together (a
// rack powered on, every agent of a restarted master) do not re-send in
// step. Unlike Mesos, which draws from [0, back-off), the delay is drawn
// from [back-off, 2 x back-off): never sooner than the back-off, because a
// master that has not answered yet is most often busy with the very storm
// the re-sends would add to.
//
//   RetryBackoff backoff(flags.registrationBackoff, std::chrono::seconds(4));
//   send(); timer.start(backoff.next(), resend);   // 250-500 ms, 500-1000 ms, ...
//   onAnswer: backoff.reset();
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace clusternodes {

class RetryBackoff {
 public:
  using Duration = std::chrono::nanoseconds;

  // `initial`: the first back-off; `cap`: the largest back-off (the delay can
  // reach twice that). `seed`: the random source's; 0 takes one from the OS.
  RetryBackoff(Duration initial, Duration cap, uint64_t seed = 0)
      : initial_(initial), cap_(std::max(cap, initial)), backoff_(initial), rng_(seed != 0 ? seed : osSeed()) {}

  // The delay before the next re-send, drawn from [back-off, 2 x back-off);
  // then the back-off doubles, up to the cap. Zero when the back-off is zero.
  Duration next() {
    Duration current = backoff_;
    backoff_ = std::min<Duration>(backoff_ * 2, cap_);
    if (current <= Duration::zero()) return Duration::zero();
    std::uniform_int_distribution<int64_t> extra(0, current.count() - 1);
    return current + Duration(extra(rng_));
  }

  // Back to the first back-off (the registration was answered, or a new one
  // begins).
  void reset() { backoff_ = initial_; }

  // The back-off the next delay is drawn from.
  Duration current() const { return backoff_; }

 private:
  static uint64_t osSeed() {
    std::random_device device("/dev/urandom");
    return (static_cast<uint64_t>(device()) << 32) ^ device();
  }

  Duration initial_;
  Duration cap_;
  Duration backoff_;
  std::mt19937_64 rng_;
};

}  // namespace clusternodes
