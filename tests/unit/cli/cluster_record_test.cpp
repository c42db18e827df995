#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cli/cluster_record.hpp"
#include "tests/harness/temp_dir.hpp"

using namespace clusternodes;
using namespace clusternodes::cli;

using clusternodes::testing::TempDir;

namespace {

ClusterRecord sampleRecord() {
  ClusterRecord record;
  record.master = "127.0.0.1:5050";
  record.http = "http://127.0.0.1:8081";
  record.workDir = "/home/me/.clusternodes";
  record.masterPid = 4242;
  record.agentPids = {4243, 4244};
  return record;
}

// A fresh directory, removed with its contents at the end of the scope.
}  // namespace

TEST_CASE("cli: a cluster record survives serialization") {
  auto text = serializeClusterRecord(sampleRecord());
  auto parsed = parseClusterRecord(text);
  REQUIRE(parsed);
  CHECK(parsed->master == "127.0.0.1:5050");
  CHECK(parsed->http == "http://127.0.0.1:8081");
  CHECK(parsed->webUrl() == "http://127.0.0.1:8081/");
  CHECK(parsed->workDir == "/home/me/.clusternodes");
  CHECK(parsed->masterPid == 4242);
  CHECK(parsed->agentPids == std::vector<int>{4243, 4244});
}

TEST_CASE("cli: a cluster record parses the documented format") {
  auto parsed = parseClusterRecord(
      R"({"master":"127.0.0.1:6000","http":"http://127.0.0.1:6001","work_dir":"/w",)"
      R"("pids":{"master":10,"agents":[]}})");
  REQUIRE(parsed);
  CHECK(parsed->master == "127.0.0.1:6000");
  CHECK(parsed->masterPid == 10);
  CHECK(parsed->agentPids.empty());
}

TEST_CASE("cli: a malformed cluster record is refused with a reason") {
  const char* bad[] = {
      "",
      "not json",
      "[]",
      R"({"http":"h","work_dir":"/w","pids":{"master":1,"agents":[]}})",
      R"({"master":5,"http":"h","work_dir":"/w","pids":{"master":1,"agents":[]}})",
      R"({"master":"m","http":"h","work_dir":"/w"})",
      R"({"master":"m","http":"h","work_dir":"/w","pids":{"agents":[]}})",
      R"({"master":"m","http":"h","work_dir":"/w","pids":{"master":0,"agents":[]}})",
      R"({"master":"m","http":"h","work_dir":"/w","pids":{"master":-3,"agents":[]}})",
      R"({"master":"m","http":"h","work_dir":"/w","pids":{"master":1.5,"agents":[]}})",
      R"({"master":"m","http":"h","work_dir":"/w","pids":{"master":1,"agents":[2,"x"]}})",
      R"({"master":"m","http":"h","work_dir":"/w","pids":{"master":1,"agents":{}}})",
      R"({"master":"m","http":"h","work_dir":"/w","pids":{"master":99999999999,"agents":[]}})",
  };
  for (const char* text : bad) {
    CAPTURE(text);
    auto parsed = parseClusterRecord(text);
    REQUIRE(!parsed);
    CHECK(parsed.error().code == ErrorCode::kInvalid);
    CHECK(!parsed.error().message.empty());
  }
}

TEST_CASE("cli: a record of masters elected through ZooKeeper keeps each master and its supervisor") {
  ClusterRecord record;
  record.master = "zk://127.0.0.1:2181/clusternodes";
  record.http = "http://127.0.0.1:8081";
  record.workDir = "/w";
  record.zooKeeperPid = 40;
  record.agentPids = {44};
  record.masters = {{"127.0.0.1:5050", "http://127.0.0.1:8081", 41}, {"127.0.0.1:6000", "http://127.0.0.1:6001", 42}};
  auto text = serializeClusterRecord(record);
  CHECK(text.find("\"master\": 0") == std::string::npos);  // no pids.master
  auto parsed = parseClusterRecord(text);
  REQUIRE(parsed);
  CHECK(parsed->highlyAvailable());
  CHECK(parsed->masterPid == 0);
  CHECK(parsed->zooKeeperPid == 40);
  CHECK(parsed->agentPids == std::vector<int>{44});
  REQUIRE(parsed->masters.size() == 2);
  CHECK(parsed->masters[1].address == "127.0.0.1:6000");
  CHECK(parsed->masters[1].http == "http://127.0.0.1:6001");
  CHECK(parsed->masters[1].supervisorPid == 42);
  CHECK(!parseClusterRecord(serializeClusterRecord(sampleRecord()))->highlyAvailable());

  const char* refusedTexts[] = {
      R"({"master":"m","http":"h","work_dir":"/w","pids":{"agents":[]},"masters":[{"address":"a","http":"h","supervisor":2}]})",
      R"({"master":"m","http":"h","work_dir":"/w","pids":{"zookeeper":1,"agents":[]},"masters":[]})",
      R"({"master":"m","http":"h","work_dir":"/w","pids":{"zookeeper":1,"agents":[]},"masters":[{"address":"a","http":"h"}]})",
      R"({"master":"m","http":"h","work_dir":"/w","pids":{"zookeeper":1,"agents":[]},"masters":[{"http":"h","supervisor":2}]})",
      R"({"master":"m","http":"h","work_dir":"/w","pids":{"zookeeper":1,"agents":[]},"masters":[{"address":"a","http":"h","supervisor":0}]})",
      R"({"master":"m","http":"h","work_dir":"/w","pids":{"zookeeper":1,"agents":[]},"masters":[7]})",
  };
  for (const char* text : refusedTexts) {
    CAPTURE(text);
    auto refused = parseClusterRecord(text);
    REQUIRE(!refused);
    CHECK(refused.error().code == ErrorCode::kInvalid);
  }
}

TEST_CASE("cli: cluster records are saved and loaded from a file") {
  TempDir dir("cn-cli-test");
  std::string path = dir.path + "/cluster.json";
  auto missing = loadClusterRecord(path);
  REQUIRE(!missing);
  CHECK(missing.error().code == ErrorCode::kNotFound);

  REQUIRE(saveClusterRecord(path, sampleRecord()));
  auto loaded = loadClusterRecord(path);
  REQUIRE(loaded);
  CHECK(loaded->agentPids == std::vector<int>{4243, 4244});
  // The temporary file is gone after the rename.
  int files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir.path)) ++files;
  CHECK(files == 1);

  std::ofstream(path) << "{broken";
  auto broken = loadClusterRecord(path);
  REQUIRE(!broken);
  CHECK(broken.error().code == ErrorCode::kInvalid);
  CHECK(broken.error().message.find(path) != std::string::npos);
}

TEST_CASE("cli: the work dir is the flag, else $CLUSTERNODES_HOME, else $HOME/.clusternodes") {
  CHECK(*resolveWorkDir("/flag", "/env", "/home/me") == "/flag");
  CHECK(*resolveWorkDir("", "/env", "/home/me") == "/env");
  CHECK(*resolveWorkDir("", nullptr, "/home/me") == "/home/me/.clusternodes");
  CHECK(*resolveWorkDir("", "", "/home/me/") == "/home/me/.clusternodes");
  CHECK(*resolveWorkDir("", nullptr, "/") == "/.clusternodes");
  CHECK(*resolveWorkDir("relative/dir", nullptr, nullptr) == "relative/dir");
  auto none = resolveWorkDir("", nullptr, "");
  REQUIRE(!none);
  CHECK(none.error().code == ErrorCode::kInvalid);
  CHECK(none.error().message.find("--work-dir") != std::string::npos);
}
