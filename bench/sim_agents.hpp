// Simulated agents for bench-recovery: ZeroMQ DEALER sockets that speak the
// wire protocol a real agent speaks to the master (registerAgent with or
// without an id and tasks, pongs, a new registration when asked), and
// nothing else.
//
// Each simulated agent holds two descriptors (its socket's mailbox and its
// TCP connection), and a process may hold about 20,000, so 10,000 agents do
// not fit in one process. SimAgents runs one slice of them, on one loop
// thread with one ZeroMQ context, in this process; SimFleet runs them all in
// child processes (this program started again with --sim-worker), a slice
// each, and reads back what each saw. Times cross between processes as
// CLOCK_MONOTONIC (steady_clock), which every process reads alike.
//
//   SimFleet sims(10000, {.tasksPerAgent = 10, .retryBackoff = 250ms});
//   sims.connect("tcp://127.0.0.1:5050", "a");
//   sims.prepare(false);
//   auto sent = sims.registerAll();
//   bool all = sims.waitAcked(std::chrono::seconds(60));
//   SimPhase phase = sims.endPhase();
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "clusternodes/resources.hpp"
#include "clusternodes/values.hpp"
#include "common/backoff.hpp"
#include "common/loop.hpp"
#include "common/transport.hpp"

namespace clusternodes::bench {

using SimClock = std::chrono::steady_clock;

// What one registration phase (registerAll() to endPhase()) saw.
struct SimPhase {
  SimClock::time_point sentAt;         // the first registration went out
  size_t acked = 0;                    // agents that got agentRegistered
  size_t reregisteredReplies = 0;      // of those, replies with reregistered = true
  std::vector<double> replySeconds;    // each agent's first reply, after sentAt
  uint64_t retries = 0;                // registrations re-sent after the back-off
  uint64_t reregisterAsks = 0;         // `reregister` messages from the master
  uint64_t duplicateReplies = 0;       // replies to a registration already answered
  uint64_t pongs = 0;
  uint64_t malformed = 0;
};

struct SimOptions {
  int tasksPerAgent = 10;
  // The first back-off of an unanswered registration: re-sent as the agent
  // does (RetryBackoff: a random delay from [b, 2b), b doubling up to 4 s).
  // Zero: never re-sent.
  std::chrono::nanoseconds retryBackoff = std::chrono::seconds(1);
};

// Agents number `first` to `first + count - 1` ("sim-N"), each on a DEALER
// socket of its own, all on one loop thread owned by this object.
// Threads: the public methods are for one other thread; they hand their
// work to the loop thread and wait for it.
class SimAgents {
 public:
  SimAgents(size_t first, size_t count, SimOptions options);
  ~SimAgents();
  SimAgents(const SimAgents&) = delete;
  SimAgents& operator=(const SimAgents&) = delete;

  // Closes each agent's socket, if any, and connects a new one to
  // `endpoint` under the identity "sim-N-generation": to the master, a new
  // connection, as from an agent process that restarted.
  void connect(const std::string& endpoint, const std::string& generation);
  // Encodes each agent's registration: with no id and no tasks (a first
  // registration), or with the id the master gave it and its tasks, all
  // TASK_RUNNING (a re-registration). Not timed: a real agent has its
  // message ready when it notices the master.
  void prepare(bool reregistration);
  // Sends every agent's prepared registration; returns when they are
  // queued, with the time the sending began.
  SimClock::time_point registerAll();
  // Waits until every agent got agentRegistered since registerAll(), or
  // `timeout`. Returns whether they all did.
  bool waitAcked(std::chrono::milliseconds timeout);
  // What the phase begun by registerAll() saw; ends it (no more re-sends).
  SimPhase endPhase();
  size_t size() const { return sims_.size(); }

 private:
  struct Sim {
    std::unique_ptr<ZmqSocket> socket;
    std::string id;       // given by the master at the first registration
    std::string message;  // the prepared registration
    bool acked = false;   // answered in this phase
    std::unique_ptr<RetryBackoff> backoff;
    SimClock::time_point nextRetry;
  };

  void onLoop(const std::function<void()>& fn);
  std::string registration(size_t index, bool reregistration);
  void onMessage(size_t index, std::string_view bytes);  // loop thread
  void retryDue();                                         // loop thread

  const size_t first_;
  const SimOptions options_;
  zmq::context_t context_;  // outlives the sockets
  Loop loop_;
  Timer tick_;
  std::vector<Sim> sims_;  // loop thread only, as is everything below but the mutex's
  Resources agentResources_;
  Resources taskResources_;
  FrameworkInfo frameworkInfo_;
  SimPhase phase_;
  bool active_ = false;
  std::thread thread_;

  std::mutex mutex_;
  std::condition_variable changed_;
  size_t acked_ = 0;
};

// `agents` simulated agents in child processes of at most `perProcess`
// each; the same calls as SimAgents, each made in every child at once.
// Threads: one caller at a time. A child that fails or dies makes the call
// throw std::runtime_error.
class SimFleet {
 public:
  SimFleet(size_t agents, size_t perProcess, SimOptions options);
  ~SimFleet();  // ends the children
  SimFleet(const SimFleet&) = delete;
  SimFleet& operator=(const SimFleet&) = delete;

  void connect(const std::string& endpoint, const std::string& generation);
  void prepare(bool reregistration);
  SimClock::time_point registerAll();
  bool waitAcked(std::chrono::seconds timeout);
  // The children's phases merged: counts added, reply times taken from the
  // earliest child's first send.
  SimPhase endPhase();
  size_t size() const { return agents_; }
  size_t processes() const { return workers_.size(); }
  // The children's process ids (for their CPU time).
  std::vector<pid_t> pids() const;

 private:
  struct Worker {
    pid_t pid = -1;
    FILE* in = nullptr;   // its commands
    FILE* out = nullptr;  // its answers
  };
  // Sends `command` to every child, then reads one answer line from each.
  std::vector<std::string> everyone(const std::string& command);

  size_t agents_;
  std::vector<Worker> workers_;
};

// The child's side: runs agents [first, first + count) and answers the
// commands on stdin until it closes. Returns the exit code.
int runSimWorker(size_t first, size_t count, SimOptions options);

}  // namespace clusternodes::bench
