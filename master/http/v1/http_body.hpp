// How the v1 APIs read a call's body and choose their answer's encoding,
// as Apache Mesos does for POST /api/v1/scheduler and POST /api/v1: the
// request's Content-Type says JSON or protobuf, its Accept which of the two
// the answer may be (JSON first; no Accept: JSON).
#pragma once

#include <optional>
#include <variant>
#include <string>

#include <google/protobuf/message.h>

#include "common/http_server.hpp"

namespace clusternodes::master::v1 {

inline constexpr const char* kJsonType = "application/json";
inline constexpr const char* kProtobufType = "application/x-protobuf";

// Why a request was refused: the status and Mesos's message.
struct Refusal {
  int status = 400;
  std::string message;
};

// Reads the body into `call` (a Call message): 400 without a Content-Type
// or when the body does not parse, 415 for another media type.
std::optional<Refusal> readCall(const HttpRequest& request, google::protobuf::Message& call);

// Whether the answer is protobuf (else JSON), or 406 when Accept allows
// neither.
std::variant<bool, Refusal> answerInProtobuf(const HttpRequest& request);

// `message` in the encoding chosen.
HttpResponse encodedResponse(int status, const google::protobuf::Message& message, bool protobuf);
// `message` as the JSON Mesos writes, or protobuf bytes.
std::string encodeMessage(const google::protobuf::Message& message, bool protobuf);

}  // namespace clusternodes::master::v1
