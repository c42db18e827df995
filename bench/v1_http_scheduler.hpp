// A scheduler of the Mesos v1 HTTP API for the benchmarks, as a client
// written for Mesos would drive it: blocking sockets, one thread reading the
// SUBSCRIBE stream (chunked, RecordIO-framed JSON), and every call made from
// that thread on one keep-alive connection, answered 202 before the next.
//
//   V1HttpScheduler scheduler("127.0.0.1", 8081, {{"user", "me"}, {"name", "bench"}}, callbacks);
//   if (auto started = scheduler.start(); !started) ...
//   ... the callbacks call scheduler.call({...}) ...
//   scheduler.stop();
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "clusternodes/result.hpp"
#include "clusternodes/scheduler.hpp"

namespace clusternodes::bench {

class V1HttpScheduler {
 public:
  // Each runs on the stream's thread, and may call call().
  struct Callbacks {
    std::function<void(const std::string& frameworkId)> subscribed;
    std::function<void(const nlohmann::json& offers)> offers;  // the OFFERS event's offers
    std::function<void(const nlohmann::json& status)> update;  // acknowledged after it returns
    std::function<void(const std::string& why)> error;         // ERROR, or the stream failed
  };

  V1HttpScheduler(std::string host, int port, nlohmann::json frameworkInfo, Callbacks callbacks);
  ~V1HttpScheduler();  // stop()
  V1HttpScheduler(const V1HttpScheduler&) = delete;
  V1HttpScheduler& operator=(const V1HttpScheduler&) = delete;

  // Subscribes and starts reading the stream on a thread.
  Result<void> start();
  // Closes the stream (the framework is disconnected) and joins the thread.
  void stop();

  // Makes one call for the framework (framework_id is filled in); fails
  // unless the master answers 202. Stream thread only.
  Result<void> call(nlohmann::json call);
  // Calls made and events read so far.
  uint64_t calls() const { return calls_; }
  uint64_t offerEvents() const { return offerEvents_; }

 private:
  void readStream();
  Result<void> handle(const std::string& record);

  std::string host_;
  int port_;
  nlohmann::json frameworkInfo_;
  Callbacks callbacks_;
  int streamFd_ = -1;
  int callFd_ = -1;
  std::string streamBuffer_;  // read from the stream, not yet parsed
  std::string streamId_;
  std::string frameworkId_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  uint64_t calls_ = 0;
  uint64_t offerEvents_ = 0;
};

// The SDK's SchedulerDriver over the HTTP API, so that a benchmark's
// Scheduler runs unchanged through either front door. Offers carry cpus,
// mem, disk and ports; updates are acknowledged implicitly. Callbacks run on
// the stream's thread, where the driver's calls must be made too.
class V1HttpDriver final : public SchedulerDriver {
 public:
  V1HttpDriver(Scheduler* scheduler, const FrameworkInfo& info, const std::string& host, int port);

  DriverStatus start() override;
  DriverStatus stop(bool failover = false) override;
  DriverStatus abort() override { return stop(); }
  DriverStatus join() override { return status_; }
  DriverStatus run() override { return start(); }
  DriverStatus launchTasks(const std::vector<OfferID>& offerIds, const std::vector<TaskInfo>& tasks,
                           const Filters& filters = {}) override;
  DriverStatus acceptOffers(const std::vector<OfferID>& offerIds, const std::vector<Operation>& operations,
                            const Filters& filters = {}) override;
  DriverStatus declineOffer(const OfferID& offerId, const Filters& filters = {}) override;
  DriverStatus reviveOffers() override;
  DriverStatus suppressOffers() override;
  DriverStatus killTask(const TaskID& taskId) override;
  DriverStatus acknowledgeStatusUpdate(const TaskStatus&) override { return status_; }
  DriverStatus reconcileTasks(const std::vector<TaskStatus>& statuses) override;
  DriverStatus sendFrameworkMessage(const ExecutorID& executorId, const AgentID& agentId,
                                    const std::string& data) override;

  uint64_t calls() const { return http_.calls(); }
  uint64_t offerEvents() const { return http_.offerEvents(); }

 private:
  DriverStatus send(nlohmann::json call);

  Scheduler* scheduler_;
  V1HttpScheduler http_;
  DriverStatus status_ = DriverStatus::kNotStarted;
};

}  // namespace clusternodes::bench
