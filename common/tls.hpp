// TLS for the HTTP ports, through OpenSSL, over memory: the server's event
// loop moves bytes between the socket and a TlsSession, which never touches
// the socket itself.
//
//   auto context = TlsServerContext::load("/etc/clusternodes/tls.crt", "/etc/clusternodes/tls.key");
//   if (!context) ... context.error().message ...   // one line, naming the file
//   TlsSession session(**context);
//   std::string plaintext;
//   auto got = session.receive(bytesFromSocket, plaintext);  // handshake, then requests
//   write(session.takeOutput());                             // handshake records, alerts
//   session.send(response);
//   write(session.takeOutput());
//
// TLS 1.2 and 1.3 only, no renegotiation. Not thread-safe: one session
// belongs to one connection on one loop.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "clusternodes/result.hpp"

struct ssl_ctx_st;

namespace clusternodes {

// A certificate chain and its private key, loaded once for every connection.
class TlsServerContext {
 public:
  // Reads a PEM certificate chain (the server's certificate first) and a PEM
  // private key (unencrypted), and checks that they belong together. Fails
  // with kInvalid and a one-line reason naming the file.
  static Result<std::shared_ptr<TlsServerContext>> load(const std::string& certFile, const std::string& keyFile);
  ~TlsServerContext();
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  ssl_ctx_st* raw() const { return ctx_; }

 private:
  explicit TlsServerContext(ssl_ctx_st* ctx) : ctx_(ctx) {}
  ssl_ctx_st* ctx_;
};

// The server side of one TLS connection.
class TlsSession {
 public:
  explicit TlsSession(const TlsServerContext& context);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Takes bytes the peer sent: handshake records are answered (see
  // takeOutput) and application data is decrypted onto `plaintext`. Fails
  // when the peer breaks the protocol (a bad handshake, a bad record, a
  // client that speaks plain HTTP); the connection is then useless, though
  // takeOutput may hold an alert to send before closing.
  Result<void> receive(std::string_view bytes, std::string& plaintext);
  // Encrypts application data onto the output. Fails before the handshake
  // has finished or after a failure.
  Result<void> send(std::string_view plaintext);
  // Queues a close_notify alert (once).
  void close();
  // The bytes to write to the socket since the last call.
  std::string takeOutput();
  // The peer sent close_notify: no more application data will come.
  bool peerClosed() const { return peerClosed_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool peerClosed_ = false;
};

// The context the --tls-cert and --tls-key flags name: nullptr when neither
// is set; an error naming the flag when only one is, or when a file is bad.
Result<std::shared_ptr<TlsServerContext>> tlsFromFlags(const std::string& certFile, const std::string& keyFile);

// True when `bytes` (a connection's first bytes) look like a plain HTTP
// request rather than a TLS handshake record, so that a server can answer
// a client that forgot "https://" in words it can read.
bool looksLikePlainHttp(std::string_view bytes);

}  // namespace clusternodes
