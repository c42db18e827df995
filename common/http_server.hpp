// HttpServer: a small HTTP/1.1 server on the libuv loop (http-parser).
//
// It serves the daemons' JSON and text endpoints (/state, /metrics, /health,
// the operator API). Requests are parsed incrementally; a request that is
// malformed or larger than the limits gets a 400 and the connection closes.
// Keep-alive is supported; each handler runs on the loop thread and must not
// block. A handler may answer with a stream (HttpResponse::stream) that its
// owner writes to for as long as it likes: chunked event streams.
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
#include <string_view>

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

class HttpStream;

struct HttpResponse {
  int status = 200;
  std::string contentType = "text/plain; charset=utf-8";
  std::string body;
  std::map<std::string, std::string> headers;  // extra headers
  // Set: a streaming response. Its head (status, type, headers; chunked on
  // HTTP/1.1, `body` ignored) goes out at once, and `stream` is called with
  // the open stream, which its owner writes to for as long as it likes; the
  // connection serves nothing else and closes when the stream ends. A HEAD
  // request gets the head alone and `stream` is not called.
  std::function<void(std::shared_ptr<HttpStream>)> stream;

  static HttpResponse text(int status, std::string body);
  static HttpResponse json(int status, std::string body);
  // {"error": message} with `status`: how every endpoint refuses a request.
  static HttpResponse jsonError(int status, const std::string& message);
};

// An open streaming response (HttpResponse::stream). Loop thread only. The
// owner holds it as long as it writes; the server holds it while the
// connection is open.
class HttpStream {
 public:
  virtual ~HttpStream() = default;
  // Sends `data` as the next part of the body (one chunk). False, and the
  // stream ends, when the client is gone or has left more than
  // HttpServerLimits::maxStreamQueueBytes unread: a client that does not
  // read is cut off rather than kept in memory.
  virtual bool write(std::string_view data) = 0;
  // Ends the body and closes the connection once it is written. The end
  // callback does not run.
  virtual void close() = 0;
  // Not ended: neither closed nor gone.
  virtual bool open() const = 0;
  // Runs once, on the loop, when the stream ends other than by close(): the
  // client went away, a write failed or the server was destroyed. It must
  // not outlive what it captures: close the stream before they go.
  virtual void onEnd(std::function<void()> callback) = 0;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;
// Runs before every handler: it may set the request's principal, or answer
// the request itself (a 401) instead of the handler.
using HttpGate = std::function<std::optional<HttpResponse>(HttpRequest&)>;

struct HttpServerLimits {
  size_t maxHeaderBytes = 64 * 1024;
  size_t maxBodyBytes = 8 * 1024 * 1024;
  size_t maxConnections = 1024;
  // A streaming response whose client leaves more than this unread is cut off.
  size_t maxStreamQueueBytes = 8 * 1024 * 1024;
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
