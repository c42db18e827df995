// A Scheduler for tests: records every callback, lets the test decide what
// to do with offers, and waits for conditions with a timeout.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "clusternodes/scheduler.hpp"

namespace clusternodes::testing {

class RecordingScheduler : public Scheduler {
 public:
  // Called on the driver thread for each offer; default: keep it (unanswered).
  std::function<void(SchedulerDriver*, const Offer&)> onOffer;
  std::function<void(SchedulerDriver*, const TaskStatus&)> onStatus;

  void registered(SchedulerDriver*, const FrameworkID& id, const MasterInfo&) override {
    std::lock_guard<std::mutex> lock(mutex_);
    frameworkId_ = id;
    ++registrations_;
    changed_.notify_all();
  }
  void reregistered(SchedulerDriver*, const MasterInfo&) override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++registrations_;
    changed_.notify_all();
  }
  void resourceOffers(SchedulerDriver* driver, const std::vector<Offer>& offers) override {
    for (const auto& offer : offers) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        offers_.push_back(offer);
        changed_.notify_all();
      }
      if (onOffer) onOffer(driver, offer);
    }
  }
  void offerRescinded(SchedulerDriver*, const OfferID& id) override {
    std::lock_guard<std::mutex> lock(mutex_);
    rescinded_.push_back(id);
    changed_.notify_all();
  }
  void statusUpdate(SchedulerDriver* driver, const TaskStatus& status) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      statuses_.push_back(status);
      changed_.notify_all();
    }
    if (onStatus) onStatus(driver, status);
  }
  void agentLost(SchedulerDriver*, const AgentID& id) override {
    std::lock_guard<std::mutex> lock(mutex_);
    lostAgents_.push_back(id);
    changed_.notify_all();
  }
  struct Message {
    ExecutorID executorId;
    AgentID agentId;
    std::string data;
  };
  struct LostExecutor {
    ExecutorID executorId;
    AgentID agentId;
    int status = 0;
  };
  void frameworkMessage(SchedulerDriver*, const ExecutorID& executorId, const AgentID& agentId,
                        const std::string& data) override {
    std::lock_guard<std::mutex> lock(mutex_);
    messages_.push_back({executorId, agentId, data});
    changed_.notify_all();
  }
  void executorLost(SchedulerDriver*, const ExecutorID& executorId, const AgentID& agentId, int status) override {
    std::lock_guard<std::mutex> lock(mutex_);
    lostExecutors_.push_back({executorId, agentId, status});
    changed_.notify_all();
  }
  std::vector<Message> messages() {
    std::lock_guard<std::mutex> lock(mutex_);
    return messages_;
  }
  std::vector<LostExecutor> lostExecutors() {
    std::lock_guard<std::mutex> lock(mutex_);
    return lostExecutors_;
  }

  void operationRefused(SchedulerDriver*, const std::string& operation, const std::string& reason) override {
    std::lock_guard<std::mutex> lock(mutex_);
    refusedOperations_.push_back(operation + ": " + reason);
    changed_.notify_all();
  }
  // "RESERVE: why", for each refused operation, in order.
  std::vector<std::string> refusedOperations() {
    std::lock_guard<std::mutex> lock(mutex_);
    return refusedOperations_;
  }

  void error(SchedulerDriver*, const std::string& message) override {
    std::lock_guard<std::mutex> lock(mutex_);
    errors_.push_back(message);
    changed_.notify_all();
  }

  // Waits until `predicate` holds. It is called without the lock held, so it
  // may use the accessors below.
  bool waitFor(const std::function<bool()>& predicate,
               std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!predicate()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait_for(lock, std::chrono::milliseconds(20));
    }
    return true;
  }

  // The first status of `taskId` in `state`, waiting for it.
  std::optional<TaskStatus> waitForState(const TaskID& taskId, TaskState state,
                                         std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    std::optional<TaskStatus> found;
    waitFor(
        [&] {
          for (const auto& s : statusesOf(taskId)) {
            if (s.state == state) {
              found = s;
              return true;
            }
          }
          return false;
        },
        timeout);
    return found;
  }

  // The next offer this test has not taken yet, waiting for it.
  std::optional<Offer> waitForOffer(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    waitFor(
        [&] {
          std::lock_guard<std::mutex> lock(mutex_);
          return offers_.size() > taken_;
        },
        timeout);
    std::lock_guard<std::mutex> lock(mutex_);
    if (offers_.size() > taken_) return offers_[taken_++];
    return std::nullopt;
  }

  std::vector<TaskStatus> statuses() {
    std::lock_guard<std::mutex> lock(mutex_);
    return statuses_;
  }
  std::vector<TaskStatus> statusesOf(const TaskID& taskId) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<TaskStatus> out;
    for (const auto& s : statuses_) {
      if (s.taskId == taskId) out.push_back(s);
    }
    return out;
  }
  std::vector<OfferID> rescinded() {
    std::lock_guard<std::mutex> lock(mutex_);
    return rescinded_;
  }
  std::vector<Offer> offers() {
    std::lock_guard<std::mutex> lock(mutex_);
    return offers_;
  }
  std::vector<std::string> errors() {
    std::lock_guard<std::mutex> lock(mutex_);
    return errors_;
  }
  std::vector<AgentID> lostAgents() {
    std::lock_guard<std::mutex> lock(mutex_);
    return lostAgents_;
  }
  FrameworkID frameworkId() {
    std::lock_guard<std::mutex> lock(mutex_);
    return frameworkId_;
  }
  bool waitForRegistration(int count = 1) {
    return waitFor([&] {
      std::lock_guard<std::mutex> lock(mutex_);
      return registrations_ >= count;
    });
  }

 private:
  std::mutex mutex_;
  std::vector<Message> messages_;
  std::vector<LostExecutor> lostExecutors_;
  std::condition_variable changed_;
  FrameworkID frameworkId_;
  int registrations_ = 0;
  size_t taken_ = 0;
  std::vector<Offer> offers_;
  std::vector<OfferID> rescinded_;
  std::vector<TaskStatus> statuses_;
  std::vector<AgentID> lostAgents_;
  std::vector<std::string> errors_;
  std::vector<std::string> refusedOperations_;
};

// A task running `command` on the offer's agent with `resources`.
inline TaskInfo makeTask(const std::string& id, const Offer& offer, const std::string& command,
                         const std::string& resources = "cpus:0.1;mem:16") {
  TaskInfo task;
  task.taskId.value = id;
  task.name = id;
  task.agentId = offer.agentId;
  task.resources = *Resources::parse(resources);
  task.command.value = command;
  return task;
}

}  // namespace clusternodes::testing
