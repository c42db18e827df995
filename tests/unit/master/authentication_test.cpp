// Authenticated links, in-process: the master on simulated time with an
// in-memory transport that says, as the CURVE socket does, which principal
// each message's link authenticated as.
#include <doctest/doctest.h>

#include <fstream>
#include <memory>
#include <string>

#include "master/authentication.hpp"
#include "master/master.hpp"
#include "tests/harness/fake_transport.hpp"
#include "tests/harness/simulated_time.hpp"
#include "tests/harness/temp_dir.hpp"

using namespace clusternodes;
using namespace clusternodes::master;
using clusternodes::testing::FakeTransport;
using clusternodes::testing::SimulatedTime;
using clusternodes::testing::TempDir;
using wire::text;

namespace {

struct Keys {
  CurveKey agent = generateCurveKey("host-a");
  CurveKey otherAgent = generateCurveKey("host-b");
  CurveKey framework = generateCurveKey("spark");
  CurveKey otherFramework = generateCurveKey("etl");

  Credentials credentials() const {
    Credentials c;
    c.byKey[agent.publicKey] = {"host-a", PeerKind::kAgent};
    c.byKey[otherAgent.publicKey] = {"host-b", PeerKind::kAgent};
    c.byKey[framework.publicKey] = {"spark", PeerKind::kFramework};
    c.byKey[otherFramework.publicKey] = {"etl", PeerKind::kFramework};
    return c;
  }
};

// A master whose links authenticate (both kinds of peer must).
struct AuthSim {
  SimulatedTime time;
  TempDir dir;
  Keys keys;
  std::shared_ptr<FakeTransport::Wire> wire;
  std::unique_ptr<Master> master;

  // `acls`: the text of an ACL file (--acls), "" for none; `authenticate`:
  // false for links that are not authenticated (principals are then
  // whatever the peers claim).
  explicit AuthSim(const std::string& acls = "", bool authenticate = true) {
    MasterFlags flags;
    flags.workDir = dir.path;
    flags.httpPort = -1;
    if (!acls.empty()) {
      flags.aclsFile = dir.path + "/acls.toml";
      std::ofstream(flags.aclsFile) << acls;
    }
    auto transport = std::make_unique<FakeTransport>();
    wire = transport->wire();
    MasterEnvironment environment{time, std::move(transport)};
    if (authenticate) environment.authenticator = std::make_unique<Authenticator>(keys.credentials(), true, true);
    master = std::make_unique<Master>(std::move(environment), flags);
    REQUIRE(master->start());
  }

  void deliver(const std::string& peer, capnp::MallocMessageBuilder& message, const std::string& principal) {
    wire->deliver(peer, message, principal);
    time.advance(Duration::zero());  // the registry's group commit, and what waited on it
  }

  void registerAgent(const std::string& peer, const std::string& principal, const std::string& agentId = "") {
    capnp::MallocMessageBuilder message;
    auto reg = message.initRoot<wire::Envelope>().initRegisterAgent();
    reg.setAgentId(agentId);
    wire::AgentInfoValue info;
    info.hostname = peer + ".example";
    info.resources = *Resources::parse("cpus:4;mem:4096");
    wire::toWire(info, reg.initInfo());
    deliver(peer, message, principal);
  }

  void subscribe(const std::string& peer, const std::string& principal, FrameworkInfo info) {
    capnp::MallocMessageBuilder message;
    wire::toWire(info, message.initRoot<wire::Envelope>().initSubscribe().initInfo());
    deliver(peer, message, principal);
  }

  // What went to `peer`, of one kind.
  std::vector<std::string> told(const std::string& peer, wire::Envelope::Which which) {
    std::vector<std::string> out;
    for (const auto& m : wire->take(peer)) {
      if (m->which() != which) continue;
      auto e = m->envelope();
      switch (which) {
        case wire::Envelope::AGENT_REGISTERED: out.push_back(text(e.getAgentRegistered().getAgentId())); break;
        case wire::Envelope::SUBSCRIBED: out.push_back(text(e.getSubscribed().getFrameworkId())); break;
        case wire::Envelope::FRAMEWORK_ERROR: out.push_back(text(e.getFrameworkError().getMessage())); break;
        default: out.emplace_back();
      }
    }
    return out;
  }

  uint64_t refused(const std::string& reason) const {
    const auto& counts = master->authenticator()->refused();
    auto it = counts.find(reason);
    return it == counts.end() ? 0 : it->second;
  }
};

FrameworkInfo framework(const std::string& name) {
  FrameworkInfo info;
  info.name = name;
  info.user = "nobody";
  info.failoverTimeoutSeconds = 60;
  return info;
}

}  // namespace

TEST_CASE("authentication: only an agent's key registers an agent, and only a framework's key subscribes") {
  AuthSim sim;
  sim.registerAgent("a1", "spark");
  CHECK(sim.told("a1", wire::Envelope::AGENT_REGISTERED).empty());
  sim.registerAgent("a2", "");
  CHECK(sim.told("a2", wire::Envelope::AGENT_REGISTERED).empty());
  CHECK(sim.refused("not_an_agent") == 2);
  sim.registerAgent("a3", "host-a");
  CHECK(sim.told("a3", wire::Envelope::AGENT_REGISTERED).size() == 1);
  CHECK(sim.master->state().agents.size() == 1);

  sim.subscribe("f1", "host-a", framework("web"));
  auto errors = sim.told("f1", wire::Envelope::FRAMEWORK_ERROR);
  REQUIRE(errors.size() == 1);
  CHECK(errors.front().find("the key of agent 'host-a'") != std::string::npos);
  sim.subscribe("f2", "", framework("web"));
  CHECK(sim.told("f2", wire::Envelope::FRAMEWORK_ERROR).size() == 1);
  CHECK(sim.refused("not_a_framework") == 2);
  CHECK(sim.master->state().frameworks.empty());
}

TEST_CASE("authentication: a framework's principal is its link's, and a FrameworkInfo that claims another is refused") {
  AuthSim sim;
  sim.subscribe("f1", "spark", framework("web"));  // claims nothing
  auto ids = sim.told("f1", wire::Envelope::SUBSCRIBED);
  REQUIRE(ids.size() == 1);
  CHECK(sim.master->state().frameworks.at(FrameworkID{ids.front()}).info.principal == "spark");

  auto claiming = framework("web");
  claiming.principal = "etl";
  sim.subscribe("f2", "spark", claiming);
  auto errors = sim.told("f2", wire::Envelope::FRAMEWORK_ERROR);
  REQUIRE(errors.size() == 1);
  CHECK(errors.front() == "FrameworkInfo names principal 'etl' but this connection authenticated as 'spark'");
  CHECK(sim.master->state().frameworks.size() == 1);
}

TEST_CASE("authentication: a framework id is taken over only by the principal it was registered with") {
  AuthSim sim;
  sim.subscribe("f1", "spark", framework("web"));
  auto ids = sim.told("f1", wire::Envelope::SUBSCRIBED);
  REQUIRE(ids.size() == 1);

  auto takeover = framework("web");
  takeover.id = FrameworkID{ids.front()};
  sim.subscribe("f2", "etl", takeover);
  auto errors = sim.told("f2", wire::Envelope::FRAMEWORK_ERROR);
  REQUIRE(errors.size() == 1);
  CHECK(errors.front().find("belongs to principal 'spark'") != std::string::npos);
  CHECK(sim.master->state().frameworks.at(takeover.id).peer == "f1");

  // Its own scheduler failing over, on a new connection with the same key.
  sim.subscribe("f3", "spark", takeover);
  CHECK(sim.told("f3", wire::Envelope::SUBSCRIBED) == ids);
  CHECK(sim.master->state().frameworks.at(takeover.id).peer == "f3");
}

TEST_CASE("authentication: a message on a registered peer's connection from another principal is dropped") {
  AuthSim sim;
  sim.registerAgent("a1", "host-a");
  REQUIRE(sim.told("a1", wire::Envelope::AGENT_REGISTERED).size() == 1);
  sim.subscribe("f1", "spark", framework("web"));
  auto ids = sim.told("f1", wire::Envelope::SUBSCRIBED);
  REQUIRE(ids.size() == 1);

  // A teardown of the framework, sent as another principal over its peer's
  // identity (what a client taking over the ROUTER slot would do).
  capnp::MallocMessageBuilder teardown;
  teardown.initRoot<wire::Envelope>().initTeardown().setFrameworkId(ids.front());
  sim.deliver("f1", teardown, "etl");
  CHECK(sim.master->state().frameworks.count(FrameworkID{ids.front()}) == 1);
  CHECK(sim.refused("wrong_principal") == 1);

  // The same from its own principal goes through.
  sim.deliver("f1", teardown, "spark");
  CHECK(sim.master->state().frameworks.count(FrameworkID{ids.front()}) == 0);

  // Another agent's key claiming this agent's id is refused; the agent
  // keeps its registration.
  auto agentId = sim.master->state().agents.begin()->first;
  sim.registerAgent("a2", "host-b", agentId.value);
  CHECK(sim.told("a2", wire::Envelope::AGENT_REGISTERED).empty());
  CHECK(sim.master->state().agents.at(agentId).peer == "a1");
  sim.registerAgent("a3", "host-a", agentId.value);
  CHECK(sim.told("a3", wire::Envelope::AGENT_REGISTERED) == std::vector<std::string>{agentId.value});
}

TEST_CASE("authentication: the handshake admits known keys by name, and unknown keys only while some peer may be "
          "anonymous") {
  Keys keys;
  ZapRequest known{"CURVE", "10.0.0.5", keys.framework.publicKey};
  ZapRequest unknown{"CURVE", "10.0.0.6", generateCurveKey("x").publicKey};
  ZapRequest plain{"NULL", "10.0.0.7", ""};

  Authenticator strict(keys.credentials(), true, true);
  auto verdict = strict.admit(known);
  CHECK(verdict.admitted);
  CHECK(verdict.principal == "spark");
  verdict = strict.admit(unknown);
  CHECK_FALSE(verdict.admitted);
  CHECK(verdict.reason.find("not in the master's credentials") != std::string::npos);
  strict.admit(unknown);
  CHECK_FALSE(strict.admit(plain).admitted);
  CHECK(strict.refused().at("unknown_key") == 2);
  CHECK(strict.refused().at("not_curve") == 1);

  // Frameworks may be anonymous: an unknown key is let in without a name,
  // and then may subscribe but not register an agent.
  Authenticator agentsOnly(keys.credentials(), true, false);
  verdict = agentsOnly.admit(unknown);
  CHECK(verdict.admitted);
  CHECK(verdict.principal.empty());
  CHECK(agentsOnly.maySubscribe(""));
  CHECK_FALSE(agentsOnly.mayRegisterAgent(""));
  CHECK(agentsOnly.mayRegisterAgent("host-a"));
  CHECK_FALSE(agentsOnly.mayRegisterAgent("spark"));
}

TEST_CASE("authentication: the flags that need a key or credentials say so") {
  MasterFlags flags;
  flags.authenticateFrameworks = true;
  auto loaded = loadLinkSecurity(flags);
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().message == "--authenticate-frameworks needs --key, the master's key pair");

  TempDir dir;
  REQUIRE(writeCurveKey(generateCurveKey("master"), dir.path, false));
  flags.keyFile = dir.path + "/master.key";
  loaded = loadLinkSecurity(flags);
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().message == "--authenticate-frameworks needs --credentials, the frameworks' keys");

  flags.authenticateFrameworks = false;
  loaded = loadLinkSecurity(flags);
  REQUIRE(loaded);
  REQUIRE(loaded->has_value());
  CHECK((*loaded)->key.principal == "master");
  CHECK((*loaded)->credentials.byKey.empty());

  flags.keyFile = dir.path + "/master.pub";
  loaded = loadLinkSecurity(flags);
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().message.rfind("--key: ", 0) == 0);
}

TEST_CASE("authorization: a framework subscribes only in the roles the ACLs give its link's principal") {
  AuthSim sim("[[register_framework]]\nprincipals = [\"spark\"]\nroles = [\"analytics\", \"shared/*\"]\n");
  FrameworkInfo info = framework("web");
  info.roles = {"analytics", "ops"};
  sim.subscribe("f1", "spark", info);
  auto errors = sim.told("f1", wire::Envelope::FRAMEWORK_ERROR);
  REQUIRE(errors.size() == 1);
  CHECK(errors.front() == "not authorized: principal 'spark' may not register a framework in role 'ops' (no "
                          "[[register_framework]] rule in " + sim.dir.path + "/acls.toml allows it)");
  CHECK(sim.master->state().frameworks.empty());
  CHECK(sim.master->state().metrics.aclDenials.at("register_framework") == 1);

  info.roles = {"analytics", "shared/etl"};
  sim.subscribe("f1", "spark", info);
  CHECK(sim.told("f1", wire::Envelope::SUBSCRIBED).size() == 1);
  sim.subscribe("f2", "etl", framework("etl"));  // role "*": no rule gives it
  CHECK(sim.told("f2", wire::Envelope::FRAMEWORK_ERROR).size() == 1);
}

TEST_CASE("authorization: on unauthenticated links the ACLs see an anonymous peer, whatever FrameworkInfo claims") {
  AuthSim sim("[[register_framework]]\nprincipals = [\"spark\"]\nroles = [\"*\"]\n", /*authenticate=*/false);
  FrameworkInfo info = framework("web");
  info.principal = "spark";
  sim.subscribe("f1", "", info);
  auto errors = sim.told("f1", wire::Envelope::FRAMEWORK_ERROR);
  REQUIRE(errors.size() == 1);
  CHECK(errors.front().find("not authorized: an anonymous peer may not register a framework in role '*'") == 0);
  CHECK(sim.master->state().frameworks.empty());
}
