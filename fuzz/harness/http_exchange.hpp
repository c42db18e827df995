// One HTTP connection's bytes through an HttpServer on the same loop, with
// no TCP port: the client's end of a socketpair writes them, the server
// adopts the other end (HttpServer::adopt), and the loop runs until the
// server has closed it. (Or through a daemon's own port on loopback.)
//
//   Loop loop;
//   HttpServer http(loop);
//   http.route(...);
//   std::string answer = fuzzing::exchange(loop, http, "GET /health HTTP/1.1\r\n\r\n");
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/http_server.hpp"
#include "common/loop.hpp"

namespace clusternodes::fuzzing {

// The bearer token the HTTP targets' tokens file holds, for principal
// "ops"; the seeds send it.
inline constexpr std::string_view kHttpToken = "b1f0c3a2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f";

// Every request is written, then the client's side is shut for writing: a
// server that then neither answers nor closes within this long is stuck.
inline constexpr auto kExchangeDeadline = std::chrono::seconds(10);

// What the server wrote back on `client`, a connected non-blocking socket,
// until it closed the connection; `client` is closed.
inline std::string exchangeOver(Loop& loop, int client, std::string_view request) {
  std::string answer;
  size_t written = 0;
  bool shut = false;
  auto deadline = std::chrono::steady_clock::now() + kExchangeDeadline;
  for (;;) {
    if (written < request.size()) {
      ssize_t n = ::send(client, request.data() + written, request.size() - written, MSG_NOSIGNAL);
      if (n > 0) written += static_cast<size_t>(n);
      // A server that closed early refuses the rest (EPIPE): it is done. A
      // TCP connection still being made says EAGAIN, or ENOTCONN at first.
      if (n < 0 && errno != EAGAIN && errno != ENOTCONN) written = request.size();
    }
    if (written == request.size() && !shut) {
      ::shutdown(client, SHUT_WR);
      shut = true;
    }
    uv_run(loop.raw(), UV_RUN_NOWAIT);
    char buffer[64 * 1024];
    ssize_t n;
    while ((n = ::recv(client, buffer, sizeof buffer, 0)) > 0) answer.append(buffer, static_cast<size_t>(n));
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != ENOTCONN)) break;  // closed (or reset) by the server
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr, "the HTTP server neither answered nor closed the connection in %lld s\n",
                   static_cast<long long>(kExchangeDeadline.count()));
      std::abort();
    }
  }
  ::close(client);
  uv_run(loop.raw(), UV_RUN_NOWAIT);  // the server's side closes on the loop
  return answer;
}

// The same through a socketpair whose other end `http` adopts.
inline std::string exchange(Loop& loop, HttpServer& http, std::string_view request) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) != 0) {
    std::perror("socketpair");
    std::abort();
  }
  if (auto adopted = http.adopt(fds[0]); !adopted) {
    std::fprintf(stderr, "%s\n", adopted.error().message.c_str());
    std::abort();
  }
  return exchangeOver(loop, fds[1], request);
}

// The same with a server that listens on 127.0.0.1:`port` (one whose
// HttpServer the caller cannot reach, as a daemon's).
inline std::string exchangeWithPort(Loop& loop, int port, std::string_view request) {
  int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // No TIME_WAIT left behind for each of thousands of runs: closed with a reset.
  linger reset{1, 0};
  ::setsockopt(client, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  if (client < 0 || (::connect(client, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 &&
                     errno != EINPROGRESS)) {
    std::perror("connect");
    std::abort();
  }
  return exchangeOver(loop, client, request);
}

}  // namespace clusternodes::fuzzing
