#include <doctest/doctest.h>

#include <set>

#include "cli/local_masters.hpp"

using namespace clusternodes;
using namespace clusternodes::cli;

TEST_CASE("cli: start --masters takes 1, 3, 5 or 7, and says why not otherwise") {
  for (int count : {1, 3, 5, 7}) CHECK(checkMasterCount(count));
  for (int count : {-1, 0, 2, 4, 6, 8, 9, 100}) {
    CAPTURE(count);
    auto refused = checkMasterCount(count);
    REQUIRE(!refused);
    CHECK(refused.error().code == ErrorCode::kInvalid);
    CHECK(refused.error().message.rfind("--masters=" + std::to_string(count) + ": ", 0) == 0);
  }
  CHECK(checkMasterCount(4).error().message.find("use 3 or 5") != std::string::npos);
}

TEST_CASE("cli: the first local master keeps the ports asked for, the others get distinct free ones") {
  auto ports = chooseMasterPorts(3, 5050, 8081);
  REQUIRE(ports);
  REQUIRE(ports->size() == 3);
  CHECK((*ports)[0].port == 5050);
  CHECK((*ports)[0].httpPort == 8081);
  std::set<int> all;
  for (const auto& p : *ports) {
    all.insert(p.port);
    all.insert(p.httpPort);
  }
  CHECK(all.size() == 6);

  auto picked = chooseMasterPorts(1, 0, 0);
  REQUIRE(picked);
  CHECK(picked->front().port > 0);
  CHECK(picked->front().httpPort > 0);
  CHECK(picked->front().port != picked->front().httpPort);
}

TEST_CASE("cli: an elected local master runs with --zk under a supervisor that names the cluster's work dir") {
  auto keys = localKeys("/w");
  auto master =
      masterArgv("/bin", "/w/master.toml", {6000, 6001}, "/w/master-2", "zk://127.0.0.1:2181/clusternodes", keys);
  CHECK(master == std::vector<std::string>{"/bin/clusternodes-master", "--config=/w/master.toml", "--ip=127.0.0.1",
                                           "--port=6000", "--http-port=6001", "--work-dir=/w/master-2",
                                           "--zk=zk://127.0.0.1:2181/clusternodes", "--key=/w/keys/master.key",
                                           "--credentials=/w/keys/credentials.toml", "--authenticate-agents",
                                           "--authenticate-frameworks", "--http-credentials=/w/keys/http-tokens.toml",
                                           "--acls=/w/acls.toml"});
  CHECK(masterArgv("/bin", "/w/master.toml", {6000, 6001}, "/w/master", "", keys).size() == 12);
  auto supervised = superviseArgv("/bin/clusternodes", "master-2", "/w/logs/master-2.log", "/w", {"/bin/x", "--y"});
  CHECK(supervised == std::vector<std::string>{"/bin/clusternodes", "supervise", "--name=master-2",
                                               "--log=/w/logs/master-2.log", "--work-dir=/w", "--", "/bin/x", "--y"});
}
