#include "master/http/webui.hpp"

#include <string>

namespace clusternodes::master {
namespace {

bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The UI talks to the master (same origin) and reads task output from the
// agents (other origins); scripts, styles and images come from the master
// only, so the UI needs no internet and runs nothing from elsewhere.
constexpr const char* kContentSecurityPolicy =
    "default-src 'self'; connect-src *; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'";

HttpResponse serve(const WebUiFile& file, const HttpRequest& request) {
  HttpResponse response;
  response.headers["ETag"] = std::string(file.etag);
  response.headers["Cache-Control"] = "no-cache";
  response.headers["X-Content-Type-Options"] = "nosniff";
  response.contentType = std::string(webUiContentType(file.name));
  if (endsWith(file.name, ".html")) response.headers["Content-Security-Policy"] = kContentSecurityPolicy;
  auto known = request.headers.find("if-none-match");
  if (known != request.headers.end() && known->second.find(file.etag) != std::string::npos) {
    response.status = 304;
    return response;
  }
  response.body = std::string(file.body);
  return response;
}

}  // namespace

std::string_view webUiContentType(std::string_view name) {
  if (endsWith(name, ".html")) return "text/html; charset=utf-8";
  if (endsWith(name, ".js")) return "text/javascript; charset=utf-8";
  if (endsWith(name, ".css")) return "text/css; charset=utf-8";
  if (endsWith(name, ".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

void installWebUi(HttpServer& http) {
  for (const auto& file : webUiFiles()) {
    const WebUiFile* f = &file;  // the table is static: the pointer outlives the server
    http.route("GET", "/ui/" + std::string(file.name), [f](const HttpRequest& r) { return serve(*f, r); });
    if (file.name == "index.html") {
      http.route("GET", "/", [f](const HttpRequest& r) { return serve(*f, r); });
    }
  }
}

}  // namespace clusternodes::master
