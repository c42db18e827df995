#include "common/curve.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <toml++/toml.h>
#include <zmq.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "common/file_system.hpp"

namespace clusternodes {
namespace {

std::string where(const std::string& path, const toml::source_region& source) {
  return path + ":" + std::to_string(source.begin.line);
}

Result<toml::table> parseFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return notFound("cannot read " + path + ": " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  try {
    return toml::parse(text.str(), path);
  } catch (const toml::parse_error& e) {
    return invalid(where(path, e.source()) + ": " + std::string(e.description()));
  }
}

}  // namespace

CurveKey generateCurveKey(const std::string& principal) {
  std::array<char, 41> publicKey{}, secretKey{};
  zmq_curve_keypair(publicKey.data(), secretKey.data());
  return {principal, publicKey.data(), secretKey.data()};
}

Result<void> checkZ85Key(std::string_view key) {
  if (key.size() != 40) {
    return invalid("a key is 40 characters of Z85 text, not " + std::to_string(key.size()));
  }
  std::array<uint8_t, 32> raw{};
  std::string text(key);
  if (zmq_z85_decode(raw.data(), text.c_str()) == nullptr) return invalid("'" + text + "' is not Z85 text");
  return {};
}

std::string z85Key(std::string_view raw) {
  if (raw.size() != 32) return {};
  std::array<char, 41> text{};
  zmq_z85_encode(text.data(), reinterpret_cast<const uint8_t*>(raw.data()), raw.size());
  return text.data();
}

Result<void> checkPrincipal(std::string_view principal) {
  if (principal.empty() || principal.size() > 128) return invalid("a principal is 1 to 128 characters");
  if (principal.front() == '.' || principal.front() == '-') {
    return invalid("principal '" + std::string(principal) + "' starts with '" + principal.front() + "'");
  }
  for (char c : principal) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-';
    if (!ok) {
      return invalid("principal '" + std::string(principal) + "' may hold only letters, digits, '.', '_' and '-'");
    }
  }
  return {};
}

Result<void> writeCurveKey(const CurveKey& key, const std::string& dir, bool overwrite) {
  if (auto valid = checkPrincipal(key.principal); !valid) return valid;
  return writeCurveKeyFiles(key, dir + "/" + key.principal, overwrite);
}

Result<void> writeCurveKeyFiles(const CurveKey& key, const std::string& base, bool overwrite) {
  if (auto valid = checkPrincipal(key.principal); !valid) return valid;
  if (!overwrite) {
    for (const char* suffix : {".key", ".pub"}) {
      if (::access((base + suffix).c_str(), F_OK) == 0) {
        return Error{ErrorCode::kConflict, base + suffix + " exists already (replace it with --force)"};
      }
    }
  }
  std::string publicText = "principal = \"" + key.principal + "\"\npublic-key = \"" + key.publicKey + "\"\n";
  std::string secretText = "# The CURVE key pair of \"" + key.principal +
                           "\". Keep it secret: give others " + base.substr(base.rfind('/') + 1) + ".pub.\n" +
                           publicText +
                           "secret-key = \"" + key.secretKey + "\"\n";
  if (auto written = writeFileDurably(base + ".key", secretText, 0600); !written) return written;
  return writeFileDurably(base + ".pub", "# The public CURVE key of \"" + key.principal + "\".\n" + publicText, 0644);
}

Result<bool> ensureCurveKeyFiles(const std::string& base, const std::string& principal) {
  if (::access((base + ".key").c_str(), F_OK) == 0) return false;
  if (auto written = writeCurveKeyFiles(generateCurveKey(principal), base, /*overwrite=*/true); !written) {
    return written.error();
  }
  return true;
}

std::string principalFromHostname(std::string_view hostname) {
  std::string out;
  for (char c : hostname) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-';
    out.push_back(ok ? c : '-');
  }
  size_t start = out.find_first_not_of(".-");
  out = start == std::string::npos ? std::string() : out.substr(start, 128);
  return out.empty() ? std::string("host") : out;
}

Result<CurveKey> readCurveKey(const std::string& path, bool secret) {
  auto table = parseFile(path);
  if (!table) return table.error();
  CurveKey key;
  key.principal = (*table)["principal"].value_or(std::string());
  key.publicKey = (*table)["public-key"].value_or(std::string());
  key.secretKey = (*table)["secret-key"].value_or(std::string());
  if (auto valid = checkPrincipal(key.principal); !valid) return invalid(path + ": " + valid.error().message);
  if (auto valid = checkZ85Key(key.publicKey); !valid) return invalid(path + ": public-key: " + valid.error().message);
  if (!secret) {
    key.secretKey.clear();
    return key;
  }
  if (key.secretKey.empty()) return invalid(path + " holds no secret-key: give the .key file, not the .pub");
  if (auto valid = checkZ85Key(key.secretKey); !valid) return invalid(path + ": secret-key: " + valid.error().message);
  std::array<char, 41> derived{};
  if (zmq_curve_public(derived.data(), key.secretKey.c_str()) != 0 || key.publicKey != derived.data()) {
    return invalid(path + ": the public-key is not the secret-key's");
  }
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0 && (info.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", info.st_mode & 07777);
    return Error{ErrorCode::kDenied, path + " holds a secret key but others may read it (mode " + mode +
                                         "); chmod 600 it"};
  }
  return key;
}

Result<CurveClientKeys> readCurveClientKeys(const std::string& keyFile, const std::string& keyName,
                                            const std::string& serverKeyFile, const std::string& serverKeyName) {
  auto own = readCurveKey(keyFile, true);
  if (!own) return Error{own.error().code, keyName + ": " + own.error().message};
  auto server = readCurveKey(serverKeyFile, false);
  if (!server) return Error{server.error().code, serverKeyName + ": " + server.error().message};
  return CurveClientKeys{std::move(*own), std::move(server->publicKey)};
}

const char* peerKindName(PeerKind kind) { return kind == PeerKind::kAgent ? "agent" : "framework"; }

const Credentials::Principal* Credentials::find(const std::string& publicKey) const {
  auto it = byKey.find(publicKey);
  return it == byKey.end() ? nullptr : &it->second;
}

const Credentials::Principal* Credentials::named(std::string_view name) const {
  for (const auto& [key, principal] : byKey) {
    if (principal.name == name) return &principal;
  }
  return nullptr;
}

Result<Credentials> readCredentials(const std::string& path) {
  auto table = parseFile(path);
  if (!table) return table.error();
  Credentials credentials;
  std::map<std::string, std::string> seen;  // principal -> where
  for (const auto& [section, node] : *table) {
    std::string name(section.str());
    std::string at = where(path, section.source());
    PeerKind kind;
    if (name == "agents") {
      kind = PeerKind::kAgent;
    } else if (name == "frameworks") {
      kind = PeerKind::kFramework;
    } else {
      return invalid(at + ": '" + name + "': a credentials file has the tables [agents] and [frameworks]");
    }
    const auto* entries = node.as_table();
    if (entries == nullptr) return invalid(at + ": '" + name + "' is a table of principal = \"public key\"");
    for (const auto& [principalKey, value] : *entries) {
      std::string principal(principalKey.str());
      std::string line = where(path, principalKey.source());
      if (auto valid = checkPrincipal(principal); !valid) return invalid(line + ": " + valid.error().message);
      auto key = value.value<std::string>();
      if (!key) return invalid(line + ": " + principal + ": the value is the principal's public key, in quotes");
      if (auto valid = checkZ85Key(*key); !valid) return invalid(line + ": " + principal + ": " + valid.error().message);
      if (auto before = seen.find(principal); before != seen.end()) {
        return invalid(line + ": principal '" + principal + "' is named already at " + before->second);
      }
      if (auto other = credentials.byKey.find(*key); other != credentials.byKey.end()) {
        return invalid(line + ": " + principal + "'s key is " + other->second.name + "'s already");
      }
      seen.emplace(principal, line);
      credentials.byKey.emplace(*key, Credentials::Principal{principal, kind});
    }
  }
  return credentials;
}

Result<void> addCredential(const std::string& path, PeerKind kind, const CurveKey& key) {
  if (auto valid = checkPrincipal(key.principal); !valid) return valid;
  if (auto valid = checkZ85Key(key.publicKey); !valid) return valid;
  std::string text;
  if (::access(path.c_str(), F_OK) == 0) {
    auto existing = readCredentials(path);
    if (!existing) return existing.error();
    if (const auto* named = existing->named(key.principal)) {
      return Error{ErrorCode::kConflict, path + " names " + peerKindName(named->kind) + " '" + key.principal +
                                             "' already"};
    }
    if (const auto* owner = existing->find(key.publicKey)) {
      return Error{ErrorCode::kConflict, path + ": the key is " + owner->name + "'s already"};
    }
    std::ifstream in(path);
    std::stringstream read;
    read << in.rdbuf();
    text = read.str();
  } else {
    text = "# Whom the master admits (--credentials): principal = \"public key\", agents and frameworks apart.\n";
  }
  std::string header = kind == PeerKind::kAgent ? "[agents]" : "[frameworks]";
  std::string entry = key.principal + " = \"" + key.publicKey + "\"\n";
  // Into the end of its table when the file has one, else a new table.
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  auto isHeader = [](const std::string& line) {
    size_t first = line.find_first_not_of(" \t");
    return first != std::string::npos && line[first] == '[';
  };
  size_t table = lines.size();
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].find_first_not_of(" \t") != std::string::npos &&
        lines[i].substr(lines[i].find_first_not_of(" \t"), header.size()) == header) {
      table = i;
      break;
    }
  }
  std::string out;
  if (table == lines.size()) {
    out = text;
    if (!out.empty() && out.back() != '\n') out += '\n';
    out += "\n" + header + "\n" + entry;
  } else {
    size_t end = table + 1;
    while (end < lines.size() && !isHeader(lines[end])) ++end;
    size_t insertAt = end;  // after the table's last non-blank line
    while (insertAt > table + 1 && lines[insertAt - 1].find_first_not_of(" \t") == std::string::npos) --insertAt;
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i == insertAt) out += entry;
      out += lines[i] + "\n";
    }
    if (insertAt == lines.size()) out += entry;
  }
  return writeFileDurably(path, out, 0644);
}

}  // namespace clusternodes
