// Where tasks run. The Context's driver loop owns one Backend: it submits
// the tasks the DAG scheduler produces and pulls events back.
//
// LocalBackend (local_backend.hpp) runs executors as thread pools in this
// process. The cluster backend (next increment) registers as a framework,
// holds one coarse-grained executor per agent, ships tasks as framework
// messages (encodeTask) and turns status updates, framework messages and
// executorLost / agentLost callbacks into the events below.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "clusternodes/result.hpp"
#include "spark/task.hpp"

namespace clusternodes::spark {

struct BackendEvent {
  enum class Kind {
    kTaskEnded,      // `result` holds the task's outcome
    kExecutorAdded,  // `executorId` can take tasks
    kExecutorLost,   // `executorId` is gone, with `reason`
  };
  Kind kind = Kind::kTaskEnded;
  TaskResult result;
  std::string executorId;
  std::string reason;
  bool shuffleOutputsLost = true;  // kExecutorLost: its map outputs are unreadable
};

class Backend {
 public:
  virtual ~Backend() = default;

  // Gets executors going; returns once at least one can take tasks (or
  // fails: "no executor registered within 60 s"). Called once, first.
  virtual Result<void> start() = 0;
  // Ends every executor. Idempotent; the destructor calls it.
  virtual void stop() = 0;

  // Queues a task. Runs it on task.preferredExecutor when that one is
  // alive, else on any executor with a free core (executors run up to their
  // cores' worth of tasks at once). Every submitted task ends with exactly
  // one kTaskEnded event: a task on an executor that is lost ends
  // kExecutorLost (after that executor's kExecutorLost event), and a task
  // with no executor to run on ends kFailed.
  virtual void submit(TaskDescription task) = 0;

  // The next event, waiting up to `timeout`; nullopt when none came.
  virtual std::optional<BackendEvent> nextEvent(std::chrono::milliseconds timeout) = 0;

  // Cores over the live executors: the default number of partitions.
  virtual int totalCores() const = 0;
};

}  // namespace clusternodes::spark
