// HttpServer: a small HTTP/1.1 server on the libuv loop (http-parser).
//
// It serves the daemons' JSON and text endpoints (/state, /metrics, /health,
// the operator API). Requests are parsed incrementally; a request that is
// malformed or larger than the limits gets a 400 and the connection closes.
// Keep-alive is supported; each handler runs on the loop thread and must not
// block.
//
//   HttpServer http(loop);
//   http.route("GET", "/health", [](const HttpRequest&) {
//     return HttpResponse::text(200, "ok\n");
//   });
//   auto bound = http.listen("127.0.0.1", 8081);  // Result<int>: the port
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "clusternodes/result.hpp"
#include "common/loop.hpp"

namespace clusternodes {

class TlsServerContext;

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // decoded path without the query: "/files/read"
  std::map<std::string, std::string> query;    // decoded query parameters
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  // Who sent it, as the server's gate (HttpServer::gate) authenticated it:
  // "" for an anonymous request.
  std::string principal;

  // The query parameter or `fallback` when absent.
  std::string param(const std::string& name, const std::string& fallback = "") const;
};

struct HttpResponse {
  int status = 200;
  std::string contentType = "text/plain; charset=utf-8";
  std::string body;
  std::map<std::string, std::string> headers;  // extra headers

  static HttpResponse text(int status, std::string body);
  static HttpResponse json(int status, std::string body);
  // {"error": message} with `status`: how every endpoint refuses a request.
  static HttpResponse jsonError(int status, const std::string& message);
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;
// Runs before every handler: it may set the request's principal, or answer
// the request itself (a 401) instead of the handler.
using HttpGate = std::function<std::optional<HttpResponse>(HttpRequest&)>;

struct HttpServerLimits {
  size_t maxHeaderBytes = 64 * 1024;
  size_t maxBodyBytes = 8 * 1024 * 1024;
  size_t maxConnections = 1024;
};

class HttpServer {
 public:
  explicit HttpServer(Loop& loop, HttpServerLimits limits = {});
  ~HttpServer();  // closes the listener and every connection
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Exact-path route. A request whose path has a route but another method
  // gets 405; no route at all gets 404. A handler that throws gets 500.
  void route(const std::string& method, const std::string& path, HttpHandler handler);
  // Handles every request no exact route matched (e.g. static files).
  void fallback(HttpHandler handler);
  // Every request passes `gate` before its handler (a 404 or 405 too, so
  // that an anonymous caller learns nothing of the routes).
  void gate(HttpGate gate);

  // Serves TLS (common/tls.hpp) on every connection accepted from now on:
  // HTTPS. A client that sends plain HTTP gets a plain-text 400 saying so.
  void tls(std::shared_ptr<TlsServerContext> context);
  bool servesTls() const;

  // Binds and listens. port 0 picks a free port. Returns the bound port.
  Result<int> listen(const std::string& ip, int port);

  // Serves a connected stream socket as if a client had connected to the
  // listener; the server owns `fd` from then on, failing or not. For
  // feeding it bytes without a TCP port (a socketpair: the fuzz targets).
  Result<void> adopt(int fd);

  // Requests that could not be parsed (counted, answered with 400).
  uint64_t malformedRequests() const;
  // TLS connections that failed before a request: a broken or refused
  // handshake, or plain HTTP sent to the TLS port.
  uint64_t tlsFailures() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace clusternodes
