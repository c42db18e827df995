// Sandbox files over the agent's HTTP: browse a directory and read a file,
// confined to the agent's sandboxes.
//
//   GET /files/browse?path=P                  {"path": P, "entries": [...]}
//   GET /files/read?path=P&offset=O&length=L  {"path": P, "offset": O, "data": "..."}
//   GET /files/download?path=P[&offset=O&length=L]  the raw bytes (at most
//       256 MiB at once; X-File-Size gives the whole file's size)
//
// P is absolute (as /state gives a task's sandbox) or relative to the
// sandboxes directory. A path with a ".." segment, an absolute path outside
// the sandboxes, or one that leads outside them through a symlink is refused
// with 403; a path that does not exist gets 404. read returns at most
// `length` bytes (default and most: 1 MiB) from `offset` (default 0);
// offset=-1 returns no data and the file's size as the offset, so that a
// reader can start at the end. Bytes that are not UTF-8 are replaced in the
// JSON string by U+FFFD. Every answer allows any origin to read it (CORS),
// for the master's web UI.
#pragma once

#include <string>

#include "clusternodes/result.hpp"
#include "common/http_server.hpp"

namespace clusternodes::agent {

// The real path `requested` names inside `sandboxesRoot`, or an Error whose
// code is kDenied (outside, or "..") or kNotFound.
Result<std::string> resolveSandboxPath(const std::string& sandboxesRoot, const std::string& requested);

void installFileEndpoints(HttpServer& http, const std::string& sandboxesRoot);

// Whether the sandbox token in `request` (?token=, common/sandbox_token.hpp)
// lets agent `agentId` serve the request: a /files endpoint, and a path
// (as written and, when it exists, as its symlinks lead) inside the
// token's directory, before the token expires at wall time `nowMs`. Gives
// the principal to record ("sandbox-token"), or kDenied saying why not.
Result<std::string> sandboxTokenPrincipal(const std::string& sandboxesRoot, std::string_view key,
                                          const std::string& agentId, const HttpRequest& request, int64_t nowMs);

}  // namespace clusternodes::agent
