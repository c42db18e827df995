// Durable before acknowledged, on a real disk that fills up: an agent whose
// work dir is a small tmpfs, filled to the last byte before a task starts. The
// agent may neither acknowledge its executor's updates nor forward them
// while it cannot checkpoint them; it says so on /health and /metrics; and
// once space is back, every update arrives, in order, none lost.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "common/http_client.hpp"
#include "tests/harness/cluster.hpp"
#include "tests/harness/driver.hpp"
#include "tests/harness/recording_scheduler.hpp"

using namespace clusternodes;
using namespace clusternodes::testing;

namespace {

// A tmpfs of `megabytes` mounted at `path` for the test's life.
class SmallDisk {
 public:
  SmallDisk(std::string path, int megabytes) : path_(std::move(path)) {
    std::filesystem::create_directories(path_);
    std::string options = "size=" + std::to_string(megabytes) + "m,mode=0755";
    mounted_ = ::mount("tmpfs", path_.c_str(), "tmpfs", 0, options.c_str()) == 0;
    if (!mounted_) error_ = std::strerror(errno);
  }
  ~SmallDisk() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

  // Writes a file until the disk is full; returns the bytes written.
  size_t fill() {
    int fd = ::open((path_ + "/filler").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return 0;
    std::string block(4096, 'f');
    size_t total = 0;
    while (true) {
      ssize_t n = ::write(fd, block.data(), block.size());
      if (n <= 0) break;
      total += static_cast<size_t>(n);
    }
    ::close(fd);
    return total;
  }
  void free() { ::unlink((path_ + "/filler").c_str()); }

 private:
  std::string path_;
  bool mounted_ = false;
  std::string error_;
};

int healthStatus(const std::string& base) {
  auto r = httpGet(base + "/health", 5);
  return r ? r->status : -1;
}

std::vector<std::string> statesOf(RecordingScheduler& scheduler, const std::string& task) {
  std::vector<std::string> states;
  for (const auto& status : scheduler.statusesOf(TaskID{task})) states.push_back(toString(status.state));
  return states;
}

}  // namespace

TEST_CASE("a full disk holds back the agent's acknowledgements and forwards, and loses no update") {
  TestCluster cluster;
  SmallDisk disk(cluster.dir() + "/agent-disk", 4);
  REQUIRE_MESSAGE(disk.mounted(), "cannot mount a tmpfs for the agent: " << disk.error());
  cluster.startMaster();
  size_t agent = cluster.startAgent("cpus:2;mem:1024;disk:16", {"--work-dir=" + cluster.dir() + "/agent-disk/work"});
  cluster.waitForAgents(1);
  std::string agentHttp = cluster.agentHttp(agent);
  REQUIRE(healthStatus(agentHttp) == 200);

  // The disk fills up before the task is launched: nothing of it can be
  // checkpointed (the agent's id was, when it registered).
  REQUIRE(disk.fill() > 0);
  RecordingScheduler scheduler;
  launchOnOffers(scheduler, {{"", [&](const Offer& offer) {
                                return std::vector<TaskInfo>{makeTask("patient", offer, "true")};
                              }}});
  auto driver = startDriver(scheduler, cluster, "durability");

  // The executor's updates are neither acknowledged (the executor stays,
  // re-sending them) nor forwarded; the agent says why.
  REQUIRE(eventually([&] { return healthStatus(agentHttp) == 503; }, std::chrono::seconds(20)));
  auto health = httpGet(agentHttp + "/health", 5);
  REQUIRE(health);
  CHECK(health->body.find("No space left on device") != std::string::npos);
  auto metrics = httpGet(agentHttp + "/metrics", 5);
  REQUIRE(metrics);
  CHECK(metrics->body.find("clusternodes_agent_checkpoint_failing 1") != std::string::npos);
  // The agent keeps a task until its executor has ended (a process of its
  // own, or one inside the launcher): kept here while it waits for acks.
  auto agentKeeps = [&](const std::string& id) {
    auto state = cluster.agentState(agent);  // kept: the loop reads a member of it
    if (!state.is_object()) return false;
    for (const auto& task : state["tasks"]) {
      if (task["id"] == id) return true;
    }
    return false;
  };
  REQUIRE(eventually([&] { return agentKeeps("patient"); }));
  ::usleep(1500 * 1000);  // several executor re-sends and commit retries
  CHECK(statesOf(scheduler, "patient").empty());
  CHECK(agentKeeps("patient"));

  // Space again: the update goes through once, in order, and the executor,
  // acknowledged at last, exits.
  disk.free();
  REQUIRE(scheduler.waitFor(
      [&] { return statesOf(scheduler, "patient").size() == 3; }, std::chrono::seconds(30)));
  CHECK(statesOf(scheduler, "patient") ==
        std::vector<std::string>{"TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"});
  CHECK(eventually([&] { return healthStatus(agentHttp) == 200; }, std::chrono::seconds(10)));
  CHECK(eventually([&] { return !agentKeeps("patient"); }, std::chrono::seconds(20)));
  metrics = httpGet(agentHttp + "/metrics", 5);
  REQUIRE(metrics);
  CHECK(metrics->body.find("clusternodes_agent_checkpoint_failing 0") != std::string::npos);
  CHECK(metrics->body.find("clusternodes_agent_checkpoint_write_failures_total 0") == std::string::npos);
  driver->stop();
}

TEST_CASE("a master whose registry cannot be written admits no agent until it can, and says so") {
  TestCluster cluster;
  SmallDisk disk(cluster.dir() + "/master-disk", 4);
  REQUIRE_MESSAGE(disk.mounted(), "cannot mount a tmpfs for the master: " << disk.error());
  cluster.startMaster({"--work-dir=" + cluster.dir() + "/master-disk/work"});
  const std::string masterHttp = cluster.masterHttp();
  REQUIRE(healthStatus(masterHttp) == 200);

  // The registry's disk is full before the agent comes: its admission cannot
  // be written, so the master may not answer it (the agent keeps asking).
  REQUIRE(disk.fill() > 0);
  cluster.startAgent("cpus:1;mem:256;disk:16");
  REQUIRE(eventually([&] { return healthStatus(masterHttp) == 503; }, std::chrono::seconds(20)));
  auto health = httpGet(masterHttp + "/health", 5);
  REQUIRE(health);
  CHECK(health->body.find("registry") != std::string::npos);
  auto metrics = httpGet(masterHttp + "/metrics", 5);
  REQUIRE(metrics);
  CHECK(metrics->body.find("clusternodes_master_registry_failing 1") != std::string::npos);
  ::usleep(1500 * 1000);  // several registrations and write retries
  auto state = cluster.state();
  REQUIRE(state.is_object());
  REQUIRE(state["agents"].size() == 1);
  CHECK(state["agents"][0]["admission_pending"] == true);
  CHECK(state["agents"][0]["active"] == false);
  CHECK(cluster.agentState(0)["registered"] == false);

  // Space again: the agent is admitted (once) and the master is healthy.
  disk.free();
  cluster.waitForAgents(1);
  CHECK(eventually([&] { return healthStatus(masterHttp) == 200; }, std::chrono::seconds(10)));
  state = cluster.state();
  REQUIRE(state["agents"].size() == 1);
  CHECK(state["agents"][0]["admission_pending"] == false);
  CHECK(eventually([&] { return cluster.agentState(0)["registered"] == true; }));
  metrics = httpGet(masterHttp + "/metrics", 5);
  REQUIRE(metrics);
  CHECK(metrics->body.find("clusternodes_master_registry_failing 0") != std::string::npos);

  // What it admitted is on disk: a restarted master knows the agent.
  cluster.stopMaster(SIGKILL);
  cluster.startMaster({"--work-dir=" + cluster.dir() + "/master-disk/work"});
  std::string registry;
  {
    std::ifstream in(cluster.dir() + "/master-disk/work/registry.json");
    registry.assign(std::istreambuf_iterator<char>(in), {});
  }
  CHECK(registry.find(state["agents"][0]["id"].get<std::string>()) != std::string::npos);
}
