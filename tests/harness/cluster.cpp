#include "tests/harness/cluster.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "agent/docker/client.hpp"
#include "common/http_client.hpp"

extern char** environ;

namespace clusternodes::testing {

namespace fs = std::filesystem;

std::string binary(const std::string& name) { return std::string(CN_BIN_DIR) + "/" + name; }

namespace {

// Whether a TCP socket can bind 127.0.0.1:port now.
bool bindable(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// The lowest port the kernel hands out by itself (ip_local_port_range).
int ephemeralLow() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 0;
  in >> low;
  return low > 12000 ? low : 32768;
}

// Locks the port's file for this process's life; false when another holds it.
bool lockPort(int port, std::vector<int>& fds) {
  std::string path = "/tmp/cn-test-ports/" + std::to_string(port);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) return false;
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return false;
  }
  fds.push_back(fd);
  return true;
}

}  // namespace

int freePorts(int count) {
  static std::mutex mutex;
  static std::mt19937 random{std::random_device{}()};
  std::lock_guard<std::mutex> lock(mutex);
  ::mkdir("/tmp/cn-test-ports", 01777);
  ::chmod("/tmp/cn-test-ports", 01777);
  const int low = 10000;
  const int high = ephemeralLow();  // exclusive
  for (int attempt = 0; attempt < 10000; ++attempt) {
    int first = low + static_cast<int>(random() % static_cast<unsigned>(high - low - count));
    std::vector<int> fds;
    bool ok = true;
    for (int port = first; ok && port < first + count; ++port) ok = lockPort(port, fds) && bindable(port);
    if (ok) return first;  // the locks stay held (their descriptors open) until exit
    for (int fd : fds) ::close(fd);
  }
  throw std::runtime_error("no free block of " + std::to_string(count) + " ports below " + std::to_string(high));
}

int freePort() { return freePorts(1); }

std::string portsResource(int count) {
  int first = freePorts(count);
  return "ports:[" + std::to_string(first) + "-" + std::to_string(first + count - 1) + "]";
}

namespace {

pid_t spawnInGroup(const std::vector<std::string>& argv, const std::string& logFile) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, logFile.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
  return pid;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

Process::Process(std::vector<std::string> argv, const std::string& logFile) : logFile_(logFile) {
  pid_ = spawnInGroup(argv, logFile);
}

Process::~Process() {
  if (!reaped_ && pid_ > 0) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

bool Process::alive() {
  if (reaped_) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    return false;
  }
  return true;
}

void Process::signal(int signum) {
  if (!reaped_) ::kill(pid_, signum);
}

void Process::signalGroup(int signum) {
  if (!reaped_) ::kill(-pid_, signum);
}

int Process::wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!reaped_) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      return status;
    }
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return 0;
}

ProgramResult runProgram(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  char path[] = "/tmp/cn-run-XXXXXX";
  int fd = ::mkstemp(path);
  ::close(fd);
  ProgramResult result;
  {
    Process process(argv, path);
    int status = process.wait(timeout);
    if (status >= 0 && WIFEXITED(status)) result.exitCode = WEXITSTATUS(status);
  }
  result.output = readFile(path);
  ::unlink(path);
  return result;
}

bool eventually(const std::function<bool()>& predicate, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (predicate()) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::vector<pid_t> processesMatching(const std::string& needle, bool exact, const std::string& cwdUnder) {
  std::vector<pid_t> out;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const auto name = entry.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    if (!cwdUnder.empty()) {
      std::error_code ec;
      auto cwd = fs::read_symlink(entry.path() / "cwd", ec).string();
      if (ec || cwd.rfind(cwdUnder + "/", 0) != 0) continue;
    }
    std::string cmdline = readFile(entry.path().string() + "/cmdline");
    while (!cmdline.empty() && cmdline.back() == '\0') cmdline.pop_back();
    for (auto& c : cmdline) {
      if (c == '\0') c = ' ';
    }
    pid_t pid = std::stoi(name);
    bool match = exact ? cmdline == needle : cmdline.find(needle) != std::string::npos;
    if (pid != getpid() && match) out.push_back(pid);
  }
  return out;
}

namespace {

// The mount points of the host's cgroup hierarchies (v1 and v2).
std::vector<std::string> cgroupMountPoints() {
  std::vector<std::string> out;
  std::ifstream mountinfo("/proc/self/mountinfo");
  for (std::string line; std::getline(mountinfo, line);) {
    // ID PARENT MAJ:MIN ROOT MOUNT-POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
    std::istringstream fields(line);
    std::string id, parent, device, root, mountPoint;
    fields >> id >> parent >> device >> root >> mountPoint;
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string type;
    tail >> type;
    if (type == "cgroup" || type == "cgroup2") out.push_back(mountPoint);
  }
  return out;
}

// Removes the cgroups `<mount>/<prefix>*` and the containers under them once
// their processes are gone (they were killed just before).
void removeCgroupRoots(const std::string& prefix) {
  for (const auto& mount : cgroupMountPoints()) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(mount, ec)) {
      if (!entry.is_directory(ec) || entry.path().filename().string().rfind(prefix, 0) != 0) continue;
      eventually(
          [&] {
            bool empty = true;
            for (const auto& child : fs::directory_iterator(entry.path(), ec)) {
              if (child.is_directory(ec) && ::rmdir(child.path().c_str()) != 0) empty = false;
            }
            return empty && ::rmdir(entry.path().c_str()) == 0;
          },
          std::chrono::seconds(5));
    }
  }
}

}  // namespace

// ------------------------------------------------------------ cluster

namespace {

// Whether process `pid` runs (a zombie, killed and not yet reaped, does not).
bool ownerRuns(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::string stat = readFile("/proc/" + std::to_string(pid) + "/stat");
  auto paren = stat.rfind(") ");
  return paren == std::string::npos || stat.compare(paren + 2, 1, "Z") != 0;
}

// The processes a test left running when it crashed (an abort, a sanitizer
// report), which no destructor ended: those working in, or started with
// flags naming, a cluster directory whose owner (the test process that
// made it, in DIR/owner) is gone. Ended once per test process, so that a
// crash does not load the machine for the rest of the suite.
void endAbandonedClusters() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/tmp", ec)) {
      std::string dir = entry.path().string();
      if (dir.rfind("/tmp/cn-test-", 0) != 0) continue;
      std::string owner = readFile(dir + "/owner");
      if (owner.empty()) continue;
      pid_t pid = static_cast<pid_t>(std::atol(owner.c_str()));
      if (pid <= 0 || ownerRuns(pid)) continue;
      auto left = processesMatching(dir + "/");
      for (pid_t p : processesMatching("", false, dir)) left.push_back(p);
      for (pid_t p : left) ::kill(p, SIGKILL);
      if (!left.empty()) std::fprintf(stderr, "ended %zu processes a crashed test left in %s\n", left.size(), dir.c_str());
      ::unlink((dir + "/owner").c_str());
    }
  });
}

}  // namespace

TestCluster::TestCluster() {
  endAbandonedClusters();
  char path[] = "/tmp/cn-test-XXXXXX";
  if (::mkdtemp(path) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = path;
  std::ofstream(dir_ + "/owner") << ::getpid() << "\n";
}

TestCluster::~TestCluster() {
  // The agents' Docker containers outlive them; their ids find them below.
  std::vector<std::string> agentIds;
  for (size_t i = 0; i < agents_.size(); ++i) {
    if (agents_[i].process == nullptr || !agents_[i].process->alive()) continue;
    auto r = httpGet(agentHttp(i) + "/state", 1);
    auto s = r && r->status == 200 ? nlohmann::json::parse(r->body, nullptr, false) : nlohmann::json();
    if (s.is_object() && s.value("id", "") != "") agentIds.push_back(s["id"].get<std::string>());
  }
  for (auto& a : agents_) a.process.reset();
  master_.reset();
  if (!agentIds.empty()) {
    docker::Client docker;
    if (docker.ping().ok()) {
      for (const auto& id : agentIds) {
        auto listed = docker.list({{"clusternodes.agent-id", id}});
        if (!listed) continue;
        for (const auto& container : *listed) (void)docker.remove(container.id);
      }
    }
  }
  // Executors and tasks run in their own sessions inside the directory.
  for (int round = 0; round < 3; ++round) {
    bool any = false;
    for (const auto& entry : fs::directory_iterator("/proc")) {
      const auto name = entry.path().filename().string();
      if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
      std::error_code ec;
      auto cwd = fs::read_symlink(entry.path() / "cwd", ec).string();
      if (ec || cwd.rfind(dir_, 0) != 0) continue;
      pid_t pid = std::stoi(name);
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      any = true;
    }
    if (!any) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  removeCgroupRoots(cgroupsRootPrefix());
  std::error_code ec;
  if (std::getenv("CN_KEEP_TEST_DIRS") == nullptr) fs::remove_all(dir_, ec);
}

std::string TestCluster::cgroupsRootPrefix() const { return fs::path(dir_).filename().string() + "-agent-"; }

namespace {

// `defaults` without those that `flags` sets too ("--name=..."), then
// `flags`: a test's flag replaces the harness's default.
std::vector<std::string> overriding(const std::vector<std::string>& defaults, const std::vector<std::string>& flags) {
  std::vector<std::string> out;
  auto name = [](const std::string& flag) { return flag.substr(0, flag.find('=')); };
  for (const auto& d : defaults) {
    bool replaced = std::any_of(flags.begin(), flags.end(), [&](const std::string& f) { return name(f) == name(d); });
    if (!replaced) out.push_back(d);
  }
  out.insert(out.end(), flags.begin(), flags.end());
  return out;
}

}  // namespace

void TestCluster::startMaster(const std::vector<std::string>& flags) {
  if (masterPort_ == 0) {
    masterPort_ = freePort();
    masterHttpPort_ = freePort();
    masterFlags_ = flags;
  }
  std::vector<std::string> argv = overriding({binary("clusternodes-master"),
                                              "--ip=127.0.0.1",
                                              "--port=" + std::to_string(masterPort_),
                                              "--http-port=" + std::to_string(masterHttpPort_),
                                              "--work-dir=" + dir_ + "/master",
                                              "--agent-ping-timeout=500ms",
                                              "--max-agent-ping-timeouts=4",
                                              "--framework-heartbeat-interval=500ms"},
                                             masterFlags_);
  master_ = std::make_unique<Process>(argv, dir_ + "/master.log");
  bool up = eventually([&] { return httpGet(masterHttp() + "/health", 1).ok(); }, std::chrono::seconds(20));
  if (!up) throw std::runtime_error("the master did not come up; see " + dir_ + "/master.log");
}

void TestCluster::stopMaster(int signum) {
  master_->signal(signum);
  master_->wait(std::chrono::seconds(10));
  master_.reset();
}

// $CN_TEST_AGENT_FLAGS (space-separated, e.g. "--native-launcher=shared")
// before the test's own flags: the same tests run on another agent
// configuration.
static std::vector<std::string> extraAgentFlags(const std::vector<std::string>& flags) {
  std::vector<std::string> out;
  if (const char* extra = std::getenv("CN_TEST_AGENT_FLAGS"); extra != nullptr) {
    std::istringstream in(extra);
    for (std::string flag; in >> flag;) out.push_back(flag);
  }
  out.insert(out.end(), flags.begin(), flags.end());
  return out;
}

size_t TestCluster::startAgent(const std::string& resources, const std::vector<std::string>& flags,
                               const std::vector<std::string>& launcher) {
  size_t index = agents_.size();
  AgentProcess a;
  a.port = freePort();
  a.httpPort = freePort();
  a.argv = overriding({binary("clusternodes-agent"),
                       "--master=" + master(),
                       "--ip=127.0.0.1",
                       "--port=" + std::to_string(a.port),
                       "--http-port=" + std::to_string(a.httpPort),
                       "--work-dir=" + dir_ + "/agent-" + std::to_string(index),
                       "--resources=" + resources,
                       "--registration-backoff=100ms",
                       "--status-update-retry-interval=200ms",
                       "--recovery-timeout=2s",
                       // Its containers' cgroups apart from every other
                       // agent's, of this test or any other running now.
                       "--cgroups-root=" + cgroupsRootPrefix() + std::to_string(index)},
                      extraAgentFlags(flags));
  a.argv.insert(a.argv.begin(), launcher.begin(), launcher.end());
  a.process = std::make_unique<Process>(a.argv, dir_ + "/agent-" + std::to_string(index) + ".log");
  agents_.push_back(std::move(a));
  return index;
}

void TestCluster::restartAgent(size_t index, const std::vector<std::string>& flags) {
  auto& a = agents_.at(index);
  a.process.reset();  // SIGKILLs it if it still runs; its executors live on
  ++a.restarts;
  if (!flags.empty()) a.argv = overriding(a.argv, flags);
  a.process = std::make_unique<Process>(
      a.argv, dir_ + "/agent-" + std::to_string(index) + ".restart-" + std::to_string(a.restarts) + ".log");
}

std::string TestCluster::agentIp(size_t index) const {
  for (const auto& arg : agents_.at(index).argv) {
    if (arg.rfind("--ip=", 0) == 0) return arg.substr(5);
  }
  return "127.0.0.1";
}

namespace {
bool servesTls(const std::vector<std::string>& argv) {
  for (const auto& arg : argv) {
    if (arg.rfind("--tls-cert=", 0) == 0) return true;
  }
  return false;
}
}  // namespace

std::string TestCluster::masterHttp() const {
  return (servesTls(masterFlags_) ? "https://" : "http://") + std::string("127.0.0.1:") +
         std::to_string(masterHttpPort_);
}

std::string TestCluster::agentHttp(size_t index) const {
  return (servesTls(agents_.at(index).argv) ? "https://" : "http://") + agentIp(index) + ":" +
         std::to_string(agents_.at(index).httpPort);
}

std::string TestCluster::masterGet(const std::string& path) const {
  auto r = httpGet(masterHttp() + path, 5);
  return r && r->status == 200 ? r->body : std::string();
}

nlohmann::json TestCluster::state() const {
  auto body = masterGet("/state");
  if (body.empty()) return nullptr;
  return nlohmann::json::parse(body, nullptr, false);
}

nlohmann::json TestCluster::agentState(size_t index) const {
  auto r = httpGet(agentHttp(index) + "/state", 5);
  if (!r || r->status != 200) return nullptr;
  return nlohmann::json::parse(r->body, nullptr, false);
}

void TestCluster::waitForAgents(size_t count) {
  bool ok = eventually([&] {
    auto s = state();
    if (!s.is_object()) return false;
    size_t active = 0;  // admitted (on the master's disk) and reachable
    for (const auto& a : s["agents"]) active += a.value("active", false) ? 1 : 0;
    return active >= count;
  });
  if (!ok) throw std::runtime_error("agents did not register; see logs in " + dir_);
}

}  // namespace clusternodes::testing
