#include "master/http/v1/http_body.hpp"

#include <mutex>

#include <google/protobuf/stubs/logging.h>
#include <spdlog/spdlog.h>

#include "common/http_format.hpp"
#include "master/http/v1/json.hpp"

namespace clusternodes::master::v1 {
namespace {

// libprotobuf writes to stderr what it finds wrong in what it parses (a
// string that is not UTF-8): from a hostile client, a line per call. Those
// go to the debug log instead; its own bugs (FATAL) still abort after.
void protobufLog(google::protobuf::LogLevel level, const char* file, int line, const std::string& message) {
  if (level >= google::protobuf::LOGLEVEL_FATAL) {
    spdlog::error("libprotobuf {}:{}: {}", file, line, message);
  } else {
    spdlog::debug("libprotobuf {}:{}: {}", file, line, message);
  }
}

}  // namespace

std::optional<Refusal> readCall(const HttpRequest& request, google::protobuf::Message& call) {
  static std::once_flag quiet;
  std::call_once(quiet, [] { google::protobuf::SetLogHandler(&protobufLog); });
  auto contentType = request.headers.find("content-type");
  if (contentType == request.headers.end()) return Refusal{400, "Expecting 'Content-Type' to be present"};
  std::string type = http_format::mediaType(contentType->second);
  if (type == kProtobufType) {
    if (!call.ParseFromString(request.body)) return Refusal{400, "Failed to parse body into Call protobuf"};
    return std::nullopt;
  }
  if (type != kJsonType) {
    return Refusal{415, std::string("Expecting 'Content-Type' of ") + kJsonType + " or " + kProtobufType};
  }
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(request.body);
  } catch (const nlohmann::json::exception& e) {
    return Refusal{400, std::string("Failed to parse body into JSON: ") + e.what()};
  }
  if (auto read = fromJson(json, call); !read) {
    return Refusal{400, "Failed to convert JSON into Call protobuf: " + read.error().message};
  }
  return std::nullopt;
}

std::variant<bool, Refusal> answerInProtobuf(const HttpRequest& request) {
  if (http_format::acceptsMediaType(request, kJsonType)) return false;
  if (http_format::acceptsMediaType(request, kProtobufType)) return true;
  return Refusal{406, std::string("Expecting 'Accept' to allow '") + kProtobufType + "' or '" + kJsonType + "'"};
}

std::string encodeMessage(const google::protobuf::Message& message, bool protobuf) {
  if (protobuf) return message.SerializeAsString();
  return toJson(message).dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

HttpResponse encodedResponse(int status, const google::protobuf::Message& message, bool protobuf) {
  HttpResponse response;
  response.status = status;
  response.contentType = protobuf ? kProtobufType : kJsonType;
  response.body = encodeMessage(message, protobuf);
  return response;
}

}  // namespace clusternodes::master::v1
