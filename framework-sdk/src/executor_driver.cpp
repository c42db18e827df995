// The executor driver: a thread running a libuv loop with a DEALER socket to
// the agent that started the executor. Public calls from any thread are
// posted to that loop.
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "clusternodes/executor.hpp"
#include "common/loop.hpp"
#include "common/process.hpp"
#include "common/transport.hpp"
#include "common/wire.hpp"

namespace clusternodes {
namespace {

using std::chrono::milliseconds;
using wire::text;

constexpr auto kRetryInterval = milliseconds(500);
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
      update.source = TaskSource::kExecutor;
      update.timestamp = Loop::wallSeconds();
      update.uuid = randomUuid();
      unacked_.push_back(std::move(update));
      sendPending();
    });
  }

  DriverStatus sendFrameworkMessage(const std::string& data) override {
    return call([this, data] {
      socket_->send(wire::encodeFrameworkMessage(frameworkId_.value, executorId_.value, "", wire::data(data)));
    });
  }

 private:
  // Runs `fn` on the loop thread while the driver runs; a stopping driver
  // still sends its last status updates.
  DriverStatus call(std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (status_ != DriverStatus::kRunning && !(status_ == DriverStatus::kStopped && !finished_)) return status_;
    loop_->post([this, fn = std::move(fn)] {
      if (!socket_) return;
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
    socket_ = std::make_unique<ZmqSocket>(*loop_, *context_, ZmqSocket::Kind::kDealer);
    socket_->onMessage([this](std::string_view, std::string_view bytes) { onMessage(bytes); });
    // An agent restarting drops the connection: look at once.
    socket_->onConnectionChange([this](bool) { checkAgent(); });
    registrationTimer_ = std::make_unique<Timer>(*loop_);
    retryTimer_ = std::make_unique<Timer>(*loop_);
    watchTimer_ = std::make_unique<Timer>(*loop_);
    flushTimer_ = std::make_unique<Timer>(*loop_);
    if (auto connected = socket_->connect(endpoint_); !connected) {
      spdlog::error("executor driver: {}", connected.error().message);
      invoke([&] { executor_->error(this, connected.error().message); });
      end();
      return;
    }
    if (agentPid_ > 0) agentStart_ = processStartTime(agentPid_);
    sendRegistration();
    watchTimer_->start(kRetryInterval, [this] { checkAgent(); }, kRetryInterval);
  }

  void end() {
    registrationTimer_.reset();
    retryTimer_.reset();
    watchTimer_.reset();
    flushTimer_.reset();
    socket_.reset();
    loop_->stop();
  }

  void flushAndEnd() {
    if (!socket_) return;
    if (unacked_.empty()) return end();
    flushing_ = true;
    flushTimer_->start(kFlushTimeout, [this] {
      spdlog::warn("executor driver: stopping with {} status update(s) the agent has not confirmed", unacked_.size());
      end();
    });
  }

  void send(capnp::MallocMessageBuilder& message) {
    if (socket_) socket_->send(wire::encode(message));
  }

  void sendRegistration() {
    capnp::MallocMessageBuilder message;
    auto reg = message.initRoot<wire::Envelope>().initRegisterExecutor();
    reg.setFrameworkId(frameworkId_.value);
    reg.setExecutorId(executorId_.value);
    reg.setPid(::getpid());
    send(message);
    registrationTimer_->start(kRetryInterval, [this] {
      if ((!registered_ || agentGoneSince_) && running()) sendRegistration();
    });
  }

  void sendPending() {
    if (!registered_ || agentGoneSince_) return;  // sent again once the agent is back
    for (const auto& status : unacked_) {
      capnp::MallocMessageBuilder message;
      wire::toWire(status, frameworkId_, message.initRoot<wire::Envelope>().initExecutorStatus().initStatus());
      send(message);
    }
    if (unacked_.empty()) {
      retryTimer_->stop();
    } else if (!retryTimer_->active()) {
      retryTimer_->start(kRetryInterval, [this] { sendPending(); });
    }
  }

  void onMessage(std::string_view bytes) {
    auto decoded = wire::decode(bytes);
    if (!decoded) {
      spdlog::warn("executor driver: dropped a malformed message: {}", decoded.error().message);
      return;
    }
    auto envelope = (*decoded)->envelope();
    wire::dispatchSafely([&] { dispatch(envelope); },
                         [](const std::string& reason) { spdlog::warn("executor driver: dropped: {}", reason); });
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
      case wire::Envelope::EXECUTOR_ACK: {
        std::string uuid = text(envelope.getExecutorAck().getUuid());
        for (auto it = unacked_.begin(); it != unacked_.end(); ++it) {
          if (it->uuid == uuid) {
            unacked_.erase(it);
            break;
          }
        }
        if (unacked_.empty()) {
          retryTimer_->stop();
          if (flushing_) end();
        }
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
    if (message.getAgentPid() > 0 && message.getAgentPid() != agentPid_) {
      agentPid_ = message.getAgentPid();
      agentStart_ = processStartTime(agentPid_);
    }
    bool back = agentGoneSince_.has_value();
    agentGoneSince_.reset();
    agentId_ = agent.id;
    registrationTimer_->stop();
    if (!registered_) {
      registered_ = true;
      ExecutorInfo info = wire::fromWire(message.getExecutor());
      FrameworkInfo framework = wire::fromWire(message.getFrameworkInfo());
      if (running()) invoke([&] { executor_->registered(this, info, frameworkId_, framework, agent); });
    } else if (back) {
      spdlog::info("executor driver: the agent is back; re-sending {} status update(s)", unacked_.size());
      if (running()) invoke([&] { executor_->reregistered(this, agent); });
    }
    sendPending();
  }

  void checkAgent() {
    if (agentPid_ <= 0 || !socket_) return;
    if (agentStart_ && processStartTime(agentPid_) == agentStart_) return;
    auto now = std::chrono::steady_clock::now();
    if (!agentGoneSince_) {
      agentGoneSince_ = now;
      spdlog::warn("executor driver: the agent (pid {}) is gone; waiting {} ms for it to come back", agentPid_,
                   std::chrono::duration_cast<milliseconds>(recoveryTimeout_).count());
      if (running()) invoke([&] { executor_->disconnected(this); });
      // A restarted agent listens where this one did.
      if (socket_) sendRegistration();
    }
    if (now - *agentGoneSince_ >= recoveryTimeout_) shutdown("the agent did not come back");
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
  std::unique_ptr<ZmqSocket> socket_;
  std::unique_ptr<Timer> registrationTimer_;
  std::unique_ptr<Timer> retryTimer_;
  std::unique_ptr<Timer> watchTimer_;
  std::unique_ptr<Timer> flushTimer_;
  pid_t agentPid_ = 0;
  std::optional<uint64_t> agentStart_;
  std::optional<std::chrono::steady_clock::time_point> agentGoneSince_;
  bool registered_ = false;
  bool flushing_ = false;
  AgentID agentId_;
  std::deque<TaskStatus> unacked_;
  std::set<TaskID> launched_;
};

}  // namespace

std::unique_ptr<ExecutorDriver> ExecutorDriver::create(Executor* executor) { return std::make_unique<Driver>(executor); }

}  // namespace clusternodes
