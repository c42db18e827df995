// Unit tests for what the master says of a task it has lost track of
// (master/tasks.hpp): the partition-aware-or-LOST decision.
#include <doctest/doctest.h>

#include <string>

#include "master/tasks.hpp"

using namespace clusternodes;
using namespace clusternodes::master;

namespace {

// The state's wire name, so that a failure shows it.
std::string said(TaskFate fate, bool partitionAware) { return toString(masterTaskState(fate, partitionAware)); }

}  // namespace

TEST_CASE("a framework that is not partition-aware hears TASK_LOST whatever became of the task") {
  for (auto fate : {TaskFate::kAgentUnreachable, TaskFate::kAgentGone, TaskFate::kMissingOnAgent, TaskFate::kUnknown}) {
    CHECK(said(fate, false) == toString(TaskState::kLost));
  }
}

TEST_CASE("a partition-aware framework hears precisely what became of the task") {
  CHECK(said(TaskFate::kAgentUnreachable, true) == toString(TaskState::kUnreachable));
  CHECK(said(TaskFate::kAgentGone, true) == toString(TaskState::kGone));
  CHECK(said(TaskFate::kMissingOnAgent, true) == toString(TaskState::kDropped));
  CHECK(said(TaskFate::kUnknown, true) == toString(TaskState::kUnknown));
}

TEST_CASE("only an unreachable agent's tasks may come back: the others' states are terminal") {
  // A framework relies on this to know which tasks to replace at once.
  CHECK_FALSE(isTerminal(masterTaskState(TaskFate::kAgentUnreachable, true)));
  CHECK(isTerminal(masterTaskState(TaskFate::kAgentUnreachable, false)));
  for (bool aware : {false, true}) {
    CHECK(isTerminal(masterTaskState(TaskFate::kAgentGone, aware)));
    CHECK(isTerminal(masterTaskState(TaskFate::kMissingOnAgent, aware)));
  }
}
