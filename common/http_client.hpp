// A blocking HTTP client on libcurl, for the CLI, tests and tools (never on a
// daemon's loop thread).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "clusternodes/result.hpp"

namespace clusternodes {

struct HttpResult {
  int status = 0;
  std::string body;
};

// One request, for what the short forms below do not cover.
struct HttpClientRequest {
  std::string method = "GET";  // "GET" sends no body; any other sends `body`
  std::string url;
  std::string body;
  std::string contentType = "application/json";
  // The whole exchange, body included; 0 or less: no limit (for a body that
  // lasts as long as what it follows).
  double timeoutSeconds = 10;
  // Non-empty: connect to this unix socket instead of the url's host (the
  // url still names the path and the Host header), as the Docker daemon
  // listens.
  std::string unixSocketPath;
  // Set: a 2xx response's body goes here as it arrives instead of into
  // HttpResult::body, so that an endless body can be followed; returning
  // false stops the transfer (an error). Any other status's body is
  // collected as usual, since it is the server's account of the failure.
  std::function<bool(std::string_view)> onBody;
  // Sent as `Authorization: Bearer TOKEN` (common/http_auth.hpp). Unset:
  // the process's default token (setHttpBearerToken), if any; "": none.
  std::optional<std::string> bearerToken;
  // For an https:// url: the PEM file of the certificate authorities to
  // trust (a cluster's own CA, or a self-signed server certificate). Unset:
  // the process's default (setHttpCaFile), else the system's trust store.
  std::optional<std::string> caFile;
};

// The token every request of this process sends unless it names its own
// (the CLI's --token-file or CLUSTERNODES_TOKEN). Never sent over a unix
// socket (the Docker daemon's).
void setHttpBearerToken(std::string token);

// The CA file every https request of this process trusts unless it names
// its own (the CLI's CLUSTERNODES_CA); "" for the system's trust store.
void setHttpCaFile(std::string path);

// Performs `request`. Fails (kUnavailable) when the server cannot be reached,
// the timeout passes or the connection breaks; an HTTP error status is a
// successful HttpResult.
Result<HttpResult> httpRequest(const HttpClientRequest& request);

// GET url. Fails (kUnavailable) when the server cannot be reached or the
// timeout passes; an HTTP error status is a successful HttpResult.
Result<HttpResult> httpGet(const std::string& url, double timeoutSeconds = 10);
// POST url with a body.
Result<HttpResult> httpPost(const std::string& url, const std::string& body,
                            const std::string& contentType = "application/json",
                            double timeoutSeconds = 10);

// `text` percent-encoded for a URL's query (libcurl's escaping).
std::string urlEncode(const std::string& text);

// Any method with a body: "PUT", "DELETE", "POST".
Result<HttpResult> httpSend(const std::string& method, const std::string& url, const std::string& body,
                            const std::string& contentType = "application/json", double timeoutSeconds = 10);

}  // namespace clusternodes
