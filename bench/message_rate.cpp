// bench-message-rate: what CURVE costs the master's message rate.
//
//   bench-message-rate [--peers=20] [--bytes=400] [--window=16] [--seconds=3] [--rounds=3] [--json]
//
// The master's allocator speaks through one ROUTER socket: offers out,
// accepts and declines back, one small message each way. This runs that
// exchange alone on loopback, through the same ZmqSocket the master uses: a
// ROUTER on one loop thread answering every message with one of the same
// size, and `peers` DEALERs on another, each keeping `window` messages in
// flight. Each round runs it once over plain links and once over CURVE (a
// ZapHandler admitting the peers' keys, as the master's does), in an order
// that alternates, and reports round trips per second and the ratio.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_common.hpp"
#include "common/curve.hpp"
#include "common/flags.hpp"
#include "common/loop.hpp"
#include "common/transport.hpp"
#include "common/zap.hpp"

using namespace clusternodes;

namespace {

struct Options {
  int peers = 20;
  int bytes = 400;  // about an offer of one agent's resources
  int window = 16;
  double seconds = 3;
};

// Round trips per second over one run.
double run(const Options& options, bool curve) {
  zmq::context_t context(1);
  CurveKey server = generateCurveKey("master");
  std::vector<CurveKey> keys;
  for (int i = 0; i < options.peers; ++i) keys.push_back(generateCurveKey("peer-" + std::to_string(i)));

  // The master's side: a loop thread with the ROUTER (and the ZapHandler).
  Loop masterLoop;
  std::unique_ptr<ZapHandler> zap;
  auto router = std::make_unique<ZmqSocket>(masterLoop, context, ZmqSocket::Kind::kRouter);
  if (curve) {
    zap = std::make_unique<ZapHandler>(masterLoop, context, [](const ZapRequest& r) {
      return ZapVerdict::admit(r.publicKey.substr(0, 8));
    });
    if (!zap->start() || !router->useCurveServer(server)) throw std::runtime_error("cannot set up CURVE");
  }
  router->onMessage([&](std::string_view peer, std::string_view payload, std::string_view) {
    router->sendTo(peer, payload);
  });
  auto endpoint = router->bind("tcp://127.0.0.1:*");
  if (!endpoint) throw std::runtime_error(endpoint.error().message);
  std::thread masterThread([&] { masterLoop.run(); });

  // The peers' side: another loop thread.
  Loop peerLoop;
  std::vector<std::unique_ptr<ZmqSocket>> dealers;
  std::atomic<uint64_t> replies{0};
  std::atomic<bool> counting{false};
  const std::string message(static_cast<size_t>(options.bytes), 'x');
  for (int i = 0; i < options.peers; ++i) {
    auto dealer = std::make_unique<ZmqSocket>(peerLoop, context, ZmqSocket::Kind::kDealer);
    if (curve && !dealer->useCurveClient(keys[static_cast<size_t>(i)], server.publicKey)) {
      throw std::runtime_error("cannot set up a CURVE client");
    }
    auto* raw = dealer.get();
    dealer->onMessage([&, raw](std::string_view, std::string_view, std::string_view) {
      if (counting) ++replies;
      raw->send(message);
    });
    if (!dealer->connect(*endpoint)) throw std::runtime_error("cannot connect");
    for (int w = 0; w < options.window; ++w) dealer->send(message);
    dealers.push_back(std::move(dealer));
  }
  std::thread peerThread([&] { peerLoop.run(); });

  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // every handshake done
  counting = true;
  auto started = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(options.seconds));
  uint64_t counted = replies.load();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  peerLoop.post([&] {
    dealers.clear();
    peerLoop.stop();
  });
  peerThread.join();
  masterLoop.post([&] {
    router.reset();
    zap.reset();
    masterLoop.stop();
  });
  masterThread.join();
  return static_cast<double>(counted) / elapsed;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  int rounds = 3;
  bool json = false;
  CLI::App app("Round trips per second through the master's kind of ROUTER socket, plain against CURVE.",
               "bench-message-rate");
  app.add_option("--peers", options.peers, "DEALER peers")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--bytes", options.bytes, "Bytes per message")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  app.add_option("--window", options.window, "Messages each peer keeps in flight")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--seconds", options.seconds, "Seconds each side runs")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--rounds", rounds, "Rounds; the medians are reported")->capture_default_str()->check(CLI::Range(1, 100));
  app.add_flag("--json", json, "Print the figures as JSON");
  if (int code = parseCommandLine(app, argc, argv); code >= 0) return code;

  std::vector<double> plain, curve, ratios;
  if (!json) {
    std::printf("%d peers, %d-byte messages, %d in flight each, %.1f s a side; %d round(s)\n\n", options.peers,
                options.bytes, options.window, options.seconds, rounds);
    std::printf("%-7s %16s %16s %12s\n", "round", "plain trips/s", "curve trips/s", "curve/plain");
  }
  try {
    for (int i = 1; i <= rounds; ++i) {
      double p = 0, c = 0;
      bool plainFirst = i % 2 == 1;
      for (int side = 0; side < 2; ++side) {
        bool isCurve = (side == 0) != plainFirst;
        std::fprintf(stderr, "round %d/%d: %s\n", i, rounds, isCurve ? "curve" : "plain");
        (isCurve ? c : p) = run(options, isCurve);
      }
      plain.push_back(p);
      curve.push_back(c);
      ratios.push_back(c / p);
      if (!json) std::printf("%-7d %16.0f %16.0f %12.3f\n", i, p, c, c / p);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-message-rate: %s\n", e.what());
    return 1;
  }
  double p = bench::median(plain), c = bench::median(curve), r = bench::median(ratios);
  if (json) {
    nlohmann::json out;
    out["peers"] = options.peers;
    out["bytes"] = options.bytes;
    out["window"] = options.window;
    out["median"] = {{"plain_round_trips_per_second", p}, {"curve_round_trips_per_second", c},
                     {"ratio_curve_vs_plain", r}};
    std::cout << out.dump(2) << "\n";
  } else {
    std::printf("%-7s %16.0f %16.0f %12.3f\n", "median", p, c, r);
  }
  return 0;
}
