// The registry's persistence cases, run against both of its real stores:
// the file store in a work dir, and the ZooKeeper store on a real
// ZooKeeper server (Debian's package, started by the test). Plus what only
// the ZooKeeper store has: writes fenced on the writer's leadership.
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/loop.hpp"
#include "common/zookeeper.hpp"
#include "master/registry/registry.hpp"
#include "master/registry/zookeeper_store.hpp"
#include "tests/harness/temp_dir.hpp"
#include "tests/harness/zookeeper.hpp"

using namespace clusternodes;
using namespace clusternodes::master;
using namespace clusternodes::testing;
using namespace std::chrono_literals;

namespace {

struct FileStores {
  static constexpr const char* kName = "file";
  TempDir dir{"cn-test-registry"};
  std::unique_ptr<RegistryStore> make() { return makeFileStore(dir.path + "/work"); }
};

// A real ZooKeeper server and a session on it that holds an election
// znode, which the store's writes are fenced on.
struct ZooKeeperStores {
  static constexpr const char* kName = "zookeeper";
  TempDir dir{"cn-test-registry"};
  ZooKeeperServer server{dir.path + "/zk"};
  Loop loop;
  std::unique_ptr<ZooKeeper> zk = connect();
  std::string fence = elect();

  std::unique_ptr<ZooKeeper> connect() {
    auto session = ZooKeeper::open(loop, server.connectString(), 10s);
    REQUIRE(session.ok());
    REQUIRE((*session)->awaitConnected(20s).ok());
    return std::move(*session);
  }
  std::string elect() {
    REQUIRE(zk->createPath("/cn").ok());
    auto node = zk->create("/cn/json.info_", "{}", true, true);
    REQUIRE(node.ok());
    return *node;
  }
  std::unique_ptr<RegistryStore> make() { return makeZooKeeperStore(*zk, "/cn/registry", fence); }
};

AgentRecord agent(const std::string& id, const std::string& hostname, double at = 100) {
  return AgentRecord{AgentID{id}, hostname, AgentMark::kAdmitted, at};
}

FrameworkRecord framework(const std::string& id, double failoverTimeout) {
  FrameworkRecord record;
  record.info.id = FrameworkID{id};
  record.info.name = "fw " + id;
  record.info.user = "nobody";
  record.info.role = "analytics";
  record.info.roles = {"analytics"};
  record.info.failoverTimeoutSeconds = failoverTimeout;
  record.registeredAt = 1700000000.5;
  return record;
}

}  // namespace

#define REGISTRY_STORES FileStores, ZooKeeperStores
TYPE_TO_STRING(FileStores);
TYPE_TO_STRING(ZooKeeperStores);

TEST_CASE_TEMPLATE("registry stores: agents admitted, marked and removed are recovered by a new registry", Stores,
                   REGISTRY_STORES) {
  Stores stores;
  {
    Registry registry(stores.make());
    REQUIRE(registry.recover().ok());
    CHECK(registry.agents().empty());
    REQUIRE(registry.admit(agent("agent-1", "node-1.example.org", 1)).ok());
    REQUIRE(registry.admit(agent("agent-2", "node-2.example.org", 2)).ok());
    REQUIRE(registry.admit(agent("agent/3 odd.id", "node-3", 3)).ok());
    REQUIRE(registry.mark(AgentID{"agent-2"}, AgentMark::kUnreachable, 42.25).ok());
    REQUIRE(registry.admit(agent("agent-4", "node-4", 4)).ok());
    REQUIRE(registry.remove(AgentID{"agent-4"}).ok());
  }
  Registry again(stores.make());
  REQUIRE(again.recover().ok());
  REQUIRE(again.agents().size() == 3);
  CHECK(again.agent(AgentID{"agent-1"})->hostname == "node-1.example.org");
  CHECK(again.agent(AgentID{"agent-1"})->mark == AgentMark::kAdmitted);
  CHECK(again.agent(AgentID{"agent-2"})->mark == AgentMark::kUnreachable);
  CHECK(again.agent(AgentID{"agent-2"})->markedAt == 42.25);
  REQUIRE(again.agent(AgentID{"agent/3 odd.id"}) != nullptr);
  CHECK(again.agent(AgentID{"agent/3 odd.id"})->hostname == "node-3");
  CHECK(again.agent(AgentID{"agent-4"}) == nullptr);
}

TEST_CASE_TEMPLATE("registry stores: frameworks, reservations, weights and quotas are recovered by a new registry",
                   Stores, REGISTRY_STORES) {
  Stores stores;
  auto reserved = Resources::parse("cpus(analytics):2;mem(analytics):512");
  auto guarantee = Resources::parse("cpus:4;mem:4096");
  auto limit = Resources::parse("cpus:8");
  REQUIRE(reserved.ok());
  REQUIRE(guarantee.ok());
  REQUIRE(limit.ok());
  {
    Registry registry(stores.make());
    REQUIRE(registry.recover().ok());
    REQUIRE(registry.admit(agent("agent-1", "h1")).ok());
    REQUIRE(registry.putFramework(framework("fw-1", 3600)).ok());
    REQUIRE(registry.putFramework(framework("fw-2", 0)).ok());
    REQUIRE(registry.putFramework(framework("fw-1", 7200)).ok());
    REQUIRE(registry.removeFramework(FrameworkID{"fw-2"}).ok());
    REQUIRE(registry.setReservations(AgentID{"agent-1"}, *reserved).ok());
    REQUIRE(registry.setWeights({{"analytics", 2.5}, {"web", 1}}).ok());
    REQUIRE(registry.setQuota("analytics", Quota{*guarantee, *limit}).ok());
    REQUIRE(registry.setQuota("web", Quota{*guarantee, {}}).ok());
    REQUIRE(registry.setQuota("web", Quota{}).ok());  // removed
  }
  Registry again(stores.make());
  REQUIRE(again.recover().ok());
  REQUIRE(again.frameworks().size() == 1);
  const auto& fw = again.frameworks().at(FrameworkID{"fw-1"});
  CHECK(fw.info.failoverTimeoutSeconds == 7200);
  CHECK(fw.info.name == "fw fw-1");
  CHECK(fw.info.roles == std::vector<std::string>{"analytics"});
  CHECK(fw.registeredAt == 1700000000.5);
  CHECK(again.reservations(AgentID{"agent-1"}) == *reserved);
  CHECK(again.weights() == std::map<std::string, double>{{"analytics", 2.5}, {"web", 1}});
  REQUIRE(again.quotas().size() == 1);
  CHECK(again.quotas().at("analytics").guarantee == *guarantee);
  CHECK(again.quotas().at("analytics").limit == *limit);
}

TEST_CASE_TEMPLATE("registry stores: an agent removed takes its reservations with it", Stores, REGISTRY_STORES) {
  Stores stores;
  auto reserved = Resources::parse("cpus(r):1");
  REQUIRE(reserved.ok());
  {
    Registry registry(stores.make());
    REQUIRE(registry.recover().ok());
    REQUIRE(registry.admit(agent("agent-1", "h1")).ok());
    REQUIRE(registry.setReservations(AgentID{"agent-1"}, *reserved).ok());
    REQUIRE(registry.remove(AgentID{"agent-1"}).ok());
  }
  Registry again(stores.make());
  REQUIRE(again.recover().ok());
  CHECK(again.agents().empty());
  CHECK(again.reservations(AgentID{"agent-1"}).empty());
}

TEST_CASE_TEMPLATE("registry stores: the oldest gone agents beyond the cap are forgotten", Stores, REGISTRY_STORES) {
  Stores stores;
  const size_t total = Registry::kMaxGoneAgents + 5;
  {
    Registry registry(stores.make());
    REQUIRE(registry.recover().ok());
    for (size_t i = 0; i < total; ++i) {
      REQUIRE(registry.admit(agent("gone-" + std::to_string(i), "h")).ok());
      REQUIRE(registry.mark(AgentID{"gone-" + std::to_string(i)}, AgentMark::kGone, 1000.0 + i).ok());
    }
    CHECK(registry.agents().size() == Registry::kMaxGoneAgents);
  }
  Registry again(stores.make());
  REQUIRE(again.recover().ok());
  CHECK(again.agents().size() == Registry::kMaxGoneAgents);
  for (size_t i = 0; i < 5; ++i) CHECK(again.agent(AgentID{"gone-" + std::to_string(i)}) == nullptr);
  CHECK(again.agent(AgentID{"gone-5"}) != nullptr);
  CHECK(again.agent(AgentID{"gone-" + std::to_string(total - 1)})->mark == AgentMark::kGone);
}

TEST_CASE_TEMPLATE("registry stores: ten thousand agents staged in one turn are written by one commit and recovered",
                   Stores, REGISTRY_STORES) {
  Stores stores;
  const int count = 10000;
  {
    Registry registry(stores.make());
    REQUIRE(registry.recover().ok());
    int staged = 0;
    registry.stageChanges([&] { ++staged; });
    bool durable = false;
    for (int i = 0; i < count; ++i) {
      REQUIRE(registry.admit(agent("agent-" + std::to_string(i), "host-" + std::to_string(i) + ".example.org")).ok());
    }
    registry.afterDurable([&] { durable = true; });
    CHECK(registry.dirty());
    CHECK_FALSE(durable);
    auto started = std::chrono::steady_clock::now();
    REQUIRE(registry.commit().ok());
    auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    MESSAGE(std::string(Stores::kName) << " store: one commit of " << count << " new agents took " << took << " s");
    CHECK(durable);
    CHECK_FALSE(registry.dirty());
    CHECK(staged == count);
  }
  Registry again(stores.make());
  auto started = std::chrono::steady_clock::now();
  REQUIRE(again.recover().ok());
  auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  MESSAGE(std::string(Stores::kName) << " store: recovering " << count << " agents took " << took << " s");
  CHECK(again.agents().size() == static_cast<size_t>(count));
  CHECK(again.agent(AgentID{"agent-9999"})->hostname == "host-9999.example.org");
}

// ------------------------------------------------------------ ZooKeeper only

TEST_CASE("registry stores: a write by a master whose election znode is gone is refused and lands nothing") {
  ZooKeeperStores stores;
  Registry registry(stores.make());
  REQUIRE(registry.recover().ok());
  REQUIRE(registry.admit(agent("agent-1", "h1")).ok());

  // Another master takes over: this one's election znode is gone (its
  // session ended, as the ensemble sees it).
  REQUIRE(stores.zk->remove(stores.fence).ok());
  auto refused = registry.admit(agent("agent-2", "h2"));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == ErrorCode::kConflict);
  CHECK(refused.error().message.find("no longer leads") != std::string::npos);
  CHECK(registry.agent(AgentID{"agent-2"}) == nullptr);

  // What the successor reads holds agent-1 and not agent-2.
  auto successor = stores.zk->create("/cn/json.info_", "{}", true, true);
  REQUIRE(successor.ok());
  Registry next(makeZooKeeperStore(*stores.zk, "/cn/registry", *successor));
  REQUIRE(next.recover().ok());
  CHECK(next.agent(AgentID{"agent-1"}) != nullptr);
  CHECK(next.agent(AgentID{"agent-2"}) == nullptr);
}

TEST_CASE("registry stores: a master whose ZooKeeper session expired cannot write, and nothing it staged lands") {
  ZooKeeperStores stores;
  Registry registry(stores.make());
  REQUIRE(registry.recover().ok());
  registry.stageChanges([] {});
  REQUIRE(registry.admit(agent("agent-1", "h1")).ok());
  REQUIRE(registry.commit().ok());
  REQUIRE(registry.admit(agent("agent-2", "h2")).ok());

  // The server goes away for good: the session cannot confirm itself, and
  // the staged change stays staged, unacknowledged.
  stores.server.stop();
  auto failed = registry.commit();
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().code == ErrorCode::kUnavailable);
  CHECK(registry.dirty());
}

TEST_CASE("registry stores: entries in a registry written with 128 buckets are changed and removed where they are") {
  ZooKeeperStores stores;
  // As an earlier release wrote it: agent-1 in bucket b017 of 128.
  auto agentJson = [](const std::string& id, const std::string& host) {
    return "{\"id\":\"" + id + "\",\"hostname\":\"" + host + "\",\"mark\":\"admitted\",\"marked_at\":100}";
  };
  REQUIRE(stores.zk->createPath("/cn/registry/agents").ok());
  nlohmann::json bucket = {{"agent-1", agentJson("agent-1", "h1")}, {"agent-2", agentJson("agent-2", "h2")}};
  REQUIRE(stores.zk->create("/cn/registry/agents/b017", bucket.dump()).ok());

  Registry registry(stores.make());
  REQUIRE(registry.recover().ok());
  REQUIRE(registry.agents().size() == 2);
  REQUIRE(registry.mark(AgentID{"agent-1"}, AgentMark::kUnreachable, 200).ok());
  REQUIRE(registry.remove(AgentID{"agent-2"}).ok());
  REQUIRE(registry.admit(agent("agent-3", "h3")).ok());

  // The old bucket holds agent-1, changed, and no longer agent-2; nothing
  // else holds either.
  auto old = stores.zk->get("/cn/registry/agents/b017");
  REQUIRE(old.ok());
  REQUIRE(old->has_value());
  auto kept = nlohmann::json::parse(**old);
  CHECK(kept.size() == 1);
  CHECK(kept.contains("agent-1"));
  auto names = stores.zk->children("/cn/registry/agents");
  REQUIRE(names.ok());
  for (const auto& name : *names) {
    if (name == "b017") continue;
    auto other = stores.zk->get("/cn/registry/agents/" + name);
    REQUIRE(other.ok());
    auto entries = nlohmann::json::parse(other->value_or("{}"));
    CHECK_FALSE(entries.contains("agent-1"));
    CHECK_FALSE(entries.contains("agent-2"));
  }
  Registry next(stores.make());
  REQUIRE(next.recover().ok());
  CHECK(next.agents().size() == 2);
  CHECK(next.agent(AgentID{"agent-1"})->mark == AgentMark::kUnreachable);
  CHECK(next.agent(AgentID{"agent-2"}) == nullptr);
  CHECK(next.agent(AgentID{"agent-3"}) != nullptr);
}

namespace {

// Every bucket znode under `group` and what it holds.
std::map<std::string, std::string> bucketsOf(ZooKeeper& zk, const std::string& group) {
  std::map<std::string, std::string> buckets;
  auto names = zk.children(group);
  REQUIRE(names.ok());
  for (const auto& name : *names) {
    auto data = zk.get(group + "/" + name);
    REQUIRE(data.ok());
    REQUIRE(data->has_value());
    buckets[name] = **data;
  }
  return buckets;
}

size_t changedBuckets(const std::map<std::string, std::string>& before,
                      const std::map<std::string, std::string>& after) {
  size_t changed = 0;
  for (const auto& [name, data] : after) {
    auto it = before.find(name);
    if (it == before.end() || it->second != data) ++changed;
  }
  for (const auto& [name, data] : before) changed += after.count(name) == 0 ? 1 : 0;
  return changed;
}

}  // namespace

TEST_CASE("registry stores: a commit of new agents rewrites only the bucket they fill, and a change only its entry's") {
  ZooKeeperStores stores;
  Registry registry(stores.make());
  REQUIRE(registry.recover().ok());
  registry.stageChanges([] {});
  for (int i = 0; i < 2000; ++i) {
    REQUIRE(registry.admit(agent("agent-" + std::to_string(i), "host-" + std::to_string(i) + ".example.org")).ok());
  }
  REQUIRE(registry.commit().ok());
  auto before = bucketsOf(*stores.zk, "/cn/registry/agents");
  // Tens of buckets, none near ZooKeeper's 1 MiB node limit.
  CHECK(before.size() >= 10);
  for (const auto& [name, data] : before) CHECK(data.size() < 64 * 1024);

  // Fifty agents more, as one group commit during a registration storm:
  // the last bucket and at most one new one are written, nothing else.
  for (int i = 2000; i < 2050; ++i) {
    REQUIRE(registry.admit(agent("agent-" + std::to_string(i), "host-" + std::to_string(i) + ".example.org")).ok());
  }
  REQUIRE(registry.commit().ok());
  auto added = bucketsOf(*stores.zk, "/cn/registry/agents");
  CHECK(changedBuckets(before, added) <= 2);

  // An agent marked unreachable and another removed (neighbours in the
  // first write, which placed entries in key order): their buckets only.
  REQUIRE(registry.mark(AgentID{"agent-100"}, AgentMark::kUnreachable, 300).ok());
  REQUIRE(registry.remove(AgentID{"agent-1000"}).ok());
  REQUIRE(registry.commit().ok());
  auto marked = bucketsOf(*stores.zk, "/cn/registry/agents");
  CHECK(changedBuckets(added, marked) == 1);

  Registry next(stores.make());
  REQUIRE(next.recover().ok());
  CHECK(next.agents().size() == 2049);
  CHECK(next.agent(AgentID{"agent-100"})->mark == AgentMark::kUnreachable);
  CHECK(next.agent(AgentID{"agent-1000"}) == nullptr);
  CHECK(next.agent(AgentID{"agent-2049"}) != nullptr);

  // A master that takes over goes on filling the last bucket rather than
  // opening a bucket per write.
  REQUIRE(next.admit(agent("agent-late", "late.example.org")).ok());
  auto late = bucketsOf(*stores.zk, "/cn/registry/agents");
  CHECK(changedBuckets(marked, late) == 1);
  CHECK(late.size() == marked.size());
}
