#include "tests/harness/zookeeper.hpp"

#include <stdexcept>

namespace clusternodes::testing {

namespace {

ZooKeeperServerConfig standalone(const std::string& dir) {
  ZooKeeperServerConfig config;
  config.dir = dir;
  config.clientPort = freePort();
  return config;
}

}  // namespace

ZooKeeperServer::ZooKeeperServer(const std::string& dir) : ZooKeeperServer(standalone(dir), true) {
  awaitServing();
}

ZooKeeperServer::ZooKeeperServer(ZooKeeperServerConfig config, bool startNow, std::vector<std::string> launcher)
    : config_(std::move(config)), launcher_(std::move(launcher)), logFile_(config_.dir + "/zookeeper.log") {
  if (startNow) start();
}

ZooKeeperServer::~ZooKeeperServer() { stop(); }

void ZooKeeperServer::start() {
  stop();
  auto argv = prepareZooKeeperServer(config_);
  if (!argv) throw std::runtime_error("cannot run ZooKeeper: " + argv.error().message);
  argv->insert(argv->begin(), launcher_.begin(), launcher_.end());
  process_ = std::make_unique<Process>(*argv, logFile_);
}

void ZooKeeperServer::awaitServing(std::chrono::milliseconds timeout) {
  auto mode = waitForZooKeeperServer(config_.clientAddress, config_.clientPort, timeout);
  if (!mode) throw std::runtime_error("ZooKeeper at " + connectString() + " does not serve: " + mode.error().message);
}

void ZooKeeperServer::stop(int signum) {
  if (!process_) return;
  process_->signalGroup(signum);
  process_->wait(std::chrono::seconds(10));
  process_.reset();
}

}  // namespace clusternodes::testing
