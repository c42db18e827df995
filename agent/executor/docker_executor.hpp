// DockerExecutor: the built-in executor that runs one Docker task
// (clusternodes-docker-executor).
//
// It talks to the agent as every built-in executor does (task_executor.hpp)
// and drives the Docker Engine API (agent/docker/client.hpp):
//   1. pulls the image when it is missing, or always with force pull; a
//      missing image that cannot be pulled is TASK_FAILED with
//      REASON_IMAGE_UNAVAILABLE and Docker's words;
//   2. creates the container `clusternodes-<run uuid>` with the task's
//      limits (from the agent), its port mappings, its environment, the
//      sandbox mounted at /mnt/clusternodes/sandbox, and labels naming the
//      agent, framework and task; starts it and reports TASK_RUNNING;
//   3. copies the container's stdout and stderr into the sandbox's `stdout`
//      and `stderr` as they come;
//   4. when it stops, reports TASK_FINISHED or TASK_FAILED with its exit
//      code, REASON_MEMORY_LIMIT when Docker says OOMKilled, or TASK_KILLED
//      after a kill, then removes the container.
// A kill sends SIGTERM to the container and SIGKILL after the grace period.
//
// The Docker API blocks (a pull, a wait that lasts as long as the task), so
// the calls run on threads of their own and hand their results to the loop.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "agent/docker/client.hpp"
#include "agent/executor/task_executor.hpp"
#include "common/worker_thread.hpp"

namespace clusternodes::executor {

// Where a Docker task finds its sandbox.
inline constexpr const char* kContainerSandbox = "/mnt/clusternodes/sandbox";

// The container a Docker task runs as: its command per DockerInfo's rules,
// environment, labels, limits, sandbox mount and ports.
docker::ContainerSpec containerSpec(const TaskInfo& task, const FrameworkID& frameworkId,
                                    wire::DockerLaunch::Reader launch, const std::string& sandbox,
                                    const std::map<std::string, std::string>& environment);

// The reason for a container Docker could not start, from its message: a
// command it could not find or run, else REASON_CONTAINER_LAUNCH_FAILED.
TaskReason startFailureReason(const std::string& dockerMessage);

class DockerExecutor : public TaskExecutor {
 public:
  DockerExecutor(Loop& loop, zmq::context_t& context, ExecutorFlags flags, OnExecutorFinished onFinished);
  ~DockerExecutor() override;

 private:
  void launch(wire::ExecutorContainer::Reader container) override;
  void kill(int64_t gracePeriodMs) override;
  void abandon() override;

  // On the worker: image, create, start; then the log and wait threads.
  void run(docker::ContainerSpec spec, bool forcePull);
  void follow(const std::string& id);
  void awaitExit(const std::string& id);
  // On the loop: the container ended as `state`.
  void exited(const docker::ContainerState& state);
  // Runs `job` on the worker thread, after the jobs before it.
  void enqueue(std::function<void()> job);
  // Hands `fn` to the loop thread.
  void onLoop(std::function<void()> fn);

  std::unique_ptr<docker::Client> client_;
  std::string name_;  // the container's name
  Timer graceTimer_;
  bool killing_ = false;
  std::atomic<bool> cancelled_{false};  // killed before the container ran
  std::atomic<bool> started_{false};    // the container was started
  std::atomic<bool> ended_{false};      // it stopped, and was inspected and removed

  std::unique_ptr<WorkerThread> worker_;  // image, create, start, signals
  std::thread logs_;
  std::thread waiter_;
};

}  // namespace clusternodes::executor
