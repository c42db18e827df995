// What the master's books share: its flags, its time, the in-memory model,
// the registry, the allocator, the event log, the watcher and the way out to
// peers.
//
// Master owns every one of these and hands one MasterContext to each book
// (frameworks, agents, offers, tasks). A book keeps the state of its kind in
// `state` and decides its policy; it reaches the others only through the
// books it is given. Loop thread only.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>

#include <capnp/message.h>

#include "common/clock.hpp"
#include "common/transport.hpp"
#include "common/wire.hpp"
#include "master/acls.hpp"
#include "master/allocator/allocator.hpp"
#include "master/events.hpp"
#include "master/registry/registry.hpp"
#include "master/state.hpp"
#include "master/watcher.hpp"

namespace clusternodes::master {

struct MasterFlags {
  std::string ip = "127.0.0.1";
  int port = 5050;
  // HTTP port (/state, /metrics, the web UI); negative: no HTTP server (unit
  // tests; the daemon's --http-port is 0-65535).
  int httpPort = 8081;
  std::string workDir = "/var/lib/clusternodes/master";
  // Window that batches allocation triggers (agent added, resources freed...).
  std::chrono::nanoseconds allocationInterval = std::chrono::milliseconds(5);
  // Rescind offers unanswered for this long; zero: never.
  std::chrono::nanoseconds offerTimeout = std::chrono::nanoseconds::zero();
  std::chrono::nanoseconds agentPingTimeout = std::chrono::seconds(15);
  int maxAgentPingTimeouts = 5;
  // An agent unreachable this long is marked gone: its partition-aware
  // tasks become TASK_GONE, and if it returns it is told to shut its tasks
  // down (it then registers as a new agent).
  std::chrono::nanoseconds agentRemovalTimeout = std::chrono::minutes(10);
  // After a master restart, an agent of the registry that has not
  // re-registered within this long is marked unreachable.
  std::chrono::nanoseconds agentReregisterTimeout = std::chrono::minutes(10);
  // At most agentRemovalRateCount agents are marked unreachable per
  // agentRemovalRatePeriod; the others wait their turn (and may answer a
  // ping meanwhile). 0: no limit (--agent-removal-rate-limit=N/DURATION).
  int agentRemovalRateCount = 0;
  std::chrono::nanoseconds agentRemovalRatePeriod = std::chrono::nanoseconds::zero();
  // Frameworks are sent a heartbeat this often and are considered
  // disconnected after maxAgentPingTimeouts silent intervals.
  std::chrono::nanoseconds frameworkHeartbeatInterval = std::chrono::seconds(1);
  std::map<std::string, double> weights;
  // A framework that has wanted offers this long, while other frameworks
  // hold resources, is reported starved in /state and /metrics.
  std::chrono::nanoseconds starvationThreshold = std::chrono::seconds(10);
  // zk://HOST:PORT[,...]/PATH: run highly available, elected through
  // ZooKeeper, with the registry there. Empty: the one master, its
  // registry in workDir.
  std::string zk;
  std::chrono::milliseconds zkSessionTimeout = std::chrono::seconds(10);
  // CURVE (master/authentication.hpp): the master's key pair file. Empty:
  // links are neither encrypted nor authenticated.
  std::string keyFile;
  // The agents' and frameworks' public keys (common/curve.hpp).
  std::string credentialsFile;
  // Only agents, or frameworks, whose keys are in the credentials file.
  bool authenticateAgents = false;
  bool authenticateFrameworks = false;
  // Who may do what (master/acls.hpp). Empty: everything is allowed.
  std::string aclsFile;
  // HTTP bearer tokens (common/http_auth.hpp): the tokens file, and what
  // needs a token ("" = writes with a tokens file, none without).
  std::string httpCredentialsFile;
  std::string httpAuthenticate;
  // TLS on the HTTP port (common/tls.hpp): a PEM certificate chain and its
  // key; both or neither.
  std::string tlsCertFile;
  std::string tlsKeyFile;
};

struct MasterContext {
  const MasterFlags& flags;
  // now() (monotonic) for timeouts; wallSeconds() for what is shown or stored.
  const Clock& clock;
  MasterState& state;
  Registry& registry;
  Allocator& allocator;
  EventLog& events;
  Transport& transport;
  // What principals may do; allowAll() without --acls.
  const Acls& acls;
  // Asks for an allocation round soon (batched over --allocation-interval).
  std::function<void()> requestAllocation;
  // Who watches the state (the operator API's event stream); nullptr: none.
  StateWatcher* watcher = nullptr;

  // Tells the watcher, if any: ctx.watch([&](StateWatcher& w) { w.agentAdded(agent); }).
  template <typename Fn>
  void watch(Fn&& tell) {
    if (watcher != nullptr) tell(*watcher);
  }

  // Sends one envelope to `peer` (a ROUTER identity). Never blocks; a
  // message the transport cannot queue is dropped and counted there.
  void send(const std::string& peer, capnp::MallocMessageBuilder& message) {
    transport.sendTo(peer, wire::encode(message));
  }
  // The same, once every registry change made so far is on disk: for what
  // tells a peer of such a change (an agent marked unreachable or gone).
  void sendWhenDurable(const std::string& peer, capnp::MallocMessageBuilder& message) {
    registry.afterDurable([&out = transport, peer, bytes = wire::encode(message)] { out.sendTo(peer, bytes); });
  }
  double now() const { return clock.now(); }
  double wallNow() const { return clock.wallSeconds(); }
};

// Milliseconds of a duration, for the wire and for log lines.
inline int64_t toMs(std::chrono::nanoseconds d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}
inline double toSeconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

}  // namespace clusternodes::master
