// The daemons' flags from a TOML config file and CLUSTERNODES_* environment
// variables, on the real programs: which source wins, and how a bad value is
// refused.
#include <doctest/doctest.h>

#include <fstream>
#include <string>
#include <vector>

#include "tests/harness/cluster.hpp"
#include "tests/harness/text.hpp"

using namespace clusternodes::testing;

namespace {

std::string writeFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}

// argv run under `env` with extra variables.
std::vector<std::string> withEnv(std::vector<std::string> env, const std::vector<std::string>& argv) {
  env.insert(env.begin(), "/usr/bin/env");
  env.insert(env.end(), argv.begin(), argv.end());
  return env;
}

}  // namespace

TEST_CASE("config: an agent's flags come from the command line, then the environment, then its config file") {
  TestCluster cluster;
  cluster.startMaster();
  auto config = writeFile(cluster.dir() + "/agent.toml",
                          "# an agent\n"
                          "hostname = \"from-file\"\n"
                          "resources = \"cpus:1;mem:256\"\n"
                          "attributes = \"rack:r7;zone:file\"\n"
                          "isolation = \"none\"\n"
                          "log_level = \"warn\"\n");
  Process agent(withEnv({"CLUSTERNODES_AGENT_RESOURCES=cpus:3;mem:512", "CLUSTERNODES_AGENT_HOSTNAME=from-env",
                         "CLUSTERNODES_AGENT_CONFIG=" + config},
                        {binary("clusternodes-agent"), "--hostname=from-command-line", "--master=" + cluster.master(),
                         "--port=0", "--http-port=0", "--work-dir=" + cluster.dir() + "/agent"}),
                cluster.dir() + "/agent.log");
  cluster.waitForAgents(1);
  auto state = cluster.state();
  REQUIRE(state["agents"].size() == 1);
  const auto& seen = state["agents"][0];
  CHECK(seen["hostname"] == "from-command-line");
  CHECK(seen["resources"]["cpus"] == 3);
  CHECK(seen["resources"]["mem"] == 512);
  CHECK(seen["attributes"]["rack"] == "r7");
  CHECK(seen["attributes"]["zone"] == "file");
  // log-level = "warn" from the file: its registration is not logged.
  CHECK(readFile(agent.logFile()).find(" I agent: ") == std::string::npos);
}

TEST_CASE("config: a bad flag value is refused with the key, the value, where it came from and why") {
  TestCluster cluster;
  auto master = binary("clusternodes-master");
  auto agent = binary("clusternodes-agent");
  struct Case {
    std::vector<std::string> argv;
    std::vector<std::string> mentions;
  };
  auto file = [&](const std::string& name, const std::string& text) {
    return writeFile(cluster.dir() + "/" + name, text);
  };
  std::vector<Case> cases = {
      {{master, "--config=" + file("m1.toml", "# ports\nport = 70000\n")},
       {"--port=70000", "m1.toml:2", "not in range 0 to 65535"}},
      {{master, "--config=" + file("m2.toml", "offer-timeout = \"soon\"\n")},
       {"--offer-timeout=soon", "m2.toml:1", "not a duration"}},
      {{master, "--config=" + file("m3.toml", "weights = \"eng=heavy\"\n")},
       {"--weights=eng=heavy", "m3.toml:1", "positive number"}},
      {{master, "--config=" + file("m4.toml", "offer_timeuot = \"5s\"\n")},
       {"m4.toml:1", "unknown key 'offer-timeuot'", "no --offer-timeuot flag"}},
      {{master, "--config=" + file("m5.toml", "port = \n")}, {"m5.toml:1", "expected value"}},
      {{master, "--config=" + cluster.dir() + "/missing.toml"}, {"cannot read the config file", "missing.toml"}},
      {withEnv({"CLUSTERNODES_MASTER_ALLOCATION_INTERVAL=-1s"}, {master}),
       {"--allocation-interval=-1s", "CLUSTERNODES_MASTER_ALLOCATION_INTERVAL", "not a non-negative duration"}},
      {withEnv({"CLUSTERNODES_AGENT_MASTER=nowhere"}, {agent}),
       {"--master=nowhere", "CLUSTERNODES_AGENT_MASTER", "not HOST:PORT"}},
      {withEnv({"CLUSTERNODES_AGENT_CONFIG=" + file("a1.toml", "isolation = \"jail\"\n")}, {agent}),
       {"--isolation=jail", "a1.toml:1", "not in {cgroups,none}"}},
      {{agent, "--config=" + file("a2.toml", "resources = \"cpus:lots\"\n")},
       {"--resources=cpus:lots", "a2.toml:1"}},
      {{agent, "--config=" + file("a3.toml", "[gc]\ndelay = \"1h\"\n")}, {"a3.toml:2", "[gc]", "takes no tables"}},
  };
  for (const auto& c : cases) {
    std::string shown;
    for (const auto& a : c.argv) shown += a + " ";
    CAPTURE(shown);
    auto result = runProgram(c.argv, std::chrono::seconds(30));
    CAPTURE(result.output);
    CHECK(result.exitCode == 2);
    CHECK(lines(result.output).size() == 1);
    for (const auto& mention : c.mentions) CHECK(result.output.find(mention) != std::string::npos);
  }

  // The same flags from the command line win over the bad ones, and
  // --check-config says so without starting anything.
  auto fixed = runProgram(withEnv({"CLUSTERNODES_MASTER_ALLOCATION_INTERVAL=-1s"},
                                  {master, "--config=" + cluster.dir() + "/m1.toml", "--port=6000",
                                   "--allocation-interval=10ms", "--check-config"}),
                          std::chrono::seconds(30));
  CHECK(fixed.exitCode == 0);
  CHECK(fixed.output == "clusternodes-master: the flags are valid\n");
}

TEST_CASE("config: --check-config refuses what would stop the daemon from starting, not only bad syntax") {
  TestCluster cluster;
  std::string blocker = writeFile(cluster.dir() + "/a-file", "not a directory\n");
  for (const std::string program : {"clusternodes-master", "clusternodes-agent"}) {
    CAPTURE(program);
    // 192.0.2.1 is a documentation address no host here has: binding to it
    // fails without a packet sent.
    auto badIp = runProgram({binary(program), "--ip=192.0.2.1", "--work-dir=" + cluster.dir() + "/w", "--check-config"},
                            std::chrono::seconds(30));
    CAPTURE(badIp.output);
    CHECK(badIp.exitCode == 2);
    CHECK(lines(badIp.output).size() == 1);
    CHECK(badIp.output.find("--ip=192.0.2.1") != std::string::npos);
    CHECK(badIp.output.find("cannot listen on it") != std::string::npos);

    auto badDir = runProgram({binary(program), "--work-dir=" + blocker + "/below", "--check-config"},
                             std::chrono::seconds(30));
    CAPTURE(badDir.output);
    CHECK(badDir.exitCode == 2);
    CHECK(lines(badDir.output).size() == 1);
    CHECK(badDir.output.find("--work-dir=" + blocker + "/below") != std::string::npos);

    auto good = runProgram({binary(program), "--work-dir=" + cluster.dir() + "/w-" + program, "--check-config"},
                           std::chrono::seconds(30));
    CHECK(good.exitCode == 0);
    CHECK(good.output == program + ": the flags are valid\n");
  }
}
