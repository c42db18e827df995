#include "common/fingerprint.hpp"

#include <openssl/evp.h>
#include <zmq.h>

#include <array>
#include <cstdint>

namespace clusternodes {

std::string keyFingerprint(std::string_view z85PublicKey) {
  std::array<uint8_t, 32> raw{};
  std::string text(z85PublicKey);
  if (text.size() != 40 || zmq_z85_decode(raw.data(), text.c_str()) == nullptr) return "SHA256:?";
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(raw.data(), raw.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) return "SHA256:?";
  std::array<unsigned char, 4 * EVP_MAX_MD_SIZE / 3 + 4> encoded{};
  int n = EVP_EncodeBlock(encoded.data(), digest.data(), static_cast<int>(length));
  std::string out(reinterpret_cast<const char*>(encoded.data()), static_cast<size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  return "SHA256:" + out;
}

std::string hexText(std::string_view bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

}  // namespace clusternodes
