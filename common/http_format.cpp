#include "common/http_format.hpp"

#include <cctype>
#include <cstdlib>

#include <fmt/format.h>

namespace clusternodes::http_format {
namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The status line and the headers every response carries, up to (not
// including) Content-Length or Transfer-Encoding.
std::string statusAndHeaders(const HttpResponse& response, size_t reserve) {
  int status = response.status >= 100 && response.status <= 999 ? response.status : 500;
  std::string out;
  out.reserve(reserve + 256);
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += reasonPhrase(status);
  out += "\r\nContent-Type: ";
  out += headerSafe(response.contentType);
  out += "\r\n";
  for (const auto& [name, value] : response.headers) {
    std::string lower = lowerCase(name);
    if (lower == "content-length" || lower == "content-type" || lower == "connection" ||
        lower == "transfer-encoding") {
      continue;
    }
    out += headerSafe(name);
    out += ": ";
    out += headerSafe(value);
    out += "\r\n";
  }
  return out;
}

}  // namespace

const char* reasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
  }
}

std::string urlDecode(std::string_view in, bool plusIsSpace) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%' && i + 2 < in.size()) {
      int hi = hexValue(in[i + 1]);
      int lo = hexValue(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plusIsSpace && c == '+' ? ' ' : c);
  }
  return out;
}

void parseQuery(std::string_view query, std::map<std::string, std::string>& out) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string key = urlDecode(pair.substr(0, eq), true);
    std::string value =
        eq == std::string_view::npos ? std::string() : urlDecode(pair.substr(eq + 1), true);
    out.emplace(std::move(key), std::move(value));
  }
}

std::string lowerCase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string headerSafe(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c != '\r' && c != '\n') out.push_back(c);
  }
  return out;
}

std::string mediaType(std::string_view value) {
  value = value.substr(0, value.find(';'));
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front()))) value.remove_prefix(1);
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) value.remove_suffix(1);
  return lowerCase(value);
}

bool acceptsMediaType(const HttpRequest& request, std::string_view type) {
  auto header = request.headers.find("accept");
  if (header == request.headers.end()) return true;
  std::string_view list = header->second;
  std::string family(type.substr(0, type.find('/')));
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view entry = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    std::string range = mediaType(entry);
    if (range != type && range != family + "/*" && range != "*/*") continue;
    size_t q = entry.find("q=");
    if (q != std::string_view::npos && std::atof(std::string(entry.substr(q + 2)).c_str()) <= 0) continue;
    return true;
  }
  return false;
}

std::string formatResponse(const HttpResponse& response, bool keepAlive, bool http10, bool omitBody) {
  std::string out = statusAndHeaders(response, response.body.size());
  out += "Content-Length: ";
  out += std::to_string(response.body.size());
  out += "\r\n";
  if (!keepAlive) {
    out += "Connection: close\r\n";
  } else if (http10) {
    out += "Connection: keep-alive\r\n";
  }
  out += "\r\n";
  if (!omitBody) out += response.body;
  return out;
}

std::string formatStreamHead(const HttpResponse& response, bool http10) {
  std::string out = statusAndHeaders(response, 0);
  if (!http10) out += "Transfer-Encoding: chunked\r\n";
  out += "Connection: close\r\n\r\n";
  return out;
}

std::string chunk(std::string_view data) {
  if (data.empty()) return {};
  std::string out = fmt::format("{:x}\r\n", data.size());
  out.reserve(out.size() + data.size() + 2);
  out += data;
  out += "\r\n";
  return out;
}

}  // namespace clusternodes::http_format
