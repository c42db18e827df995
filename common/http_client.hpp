// A blocking HTTP client on libcurl, for the CLI, tests and tools (never on a
// daemon's loop thread).
#pragma once

#include <string>

#include "clusternodes/result.hpp"

namespace clusternodes {

struct HttpResult {
  int status = 0;
  std::string body;
};

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
