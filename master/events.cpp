#include "master/events.hpp"

#include <algorithm>

#include "common/loop.hpp"

namespace clusternodes::master {

const char* toString(EventType type) {
  switch (type) {
    case EventType::kAgentRegistered: return "agent_registered";
    case EventType::kAgentReregistered: return "agent_reregistered";
    case EventType::kAgentUnreachable: return "agent_unreachable";
    case EventType::kAgentRemoved: return "agent_removed";
    case EventType::kFrameworkRegistered: return "framework_registered";
    case EventType::kFrameworkReregistered: return "framework_reregistered";
    case EventType::kFrameworkUpdated: return "framework_updated";
    case EventType::kFrameworkDisconnected: return "framework_disconnected";
    case EventType::kFrameworkRemoved: return "framework_removed";
    case EventType::kTaskStateChanged: return "task_state_changed";
    case EventType::kOfferRescinded: return "offer_rescinded";
  }
  return "unknown";
}

EventLog::EventLog(size_t capacity, std::function<double()> wallClock)
    : capacity_(std::max<size_t>(capacity, 1)),
      wallClock_(wallClock ? std::move(wallClock) : std::function<double()>(&Loop::wallSeconds)) {}

const Event& EventLog::record(Event event) {
  event.sequence = next_++;
  event.time = wallClock_();
  if (events_.size() == capacity_) events_.pop_front();
  events_.push_back(std::move(event));
  return events_.back();
}

std::vector<Event> EventLog::since(uint64_t sequence, size_t limit) const {
  // Sequence numbers are consecutive, so the first newer event is found by
  // arithmetic rather than by a search.
  if (events_.empty() || sequence >= events_.back().sequence) return {};
  uint64_t first = events_.front().sequence;
  size_t from = sequence < first ? 0 : static_cast<size_t>(sequence - first + 1);
  size_t count = events_.size() - from;
  if (count > limit) from += count - limit;
  return {events_.begin() + static_cast<std::ptrdiff_t>(from), events_.end()};
}

}  // namespace clusternodes::master
