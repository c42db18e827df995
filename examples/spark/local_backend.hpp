// LocalBackend: executors as thread pools inside the driver process.
//
// Each local executor has its own id ("local-1", "local-2", ...; never
// reused), its own shuffle directory (a DirShuffleStore under the scratch
// directory), its own MemoryBlockCache, and `coresPerExecutor` threads.
// Tasks and results pass through encodeTask/decodeTask and
// encodeTaskResult/decodeTaskResult, and each task re-parses its plan, as in
// cluster mode.
//
// Tests "lose" an executor with loseExecutor(): its cache is dropped, its
// shuffle directory deleted, its queued and running tasks end kExecutorLost.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "spark/backend.hpp"
#include "spark/functions.hpp"
#include "spark/task_runner.hpp"

namespace clusternodes::spark {

struct LocalOptions {
  int executors = 2;
  int coresPerExecutor = 1;
  // Shuffle files go under here; empty: a fresh directory under the system
  // temporary directory, removed by stop().
  std::string scratchDir;
};

class LocalBackend : public Backend {
 public:
  // `registry` must outlive the backend.
  LocalBackend(const FunctionRegistry& registry, LocalOptions options = {});
  ~LocalBackend() override;

  Result<void> start() override;
  void stop() override;
  void submit(TaskDescription task) override;
  std::optional<BackendEvent> nextEvent(std::chrono::milliseconds timeout) override;
  int totalCores() const override;

  // Thread-safe, from any thread (a task's own code included): the executor
  // is gone, with its cache and shuffle files. False when unknown or lost.
  bool loseExecutor(const std::string& executorId);
  // Starts one more executor; returns its id. Thread-safe.
  std::string addExecutor();
  // Live executors' ids, in start order.
  std::vector<std::string> executors() const;
  // Tasks each executor ran to completion (any status), lost ones included.
  std::map<std::string, int> tasksRun() const;
  // The cache of a live executor (null otherwise), for tests.
  MemoryBlockCache* cache(const std::string& executorId);

 private:
  struct Executor;
  void work(Executor* executor);
  void push(BackendEvent event);  // REQUIRES: mu_ held

  const FunctionRegistry& registry_;
  LocalOptions options_;
  std::string scratch_;
  bool ownScratch_ = false;
  mutable std::mutex mu_;
  std::condition_variable eventsCv_;
  std::deque<BackendEvent> events_;
  std::vector<std::unique_ptr<Executor>> executors_;  // lost ones too, until stop()
  int nextExecutor_ = 1;
  size_t roundRobin_ = 0;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace clusternodes::spark
