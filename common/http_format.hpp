// How HttpServer reads request lines and writes responses: the text of
// HTTP/1.1 apart from the connection handling (common/http_server.cpp).
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "common/http_server.hpp"

namespace clusternodes::http_format {

// "OK", "Not Found", ...; "Unknown" for a status without one here.
const char* reasonPhrase(int status);
// Decodes %XX escapes (and '+' as a space when asked). A malformed escape is
// kept literally.
std::string urlDecode(std::string_view in, bool plusIsSpace);
// a=1&b=2 into `out` (the first of a repeated name wins).
void parseQuery(std::string_view query, std::map<std::string, std::string>& out);
std::string lowerCase(std::string_view s);
// The media type of a Content-Type or Accept entry: parameters dropped,
// spaces trimmed, lower case ("application/json").
std::string mediaType(std::string_view value);
// Whether the request's Accept (absent: anything) allows `type`, as HTTP's
// media ranges do: type/subtype, type/* or */*, with a q above zero.
bool acceptsMediaType(const HttpRequest& request, std::string_view type);
// Header text without CR/LF, so a value cannot inject response lines.
std::string headerSafe(std::string_view s);
// A whole response: status line, headers (Content-Length; Connection as
// `keepAlive` and `http10` ask), and the body unless `omitBody` (HEAD).
std::string formatResponse(const HttpResponse& response, bool keepAlive, bool http10, bool omitBody);
// The head of a streaming response (HttpResponse::stream): chunked on
// HTTP/1.1; on HTTP/1.0 the body runs until the connection closes. Either
// way the connection closes after it.
std::string formatStreamHead(const HttpResponse& response, bool http10);
// One chunk of a chunked body; the empty string for empty data (an empty
// chunk would end the body).
std::string chunk(std::string_view data);
// The chunk that ends a chunked body.
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

}  // namespace clusternodes::http_format
