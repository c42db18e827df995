// Registry: what the master must remember across a restart.
//
// The admitted agents and their marks (admitted, unreachable, gone), the
// frameworks with their FrameworkInfo (failover timeout included), the
// reservations frameworks made on agents, and the operator's role weights
// and quotas (set through the operator API). Tasks are not kept here: agents
// report them when they re-register.
//
// By default every change is written through to the store before the call
// returns. With group commit (stageChanges(), the master's mode) a change
// applies in memory at once and is staged; commit() writes all staged
// changes in one document, and afterDurable() holds what depends on them
// (a reply) until they are on disk. Either way a master killed at any
// moment restarts with everything it had acknowledged.
//
// The store is behind RegistryStore, which loads every entry and saves
// the entries that changed, so the embedded file store (one document) and
// the ZooKeeper store (bucket znodes, master/registry/zookeeper_store)
// are interchangeable.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "clusternodes/result.hpp"
#include "clusternodes/values.hpp"
#include "clusternodes/resources.hpp"
#include "common/file_system.hpp"
#include "master/quota.hpp"

namespace clusternodes::master {

// The registry as a store keeps it: entries, each a key "GROUP/NAME"
// ("agents/ID", "frameworks/ID", "reservations/AGENT", "weights/ROLE",
// "quotas/ROLE") with a JSON object as its value.
using RegistryEntries = std::map<std::string, std::string>;
// A key's GROUP and NAME (NAME may hold '/'); NAME is "" without a '/'.
std::pair<std::string, std::string> splitEntryKey(const std::string& key);
// Changes to entries: a value sets the entry, nullopt removes it.
using RegistryChanges = std::map<std::string, std::optional<std::string>>;

class RegistryStore {
 public:
  virtual ~RegistryStore() = default;
  // Every entry saved so far (none on a first start).
  virtual Result<RegistryEntries> load() = 0;
  // Writes `changes` (none: makes sure the store can be written). On
  // failure nothing is lost: the same changes may be saved again.
  virtual Result<void> save(const RegistryChanges& changes) = 0;
};

// registry.json in the work dir (mode 0600), replaced atomically through the
// real FileSystem (write, fsync, rename, fsync dir).
std::unique_ptr<RegistryStore> makeFileStore(const std::string& workDir);
// The same file through `files` (tests inject failing writes).
std::unique_ptr<RegistryStore> makeFileStore(const std::string& workDir, std::shared_ptr<FileSystem> files);

// kGone: removed for good (unreachable past --agent-removal-timeout, or its
// host rebooted); such an agent is told to shut down if it comes back.
enum class AgentMark { kAdmitted, kUnreachable, kGone };
const char* agentMarkName(AgentMark mark);

struct FrameworkRecord {
  FrameworkInfo info;       // info.id is the framework's id
  double registeredAt = 0;  // wall-clock seconds of its first subscription
};

struct AgentRecord {
  AgentID id;
  std::string hostname;
  AgentMark mark = AgentMark::kAdmitted;
  double markedAt = 0;  // wall-clock seconds of the last mark change
};

class Registry {
 public:
  explicit Registry(std::unique_ptr<RegistryStore> store);

  // Puts `store` in place of the one given at construction; before recover().
  void useStore(std::unique_ptr<RegistryStore> store) { store_ = std::move(store); }

  // Loads the saved state. Fails on an unreadable or corrupt document (the
  // master refuses to start rather than forget its agents).
  Result<void> recover();

  const std::map<AgentID, AgentRecord>& agents() const { return agents_; }
  const AgentRecord* agent(const AgentID& id) const;

  // Writes only when the record changes: an agent re-registering as it was
  // costs nothing.
  Result<void> admit(const AgentRecord& record);
  Result<void> mark(const AgentID& id, AgentMark mark, double at);
  Result<void> remove(const AgentID& id);

  // At most kMaxGoneAgents gone agents are remembered; older ones are
  // forgotten (and could then register again as if new).
  static constexpr size_t kMaxGoneAgents = 1000;

  const std::map<FrameworkID, FrameworkRecord>& frameworks() const { return frameworks_; }
  // Adds or replaces a framework's record; writes only on a change. `now`:
  // written through (a change answered in the same call, UPDATE_FRAMEWORK),
  // undone if it cannot be.
  Result<void> putFramework(const FrameworkRecord& record, bool now = false);
  Result<void> removeFramework(const FrameworkID& id);

  // Role weights set by the operator; they override --weights.
  const std::map<std::string, double>& weights() const { return weights_; }
  // Sets the weights named (others keep theirs).
  Result<void> setWeights(const std::map<std::string, double>& weights);

  // Reservations frameworks made on an agent (RESERVE), as reserved
  // resources; applied to what the agent advertises whenever it registers.
  Resources reservations(const AgentID& id) const;
  Result<void> setReservations(const AgentID& id, const Resources& reserved);

  const std::map<std::string, Quota>& quotas() const { return quotas_; }
  // Sets a role's quota; an empty guarantee and limit removes it.
  Result<void> setQuota(const std::string& role, const Quota& quota);
  // Weights and quotas are answered at once (the operator API replies in
  // the same call), so they are written through, with whatever is staged,
  // even in group commit; one that cannot be written is undone.

  // ---- group commit
  // From now on changes are staged (they cannot fail) and `staged` is
  // called after each, so that the owner arranges a commit().
  void stageChanges(std::function<void()> staged);
  // Whether changes are staged that are not on disk yet.
  bool dirty() const { return dirty_; }
  // Writes every staged change in one document. On failure they stay
  // staged, and the next commit() writes them again.
  Result<void> commit();
  // Runs `fn` once every change made so far is on disk: now when none is
  // staged, else after the next commit() that succeeds, in call order.
  void afterDurable(std::function<void()> fn);

 private:
  // The entry `key` holds now (nullopt: none).
  std::optional<std::string> entry(const std::string& key) const;
  void recoverEntry(const std::string& key, const std::string& value);
  // Stages the entries `keys` as they are now. Write-through (or `now`):
  // saves them, and on failure calls `undo` to put memory back as it was.
  Result<void> persist(const std::vector<std::string>& keys, const std::function<void()>& undo, bool now = false);
  // Saves what is pending; on success nothing is staged any more.
  Result<void> save();

  std::unique_ptr<RegistryStore> store_;
  std::map<AgentID, AgentRecord> agents_;
  std::map<FrameworkID, FrameworkRecord> frameworks_;
  std::map<std::string, double> weights_;
  std::map<std::string, Quota> quotas_;
  std::map<AgentID, Resources> reservations_;
  RegistryChanges pending_;  // entries changed and not saved yet
  bool staging_ = false;
  bool dirty_ = false;
  std::function<void()> staged_;
  std::vector<std::function<void()>> waiting_;  // for the next successful commit
};

}  // namespace clusternodes::master
