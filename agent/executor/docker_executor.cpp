#include "agent/executor/docker_executor.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <thread>

namespace clusternodes::executor {
namespace {

using std::chrono::milliseconds;

std::string mebibytes(uint64_t bytes) {
  char out[32];
  std::snprintf(out, sizeof out, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return out;
}

// Appends everything it is given to a sandbox file.
class Appender {
 public:
  explicit Appender(const std::string& path)
      : fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) {}
  ~Appender() {
    if (fd_ >= 0) ::close(fd_);
  }
  Appender(const Appender&) = delete;
  Appender& operator=(const Appender&) = delete;

  void operator()(std::string_view data) const {
    while (fd_ >= 0 && !data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      data.remove_prefix(static_cast<size_t>(n));
    }
  }

 private:
  int fd_;
};

}  // namespace

docker::ContainerSpec containerSpec(const TaskInfo& task, const FrameworkID& frameworkId,
                                    wire::DockerLaunch::Reader launch, const std::string& sandbox,
                                    const std::map<std::string, std::string>& environment) {
  docker::ContainerSpec spec;
  spec.name = launch.getContainerName().cStr();
  spec.image = task.docker ? task.docker->image : "";
  const CommandInfo& command = task.command;
  if (command.shell) {
    if (!command.value.empty()) {
      spec.entrypoint = std::vector<std::string>{"/bin/sh", "-c"};
      spec.cmd = {command.value};
    }
  } else {
    if (!command.value.empty()) spec.entrypoint = std::vector<std::string>{command.value};
    spec.cmd = command.arguments;
  }
  for (const auto& [name, value] : environment) spec.env.push_back(name + "=" + value);
  spec.labels = {{"clusternodes.agent-id", task.agentId.value},
                 {"clusternodes.framework-id", frameworkId.value},
                 {"clusternodes.task-id", task.taskId.value}};
  spec.cpuShares = launch.getCpuShares();
  spec.cpuQuotaUs = launch.getCpuQuotaUs();
  spec.cpuPeriodUs = launch.getCpuPeriodUs();
  spec.memoryBytes = launch.getMemoryBytes();
  spec.binds.push_back({sandbox, kContainerSandbox, false});
  if (task.docker) {
    for (const auto& mapping : task.docker->portMappings) {
      spec.ports.push_back({static_cast<uint16_t>(mapping.hostPort), static_cast<uint16_t>(mapping.containerPort),
                            mapping.protocol});
    }
  }
  return spec;
}

TaskReason startFailureReason(const std::string& dockerMessage) {
  // runc's words when the command cannot be exec'd.
  if (dockerMessage.find("executable file not found") != std::string::npos ||
      dockerMessage.find("no such file or directory") != std::string::npos) {
    return TaskReason::kCommandNotFound;
  }
  if (dockerMessage.find("permission denied") != std::string::npos) return TaskReason::kCommandNotExecutable;
  return TaskReason::kContainerLaunchFailed;
}

DockerExecutor::DockerExecutor(Loop& loop, zmq::context_t& context, ExecutorFlags flags,
                               OnExecutorFinished onFinished)
    : TaskExecutor(loop, context, std::move(flags), std::move(onFinished)), graceTimer_(loop), worker_(std::make_unique<WorkerThread>()) {}

DockerExecutor::~DockerExecutor() {
  worker_.reset();  // runs what is queued, then stops
  // A container still running here was abandoned: it must not keep the
  // waiting thread, and so this process, alive.
  if (waiter_.joinable()) {
    if (!ended_) (void)client_->kill(name_, "KILL");
    waiter_.join();
  }
  if (logs_.joinable()) logs_.join();
}

void DockerExecutor::enqueue(std::function<void()> job) { worker_->post(std::move(job)); }

void DockerExecutor::onLoop(std::function<void()> fn) { loop_.post(std::move(fn)); }

void DockerExecutor::launch(wire::ExecutorContainer::Reader container) {
  if (!container.hasDocker() || !task_.docker) {
    report(TaskState::kFailed, TaskReason::kContainerLaunchFailed,
           "the Docker executor got a task without a Docker container");
    return;
  }
  auto launch = container.getDocker();
  client_ = std::make_unique<docker::Client>(launch.getSocket().cStr());
  name_ = launch.getContainerName().cStr();
  auto spec = containerSpec(task_, flags_.frameworkId, launch, sandbox_, taskEnvironment(kContainerSandbox));
  // The host's ids, not the name: an image need not know the user (one
  // built FROM scratch has no /etc/passwd at all).
  if (container.hasUser()) {
    auto user = container.getUser();
    spec.user = std::to_string(user.getUid()) + ":" + std::to_string(user.getGid());
  }
  bool forcePull = task_.docker->forcePull;
  enqueue([this, spec = std::move(spec), forcePull]() mutable { run(std::move(spec), forcePull); });
}

void DockerExecutor::run(docker::ContainerSpec spec, bool forcePull) {
  auto fail = [this](TaskReason reason, std::string message) {
    onLoop([this, reason, message = std::move(message)] { report(TaskState::kFailed, reason, message); });
  };
  const std::string image = spec.image;
  auto present = client_->hasImage(image);
  if (!present) {
    return fail(TaskReason::kContainerLaunchFailed,
                "cannot reach Docker at " + client_->socketPath() + ": " + present.error().message);
  }
  if (forcePull || !*present) {
    spdlog::info("pulling image {}", image);
    if (auto pulled = client_->pullImage(image); !pulled) {
      if (!*present) {
        return fail(TaskReason::kImageUnavailable,
                    "image " + image + " is not present and could not be pulled: " + pulled.error().message);
      }
      spdlog::warn("could not pull {} ({}); running the local copy", image, pulled.error().message);
    }
  }
  if (cancelled_) {
    onLoop([this] { report(TaskState::kKilled, TaskReason::kKilledByFramework, "killed before the container started"); });
    return;
  }
  auto created = client_->create(spec);
  if (!created) {
    TaskReason reason = created.error().code == ErrorCode::kNotFound ? TaskReason::kImageUnavailable
                                                                     : TaskReason::kContainerLaunchFailed;
    return fail(reason, "cannot create the container: " + created.error().message);
  }
  std::string id = *created;
  if (auto started = client_->start(id); !started) {
    (void)client_->remove(id);
    return fail(startFailureReason(started.error().message),
                "cannot start the container: " + started.error().message);
  }
  started_ = true;
  spdlog::info("started task {} as container {} ({})", task_.taskId.value, spec.name, id.substr(0, 12));
  logs_ = std::thread([this, id] { follow(id); });
  waiter_ = std::thread([this, id] { awaitExit(id); });
  onLoop([this] {
    report(TaskState::kRunning, TaskReason::kNone, "");
    // A kill that came while the container was being made.
    if (cancelled_) kill(0);
  });
}

void DockerExecutor::follow(const std::string& id) {
  Appender out(sandbox_ + "/stdout");
  Appender err(sandbox_ + "/stderr");
  auto followed = client_->followLogs(
      id, [&](std::string_view data) { out(data); }, [&](std::string_view data) { err(data); });
  if (!followed) spdlog::warn("lost the container's output: {}", followed.error().message);
}

void DockerExecutor::awaitExit(const std::string& id) {
  auto waited = client_->wait(id);
  if (!waited) spdlog::warn("waiting for the container failed: {}", waited.error().message);
  // The log stream ends with the container: the sandbox has all its output
  // before the task is reported ended.
  if (logs_.joinable()) logs_.join();
  docker::ContainerState state;
  if (auto inspected = client_->inspect(id); inspected) {
    state = *inspected;
    // Docker records an OOM kill from a cgroup event that can land after the
    // exit: a container under a memory limit that ended by SIGKILL is looked
    // at again, for up to a second, before it is taken for a plain kill.
    for (int i = 0; i < 10 && !state.oomKilled && state.exitCode == 137 && state.memoryBytes > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      auto again = client_->inspect(id);
      if (!again) break;
      state = *again;
    }
  } else {
    spdlog::warn("cannot inspect the container: {}", inspected.error().message);
    state.exitCode = waited ? *waited : -1;
  }
  if (auto removed = client_->remove(id); !removed) {
    spdlog::warn("cannot remove the container: {}", removed.error().message);
  }
  ended_ = true;
  onLoop([this, state] { exited(state); });
}

void DockerExecutor::exited(const docker::ContainerState& state) {
  graceTimer_.stop();
  std::string status = "status " + std::to_string(state.exitCode);
  if (killing_) {
    report(TaskState::kKilled, TaskReason::kKilledByFramework, "container stopped by a kill; exited with " + status,
           state.exitCode);
  } else if (state.oomKilled) {
    std::string limit = state.memoryBytes > 0 ? " of " + mebibytes(state.memoryBytes) : "";
    report(TaskState::kFailed, TaskReason::kMemoryLimit,
           "memory limit exceeded: Docker reports the container OOMKilled at its memory limit" + limit +
               " (exited with " + status + ")",
           state.exitCode);
  } else if (state.exitCode == 0) {
    report(TaskState::kFinished, TaskReason::kCommandExited, "container exited with status 0", 0);
  } else {
    std::string why = state.error.empty() ? "" : ": " + state.error;
    report(TaskState::kFailed, TaskReason::kCommandExited, "container exited with " + status + why, state.exitCode);
  }
}

void DockerExecutor::kill(int64_t gracePeriodMs) {
  if (!launched_ || terminalReported_) return;
  if (!started_) {
    // Not made or not running yet: run() sees the flag.
    killing_ = true;
    cancelled_ = true;
    return;
  }
  if (killing_ && gracePeriodMs > 0) return;  // a second kill never lengthens the grace
  killing_ = true;
  spdlog::info("killing task {}: SIGTERM to container {}, SIGKILL after {} ms", task_.taskId.value, name_,
               gracePeriodMs);
  auto signal = [this](const char* name) {
    enqueue([this, name] {
      if (auto sent = client_->kill(name_, name); !sent && sent.error().code != ErrorCode::kConflict) {
        spdlog::warn("cannot send SIG{} to the container: {}", name, sent.error().message);
      }
    });
  };
  if (gracePeriodMs <= 0) {
    signal("KILL");
    return;
  }
  signal("TERM");
  graceTimer_.start(milliseconds(gracePeriodMs), [signal] { signal("KILL"); });
}

void DockerExecutor::abandon() {
  cancelled_ = true;
  if (client_ != nullptr && !name_.empty()) (void)client_->remove(name_);
}

}  // namespace clusternodes::executor
