#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cli/processes.hpp"

using namespace clusternodes;
using namespace clusternodes::cli;

namespace {

ProcessInfo process(int pid, int sid, std::string cwd, std::vector<std::string> argv, int ppid = 1) {
  ProcessInfo p;
  p.pid = pid;
  p.ppid = ppid;
  p.pgid = pid;
  p.sid = sid;
  p.state = 'S';
  p.cwd = std::move(cwd);
  p.argv = std::move(argv);
  return p;
}

std::vector<int> pidsOf(const std::vector<ProcessInfo>& processes) {
  std::vector<int> out;
  for (const auto& p : processes) out.push_back(p.pid);
  return out;
}

}  // namespace

TEST_CASE("cli: splitCmdline splits on NUL with or without a final NUL") {
  using namespace std::string_literals;
  CHECK(splitCmdline("a\0--b=c\0"s) == std::vector<std::string>{"a", "--b=c"});
  CHECK(splitCmdline("a\0b"s) == std::vector<std::string>{"a", "b"});
  CHECK(splitCmdline("a\0\0b\0"s) == std::vector<std::string>{"a", "", "b"});
  CHECK(splitCmdline("").empty());
}

TEST_CASE("cli: pathIsUnder compares whole path components") {
  CHECK(pathIsUnder("/w/agent-1/sandboxes/x", "/w"));
  CHECK(pathIsUnder("/w", "/w"));
  CHECK(pathIsUnder("/w/x", "/w/"));
  CHECK(!pathIsUnder("/wx/agent-1", "/w"));
  CHECK(!pathIsUnder("/", "/w"));
  CHECK(!pathIsUnder("", "/w"));
  CHECK(!pathIsUnder("/w", ""));
  CHECK(pathIsUnder("/anything", "/"));
}

TEST_CASE("cli: programName and flagValue read argv") {
  auto p = process(5, 5, "/", {"/opt/bin/clusternodes-executor", "--agent=tcp://127.0.0.1:4000", "--x"});
  CHECK(programName(p) == "clusternodes-executor");
  CHECK(flagValue(p, "--agent") == "tcp://127.0.0.1:4000");
  CHECK(flagValue(p, "--x").empty());
  CHECK(flagValue(p, "--missing").empty());
  CHECK(programName(ProcessInfo{}).empty());
}

TEST_CASE("cli: executorEndpoints lists what the agents' executors connect to") {
  std::vector<ProcessInfo> all = {
      process(10, 10, "/w/agent-1", {"/bin/clusternodes-agent", "--work-dir=/w/agent-1"}),
      process(11, 11, "/w/agent-1/sandboxes/f/t/r", {"/bin/clusternodes-executor", "--agent=tcp://127.0.0.1:4000"}, 10),
      process(12, 12, "/elsewhere", {"/bin/clusternodes-executor", "--agent=tcp://127.0.0.1:5000"}, 99),
      process(13, 13, "/", {"/bin/sleep", "--agent=tcp://127.0.0.1:6000"}, 10),
  };
  CHECK(executorEndpoints(all, {10}) == std::set<std::string>{"tcp://127.0.0.1:4000"});
  CHECK(executorEndpoints(all, {}).empty());
}

TEST_CASE("cli: selectLeftovers picks sandbox processes and the cluster's executors only") {
  const int cliSession = 500;
  std::vector<ProcessInfo> all = {
      process(20, 20, "/w/agent-1/sandboxes/f/t/run", {"/bin/sh", "-c", "sleep 100"}),
      process(21, 20, "/w/agent-2/sandboxes/f/t/run", {"sleep", "100"}),
      process(22, 22, "/tmp", {"/bin/clusternodes-executor", "--agent=tcp://127.0.0.1:4000"}),
      process(23, 23, "/tmp", {"/bin/clusternodes-executor", "--agent=tcp://127.0.0.1:9999"}),
      process(24, 24, "/w", {"bash"}),                   // an operator's shell in the work dir
      process(25, 25, "/w/logs", {"tail", "-f", "x"}),   // reading the logs
      process(26, 26, "/w/master", {"vim"}),
      process(27, 27, "/wx/agent-1", {"other"}),         // a sibling directory
      process(28, cliSession, "/w/agent-1/sandboxes", {"bash"}),  // the CLI's own session
      process(29, 29, "/w/agent-1", {"self"}),
      process(30, 30, "", {"unreadable"}),
      process(1, 1, "/w/agent-1", {"init"}),
  };
  ProcessInfo zombie = process(31, 31, "/w/agent-1/sandboxes/x", {"sleep"});
  zombie.state = 'Z';
  all.push_back(zombie);

  LeftoverCriteria criteria;
  criteria.workDir = "/w";
  criteria.agentEndpoints = {"tcp://127.0.0.1:4000"};
  criteria.protectedPids = {29};
  criteria.protectedSession = cliSession;
  CHECK(pidsOf(selectLeftovers(all, criteria)) == std::vector<int>{20, 21, 22});
}

TEST_CASE("cli: tailLines returns the last lines of a file") {
  char pattern[] = "/tmp/cn-cli-tail-XXXXXX";
  int fd = ::mkstemp(pattern);
  REQUIRE(fd >= 0);
  ::close(fd);
  std::string path = pattern;
  {
    std::ofstream out(path);
    for (int i = 1; i <= 30; ++i) out << "line " << i << "\n";
  }
  auto tail = tailLines(path, 3);
  CHECK(tail == std::vector<std::string>{"line 28", "line 29", "line 30"});
  CHECK(tailLines(path, 100).size() == 30);
  CHECK(tailLines("/no/such/file", 3).empty());
  std::filesystem::remove(path);
}

TEST_CASE("cli: pickFreePorts returns distinct usable ports") {
  auto ports = pickFreePorts(3);
  REQUIRE(ports);
  REQUIRE(ports->size() == 3);
  CHECK((*ports)[0] != (*ports)[1]);
  CHECK((*ports)[1] != (*ports)[2]);
  CHECK((*ports)[0] != (*ports)[2]);
  for (int port : *ports) CHECK(port > 0);
}

TEST_CASE("cli: the running process is alive and a daemon check needs the right program") {
  CHECK(isAlive(::getpid()));
  CHECK(!isAlive(0));
  CHECK(!isAlive(-1));
  CHECK(!isClusterDaemon(::getpid(), "clusternodes-master", "/"));
  auto self = readProcess(::getpid());
  REQUIRE(self);
  CHECK(self->pid == ::getpid());
  CHECK(self->sid == ::getsid(0));
  CHECK(!self->argv.empty());
}
