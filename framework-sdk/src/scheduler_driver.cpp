// The scheduler driver: a thread running a libuv loop with a DEALER socket to
// the master. Public calls from any thread are posted to that loop.
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "clusternodes/scheduler.hpp"
#include "common/curve.hpp"
#include "common/leader.hpp"
#include "common/loop.hpp"
#include "common/transport.hpp"
#include "common/users.hpp"
#include "common/wire.hpp"

namespace clusternodes {
namespace {

using std::chrono::milliseconds;

using wire::text;

// Remembers the last uuids seen, so a re-sent update reaches the scheduler
// once, and which of them the scheduler acknowledged.
class SeenUuids {
 public:
  bool insert(const std::string& uuid) {
    if (!acked_.emplace(uuid, false).second) return false;
    order_.push_back(uuid);
    if (order_.size() > kCapacity) {
      acked_.erase(order_.front());
      order_.pop_front();
    }
    return true;
  }
  void markAcknowledged(const std::string& uuid) {
    if (auto it = acked_.find(uuid); it != acked_.end()) it->second = true;
  }
  bool acknowledged(const std::string& uuid) const {
    auto it = acked_.find(uuid);
    return it != acked_.end() && it->second;
  }

 private:
  static constexpr size_t kCapacity = 100000;
  std::unordered_map<std::string, bool> acked_;
  std::deque<std::string> order_;
};

class Driver final : public SchedulerDriver {
 public:
  Driver(Scheduler* scheduler, FrameworkInfo info, SchedulerDriverOptions options)
      : scheduler_(scheduler), info_(std::move(info)), options_(std::move(options)) {
    if (info_.role.empty()) info_.role = kDefaultRole;
    // As Mesos's drivers do: tasks run as the scheduler's own user unless
    // it names another.
    if (info_.user.empty()) {
      if (auto self = currentUser()) info_.user = self->name;
    }
    frameworkId_ = info_.id;
  }

  ~Driver() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (status_ == DriverStatus::kRunning) status_ = DriverStatus::kStopped;
    }
    shutdownLoop();
  }

  DriverStatus start() override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (status_ != DriverStatus::kNotStarted) return status_;
    if (options_.master.find(':') == std::string::npos) {
      status_ = DriverStatus::kAborted;
      spdlog::error("scheduler driver: master '{}' is not HOST:PORT", options_.master);
      return status_;
    }
    try {
      loop_ = std::make_unique<Loop>();
      context_ = std::make_unique<zmq::context_t>(1);
    } catch (const std::exception& e) {
      status_ = DriverStatus::kAborted;
      spdlog::error("scheduler driver: {}", e.what());
      return status_;
    }
    status_ = DriverStatus::kRunning;
    // begin() opens the socket before the loop runs, so the loop has a live
    // handle from its first turn.
    thread_ = std::thread([this] {
      begin();
      loop_->run();
    });
    return status_;
  }

  DriverStatus stop(bool failover) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (status_ != DriverStatus::kRunning) return status_;
    status_ = DriverStatus::kStopped;
    loop_->post([this, failover] {
      if (!failover && !frameworkId_.empty() && socket_) {
        capnp::MallocMessageBuilder message;
        message.initRoot<wire::Envelope>().initTeardown().setFrameworkId(frameworkId_.value);
        socket_->send(wire::encode(message));
        socket_->setLinger(milliseconds(2000));  // let the teardown leave before the socket closes
      }
      end();
    });
    stopped_.notify_all();
    return status_;
  }

  DriverStatus abort() override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (status_ != DriverStatus::kRunning) return status_;
    status_ = DriverStatus::kAborted;
    loop_->post([this] { end(); });
    stopped_.notify_all();
    return status_;
  }

  DriverStatus join() override {
    std::unique_lock<std::mutex> lock(mutex_);
    stopped_.wait(lock, [this] { return status_ != DriverStatus::kRunning; });
    auto status = status_;
    lock.unlock();
    shutdownLoop();
    return status;
  }

  DriverStatus run() override {
    auto status = start();
    return status == DriverStatus::kRunning ? join() : status;
  }

  DriverStatus launchTasks(const std::vector<OfferID>& offerIds, const std::vector<TaskInfo>& tasks,
                           const Filters& filters) override {
    return acceptOffers(offerIds, {Operation{Operation::Type::kLaunch, tasks, {}}}, filters);
  }

  DriverStatus acceptOffers(const std::vector<OfferID>& offerIds, const std::vector<Operation>& operations,
                            const Filters& filters) override {
    return call([=, this] {
      if (!subscribed_) {
        // Offers do not outlive the subscription they came with: the tasks
        // never reach a master. Say so now rather than leave the scheduler to
        // find out by reconciling.
        for (const auto& op : operations) {
          for (const auto& task : op.tasks) {
            TaskStatus dropped;
            dropped.taskId = task.taskId;
            dropped.agentId = task.agentId;
            dropped.state = TaskState::kDropped;
            dropped.reason = TaskReason::kInvalidOffers;
            dropped.message = "not launched: the driver is not subscribed to a master (its offers are gone)";
            dropped.source = TaskSource::kMaster;
            invoke([&] { scheduler_->statusUpdate(this, dropped); });
          }
        }
        return;
      }
      capnp::MallocMessageBuilder message;
      auto accept = message.initRoot<wire::Envelope>().initAccept();
      accept.setFrameworkId(frameworkId_.value);
      auto ids = accept.initOfferIds(static_cast<unsigned>(offerIds.size()));
      for (unsigned i = 0; i < offerIds.size(); ++i) ids.set(i, offerIds[i].value);
      auto ops = accept.initOperations(static_cast<unsigned>(operations.size()));
      for (unsigned i = 0; i < operations.size(); ++i) {
        const auto& op = operations[i];
        switch (op.type) {
          case Operation::Type::kLaunch: {
            auto launch = ops[i].initLaunch(static_cast<unsigned>(op.tasks.size()));
            for (unsigned j = 0; j < op.tasks.size(); ++j) wire::toWire(op.tasks[j], launch[j]);
            break;
          }
          case Operation::Type::kReserve:
            wire::setResources(op.resources, [&](unsigned n) { return ops[i].initReserve(n); });
            break;
          case Operation::Type::kUnreserve:
            wire::setResources(op.resources, [&](unsigned n) { return ops[i].initUnreserve(n); });
            break;
        }
      }
      accept.setRefuseSeconds(filters.refuseSeconds);
      send(message);
    });
  }

  DriverStatus declineOffer(const OfferID& offerId, const Filters& filters) override {
    return call([=, this] {
      capnp::MallocMessageBuilder message;
      auto decline = message.initRoot<wire::Envelope>().initDecline();
      decline.setFrameworkId(frameworkId_.value);
      decline.initOfferIds(1).set(0, offerId.value);
      decline.setRefuseSeconds(filters.refuseSeconds);
      send(message);
    });
  }

  DriverStatus reviveOffers() override {
    return call([this] {
      suppressed_ = false;
      capnp::MallocMessageBuilder message;
      message.initRoot<wire::Envelope>().initRevive().setFrameworkId(frameworkId_.value);
      send(message);
    });
  }

  DriverStatus suppressOffers() override {
    return call([this] {
      suppressed_ = true;
      capnp::MallocMessageBuilder message;
      message.initRoot<wire::Envelope>().initSuppress().setFrameworkId(frameworkId_.value);
      send(message);
    });
  }

  DriverStatus killTask(const TaskID& taskId) override {
    return call([=, this] {
      capnp::MallocMessageBuilder message;
      auto kill = message.initRoot<wire::Envelope>().initKill();
      kill.setFrameworkId(frameworkId_.value);
      kill.setTaskId(taskId.value);
      kill.setKillGracePeriodMs(-1);
      send(message);
    });
  }

  DriverStatus acknowledgeStatusUpdate(const TaskStatus& status) override {
    return call([=, this] {
      seen_.markAcknowledged(status.uuid);
      acknowledge(status);
    });
  }

  DriverStatus reconcileTasks(const std::vector<TaskStatus>& statuses) override {
    return call([=, this] {
      capnp::MallocMessageBuilder message;
      auto reconcile = message.initRoot<wire::Envelope>().initReconcile();
      reconcile.setFrameworkId(frameworkId_.value);
      auto tasks = reconcile.initTasks(static_cast<unsigned>(statuses.size()));
      for (unsigned i = 0; i < statuses.size(); ++i) {
        tasks[i].setTaskId(statuses[i].taskId.value);
        tasks[i].setAgentId(statuses[i].agentId.value);
      }
      send(message);
    });
  }

  DriverStatus sendFrameworkMessage(const ExecutorID& executorId, const AgentID& agentId,
                                    const std::string& data) override {
    return call([=, this] {
      if (socket_) socket_->send(wire::encodeFrameworkMessage(frameworkId_.value, executorId.value, agentId.value,
                                                              wire::data(data)));
    });
  }

 private:
  // Runs `fn` on the loop thread if the driver is running.
  DriverStatus call(std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (status_ != DriverStatus::kRunning) return status_;
    loop_->post([this, fn = std::move(fn)] {
      if (!running()) return;
      try {
        fn();
      } catch (const std::exception& e) {
        spdlog::error("scheduler driver: {}", e.what());
      }
    });
    return status_;
  }

  bool running() {
    std::lock_guard<std::mutex> lock(mutex_);
    return status_ == DriverStatus::kRunning;
  }

  void shutdownLoop() {
    if (thread_.joinable()) {
      if (std::this_thread::get_id() == thread_.get_id()) {
        thread_.detach();  // destroyed from a callback: let the thread end by itself
        return;
      }
      loop_->post([this] { end(); });
      thread_.join();
    }
  }

  // ---- loop thread

  void begin() {
    socket_ = std::make_unique<ZmqSocket>(*loop_, *context_, ZmqSocket::Kind::kDealer, "framework-" + randomUuid());
    socket_->onMessage([this](std::string_view, std::string_view bytes, std::string_view) { onMessage(bytes); });
    if (auto secured = secureLink(); !secured) return fail(secured.error().message);
    // A master that restarted is subscribed to again at once.
    socket_->onConnectionChange([this](bool connected) {
      if (connected) connectionLost("the connection to the master was made again");
    });
    subscribeTimer_ = std::make_unique<Timer>(*loop_);
    watchTimer_ = std::make_unique<Timer>(*loop_);
    if (isZkUrl(options_.master)) {
      auto url = parseZkUrl(options_.master);
      if (!url) return fail(url.error().message);
      // Subscribes once the election names a leader, and again whenever
      // another master leads.
      detector_ = std::make_unique<LeaderDetector>(
          *loop_, *url, kDefaultZkSessionTimeout, [this](const std::optional<LeaderInfo>& leader) {
            if (leader) follow(leader->address(), "master " + leader->id + " leads");
          });
      if (auto started = detector_->start(); !started) return fail(started.error().message);
      return;
    }
    masterAddress_ = options_.master;
    if (auto connected = socket_->connect("tcp://" + masterAddress_); !connected) {
      fail(connected.error().message);
      return;
    }
    subscribe();
  }

  // keyFile and masterKeyFile: CURVE. Either way a handshake the master
  // refuses ends the driver with an error() saying why, rather than
  // retrying in silence.
  Result<void> secureLink() {
    std::string keyFile = options_.keyFile, masterKeyFile = options_.masterKeyFile;
    if (keyFile.empty() && masterKeyFile.empty()) {
      const char* key = std::getenv("CLUSTERNODES_KEY");
      const char* masterKey = std::getenv("CLUSTERNODES_MASTER_KEY");
      keyFile = key != nullptr ? key : "";
      masterKeyFile = masterKey != nullptr ? masterKey : "";
    }
    bool curve = !keyFile.empty();
    if (curve != !masterKeyFile.empty()) {
      return invalid("keyFile and masterKeyFile (or CLUSTERNODES_KEY and CLUSTERNODES_MASTER_KEY) go together");
    }
    std::string principal;
    if (curve) {
      auto keys = readCurveClientKeys(keyFile, "keyFile", masterKeyFile, "masterKeyFile");
      if (!keys) return invalid(keys.error().message);
      if (auto used = socket_->useCurveClient(keys->own, keys->serverPublicKey); !used) return used;
      principal = keys->own.principal;
    }
    socket_->onHandshakeFailure([this, curve, principal](ZmqSocket::HandshakeFailure failure, int) {
      using Failure = ZmqSocket::HandshakeFailure;
      std::string at = "the master at " + masterAddress_;
      std::string why;
      if (!curve) {
        // Our side speaks plain ZMTP; a master that fails it wants CURVE.
        why = at + " requires CURVE: set keyFile and masterKeyFile in SchedulerDriverOptions";
      } else if (failure == Failure::kRefused) {
        why = at + " refused this framework's key ('" + principal + "'): add " + principal +
              ".pub to its credentials file, under [frameworks]";
      } else if (failure == Failure::kMechanism) {
        why = at + " does not use CURVE: drop keyFile and masterKeyFile, or start it with --key";
      } else if (!heardFromMaster_ && ++failedHandshakes_ >= 3) {
        why = "cannot complete the CURVE handshake with " + at + " (" + ZmqSocket::describe(failure) +
              "): is masterKeyFile the master's public key?";
      }
      // Not from inside the socket's own event handling: fail() closes it.
      if (!why.empty()) loop_->post([this, why] { fail(why); });
    });
    return {};
  }

  // Connects to the master at `address` in place of the one followed so
  // far, and subscribes to it (again).
  void follow(const std::string& address, const std::string& why) {
    if (address == masterAddress_) return;
    spdlog::info("scheduler driver: following the master at {}: {}", address, why);
    if (!masterAddress_.empty()) (void)socket_->disconnect("tcp://" + masterAddress_);
    masterAddress_ = address;
    if (auto connected = socket_->connect("tcp://" + address); !connected) return fail(connected.error().message);
    lastSubscribe_ = {};
    connectionLost("another master leads");
  }

  void end() {
    detector_.reset();
    subscribeTimer_.reset();
    watchTimer_.reset();
    socket_.reset();
    loop_->stop();
  }

  void fail(const std::string& message) {
    spdlog::error("scheduler driver: {}", message);
    invoke([&] { scheduler_->error(this, message); });
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (status_ == DriverStatus::kRunning) status_ = DriverStatus::kAborted;
    }
    stopped_.notify_all();
    end();
  }

  void send(capnp::MallocMessageBuilder& message) {
    if (socket_) socket_->send(wire::encode(message));
  }

  // Calls into user code; nothing it throws escapes into the loop.
  template <typename Fn>
  void invoke(Fn&& fn) {
    try {
      fn();
    } catch (const std::exception& e) {
      spdlog::error("scheduler callback threw: {}", e.what());
    } catch (...) {
      spdlog::error("scheduler callback threw");
    }
  }

  void subscribe() {
    if (!running()) return;
    FrameworkInfo info = info_;
    info.id = frameworkId_;
    capnp::MallocMessageBuilder message;
    auto request = message.initRoot<wire::Envelope>().initSubscribe();
    wire::toWire(info, request.initInfo());
    // A subscription sets which roles are suppressed: one made again (a new
    // connection, a new master) keeps what suppressOffers() asked for.
    if (suppressed_) {
      auto roles = subscribedRoles(info);
      auto out = request.initSuppressedRoles(static_cast<unsigned>(roles.size()));
      for (unsigned i = 0; i < roles.size(); ++i) out.set(i, roles[i]);
    }
    send(message);
    lastSubscribe_ = std::chrono::steady_clock::now();
    subscribeTimer_->start(backoff_, [this] {
      if (!subscribed_) subscribe();
    });
    backoff_ = std::min(backoff_ * 2, std::chrono::nanoseconds(std::chrono::seconds(4)));
  }

  void connectionLost(const std::string& why) {
    // Every call the master cannot place asks for a subscription: one is
    // enough while it is on its way.
    if (!subscribed_ && std::chrono::steady_clock::now() - lastSubscribe_ < milliseconds(100)) return;
    spdlog::warn("scheduler driver: re-subscribing: {}", why);
    if (subscribed_) {
      subscribed_ = false;
      invoke([&] { scheduler_->disconnected(this); });
    }
    backoff_ = milliseconds(250);
    subscribe();
  }

  void onMessage(std::string_view bytes) {
    if (!running()) return;
    auto decoded = wire::decode(bytes);
    if (!decoded) {
      spdlog::warn("scheduler driver: dropped a malformed message: {}", decoded.error().message);
      return;
    }
    lastHeard_ = std::chrono::steady_clock::now();
    heardFromMaster_ = true;
    auto envelope = (*decoded)->envelope();
    wire::dispatchSafely([&] { dispatch(envelope); },
                         [](const std::string& reason) { spdlog::warn("scheduler driver: dropped: {}", reason); });
  }

  void dispatch(const wire::Envelope::Reader& envelope) {
    switch (envelope.which()) {
      case wire::Envelope::SUBSCRIBED: return onSubscribed(envelope.getSubscribed());
      case wire::Envelope::RESOURCE_OFFERS: {
        std::vector<Offer> offers;
        for (auto o : envelope.getResourceOffers().getOffers()) offers.push_back(wire::fromWire(o));
        if (subscribed_) invoke([&] { scheduler_->resourceOffers(this, offers); });
        return;
      }
      case wire::Envelope::RESCIND_OFFER: {
        OfferID id{text(envelope.getRescindOffer().getOfferId())};
        invoke([&] { scheduler_->offerRescinded(this, id); });
        return;
      }
      case wire::Envelope::STATUS_UPDATE: return onStatus(wire::fromWire(envelope.getStatusUpdate().getStatus()));
      case wire::Envelope::AGENT_LOST: {
        AgentID id{text(envelope.getAgentLost().getAgentId())};
        invoke([&] { scheduler_->agentLost(this, id); });
        return;
      }
      case wire::Envelope::FRAMEWORK_MESSAGE: {
        auto message = envelope.getFrameworkMessage();
        ExecutorID executorId{text(message.getExecutorId())};
        AgentID agentId{text(message.getAgentId())};
        std::string data = wire::bytes(message.getData());
        invoke([&] { scheduler_->frameworkMessage(this, executorId, agentId, data); });
        return;
      }
      case wire::Envelope::EXECUTOR_EXITED: {
        auto message = envelope.getExecutorExited();
        ExecutorID executorId{text(message.getExecutorId())};
        AgentID agentId{text(message.getAgentId())};
        int status = message.getStatus();
        invoke([&] { scheduler_->executorLost(this, executorId, agentId, status); });
        return;
      }
      case wire::Envelope::HEARTBEAT: {
        capnp::MallocMessageBuilder reply;
        reply.initRoot<wire::Envelope>().initHeartbeat().setFrameworkId(frameworkId_.value);
        send(reply);
        return;
      }
      case wire::Envelope::REREGISTER:
        return connectionLost("the master asked: " + text(envelope.getReregister().getReason()));
      case wire::Envelope::NOT_LEADER: {
        // A standby named the leader; with zk:// the election is followed instead.
        std::string leader = text(envelope.getNotLeader().getLeader());
        if (detector_ || leader.empty()) return;
        return follow(leader, "the master at " + masterAddress_ + " stands by");
      }
      case wire::Envelope::OPERATION_REFUSED: {
        auto refused = envelope.getOperationRefused();
        std::string operation = text(refused.getOperation());
        std::string reason = wire::shownText(refused.getReason());
        spdlog::warn("scheduler driver: the master refused {}: {}", operation, reason);
        invoke([&] { scheduler_->operationRefused(this, operation, reason); });
        return;
      }
      case wire::Envelope::FRAMEWORK_ERROR:
        return fail("the master refused the framework: " + text(envelope.getFrameworkError().getMessage()));
      default:
        throw wire::MalformedMessage(std::string("unexpected ") + wire::name(envelope.which()));
    }
  }

  void onSubscribed(wire::Subscribed::Reader message) {
    FrameworkID id{text(message.getFrameworkId())};
    if (id.empty()) throw wire::MalformedMessage("subscription reply without a framework id");
    if (subscribed_ && id == frameworkId_) return;  // a reply to a retried subscription
    // This driver's first subscription is a registration even when it takes
    // over a framework id (a failed-over scheduler); later ones re-register.
    bool again = everSubscribed_;
    everSubscribed_ = true;
    frameworkId_ = id;
    subscribed_ = true;
    subscribeTimer_->stop();
    backoff_ = milliseconds(250);
    heartbeat_ = milliseconds(std::max<int64_t>(10, message.getHeartbeatIntervalMs()));
    lastHeard_ = std::chrono::steady_clock::now();
    watchTimer_->start(
        heartbeat_,
        [this] {
          auto silent = std::chrono::steady_clock::now() - lastHeard_;
          if (subscribed_ && silent > heartbeat_ * 6) connectionLost("the master has been silent");
        },
        heartbeat_);
    MasterInfo master{masterAddress_};
    if (again) {
      invoke([&] { scheduler_->reregistered(this, master); });
    } else {
      invoke([&] { scheduler_->registered(this, frameworkId_, master); });
    }
  }

  void onStatus(const TaskStatus& status) {
    if (!status.uuid.empty() && !seen_.insert(status.uuid)) {
      // A re-sent update: the scheduler saw it already. Its acknowledgement
      // was lost on the way (the master or the agent restarted): send it
      // again; one the scheduler has not made yet is still to come.
      if (options_.implicitAcknowledgements || seen_.acknowledged(status.uuid)) acknowledge(status);
      return;
    }
    invoke([&] { scheduler_->statusUpdate(this, status); });
    // Even when the callback stopped the driver: the update was seen.
    if (options_.implicitAcknowledgements) acknowledge(status);
  }

  void acknowledge(const TaskStatus& status) {
    if (status.uuid.empty()) return;  // generated by the master: nothing to acknowledge
    capnp::MallocMessageBuilder message;
    auto ack = message.initRoot<wire::Envelope>().initAcknowledge();
    ack.setFrameworkId(frameworkId_.value);
    ack.setAgentId(status.agentId.value);
    ack.setTaskId(status.taskId.value);
    ack.setUuid(status.uuid);
    send(message);
  }

  Scheduler* scheduler_;
  FrameworkInfo info_;
  SchedulerDriverOptions options_;

  std::mutex mutex_;
  std::condition_variable stopped_;
  DriverStatus status_ = DriverStatus::kNotStarted;
  std::unique_ptr<Loop> loop_;
  std::unique_ptr<zmq::context_t> context_;
  std::thread thread_;

  // Loop thread only.
  std::unique_ptr<ZmqSocket> socket_;
  std::string masterAddress_;                 // HOST:PORT the socket is connected to
  bool heardFromMaster_ = false;              // a master has answered (the handshake works)
  int failedHandshakes_ = 0;                  // before the first answer
  std::unique_ptr<LeaderDetector> detector_;  // master = zk://...
  std::unique_ptr<Timer> subscribeTimer_;
  std::unique_ptr<Timer> watchTimer_;
  FrameworkID frameworkId_;  // FrameworkInfo::id at first: a failover keeps it
  bool subscribed_ = false;
  bool suppressed_ = false;  // suppressOffers() came after reviveOffers(): each subscription says so
  bool everSubscribed_ = false;
  std::chrono::nanoseconds backoff_ = milliseconds(250);
  std::chrono::nanoseconds heartbeat_ = std::chrono::seconds(1);
  std::chrono::steady_clock::time_point lastHeard_;
  std::chrono::steady_clock::time_point lastSubscribe_;
  SeenUuids seen_;
};

}  // namespace

std::unique_ptr<SchedulerDriver> SchedulerDriver::create(Scheduler* scheduler, const FrameworkInfo& info,
                                                         const SchedulerDriverOptions& options) {
  return std::make_unique<Driver>(scheduler, info, options);
}

}  // namespace clusternodes
