#include "common/loop.hpp"

#include <spdlog/spdlog.h>

#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>

namespace clusternodes {

namespace {

// Runs `fn`, logging instead of propagating: nothing may unwind into libuv.
template <typename Fn>
void guarded(const char* where, Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    spdlog::error("{}: uncaught exception: {}", where, e.what());
  } catch (...) {
    spdlog::error("{}: uncaught non-standard exception", where);
  }
}

// Whole milliseconds, rounded up; never negative.
uint64_t toMillis(Duration d) {
  if (d <= Duration::zero()) return 0;
  return static_cast<uint64_t>(std::chrono::ceil<std::chrono::milliseconds>(d).count());
}

std::unique_ptr<TimeSource> makeLoopTime(Loop& loop);

// What closeHandle parks in handle->data until the close callback runs.
struct CloseContext {
  std::function<void()> onClosed;
};

void onHandleClosed(uv_handle_t* handle) {
  auto* ctx = static_cast<CloseContext*>(handle->data);
  handle->data = nullptr;
  if (ctx == nullptr) return;
  // onClosed usually frees the block holding `handle`: do not touch it after.
  guarded("close callback", [&] {
    if (ctx->onClosed) ctx->onClosed();
  });
  delete ctx;
}

}  // namespace

// ---------------------------------------------------------------------------
// Loop

Loop::Loop() {
  int rc = uv_loop_init(&loop_);
  if (rc != 0) {
    throw std::runtime_error(std::string("uv_loop_init: ") + uv_strerror(rc));
  }
  rc = uv_async_init(&loop_, &async_, &Loop::onAsync);
  if (rc != 0) {
    uv_loop_close(&loop_);
    throw std::runtime_error(std::string("uv_async_init: ") + uv_strerror(rc));
  }
  async_.data = this;
  // The async handle alone must not keep run() alive.
  uv_unref(reinterpret_cast<uv_handle_t*>(&async_));
  time_ = makeLoopTime(*this);
}

Loop::~Loop() {
  // Close whatever is still open (the async handle, leaked wrappers), then let
  // the close callbacks run before the loop is torn down.
  uv_walk(
      &loop_,
      [](uv_handle_t* handle, void*) {
        if (!uv_is_closing(handle)) uv_close(handle, nullptr);
      },
      nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  int rc = uv_loop_close(&loop_);
  if (rc != 0) spdlog::error("uv_loop_close: {}", uv_strerror(rc));
}

void Loop::run() {
  {
    // Work posted before run() keeps the loop alive until it has run.
    std::lock_guard<std::mutex> lock(mutex_);
    if (!posted_.empty()) uv_ref(reinterpret_cast<uv_handle_t*>(&async_));
  }
  uv_run(&loop_, UV_RUN_DEFAULT);
}

void Loop::stop() { uv_stop(&loop_); }

void Loop::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    posted_.push_back(std::move(fn));
  }
  uv_async_send(&async_);
}

double Loop::wallSeconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

void Loop::onAsync(uv_async_t* handle) {
  auto* self = static_cast<Loop*>(handle->data);
  uv_unref(reinterpret_cast<uv_handle_t*>(handle));
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(self->mutex_);
    batch.swap(self->posted_);
  }
  for (auto& fn : batch) {
    guarded("Loop::post callback", [&] {
      if (fn) fn();
    });
  }
}

// ---------------------------------------------------------------------------
// closeHandle

void closeHandle(uv_handle_t* handle, std::function<void()> onClosed) {
  if (uv_is_closing(handle)) {
    // Someone else (e.g. ~Loop) closed it already; its close callback is not ours.
    spdlog::error("closeHandle: handle is already closing");
    return;
  }
  handle->data = new CloseContext{std::move(onClosed)};
  uv_close(handle, &onHandleClosed);
}

// ---------------------------------------------------------------------------
// Timer

namespace {

class UvTimer final : public TimerBackend {
 public:
  explicit UvTimer(Loop& loop) : state_(new State) {
    int rc = uv_timer_init(loop.raw(), &state_->handle);
    if (rc != 0) {
      delete state_;
      throw std::runtime_error(std::string("uv_timer_init: ") + uv_strerror(rc));
    }
    state_->handle.data = state_;
  }

  ~UvTimer() override {
    uv_timer_stop(&state_->handle);
    State* state = state_;
    closeHandle(reinterpret_cast<uv_handle_t*>(&state->handle), [state] { delete state; });
  }

  void start(Duration delay, std::function<void()> fn, Duration repeat) override {
    state_->fn = std::make_shared<std::function<void()>>(std::move(fn));
    int rc = uv_timer_start(&state_->handle, &State::onTimer, toMillis(delay), toMillis(repeat));
    if (rc != 0) spdlog::error("uv_timer_start: {}", uv_strerror(rc));
  }

  void stop() override { uv_timer_stop(&state_->handle); }

  bool active() const override { return uv_is_active(reinterpret_cast<const uv_handle_t*>(&state_->handle)) != 0; }

 private:
  struct State {
    uv_timer_t handle{};
    // Shared so a callback that restarts or destroys its timer keeps running
    // on a live function object.
    std::shared_ptr<std::function<void()>> fn;

    static void onTimer(uv_timer_t* handle) {
      auto* state = static_cast<State*>(handle->data);
      std::shared_ptr<std::function<void()>> fn = state->fn;
      // `state` stays allocated until its close callback, but the callback may
      // destroy the timer; only the local `fn` is used from here on.
      guarded("Timer callback", [&] {
        if (fn && *fn) (*fn)();
      });
    }
  };

  State* state_;  // owned; freed after uv_close completes
};

class LoopTime final : public TimeSource {
 public:
  explicit LoopTime(Loop& loop) : loop_(loop) {}
  double now() const override {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
  std::unique_ptr<TimerBackend> newTimer() override { return std::make_unique<UvTimer>(loop_); }

 private:
  Loop& loop_;
};

std::unique_ptr<TimeSource> makeLoopTime(Loop& loop) { return std::make_unique<LoopTime>(loop); }

}  // namespace

Timer::Timer(Loop& loop) : Timer(loop.time()) {}

// ---------------------------------------------------------------------------
// EndOfTurn

struct EndOfTurn::State {
  uv_prepare_t handle{};
  std::shared_ptr<std::function<void()>> fn;
  bool armed = false;

  static void onPrepare(uv_prepare_t* handle) {
    auto* state = static_cast<State*>(handle->data);
    state->armed = false;
    std::shared_ptr<std::function<void()>> fn = state->fn;
    // The callback may destroy the EndOfTurn: `state` lives until its close
    // callback, so reading it after is safe, and a stopped handle stays so.
    guarded("EndOfTurn callback", [&] {
      if (fn && *fn) (*fn)();
    });
    if (!state->armed) uv_prepare_stop(handle);
  }
};

EndOfTurn::EndOfTurn(Loop& loop, std::function<void()> fn) : state_(new State) {
  state_->fn = std::make_shared<std::function<void()>>(std::move(fn));
  int rc = uv_prepare_init(loop.raw(), &state_->handle);
  if (rc != 0) {
    delete state_;
    throw std::runtime_error(std::string("uv_prepare_init: ") + uv_strerror(rc));
  }
  state_->handle.data = state_;
}

EndOfTurn::~EndOfTurn() {
  uv_prepare_stop(&state_->handle);
  State* state = state_;
  state_ = nullptr;
  state->armed = true;  // a callback running now must not touch the handle's queue again
  closeHandle(reinterpret_cast<uv_handle_t*>(&state->handle), [state] { delete state; });
}

void EndOfTurn::arm() {
  if (state_->armed) return;
  state_->armed = true;
  uv_prepare_start(&state_->handle, &State::onPrepare);
}

bool EndOfTurn::armed() const { return state_->armed; }

// ---------------------------------------------------------------------------
// SignalWatcher

struct SignalWatcher::State {
  uv_signal_t handle{};
  std::shared_ptr<std::function<void()>> fn;

  static void onSignal(uv_signal_t* handle, int) {
    auto* state = static_cast<State*>(handle->data);
    std::shared_ptr<std::function<void()>> fn = state->fn;
    guarded("SignalWatcher callback", [&] {
      if (fn && *fn) (*fn)();
    });
  }
};

SignalWatcher::SignalWatcher(Loop& loop, int signum, std::function<void()> fn)
    : state_(new State) {
  state_->fn = std::make_shared<std::function<void()>>(std::move(fn));
  int rc = uv_signal_init(loop.raw(), &state_->handle);
  if (rc != 0) {
    delete state_;
    throw std::runtime_error(std::string("uv_signal_init: ") + uv_strerror(rc));
  }
  state_->handle.data = state_;
  rc = uv_signal_start(&state_->handle, &State::onSignal, signum);
  if (rc != 0) {
    State* state = state_;
    closeHandle(reinterpret_cast<uv_handle_t*>(&state->handle), [state] { delete state; });
    throw std::runtime_error(std::string("uv_signal_start: ") + uv_strerror(rc));
  }
}

SignalWatcher::~SignalWatcher() {
  uv_signal_stop(&state_->handle);
  State* state = state_;
  state_ = nullptr;
  closeHandle(reinterpret_cast<uv_handle_t*>(&state->handle), [state] { delete state; });
}

}  // namespace clusternodes
