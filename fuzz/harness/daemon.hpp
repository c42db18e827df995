// What the fuzz targets of the daemons share: quiet logs, the master id
// placeholder, and the check that whatever a daemon sends decodes.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "common/wire.hpp"
#include "tests/harness/fake_transport.hpp"

namespace clusternodes::fuzzing {

// Every dropped message is logged as a warning: at thousands of inputs a
// second, that would be most of the run's time. With CN_FUZZ_TRACE set (to
// replay one input), the logs stay.
inline void quietLogs() {
  if (std::getenv("CN_FUZZ_TRACE") == nullptr) spdlog::set_level(spdlog::level::off);
}

// The ids a master gives (agents "<master id>-S1", offers "<master id>-O1",
// frameworks "<master id>-1") begin with its id, a random UUID. Seeds name
// them with this placeholder, of the same length, which the master target
// replaces byte for byte with the id of the master it runs, so that an
// accept of a seed names an offer that exists.
inline constexpr std::string_view kMasterIdPlaceholder = "MMMMMMMM-MMMM-MMMM-MMMM-MMMMMMMMMMMM";

inline std::string withMasterId(std::string_view bytes, const std::string& masterId) {
  std::string out(bytes);
  if (masterId.size() != kMasterIdPlaceholder.size()) return out;
  for (size_t at = out.find(kMasterIdPlaceholder); at != std::string::npos;
       at = out.find(kMasterIdPlaceholder, at + masterId.size())) {
    out.replace(at, masterId.size(), masterId);
  }
  return out;
}

// A daemon never sends what its peers cannot decode: every message it sent
// since the last call must, and pass `check` (which aborts if not). Aborts,
// for the fuzzer to keep the input, if not. With CN_FUZZ_TRACE set, each
// message is listed on stderr: how to see what a seed conversation reaches
// (run the target on that one file).
using SentCheck = void (*)(const std::string& peer, wire::Envelope::Reader envelope);

inline void checkSent(testing::FakeTransport::Wire& wire, const char* daemon, SentCheck check = nullptr) {
  static const bool trace = std::getenv("CN_FUZZ_TRACE") != nullptr;
  for (const auto& sent : wire.takeAll()) {
    auto decoded = wire::decode(sent.payload);
    if (!decoded) {
      std::fprintf(stderr, "the %s sent an undecodable message to '%s': %s\n", daemon, sent.peer.c_str(),
                   decoded.error().message.c_str());
      std::abort();
    }
    if (trace) std::fprintf(stderr, "%s -> '%s': %s\n", daemon, sent.peer.c_str(), wire::name((*decoded)->which()));
    if (check) check(sent.peer, (*decoded)->envelope());
  }
}

}  // namespace clusternodes::fuzzing
