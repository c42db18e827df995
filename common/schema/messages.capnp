@0xd0c10036be02a7d9;
# Every message Clusternodes processes exchange. One ZeroMQ message carries
# one Envelope; dispatch is a switch over its union. Fields are only ever
# added (never renumbered), so old and new processes keep talking.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("clusternodes::wire");

# ---------------------------------------------------------------- values

struct Range {
  begin @0 :UInt64;
  end @1 :UInt64;
}

struct Resource {
  name @0 :Text;
  role @1 :Text;             # "*" when unreserved
  scalarMilli @2 :Int64;     # scalar amount in thousandths
  ranges @3 :List(Range);    # set for range resources (ports)
  isRanges @4 :Bool;
}

struct Attribute {
  name @0 :Text;
  value @1 :Text;
}

struct FrameworkInfo {
  name @0 :Text;
  user @1 :Text;
  role @2 :Text;
  principal @3 :Text;
  id @4 :Text;
  failoverTimeoutSeconds @5 :Float64;
  partitionAware @6 :Bool;
  hostname @7 :Text;
  roles @8 :List(Text);       # several roles; when set, `role` is ignored
  webuiUrl @9 :Text;          # the framework's own web UI or API, "http://host:port"
}

struct AgentInfo {
  hostname @0 :Text;
  resources @1 :List(Resource);
  attributes @2 :List(Attribute);
  httpPort @3 :UInt16;
  bootId @4 :Text;
  ip @5 :Text;               # the address the agent listens on (--ip)
  httpTls @6 :Bool;          # its HTTP port speaks TLS: https://
}

struct EnvVar {
  name @0 :Text;
  value @1 :Text;
}

struct CommandInfo {
  value @0 :Text;
  shell @1 :Bool;
  arguments @2 :List(Text);
  environment @3 :List(EnvVar);
  user @4 :Text;             # the user to run as; "": the framework's
}

struct ExecutorInfo {
  executorId @0 :Text;
  name @1 :Text;
  command @2 :CommandInfo;
  resources @3 :List(Resource);
}

struct TaskInfo {
  name @0 :Text;
  taskId @1 :Text;
  agentId @2 :Text;
  resources @3 :List(Resource);
  command @4 :CommandInfo;
  killGracePeriodMs @5 :Int64;   # -1: the agent's default
  cpuLimit @6 :Float64;          # a hard cpu limit (CFS quota) in cpus; 0: none
  docker @7 :DockerInfo;         # absent: a native task
  executor @8 :ExecutorInfo;     # absent: the command executor runs `command`
  data @9 :Data;                 # opaque, for the framework's executor
}

struct PortMapping {
  hostPort @0 :UInt32;
  containerPort @1 :UInt32;
  protocol @2 :Text;
}

struct DockerInfo {
  image @0 :Text;
  forcePull @1 :Bool;
  portMappings @2 :List(PortMapping);
}

struct TaskStatus {
  taskId @0 :Text;
  state @1 :Text;          # "TASK_RUNNING", ...
  message @2 :Text;
  reason @3 :Text;         # "REASON_COMMAND_EXITED", ...
  source @4 :UInt8;        # 0 master, 1 agent, 2 executor
  agentId @5 :Text;
  hasExitCode @6 :Bool;
  exitCode @7 :Int32;
  hasSignal @8 :Bool;
  signal @9 :Int32;
  timestamp @10 :Float64;
  uuid @11 :Text;
  frameworkId @12 :Text;
  data @13 :Data;          # opaque, from the executor to the scheduler
}

struct Offer {
  id @0 :Text;
  frameworkId @1 :Text;
  agentId @2 :Text;
  hostname @3 :Text;
  resources @4 :List(Resource);
  attributes @5 :List(Attribute);
  allocationRole @6 :Text;
}

struct RunningTask {
  frameworkId @0 :Text;
  task @1 :TaskInfo;
  state @2 :Text;
  frameworkInfo @3 :FrameworkInfo;
  # The newest status update the framework has not acknowledged, if any. A
  # task that has ended is reported while its updates are pending, so that
  # they still reach the framework through a master that restarted.
  lastStatus @4 :TaskStatus;
}

# ---------------------------------------------------------- agent <-> master

struct RegisterAgent {
  agentId @0 :Text;          # empty on first registration
  info @1 :AgentInfo;
  tasks @2 :List(RunningTask);  # on re-registration: every task it runs
  # On a first registration: the agent this host ran before, whose tasks did
  # not survive, and why ("the host rebooted", "--recover=cleanup").
  previousAgentId @3 :Text;
  previousAgentEnded @4 :Text;
  # On re-registration: the frameworks' executors it runs (they hold
  # resources of their own, with or without tasks).
  executors @5 :List(RunningExecutor);
}

struct RunningExecutor {
  frameworkId @0 :Text;
  info @1 :ExecutorInfo;
}

struct AgentRegistered {
  agentId @0 :Text;
  pingIntervalMs @1 :Int64;
  maxPingTimeouts @2 :UInt32;
  reregistered @3 :Bool;
  # The key the master signs sandbox tokens with (common/sandbox_token.hpp),
  # for the agent to check them; the same for the master's whole life.
  sandboxKey @4 :Data;
}

struct Ping {
  sequence @0 :UInt64;
}

struct RunTask {
  frameworkId @0 :Text;
  frameworkInfo @1 :FrameworkInfo;
  task @2 :TaskInfo;
}

struct KillTask {
  frameworkId @0 :Text;
  taskId @1 :Text;
  killGracePeriodMs @2 :Int64;  # -1: the task's own or the agent's default
}

struct StatusUpdate {
  frameworkId @0 :Text;
  status @1 :TaskStatus;   # status.uuid identifies the update
}

struct StatusUpdateAck {
  frameworkId @0 :Text;
  agentId @1 :Text;
  taskId @2 :Text;
  uuid @3 :Text;
}

struct ShutdownFramework {
  frameworkId @0 :Text;
}

struct Reregister {
  reason @0 :Text;          # why the master does not know the sender
}

struct ShutdownAgent {
  reason @0 :Text;
}

# ------------------------------------------------------ framework <-> master

struct Subscribe {
  info @0 :FrameworkInfo;   # info.id set when re-registering
  # The roles that get no offers until revived (Mesos's suppressed_roles):
  # a subscription sets them exactly, the others are revived.
  suppressedRoles @1 :List(Text);
}

struct Subscribed {
  frameworkId @0 :Text;
  heartbeatIntervalMs @1 :Int64;
  reregistered @2 :Bool;
}

struct ResourceOffers {
  offers @0 :List(Offer);
}

struct RescindOffer {
  offerId @0 :Text;
}

struct Operation {
  union {
    launch @0 :List(TaskInfo);
    unknown @1 :Void;
    reserve @2 :List(Resource);     # resources with the role to reserve them for
    unreserve @3 :List(Resource);   # reserved resources to give back
  }
}

struct Accept {
  frameworkId @0 :Text;
  offerIds @1 :List(Text);
  operations @2 :List(Operation);
  refuseSeconds @3 :Float64;
}

struct Decline {
  frameworkId @0 :Text;
  offerIds @1 :List(Text);
  refuseSeconds @2 :Float64;
}

struct FrameworkCall {
  frameworkId @0 :Text;
  roles @1 :List(Text);     # revive, suppress: only these of its roles; empty: all
}

# Framework -> master -> agent: shut down one of the framework's own
# executors, which kills its tasks (Mesos's SHUTDOWN call).
struct KillExecutor {
  frameworkId @0 :Text;
  executorId @1 :Text;
  agentId @2 :Text;
}

struct Kill {
  frameworkId @0 :Text;
  taskId @1 :Text;
  agentId @2 :Text;
  killGracePeriodMs @3 :Int64;
}

struct Reconcile {
  frameworkId @0 :Text;
  tasks @1 :List(ReconcileTask);
}

struct ReconcileTask {
  taskId @0 :Text;
  agentId @1 :Text;
}

struct FrameworkError {
  message @0 :Text;
}

struct AgentLost {
  agentId @0 :Text;
}

struct Teardown {
  frameworkId @0 :Text;
}

# ------------------------------------------------------ executor <-> agent

# Every executor registers by its ExecutorID: a framework's own executor by
# the id in its ExecutorInfo, a built-in executor (native command, Docker) by
# its task's id, which the agent makes its executor id.
struct RegisterExecutor {
  taskId @0 :Text;           # only from built-in executors of earlier releases (no executorId)
  frameworkId @1 :Text;
  pid @2 :Int32;
  executorId @3 :Text;
}

# How a built-in executor runs its task in the container the agent made for
# it; empty for a framework's executor.
struct ExecutorContainer {
  sandbox @0 :Text;
  # The agent's kill grace when a kill names none.
  killGracePeriodMs @1 :Int64;
  # The container's cgroup directories, which the executor joins to start the
  # command, and the agent's own, which it returns to; empty without cgroups.
  cgroups @2 :List(Text);
  returnCgroups @3 :List(Text);
  # For a Docker task: where Docker is and how the container is made.
  docker @4 :DockerLaunch;
  # The user the task runs as, as the agent found it on this host; absent:
  # the executor's own (the agent's).
  user @5 :TaskUser;
}

struct TaskUser {
  name @0 :Text;
  uid @1 :UInt32;
  gid @2 :UInt32;
  groups @3 :List(UInt32);   # every group, the primary one included
}

# The agent accepted an executor; its tasks follow as RunTask, kills as
# KillTask, and ShutdownExecutor ends it.
struct ExecutorRegistered {
  executor @0 :ExecutorInfo;
  frameworkId @1 :Text;
  frameworkInfo @2 :FrameworkInfo;
  agentId @3 :Text;
  hostname @4 :Text;
  httpUrl @5 :Text;          # the agent's HTTP address, http://IP:PORT
  agentPid @6 :Int32;        # the executor watches it (see LaunchCommand)
  reregistered @7 :Bool;     # an agent that restarted took it back
  container @8 :ExecutorContainer;  # a built-in executor's
}

# Opaque bytes between a scheduler and one of its executors, relayed by the
# master and the executor's agent; not retried.
struct FrameworkMessage {
  frameworkId @0 :Text;
  executorId @1 :Text;
  agentId @2 :Text;
  data @3 :Data;
}

# A framework's executor ended (agent -> master -> scheduler).
struct ExecutorExited {
  frameworkId @0 :Text;
  executorId @1 :Text;
  agentId @2 :Text;
  status @3 :Int32;          # exit code, 128 + signal, or -1: unknown
  message @4 :Text;
}

# LaunchCommand and KillCommand go only to built-in executors of earlier
# releases, which registered by task id: they still run after an upgrade.
struct LaunchCommand {
  task @0 :TaskInfo;
  sandbox @1 :Text;
  killGracePeriodMs @2 :Int64;
  # The container's cgroup directories, which the executor joins to start the
  # command, and the agent's own, which it returns to; empty without cgroups.
  cgroups @3 :List(Text);
  returnCgroups @4 :List(Text);
  # For a Docker task: where Docker is and how the container is made.
  docker @5 :DockerLaunch;
  # The agent's pid: the executor watches it, and re-registers with the
  # agent that restarts in its place.
  agentPid @6 :Int32;
}

struct DockerLaunch {
  socket @0 :Text;           # the Docker Engine API's unix socket
  containerName @1 :Text;    # "clusternodes-<run uuid>"
  cpuShares @2 :UInt64;
  cpuQuotaUs @3 :Int64;      # 0: no quota
  cpuPeriodUs @4 :Int64;
  memoryBytes @5 :UInt64;    # 0: no limit
}

struct KillCommand {
  killGracePeriodMs @0 :Int64;
}

struct ExecutorStatus {
  status @0 :TaskStatus;
}

struct ExecutorAck {
  uuid @0 :Text;
}

# ------------------------------------------------------ agent -> master

# What each running task's container uses, sent every --usage-interval.
struct ContainerUsage {
  frameworkId @0 :Text;
  taskId @1 :Text;
  cpuSeconds @2 :Float64;
  cpuUserSeconds @3 :Float64;
  cpuSystemSeconds @4 :Float64;
  memBytes @5 :UInt64;
  memPeakBytes @6 :UInt64;
  memLimitBytes @7 :UInt64;
  processes @8 :UInt32;
  timestamp @9 :Float64;
  oomKills @10 :UInt64;
}

struct ContainerUsages {
  containers @0 :List(ContainerUsage);
}

# ------------------------------------------------------ tools <-> master

struct MasterInfo {
  id @0 :Text;
  httpPort @1 :UInt16;
  ip @2 :Text;
  # False for a standby master (--zk), which names the leader it knows.
  leading @3 :Bool = true;
  leader @4 :Text;      # HOST:PORT (ZeroMQ) of the leader; "" when none is known
  leaderHttp @5 :Text;  # http://HOST:PORT (or https://) of the leader
  httpTls @6 :Bool;     # this master's HTTP port speaks TLS: https://
}

# A standby master's answer to anything but getMasterInfo: it does not serve
# and names the leader instead, so that a peer given a fixed HOST:PORT goes
# there.
struct NotLeader {
  leader @0 :Text;  # HOST:PORT (ZeroMQ); "" when no leader is known
  leaderHttp @1 :Text;
}

# An offer operation other than a launch that the master refused: nothing
# of it was applied (a refused launch is answered by a status update).
struct OperationRefused {
  frameworkId @0 :Text;
  operation @1 :Text;   # "RESERVE", "UNRESERVE", ...
  reason @2 :Text;
}

# ------------------------------------------------------------- launcher
#
# clusternodes-launcher (agent/launcher/): one long-lived process per agent
# that runs the built-in command executor of every native task inside
# itself. Its control socket speaks these with the agent's executor socket;
# each executor inside it registers on a socket of its own, as
# clusternodes-executor does (RegisterExecutor with the launcher's pid).

# launcher -> agent, and again every retry interval until LauncherRegistered.
struct RegisterLauncher {
  pid @0 :Int32;
  startTime @1 :UInt64;        # the launcher's, /proc/PID/stat (a reused pid is not it)
  containers @2 :List(Text);   # the containers whose executors it still runs
}

# agent -> launcher: registration accepted. The launcher watches agentPid.
struct LauncherRegistered {
  agentPid @0 :Int32;
}

# agent -> launcher: start the command executor of a native task. It
# registers on its own socket like clusternodes-executor.
struct StartExecutor {
  containerId @0 :Text;
  frameworkId @1 :Text;
  taskId @2 :Text;
  sandbox @3 :Text;            # its executor.log goes here
}

# launcher -> agent: the executor of a container ended; re-sent until
# acknowledged (LauncherAck with the same container).
struct ExecutorEnded {
  containerId @0 :Text;
  exitCode @1 :Int32;          # what clusternodes-executor would have exited with
}

# agent -> launcher: forget a container (its executor is abandoned: its
# task's processes are killed, no terminal update is sent) or acknowledge
# its ExecutorEnded.
struct LauncherContainer {
  containerId @0 :Text;
}

# launcher -> agent: the command of a container's task started as `pid` (for
# the container's usage and kill without cgroups, which otherwise follow the
# executor's process, here the launcher). Sent again with every
# registration for each command still running.
struct CommandStarted {
  containerId @0 :Text;
  pid @1 :Int32;
}

# ------------------------------------------------------------- envelope

struct Envelope {
  union {
    registerAgent @0 :RegisterAgent;
    agentRegistered @1 :AgentRegistered;
    ping @2 :Ping;
    pong @3 :Ping;
    runTask @4 :RunTask;
    killTask @5 :KillTask;
    statusUpdate @6 :StatusUpdate;
    statusUpdateAck @7 :StatusUpdateAck;
    shutdownFramework @8 :ShutdownFramework;
    reregister @9 :Reregister;
    shutdownAgent @10 :ShutdownAgent;

    subscribe @11 :Subscribe;
    subscribed @12 :Subscribed;
    resourceOffers @13 :ResourceOffers;
    rescindOffer @14 :RescindOffer;
    accept @15 :Accept;
    decline @16 :Decline;
    revive @17 :FrameworkCall;
    suppress @18 :FrameworkCall;
    kill @19 :Kill;
    acknowledge @20 :StatusUpdateAck;
    reconcile @21 :Reconcile;
    frameworkError @22 :FrameworkError;
    agentLost @23 :AgentLost;
    teardown @24 :Teardown;
    heartbeat @25 :FrameworkCall;

    registerExecutor @26 :RegisterExecutor;
    launchCommand @27 :LaunchCommand;
    killCommand @28 :KillCommand;
    executorStatus @29 :ExecutorStatus;
    executorAck @30 :ExecutorAck;
    shutdownExecutor @31 :Void;

    getMasterInfo @32 :Void;
    masterInfo @33 :MasterInfo;

    containerUsages @34 :ContainerUsages;

    frameworkMessage @35 :FrameworkMessage;
    executorExited @36 :ExecutorExited;
    executorRegistered @37 :ExecutorRegistered;

    registerLauncher @38 :RegisterLauncher;
    launcherRegistered @39 :LauncherRegistered;
    startExecutor @40 :StartExecutor;
    executorEnded @41 :ExecutorEnded;
    killContainer @42 :LauncherContainer;
    launcherAck @43 :LauncherContainer;
    commandStarted @44 :CommandStarted;

    notLeader @45 :NotLeader;

    operationRefused @46 :OperationRefused;

    killExecutor @47 :KillExecutor;
  }
}
