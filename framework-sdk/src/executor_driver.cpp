// The executor driver: a thread running a libuv loop with an ExecutorSession
// (common/executor_session.hpp, shared with the built-in executors) to the
// agent that started the executor. Public calls from any thread are posted to
// that loop.
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <set>
#include <thread>

#include "clusternodes/executor.hpp"
#include "common/executor_session.hpp"
#include "common/loop.hpp"
#include "common/transport.hpp"
#include "common/wire.hpp"

namespace clusternodes {
namespace {

using std::chrono::milliseconds;
using wire::text;

// How long stop() waits for the agent to have every status update.
constexpr auto kFlushTimeout = std::chrono::seconds(5);

std::string variable(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

class Driver final : public ExecutorDriver {
 public:
  explicit Driver(Executor* executor) : executor_(executor) {}

  ~Driver() override {
    bool finished = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (status_ == DriverStatus::kRunning) status_ = DriverStatus::kStopped;
      finished = finished_;
    }
    if (thread_.joinable()) {
      if (std::this_thread::get_id() == thread_.get_id()) {
        thread_.detach();
        return;
      }
      if (!finished) loop_->post([this] { end(); });
      thread_.join();
    }
  }

  DriverStatus start() override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (status_ != DriverStatus::kNotStarted) return status_;
    endpoint_ = variable("CLUSTERNODES_AGENT_ENDPOINT");
    frameworkId_.value = variable("CLUSTERNODES_FRAMEWORK_ID");
    executorId_.value = variable("CLUSTERNODES_EXECUTOR_ID");
    for (const auto& [name, value] : {std::pair{"CLUSTERNODES_AGENT_ENDPOINT", endpoint_},
                                      {"CLUSTERNODES_FRAMEWORK_ID", frameworkId_.value},
                                      {"CLUSTERNODES_EXECUTOR_ID", executorId_.value}}) {
      if (value.empty()) {
        spdlog::error("executor driver: {} is not set: executors are started by an agent, for a task that names them",
                      name);
        status_ = DriverStatus::kAborted;
        return status_;
      }
    }
    agentPid_ = std::atoi(variable("CLUSTERNODES_AGENT_PID").c_str());
    if (auto timeout = std::atoll(variable("CLUSTERNODES_RECOVERY_TIMEOUT_MS").c_str()); timeout > 0) {
      recoveryTimeout_ = milliseconds(timeout);
    }
    try {
      loop_ = std::make_unique<Loop>();
      context_ = std::make_unique<zmq::context_t>(1);
    } catch (const std::exception& e) {
      spdlog::error("executor driver: {}", e.what());
      status_ = DriverStatus::kAborted;
      return status_;
    }
    status_ = DriverStatus::kRunning;
    thread_ = std::thread([this] {
      begin();
      loop_->run();
      std::lock_guard<std::mutex> lock(mutex_);
      finished_ = true;
      if (status_ == DriverStatus::kRunning) status_ = DriverStatus::kAborted;
      done_.notify_all();
    });
    return status_;
  }

  DriverStatus stop() override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (status_ != DriverStatus::kRunning) return status_;
    status_ = DriverStatus::kStopped;
    loop_->post([this] { flushAndEnd(); });
    return status_;
  }

  DriverStatus abort() override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (status_ != DriverStatus::kRunning) return status_;
    status_ = DriverStatus::kAborted;
    loop_->post([this] { end(); });
    return status_;
  }

  DriverStatus join() override {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (status_ == DriverStatus::kNotStarted) return status_;
      done_.wait(lock, [this] { return finished_ || !thread_.joinable(); });
    }
    if (thread_.joinable() && std::this_thread::get_id() != thread_.get_id()) thread_.join();
    std::lock_guard<std::mutex> lock(mutex_);
    return status_;
  }

  DriverStatus run() override {
    auto status = start();
    return status == DriverStatus::kRunning ? join() : status;
  }

  DriverStatus sendStatusUpdate(const TaskStatus& status) override {
    return call([this, status] {
      TaskStatus update = status;
      update.agentId = agentId_;
      session_->sendUpdate(std::move(update));
    });
  }

  DriverStatus sendFrameworkMessage(const std::string& data) override {
    return call([this, data] {
      session_->sendUnreliable(
          wire::encodeFrameworkMessage(frameworkId_.value, executorId_.value, "", wire::data(data)));
    });
  }

 private:
  // Runs `fn` on the loop thread while the driver runs; a stopping driver
  // still sends its last status updates.
  DriverStatus call(std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (status_ != DriverStatus::kRunning && !(status_ == DriverStatus::kStopped && !finished_)) return status_;
    loop_->post([this, fn = std::move(fn)] {
      if (!session_) return;
      try {
        fn();
      } catch (const std::exception& e) {
        spdlog::error("executor driver: {}", e.what());
      }
    });
    return status_;
  }

  template <typename Fn>
  void invoke(Fn&& fn) {
    try {
      fn();
    } catch (const std::exception& e) {
      spdlog::error("executor callback threw: {}", e.what());
    } catch (...) {
      spdlog::error("executor callback threw");
    }
  }

  bool running() {
    std::lock_guard<std::mutex> lock(mutex_);
    return status_ == DriverStatus::kRunning;
  }

  // ---- loop thread

  void begin() {
    ExecutorSessionOptions options;
    options.agentEndpoint = endpoint_;
    options.frameworkId = frameworkId_;
    options.executorId = executorId_;
    options.agentPid = agentPid_;
    options.recoveryTimeout = recoveryTimeout_;
    ExecutorSessionEvents events;
    events.onMessage = [this](const wire::Envelope::Reader& envelope) { dispatch(envelope); };
    events.onAgentGone = [this] {
      if (running()) invoke([&] { executor_->disconnected(this); });
    };
    events.onRecoveryTimeout = [this] { shutdown("the agent did not come back"); };
    events.onAllAcknowledged = [this] {
      // Not from inside the session's own call: end() destroys it.
      if (flushing_) loop_->post([this] { end(); });
    };
    session_ = std::make_unique<ExecutorSession>(
        loop_->time(), std::make_unique<ZmqSocket>(*loop_, *context_, ZmqSocket::Kind::kDealer), std::move(options),
        std::move(events));
    flushTimer_ = std::make_unique<Timer>(*loop_);
    if (auto started = session_->start(); !started) {
      spdlog::error("executor driver: {}", started.error().message);
      invoke([&] { executor_->error(this, started.error().message); });
      end();
    }
  }

  void end() {
    if (!session_) return;
    flushTimer_.reset();
    session_.reset();
    loop_->stop();
  }

  void flushAndEnd() {
    if (!session_) return;
    if (session_->unacknowledged() == 0) return end();
    flushing_ = true;
    flushTimer_->start(kFlushTimeout, [this] {
      spdlog::warn("executor driver: stopping with {} status update(s) the agent has not confirmed",
                   session_->unacknowledged());
      end();
    });
  }

  void dispatch(const wire::Envelope::Reader& envelope) {
    switch (envelope.which()) {
      case wire::Envelope::EXECUTOR_REGISTERED: return onRegistered(envelope.getExecutorRegistered());
      case wire::Envelope::RUN_TASK: {
        TaskInfo task = wire::fromWire(envelope.getRunTask().getTask());
        // An agent that restarted sends again what it cannot tell was had.
        if (!launched_.insert(task.taskId).second || !running()) return;
        invoke([&] { executor_->launchTask(this, task); });
        return;
      }
      case wire::Envelope::KILL_TASK: {
        TaskID taskId{text(envelope.getKillTask().getTaskId())};
        if (running()) invoke([&] { executor_->killTask(this, taskId); });
        return;
      }
      case wire::Envelope::FRAMEWORK_MESSAGE: {
        std::string data = wire::bytes(envelope.getFrameworkMessage().getData());
        if (running()) invoke([&] { executor_->frameworkMessage(this, data); });
        return;
      }
      case wire::Envelope::SHUTDOWN_EXECUTOR: return shutdown("the agent asked");
      default:
        throw wire::MalformedMessage(std::string("unexpected ") + wire::name(envelope.which()));
    }
  }

  void onRegistered(wire::ExecutorRegistered::Reader message) {
    ExecutorAgentInfo agent;
    agent.id.value = text(message.getAgentId());
    agent.hostname = text(message.getHostname());
    agent.httpUrl = text(message.getHttpUrl());
    agentId_ = agent.id;
    bool first = !session_->isRegistered();
    bool back = session_->registered(message.getAgentPid());
    if (first) {
      ExecutorInfo info = wire::fromWire(message.getExecutor());
      FrameworkInfo framework = wire::fromWire(message.getFrameworkInfo());
      if (running()) invoke([&] { executor_->registered(this, info, frameworkId_, framework, agent); });
    } else if (back) {
      if (running()) invoke([&] { executor_->reregistered(this, agent); });
    }
  }

  void shutdown(const std::string& why) {
    if (!running()) return;
    spdlog::info("executor driver: shutting down: {}", why);
    invoke([&] { executor_->shutdown(this); });
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (status_ == DriverStatus::kRunning) status_ = DriverStatus::kStopped;
    }
    // The updates the shutdown made (tasks killed) go out first.
    loop_->post([this] { flushAndEnd(); });
  }

  Executor* executor_;

  std::mutex mutex_;
  std::condition_variable done_;
  DriverStatus status_ = DriverStatus::kNotStarted;
  bool finished_ = false;  // the loop thread has ended
  std::unique_ptr<Loop> loop_;
  std::unique_ptr<zmq::context_t> context_;
  std::thread thread_;

  // Set by start().
  std::string endpoint_;
  FrameworkID frameworkId_;
  ExecutorID executorId_;
  std::chrono::nanoseconds recoveryTimeout_ = std::chrono::minutes(15);

  // Loop thread only.
  std::unique_ptr<ExecutorSession> session_;
  std::unique_ptr<Timer> flushTimer_;
  pid_t agentPid_ = 0;
  bool flushing_ = false;
  AgentID agentId_;
  std::set<TaskID> launched_;
};

}  // namespace

std::unique_ptr<ExecutorDriver> ExecutorDriver::create(Executor* executor) { return std::make_unique<Driver>(executor); }

}  // namespace clusternodes
