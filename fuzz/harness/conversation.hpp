// A conversation: how the fuzz targets of a daemon's message handling read
// their input, and how the seed generator writes it. One input is a series
// of steps, each a message from one of a few peers or a pause:
//
//   0x00-0xEF  a message: peer = byte % kPeers, then its length (two bytes,
//              little-endian), then that many bytes (fewer at the end of the
//              input: the rest)
//   0xF0-0xFF  a pause of 10 ms << (byte - 0xF0): 10 ms to about 5.5 min, so
//              that every timeout of a daemon can pass; the pauses of one
//              conversation add up to kMostPaused at most (each simulated
//              second costs the daemon's timers; what lies beyond is more
//              of the same), later ones are left out
//
// The message bytes are given to the daemon as they are: hostile ones reach
// the same decoder a socket would. A framing the fuzzer breaks still reads
// as some conversation.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace clusternodes::fuzzing {

inline constexpr int kPeers = 8;
inline constexpr std::chrono::milliseconds kMostPaused = std::chrono::minutes(10);

struct Step {
  bool pause = false;
  int peer = 0;
  std::string_view bytes;  // into the input
  std::chrono::milliseconds length{0};
};

inline std::vector<Step> readConversation(const uint8_t* data, size_t size) {
  std::vector<Step> steps;
  std::chrono::milliseconds paused{0};
  size_t at = 0;
  while (at < size) {
    uint8_t op = data[at++];
    if (op >= 0xF0) {
      std::chrono::milliseconds length(10 << (op - 0xF0));
      if (paused + length <= kMostPaused) steps.push_back({true, 0, {}, length});
      paused += length;
      continue;
    }
    size_t length = 0;
    if (at < size) length = data[at++];
    if (at < size) length |= size_t{data[at++]} << 8;
    length = std::min(length, size - at);
    steps.push_back({false, op % kPeers, {reinterpret_cast<const char*>(data + at), length}, {}});
    at += length;
  }
  return steps;
}

// The writer's side, for the seed generator.
inline void addMessage(std::string& out, int peer, std::string_view bytes) {
  out += static_cast<char>(peer);
  out += static_cast<char>(bytes.size() & 0xff);
  out += static_cast<char>((bytes.size() >> 8) & 0xff);
  out += bytes;
}
// A pause of 10 ms << `shift` (0-15).
inline void addPause(std::string& out, int shift) { out += static_cast<char>(0xF0 + shift); }

}  // namespace clusternodes::fuzzing
