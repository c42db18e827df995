// ZooKeeper: a session with a ZooKeeper ensemble, through the ZooKeeper C
// client (libzookeeper_mt), for leader election, leader detection and the
// master's registry when it runs highly available.
//
//   auto url = parseZkUrl("zk://h1:2181,h2:2181/clusternodes");
//   auto zk = ZooKeeper::open(loop, url->servers, std::chrono::seconds(10));
//   (*zk)->onSessionChange([](ZooKeeper::Session s) { ... });  // on the loop
//   auto kids = (*zk)->children(url->path, true);  // and a watch
//   (*zk)->onChildrenChanged([](const std::string& path) { ... });
//
// The C client runs its own I/O and completion threads; every event (the
// session's state, a watch firing) is handed to the loop with Loop::post, so
// callbacks run on the loop thread like everything else. The calls are
// blocking and answer within about the session timeout; a call made while
// the session is not connected fails at once with kUnavailable rather than
// waiting for a reconnection.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "clusternodes/result.hpp"
#include "common/loop.hpp"

namespace clusternodes {

// zk://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]/PATH, as Mesos takes it.
struct ZkUrl {
  std::string servers;  // "h1:2181,h2:2181"
  std::string path;     // "/clusternodes": absolute, no trailing slash
  std::string auth;     // "user:password" for the digest scheme, or ""
  std::string toString() const;
};

bool isZkUrl(std::string_view text);
// Fails with kInvalid and a reason naming what is wrong.
Result<ZkUrl> parseZkUrl(std::string_view text);

class ZooKeeper {
 public:
  enum class Session {
    kConnecting,  // not connected yet, or the connection was lost and is being made again
    kConnected,
    kExpired,  // the ensemble ended the session: its ephemeral znodes are gone
  };

  // One operation of a multi(): all of them happen, or none.
  struct Op {
    enum class Kind { kCreate, kSet, kDelete, kCheck };
    Kind kind;
    std::string path;
    std::string data;  // kCreate, kSet
    // kCheck: the node must exist (with this version unless -1);
    // kSet, kDelete: the version expected, -1 for any.
    int version = -1;
  };

  // Starts a session with `servers` ("h1:2181,h2:2181"). It is not
  // connected yet when this returns: onSessionChange tells when it is.
  static Result<std::unique_ptr<ZooKeeper>> open(Loop& loop, const std::string& servers,
                                                 std::chrono::milliseconds sessionTimeout,
                                                 const std::string& auth = "");
  // Closes the session: its ephemeral znodes go at once.
  ~ZooKeeper();
  ZooKeeper(const ZooKeeper&) = delete;
  ZooKeeper& operator=(const ZooKeeper&) = delete;

  Session session() const;
  // Called on the loop at every change of the session's state.
  void onSessionChange(std::function<void(Session)> handler);
  // Called on the loop when the children of a path watched by children()
  // change (once per watch: call children() again to watch again).
  void onChildrenChanged(std::function<void(const std::string& path)> handler);
  // Called on the loop when a node watched by exists() is created, changed
  // or deleted (once per watch).
  void onNodeChanged(std::function<void(const std::string& path)> handler);

  // Asks the ensemble something of no consequence (whether "/" exists),
  // without waiting. Its answer confirms the session as of when it was
  // asked: the ensemble had heard from this session then, so the session
  // lives at least a session timeout from then.
  void confirm();
  // When the session was last confirmed (confirm()'s answer, or the
  // connection being made); steady_clock, its epoch if never.
  std::chrono::steady_clock::time_point lastConfirmed() const;

  // The session timeout the ensemble granted.
  std::chrono::milliseconds sessionTimeout() const;
  int64_t sessionId() const;
  const std::string& servers() const { return servers_; }

  // Waits up to `timeout` for the session to connect.
  Result<void> awaitConnected(std::chrono::milliseconds timeout);

  // Creates a node (`ephemeral`, `sequential`) and returns its path (with
  // the sequence number the ensemble appended). kConflict when it exists.
  Result<std::string> create(const std::string& path, const std::string& data, bool ephemeral = false,
                             bool sequential = false);
  // Creates `path` and every missing parent as empty persistent nodes.
  Result<void> createPath(const std::string& path);
  // The node's data; nullopt when there is no such node.
  Result<std::optional<std::string>> get(const std::string& path);
  // The data of each node (nullopt for one that does not exist), asked
  // for all at once rather than one round trip after another.
  Result<std::vector<std::optional<std::string>>> getMany(const std::vector<std::string>& paths);
  // Whether the node exists; `watch`: onNodeChanged fires once when it is
  // created, changed or deleted.
  Result<bool> exists(const std::string& path, bool watch = false);
  // The names of the node's children (not full paths). kNotFound when the
  // node does not exist. `watch`: onChildrenChanged fires once when they change.
  Result<std::vector<std::string>> children(const std::string& path, bool watch = false);
  Result<void> set(const std::string& path, const std::string& data, int version = -1);
  // kNotFound when there is no such node.
  Result<void> remove(const std::string& path, int version = -1);
  // Applies every op or none. The error names the first op that failed and
  // why; kConflict for a failed check, version or existing node, kNotFound
  // for a missing one.
  Result<void> multi(const std::vector<Op>& ops);

  // The largest request the ensemble takes by default (jute.maxbuffer is
  // 1 MiB); multi() callers split their batches well below it.
  static constexpr size_t kMaxRequestBytes = 1024 * 1024;

 private:
  struct State;
  explicit ZooKeeper(std::shared_ptr<State> state, std::string servers);
  std::shared_ptr<State> state_;
  std::string servers_;
};

const char* sessionName(ZooKeeper::Session session);

}  // namespace clusternodes
