#include "common/http_server.hpp"

#include "common/http_format.hpp"
#include "common/tls.hpp"

#include <http_parser.h>
#include <unistd.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cctype>
#include <exception>
#include <mutex>
#include <string_view>
#include <unordered_set>
#include <utility>

namespace clusternodes {

std::string HttpRequest::param(const std::string& name, const std::string& fallback) const {
  auto it = query.find(name);
  return it == query.end() ? fallback : it->second;
}

HttpResponse HttpResponse::text(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

HttpResponse HttpResponse::jsonError(int status, const std::string& message) {
  return json(status, nlohmann::json{{"error", message}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

HttpResponse HttpResponse::json(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.contentType = "application/json";
  response.body = std::move(body);
  return response;
}

namespace {

using http_format::formatResponse;
using http_format::lowerCase;
using http_format::parseQuery;
using http_format::urlDecode;

constexpr size_t kReadBufferBytes = 16 * 1024;
// Reading pauses while more than this much response data is queued.
constexpr size_t kMaxQueuedWriteBytes = 4 * 1024 * 1024;
// How long a closing connection keeps draining input before it is dropped.
constexpr auto kLingerTime = std::chrono::seconds(2);
// Any non-zero, non-1, non-2 value aborts http_parser from every callback.
constexpr int kParseAbort = -1;

template <typename Fn>
void guarded(const char* where, Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    spdlog::error("HttpServer {}: uncaught exception: {}", where, e.what());
  } catch (...) {
    spdlog::error("HttpServer {}: uncaught non-standard exception", where);
  }
}

}  // namespace

struct HttpServer::Impl {
  struct StreamImpl;

  struct Connection {
    uv_tcp_t tcp{};
    http_parser parser{};
    Impl* server = nullptr;  // null once closed or the server is gone
    Loop* loop = nullptr;
    std::unique_ptr<char[]> readBuffer{new char[kReadBufferBytes]};
    // Set on a TLS port: every byte in and out passes through it.
    std::unique_ptr<TlsSession> tls;
    bool sawInput = false;
    std::string plaintext;  // what `tls` decrypted from the last read

    // The request being parsed.
    HttpRequest request;
    std::string url;
    std::string field;
    std::string value;
    bool inValue = false;
    size_t headerBytes = 0;
    int errorStatus = 0;  // set by a parser callback that rejects the request
    std::string errorMessage;

    bool closed = false;    // uv_close called; freed in its callback
    bool draining = false;  // last response queued; shutting down
    bool shutdownPending = false;
    bool eof = false;
    bool readPaused = false;
    size_t writesInFlight = 0;
    uv_shutdown_t shutdownReq{};
    std::unique_ptr<Timer> linger;
    // Set while the connection carries a streaming response: it reads only
    // to learn that the client is gone.
    std::shared_ptr<StreamImpl> streaming;

    uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp); }
  };

  // A queued write; owns its bytes until libuv calls back.
  struct WriteRequest {
    uv_write_t req{};
    std::string data;
    Connection* conn = nullptr;
  };

  struct StreamImpl final : HttpStream {
    Connection* conn;  // null once the stream ended
    Loop& loop;
    bool http10;
    size_t maxQueue;
    bool ended = false;
    std::function<void()> endCallback;

    StreamImpl(Connection* c, bool isHttp10, size_t maxQueueBytes)
        : conn(c), loop(*c->loop), http10(isHttp10), maxQueue(maxQueueBytes) {}

    bool write(std::string_view data) override {
      if (ended || conn == nullptr) return false;
      if (uv_stream_get_write_queue_size(conn->stream()) > maxQueue) {
        spdlog::warn("HttpServer: cutting off a streaming client that left over {} bytes unread", maxQueue);
        closeNow(conn);  // ends the stream: lost()
        return false;
      }
      return send(conn, http10 ? std::string(data) : http_format::chunk(data));
    }

    void close() override {
      endCallback = nullptr;
      if (ended) return;
      ended = true;
      Connection* c = conn;
      conn = nullptr;
      if (c == nullptr) return;
      auto self = std::move(c->streaming);  // held until we return
      if (!http10 && !send(c, std::string(http_format::kLastChunk))) return;
      finish(c);
    }

    bool open() const override { return !ended && conn != nullptr; }

    void onEnd(std::function<void()> callback) override {
      if (!ended) endCallback = std::move(callback);
    }

    // The connection closed under the stream. The end callback runs on a
    // later turn, never inside the owner's own write() or the server's
    // destructor.
    void lost(std::shared_ptr<StreamImpl> self) {
      conn = nullptr;
      if (ended) return;
      ended = true;
      if (!endCallback) return;
      loop.post([self = std::move(self)] {
        if (auto callback = std::move(self->endCallback)) {
          self->endCallback = nullptr;
          callback();
        }
      });
    }
  };

  Impl(Loop& l, HttpServerLimits lim) : loop(l), limits(lim) {}

  // Static, so parsing survives a handler that destroys the server.
  static const http_parser_settings& parserSettings() {
    static const http_parser_settings settings = [] {
      http_parser_settings s;
      http_parser_settings_init(&s);
      s.on_message_begin = &Impl::onMessageBegin;
      s.on_url = &Impl::onUrl;
      s.on_header_field = &Impl::onHeaderField;
      s.on_header_value = &Impl::onHeaderValue;
      s.on_headers_complete = &Impl::onHeadersComplete;
      s.on_body = &Impl::onBody;
      s.on_message_complete = &Impl::onMessageComplete;
      return s;
    }();
    return settings;
  }

  Loop& loop;
  HttpServerLimits limits;
  uv_tcp_t* listener = nullptr;
  std::map<std::string, std::map<std::string, std::shared_ptr<HttpHandler>>> routes;
  std::shared_ptr<HttpHandler> fallbackHandler;
  std::shared_ptr<HttpGate> gateHandler;
  std::unordered_set<Connection*> connections;
  std::shared_ptr<TlsServerContext> tlsContext;
  uint64_t malformed = 0;
  uint64_t tlsFailures = 0;

  // --- routing ------------------------------------------------------------

  HttpResponse dispatch(HttpRequest& request) {
    if (gateHandler) {
      auto gate = gateHandler;  // held: it may destroy the server
      if (auto answer = (*gate)(request)) return std::move(*answer);
    }
    std::shared_ptr<HttpHandler> handler;
    auto route = routes.find(request.path);
    if (route != routes.end()) {
      auto method = route->second.find(request.method);
      if (method == route->second.end()) {
        HttpResponse response = HttpResponse::text(405, "method not allowed\n");
        std::string allow;
        for (const auto& entry : route->second) {
          if (!allow.empty()) allow += ", ";
          allow += entry.first;
        }
        response.headers["Allow"] = allow;
        return response;
      }
      handler = method->second;
    } else if (fallbackHandler) {
      handler = fallbackHandler;
    } else {
      return HttpResponse::text(404, "not found\n");
    }
    // `handler` is held locally: the handler may destroy the server.
    try {
      return (*handler)(request);
    } catch (const std::exception& e) {
      spdlog::warn("HTTP {} {}: handler threw: {}", request.method, request.path, e.what());
      return HttpResponse::text(500, std::string(e.what()) + "\n");
    } catch (...) {
      spdlog::warn("HTTP {} {}: handler threw", request.method, request.path);
      return HttpResponse::text(500, "internal error\n");
    }
  }

  // --- connection lifecycle ------------------------------------------------

  static void closeNow(Connection* c) {
    if (c->closed) return;
    c->closed = true;
    if (c->server != nullptr) {
      c->server->connections.erase(c);
      c->server = nullptr;
    }
    c->linger.reset();
    if (auto stream = std::move(c->streaming)) stream->lost(stream);
    closeHandle(reinterpret_cast<uv_handle_t*>(&c->tcp), [c] { delete c; });
  }

  // Queues response bytes, encrypted on a TLS connection; closes the
  // connection when that fails.
  static bool send(Connection* c, std::string data) {
    if (c->closed) return false;
    if (c->tls) {
      if (!c->tls->send(data)) {
        closeNow(c);
        return false;
      }
      data = c->tls->takeOutput();
    }
    return writeRaw(c, std::move(data));
  }

  // Queues bytes as they are; closes the connection when libuv refuses them.
  static bool writeRaw(Connection* c, std::string data) {
    if (c->closed) return false;
    if (data.empty()) return true;
    auto* w = new WriteRequest;
    w->data = std::move(data);
    w->conn = c;
    w->req.data = w;
    uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned int>(w->data.size()));
    int rc = uv_write(&w->req, c->stream(), &buf, 1, &Impl::onWrite);
    if (rc != 0) {
      delete w;
      closeNow(c);
      return false;
    }
    ++c->writesInFlight;
    return true;
  }

  // Closes after the queued responses are written: half-close, then drain the
  // peer's input until it closes too or the linger time passes.
  static void finish(Connection* c) {
    if (c->closed || c->draining) return;
    c->draining = true;
    if (c->tls) {
      c->tls->close();
      if (!writeRaw(c, c->tls->takeOutput())) return;
    }
    if (c->readPaused && !c->eof) {
      uv_read_start(c->stream(), &Impl::onAlloc, &Impl::onRead);
      c->readPaused = false;
    }
    c->shutdownReq.data = c;
    int rc = uv_shutdown(&c->shutdownReq, c->stream(), &Impl::onShutdown);
    if (rc != 0) {
      closeNow(c);
      return;
    }
    c->shutdownPending = true;
  }

  // Answers an unparseable or over-limit request and closes.
  static void reject(Connection* c, int status, const std::string& message) {
    if (c->server != nullptr) ++c->server->malformed;
    HttpResponse response = HttpResponse::text(status, message);
    if (send(c, formatResponse(response, false, false, false))) finish(c);
  }

  // --- libuv callbacks -----------------------------------------------------

  static void onConnection(uv_stream_t* listenerStream, int status) {
    auto* self = static_cast<Impl*>(listenerStream->data);
    guarded("accept", [&] {
      if (status < 0) {
        spdlog::warn("HttpServer: accept failed: {}", uv_strerror(status));
        return;
      }
      auto* c = new Connection;
      int rc = uv_tcp_init(self->loop.raw(), &c->tcp);
      if (rc != 0) {
        delete c;
        spdlog::error("HttpServer: uv_tcp_init: {}", uv_strerror(rc));
        return;
      }
      c->tcp.data = c;
      c->loop = &self->loop;
      rc = uv_accept(listenerStream, c->stream());
      if (rc != 0) {
        spdlog::warn("HttpServer: uv_accept: {}", uv_strerror(rc));
        closeNow(c);
        return;
      }
      self->serve(c);
    });
  }

  // Starts reading requests on a connected `c`, or closes it when the server
  // is full or libuv refuses. False when it was closed.
  bool serve(Connection* c) {
    if (connections.size() >= limits.maxConnections) {
      spdlog::warn("HttpServer: refusing connection: {} connections open", connections.size());
      closeNow(c);
      return false;
    }
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    if (tlsContext) c->tls = std::make_unique<TlsSession>(*tlsContext);
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_read_start(c->stream(), &Impl::onAlloc, &Impl::onRead) != 0) {
      closeNow(c);
      return false;
    }
    c->server = this;
    connections.insert(c);
    return true;
  }

  static void onAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
    auto* c = static_cast<Connection*>(handle->data);
    *buf = uv_buf_init(c->readBuffer.get(), static_cast<unsigned int>(kReadBufferBytes));
  }

  static void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    auto* c = static_cast<Connection*>(stream->data);
    guarded("read", [&] {
      if (nread == UV_EOF) {
        c->eof = true;
        if (c->streaming || (c->writesInFlight == 0 && !c->shutdownPending)) {
          closeNow(c);
        } else {
          finish(c);  // write what is queued, then close (see onShutdown)
        }
        return;
      }
      if (nread < 0) {
        closeNow(c);
        return;
      }
      if (nread == 0 || c->draining || c->server == nullptr) return;
      std::string_view input(buf->base, static_cast<size_t>(nread));
      if (c->tls && !decrypt(c, input)) return;
      if (c->streaming) {
        // What a streaming client sends is not read; its close_notify ends it.
        if (c->tls && c->tls->peerClosed()) closeNow(c);
        return;
      }
      size_t len = input.size();
      size_t parsed = len == 0 ? 0 : http_parser_execute(&c->parser, &parserSettings(), input.data(), len);
      if (c->closed || c->streaming) return;
      http_errno err = HTTP_PARSER_ERRNO(&c->parser);
      if (err == HPE_PAUSED) {
        finish(c);  // the last request asked to close
      } else if (err != HPE_OK) {
        int status = c->errorStatus != 0 ? c->errorStatus : 400;
        std::string message = c->errorMessage;
        if (message.empty()) {
          message = std::string("bad request: ") + http_errno_description(err) + "\n";
        }
        reject(c, status, message);
      } else if (c->parser.upgrade || parsed != len) {
        finish(c);  // protocol upgrades are not supported
      } else if (c->tls && c->tls->peerClosed()) {
        finish(c);  // close_notify: the peer sends nothing more
      } else if (uv_stream_get_write_queue_size(stream) > kMaxQueuedWriteBytes) {
        uv_read_stop(stream);
        c->readPaused = true;
      }
    });
  }

  // Passes a TLS connection's bytes through its session: answers the
  // handshake and points `input` at the requests' plaintext. False when the
  // connection is done with (a plain HTTP client told so, a broken
  // handshake).
  static bool decrypt(Connection* c, std::string_view& input) {
    if (!c->sawInput) {
      c->sawInput = true;
      if (looksLikePlainHttp(input)) {
        ++c->server->tlsFailures;
        c->tls.reset();  // the answer goes out in plain text, readable
        reject(c, 400, "this port speaks HTTPS: use an https:// URL\n");
        return false;
      }
    }
    c->plaintext.clear();
    auto received = c->tls->receive(input, c->plaintext);
    if (!writeRaw(c, c->tls->takeOutput())) return false;
    if (!received) {
      ++c->server->tlsFailures;
      spdlog::debug("HttpServer: {}", received.error().message);
      finish(c);
      return false;
    }
    input = c->plaintext;
    return true;
  }

  static void onWrite(uv_write_t* req, int status) {
    auto* w = static_cast<WriteRequest*>(req->data);
    Connection* c = w->conn;
    delete w;
    --c->writesInFlight;
    guarded("write", [&] {
      if (c->closed) return;
      if (status < 0) {
        closeNow(c);
        return;
      }
      if (c->readPaused && !c->draining && !c->eof &&
          uv_stream_get_write_queue_size(c->stream()) <= kMaxQueuedWriteBytes / 2) {
        c->readPaused = false;
        uv_read_start(c->stream(), &Impl::onAlloc, &Impl::onRead);
      }
    });
  }

  static void onShutdown(uv_shutdown_t* req, int status) {
    auto* c = static_cast<Connection*>(req->data);
    c->shutdownPending = false;
    guarded("shutdown", [&] {
      if (c->closed) return;
      if (status < 0 || c->eof) {
        closeNow(c);
        return;
      }
      c->linger = std::make_unique<Timer>(*c->loop);
      c->linger->start(kLingerTime, [c] { closeNow(c); });
    });
  }

  // --- http_parser callbacks ------------------------------------------------

  static Connection* conn(http_parser* p) { return static_cast<Connection*>(p->data); }

  // Runs a parser callback body; an exception aborts the request with a 500.
  template <typename Fn>
  static int parserStep(http_parser* p, Fn&& fn) {
    Connection* c = conn(p);
    try {
      return fn(c);
    } catch (const std::exception& e) {
      spdlog::error("HttpServer: parser callback threw: {}", e.what());
    } catch (...) {
      spdlog::error("HttpServer: parser callback threw");
    }
    c->errorStatus = 500;
    c->errorMessage = "internal error\n";
    return kParseAbort;
  }

  static int addHeaderBytes(Connection* c, size_t len) {
    c->headerBytes += len;
    if (c->server == nullptr || c->headerBytes > c->server->limits.maxHeaderBytes) {
      c->errorStatus = 400;
      c->errorMessage = "request headers too large\n";
      return kParseAbort;
    }
    return 0;
  }

  static void commitHeader(Connection* c) {
    if (!c->field.empty()) {
      std::string name = lowerCase(c->field);
      auto [it, inserted] = c->request.headers.emplace(name, c->value);
      if (!inserted) it->second += ", " + c->value;
    }
    c->field.clear();
    c->value.clear();
    c->inValue = false;
  }

  static int onMessageBegin(http_parser* p) {
    return parserStep(p, [](Connection* c) {
      c->request = HttpRequest{};
      c->url.clear();
      c->field.clear();
      c->value.clear();
      c->inValue = false;
      c->headerBytes = 0;
      c->errorStatus = 0;
      c->errorMessage.clear();
      return 0;
    });
  }

  static int onUrl(http_parser* p, const char* at, size_t len) {
    return parserStep(p, [&](Connection* c) {
      if (addHeaderBytes(c, len) != 0) return kParseAbort;
      c->url.append(at, len);
      return 0;
    });
  }

  static int onHeaderField(http_parser* p, const char* at, size_t len) {
    return parserStep(p, [&](Connection* c) {
      if (c->inValue) commitHeader(c);
      if (addHeaderBytes(c, len) != 0) return kParseAbort;
      c->field.append(at, len);
      return 0;
    });
  }

  static int onHeaderValue(http_parser* p, const char* at, size_t len) {
    return parserStep(p, [&](Connection* c) {
      c->inValue = true;
      if (addHeaderBytes(c, len) != 0) return kParseAbort;
      c->value.append(at, len);
      return 0;
    });
  }

  static int onHeadersComplete(http_parser* p) {
    return parserStep(p, [&](Connection* c) {
      if (c->inValue || !c->field.empty()) commitHeader(c);
      c->request.method = http_method_str(static_cast<http_method>(p->method));
      http_parser_url u;
      http_parser_url_init(&u);
      bool isConnect = p->method == HTTP_CONNECT;
      if (http_parser_parse_url(c->url.data(), c->url.size(), isConnect ? 1 : 0, &u) != 0) {
        c->errorStatus = 400;
        c->errorMessage = "bad request: invalid URL\n";
        return kParseAbort;
      }
      auto part = [&](int field) {
        return std::string_view(c->url).substr(u.field_data[field].off, u.field_data[field].len);
      };
      if (u.field_set & (1 << UF_PATH)) {
        c->request.path = urlDecode(part(UF_PATH), false);
      } else if (!isConnect) {
        c->request.path = "/";
      }
      if (u.field_set & (1 << UF_QUERY)) parseQuery(part(UF_QUERY), c->request.query);
      if ((p->flags & F_CONTENTLENGTH) && c->server != nullptr &&
          p->content_length > c->server->limits.maxBodyBytes) {
        c->errorStatus = 413;
        c->errorMessage = "request body too large\n";
        return kParseAbort;
      }
      return 0;
    });
  }

  static int onBody(http_parser* p, const char* at, size_t len) {
    return parserStep(p, [&](Connection* c) {
      if (c->server == nullptr || c->request.body.size() + len > c->server->limits.maxBodyBytes) {
        c->errorStatus = 413;
        c->errorMessage = "request body too large\n";
        return kParseAbort;
      }
      c->request.body.append(at, len);
      return 0;
    });
  }

  // Sends a streaming response's head and hands its owner the stream. The
  // parser stops here: the connection serves nothing else.
  static int startStream(Connection* c, http_parser* p, HttpResponse response, bool http10) {
    if (!send(c, http_format::formatStreamHead(response, http10))) return kParseAbort;
    http_parser_pause(p, 1);
    auto stream = std::make_shared<StreamImpl>(c, http10, c->server->limits.maxStreamQueueBytes);
    c->streaming = stream;
    if (c->readPaused && !c->eof) {
      c->readPaused = false;
      uv_read_start(c->stream(), &Impl::onAlloc, &Impl::onRead);
    }
    response.stream(stream);
    return 0;
  }

  static int onMessageComplete(http_parser* p) {
    return parserStep(p, [&](Connection* c) {
      if (c->closed || c->server == nullptr) return kParseAbort;
      bool keepAlive = http_should_keep_alive(p) != 0;
      bool http10 = p->http_major == 1 && p->http_minor == 0;
      bool head = p->method == HTTP_HEAD;
      HttpResponse response = c->server->dispatch(c->request);
      // The handler may have destroyed the server, closing this connection.
      if (c->closed) return kParseAbort;
      c->request = HttpRequest{};
      if (response.stream && !head) return startStream(c, p, std::move(response), http10);
      if (!send(c, formatResponse(response, keepAlive || response.stream, http10, head))) return kParseAbort;
      if (!keepAlive) http_parser_pause(p, 1);
      return 0;
    });
  }
};

HttpServer::HttpServer(Loop& loop, HttpServerLimits limits)
    : impl_(std::make_unique<Impl>(loop, limits)) {
  // A peer that resets mid-response must not kill the process with SIGPIPE.
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction current {};
    if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
      std::signal(SIGPIPE, SIG_IGN);
    }
  });
}

HttpServer::~HttpServer() {
  if (impl_->listener != nullptr) {
    uv_tcp_t* listener = impl_->listener;
    impl_->listener = nullptr;
    closeHandle(reinterpret_cast<uv_handle_t*>(listener), [listener] { delete listener; });
  }
  auto connections = std::move(impl_->connections);
  impl_->connections.clear();
  for (Impl::Connection* c : connections) {
    c->server = nullptr;
    Impl::closeNow(c);
  }
}

void HttpServer::route(const std::string& method, const std::string& path, HttpHandler handler) {
  impl_->routes[path][method] = std::make_shared<HttpHandler>(std::move(handler));
}

void HttpServer::gate(HttpGate gate) { impl_->gateHandler = std::make_shared<HttpGate>(std::move(gate)); }

void HttpServer::fallback(HttpHandler handler) {
  impl_->fallbackHandler = std::make_shared<HttpHandler>(std::move(handler));
}

Result<int> HttpServer::listen(const std::string& ip, int port) {
  bool v6 = ip.find(':') != std::string::npos;
  std::string where = (v6 ? "[" + ip + "]" : ip) + ":" + std::to_string(port);
  if (impl_->listener != nullptr) {
    return Error{ErrorCode::kConflict, "cannot listen on " + where + ": already listening"};
  }
  if (port < 0 || port > 65535) {
    return invalid("cannot listen on " + where + ": invalid port");
  }
  sockaddr_storage addr{};
  int rc = v6 ? uv_ip6_addr(ip.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr))
              : uv_ip4_addr(ip.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr));
  if (rc != 0) return invalid("cannot listen on " + where + ": invalid address");

  auto* listener = new uv_tcp_t{};
  rc = uv_tcp_init(impl_->loop.raw(), listener);
  if (rc != 0) {
    delete listener;
    return Error{ErrorCode::kUnavailable,
                 "cannot listen on " + where + ": " + uv_strerror(rc)};
  }
  listener->data = impl_.get();
  rc = uv_tcp_bind(listener, reinterpret_cast<const sockaddr*>(&addr), 0);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(listener), 511, &Impl::onConnection);
  }
  sockaddr_storage bound{};
  int boundLen = sizeof(bound);
  if (rc == 0) {
    rc = uv_tcp_getsockname(listener, reinterpret_cast<sockaddr*>(&bound), &boundLen);
  }
  if (rc != 0) {
    closeHandle(reinterpret_cast<uv_handle_t*>(listener), [listener] { delete listener; });
    return Error{ErrorCode::kUnavailable,
                 "cannot listen on " + where + ": " + uv_strerror(rc)};
  }
  impl_->listener = listener;
  if (bound.ss_family == AF_INET6) {
    return static_cast<int>(ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port));
  }
  return static_cast<int>(ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port));
}

Result<void> HttpServer::adopt(int fd) {
  auto* c = new Impl::Connection;
  int rc = uv_tcp_init(impl_->loop.raw(), &c->tcp);
  if (rc != 0) {
    delete c;
    ::close(fd);
    return Error{ErrorCode::kUnavailable, std::string("cannot serve a connection: ") + uv_strerror(rc)};
  }
  c->tcp.data = c;
  c->loop = &impl_->loop;
  rc = uv_tcp_open(&c->tcp, fd);
  if (rc != 0) {
    ::close(fd);  // not the handle's: closing it leaves the fd alone
    Impl::closeNow(c);
    return Error{ErrorCode::kUnavailable, std::string("cannot serve a connection: ") + uv_strerror(rc)};
  }
  if (!impl_->serve(c)) return Error{ErrorCode::kUnavailable, "cannot serve a connection: refused"};
  return {};
}

uint64_t HttpServer::malformedRequests() const { return impl_->malformed; }

uint64_t HttpServer::tlsFailures() const { return impl_->tlsFailures; }

void HttpServer::tls(std::shared_ptr<TlsServerContext> context) { impl_->tlsContext = std::move(context); }

bool HttpServer::servesTls() const { return impl_->tlsContext != nullptr; }

}  // namespace clusternodes
