// The JSON form of the Mesos v1 API's protobuf messages, as Apache Mesos
// writes and reads it (its stout library's protobuf <-> JSON rules), which is
// not protobuf's own JSON mapping:
//
//  - field names as declared (snake_case), in declaration order;
//  - a field is written when it is set, and an unset optional field that
//    declares a default (not deprecated) is written with its default;
//    repeated fields when not empty; maps as objects;
//  - enums by name; 64-bit integers as JSON numbers (not strings); bytes as
//    base64;
//  - when reading: keys that name no field are ignored, `null` leaves a
//    field unset, numbers and booleans are also accepted as strings, an
//    unknown enum name leaves an optional field unset (proto2's rule) and
//    fails a required one, and a message missing a required field is
//    refused.
//
//   mesos::v1::scheduler::Call call;
//   if (auto read = v1::fromJson(nlohmann::json::parse(body), call); !read) ...read.error().message...
//   std::string text = v1::toJson(event).dump();
#pragma once

#include <string>
#include <string_view>

#include <google/protobuf/message.h>
#include <nlohmann/json.hpp>

#include "clusternodes/result.hpp"

namespace clusternodes::master::v1 {

nlohmann::ordered_json toJson(const google::protobuf::Message& message);

// Reads `json` (an object) into `message`, which is cleared first. Fails
// (kInvalid) with the field at fault named.
Result<void> fromJson(const nlohmann::json& json, google::protobuf::Message& message);

// Standard base64 with padding (RFC 4648 section 4).
std::string base64Encode(std::string_view bytes);
// Fails on anything but standard base64; padding may be left out.
Result<std::string> base64Decode(std::string_view text);

}  // namespace clusternodes::master::v1
