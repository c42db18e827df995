#include "master/http/v1/json.hpp"

#include <cmath>
#include <cstdint>
#include <limits>

#include <google/protobuf/descriptor.h>
#include <openssl/evp.h>
#include <google/protobuf/descriptor.pb.h>

namespace clusternodes::master::v1 {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using Json = nlohmann::ordered_json;

// Messages may nest (ContainerID.parent): input deeper than this is refused
// rather than recursed into.
constexpr int kMaxDepth = 32;

int base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// A double as Mesos writes it: infinities as strings, NaN as null.
Json number(double value) {
  if (std::isnan(value)) return nullptr;
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  return value;
}

// One value of `field`: the singular value (index < 0) or the index'th.
Json value(const Message& m, const Reflection& r, const FieldDescriptor& f, int i) {
  bool one = i < 0;
  switch (f.cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: return one ? r.GetInt32(m, &f) : r.GetRepeatedInt32(m, &f, i);
    case FieldDescriptor::CPPTYPE_INT64: return one ? r.GetInt64(m, &f) : r.GetRepeatedInt64(m, &f, i);
    case FieldDescriptor::CPPTYPE_UINT32: return one ? r.GetUInt32(m, &f) : r.GetRepeatedUInt32(m, &f, i);
    case FieldDescriptor::CPPTYPE_UINT64: return one ? r.GetUInt64(m, &f) : r.GetRepeatedUInt64(m, &f, i);
    case FieldDescriptor::CPPTYPE_DOUBLE: return number(one ? r.GetDouble(m, &f) : r.GetRepeatedDouble(m, &f, i));
    case FieldDescriptor::CPPTYPE_FLOAT: return number(one ? r.GetFloat(m, &f) : r.GetRepeatedFloat(m, &f, i));
    case FieldDescriptor::CPPTYPE_BOOL: return one ? r.GetBool(m, &f) : r.GetRepeatedBool(m, &f, i);
    case FieldDescriptor::CPPTYPE_ENUM: {
      int number = one ? r.GetEnumValue(m, &f) : r.GetRepeatedEnumValue(m, &f, i);
      const auto* named = f.enum_type()->FindValueByNumber(number);
      if (named != nullptr) return named->name();
      return number;
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string text = one ? r.GetString(m, &f) : r.GetRepeatedString(m, &f, i);
      if (f.type() == FieldDescriptor::TYPE_BYTES) return base64Encode(text);
      return text;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: return toJson(one ? r.GetMessage(m, &f) : r.GetRepeatedMessage(m, &f, i));
  }
  return nullptr;
}

// A map entry's key as an object key.
std::string mapKey(const Message& entry) {
  const auto* key = entry.GetDescriptor()->FindFieldByNumber(1);
  Json k = value(entry, *entry.GetReflection(), *key, -1);
  return k.is_string() ? k.get<std::string>() : k.dump();
}

Error fieldError(const FieldDescriptor& f, const std::string& what) {
  return Error{ErrorCode::kInvalid, "field '" + f.full_name() + "': " + what};
}

// `json` as a number of the field's type, accepting a string of digits.
Result<Json> numeric(const FieldDescriptor& f, const nlohmann::json& json) {
  if (json.is_number()) return Json(json);
  if (json.is_string()) {
    const auto& text = json.get_ref<const std::string&>();
    if (text == "Infinity") return Json(std::numeric_limits<double>::infinity());
    if (text == "-Infinity") return Json(-std::numeric_limits<double>::infinity());
    auto parsed = nlohmann::json::parse(text, nullptr, false);
    if (parsed.is_number()) return Json(parsed);
  }
  return fieldError(f, "expected a number, got " + json.dump());
}

// Whether the number fits the integer type T (a double must be whole).
template <typename T>
Result<T> integer(const FieldDescriptor& f, const nlohmann::json& json) {
  auto n = numeric(f, json);
  if (!n) return n.error();
  const Json& v = *n;
  if (v.is_number_unsigned()) {
    auto u = v.get<uint64_t>();
    if (u <= static_cast<uint64_t>(std::numeric_limits<T>::max())) return static_cast<T>(u);
  } else if (v.is_number_integer()) {
    auto s = v.get<int64_t>();
    if (s >= 0 || std::numeric_limits<T>::is_signed) {
      if (s >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
          (s < 0 || static_cast<uint64_t>(s) <= static_cast<uint64_t>(std::numeric_limits<T>::max()))) {
        return static_cast<T>(s);
      }
    }
  } else {
    double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && d >= static_cast<double>(std::numeric_limits<T>::min()) &&
        d <= static_cast<double>(std::numeric_limits<T>::max())) {
      return static_cast<T>(d);
    }
  }
  return fieldError(f, json.dump() + " is out of range");
}

Result<void> readMessage(const nlohmann::json& json, Message& message, int depth);

// Sets (or adds to a repeated field) one value read from `json`.
Result<void> readValue(const nlohmann::json& json, Message& m, const FieldDescriptor& f, int depth) {
  const Reflection& r = *m.GetReflection();
  bool add = f.is_repeated();
  switch (f.cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: {
      auto v = integer<int32_t>(f, json);
      if (!v) return v.error();
      add ? r.AddInt32(&m, &f, *v) : r.SetInt32(&m, &f, *v);
      return {};
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      auto v = integer<int64_t>(f, json);
      if (!v) return v.error();
      add ? r.AddInt64(&m, &f, *v) : r.SetInt64(&m, &f, *v);
      return {};
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      auto v = integer<uint32_t>(f, json);
      if (!v) return v.error();
      add ? r.AddUInt32(&m, &f, *v) : r.SetUInt32(&m, &f, *v);
      return {};
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      auto v = integer<uint64_t>(f, json);
      if (!v) return v.error();
      add ? r.AddUInt64(&m, &f, *v) : r.SetUInt64(&m, &f, *v);
      return {};
    }
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: {
      auto v = numeric(f, json);
      if (!v) return v.error();
      double d = v->get<double>();
      if (f.cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
        add ? r.AddDouble(&m, &f, d) : r.SetDouble(&m, &f, d);
      } else {
        add ? r.AddFloat(&m, &f, static_cast<float>(d)) : r.SetFloat(&m, &f, static_cast<float>(d));
      }
      return {};
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      bool b;
      if (json.is_boolean()) {
        b = json.get<bool>();
      } else if (json == "true" || json == "false") {
        b = json == "true";
      } else {
        return fieldError(f, "expected a boolean, got " + json.dump());
      }
      add ? r.AddBool(&m, &f, b) : r.SetBool(&m, &f, b);
      return {};
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      if (!json.is_string()) return fieldError(f, "expected an enum name, got " + json.dump());
      const auto* named = f.enum_type()->FindValueByName(json.get_ref<const std::string&>());
      if (named == nullptr) {
        if (f.is_required()) return fieldError(f, "unknown value " + json.dump());
        return {};  // proto2: an unknown value leaves the field unset
      }
      add ? r.AddEnum(&m, &f, named) : r.SetEnum(&m, &f, named);
      return {};
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      if (!json.is_string()) return fieldError(f, "expected a string, got " + json.dump());
      std::string text = json.get<std::string>();
      if (f.type() == FieldDescriptor::TYPE_BYTES) {
        auto decoded = base64Decode(text);
        if (!decoded) return fieldError(f, "not base64: " + decoded.error().message);
        text = std::move(*decoded);
      }
      add ? r.AddString(&m, &f, std::move(text)) : r.SetString(&m, &f, std::move(text));
      return {};
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      if (!json.is_object()) return fieldError(f, "expected an object, got " + json.dump());
      Message* child = add ? r.AddMessage(&m, &f) : r.MutableMessage(&m, &f);
      return readMessage(json, *child, depth + 1);
    }
  }
  return fieldError(f, "unsupported field type");
}

// A map field from an object: each member is an entry (key = 1, value = 2).
Result<void> readMap(const nlohmann::json& json, Message& m, const FieldDescriptor& f, int depth) {
  if (!json.is_object()) return fieldError(f, "expected an object, got " + json.dump());
  for (const auto& [key, item] : json.items()) {
    Message* entry = m.GetReflection()->AddMessage(&m, &f);
    const auto* keyField = entry->GetDescriptor()->FindFieldByNumber(1);
    const auto* valueField = entry->GetDescriptor()->FindFieldByNumber(2);
    if (auto k = readValue(nlohmann::json(key), *entry, *keyField, depth); !k) return k;
    if (item.is_null()) continue;
    if (auto v = readValue(item, *entry, *valueField, depth); !v) return v;
  }
  return {};
}

Result<void> readMessage(const nlohmann::json& json, Message& message, int depth) {
  if (depth > kMaxDepth) return invalid("nested deeper than " + std::to_string(kMaxDepth) + " messages");
  const auto* descriptor = message.GetDescriptor();
  for (const auto& [name, item] : json.items()) {
    const FieldDescriptor* f = descriptor->FindFieldByName(name);
    if (f == nullptr || item.is_null()) continue;
    if (f->is_map()) {
      if (auto read = readMap(item, message, *f, depth); !read) return read;
    } else if (f->is_repeated()) {
      if (!item.is_array()) return fieldError(*f, "expected an array, got " + item.dump());
      for (const auto& element : item) {
        if (auto read = readValue(element, message, *f, depth); !read) return read;
      }
    } else if (auto read = readValue(item, message, *f, depth); !read) {
      return read;
    }
  }
  return {};
}

}  // namespace

Json toJson(const Message& message) {
  const auto* descriptor = message.GetDescriptor();
  const Reflection& r = *message.GetReflection();
  Json out = Json::object();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor& f = *descriptor->field(i);
    if (f.is_map()) {
      int size = r.FieldSize(message, &f);
      if (size == 0) continue;
      Json object = Json::object();
      for (int j = 0; j < size; ++j) {
        const Message& entry = r.GetRepeatedMessage(message, &f, j);
        const auto* valueField = entry.GetDescriptor()->FindFieldByNumber(2);
        object[mapKey(entry)] = value(entry, *entry.GetReflection(), *valueField, -1);
      }
      out[f.name()] = std::move(object);
    } else if (f.is_repeated()) {
      int size = r.FieldSize(message, &f);
      if (size == 0) continue;
      Json array = Json::array();
      for (int j = 0; j < size; ++j) array.push_back(value(message, r, f, j));
      out[f.name()] = std::move(array);
    } else if (r.HasField(message, &f) || (f.has_default_value() && !f.options().deprecated())) {
      out[f.name()] = value(message, r, f, -1);
    }
  }
  return out;
}

Result<void> fromJson(const nlohmann::json& json, Message& message) {
  message.Clear();
  if (!json.is_object()) return invalid("expected a JSON object");
  if (auto read = readMessage(json, message, 0); !read) return read;
  if (!message.IsInitialized()) return invalid("missing required fields: " + message.InitializationErrorString());
  return {};
}

std::string base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');  // with EVP_EncodeBlock's terminating NUL
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::string> base64Decode(std::string_view text) {
  for (int pad = 0; pad < 2 && !text.empty() && text.back() == '='; ++pad) text.remove_suffix(1);
  if (text.size() % 4 == 1) return invalid("a truncated base64 group");
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t n = 0;
  int bits = 0;
  for (char c : text) {
    int v = base64Value(c);
    if (v < 0) return invalid("'" + std::string(1, c) + "' is not a base64 character");
    n = (n << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((n >> bits) & 0xff));
    }
  }
  return out;
}

}  // namespace clusternodes::master::v1
