// EventLog: the master's bounded ring of recent events.
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "master/events.hpp"

using namespace clusternodes::master;

namespace {

Event taskEvent(const std::string& taskId, const std::string& state) {
  return Event{.type = EventType::kTaskStateChanged, .taskId = taskId, .state = state};
}

}  // namespace

TEST_CASE("events get consecutive sequence numbers and the clock's time") {
  double now = 100;
  EventLog log(10, [&] { return now; });
  CHECK(log.lastSequence() == 0);
  CHECK(log.since(0).empty());
  CHECK(log.record(taskEvent("a", "TASK_STAGING")).sequence == 1);
  now = 101.5;
  const auto& second = log.record(taskEvent("a", "TASK_RUNNING"));
  CHECK(second.sequence == 2);
  CHECK(second.time == 101.5);
  CHECK(log.lastSequence() == 2);

  auto all = log.since(0);
  REQUIRE(all.size() == 2);
  CHECK(all[0].state == "TASK_STAGING");
  CHECK(all[0].time == 100);
  CHECK(all[1].state == "TASK_RUNNING");
  auto newer = log.since(1);
  REQUIRE(newer.size() == 1);
  CHECK(newer[0].sequence == 2);
  CHECK(log.since(2).empty());
  CHECK(log.since(99).empty());  // from a reader ahead of a restarted master
}

TEST_CASE("the ring keeps only the newest events, and since() still finds what is new") {
  EventLog log(3, [] { return 0.0; });
  for (int i = 1; i <= 7; ++i) log.record(taskEvent("t" + std::to_string(i), "TASK_RUNNING"));
  CHECK(log.size() == 3);
  CHECK(log.capacity() == 3);
  CHECK(log.lastSequence() == 7);

  auto kept = log.since(0);
  REQUIRE(kept.size() == 3);
  CHECK(kept[0].sequence == 5);
  CHECK(kept[0].taskId == "t5");
  CHECK(kept[2].sequence == 7);
  // A reader that fell behind the ring gets what is left, oldest first.
  CHECK(log.since(2).front().sequence == 5);
  auto tail = log.since(5);
  REQUIRE(tail.size() == 2);
  CHECK(tail[0].taskId == "t6");
  CHECK(tail[1].taskId == "t7");
}

TEST_CASE("since() with a limit returns the newest events") {
  EventLog log(10, [] { return 0.0; });
  for (int i = 0; i < 6; ++i) log.record(taskEvent("t", "TASK_RUNNING"));
  auto limited = log.since(0, 2);
  REQUIRE(limited.size() == 2);
  CHECK(limited[0].sequence == 5);
  CHECK(limited[1].sequence == 6);
}

TEST_CASE("every event type has its own name") {
  std::set<std::string> names;
  for (auto type : {EventType::kAgentRegistered, EventType::kAgentReregistered, EventType::kAgentUnreachable,
                    EventType::kAgentRemoved, EventType::kFrameworkRegistered, EventType::kFrameworkReregistered,
                    EventType::kFrameworkUpdated,
                    EventType::kFrameworkDisconnected, EventType::kFrameworkRemoved, EventType::kTaskStateChanged,
                    EventType::kOfferRescinded}) {
    names.insert(toString(type));
  }
  CHECK(names.size() == 11);
  CHECK(names.count("task_state_changed") == 1);
}
