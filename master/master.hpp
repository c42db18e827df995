// Master: the router between the front doors (the ZeroMQ wire, the HTTP
// endpoints) and the books that keep the cluster's state and decide its
// policy: frameworks (master/frameworks.hpp), agents (master/agents.hpp),
// offers (master/offers.hpp), tasks (master/tasks.hpp), the allocator and
// the registry. It owns them all, wires them together and runs the timers.
//
// One Master runs on one libuv loop. Agents and framework drivers connect
// DEALER sockets to its ROUTER; every message is one wire::Envelope. The
// registry write is its only synchronous I/O: the registry changes of one
// loop turn are written together at its end (group commit), and nothing
// that acknowledges them (AGENT_REGISTERED, SUBSCRIBED, what tells peers of
// an agent's mark) goes out before they are on disk. A failed write holds
// those replies back, is retried every second, and fails /health.
//
//   Loop loop;
//   zmq::context_t context;
//   Master master(loop, context, flags);
//   if (auto started = master.start(); !started) { ...started.error()... }
//   loop.run();
//
// Unit tests give it simulated time and an in-memory transport instead, and
// no HTTP (flags.httpPort < 0):
//
//   SimulatedTime time;
//   auto transport = std::make_unique<FakeTransport>();
//   Master master(MasterEnvironment{time, std::move(transport)}, flags);
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include <zmq.hpp>

#include "common/clock.hpp"
#include "common/http_auth.hpp"
#include "common/http_server.hpp"
#include "common/leader.hpp"
#include "common/loop.hpp"
#include "common/transport.hpp"
#include "master/agents.hpp"
#include "common/zap.hpp"
#include "master/allocator/allocator.hpp"
#include "master/authentication.hpp"
#include "master/context.hpp"
#include "master/events.hpp"
#include "master/frameworks.hpp"
#include "master/http/operator_stream.hpp"
#include "master/offers.hpp"
#include "master/peer_router.hpp"
#include "master/registry/registry.hpp"
#include "master/state.hpp"
#include "master/tasks.hpp"

namespace clusternodes::master {

// What a Master runs on.
struct MasterEnvironment {
  // Every clock reading and timer of the master, the allocator's included.
  TimeSource& time;
  // A ROUTER-like socket, bound at start() to tcp://ip:port from the flags.
  std::unique_ptr<Transport> transport;
  // The loop the HTTP server runs on; nullptr: no HTTP server, which
  // requires flags.httpPort < 0.
  Loop* loop = nullptr;
  // The file system the registry is written through; nullptr: the real one.
  std::shared_ptr<FileSystem> files = nullptr;
  // Unit tests of authenticated links (the transport says who sent each
  // message); production builds one from flags.keyFile at start().
  std::unique_ptr<Authenticator> authenticator = nullptr;
};

class Master {
 public:
  // Production: the loop's time, a ZeroMQ ROUTER on `context`, HTTP on the
  // loop.
  Master(Loop& loop, zmq::context_t& context, MasterFlags flags);
  Master(MasterEnvironment environment, MasterFlags flags);
  ~Master();

  // Binds the sockets and serves HTTP; then, unless the master runs for
  // election (flags.zk), leads at once: recovers the registry from the
  // work dir and starts the timers.
  Result<void> start();
  // Elected (flags.zk): recovers the registry from `store` and acts as the
  // leader from now on. Until then the master stands by: it tells ZeroMQ
  // peers where the leader is (NotLeader) and redirects HTTP API calls.
  Result<void> lead(std::unique_ptr<RegistryStore> store);
  bool leading() const { return leading_; }
  // While standing by, before a peer is told who leads: asks the election
  // whether this master leads by now (it may call lead() at once). Peers
  // learn of a new leader through their own ZooKeeper watches, and can
  // reach it before its own watch has fired; they are served rather than
  // sent back to the master that died. At most once per kStandbyCheckEvery.
  void setStandbyCheck(std::function<void()> check) { standbyCheck_ = std::move(check); }
  static constexpr std::chrono::milliseconds kStandbyCheckEvery{20};
  // While leading, before every message is handled: whether this master
  // may still act (the election's lease, master/election.hpp). When it may
  // not, the message is left alone: the master is stopping.
  void setLeadingCheck(std::function<bool()> check) { leadingCheck_ = std::move(check); }
  // While standing by: the leader as the election last saw it.
  void setLeader(std::optional<LeaderInfo> leader) { leader_ = std::move(leader); }
  const std::optional<LeaderInfo>& leader() const { return leader_; }

  const MasterState& state() const { return state_; }
  const MasterFlags& flags() const { return flags_; }
  const Allocator& allocator() const { return *allocator_; }
  std::string endpoint() const { return endpoint_; }
  // The bound HTTP port; -1 without an HTTP server.
  int httpPort() const { return httpPort_; }
  // The HTTP port speaks TLS (--tls-cert): its URLs are https://.
  bool servesTls() const;
  // HTTP requests refused for a missing or unknown token.
  uint64_t httpUnauthorized() const { return httpAuth_ && httpAuth_->refused ? *httpAuth_->refused : 0; }
  uint64_t httpTlsFailures() const;
  // The master's clock (wall time for what it shows, monotonic for timeouts).
  const Clock& clock() const { return time_; }
  const Registry& registry() const { return registry_; }
  // The last agent, framework, task and offer events, for operators.
  const EventLog& events() const { return events_; }

  // The operator API, asked by `principal` ("" when anonymous). Each change
  // is validated, authorized (kDenied when the ACLs do not allow it),
  // written to the registry, then applied; a bad one changes nothing and
  // says why.
  Result<void> setWeights(const std::string& principal, const std::map<std::string, double>& weights);
  // An empty guarantee and limit removes the role's quota.
  Result<void> setQuota(const std::string& principal, const std::string& role, const Quota& quota);
  // Whether the last write of the registry failed: the master then answers
  // nothing that waits on it (registrations, subscriptions) and /health is
  // 503 until a write succeeds.
  bool registryFailing() const { return registryFailing_; }
  // Malformed, truncated or unknown messages dropped, including frames the
  // transport refused.
  uint64_t droppedMessages() const { return state_.metrics.messagesDropped + socket_->malformedFrames(); }
  // ---- the HTTP scheduler API's subscriptions (master/http/scheduler_api.hpp)
  // A call of the HTTP scheduler on `peer` (isHttpPeer), as the wire message
  // the SDK would send: the same router, books and checks as a ZeroMQ
  // peer's. `principal`: its bearer token's, "" when anonymous (an
  // authenticated principal, like a CURVE key's, is the framework's).
  void fromHttpScheduler(const std::string& peer, const std::string& principal, std::string_view bytes);
  // UPDATE_FRAMEWORK of a framework subscribed over HTTP
  // (FrameworkBook::update): applied and on disk when it returns.
  Result<void> updateFramework(const FrameworkID& id, FrameworkInfo info, const std::set<std::string>& suppressed);
  // Its stream closed: its framework is disconnected, and its failover
  // timeout starts.
  void httpSchedulerGone(const std::string& peer);
  // nullptr without an HTTP server.
  const SchedulerApi* schedulerApi() const { return schedulerApi_.get(); }
  // Who is told of each change operators watch (master/watcher.hpp): with
  // HTTP, the operator API's event streams; unit tests set their own.
  void setWatcher(StateWatcher* watcher) { context_.watcher = watcher; }
  // The operator API's event streams (master/http/operator_stream.hpp);
  // nullptr without an HTTP server.
  OperatorStreams* operatorStreams() { return operatorStreams_.get(); }
  const OperatorStreams* operatorStreams() const { return operatorStreams_.get(); }

  // nullptr when links are not authenticated (no --key).
  const Authenticator* authenticator() const { return authenticator_.get(); }
  // What principals may do (--acls).
  const Acls& acls() const { return acls_; }

 private:
  // ---- the router: from the transport to the books
  void onMessage(std::string_view peer, std::string_view bytes, std::string_view principal);
  // `http`: from an HTTP scheduler's subscription, bound to its peer by
  // its stream id rather than by a link's key.
  void dispatch(const std::string& peer, const std::string& principal, const wire::Envelope::Reader& envelope,
                bool http = false);
  // With authenticated links: whether a registered agent's or framework's
  // message comes over a link authenticated as the principal it registered
  // with (a registration binds the peer to its principal).
  bool sentAsRegistered(const std::string& peer, const std::string& principal, const wire::Envelope::Reader& envelope);
  // --key: makes the socket a CURVE server admitting peers through a
  // ZapHandler and the credentials.
  Result<void> secureLinks();
  // --acls: reads the ACL file (none: everything is allowed).
  Result<void> loadAcls();
  // Messages only a registered agent may send.
  void dispatchFromAgent(const std::string& peer, const wire::Envelope::Reader& envelope);
  // Framework calls (each names its framework, which must be subscribed
  // on `peer`).
  void dispatchFrameworkCall(const std::string& peer, const wire::Envelope::Reader& envelope);
  void dropMessage(const std::string& peer, const std::string& reason);
  void sendMasterInfo(const std::string& peer);
  // A standby's answer to a ZeroMQ peer: who leads.
  void redirect(const std::string& peer, const wire::Envelope::Reader& envelope);
  // Relays a framework message: from a scheduler to the executor's agent,
  // or from an agent to the scheduler.
  void frameworkMessage(const std::string& peer, wire::FrameworkMessage::Reader message);
  void requestAllocation();
  // Starts the HTTP server unless flags.httpPort < 0.
  Result<void> serveHttp();
  // Writes the registry's staged changes (group commit: once per loop turn
  // that staged some, after a pause as long as the last write took); a
  // failed write is counted, logged once, and retried every kRegistryRetry.
  void commitRegistry();
  static constexpr std::chrono::seconds kRegistryRetry{1};

  Loop* loop_;
  MasterFlags flags_;
  TimeSource& time_;
  MasterState state_;
  Registry registry_;
  std::unique_ptr<Allocator> allocator_;
  std::unique_ptr<Transport> socket_;
  PeerRouter peers_;  // socket_ and the HTTP scheduler API's streams
  // The production socket and its context (nullptr in unit tests), for CURVE.
  ZmqSocket* zmqSocket_ = nullptr;
  zmq::context_t* zmqContext_ = nullptr;
  std::unique_ptr<Authenticator> authenticator_;
  std::unique_ptr<ZapHandler> zap_;
  Acls acls_ = Acls::allowAll();
  std::shared_ptr<const HttpAuthPolicy> httpAuth_;  // who needs a token, and the tokens
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<SchedulerApi> schedulerApi_;  // streams on http_: destroyed before it
  std::unique_ptr<OperatorStreams> operatorStreams_;  // the same, and context_'s watcher
  EventLog events_;
  MasterContext context_;
  OfferBook offers_;
  TaskBook tasks_;
  FrameworkBook frameworks_;
  AgentBook agents_;
  Timer allocationTimer_;
  Timer periodicAllocationTimer_;
  Timer pingTimer_;
  Timer heartbeatTimer_;
  Timer registryTimer_;
  bool registryFailing_ = false;
  double lastCommitSeconds_ = 0;  // how long the last registry write took
  double lastCommitEnded_ = 0;    // time_.now() when it ended
  bool leading_ = false;
  std::optional<LeaderInfo> leader_;
  std::function<void()> standbyCheck_;
  std::function<bool()> leadingCheck_;
  double lastStandbyCheck_ = -1e9;  // time_.now() of the last standby check
  std::string endpoint_;
  int httpPort_ = 0;
};

// Adds /state, /health, /metrics, the operator API and the web UI to `http`
// (master/http/master_http.cpp).
void installMasterEndpoints(HttpServer& http, Master& master);

}  // namespace clusternodes::master
