#include "common/zookeeper_server.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

namespace clusternodes {

namespace fs = std::filesystem;

std::string zooKeeperJar() {
  for (const char* path : {"/usr/share/java/zookeeper.jar", "/usr/share/zookeeper/zookeeper.jar"}) {
    if (fs::exists(path)) return path;
  }
  return "";
}

Result<std::vector<std::string>> prepareZooKeeperServer(const ZooKeeperServerConfig& config) {
  std::string jar = zooKeeperJar();
  if (jar.empty()) {
    return notFound("ZooKeeper is not installed (Debian's zookeeper package; scripts/setup.sh installs it)");
  }
  if (!fs::exists("/usr/bin/java")) return notFound("no Java runtime at /usr/bin/java (Debian's default-jre-headless)");
  std::error_code ec;
  fs::create_directories(config.dir + "/data", ec);
  if (ec) return internalError("cannot make " + config.dir + "/data: " + ec.message());
  std::ofstream cfg(config.dir + "/zoo.cfg", std::ios::trunc);
  cfg << "tickTime=" << config.tickMs << "\n"
      << "minSessionTimeout=" << 2 * config.tickMs << "\n"
      << "maxSessionTimeout=" << 120 * config.tickMs << "\n"
      << "initLimit=20\nsyncLimit=5\n"
      << "dataDir=" << config.dir << "/data\n"
      << "clientPort=" << config.clientPort << "\n"
      << "clientPortAddress=" << config.clientAddress << "\n"
      << "admin.enableServer=false\n"
      << "4lw.commands.whitelist=srvr,ruok\n"
      << "autopurge.purgeInterval=1\n";
  for (size_t i = 0; i < config.ensemble.size(); ++i) {
    cfg << "server." << i + 1 << "=" << config.ensemble[i] << "\n";
  }
  if (!config.ensemble.empty()) {
    // Peers listen on this server's own address only, as the ensemble names it.
    std::ofstream(config.dir + "/data/myid", std::ios::trunc) << config.id << "\n";
  }
  cfg.close();
  if (!cfg) return internalError("cannot write " + config.dir + "/zoo.cfg");
  return std::vector<std::string>{"/usr/bin/java",
                                  "-Xmx256m",
                                  "-XX:+UseSerialGC",
                                  "-XX:TieredStopAtLevel=1",
                                  "-Dzookeeper.log.dir=" + config.dir,
                                  "-cp",
                                  config.dir + ":" + jar,
                                  "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                                  config.dir + "/zoo.cfg"};
}

Result<std::string> zooKeeperServerMode(const std::string& host, int port, std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0 || found == nullptr) {
    return invalid("cannot resolve " + host);
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  std::string unavailable = "no ZooKeeper server answers at " + host + ":" + std::to_string(port);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left = [&] {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    return static_cast<int>(std::max<int64_t>(0, ms.count()));
  };
  int rc = ::connect(fd, found->ai_addr, found->ai_addrlen);
  ::freeaddrinfo(found);
  pollfd p{fd, POLLOUT, 0};
  if (rc != 0 && (errno != EINPROGRESS || ::poll(&p, 1, left()) != 1)) {
    ::close(fd);
    return Error{ErrorCode::kUnavailable, unavailable};
  }
  int soError = 0;
  socklen_t len = sizeof soError;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &len);
  if (soError != 0 || ::send(fd, "srvr", 4, MSG_NOSIGNAL) != 4) {
    ::close(fd);
    return Error{ErrorCode::kUnavailable, unavailable};
  }
  std::string reply;
  char buffer[4096];
  for (;;) {
    p = {fd, POLLIN, 0};
    if (::poll(&p, 1, left()) != 1) break;
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    reply.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  auto at = reply.find("Mode: ");
  if (at == std::string::npos) return Error{ErrorCode::kUnavailable, unavailable + " with service (no quorum?)"};
  auto end = reply.find('\n', at);
  return reply.substr(at + 6, end == std::string::npos ? std::string::npos : end - at - 6);
}

Result<std::string> waitForZooKeeperServer(const std::string& host, int port, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto mode = zooKeeperServerMode(host, port, std::chrono::seconds(1));
    if (mode || std::chrono::steady_clock::now() >= deadline) return mode;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace clusternodes
