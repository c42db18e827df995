// Agent: one per host. Registers with the master, advertises resources,
// runs tasks through its containerizers and delivers their status updates
// reliably.
//
// Sockets: a DEALER to the master, and a ROUTER (--port) that the executors
// it launches connect back to. Every task runs under an executor in a
// container (containerizer/containerizer.hpp: native, Docker, or its
// framework's own executor), with stdout and stderr captured to files in its
// sandbox; every executor speaks the same protocol with the agent. Runs and
// executors move through the phases of agent_runs.hpp.
//
// Sources: agent.cpp (start, the master), runs.cpp (tasks: launch, kill,
// usage), executors.cpp (every executor, built-in or a framework's, through
// one protocol), status_updates.cpp, recovery.cpp (restart and checkpoint),
// http.cpp and metrics.cpp.
//
// Sandboxes: <work-dir>/sandboxes/<framework id>/<task id>/<run id>, one per
// executor run, holding `stdout`, `stderr` and `executor.log`; the run id is
// also the container's id (its cgroup's name). Finished ones are removed by
// the garbage collector (garbage_collector.hpp).
//
// Status updates form one ordered stream per task: the head is sent to the
// master and re-sent with exponential backoff until the framework's
// acknowledgement (relayed by the master) names its uuid; then the next goes.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <optional>
#include <vector>
#include <map>
#include <memory>
#include <set>
#include <string>

#include <nlohmann/json_fwd.hpp>
#include <zmq.hpp>

#include "agent/checkpoint.hpp"
#include "agent/containerizer/containerizer.hpp"
#include "agent/containerizer/destroyer.hpp"
#include "agent/containerizer/launcher_client.hpp"
#include "agent/containerizer/native.hpp"
#include "agent/garbage_collector.hpp"
#include "agent/isolator.hpp"
#include "common/backoff.hpp"
#include "common/file_system.hpp"
#include "common/http_auth.hpp"
#include "common/http_server.hpp"
#include "common/leader.hpp"
#include "common/loop.hpp"
#include "common/transport.hpp"
#include "common/wire.hpp"

namespace clusternodes::agent {

struct AgentFlags {
  std::string master = "127.0.0.1:5050";  // HOST:PORT of the master's socket
  // CURVE: this agent's key pair and the master's public key (files that
  // `clusternodes keys generate` writes). Both or neither; neither: the
  // link to the master is neither encrypted nor authenticated.
  std::string keyFile;
  std::string masterKeyFile;
  std::string ip = "127.0.0.1";           // address the agent listens on
  int port = 5051;                        // ZeroMQ port for executors, on 127.0.0.1 only
  int httpPort = 5052;
  std::string hostname;                   // advertised; default: gethostname()
  std::string workDir = "/var/lib/clusternodes/agent";
  std::string resources;                  // overrides of detected resources
  std::string attributes;
  std::string launcherDir;                // where clusternodes-executor lives
  // Who runs the executors of native tasks: "process", one
  // clusternodes-executor process per task; "shared", one long-lived
  // clusternodes-launcher for all of them (agent/launcher/launcher.hpp).
  std::string nativeLauncher = "shared";
  std::chrono::nanoseconds defaultGracePeriod = std::chrono::seconds(3);
  // Mesos's registration_backoff_factor: re-sends are a safety net (the
  // connection is reliable, and a master that comes back is registered with
  // at once), so the first waits long enough for a busy master to answer.
  std::chrono::nanoseconds registrationBackoff = std::chrono::seconds(1);
  std::chrono::nanoseconds statusUpdateRetry = std::chrono::seconds(1);
  // How long an executor waits for a vanished agent before it kills its task.
  std::chrono::nanoseconds recoveryTimeout = std::chrono::minutes(15);
  // What a restarted agent does with what the one before it left running:
  // "reconnect" takes back its id, executors and pending status updates;
  // "cleanup" kills them all and registers as a new agent (the master
  // reports the old agent's tasks lost). After a host reboot it registers as
  // a new agent either way.
  std::string recover = "reconnect";
  // How many executors may be starting at once (spawned, task not yet
  // running); further launches wait their turn in order. 0: 4 per core, at
  // least 8. A burst of launches then keeps the machine busy without
  // starving the agent's own loop, which relays every status update.
  int maxStartingExecutors = 0;
  // An executor that has not registered this long after its start is killed
  // and its task fails (REASON_EXECUTOR_REGISTRATION_TIMEOUT).
  std::chrono::nanoseconds executorRegistrationTimeout = std::chrono::minutes(1);
  // "native", "docker" or both, comma-separated: the kinds of task it runs.
  std::string containerizers = "native,docker";
  std::string dockerSocket = "/var/run/docker.sock";
  IsolationOptions isolation;  // --isolation, --cgroups-root, --cgroups-enable-cfs
  GcOptions gc;                // --gc-delay, --gc-disk-headroom, --disk-watch-interval
  // How often each running container's usage is sampled and sent to the
  // master.
  std::chrono::nanoseconds usageInterval = std::chrono::seconds(5);
  // Runs each task as the user it names (CommandInfo::user, else
  // FrameworkInfo::user), which must exist on this host; false: every task
  // runs as the agent's own user.
  bool switchUser = true;
  // HTTP bearer tokens (common/http_auth.hpp): the tokens file, and what
  // needs a token ("" = writes with a tokens file, none without; the
  // agent's endpoints only read, so only "all" asks for one).
  std::string httpCredentialsFile;
  std::string httpAuthenticate;
  // TLS on the HTTP port (common/tls.hpp): a PEM certificate chain and its
  // key; both or neither.
  std::string tlsCertFile;
  std::string tlsKeyFile;
};

struct AgentMetrics {
  uint64_t messagesReceived = 0;
  uint64_t messagesDropped = 0;
  uint64_t tasksLaunched = 0;
  uint64_t launchesQueued = 0;  // launches that had to wait for a start slot
  uint64_t statusUpdatesSent = 0;
  uint64_t statusUpdateRetries = 0;
  uint64_t registrations = 0;
  uint64_t memoryLimitKills = 0;   // tasks failed at their memory limit
  uint64_t containersDestroyed = 0;
  uint64_t checkpointCommits = 0;         // batches written to the checkpoint
  uint64_t checkpointWriteFailures = 0;   // batches that could not be written
};

// Checks a --containerizers value: a comma-separated list of native and
// docker, at least one, each once.
Result<void> validateContainerizers(const std::string& value);

// What runs an executor: the built-in command executor (in the shared
// launcher or a process of its own), the built-in Docker executor, or a
// framework's own executor program.
enum class ExecutorKind { kCommand, kDocker, kCustom };

// What the agent otherwise makes for itself; a test replaces any part of it
// (and so runs the agent in-process, on simulated time, with no sockets and
// no processes).
struct AgentEnvironment {
  // Its clock and every timer it starts. Default: the loop's. Must outlive
  // the agent.
  TimeSource* time = nullptr;
  // The socket to the master, which start() connects to --master, and the
  // one executors connect to, which start() binds on --ip:--port. Default:
  // a ZeroMQ DEALER and ROUTER.
  std::unique_ptr<Transport> master;
  std::unique_ptr<Transport> executors;
  // Where checkpoints are written. Default: the real file system.
  std::unique_ptr<FileSystem> files;
  // The containerizers. Default: the native, Docker and framework executor
  // ones of containerizer/.
  std::unique_ptr<Containerizer> native;
  std::unique_ptr<Containerizer> docker;
  std::unique_ptr<Containerizer> frameworkExecutors;
};

class Agent {
 public:
  // `files` is where checkpoints are written (default: the real file system;
  // tests pass one that fails).
  Agent(Loop& loop, zmq::context_t& context, AgentFlags flags, std::unique_ptr<FileSystem> files = nullptr);
  // With what `environment` gives in place of the defaults. The loop still
  // runs the HTTP server and the end-of-turn checkpoint commit.
  Agent(Loop& loop, zmq::context_t& context, AgentFlags flags, AgentEnvironment environment);
  ~Agent();

  // Detects resources, binds the executor socket and the HTTP port, and
  // starts registering with the master.
  Result<void> start();

  const AgentFlags& flags() const { return flags_; }
  int httpPort() const { return httpPort_; }
  // HTTP requests refused for a missing or unknown token.
  uint64_t httpUnauthorized() const { return httpAuth_ && httpAuth_->refused ? *httpAuth_->refused : 0; }
  uint64_t httpTlsFailures() const;
  // The counters /metrics shows.
  const AgentMetrics& metrics() const { return metrics_; }
  // Why /health answers 503 now (checkpoint writes fail); nullopt while
  // healthy.
  const std::optional<std::string>& unhealthy() const { return checkpointFailure_; }

 private:
  struct Run;            // one task on this agent
  struct UpdateStream;   // the pending status updates of one task
  struct Executor;       // what runs tasks: built-in or a framework's own
  using TaskKey = std::pair<FrameworkID, TaskID>;
  using ExecutorKey = std::pair<FrameworkID, ExecutorID>;

  // ---- master
  void onMasterMessage(std::string_view bytes);
  void dispatchFromMaster(const wire::Envelope::Reader& envelope);
  void sendToMaster(capnp::MallocMessageBuilder& message);
  void registerWithMaster();
  // --key and --master-key: makes `socket` a CURVE client of the master.
  // Either way, a failed handshake is logged (once per kind of failure
  // until the agent registers).
  Result<void> secureMasterLink(ZmqSocket& socket);
  // Re-registers when the master has been silent for longer than its pings
  // allow.
  void watchMaster();
  void onRegistered(wire::AgentRegistered::Reader message);
  void masterLost(const std::string& why);
  // Connects to the master at `address` (HOST:PORT) in place of the one
  // followed so far, and registers with it: a new leader (--master=zk://),
  // or the one a standby named (NotLeader).
  void followMaster(const std::string& address, const std::string& why);
  void runTask(wire::RunTask::Reader message);
  void killTask(const FrameworkID& frameworkId, const TaskID& taskId, int64_t gracePeriodMs);
  void shutdownFramework(const FrameworkID& frameworkId);
  // The master removed this agent for good: kill every task and register as
  // a new agent.
  void shutdownByMaster(const std::string& reason);
  void onAck(wire::StatusUpdateAck::Reader message);

  // ---- tasks (runs.cpp)
  // Ends the run as `state` with `reason`: its executor will say no more.
  void endRun(Run& run, TaskState state, TaskReason reason, const std::string& message);
  // Why the agent cannot run the task (the reason it fails with, and the
  // words), or nullopt when it can.
  std::optional<std::pair<TaskReason, std::string>> refusal(const Run& run) const;
  // The user the run's task asks for, looked up on this host; nullopt when
  // it runs as the agent's own user (it names none, it is the agent's, or
  // --switch-user=false). Fails when the user does not exist here
  // (kNotFound) or the agent, not being root, cannot switch to it
  // (kDenied).
  Result<std::optional<UserIds>> runAs(const Run& run) const;

  // ---- executors (executors.cpp), every kind alike
  void onExecutorMessage(std::string_view peer, std::string_view bytes);
  // Hands the run to its executor: a new one is queued for a start slot;
  // a registered one gets it now, a starting one once it registers.
  void runOnExecutor(Run& run);
  Executor& newExecutor(const Run& run);
  void launchQueued();
  // Starts the executor in its container; false when it did not start (its
  // tasks failed, and say why).
  bool startExecutor(Executor& executor);
  void armRegistrationTimeout(Executor& executor);
  Containerizer& containerizerOf(ExecutorKind kind);
  // The limits of the executor's container: its resources and its live
  // tasks'.
  ContainerLimits limitsOf(const Executor& executor) const;
  // The executor no longer holds a start slot (one of its tasks runs, or it
  // is gone); the next queued one starts.
  void doneStarting(Executor& executor);
  void executorRegistered(const std::string& peer, wire::RegisterExecutor::Reader message);
  // ExecutorRegistered, with how a built-in executor's container is made
  // (its task `builtInRun` gives the kill grace).
  void sendExecutorRegistered(Executor& executor, const Run* builtInRun);
  // Answers an executor of an earlier release, registered by task id: its
  // task as LaunchCommand.
  void registeredByTask(Executor& executor, Run& run);
  // The grace a kill of the run gets when it names none.
  int64_t defaultGraceMs(const Run& run) const;
  // Frees the executor's start slot when it has no live task left.
  void releaseIfIdle(Executor& executor);
  // ExecutorExited to the master (frameworks' executors only).
  void reportExecutorExited(const ExecutorKey& key, int status, const std::string& message);
  void sendTaskToExecutor(Executor& executor, Run& run);
  void executorStatus(const std::string& peer, const ExecutorKey& executorKey, TaskStatus status);
  void killOnExecutor(Run& run);
  void frameworkMessageFromMaster(wire::FrameworkMessage::Reader message);
  void frameworkMessageFromExecutor(const ExecutorKey& key, wire::FrameworkMessage::Reader message);
  // Asks the executor to shut down, and kills it after the grace period.
  void shutdownExecutor(Executor& executor, const std::string& why);
  // The executor ended (nullopt: one a restart took back, whose exit status
  // nobody can read; `startFailure`: it never started, for that reason).
  void executorExited(const ExecutorKey& key, std::optional<ExitStatus> exit,
                      std::optional<std::pair<TaskReason, std::string>> startFailure = std::nullopt);
  // Ends the executor's tasks that had not ended, for `reason`.
  void endExecutorTasks(Executor& executor, TaskReason reason, const std::string& what);
  // Resizes a framework executor's container to its resources plus its
  // live tasks'.
  void resizeExecutor(Executor& executor);
  void checkpointExecutor(Executor& executor);
  void recoverExecutors();

  // ---- recovery (checkpoint.hpp)
  // Takes back, after a restart on the same boot, the agent id and the runs
  // whose executors still live; the others end as failed.
  void recover();
  bool recoverRun(const RunCheckpoint& saved);
  // Takes back the task's status updates not yet acknowledged.
  void recoverUpdates(Run& run, const RunCheckpoint& saved);
  // The built-in executor of a recovered run, if it still runs.
  bool recoverBuiltInExecutor(Run& run);
  // --recover=cleanup: kills the executors and containers a checkpoint names.
  void cleanupRun(const RunCheckpoint& saved);
  void cleanupExecutor(const ExecutorCheckpoint& saved);
  // Removes the Docker containers labelled with agent `agentId` that no run
  // knows.
  void removeOrphanContainers(const AgentID& agentId);
  // Stages the run (with its task, or only its state) for the checkpoint.
  void checkpoint(Run& run, bool withTask);
  // Stages the task's pending status updates for its run's checkpoint.
  void checkpointUpdates(const TaskKey& key);
  // Runs `fn` once what is staged now is on disk: at the end of this loop
  // turn, or once a failing checkpoint write succeeds again. Every
  // acknowledgement and forward of a status update goes through here.
  void whenDurable(std::function<void()> fn);
  // Acknowledges an executor's update `uuid` to `peer` once it is on disk.
  void ackWhenDurable(const std::string& peer, const std::string& uuid);
  // The end of a loop turn: writes what the turn staged in one batch.
  void commitCheckpoints();

  // ---- containers
  // A failed task that the kernel killed at its memory limit is reported
  // with REASON_MEMORY_LIMIT, the limit and the peak.
  void explainFailure(Run& run, TaskStatus& status);
  void sampleUsage();
  // The executor whose container the agent measures (a built-in native
  // one's, while it runs); null otherwise.
  Executor* measured(const Run& run);
  void sweepContainers();
  ContainerUsage usageOf(Run& run, Executor& executor);

  // ---- status updates
  void enqueueStatus(const FrameworkID& frameworkId, TaskStatus status);
  // Sends the stream's head, retried until acknowledged, unless one is in flight.
  void startStream(const TaskKey& key);
  void sendHead(UpdateStream& stream, const TaskKey& key);
  void resendAll();
  void forgetIfDone(const TaskKey& key);
  TaskStatus agentStatus(const Run& run, TaskState state, TaskReason reason, const std::string& message);

  void dropMessage(const std::string& reason);
  uint64_t droppedMessages() const;
  void installEndpoints();
  nlohmann::json stateJson();
  nlohmann::json containersJson();
  // The /metrics body (metrics.cpp). Samples every live container's usage.
  std::string metricsText();
  // Makes the containerizers (once the executor socket is bound).
  void startContainerizers();

  Loop& loop_;
  zmq::context_t& context_;
  AgentFlags flags_;
  std::string selfUser_;  // the user the agent runs as, by name
  wire::AgentInfoValue info_;
  TimeSource& time_;
  std::unique_ptr<Transport> master_;
  std::string masterAddress_;  // HOST:PORT the master socket is connected to
  std::unique_ptr<LeaderDetector> leaderDetector_;  // --master=zk://...
  std::unique_ptr<Transport> executors_;
  std::unique_ptr<HttpServer> http_;
  std::string executorEndpoint_;
  int httpPort_ = 0;
  std::shared_ptr<const HttpAuthPolicy> httpAuth_;

  AgentID agentId_;
  // The agent this one replaces, reported on the first registration.
  AgentID previousAgentId_;
  // The master's key for sandbox tokens (common/sandbox_token.hpp), from its
  // AgentRegistered; empty until then.
  std::string sandboxKey_;
  std::string previousAgentEnded_;
  bool registered_ = false;
  // Kinds of failed handshake with the master logged since it last
  // registered (each once, not at every retry).
  std::set<ZmqSocket::HandshakeFailure> reportedHandshakeFailures_;
  RetryBackoff backoff_;  // of registrations
  std::chrono::nanoseconds pingInterval_ = std::chrono::seconds(15);
  int maxPingTimeouts_ = 5;
  double lastPing_ = 0;              // time_.now() of the master's last ping
  double lastRegistrationSent_ = -1e9;
  Timer registrationTimer_;
  Timer masterWatchTimer_;
  Timer silenceCheck_;  // confirms the master's silence before giving up on it

  std::map<TaskKey, std::unique_ptr<Run>> runs_;
  // Tasks run here and forgotten, newest last: a late second launch of one
  // is ignored.
  std::set<TaskKey> finished_;
  std::deque<TaskKey> finishedOrder_;
  static constexpr size_t kRememberFinished = 10000;
  std::deque<ExecutorKey> launchQueue_;  // executors waiting for a start slot
  int starting_ = 0;       // executors started none of whose tasks runs yet
  int maxStarting_ = 8;
  // Set while many tasks are killed at once (a framework's shutdown, the
  // master's removal of this agent): a slot freed meanwhile does not start
  // an executor that the same sweep is about to kill.
  bool holdLaunches_ = false;
  std::map<ExecutorKey, std::unique_ptr<Executor>> executorsByKey_;
  std::map<std::string, ExecutorKey> executorsByPeer_;
  std::map<TaskKey, std::unique_ptr<UpdateStream>> streams_;
  AgentMetrics metrics_;

  std::set<std::string> containerizers_;  // from --containerizers
  std::unique_ptr<Isolator> isolator_;
  std::unique_ptr<Reaper> reaper_;        // every executor's end
  std::unique_ptr<Destroyer> destroyer_;  // every container's cgroups' removal
  std::unique_ptr<LauncherClient> launcher_;  // with --native-launcher=shared
  std::unique_ptr<ContainerizerContext> containerizerContext_;
  std::unique_ptr<Containerizer> native_;
  std::unique_ptr<Containerizer> docker_;  // with --containerizers=...docker
  std::unique_ptr<Containerizer> executorContainers_;  // frameworks' executors
  std::unique_ptr<GarbageCollector> gc_;
  Timer usageTimer_;
  Timer sweepTimer_;  // removes containers an agent that died left behind
  std::unique_ptr<FileSystem> files_;
  Checkpoints checkpoints_;
  EndOfTurn commitHook_;
  Timer commitRetry_;
  std::vector<std::function<void()>> afterCommit_;
  // The last checkpoint write's error while writes fail (/health is 503).
  std::optional<std::string> checkpointFailure_;
};

}  // namespace clusternodes::agent
