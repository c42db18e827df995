#include "agent/agent_runs.hpp"

#include <spdlog/spdlog.h>

namespace clusternodes::agent {

const char* toString(RunPhase phase) {
  switch (phase) {
    case RunPhase::kNew: return "new";
    case RunPhase::kAwaitingExecutor: return "awaiting executor";
    case RunPhase::kLaunched: return "launched";
    case RunPhase::kExited: return "exited";
  }
  return "?";
}

bool canMove(RunPhase from, RunPhase to) {
  using P = RunPhase;
  switch (from) {
    case P::kNew: return to == P::kAwaitingExecutor || to == P::kExited;
    case P::kAwaitingExecutor: return to == P::kLaunched || to == P::kExited;
    case P::kLaunched: return to == P::kExited;
    case P::kExited: return false;
  }
  return false;
}

bool Agent::Run::moveTo(RunPhase to) {
  if (!canMove(phase, to)) {
    spdlog::error("bug: task {} cannot move from {} to {}", task.taskId.value, toString(phase), toString(to));
    return false;
  }
  phase = to;
  return true;
}

}  // namespace clusternodes::agent
