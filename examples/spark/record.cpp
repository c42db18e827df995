#include "spark/record.hpp"

#include <utility>

namespace clusternodes::spark {

namespace {

void appendVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

bool readVarint(std::string_view in, size_t& pos, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos >= in.size()) return false;
    auto byte = static_cast<unsigned char>(in[pos++]);
    v |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

template <typename Out>
bool decodeInto(std::string_view run, Out&& add) {
  size_t pos = 0;
  while (pos < run.size()) {
    uint64_t k = 0;
    uint64_t v = 0;
    if (!readVarint(run, pos, k) || !readVarint(run, pos, v)) return false;
    if (k > run.size() - pos || v > run.size() - pos - k) return false;
    add(run.substr(pos, k), run.substr(pos + k, v));
    pos += k + v;
  }
  return true;
}

}  // namespace

void appendRecord(std::string& run, std::string_view key, std::string_view value) {
  appendVarint(run, key.size());
  appendVarint(run, value.size());
  run.append(key);
  run.append(value);
}

std::string encodeRun(const std::vector<Record>& records) {
  std::string run;
  size_t size = 0;
  for (const auto& r : records) size += r.key.size() + r.value.size() + 2;
  run.reserve(size);
  for (const auto& r : records) appendRecord(run, r);
  return run;
}

bool decodeRun(std::string_view run, std::vector<RecordView>& out) {
  return decodeInto(run, [&out](std::string_view k, std::string_view v) { out.push_back({k, v}); });
}

bool decodeRun(std::string_view run, std::vector<Record>& out) {
  return decodeInto(run, [&out](std::string_view k, std::string_view v) {
    out.push_back({std::string(k), std::string(v)});
  });
}


namespace {
constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t n = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                 static_cast<unsigned char>(bytes[i + 2]);
    out.push_back(kBase64[(n >> 18) & 63]);
    out.push_back(kBase64[(n >> 12) & 63]);
    out.push_back(kBase64[(n >> 6) & 63]);
    out.push_back(kBase64[n & 63]);
  }
  size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
    if (rest == 2) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out.push_back(kBase64[(n >> 18) & 63]);
    out.push_back(kBase64[(n >> 12) & 63]);
    out.push_back(rest == 2 ? kBase64[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

bool base64Decode(std::string_view text, std::string& out) {
  out.clear();
  if (text.size() % 4 != 0) return false;
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    int pad = 0;
    uint32_t n = 0;
    for (size_t j = 0; j < 4; ++j) {
      char c = text[i + j];
      if (c == '=') {
        if (i + 4 != text.size() || j < 2) return false;
        ++pad;
        n <<= 6;
        continue;
      }
      if (pad > 0) return false;
      int v = value(c);
      if (v < 0) return false;
      n = (n << 6) | static_cast<uint32_t>(v);
    }
    out.push_back(static_cast<char>((n >> 16) & 0xff));
    if (pad < 2) out.push_back(static_cast<char>((n >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(n & 0xff));
  }
  return true;
}

}  // namespace clusternodes::spark
