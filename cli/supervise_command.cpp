// `clusternodes supervise`: keeps one daemon of a local cluster running (a
// master elected through ZooKeeper, which exits by design when deposed),
// starting it again with RestartBackoff's waits whenever it ends.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <ctime>
#include <iostream>
#include <thread>

#include "cli/commands.hpp"
#include "cli/processes.hpp"
#include "cli/restart_backoff.hpp"

namespace clusternodes::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kPoll = std::chrono::milliseconds(100);
// What the daemon gets after SIGTERM; below the 10 s `stop` gives this
// supervisor, so that the daemon is gone before its supervisor is.
constexpr auto kStopGrace = std::chrono::seconds(8);

// A log line of the supervisor's own, beside the daemon's in one file.
std::ostream& say(const SuperviseOptions& options) {
  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
  return std::cerr << stamp << " clusternodes supervise: " << options.name << " ";
}

// Waits for `pid` to end; true with its status, false when interrupted first.
bool awaitExit(int pid, int& status) {
  while (!InterruptGuard::interrupted()) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return true;
    std::this_thread::sleep_for(kPoll);
  }
  return false;
}

// SIGTERM, then SIGKILL after kStopGrace; reaps it.
void stopDaemon(int pid) {
  ::kill(pid, SIGTERM);
  auto deadline = Clock::now() + kStopGrace;
  int status = 0;
  while (Clock::now() < deadline) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return;
    std::this_thread::sleep_for(kPoll);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
}

// Sleeps `delay` unless interrupted first.
void pause(RestartBackoff::Duration delay) {
  auto until = Clock::now() + delay;
  while (!InterruptGuard::interrupted() && Clock::now() < until) std::this_thread::sleep_for(kPoll);
}

}  // namespace

int runSupervise(const SuperviseOptions& options) {
  if (options.command.empty()) {
    std::cerr << "clusternodes: supervise: no command after --\n";
    return 2;
  }
  InterruptGuard guard;
  RestartBackoff backoff;
  while (!InterruptGuard::interrupted()) {
    auto started = Clock::now();
    auto pid = spawnDaemon(options.command, options.log, /*keepLog=*/true);
    std::string ended;
    if (!pid) {
      ended = "could not start: " + pid.error().message;
    } else {
      say(options) << "started as pid " << *pid << std::endl;
      int status = 0;
      if (!awaitExit(*pid, status)) {
        say(options) << "stopping (pid " << *pid << ")" << std::endl;
        stopDaemon(*pid);
        break;
      }
      ended = describeExit(status);
    }
    auto ranFor = std::chrono::duration_cast<RestartBackoff::Duration>(Clock::now() - started);
    auto delay = backoff.ended(ranFor);
    say(options) << ended << " after " << ranFor.count() / 1000.0 << " s; starting it again in "
                 << delay.count() / 1000.0 << " s" << std::endl;
    pause(delay);
  }
  return 0;
}

}  // namespace clusternodes::cli
