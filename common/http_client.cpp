#include "common/http_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <string>

namespace clusternodes {

namespace {

void initCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t appendBody(char* data, size_t size, size_t count, void* userdata) {
  auto* body = static_cast<std::string*>(userdata);
  try {
    body->append(data, size * count);
  } catch (...) {
    return 0;  // makes curl fail with CURLE_WRITE_ERROR
  }
  return size * count;
}

struct EasyDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct ListDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

// Performs a prepared request and collects status and body.
Result<HttpResult> perform(CURL* curl, const char* method, const std::string& url,
                           double timeoutSeconds) {
  HttpResult result;
  char errorBuffer[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errorBuffer);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &appendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &result.body);
  if (timeoutSeconds > 0) {
    double ms = std::clamp(std::ceil(timeoutSeconds * 1000.0), 1.0, 2147483647.0);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(ms));
  }

  CURLcode rc = curl_easy_perform(curl);
  std::string detail = curl_easy_strerror(rc);
  if (errorBuffer[0] != '\0' && detail != errorBuffer) {
    detail += std::string(" (") + errorBuffer + ")";
  }
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);  // errorBuffer dies here
  if (rc != CURLE_OK) {
    std::string message = std::string(method) + " " + url + ": " + detail;
    bool badInput = rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL;
    return Error{badInput ? ErrorCode::kInvalid : ErrorCode::kUnavailable, message};
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  result.status = static_cast<int>(status);
  return result;
}

Result<HttpResult> newHandleError(const std::string& url) {
  return Error{ErrorCode::kInternal, url + ": curl_easy_init failed"};
}

}  // namespace

std::string urlEncode(const std::string& text) {
  initCurlOnce();
  char* escaped = curl_easy_escape(nullptr, text.data(), static_cast<int>(text.size()));
  if (escaped == nullptr) return text;
  std::string out(escaped);
  curl_free(escaped);
  return out;
}

Result<HttpResult> httpGet(const std::string& url, double timeoutSeconds) {
  initCurlOnce();
  std::unique_ptr<CURL, EasyDeleter> curl(curl_easy_init());
  if (!curl) return newHandleError(url);
  curl_easy_setopt(curl.get(), CURLOPT_HTTPGET, 1L);
  return perform(curl.get(), "GET", url, timeoutSeconds);
}

Result<HttpResult> httpSend(const std::string& method, const std::string& url, const std::string& body,
                            const std::string& contentType, double timeoutSeconds) {
  initCurlOnce();
  std::unique_ptr<CURL, EasyDeleter> curl(curl_easy_init());
  if (!curl) return newHandleError(url);
  std::unique_ptr<curl_slist, ListDeleter> headers;
  auto addHeader = [&](const std::string& line) {
    curl_slist* next = curl_slist_append(headers.get(), line.c_str());
    if (next != nullptr) {
      (void)headers.release();
      headers.reset(next);
    }
  };
  addHeader("Content-Type: " + contentType);
  addHeader("Expect:");  // no 100-continue round trip
  if (method == "POST") {
    curl_easy_setopt(curl.get(), CURLOPT_POST, 1L);
  } else {
    curl_easy_setopt(curl.get(), CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
  return perform(curl.get(), method.c_str(), url, timeoutSeconds);
}

Result<HttpResult> httpPost(const std::string& url, const std::string& body, const std::string& contentType,
                            double timeoutSeconds) {
  return httpSend("POST", url, body, contentType, timeoutSeconds);
}

}  // namespace clusternodes
