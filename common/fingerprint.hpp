// Short names for CURVE public keys in logs and in `clusternodes keys`, and
// digests as text.
#pragma once

#include <string>
#include <string_view>

namespace clusternodes {

// "SHA256:" and the unpadded base64 of the SHA-256 of the raw 32-byte key
// (as ssh-keygen names keys); "SHA256:?" for text that is not a Z85 key.
std::string keyFingerprint(std::string_view z85PublicKey);

// Bytes as lower-case hex digits (token hashes, signatures).
std::string hexText(std::string_view bytes);

}  // namespace clusternodes
