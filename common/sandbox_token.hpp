// Sandbox tokens: a short-lived grant, signed by the master, to read one
// task's sandbox on one agent.
//
// The web UI reads task output from the agents' /files endpoints. With
// --http-authenticate=all on the agents those need a credential, and the
// browser must not be handed a long-lived one. So the leading master keeps
// a random key for its lifetime, gives it to every agent it admits (in
// AgentRegistered, over the master link), and signs grants with it:
//
//   GET /api/v1/sandbox-token?framework_id=F&task_id=T     (master)
//     {"token": "...", "agent_url": "https://...", "path": "F/T", "expires": ...}
//   GET /files/read?path=F/T/RUN/stdout&token=...           (agent)
//
// A grant names the agent, a directory relative to the agent's sandboxes
// and an expiry (wall clock, milliseconds since the epoch); it covers that
// directory and everything under it until it expires. The token travels as
// a query parameter, so a browser sends it on a simple cross-origin GET
// without a CORS preflight.
//
// Token text: "v1." HEX(agent "\n" path "\n" expiry) "." HEX(HMAC-SHA256).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "clusternodes/result.hpp"

namespace clusternodes {

struct SandboxGrant {
  std::string agentId;
  std::string path;       // "FRAMEWORK/TASK": relative to the agent's sandboxes
  int64_t expiresMs = 0;  // wall clock, milliseconds since the epoch
};

// How long a grant the master signs lasts.
inline constexpr std::chrono::minutes kSandboxTokenLifetime{5};

// A new signing key: 32 bytes from the system's CSPRNG.
std::string generateSandboxKey();

// The token for `grant` under `key`.
std::string signSandboxToken(std::string_view key, const SandboxGrant& grant);

// The grant `token` carries, when `key` signed it; kDenied with a reason
// (malformed, a bad signature, or no key yet) otherwise. Does not look at
// the expiry or the path: see grantAllows.
Result<SandboxGrant> verifySandboxToken(std::string_view key, std::string_view token);

// Whether `grant` lets agent `agentId` serve `relativePath` (relative to its
// sandboxes, already confined to them, without "." or ".." segments) at
// `nowMs`; kDenied saying why not.
Result<void> grantAllows(const SandboxGrant& grant, const std::string& agentId, const std::string& relativePath,
                         int64_t nowMs);

}  // namespace clusternodes
