// Fuzz target: the TOML files the daemons read: a config file of flags
// (common/config_file.hpp), the master's ACL file (master/acls.hpp), its
// credentials file and a CURVE key file (common/curve.hpp), and an HTTP
// tokens file (common/http_auth.hpp).
//
// An input is one byte that picks the kind of file, modulo 5 (config, ACLs,
// credentials, key, tokens), then the file's bytes, read from a memfd
// through /proc/self/fd as the daemons read a path.
//
// Beyond "no crash": each value a config file gives must survive being
// written back the way `clusternodes configure` writes one (tomlValue(),
// then read again: the same value); a duration's text is parsed as the
// flags parse it; and the ACL rules read are consulted for the principals
// and objects they name.
//
// toml++ 3.3.0 has undefined behaviour of its own on some non-ASCII input;
// the fuzz build leaves its headers uninstrumented for UBSan
// (fuzz/ubsan-ignorelist.txt), so that only ours stops a run.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/config_file.hpp"
#include "common/curve.hpp"
#include "common/flags.hpp"
#include "common/http_auth.hpp"
#include "fuzz/harness/daemon.hpp"
#include "master/acls.hpp"

using namespace clusternodes;

namespace {

// A file in memory, named by a path the readers open.
class MemoryFile {
 public:
  MemoryFile() : fd_(::memfd_create("cn-fuzz", MFD_CLOEXEC)) {
    if (fd_ < 0) std::abort();
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  const std::string& write(std::string_view bytes) {
    if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size())) {
      std::abort();
    }
    return path_;
  }

 private:
  int fd_;
  std::string path_;
};

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "%s\n", what.c_str());
  std::abort();
}

void configFile(MemoryFile& file, std::string_view bytes) {
  auto entries = readConfigFile(file.write(bytes));
  if (!entries) return;
  for (const auto& entry : *entries) {
    (void)parseDuration(entry.value);
    auto written = readConfigFile(file.write("key = " + tomlValue(entry.value) + "\n"));
    if (!written || written->size() != 1 || written->front().value != entry.value) {
      fail("the value '" + entry.value + "' of " + entry.key + " does not read back from " + tomlValue(entry.value) +
           (written ? "" : ": " + written.error().message));
    }
  }
}

void aclFile(std::string_view bytes) {
  auto acls = master::Acls::parse(std::string(bytes), "fuzz.toml");
  if (!acls) return;
  for (const auto& rule : acls->rules()) {
    for (const auto& principal : rule.principals) {
      for (const auto& object : rule.objects) (void)acls->authorize(rule.action, principal, object);
      (void)acls->check(rule.action, principal, "root");
    }
    (void)acls->check(rule.action, "", "");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool quiet = (fuzzing::quietLogs(), true);
  (void)quiet;
  static MemoryFile file;
  if (size == 0) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0: configFile(file, rest); break;
    case 1: aclFile(rest); break;
    case 2: (void)readCredentials(file.write(rest)); break;
    case 3: {
      const auto& path = file.write(rest);
      (void)readCurveKey(path, false);
      (void)readCurveKey(path, true);
      break;
    }
    case 4:
      if (auto tokens = HttpTokens::load(file.write(rest))) (void)tokens->principalOf("ops");
      break;
  }
  return 0;
}
