// EventLog: the master's last events, for operators (the web UI's event
// list and GET /api/v1/events).
//
// A bounded ring in memory: when it is full, the oldest event goes. Each
// event gets the next sequence number (1, 2, ...) and the wall-clock time,
// so that a reader polls for what is new with since(last sequence seen).
// Nothing here survives a master restart; the sequence starts again at 1.
//
//   EventLog events;                           // the last 500
//   events.record({.type = EventType::kAgentRegistered, .agentId = id.value,
//                  .message = "agent on host-1"});
//   for (const auto& e : events.since(lastSeen)) ...
//
// Called on the master's loop thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

namespace clusternodes::master {

enum class EventType {
  kAgentRegistered,
  kAgentReregistered,
  kAgentUnreachable,
  kAgentRemoved,
  kFrameworkRegistered,
  kFrameworkReregistered,
  kFrameworkUpdated,  // UPDATE_FRAMEWORK: its name, roles or suppressed roles
  kFrameworkDisconnected,
  kFrameworkRemoved,
  kTaskStateChanged,
  kOfferRescinded,
};

// "agent_registered", "task_state_changed", ...: the name in JSON.
const char* toString(EventType type);

struct Event {
  uint64_t sequence = 0;  // set by record()
  double time = 0;        // wall clock seconds, set by record()
  EventType type = EventType::kAgentRegistered;
  // Whom it is about; empty when it does not apply. (The {} let designated
  // initializers leave fields out without a warning.)
  std::string agentId{};
  std::string frameworkId{};
  std::string taskId{};
  std::string state{};    // a task's new state ("TASK_RUNNING")
  std::string reason{};   // why, as a reason name ("REASON_COMMAND_EXITED")
  std::string message{};  // what a person reads
};

class EventLog {
 public:
  static constexpr size_t kDefaultCapacity = 500;

  // `wallClock` gives the time stamped on each event (seconds since the
  // epoch); tests pass their own.
  explicit EventLog(size_t capacity = kDefaultCapacity, std::function<double()> wallClock = nullptr);

  // Stamps `event` with the next sequence number and the time, and keeps it,
  // dropping the oldest event when the ring is full.
  const Event& record(Event event);

  // The kept events whose sequence is greater than `sequence`, oldest first,
  // at most `limit` of them (the newest ones).
  std::vector<Event> since(uint64_t sequence, size_t limit = kDefaultCapacity) const;

  // The sequence number of the newest event; 0 before the first.
  uint64_t lastSequence() const { return next_ - 1; }
  size_t size() const { return events_.size(); }
  size_t capacity() const { return capacity_; }

 private:
  size_t capacity_;
  std::function<double()> wallClock_;
  std::deque<Event> events_;
  uint64_t next_ = 1;
};

}  // namespace clusternodes::master
