// Loop: the one libuv event loop each daemon runs, with RAII wrappers.
//
// Everything a daemon does happens in callbacks on this loop: ZeroMQ
// readiness, timers, child exits, signals and HTTP. Other threads hand work
// to it with post(), which is the only thread-safe method.
//
//   Loop loop;
//   Timer t(loop);
//   t.start(std::chrono::milliseconds(100), [&] { ... });  // once
//   loop.run();
//
// No exception may cross a libuv callback: the wrappers catch and log.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "common/clock.hpp"

namespace clusternodes {

class Loop {
 public:
  Loop();
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  uv_loop_t* raw() { return &loop_; }

  // Runs until stop() or until nothing is left to do.
  void run();
  // Makes run() return after the current iteration. Loop thread only.
  void stop();

  // Thread-safe: runs `fn` on the loop thread soon. Callable before run().
  void post(std::function<void()> fn);

  // Seconds since the epoch (wall clock).
  static double wallSeconds();
  // The loop's clock and timers: the steady and system clocks, and libuv
  // timers on this loop.
  TimeSource& time() { return *time_; }

 private:
  static void onAsync(uv_async_t* handle);

  uv_loop_t loop_{};
  uv_async_t async_{};
  std::mutex mutex_;
  std::vector<std::function<void()>> posted_;
  std::unique_ptr<TimeSource> time_;
};

// Closes a uv handle owned by a heap block and frees the block once libuv is
// done with it. Used by every handle wrapper.
void closeHandle(uv_handle_t* handle, std::function<void()> onClosed);

// Runs `fn` at the end of the loop turn in which arm() was called, just
// before the loop waits for events again: where a daemon writes, in one
// batch, what the turn's callbacks changed (group commit). Arming again from
// inside `fn` runs it at the end of the next turn.
class EndOfTurn {
 public:
  EndOfTurn(Loop& loop, std::function<void()> fn);
  ~EndOfTurn();
  EndOfTurn(const EndOfTurn&) = delete;
  EndOfTurn& operator=(const EndOfTurn&) = delete;

  void arm();
  bool armed() const;

 private:
  struct State;
  State* state_;
};

// Calls `fn` when the process receives `signum` (SIGINT, SIGTERM, ...).
class SignalWatcher {
 public:
  SignalWatcher(Loop& loop, int signum, std::function<void()> fn);
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  struct State;
  State* state_;
};

}  // namespace clusternodes
