#include "common/tls.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <climits>

namespace clusternodes {

namespace {

// The newest error on this thread's OpenSSL queue as words, and the queue
// cleared, so that the next failure does not report this one.
std::string lastSslError(const char* fallback) {
  unsigned long code = ERR_peek_last_error();
  std::string text;
  if (code != 0) {
    const char* reason = ERR_reason_error_string(code);
    text = reason != nullptr ? reason : "error " + std::to_string(code);
  } else {
    text = fallback;
  }
  ERR_clear_error();
  return text;
}

}  // namespace

Result<std::shared_ptr<TlsServerContext>> TlsServerContext::load(const std::string& certFile,
                                                                 const std::string& keyFile) {
  if (certFile.empty() || keyFile.empty()) return invalid("TLS needs both a certificate and a key file");
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return Error{ErrorCode::kInternal, "cannot create a TLS context: " + lastSslError("unknown")};
  std::shared_ptr<TlsServerContext> context(new TlsServerContext(ctx));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_use_certificate_chain_file(ctx, certFile.c_str()) != 1) {
    return invalid("cannot use the TLS certificate " + certFile + ": " + lastSslError("unreadable"));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, keyFile.c_str(), SSL_FILETYPE_PEM) != 1) {
    // OpenSSL checks the key against the certificate here.
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      return invalid("the TLS key " + keyFile + " does not belong to the certificate " + certFile);
    }
    return invalid("cannot use the TLS key " + keyFile + ": " + lastSslError("unreadable"));
  }
  return context;
}

TlsServerContext::~TlsServerContext() { SSL_CTX_free(ctx_); }

struct TlsSession::Impl {
  SSL* ssl = nullptr;
  BIO* in = nullptr;   // the peer's bytes, for OpenSSL to read; owned by ssl
  BIO* out = nullptr;  // OpenSSL's bytes, for the socket; owned by ssl
  bool failed = false;
  bool closing = false;
};

TlsSession::TlsSession(const TlsServerContext& context) : impl_(std::make_unique<Impl>()) {
  impl_->ssl = SSL_new(context.raw());
  impl_->in = BIO_new(BIO_s_mem());
  impl_->out = BIO_new(BIO_s_mem());
  if (impl_->ssl == nullptr || impl_->in == nullptr || impl_->out == nullptr) {
    BIO_free(impl_->in);
    BIO_free(impl_->out);
    SSL_free(impl_->ssl);
    impl_->ssl = nullptr;
    impl_->in = nullptr;
    impl_->out = nullptr;
    impl_->failed = true;
    ERR_clear_error();
    return;
  }
  // A drained memory BIO reports "retry", not end of file.
  BIO_set_mem_eof_return(impl_->in, -1);
  SSL_set_bio(impl_->ssl, impl_->in, impl_->out);
  SSL_set_accept_state(impl_->ssl);
}

TlsSession::~TlsSession() { SSL_free(impl_->ssl); }

Result<void> TlsSession::receive(std::string_view bytes, std::string& plaintext) {
  if (impl_->failed) return Error{ErrorCode::kUnavailable, "the TLS session has failed"};
  while (!bytes.empty()) {
    int chunk = static_cast<int>(std::min<size_t>(bytes.size(), INT_MAX));
    int wrote = BIO_write(impl_->in, bytes.data(), chunk);
    if (wrote <= 0) {
      impl_->failed = true;
      return Error{ErrorCode::kInternal, "TLS: cannot buffer input"};
    }
    bytes.remove_prefix(static_cast<size_t>(wrote));
  }
  char buffer[16 * 1024];
  for (;;) {
    int got = SSL_read(impl_->ssl, buffer, sizeof buffer);
    if (got > 0) {
      plaintext.append(buffer, static_cast<size_t>(got));
      continue;
    }
    int error = SSL_get_error(impl_->ssl, got);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
      ERR_clear_error();
      return {};
    }
    if (error == SSL_ERROR_ZERO_RETURN) {
      peerClosed_ = true;
      ERR_clear_error();
      return {};
    }
    impl_->failed = true;
    return Error{ErrorCode::kInvalid, "TLS: " + lastSslError("the peer broke the protocol")};
  }
}

Result<void> TlsSession::send(std::string_view plaintext) {
  if (impl_->failed || impl_->closing) return Error{ErrorCode::kUnavailable, "the TLS session is closed"};
  if (SSL_is_init_finished(impl_->ssl) == 0) return Error{ErrorCode::kUnavailable, "TLS: the handshake is not done"};
  while (!plaintext.empty()) {
    int chunk = static_cast<int>(std::min<size_t>(plaintext.size(), 1 << 30));
    int wrote = SSL_write(impl_->ssl, plaintext.data(), chunk);
    if (wrote <= 0) {
      impl_->failed = true;
      return Error{ErrorCode::kInternal, "TLS: " + lastSslError("cannot encrypt")};
    }
    plaintext.remove_prefix(static_cast<size_t>(wrote));
  }
  return {};
}

void TlsSession::close() {
  if (impl_->ssl == nullptr || impl_->closing) return;
  impl_->closing = true;
  if (SSL_is_init_finished(impl_->ssl) != 0 && !impl_->failed) SSL_shutdown(impl_->ssl);
  ERR_clear_error();
}

std::string TlsSession::takeOutput() {
  std::string out;
  if (impl_->out == nullptr) return out;
  size_t pending = BIO_ctrl_pending(impl_->out);
  if (pending == 0) return out;
  out.resize(pending);
  int got = BIO_read(impl_->out, out.data(), static_cast<int>(std::min<size_t>(pending, INT_MAX)));
  out.resize(got > 0 ? static_cast<size_t>(got) : 0);
  return out;
}

Result<std::shared_ptr<TlsServerContext>> tlsFromFlags(const std::string& certFile, const std::string& keyFile) {
  if (certFile.empty() && keyFile.empty()) return std::shared_ptr<TlsServerContext>();
  if (keyFile.empty()) return invalid("--tls-cert " + certFile + ": needs --tls-key too");
  if (certFile.empty()) return invalid("--tls-key " + keyFile + ": needs --tls-cert too");
  return TlsServerContext::load(certFile, keyFile);
}

bool looksLikePlainHttp(std::string_view bytes) {
  // A TLS connection opens with a handshake record (0x16); every HTTP method
  // opens with an upper-case letter.
  return !bytes.empty() && std::isupper(static_cast<unsigned char>(bytes.front())) != 0;
}

}  // namespace clusternodes
