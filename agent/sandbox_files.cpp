#include "agent/sandbox_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <variant>

#include "common/json.hpp"
#include "common/sandbox_token.hpp"

namespace clusternodes::agent {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kMaxReadBytes = 1 << 20;
constexpr int64_t kMaxDownloadBytes = int64_t{256} << 20;

// Whether `path` is `root` or lies beneath it, comparing whole segments.
bool within(const fs::path& path, const fs::path& root) {
  auto p = path.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++p) {
    if (p == path.end() || *p != *r) return false;
  }
  return true;
}

HttpResponse failure(const Error& error) {
  switch (error.code) {
    case ErrorCode::kDenied: return HttpResponse::jsonError(403, error.message);
    case ErrorCode::kNotFound: return HttpResponse::jsonError(404, error.message);
    case ErrorCode::kInvalid: return HttpResponse::jsonError(400, error.message);
    default: return HttpResponse::jsonError(500, error.message);
  }
}

// A non-negative integer query parameter, or `fallback` when absent.
Result<int64_t> integerParam(const HttpRequest& request, const std::string& name, int64_t fallback) {
  std::string text = request.param(name);
  if (text.empty()) return fallback;
  try {
    size_t used = 0;
    long long value = std::stoll(text, &used);
    if (used != text.size()) throw std::invalid_argument(name);
    return static_cast<int64_t>(value);
  } catch (const std::exception&) {
    return invalid(name + " must be an integer, not '" + text + "'");
  }
}

std::string modeString(fs::perms p, bool directory) {
  std::string out = directory ? "d" : "-";
  const std::pair<fs::perms, char> bits[] = {
      {fs::perms::owner_read, 'r'},  {fs::perms::owner_write, 'w'},  {fs::perms::owner_exec, 'x'},
      {fs::perms::group_read, 'r'},  {fs::perms::group_write, 'w'},  {fs::perms::group_exec, 'x'},
      {fs::perms::others_read, 'r'}, {fs::perms::others_write, 'w'}, {fs::perms::others_exec, 'x'}};
  for (const auto& [bit, c] : bits) out += (p & bit) != fs::perms::none ? c : '-';
  return out;
}

HttpResponse browse(const std::string& root, const HttpRequest& request) {
  auto resolved = resolveSandboxPath(root, request.param("path"));
  if (!resolved) return failure(resolved.error());
  std::error_code ec;
  if (!fs::is_directory(*resolved, ec)) return HttpResponse::jsonError(400, "not a directory: " + request.param("path"));
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& entry : fs::directory_iterator(*resolved, ec)) {
    struct stat st {};
    if (::lstat(entry.path().c_str(), &st) != 0) continue;
    bool directory = S_ISDIR(st.st_mode);
    entries.push_back({{"name", entry.path().filename().string()},
                       {"path", entry.path().string()},
                       {"size", static_cast<int64_t>(st.st_size)},
                       {"mode", modeString(static_cast<fs::perms>(st.st_mode & 07777), directory)},
                       {"mtime", static_cast<int64_t>(st.st_mtime)},
                       {"is_dir", directory}});
  }
  if (ec) return HttpResponse::jsonError(500, "cannot list " + *resolved + ": " + ec.message());
  std::sort(entries.begin(), entries.end(),
            [](const nlohmann::json& a, const nlohmann::json& b) { return a["name"] < b["name"]; });
  return HttpResponse::json(200, jsonText(nlohmann::json{{"path", *resolved}, {"entries", entries}}));
}

// Opens the regular file `resolved` for reading; on failure, the response
// that says why.
std::variant<int, HttpResponse> openRegular(const std::string& resolved, const std::string& requested) {
  int fd = ::open(resolved.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return HttpResponse::jsonError(errno == ENOENT ? 404 : 403, "cannot open " + resolved + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return HttpResponse::jsonError(400, "not a regular file: " + requested);
  }
  return fd;
}

// Up to `want` bytes of `fd` from `from`; fewer at its end.
std::string readRange(int fd, int64_t from, int64_t want) {
  std::string data(static_cast<size_t>(std::max<int64_t>(want, 0)), '\0');
  int64_t got = 0;
  while (got < want) {
    ssize_t n = ::pread(fd, data.data() + got, static_cast<size_t>(want - got), from + got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += n;
  }
  data.resize(static_cast<size_t>(got));
  return data;
}

int64_t fileSize(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
}

HttpResponse read(const std::string& root, const HttpRequest& request) {
  auto resolved = resolveSandboxPath(root, request.param("path"));
  if (!resolved) return failure(resolved.error());
  auto offset = integerParam(request, "offset", 0);
  auto length = integerParam(request, "length", kMaxReadBytes);
  if (!offset) return failure(offset.error());
  if (!length) return failure(length.error());
  if (*offset < -1) return HttpResponse::jsonError(400, "offset must be -1 (the end) or more");
  if (*length < 0) return HttpResponse::jsonError(400, "length must not be negative");
  auto opened = openRegular(*resolved, request.param("path"));
  if (auto* refused = std::get_if<HttpResponse>(&opened)) return *refused;
  int fd = std::get<int>(opened);
  int64_t size = fileSize(fd);
  int64_t from = *offset == -1 ? size : std::min(*offset, size);
  int64_t want = *offset == -1 ? 0 : std::min<int64_t>({*length, kMaxReadBytes, size - from});
  std::string data = readRange(fd, from, want);
  ::close(fd);
  nlohmann::json body{{"path", *resolved}, {"offset", from}, {"data", data}};
  return HttpResponse::json(200, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

// The file's raw bytes (from `offset`, at most `length`): what a program
// fetches, such as a reducer its map outputs.
HttpResponse download(const std::string& root, const HttpRequest& request) {
  auto resolved = resolveSandboxPath(root, request.param("path"));
  if (!resolved) return failure(resolved.error());
  auto offset = integerParam(request, "offset", 0);
  auto length = integerParam(request, "length", -1);
  if (!offset) return failure(offset.error());
  if (!length) return failure(length.error());
  if (*offset < 0) return HttpResponse::jsonError(400, "offset must not be negative");
  auto opened = openRegular(*resolved, request.param("path"));
  if (auto* refused = std::get_if<HttpResponse>(&opened)) return *refused;
  int fd = std::get<int>(opened);
  int64_t size = fileSize(fd);
  int64_t from = std::min(*offset, size);
  int64_t want = *length < 0 ? size - from : std::min(*length, size - from);
  if (want > kMaxDownloadBytes) {
    ::close(fd);
    return HttpResponse::jsonError(413, "more than " + std::to_string(kMaxDownloadBytes) +
                                            " bytes at once: ask for a range with offset and length");
  }
  HttpResponse response;
  response.contentType = "application/octet-stream";
  response.body = readRange(fd, from, want);
  ::close(fd);
  response.headers["X-File-Size"] = std::to_string(size);
  return response;
}

// The master's web UI, served from another origin, reads task output here:
// these endpoints only read, and only inside the sandboxes, so any page may
// (errors included, so that it can show why).
HttpResponse readableFromAnyOrigin(HttpResponse response) {
  response.headers["Access-Control-Allow-Origin"] = "*";
  response.headers["Access-Control-Expose-Headers"] = "X-File-Size";
  return response;
}

}  // namespace

Result<std::string> resolveSandboxPath(const std::string& sandboxesRoot, const std::string& requested) {
  if (requested.empty()) return invalid("give a path: ?path=...");
  fs::path path(requested);
  for (const auto& segment : path) {
    if (segment == "..") return Error{ErrorCode::kDenied, "a path with '..' is not served: " + requested};
  }
  std::error_code ec;
  fs::path root = fs::canonical(sandboxesRoot, ec);
  if (ec) return Error{ErrorCode::kInternal, "the sandboxes directory is missing: " + sandboxesRoot};
  fs::path full = path.is_absolute() ? path : root / path;
  if (!within(full.lexically_normal(), root) && !within(full.lexically_normal(), fs::path(sandboxesRoot).lexically_normal())) {
    return Error{ErrorCode::kDenied, "only sandbox paths are served, not " + requested};
  }
  fs::path real = fs::canonical(full, ec);  // follows every symlink
  if (ec) return Error{ErrorCode::kNotFound, "no such file or directory: " + requested};
  if (!within(real, root)) return Error{ErrorCode::kDenied, requested + " leads outside the sandboxes"};
  return real.string();
}

namespace {

// `path` relative to `root` without "." segments or a trailing '/'; "" when
// it is not inside.
std::string relativeInside(const fs::path& path, const fs::path& root) {
  fs::path relative = path.lexically_normal().lexically_relative(root);
  std::string text;
  for (const auto& segment : relative) {
    if (segment == "..") return "";
    if (segment.empty() || segment == ".") continue;
    if (!text.empty()) text += '/';
    text += segment.string();
  }
  return text;
}

}  // namespace

Result<std::string> sandboxTokenPrincipal(const std::string& sandboxesRoot, std::string_view key,
                                          const std::string& agentId, const HttpRequest& request, int64_t nowMs) {
  if (request.path.rfind("/files/", 0) != 0) {
    return Error{ErrorCode::kDenied, "a sandbox token opens the /files endpoints only"};
  }
  auto grant = verifySandboxToken(key, request.param("token"));
  if (!grant) return grant.error();
  std::string requested = request.param("path");
  if (requested.empty()) return invalid("give a path: ?path=...");
  std::error_code ec;
  fs::path root = fs::canonical(sandboxesRoot, ec);
  if (ec) return Error{ErrorCode::kInternal, "the sandboxes directory is missing: " + sandboxesRoot};
  fs::path asWritten(requested);
  if (!asWritten.is_absolute()) asWritten = root / asWritten;
  std::string relative = relativeInside(asWritten, root);
  if (relative.empty()) relative = relativeInside(asWritten, fs::path(sandboxesRoot).lexically_normal());
  if (auto allowed = grantAllows(*grant, agentId, relative, nowMs); !allowed) return allowed.error();
  // Where its symlinks lead must be inside the grant too: a task's symlink
  // must not open another task's sandbox.
  if (auto real = resolveSandboxPath(sandboxesRoot, requested); real) {
    if (auto allowed = grantAllows(*grant, agentId, relativeInside(*real, root), nowMs); !allowed) {
      return allowed.error();
    }
  }
  return std::string("sandbox-token");
}

void installFileEndpoints(HttpServer& http, const std::string& sandboxesRoot) {
  using Endpoint = HttpResponse (*)(const std::string&, const HttpRequest&);
  for (auto [path, endpoint] : {std::pair<const char*, Endpoint>{"/files/browse", &browse},
                                {"/files/read", &read},
                                {"/files/download", &download}}) {
    // Captured by copy-initialisation: clang 14 cannot capture a structured
    // binding (a C++20 feature it lacks).
    http.route("GET", path, [sandboxesRoot, endpoint = endpoint](const HttpRequest& r) {
      return readableFromAnyOrigin(endpoint(sandboxesRoot, r));
    });
  }
}

}  // namespace clusternodes::agent
