#include "tests/harness/browser.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace clusternodes::testing {
namespace {

namespace fs = std::filesystem;

constexpr auto kCallTimeout = std::chrono::seconds(30);

// A copy of `fd` numbered 10 or more (closing `fd`), so that placing it at
// the child's fd 3 or 4 is always a real dup2 that drops close-on-exec.
int highFd(int fd) {
  int high = ::fcntl(fd, F_DUPFD_CLOEXEC, 10);
  ::close(fd);
  if (high < 0) throw std::runtime_error(std::string("fcntl: ") + std::strerror(errno));
  return high;
}

std::string base64Decode(const std::string& in) {
  static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t bits = 0;
  int count = 0;
  for (char c : in) {
    if (c == '=') break;
    auto value = alphabet.find(c);
    if (value == std::string::npos) continue;  // line breaks
    bits = (bits << 6) | static_cast<uint32_t>(value);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xff));
    }
  }
  return out;
}

// Kills every process working inside `dir`: what Chromium started and left
// outside its process group.
void killProcessesIn(const std::string& dir) {
  for (int round = 0; round < 3; ++round) {
    bool any = false;
    for (const auto& entry : fs::directory_iterator("/proc")) {
      const auto name = entry.path().filename().string();
      if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
      std::error_code ec;
      auto cwd = fs::read_symlink(entry.path() / "cwd", ec).string();
      if (ec || cwd.rfind(dir, 0) != 0) continue;
      ::kill(std::stoi(name), SIGKILL);
      any = true;
    }
    if (!any) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace

std::string Browser::trustFlag(const std::vector<std::string>& certs) {
  std::string hashes;
  for (const auto& cert : certs) {
    std::string command = "openssl x509 -in '" + cert + "' -pubkey -noout | openssl pkey -pubin -outform der | "
                          "openssl dgst -sha256 -binary | base64";
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) throw std::runtime_error("cannot run: " + command);
    char line[256] = {0};
    bool read = std::fgets(line, sizeof line, pipe) != nullptr;
    if (::pclose(pipe) != 0 || !read) throw std::runtime_error("failed: " + command);
    std::string hash(line);
    while (!hash.empty() && (hash.back() == '\n' || hash.back() == '\r')) hash.pop_back();
    hashes += (hashes.empty() ? "" : ",") + hash;
  }
  return "--ignore-certificate-errors-spki-list=" + hashes;
}

Browser::Browser(const std::string& dir, int width, int height, const std::vector<std::string>& flags)
    : dir_(fs::absolute(dir).string()) {
  if (::access(kPath, X_OK) != 0) {
    throw std::runtime_error(std::string(kPath) + " is missing: install Debian's chromium (scripts/setup.sh does)");
  }
  fs::create_directories(dir_);
  // A browser that dies makes writes to its pipe fail, not kill the test.
  struct sigaction current {};
  if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) ::signal(SIGPIPE, SIG_IGN);

  int in[2];
  int out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  }
  int browserReads = highFd(in[0]);
  toBrowser_ = highFd(in[1]);
  fromBrowser_ = highFd(out[0]);
  int browserWrites = highFd(out[1]);

  std::vector<std::string> argv = {kPath,
                                   "--headless=new",
                                   "--disable-gpu",
                                   "--remote-debugging-pipe",
                                   "--user-data-dir=" + dir_ + "/profile",
                                   "--no-first-run",
                                   "--no-default-browser-check",
                                   "--disable-extensions",
                                   "--disable-dev-shm-usage",
                                   "--hide-scrollbars",
                                   "--mute-audio",
                                   "--window-size=" + std::to_string(width) + "," + std::to_string(height),
                                   "about:blank"};
  argv.insert(argv.end() - 1, flags.begin(), flags.end());
  // Chromium's sandbox needs user namespaces that root may not use.
  if (::geteuid() == 0) argv.insert(argv.begin() + 1, "--no-sandbox");
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);

  std::string log = dir_ + "/chromium.log";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_adddup2(&actions, browserReads, 3);
  posix_spawn_file_actions_adddup2(&actions, browserWrites, 4);
  posix_spawn_file_actions_addchdir_np(&actions, dir_.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  int rc = posix_spawn(&pid_, kPath, &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(browserReads);
  ::close(browserWrites);
  if (rc != 0) {
    pid_ = -1;
    stop();
    throw std::runtime_error(std::string("cannot start ") + kPath + ": " + std::strerror(rc));
  }

  try {
    std::string target;
    // Kept in a variable: a range-for over a member of a temporary outlives it.
    const auto targets = call("Target.getTargets", nlohmann::json::object(), false);
    for (const auto& info : targets.value("targetInfos", nlohmann::json::array())) {
      if (info.value("type", "") == "page") target = info.value("targetId", "");
    }
    if (target.empty()) target = call("Target.createTarget", {{"url", "about:blank"}}, false)["targetId"];
    session_ = call("Target.attachToTarget", {{"targetId", target}, {"flatten", true}}, false)["sessionId"];
    call("Runtime.enable", nlohmann::json::object());
    call("Page.enable", nlohmann::json::object());
    call("Emulation.setDeviceMetricsOverride",
         {{"width", width}, {"height", height}, {"deviceScaleFactor", 1}, {"mobile", false}});
  } catch (const std::exception& e) {
    stop();
    throw std::runtime_error(std::string("chromium did not start (see ") + log + "): " + e.what());
  }
}

Browser::~Browser() {
  try {
    stop();
  } catch (...) {
    // a destructor does not throw; stop() has killed what it could
  }
}

void Browser::stop() {
  if (pid_ > 0) {
    try {
      // Asks it to close, with little patience: it is killed next anyway.
      nlohmann::json message = {{"id", nextId_++}, {"method", "Browser.close"}, {"params", nlohmann::json::object()}};
      std::string bytes = message.dump() + '\0';
      (void)!::write(toBrowser_, bytes.data(), bytes.size());
    } catch (...) {
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (::waitpid(pid_, nullptr, WNOHANG) == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  killProcessesIn(dir_);
  for (int* fd : {&toBrowser_, &fromBrowser_}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

nlohmann::json Browser::readMessage(std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    auto end = buffer_.find('\0');
    if (end != std::string::npos) {
      auto message = nlohmann::json::parse(buffer_.substr(0, end), nullptr, false);
      buffer_.erase(0, end + 1);
      if (message.is_discarded()) throw std::runtime_error("chromium sent a message that is not JSON");
      return message;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw std::runtime_error("chromium did not answer in time");
    pollfd p{fromBrowser_, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;  // the deadline check above ends it
    char chunk[65536];
    ssize_t n = ::read(fromBrowser_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error("chromium closed its pipe (it exited?)");
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

void Browser::noteEvent(const nlohmann::json& message) {
  if (message.value("method", "") != "Runtime.exceptionThrown") return;
  const auto& details = message["params"]["exceptionDetails"];
  std::string text = details.value("text", "exception");
  if (details.contains("exception")) text += ": " + details["exception"].value("description", "");
  exceptions_.push_back(text);
}

nlohmann::json Browser::call(const std::string& method, const nlohmann::json& params, bool onPage) {
  if (pid_ <= 0) throw std::runtime_error("chromium is not running");
  int id = nextId_++;
  nlohmann::json message = {{"id", id}, {"method", method}, {"params", params}};
  if (onPage) message["sessionId"] = session_;
  std::string bytes = message.dump() + '\0';
  for (size_t written = 0; written < bytes.size();) {
    ssize_t n = ::write(toBrowser_, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error("cannot write to chromium: " + std::string(std::strerror(errno)));
    written += static_cast<size_t>(n);
  }
  auto deadline = std::chrono::steady_clock::now() + kCallTimeout;
  for (;;) {
    auto answer = readMessage(deadline);
    if (answer.value("id", -1) != id) {
      noteEvent(answer);
      continue;
    }
    if (answer.contains("error")) throw std::runtime_error(method + ": " + answer["error"].value("message", "failed"));
    return answer.value("result", nlohmann::json::object());
  }
}

void Browser::navigate(const std::string& url) {
  auto result = call("Page.navigate", {{"url", url}});
  if (result.contains("errorText")) throw std::runtime_error("cannot load " + url + ": " + result["errorText"].get<std::string>());
}

nlohmann::json Browser::evaluate(const std::string& expression) {
  auto result = call("Runtime.evaluate", {{"expression", expression}, {"returnByValue", true}, {"awaitPromise", true}});
  if (result.contains("exceptionDetails")) return nullptr;
  return result["result"].value("value", nlohmann::json());
}

std::string Browser::text(const std::string& selector) {
  auto value = evaluate("(() => { const e = document.querySelector(" + nlohmann::json(selector).dump() +
                        "); return e ? e.innerText : ''; })()");
  return value.is_string() ? value.get<std::string>() : std::string();
}

void Browser::screenshot(const std::string& path) {
  auto result = call("Page.captureScreenshot", {{"format", "png"}, {"captureBeyondViewport", true}});
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << base64Decode(result.value("data", ""));
  if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace clusternodes::testing
