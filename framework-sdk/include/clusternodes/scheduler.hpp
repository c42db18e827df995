// The framework SDK: write a scheduler, hand it to a SchedulerDriver, and the
// driver connects to the master, registers the framework and calls you back.
//
//   class MyScheduler : public clusternodes::Scheduler {
//     void resourceOffers(SchedulerDriver* driver, const std::vector<Offer>& offers) override {
//       for (const auto& offer : offers) {
//         TaskInfo task;
//         task.name = "hello";
//         task.taskId.value = "hello-1";
//         task.agentId = offer.agentId;
//         task.resources = *Resources::parse("cpus:0.1;mem:32");
//         task.command.value = "echo hello";
//         driver->launchTasks({offer.id}, {task});
//       }
//     }
//     void statusUpdate(SchedulerDriver* driver, const TaskStatus& status) override { ... }
//   };
//
//   MyScheduler scheduler;
//   FrameworkInfo info;
//   info.name = "hello";
//   auto driver = SchedulerDriver::create(&scheduler, info, {.master = "127.0.0.1:5050"});
//   driver->run();  // returns after driver->stop()
//
// Threads: callbacks run one at a time on the driver's own thread. Every
// SchedulerDriver method is safe to call from callbacks and from any other
// thread, except join() and run(), which must not be called from a callback.
// Nothing in the SDK throws into user code; methods report through their
// DriverStatus and the error() callback.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "clusternodes/resources.hpp"
#include "clusternodes/result.hpp"
#include "clusternodes/values.hpp"

namespace clusternodes {

class SchedulerDriver;

struct MasterInfo {
  std::string address;  // HOST:PORT
};

// Callbacks. Every one has an empty default; override what you need.
class Scheduler {
 public:
  virtual ~Scheduler() = default;

  // The master registered the framework under `frameworkId`.
  virtual void registered(SchedulerDriver* driver, const FrameworkID& frameworkId, const MasterInfo& master) {}
  // The framework re-registered (after a master failover or a reconnect).
  virtual void reregistered(SchedulerDriver* driver, const MasterInfo& master) {}
  // The master is unreachable; the driver keeps trying to re-register.
  virtual void disconnected(SchedulerDriver* driver) {}
  // New offers. Each is valid until used, declined or rescinded.
  virtual void resourceOffers(SchedulerDriver* driver, const std::vector<Offer>& offers) {}
  virtual void offerRescinded(SchedulerDriver* driver, const OfferID& offerId) {}
  // A task changed state. With implicit acknowledgements (the default) the
  // driver acknowledges the update when this returns; each update reaches
  // the scheduler once, even if the agent re-sends it.
  virtual void statusUpdate(SchedulerDriver* driver, const TaskStatus& status) {}
  // Bytes an executor sent with ExecutorDriver::sendFrameworkMessage().
  virtual void frameworkMessage(SchedulerDriver* driver, const ExecutorID& executorId, const AgentID& agentId,
                                const std::string& data) {}
  // An agent was lost; its tasks' updates (TASK_LOST / TASK_UNREACHABLE) follow.
  virtual void agentLost(SchedulerDriver* driver, const AgentID& agentId) {}
  // One of the framework's executors ended (it exited, was killed, or its
  // container could not start). `status` is its exit code, or 128 + the
  // signal that killed it, or -1 when the agent could not tell. Its
  // unfinished tasks are reported TASK_FAILED (REASON_EXECUTOR_TERMINATED).
  virtual void executorLost(SchedulerDriver* driver, const ExecutorID& executorId, const AgentID& agentId,
                            int status) {}
  // The master refused an offer operation other than a launch (RESERVE,
  // UNRESERVE): nothing of it was applied; `reason` says why (e.g. the ACLs,
  // or resources the offers do not hold). A refused launch is answered by
  // a status update (TASK_ERROR, TASK_DROPPED) instead.
  virtual void operationRefused(SchedulerDriver* driver, const std::string& operation, const std::string& reason) {}
  // An unrecoverable error (e.g. the master refused the registration). The
  // driver is aborted after this returns.
  virtual void error(SchedulerDriver* driver, const std::string& message) {}
};

enum class DriverStatus { kNotStarted, kRunning, kAborted, kStopped };

// One operation of an ACCEPT.
// What acceptOffers() does with the offers' resources, in order: launch
// tasks, or turn unreserved resources into reserved ones for the offer's
// role (kReserve, `resources` written with that role: "cpus(ml):1") and back
// (kUnreserve). Reservations outlive the offer: the reserved resources are
// offered to that role only, until unreserved. An operation the offers
// cannot satisfy is dropped (the master logs why); the later ones still run.
struct Operation {
  enum class Type { kLaunch, kReserve, kUnreserve };
  Type type = Type::kLaunch;
  std::vector<TaskInfo> tasks;  // for kLaunch
  Resources resources;          // for kReserve and kUnreserve
};

struct SchedulerDriverOptions {
  // HOST:PORT of the master, or zk://HOST:PORT[,HOST:PORT...]/PATH of the
  // ZooKeeper ensemble its masters are elected through: the driver then
  // follows whichever master leads, subscribing again at each change.
  std::string master = "127.0.0.1:5050";
  // Acknowledge each status update after statusUpdate() returns. When false,
  // the scheduler calls acknowledgeStatusUpdate() itself.
  bool implicitAcknowledgements = true;
  // CURVE, for a master started with --key: the framework's key pair file
  // (NAME.key from `clusternodes keys generate NAME`, mode 0600) and the
  // master's public key file (its .pub). Both or neither; neither: the link
  // is neither encrypted nor authenticated. The framework's principal is
  // then the key's, whatever FrameworkInfo::principal says. A bad file, or
  // a master that refuses the key, is reported through Scheduler::error()
  // and the driver aborts. When both are empty, the environment's
  // CLUSTERNODES_KEY and CLUSTERNODES_MASTER_KEY name them, if set.
  std::string keyFile{};
  std::string masterKeyFile{};
};

class SchedulerDriver {
 public:
  // REQUIRES: `scheduler` outlives the driver.
  static std::unique_ptr<SchedulerDriver> create(Scheduler* scheduler, const FrameworkInfo& info,
                                                 const SchedulerDriverOptions& options);
  virtual ~SchedulerDriver() = default;  // stops the driver (with failover) if running

  // Connects and registers; returns at once. With FrameworkInfo::id set, the
  // driver takes over that framework (a scheduler failing over): its tasks
  // are its own again, and registered() is called with the same id.
  virtual DriverStatus start() = 0;
  // Stops the driver. Without failover the framework is torn down: the master
  // kills its tasks. With failover the tasks keep running for the framework's
  // failover timeout, waiting for a scheduler with the same FrameworkID.
  virtual DriverStatus stop(bool failover = false) = 0;
  // Stops callbacks at once, without telling the master.
  virtual DriverStatus abort() = 0;
  // Blocks until the driver is stopped or aborted. Not from a callback.
  virtual DriverStatus join() = 0;
  // start() then join().
  virtual DriverStatus run() = 0;

  // While the driver is not subscribed (the master is away), each task comes
  // back at once as TASK_DROPPED with REASON_INVALID_OFFERS.
  virtual DriverStatus launchTasks(const std::vector<OfferID>& offerIds, const std::vector<TaskInfo>& tasks,
                                   const Filters& filters = {}) = 0;
  virtual DriverStatus acceptOffers(const std::vector<OfferID>& offerIds, const std::vector<Operation>& operations,
                                    const Filters& filters = {}) = 0;
  virtual DriverStatus declineOffer(const OfferID& offerId, const Filters& filters = {}) = 0;
  // Clears the framework's filters and resumes offers after suppressOffers().
  virtual DriverStatus reviveOffers() = 0;
  // Stops offers until reviveOffers(), across re-subscriptions (a new
  // connection, a master failover) too.
  virtual DriverStatus suppressOffers() = 0;
  virtual DriverStatus killTask(const TaskID& taskId) = 0;
  // Only needed with implicitAcknowledgements = false.
  virtual DriverStatus acknowledgeStatusUpdate(const TaskStatus& status) = 0;
  // Asks the master for the latest state of `statuses` (taskId and agentId
  // set), or of every task of the framework when empty; answers arrive as
  // status updates with REASON_RECONCILIATION.
  virtual DriverStatus reconcileTasks(const std::vector<TaskStatus>& statuses) = 0;
  // Bytes to one of the framework's executors (Executor::frameworkMessage),
  // through the master and its agent; best effort, as in Mesos: a message
  // to an executor that is not running is dropped.
  virtual DriverStatus sendFrameworkMessage(const ExecutorID& executorId, const AgentID& agentId,
                                            const std::string& data) = 0;
};

}  // namespace clusternodes
