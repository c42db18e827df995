#include "common/http_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <memory>
#include <mutex>
#include <string>

namespace clusternodes {

namespace {

void initCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Where a response's body goes: into HttpResult::body, or, for a 2xx
// response of a request with a receiver, to the receiver as it arrives.
struct BodySink {
  CURL* curl = nullptr;
  std::string* collected = nullptr;
  const std::function<bool(std::string_view)>* receiver = nullptr;
  bool receiverStopped = false;
  std::string failure;  // what a throw while taking the body said
};

size_t takeBody(char* data, size_t size, size_t count, void* userdata) {
  auto* sink = static_cast<BodySink*>(userdata);
  size_t bytes = size * count;
  // Returning less than `bytes` makes curl fail with CURLE_WRITE_ERROR; an
  // exception must not cross curl's C frames.
  try {
    if (*sink->receiver) {
      long status = 0;
      curl_easy_getinfo(sink->curl, CURLINFO_RESPONSE_CODE, &status);
      if (status >= 200 && status < 300) {
        if ((*sink->receiver)(std::string_view(data, bytes))) return bytes;
        sink->receiverStopped = true;
        return 0;
      }
    }
    sink->collected->append(data, bytes);
  } catch (const std::exception& e) {
    sink->failure = e.what();
    return 0;
  } catch (...) {
    sink->failure = "an unknown exception";
    return 0;
  }
  return bytes;
}

std::mutex defaultsMutex;
std::string defaultTokenValue;

std::string defaultCaFileValue;

std::string defaultToken() {
  std::lock_guard<std::mutex> lock(defaultsMutex);
  return defaultTokenValue;
}

std::string defaultCaFile() {
  std::lock_guard<std::mutex> lock(defaultsMutex);
  return defaultCaFileValue;
}

struct EasyDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct ListDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

// Sets the request's method, body and headers on `curl`; the headers must
// outlive the transfer, so they go to `headers`.
void prepareMethod(CURL* curl, const HttpClientRequest& request, std::unique_ptr<curl_slist, ListDeleter>& headers) {
  auto addHeader = [&](const std::string& line) {
    curl_slist* next = curl_slist_append(headers.get(), line.c_str());
    if (next != nullptr) {
      (void)headers.release();
      headers.reset(next);
    }
  };
  std::string token = request.bearerToken ? *request.bearerToken
                                          : request.unixSocketPath.empty() ? defaultToken() : std::string();
  if (!token.empty()) addHeader("Authorization: Bearer " + token);
  if (request.method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    if (headers) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
    return;
  }
  addHeader("Content-Type: " + request.contentType);
  addHeader("Expect:");  // no 100-continue round trip
  if (request.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
  } else {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
}

}  // namespace

void setHttpBearerToken(std::string token) {
  std::lock_guard<std::mutex> lock(defaultsMutex);
  defaultTokenValue = std::move(token);
}

void setHttpCaFile(std::string path) {
  std::lock_guard<std::mutex> lock(defaultsMutex);
  defaultCaFileValue = std::move(path);
}

std::string urlEncode(const std::string& text) {
  initCurlOnce();
  char* escaped = curl_easy_escape(nullptr, text.data(), static_cast<int>(text.size()));
  if (escaped == nullptr) return text;
  std::string out(escaped);
  curl_free(escaped);
  return out;
}

Result<HttpResult> httpRequest(const HttpClientRequest& request) {
  initCurlOnce();
  std::unique_ptr<CURL, EasyDeleter> handle(curl_easy_init());
  if (!handle) return Error{ErrorCode::kInternal, request.url + ": curl_easy_init failed"};
  CURL* curl = handle.get();
  std::unique_ptr<curl_slist, ListDeleter> headers;
  prepareMethod(curl, request, headers);

  HttpResult result;
  BodySink sink{curl, &result.body, &request.onBody};
  char errorBuffer[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  if (!request.unixSocketPath.empty()) {
    curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, request.unixSocketPath.c_str());
  }
  std::string caFile = request.caFile ? *request.caFile : defaultCaFile();
  if (!caFile.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, caFile.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errorBuffer);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &takeBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  if (request.timeoutSeconds > 0) {
    double ms = std::clamp(std::ceil(request.timeoutSeconds * 1000.0), 1.0, 2147483647.0);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(ms));
  }

  CURLcode rc = curl_easy_perform(curl);
  std::string detail = curl_easy_strerror(rc);
  if (errorBuffer[0] != '\0' && detail != errorBuffer) {
    detail += std::string(" (") + errorBuffer + ")";
  }
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);  // errorBuffer dies here
  if (rc != CURLE_OK) {
    std::string where = request.method + " " + request.url;
    if (!request.unixSocketPath.empty()) where += " on " + request.unixSocketPath;
    // Our own side stopped the transfer: not the server's failure.
    if (sink.receiverStopped) return Error{ErrorCode::kInternal, where + ": the receiver stopped the transfer"};
    if (!sink.failure.empty()) return Error{ErrorCode::kInternal, where + ": taking the body failed: " + sink.failure};
    bool badInput = rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL;
    return Error{badInput ? ErrorCode::kInvalid : ErrorCode::kUnavailable, where + ": " + detail};
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  result.status = static_cast<int>(status);
  return result;
}

Result<HttpResult> httpGet(const std::string& url, double timeoutSeconds) {
  HttpClientRequest request;
  request.url = url;
  request.timeoutSeconds = timeoutSeconds;
  return httpRequest(request);
}

Result<HttpResult> httpSend(const std::string& method, const std::string& url, const std::string& body,
                            const std::string& contentType, double timeoutSeconds) {
  HttpClientRequest request;
  request.method = method;
  request.url = url;
  request.body = body;
  request.contentType = contentType;
  request.timeoutSeconds = timeoutSeconds;
  return httpRequest(request);
}

Result<HttpResult> httpPost(const std::string& url, const std::string& body, const std::string& contentType,
                            double timeoutSeconds) {
  return httpSend("POST", url, body, contentType, timeoutSeconds);
}

}  // namespace clusternodes
