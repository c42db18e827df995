// CURVE keys, the credentials file, and CURVE links through ZmqSocket and
// ZapHandler on loopback.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "common/curve.hpp"
#include "common/fingerprint.hpp"
#include "common/loop.hpp"
#include "common/transport.hpp"
#include "common/zap.hpp"
#include "tests/harness/temp_dir.hpp"

using namespace clusternodes;
using clusternodes::testing::TempDir;

namespace {

std::string readText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void writeText(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

mode_t modeOf(const std::string& path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return info.st_mode & 07777;
}

// Runs `loop` until `done` holds or `seconds` pass; whether it held.
bool runUntil(Loop& loop, const std::function<bool()>& done, double seconds = 5) {
  uv_timer_t tick;
  uv_timer_init(loop.raw(), &tick);
  struct Context {
    Loop* loop;
    const std::function<bool()>* done;
    std::chrono::steady_clock::time_point deadline;
  } context{&loop, &done,
            std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int>(seconds * 1000))};
  tick.data = &context;
  uv_timer_start(
      &tick,
      [](uv_timer_t* handle) {
        auto* c = static_cast<Context*>(handle->data);
        if ((*c->done)() || std::chrono::steady_clock::now() > c->deadline) c->loop->stop();
      },
      5, 5);
  loop.run();
  uv_timer_stop(&tick);
  uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
  uv_run(loop.raw(), UV_RUN_NOWAIT);
  return done();
}

}  // namespace

TEST_CASE("curve keys: a generated pair is written as a 0600 key file and a 0644 public file, and read back") {
  TempDir dir;
  CurveKey key = generateCurveKey("web-1");
  CHECK(checkZ85Key(key.publicKey));
  CHECK(checkZ85Key(key.secretKey));
  REQUIRE(writeCurveKey(key, dir.path, false));
  CHECK(modeOf(dir.path + "/web-1.key") == 0600);
  CHECK(modeOf(dir.path + "/web-1.pub") == 0644);
  CHECK(readText(dir.path + "/web-1.pub").find(key.secretKey) == std::string::npos);

  auto pair = readCurveKey(dir.path + "/web-1.key", true);
  REQUIRE(pair);
  CHECK(pair->principal == "web-1");
  CHECK(pair->publicKey == key.publicKey);
  CHECK(pair->secretKey == key.secretKey);
  auto half = readCurveKey(dir.path + "/web-1.pub", false);
  REQUIRE(half);
  CHECK(half->publicKey == key.publicKey);
  CHECK(half->secretKey.empty());

  SUBCASE("an existing pair is replaced only when asked") {
    auto again = writeCurveKey(generateCurveKey("web-1"), dir.path, false);
    REQUIRE_FALSE(again);
    CHECK(again.error().code == ErrorCode::kConflict);
    CHECK(readCurveKey(dir.path + "/web-1.key", true)->secretKey == key.secretKey);
    CHECK(writeCurveKey(generateCurveKey("web-1"), dir.path, true));
    CHECK(readCurveKey(dir.path + "/web-1.key", true)->secretKey != key.secretKey);
  }
  SUBCASE("a secret key others may read is refused") {
    ::chmod((dir.path + "/web-1.key").c_str(), 0644);
    auto read = readCurveKey(dir.path + "/web-1.key", true);
    REQUIRE_FALSE(read);
    CHECK(read.error().message.find("chmod 600") != std::string::npos);
  }
  SUBCASE("the public file where a pair is needed is refused, saying so") {
    auto read = readCurveKey(dir.path + "/web-1.pub", true);
    REQUIRE_FALSE(read);
    CHECK(read.error().message.find("no secret-key") != std::string::npos);
  }
  SUBCASE("a pair whose halves do not belong together is refused") {
    CurveKey other = generateCurveKey("web-1");
    writeText(dir.path + "/mixed.key", "principal = \"web-1\"\npublic-key = \"" + key.publicKey +
                                           "\"\nsecret-key = \"" + other.secretKey + "\"\n");
    ::chmod((dir.path + "/mixed.key").c_str(), 0600);
    auto read = readCurveKey(dir.path + "/mixed.key", true);
    REQUIRE_FALSE(read);
    CHECK(read.error().message.find("is not the secret-key's") != std::string::npos);
  }
}

TEST_CASE("curve keys: malformed keys, principals and files are refused with the reason") {
  TempDir dir;
  CHECK_FALSE(checkZ85Key("short"));
  CHECK_FALSE(checkZ85Key(std::string(40, '"')));  // not in Z85's alphabet
  CHECK_FALSE(checkPrincipal(""));
  CHECK_FALSE(checkPrincipal("-rf"));
  CHECK_FALSE(checkPrincipal("../etc"));
  CHECK_FALSE(checkPrincipal("a b"));
  CHECK_FALSE(checkPrincipal(std::string(129, 'a')));
  CHECK(checkPrincipal("agent_host-1.example"));
  CHECK_FALSE(writeCurveKey(generateCurveKey("../x"), dir.path, false));

  writeText(dir.path + "/bad.pub", "principal = \"p\"\npublic-key = \"abc\"\n");
  auto bad = readCurveKey(dir.path + "/bad.pub", false);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("40 characters") != std::string::npos);
  writeText(dir.path + "/broken.pub", "principal = \n");
  auto broken = readCurveKey(dir.path + "/broken.pub", false);
  REQUIRE_FALSE(broken);
  CHECK(broken.error().message.find("broken.pub:1") != std::string::npos);
  auto missing = readCurveKey(dir.path + "/none.pub", false);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == ErrorCode::kNotFound);
}

TEST_CASE("curve keys: the fingerprint is SHA256 and base64 of the raw key, the same for the same key") {
  CurveKey key = generateCurveKey("p");
  std::string fingerprint = keyFingerprint(key.publicKey);
  CHECK(fingerprint.rfind("SHA256:", 0) == 0);
  CHECK(fingerprint.size() == 7 + 43);  // 32 bytes in unpadded base64
  CHECK(keyFingerprint(key.publicKey) == fingerprint);
  CHECK(keyFingerprint(generateCurveKey("p").publicKey) != fingerprint);
  // The all-zero key, whose SHA-256 is known.
  CHECK(keyFingerprint(z85Key(std::string(32, '\0'))) == "SHA256:Zmh6rfhivXdsj8GLjp+OIAiXFIVu4jOzkCpZHQ1fKSU");
  CHECK(keyFingerprint("not a key") == "SHA256:?");
}

TEST_CASE("credentials: agents and frameworks are read apart, and added to the file keeping what it holds") {
  TempDir dir;
  std::string path = dir.path + "/credentials.toml";
  CurveKey a = generateCurveKey("host-a"), b = generateCurveKey("host-b"), f = generateCurveKey("spark");
  REQUIRE(addCredential(path, PeerKind::kAgent, a));
  REQUIRE(addCredential(path, PeerKind::kFramework, f));
  // An operator's note, kept by the next addition.
  writeText(path, readText(path) + "# rotated 2026-12\n");
  REQUIRE(addCredential(path, PeerKind::kAgent, b));
  CHECK(readText(path).find("# rotated 2026-12") != std::string::npos);

  auto credentials = readCredentials(path);
  REQUIRE(credentials);
  CHECK(credentials->byKey.size() == 3);
  REQUIRE(credentials->find(b.publicKey) != nullptr);
  CHECK(credentials->find(b.publicKey)->name == "host-b");
  CHECK(credentials->find(b.publicKey)->kind == PeerKind::kAgent);
  CHECK(credentials->find(f.publicKey)->kind == PeerKind::kFramework);
  CHECK(credentials->named("spark")->kind == PeerKind::kFramework);
  CHECK(credentials->named("nobody") == nullptr);
  CHECK(credentials->find(generateCurveKey("x").publicKey) == nullptr);

  auto twice = addCredential(path, PeerKind::kFramework, a);
  REQUIRE_FALSE(twice);
  CHECK(twice.error().message.find("names agent 'host-a' already") != std::string::npos);
  CurveKey sameKey = a;
  sameKey.principal = "alias";
  CHECK_FALSE(addCredential(path, PeerKind::kAgent, sameKey));
}

TEST_CASE("credentials: a repeated principal or key, a bad key or another table is refused with FILE:LINE") {
  TempDir dir;
  std::string path = dir.path + "/credentials.toml";
  CurveKey a = generateCurveKey("a"), b = generateCurveKey("b");
  auto refused = [&](const std::string& text) {
    writeText(path, text);
    auto read = readCredentials(path);
    REQUIRE_FALSE(read);
    return read.error().message;
  };
  CHECK(refused("[agents]\na = \"" + a.publicKey + "\"\n[frameworks]\na = \"" + b.publicKey + "\"\n")
            .find("credentials.toml:4: principal 'a' is named already at") != std::string::npos);
  CHECK(refused("[agents]\na = \"" + a.publicKey + "\"\nb = \"" + a.publicKey + "\"\n")
            .find("b's key is a's already") != std::string::npos);
  CHECK(refused("[agents]\na = \"short\"\n").find("credentials.toml:2") != std::string::npos);
  CHECK(refused("[agents]\na = 3\n").find("in quotes") != std::string::npos);
  CHECK(refused("[admins]\na = \"" + a.publicKey + "\"\n").find("[agents] and [frameworks]") != std::string::npos);
  CHECK(refused("agents = 1\n").find("a table") != std::string::npos);
}

TEST_CASE("curve links: a known key is admitted as its principal, which each message carries") {
  Loop loop;
  zmq::context_t context(1);
  CurveKey server = generateCurveKey("master"), client = generateCurveKey("alice");
  std::vector<ZapRequest> asked;
  ZapHandler zap(loop, context, [&](const ZapRequest& request) {
    asked.push_back(request);
    if (request.publicKey == client.publicKey) return ZapVerdict::admit("alice");
    return ZapVerdict::refuse("unknown key");
  });
  REQUIRE(zap.start());
  ZmqSocket router(loop, context, ZmqSocket::Kind::kRouter);
  REQUIRE(router.useCurveServer(server));
  std::vector<std::pair<std::string, std::string>> received;  // payload, principal
  router.onMessage([&](std::string_view, std::string_view payload, std::string_view principal) {
    received.emplace_back(std::string(payload), std::string(principal));
  });
  auto endpoint = router.bind("tcp://127.0.0.1:*");
  REQUIRE(endpoint);

  ZmqSocket dealer(loop, context, ZmqSocket::Kind::kDealer);
  REQUIRE(dealer.useCurveClient(client, server.publicKey));
  REQUIRE(dealer.connect(*endpoint));
  dealer.send("hello");
  REQUIRE(runUntil(loop, [&] { return !received.empty(); }));
  CHECK(received.front() == std::make_pair(std::string("hello"), std::string("alice")));
  REQUIRE(asked.size() == 1);
  CHECK(asked.front().mechanism == "CURVE");
  CHECK(asked.front().address == "127.0.0.1");
  CHECK(asked.front().publicKey == client.publicKey);
  CHECK(zap.admitted() == 1);
}

TEST_CASE("curve links: a refused key and a plain client fail their handshakes and send nothing through") {
  Loop loop;
  zmq::context_t context(1);
  CurveKey server = generateCurveKey("master"), stranger = generateCurveKey("mallory");
  ZapHandler zap(loop, context, [](const ZapRequest&) { return ZapVerdict::refuse("unknown key"); });
  REQUIRE(zap.start());
  ZmqSocket router(loop, context, ZmqSocket::Kind::kRouter);
  REQUIRE(router.useCurveServer(server));
  int received = 0;
  router.onMessage([&](std::string_view, std::string_view, std::string_view) { ++received; });
  auto endpoint = router.bind("tcp://127.0.0.1:*");
  REQUIRE(endpoint);

  std::optional<ZmqSocket::HandshakeFailure> refused, plain, wrongServer;
  ZmqSocket mallory(loop, context, ZmqSocket::Kind::kDealer);
  REQUIRE(mallory.useCurveClient(stranger, server.publicKey));
  mallory.onHandshakeFailure([&](ZmqSocket::HandshakeFailure failure, int) { refused = failure; });
  REQUIRE(mallory.connect(*endpoint));
  mallory.send("let me in");

  ZmqSocket naive(loop, context, ZmqSocket::Kind::kDealer);
  naive.onHandshakeFailure([&](ZmqSocket::HandshakeFailure failure, int) { plain = failure; });
  REQUIRE(naive.connect(*endpoint));
  naive.send("plain text");

  // A client with the wrong idea of the server's key never gets as far as
  // the authenticator.
  ZmqSocket fooled(loop, context, ZmqSocket::Kind::kDealer);
  REQUIRE(fooled.useCurveClient(stranger, generateCurveKey("impostor").publicKey));
  fooled.onHandshakeFailure([&](ZmqSocket::HandshakeFailure failure, int) { wrongServer = failure; });
  REQUIRE(fooled.connect(*endpoint));
  fooled.send("hi");

  REQUIRE(runUntil(loop, [&] { return refused && plain && wrongServer; }));
  CHECK(*refused == ZmqSocket::HandshakeFailure::kRefused);
  CHECK(*plain != ZmqSocket::HandshakeFailure::kRefused);
  CHECK(*wrongServer != ZmqSocket::HandshakeFailure::kRefused);
  runUntil(loop, [] { return false; }, 0.3);
  CHECK(received == 0);
  CHECK(zap.refused() >= 1);
  CHECK(zap.admitted() == 0);
}

TEST_CASE("curve links: without a ZAP handler the server refuses every peer rather than admit them all") {
  Loop loop;
  zmq::context_t context(1);
  CurveKey server = generateCurveKey("master"), client = generateCurveKey("alice");
  ZmqSocket router(loop, context, ZmqSocket::Kind::kRouter);
  REQUIRE(router.useCurveServer(server));
  int received = 0;
  router.onMessage([&](std::string_view, std::string_view, std::string_view) { ++received; });
  auto endpoint = router.bind("tcp://127.0.0.1:*");
  REQUIRE(endpoint);
  ZmqSocket dealer(loop, context, ZmqSocket::Kind::kDealer);
  REQUIRE(dealer.useCurveClient(client, server.publicKey));
  bool failed = false;
  dealer.onHandshakeFailure([&](ZmqSocket::HandshakeFailure, int) { failed = true; });
  REQUIRE(dealer.connect(*endpoint));
  dealer.send("hello");
  CHECK(runUntil(loop, [&] { return failed; }));
  runUntil(loop, [] { return false; }, 0.3);
  CHECK(received == 0);
}

TEST_CASE("curve links: a client refused once connects again by itself and gets through once admitted") {
  Loop loop;
  zmq::context_t context(1);
  CurveKey server = generateCurveKey("master"), client = generateCurveKey("late");
  bool admit = false;
  ZapHandler zap(loop, context, [&](const ZapRequest&) {
    return admit ? ZapVerdict::admit("late") : ZapVerdict::refuse("not yet");
  });
  REQUIRE(zap.start());
  ZmqSocket router(loop, context, ZmqSocket::Kind::kRouter);
  REQUIRE(router.useCurveServer(server));
  std::string principal;
  router.onMessage([&](std::string_view, std::string_view, std::string_view who) { principal = who; });
  auto endpoint = router.bind("tcp://127.0.0.1:*");
  REQUIRE(endpoint);
  ZmqSocket dealer(loop, context, ZmqSocket::Kind::kDealer);
  REQUIRE(dealer.useCurveClient(client, server.publicKey));
  int refusals = 0;
  dealer.onHandshakeFailure([&](ZmqSocket::HandshakeFailure failure, int) {
    if (failure == ZmqSocket::HandshakeFailure::kRefused) ++refusals;
  });
  bool reconnected = false;
  dealer.onConnectionChange([&](bool connected) { reconnected = reconnected || connected; });
  REQUIRE(dealer.connect(*endpoint));
  REQUIRE(runUntil(loop, [&] { return refusals == 1; }));
  admit = true;  // the operator added the key
  double wait = std::chrono::duration<double>(ZmqSocket::kHandshakeRetry).count() + 5;
  REQUIRE(runUntil(loop, [&] { return reconnected; }, wait));
  dealer.send("finally");
  REQUIRE(runUntil(loop, [&] { return !principal.empty(); }));
  CHECK(principal == "late");
}
