// Certificates for the TLS tests, made with the openssl command exactly as
// docs/security.md tells an operator to: a certificate authority, and a
// server certificate it signs for the addresses a test serves on.
#pragma once

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace clusternodes::testing {

struct TlsFiles {
  std::string caCert;  // PEM: what clients trust (CLUSTERNODES_CA, --tls-ca)
  std::string cert;    // PEM: the server's certificate (--tls-cert)
  std::string key;     // PEM: its private key (--tls-key)
};

namespace detail {
inline void openssl(const std::string& arguments) {
  std::string command = "openssl " + arguments + " >/dev/null 2>&1";
  if (std::system(command.c_str()) != 0) throw std::runtime_error("failed: " + command);
}
}  // namespace detail

// A new CA in `dir` (ca.crt, ca.key), made once per directory.
inline std::string makeTlsCa(const std::string& dir) {
  detail::openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -days 30 -subj '/CN=Test CA' -keyout '" +
                  dir + "/ca.key' -out '" + dir + "/ca.crt'");
  return dir + "/ca.crt";
}

// A certificate for `ips` signed by the CA in `dir` (makeTlsCa first):
// DIR/NAME.crt and DIR/NAME.key.
inline TlsFiles makeTlsFiles(const std::string& dir, const std::string& name = "server",
                             const std::vector<std::string>& ips = {"127.0.0.1"}) {
  std::string names;
  for (const auto& ip : ips) names += (names.empty() ? "IP:" : ",IP:") + ip;
  std::string base = dir + "/" + name;
  detail::openssl("req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -subj '/CN=" + name +
                  "' -addext 'subjectAltName=" + names + "' -keyout '" + base + ".key' -out '" + base + ".csr'");
  detail::openssl("x509 -req -in '" + base + ".csr' -CA '" + dir + "/ca.crt' -CAkey '" + dir +
                  "/ca.key' -CAcreateserial -copy_extensions copy -days 30 -out '" + base + ".crt'");
  return TlsFiles{dir + "/ca.crt", base + ".crt", base + ".key"};
}

}  // namespace clusternodes::testing
