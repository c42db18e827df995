// Simulated agents for bench-recovery: ZeroMQ DEALER peers (ZmtpDealer,
// ZMTP spoken over a plain TCP connection, bench/zmtp_dealer.hpp) that speak
// the wire protocol a real agent speaks to the master (registerAgent with
// or without an id and tasks, pongs, a new registration when asked), and
// nothing else.
//
// SimAgents runs one slice of them, on one loop thread, in this process;
// SimFleet runs them all in child processes (this program started again
// with --sim-worker), a slice each, and reads back what each saw. Times cross between processes as
// CLOCK_MONOTONIC (steady_clock), which every process reads alike.
//
//   SimFleet sims(10000, {.tasksPerAgent = 10, .retryBackoff = 250ms});
//   sims.prepare(false);
//   auto sent = sims.connectAndRegister("tcp://127.0.0.1:5050", "a");
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

#include "clusternodes/resources.hpp"
#include "clusternodes/values.hpp"
#include "common/backoff.hpp"
#include "common/loop.hpp"
#include "bench/zmtp_dealer.hpp"

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

// Agents number `first` to `first + count - 1` ("sim-N"), each on a
// connection of its own, all on one loop thread owned by this object.
// Threads: the public methods are for one other thread; they hand their
// work to the loop thread and wait for it.
class SimAgents {
 public:
  SimAgents(size_t first, size_t count, SimOptions options);
  ~SimAgents();
  SimAgents(const SimAgents&) = delete;
  SimAgents& operator=(const SimAgents&) = delete;

  // Closes each agent's connection, if any, and connects a new one to
  // `endpoint` under the identity "sim-N-generation": to the master, a new
  // peer, as an agent process that restarted. Returns once every one has
  // finished its handshake with the master, at most a few hundred being
  // made at a time; throws std::runtime_error when they do not within 60 s.
  void connect(const std::string& endpoint, const std::string& generation);
  // connect(), each agent sending its prepared registration as it connects
  // (once its handshake is done, as an agent process that starts): a registration
  // phase, as registerAll() begins one, from the first connection. Returns
  // when the connections are made, with the time the first began.
  SimClock::time_point connectAndRegister(const std::string& endpoint, const std::string& generation);
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
    std::unique_ptr<ZmtpDealer> socket;
    std::string id;       // given by the master at the first registration
    std::string message;  // the prepared registration
    bool acked = false;   // answered in this phase
    bool connected = false;  // its handshake with the master is done (since connect())
    std::unique_ptr<RetryBackoff> backoff;
    SimClock::time_point nextRetry;
  };

  void onLoop(const std::function<void()>& fn);
  std::string registration(size_t index, bool reregistration);
  void onMessage(size_t index, std::string_view bytes);  // loop thread
  void connectMore();                                      // loop thread
  void beginPhase();                                       // loop thread
  SimClock::time_point connectAll(const std::string& endpoint, const std::string& generation, bool registering);
  void onConnected(size_t index);                          // loop thread
  void retryDue();                                         // loop thread

  const size_t first_;
  const SimOptions options_;
  Loop loop_;
  Timer tick_;
  std::vector<Sim> sims_;  // loop thread only, as is everything below but the mutex's
  Resources agentResources_;
  Resources taskResources_;
  FrameworkInfo frameworkInfo_;
  SimPhase phase_;
  bool active_ = false;
  std::string endpoint_;
  size_t nextConnect_ = 0;  // the next agent to connect
  size_t connecting_ = 0;   // connections being made
  bool registerOnConnect_ = false;
  std::thread thread_;

  std::mutex mutex_;
  std::condition_variable changed_;
  size_t acked_ = 0;
  size_t connected_ = 0;
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
  SimClock::time_point connectAndRegister(const std::string& endpoint, const std::string& generation);
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
