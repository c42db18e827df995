// Unit tests for the registry: its logic over an in-memory store, and the
// file store on a temporary directory.
#include <doctest/doctest.h>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "clusternodes/result.hpp"
#include "master/registry/registry.hpp"

using namespace clusternodes;
using namespace clusternodes::master;
namespace fs = std::filesystem;

namespace {

// ------------------------------------------------------------ in-memory store

// What a MemoryStore keeps; shared so that a test can look at it (and hand it
// to a second Registry) after the first one took ownership of its store.
struct MemoryDocument {
  RegistryEntries entries;
  int saves = 0;
  int failSaves = 0;  // this many next saves fail
  bool failLoad = false;
};

class MemoryStore final : public RegistryStore {
 public:
  explicit MemoryStore(std::shared_ptr<MemoryDocument> doc) : doc_(std::move(doc)) {}

  Result<RegistryEntries> load() override {
    if (doc_->failLoad) return internalError("load failed: disk on fire");
    return doc_->entries;
  }

  Result<void> save(const RegistryChanges& changes) override {
    if (doc_->failSaves > 0) {
      --doc_->failSaves;
      return internalError("save failed: disk full");
    }
    for (const auto& [key, value] : changes) {
      if (value) {
        doc_->entries[key] = *value;
      } else {
        doc_->entries.erase(key);
      }
    }
    ++doc_->saves;
    return {};
  }

 private:
  std::shared_ptr<MemoryDocument> doc_;
};

std::unique_ptr<RegistryStore> memoryStore(const std::shared_ptr<MemoryDocument>& doc) {
  return std::make_unique<MemoryStore>(doc);
}

AgentRecord record(const std::string& id, const std::string& hostname, double at = 100) {
  return AgentRecord{AgentID{id}, hostname, AgentMark::kAdmitted, at};
}

// ------------------------------------------------------------ temporary directory

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "cn-registry-test-XXXXXX").string();
    char* made = ::mkdtemp(pattern.data());
    REQUIRE(made != nullptr);
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(path_)) out.push_back(e.path().filename().string());
    return out;
  }

 private:
  std::string path_;
};

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void writeFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

}  // namespace

// ------------------------------------------------------------ logic (in-memory store)

TEST_CASE("a registry on an empty store recovers no agents and saves once to find an unwritable store") {
  auto doc = std::make_shared<MemoryDocument>();
  Registry registry(memoryStore(doc));
  REQUIRE(registry.recover().ok());
  CHECK(registry.agents().empty());
  CHECK(doc->saves == 1);
  CHECK(doc->entries.empty());
}

TEST_CASE("admitted and marked agents are saved and recovered by a new registry") {
  auto doc = std::make_shared<MemoryDocument>();
  {
    Registry registry(memoryStore(doc));
    REQUIRE(registry.recover().ok());
    REQUIRE(registry.admit(record("agent-1", "node-1.example.org", 100)).ok());
    REQUIRE(registry.admit(record("agent-2", "node-2.example.org", 101)).ok());
    REQUIRE(registry.mark(AgentID{"agent-2"}, AgentMark::kUnreachable, 250.5).ok());
    CHECK(registry.agents().size() == 2);
  }
  Registry again(memoryStore(doc));
  REQUIRE(again.recover().ok());
  REQUIRE(again.agents().size() == 2);
  const AgentRecord* one = again.agent(AgentID{"agent-1"});
  const AgentRecord* two = again.agent(AgentID{"agent-2"});
  REQUIRE(one != nullptr);
  REQUIRE(two != nullptr);
  CHECK(one->hostname == "node-1.example.org");
  CHECK(one->mark == AgentMark::kAdmitted);
  CHECK(one->markedAt == 100);
  CHECK(two->mark == AgentMark::kUnreachable);
  CHECK(two->markedAt == 250.5);
}

TEST_CASE("every change is written through to the store before the call returns") {
  auto doc = std::make_shared<MemoryDocument>();
  Registry registry(memoryStore(doc));
  REQUIRE(registry.recover().ok());
  int saves = doc->saves;
  REQUIRE(registry.admit(record("agent-1", "h1")).ok());
  CHECK(doc->saves == saves + 1);
  CHECK(doc->entries.count("agents/agent-1") == 1);
  REQUIRE(registry.mark(AgentID{"agent-1"}, AgentMark::kUnreachable, 5).ok());
  CHECK(doc->saves == saves + 2);
  REQUIRE(registry.remove(AgentID{"agent-1"}).ok());
  CHECK(doc->saves == saves + 3);
  CHECK(doc->entries.count("agents/agent-1") == 0);
}

TEST_CASE("admitting a known agent again replaces its record") {
  auto doc = std::make_shared<MemoryDocument>();
  Registry registry(memoryStore(doc));
  REQUIRE(registry.recover().ok());
  REQUIRE(registry.admit(record("agent-1", "old-host")).ok());
  REQUIRE(registry.mark(AgentID{"agent-1"}, AgentMark::kUnreachable, 10).ok());
  REQUIRE(registry.admit(record("agent-1", "new-host", 20)).ok());
  CHECK(registry.agents().size() == 1);
  CHECK(registry.agent(AgentID{"agent-1"})->hostname == "new-host");
  CHECK(registry.agent(AgentID{"agent-1"})->mark == AgentMark::kAdmitted);
}

TEST_CASE("admitting an agent exactly as it is admitted writes nothing") {
  auto doc = std::make_shared<MemoryDocument>();
  Registry registry(memoryStore(doc));
  REQUIRE(registry.recover().ok());
  REQUIRE(registry.admit(record("agent-1", "h1", 10)).ok());
  int saves = doc->saves;
  REQUIRE(registry.admit(record("agent-1", "h1", 20)).ok());
  CHECK(doc->saves == saves);
  REQUIRE(registry.admit(record("agent-1", "h2", 30)).ok());
  CHECK(doc->saves == saves + 1);
}

namespace {

FrameworkRecord frameworkRecord(const std::string& id, double failoverTimeout) {
  FrameworkRecord r;
  r.info.id = FrameworkID{id};
  r.info.name = "fw " + id;
  r.info.user = "alice";
  r.info.roles = {"eng", "ops"};
  r.info.principal = "p";
  r.info.failoverTimeoutSeconds = failoverTimeout;
  r.info.partitionAware = true;
  r.info.hostname = "sched-host";
  r.info.webuiUrl = "http://sched-host:9000";
  r.registeredAt = 1234.5;
  return r;
}

}  // namespace

TEST_CASE("frameworks and their failover timeouts are saved and recovered by a new registry") {
  auto doc = std::make_shared<MemoryDocument>();
  {
    Registry registry(memoryStore(doc));
    REQUIRE(registry.recover().ok());
    REQUIRE(registry.putFramework(frameworkRecord("fw-1", 3600)).ok());
    REQUIRE(registry.putFramework(frameworkRecord("fw-2", 0)).ok());
    REQUIRE(registry.removeFramework(FrameworkID{"fw-2"}).ok());
  }
  Registry again(memoryStore(doc));
  REQUIRE(again.recover().ok());
  REQUIRE(again.frameworks().size() == 1);
  const auto& r = again.frameworks().at(FrameworkID{"fw-1"});
  CHECK(r.info.id.value == "fw-1");
  CHECK(r.info.name == "fw fw-1");
  CHECK(r.info.user == "alice");
  CHECK(r.info.roles == std::vector<std::string>{"eng", "ops"});
  CHECK(r.info.principal == "p");
  CHECK(r.info.failoverTimeoutSeconds == 3600);
  CHECK(r.info.partitionAware);
  CHECK(r.info.hostname == "sched-host");
  CHECK(r.info.webuiUrl == "http://sched-host:9000");
  CHECK(r.registeredAt == 1234.5);
}

TEST_CASE("a framework put again unchanged writes nothing, a changed timeout is written") {
  auto doc = std::make_shared<MemoryDocument>();
  Registry registry(memoryStore(doc));
  REQUIRE(registry.recover().ok());
  REQUIRE(registry.putFramework(frameworkRecord("fw-1", 60)).ok());
  int saves = doc->saves;
  REQUIRE(registry.putFramework(frameworkRecord("fw-1", 60)).ok());
  CHECK(doc->saves == saves);
  REQUIRE(registry.putFramework(frameworkRecord("fw-1", 120)).ok());
  CHECK(doc->saves == saves + 1);
  CHECK(registry.frameworks().at(FrameworkID{"fw-1"}).info.failoverTimeoutSeconds == 120);
  CHECK(registry.removeFramework(FrameworkID{"never-seen"}).ok());
  CHECK(doc->saves == saves + 1);
}

TEST_CASE("a framework whose save fails is not kept") {
  auto doc = std::make_shared<MemoryDocument>();
  Registry registry(memoryStore(doc));
  REQUIRE(registry.recover().ok());
  doc->failSaves = 1;
  CHECK_FALSE(registry.putFramework(frameworkRecord("fw-1", 60)).ok());
  CHECK(registry.frameworks().empty());
}

TEST_CASE("gone agents are kept with their mark, the oldest forgotten beyond the cap") {
  auto doc = std::make_shared<MemoryDocument>();
  Registry registry(memoryStore(doc));
  REQUIRE(registry.recover().ok());
  REQUIRE(registry.admit(record("live", "h")).ok());
  for (size_t i = 0; i <= Registry::kMaxGoneAgents; ++i) {
    std::string id = "gone-" + std::to_string(i);
    REQUIRE(registry.admit(record(id, "h")).ok());
    REQUIRE(registry.mark(AgentID{id}, AgentMark::kGone, 100.0 + static_cast<double>(i)).ok());
  }
  CHECK(registry.agent(AgentID{"gone-0"}) == nullptr);  // the oldest
  REQUIRE(registry.agent(AgentID{"gone-1"}) != nullptr);
  CHECK(registry.agent(AgentID{"gone-1"})->mark == AgentMark::kGone);
  CHECK(registry.agent(AgentID{"live"})->mark == AgentMark::kAdmitted);
  CHECK(registry.agents().size() == Registry::kMaxGoneAgents + 1);

  Registry again(memoryStore(doc));
  REQUIRE(again.recover().ok());
  CHECK(again.agent(AgentID{std::string("gone-") + std::to_string(Registry::kMaxGoneAgents)})->mark ==
        AgentMark::kGone);
}

TEST_CASE("marking an unknown agent fails with not found and saves nothing") {
  auto doc = std::make_shared<MemoryDocument>();
  Registry registry(memoryStore(doc));
  REQUIRE(registry.recover().ok());
  int saves = doc->saves;
  auto result = registry.mark(AgentID{"ghost"}, AgentMark::kUnreachable, 1);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == ErrorCode::kNotFound);
  CHECK(result.error().message.find("ghost") != std::string::npos);
  CHECK(doc->saves == saves);
}

TEST_CASE("removing an agent forgets it, and removing an unknown agent is harmless") {
  auto doc = std::make_shared<MemoryDocument>();
  Registry registry(memoryStore(doc));
  REQUIRE(registry.recover().ok());
  REQUIRE(registry.admit(record("agent-1", "h1")).ok());
  REQUIRE(registry.remove(AgentID{"agent-1"}).ok());
  CHECK(registry.agent(AgentID{"agent-1"}) == nullptr);
  CHECK(registry.remove(AgentID{"never-seen"}).ok());

  Registry again(memoryStore(doc));
  REQUIRE(again.recover().ok());
  CHECK(again.agents().empty());
}

TEST_CASE("a failed save reports the store's error and leaves the registry unchanged") {
  auto doc = std::make_shared<MemoryDocument>();
  Registry registry(memoryStore(doc));
  REQUIRE(registry.recover().ok());
  REQUIRE(registry.admit(record("agent-1", "h1", 10)).ok());

  doc->failSaves = 1;
  auto admitted = registry.admit(record("agent-2", "h2"));
  REQUIRE_FALSE(admitted.ok());
  CHECK(admitted.error().message.find("disk full") != std::string::npos);
  CHECK(registry.agent(AgentID{"agent-2"}) == nullptr);

  doc->failSaves = 1;
  REQUIRE_FALSE(registry.mark(AgentID{"agent-1"}, AgentMark::kUnreachable, 20).ok());
  CHECK(registry.agent(AgentID{"agent-1"})->mark == AgentMark::kAdmitted);
  CHECK(registry.agent(AgentID{"agent-1"})->markedAt == 10);

  doc->failSaves = 1;
  REQUIRE_FALSE(registry.remove(AgentID{"agent-1"}).ok());
  CHECK(registry.agent(AgentID{"agent-1"}) != nullptr);

  // The next successful change must not persist what was never acknowledged.
  REQUIRE(registry.admit(record("agent-3", "h3")).ok());
  Registry again(memoryStore(doc));
  REQUIRE(again.recover().ok());
  CHECK(again.agent(AgentID{"agent-2"}) == nullptr);
  CHECK(again.agent(AgentID{"agent-1"}) != nullptr);
  CHECK(again.agent(AgentID{"agent-3"}) != nullptr);
}

TEST_CASE("recover fails when the store cannot be read") {
  auto doc = std::make_shared<MemoryDocument>();
  doc->failLoad = true;
  Registry registry(memoryStore(doc));
  auto result = registry.recover();
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().message.find("disk on fire") != std::string::npos);
}

TEST_CASE("recover fails on a corrupt entry and leaves the store alone") {
  const std::vector<RegistryEntries> corrupt = {
      {{"agents/a", "{not json"}},
      {{"agents/a", "[]"}},
      {{"agents/a", R"({"hostname": "h"})"}},
      {{"agents/a", R"({"id": 7})"}},
      {{"agents/a", R"({"id": "a", "hostname": 3})"}},
      {{"agents/a", R"({"id": "a", "marked_at": "yesterday"})"}},
      {{"agents/a", R"({"id": "a", "mark": "lost"})"}},
      {{"frameworks/f", R"({"name": "no id"})"}},
      {{"reservations/a", R"({"agent": "a", "resources": "cpus:lots"})"}},
      {{"weights/r", R"({"role": "r", "weight": "heavy"})"}},
      {{"quotas/r", R"({"role": "r", "guarantee": "cpus:"})"}},
      {{"widgets/w", "{}"}},
  };
  for (const auto& entries : corrupt) {
    INFO("entry: " << entries.begin()->first << " = " << entries.begin()->second);
    auto doc = std::make_shared<MemoryDocument>();
    doc->entries = entries;
    Registry registry(memoryStore(doc));
    auto result = registry.recover();
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().message.find("corrupt") != std::string::npos);
    CHECK(doc->entries == entries);  // never overwritten
    CHECK(doc->saves == 0);
  }
}

// ------------------------------------------------------------ file store

TEST_CASE("recover on a fresh directory writes registry.json") {
  TempDir dir;
  Registry registry(makeFileStore(dir.path()));
  REQUIRE(registry.recover().ok());
  CHECK(registry.agents().empty());
  REQUIRE(fs::exists(dir.file("registry.json")));
  auto saved = nlohmann::json::parse(readFile(dir.file("registry.json")));
  CHECK(saved.at("agents").empty());
}

TEST_CASE("recover creates a work directory that does not exist yet") {
  TempDir dir;
  std::string work = dir.file("a/b/work");
  Registry registry(makeFileStore(work));
  REQUIRE(registry.recover().ok());
  CHECK(fs::exists(work + "/registry.json"));
}

TEST_CASE("admit, mark and remove persist across a new registry on the same directory") {
  TempDir dir;
  {
    Registry registry(makeFileStore(dir.path()));
    REQUIRE(registry.recover().ok());
    REQUIRE(registry.admit(record("agent-1", "node-1", 1)).ok());
    REQUIRE(registry.admit(record("agent-2", "node-2", 2)).ok());
    REQUIRE(registry.admit(record("agent-3", "node-3", 3)).ok());
    REQUIRE(registry.mark(AgentID{"agent-2"}, AgentMark::kUnreachable, 42.25).ok());
    REQUIRE(registry.remove(AgentID{"agent-3"}).ok());
  }
  Registry again(makeFileStore(dir.path()));
  REQUIRE(again.recover().ok());
  REQUIRE(again.agents().size() == 2);
  CHECK(again.agent(AgentID{"agent-1"})->hostname == "node-1");
  CHECK(again.agent(AgentID{"agent-1"})->mark == AgentMark::kAdmitted);
  CHECK(again.agent(AgentID{"agent-2"})->mark == AgentMark::kUnreachable);
  CHECK(again.agent(AgentID{"agent-2"})->markedAt == 42.25);
  CHECK(again.agent(AgentID{"agent-3"}) == nullptr);
}

TEST_CASE("a save leaves only registry.json in the directory") {
  TempDir dir;
  Registry registry(makeFileStore(dir.path()));
  REQUIRE(registry.recover().ok());
  for (int i = 0; i < 5; ++i) REQUIRE(registry.admit(record("agent-" + std::to_string(i), "h")).ok());
  CHECK(dir.entries() == std::vector<std::string>{"registry.json"});
  CHECK_FALSE(fs::exists(dir.file("registry.json.tmp")));
}

TEST_CASE("a corrupt registry.json makes recover fail with a message and is left alone") {
  TempDir dir;
  writeFile(dir.file("registry.json"), "{\"agents\": [ truncated");
  Registry registry(makeFileStore(dir.path()));
  auto result = registry.recover();
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == ErrorCode::kInvalid);
  CHECK(result.error().message.find("corrupt") != std::string::npos);
  CHECK(readFile(dir.file("registry.json")) == "{\"agents\": [ truncated");
}

TEST_CASE("a registry.json that does not hold a registry makes recover fail and is left alone") {
  const std::vector<std::string> corrupt = {
      "{not json",
      "[]",
      "{}",
      R"({"agents": 5})",
      R"({"agents": [{"hostname": "h"}]})",
      R"({"agents": [{"id": 7}]})",
      R"({"agents": [{"id": "a", "hostname": 3}]})",
      R"({"agents": [{"id": "a", "marked_at": "yesterday"}]})",
      R"({"agents": [], "reservations": {"a": 5}})",
  };
  for (const auto& text : corrupt) {
    INFO("document: " << text);
    TempDir dir;
    writeFile(dir.file("registry.json"), text);
    Registry registry(makeFileStore(dir.path()));
    auto result = registry.recover();
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().message.find("corrupt") != std::string::npos);
    CHECK(readFile(dir.file("registry.json")) == text);
  }
}

TEST_CASE("an unwritable work directory makes recover fail with a clear error") {
  TempDir dir;
  writeFile(dir.file("plain-file"), "x");
  std::string work = dir.file("plain-file/work");  // a path under a regular file
  Registry registry(makeFileStore(work));
  auto result = registry.recover();
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == ErrorCode::kInternal);
  INFO("message: " << result.error().message);
  CHECK(result.error().message.find(work) != std::string::npos);
  CHECK(result.error().message.find("Not a directory") != std::string::npos);
}

TEST_CASE("a save that cannot replace registry.json fails and leaves no temporary file") {
  TempDir dir;
  Registry registry(makeFileStore(dir.path()));
  REQUIRE(registry.recover().ok());
  REQUIRE(registry.admit(record("agent-1", "h1")).ok());

  // Something else took the name: a directory cannot be replaced by rename().
  fs::remove(dir.file("registry.json"));
  fs::create_directory(dir.file("registry.json"));
  auto result = registry.admit(record("agent-2", "h2"));
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == ErrorCode::kInternal);
  CHECK(result.error().message.find("registry.json") != std::string::npos);
  CHECK_FALSE(fs::exists(dir.file("registry.json.tmp")));
}
