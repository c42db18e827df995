// Test harness: real master, agent and framework processes on loopback.
//
//   TestCluster cluster;
//   cluster.startMaster();
//   cluster.startAgent("cpus:2;mem:2048");
//   cluster.waitForAgents(1);
//   auto result = runProgram({binary("launch-tasks"), "--master=" + cluster.master(), ...});
//
// Every process runs in its own process group with its output in a log file
// under the cluster's temporary directory. The destructor kills them all,
// then any process still working inside that directory (executors and tasks),
// and removes the directory.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace clusternodes::testing {

// Path of a built program (build/bin/NAME).
std::string binary(const std::string& name);

// A TCP port this test process owns until it exits: below the kernel's
// ephemeral range (so no connect() or bind to port 0 anywhere is handed it),
// free on 127.0.0.1 when picked, and locked (a file in /tmp/cn-test-ports),
// so that tests running at the same time, and other runs of the suite,
// never pick the same one. A daemon restarted on it finds it still free.
int freePort();

// `count` consecutive such ports; returns the first. For an agent's "ports"
// resource when its tasks publish them on the host (Docker).
int freePorts(int count);

// "ports:[FIRST-LAST]" for freePorts(count).
std::string portsResource(int count);

// A child process in its own process group.
class Process {
 public:
  Process(std::vector<std::string> argv, const std::string& logFile);
  ~Process();  // SIGKILLs the group and reaps
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool alive();
  void signal(int signum);        // to the process only
  void signalGroup(int signum);   // to its whole group
  // Waits for the exit; returns the raw wait status, or -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  const std::string& logFile() const { return logFile_; }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::string logFile_;
};

struct ProgramResult {
  int exitCode = -1;  // -1: killed by the timeout or a signal
  std::string output;  // stdout and stderr together
};

// Runs a program to completion (killed after `timeout`).
ProgramResult runProgram(const std::vector<std::string>& argv,
                         std::chrono::milliseconds timeout = std::chrono::seconds(120));

// Polls `predicate` every 20 ms until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& predicate,
                std::chrono::milliseconds timeout = std::chrono::seconds(20));

// Pids of processes whose command line (arguments joined by spaces) contains
// `needle`, or with exact = true, is `needle`; with `cwdUnder`, only those
// whose working directory is inside it (a test's own tasks and executors).
std::vector<pid_t> processesMatching(const std::string& needle, bool exact = false,
                                     const std::string& cwdUnder = "");

class TestCluster {
 public:
  TestCluster();
  ~TestCluster();

  const std::string& dir() const { return dir_; }
  // Agent N's --cgroups-root is cgroupsRootPrefix() + N (unless the test
  // gives its own); the cluster removes them when it ends.
  std::string cgroupsRootPrefix() const;
  // processesMatching among this cluster's processes only (those whose
  // working directory is inside dir(): executors and tasks).
  std::vector<pid_t> processesMatching(const std::string& needle, bool exact = false) const {
    return testing::processesMatching(needle, exact, dir_);
  }
  std::string master() const { return "127.0.0.1:" + std::to_string(masterPort_); }
  // https:// when the master was given --tls-cert (the test then trusts its
  // CA through setHttpCaFile).
  std::string masterHttp() const;

  // Starts the master with fast pings (ping timeout 500 ms, 4 misses) unless
  // `flags` says otherwise. Returns once its /health answers.
  void startMaster(const std::vector<std::string>& flags = {});
  void stopMaster(int signum = SIGKILL);
  Process& masterProcess() { return *master_; }

  // Starts an agent; returns its index. A flag given here replaces the
  // harness's default of the same name. With a launcher (Hosts::launcher),
  // the agent runs through it, on another host: give it that host's --ip.
  size_t startAgent(const std::string& resources = "cpus:2;mem:2048;disk:1024",
                    const std::vector<std::string>& flags = {}, const std::vector<std::string>& launcher = {});
  Process& agent(size_t index) { return *agents_.at(index).process; }
  // Starts the agent again with the same flags (work dir and ports), after
  // killing it with SIGKILL if it still runs. A flag given here replaces the
  // one of the same name, for this and later restarts.
  void restartAgent(size_t index, const std::vector<std::string>& flags = {});
  std::string agentHttp(size_t index) const;
  // The agent's ZeroMQ endpoint for executors.
  std::string agentEndpoint(size_t index) const {
    return "tcp://" + agentIp(index) + ":" + std::to_string(agents_.at(index).port);
  }
  std::string agentIp(size_t index) const;

  // Master /state (null on failure) and a wait for N reachable agents.
  nlohmann::json state() const;
  nlohmann::json agentState(size_t index) const;
  void waitForAgents(size_t count);

  // GET a path on the master's HTTP port; body, or "" on failure.
  std::string masterGet(const std::string& path) const;

 private:
  struct AgentProcess {
    std::unique_ptr<Process> process;
    int port = 0;
    int httpPort = 0;
    std::vector<std::string> argv;  // with its launcher's words first
    int restarts = 0;
  };

  std::string dir_;
  int masterPort_ = 0;
  int masterHttpPort_ = 0;
  std::vector<std::string> masterFlags_;
  std::unique_ptr<Process> master_;
  std::vector<AgentProcess> agents_;
};

}  // namespace clusternodes::testing
