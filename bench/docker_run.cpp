// bench-docker-run: how long `clusternodes run --image=IMAGE -- true` takes,
// from spawn to exit, against `docker run --rm IMAGE true` in the same run,
// as a ratio: what the scheduler adds to Docker's own start-up.
//
//   bench-docker-run [--rounds=10] [--json] [--image=clusternodes/busybox]
//
// A master and one agent are started once, as processes on loopback (the
// integration-test harness, tests/harness/cluster.cpp), before anything is
// timed; then each side runs once untimed (a warm-up), then each round runs
// both sides, one after the other, in an order that alternates from round to
// round so that a drift in the shared machine's speed weighs on both alike:
//   clusternodes: `clusternodes run --master=HOST:PORT --image=IMAGE -- true`
//   docker:       `docker run --rm IMAGE true` (the docker CLI on PATH)
// Each is timed from just before posix_spawn to waitpid, and must exit 0.
// For the clusternodes side it also notes, in milliseconds since the spawn,
// when the CLI printed that it launched the task (framework registered, offer
// taken), when the agent made the executor's log in the sandbox (the executor
// starting), and when the executor logged the container as started.
//
// Exit status: 0 when every run exited 0; 1 when Docker, its CLI or the image
// is missing (scripts/docker.sh makes them ready), the cluster did not start,
// or a run failed (the run stops there); 2 on a bad flag.
// Nothing here compares a figure against a threshold: it measures, it does
// not judge.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/docker/client.hpp"
#include "bench/bench_common.hpp"
#include "clusternodes/result.hpp"
#include "common/flags.hpp"
#include "tests/harness/cluster.hpp"

extern char** environ;

using namespace clusternodes;
using namespace clusternodes::bench;

namespace {

using Clock = std::chrono::steady_clock;
using WallClock = std::chrono::system_clock;

constexpr auto kRunTimeout = std::chrono::seconds(120);  // one run, either side
// Between two runs, once the agent has let go of the last task: the last
// container's removal and the executor's exit are over by then.
constexpr auto kSettle = std::chrono::milliseconds(500);
constexpr const char* kAgentResources = "cpus:2;mem:1024;disk:1024";

double msBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// The first executable `name` in $PATH, or "".
std::string findOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  for (size_t start = 0; start <= dirs.size();) {
    size_t end = std::min(dirs.find(':', start), dirs.size());
    std::string candidate = dirs.substr(start, end - start) + "/" + name;
    if (end > start && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

// Why the Docker side cannot run here, or "" when it can.
std::string dockerMissing(const std::string& dockerCli, const std::string& image) {
  if (dockerCli.empty()) return "no docker CLI on PATH";
  docker::Client client;
  if (auto ping = client.ping(); !ping) return "Docker does not answer: " + ping.error().message;
  auto present = client.hasImage(image);
  if (!present) return "cannot ask Docker for the image " + image + ": " + present.error().message;
  if (!*present) return "no image " + image;
  return "";
}

// ------------------------------------------------------------ one timed run

struct Line {
  double ms = 0;  // since the spawn, when it was read
  std::string text;
};

struct TimedRun {
  double ms = 0;                   // spawn to waitpid
  WallClock::time_point wallStart;  // the spawn, on the clock the daemons' logs use
  std::vector<Line> stderrLines;
};

// Runs `argv` (argv[0] an absolute path) with stdin and stdout on /dev/null
// and stderr on a pipe read here, line by line with the time each arrived.
// Fails when it cannot be spawned, outlives kRunTimeout (it is killed), or
// does not exit with status 0.
Result<TimedRun> timeRun(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return internalError(std::string("pipe: ") + std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);

  TimedRun run;
  run.wallStart = WallClock::now();
  const auto start = Clock::now();
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    return internalError("cannot spawn " + argv[0] + ": " + std::strerror(rc));
  }

  const auto deadline = start + kRunTimeout;
  std::string pending;
  bool timedOut = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      timedOut = true;
      ::kill(pid, SIGKILL);
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    char buffer[4096];
    ssize_t n = ::read(fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the program is leaving
    const double at = msBetween(start, Clock::now());
    pending.append(buffer, static_cast<size_t>(n));
    for (size_t newline; (newline = pending.find('\n')) != std::string::npos;) {
      run.stderrLines.push_back({at, pending.substr(0, newline)});
      pending.erase(0, newline + 1);
    }
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  run.ms = msBetween(start, Clock::now());
  if (!pending.empty()) run.stderrLines.push_back({run.ms, pending});

  std::string said;
  for (const auto& line : run.stderrLines) said += "\n  " + line.text;
  if (timedOut) return internalError(argv[0] + " did not end within " + std::to_string(kRunTimeout.count()) + " s" + said);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string how = WIFEXITED(status) ? "exited with status " + std::to_string(WEXITSTATUS(status))
                                        : "was killed by signal " + std::to_string(WTERMSIG(status));
    return internalError(argv[0] + " " + how + said);
  }
  return run;
}

// ------------------------------------------------------------ clusternodes' steps

// Where the clusternodes side's time went, in ms since the spawn; negative
// when not found.
struct Steps {
  double launched = -1;         // the CLI's "task ... on agent ..." line
  double executorStarted = -1;  // the agent made executor.log, then spawned the executor
  double containerStarted = -1;  // the executor's "started task ... as container" line
};

// The task id in the CLI's "clusternodes: task ID on agent HOST" line.
std::optional<std::pair<std::string, double>> launchLine(const TimedRun& run) {
  static const std::string kPrefix = "clusternodes: task ";
  for (const auto& line : run.stderrLines) {
    if (line.text.rfind(kPrefix, 0) != 0) continue;
    auto rest = line.text.substr(kPrefix.size());
    auto space = rest.find(' ');
    if (space == std::string::npos || rest.compare(space, 10, " on agent ") != 0) continue;
    return std::make_pair(rest.substr(0, space), line.ms);
  }
  return std::nullopt;
}

// Milliseconds from `from` to a log line's "YYYY-MM-DD HH:MM:SS.mmm" (local
// time, as spdlog writes it), or nullopt when the line does not start so.
std::optional<double> msToLogTime(WallClock::time_point from, const std::string& line) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(line.c_str(), "%d-%d-%d %d:%d:%d.%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &ms) != 7) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  tm.tm_isdst = -1;
  std::time_t seconds = std::mktime(&tm);
  if (seconds == -1) return std::nullopt;
  auto at = WallClock::from_time_t(seconds) + std::chrono::milliseconds(ms);
  return std::chrono::duration<double, std::milli>(at - from).count();
}

// The steps of one clusternodes run, from its stderr and from the task's
// sandbox under the agent's work dir: executor.log's birth time (the agent
// creates it right before it spawns the executor) and its lines.
Steps stepsOf(const TimedRun& run, const std::string& agentWorkDir) {
  Steps steps;
  auto launch = launchLine(run);
  if (!launch) return steps;
  steps.launched = launch->second;
  std::error_code ec;
  namespace fs = std::filesystem;
  for (fs::recursive_directory_iterator it(agentWorkDir + "/sandboxes", ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename() != "executor.log" ||
        it->path().string().find("/" + launch->first + "/") == std::string::npos) {
      continue;
    }
    struct statx info {};
    if (::statx(AT_FDCWD, it->path().c_str(), 0, STATX_BTIME, &info) == 0 && (info.stx_mask & STATX_BTIME) != 0) {
      auto born = WallClock::time_point(std::chrono::duration_cast<WallClock::duration>(
          std::chrono::seconds(info.stx_btime.tv_sec) + std::chrono::nanoseconds(info.stx_btime.tv_nsec)));
      steps.executorStarted = std::chrono::duration<double, std::milli>(born - run.wallStart).count();
    }
    std::ifstream log(it->path());
    for (std::string line; std::getline(log, line);) {
      if (line.find(": started task " + launch->first + " as container") == std::string::npos) continue;
      if (auto ms = msToLogTime(run.wallStart, line)) steps.containerStarted = *ms;
      break;
    }
    break;
  }
  return steps;
}

// ------------------------------------------------------------ rounds

struct Round {
  bool clusternodesFirst = true;
  std::string loadAverage;  // when the round began
  double clusternodesMs = 0;
  double dockerMs = 0;
  Steps steps;
  double ratio() const { return clusternodesMs / dockerMs; }
};

// Waits (untimed) until the agent has let go of every task, then a little
// more, so that one run's tear-down does not overlap the next run.
void settle(const testing::TestCluster& cluster) {
  testing::eventually(
      [&] {
        auto state = cluster.agentState(0);
        return state.is_object() && state["tasks"].empty();
      },
      std::chrono::seconds(10));
  std::this_thread::sleep_for(kSettle);
}

std::string fmtMs(double ms) {
  if (ms < 0) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.0f", ms);
  return text;
}

void printRow(const std::string& label, const std::string& first, double cn, double docker, double ratio,
              const Steps& steps) {
  std::printf("%-7s %-13s %16.1f %11.1f %7.3f %10s %10s %10s\n", label.c_str(), first.c_str(), cn, docker, ratio,
              fmtMs(steps.launched).c_str(), fmtMs(steps.executorStarted).c_str(),
              fmtMs(steps.containerStarted).c_str());
}

nlohmann::json stepsJson(const Steps& steps) {
  auto value = [](double ms) { return ms < 0 ? nlohmann::json(nullptr) : nlohmann::json(ms); };
  return {{"launched_ms", value(steps.launched)},
          {"executor_started_ms", value(steps.executorStarted)},
          {"container_started_ms", value(steps.containerStarted)}};
}

int runBenchmark(int rounds, bool json, const std::string& image, const std::string& dockerCli) {
  Machine machine = describeMachine();
  const std::string cnCommand = "clusternodes run --image=" + image + " -- true";
  const std::string dockerCommand = "docker run --rm " + image + " true";
  if (!json) {
    printMachine(machine);
    std::printf("`%s` against `%s`; a master and one agent on loopback; %d round(s), the order alternating\n\n",
                cnCommand.c_str(), dockerCommand.c_str(), rounds);
  }

  std::fprintf(stderr, "starting a master and one agent\n");
  testing::TestCluster cluster;
  try {
    cluster.startMaster();
    cluster.startAgent(kAgentResources);
    cluster.waitForAgents(1);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-docker-run: %s\n", e.what());
    return 1;
  }
  const std::string agentWorkDir = cluster.dir() + "/agent-0";
  const std::vector<std::string> cnArgv = {testing::binary("clusternodes"), "run", "--master=" + cluster.master(),
                                           "--image=" + image, "--", "true"};
  const std::vector<std::string> dockerArgv = {dockerCli, "run", "--rm", image, "true"};

  auto runSide = [&](bool clusternodes) -> Result<TimedRun> {
    auto run = timeRun(clusternodes ? cnArgv : dockerArgv);
    settle(cluster);
    return run;
  };
  auto fail = [](const char* side, const Error& error) {
    std::fprintf(stderr, "bench-docker-run: %s: %s\n", side, error.message.c_str());
    return 1;
  };

  std::fprintf(stderr, "warm-up: one untimed run of each side\n");
  if (auto run = runSide(true); !run) return fail("clusternodes run (warm-up)", run.error());
  if (auto run = runSide(false); !run) return fail("docker run (warm-up)", run.error());

  if (!json) {
    std::printf("%-7s %-13s %16s %11s %7s %10s %10s %10s\n", "round", "first", "clusternodes ms", "docker ms",
                "ratio", "launched", "executor", "container");
  }
  std::vector<Round> results;
  for (int i = 1; i <= rounds; ++i) {
    Round round;
    round.clusternodesFirst = i % 2 == 1;
    round.loadAverage = loadAverage();
    std::fprintf(stderr, "round %d/%d (load average %s)\n", i, rounds, round.loadAverage.c_str());
    for (int side = 0; side < 2; ++side) {
      const bool clusternodes = (side == 0) == round.clusternodesFirst;
      auto run = runSide(clusternodes);
      if (!run) return fail(clusternodes ? "clusternodes run" : "docker run", run.error());
      if (clusternodes) {
        round.clusternodesMs = run->ms;
        round.steps = stepsOf(*run, agentWorkDir);
      } else {
        round.dockerMs = run->ms;
      }
    }
    results.push_back(round);
    if (!json) {
      printRow(std::to_string(i), round.clusternodesFirst ? "clusternodes" : "docker", round.clusternodesMs,
               round.dockerMs, round.ratio(), round.steps);
      std::fflush(stdout);
    }
  }

  auto of = [&](auto field) {
    std::vector<double> v;
    for (const auto& r : results) {
      double value = field(r);
      if (value >= 0) v.push_back(value);
    }
    return v.empty() ? -1.0 : median(v);
  };
  const double cnMs = of([](const Round& r) { return r.clusternodesMs; });
  const double dockerMs = of([](const Round& r) { return r.dockerMs; });
  const double ratio = of([](const Round& r) { return r.ratio(); });
  Steps steps;
  steps.launched = of([](const Round& r) { return r.steps.launched; });
  steps.executorStarted = of([](const Round& r) { return r.steps.executorStarted; });
  steps.containerStarted = of([](const Round& r) { return r.steps.containerStarted; });

  if (json) {
    nlohmann::json out;
    out["image"] = image;
    out["clusternodes_command"] = cnCommand;
    out["docker_command"] = dockerCommand;
    out["machine"] = machineJson(machine);
    out["rounds"] = nlohmann::json::array();
    for (const auto& r : results) {
      out["rounds"].push_back({{"first", r.clusternodesFirst ? "clusternodes" : "docker"},
                               {"load_average_at_start", r.loadAverage},
                               {"clusternodes_ms", r.clusternodesMs},
                               {"docker_ms", r.dockerMs},
                               {"ratio_clusternodes_vs_docker", r.ratio()},
                               {"clusternodes_steps", stepsJson(r.steps)}});
    }
    out["median"] = {{"clusternodes_ms", cnMs},
                     {"docker_ms", dockerMs},
                     {"ratio_clusternodes_vs_docker", ratio},
                     {"clusternodes_steps", stepsJson(steps)}};
    std::cout << out.dump(2) << "\n";
  } else {
    printRow("median", "", cnMs, dockerMs, ratio, steps);
    std::printf("\nclusternodes run takes %.2f times docker run --rm (median of the per-round ratios)\n", ratio);
    std::printf("launched, executor, container: ms from the spawn of clusternodes run until it printed the launch, "
                "the agent created the executor's log, the executor logged the container started\n");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 10;
  bool json = false;
  std::string image = "clusternodes/busybox";
  CLI::App app("Time of `clusternodes run` against `docker run --rm` of the same image, as a ratio.",
               "bench-docker-run");
  app.add_option("--rounds", rounds, "Rounds; the medians are reported")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_flag("--json", json, "Print the figures as JSON on stdout (progress stays on stderr)");
  app.add_option("--image", image, "The image both sides run")->capture_default_str();
  if (int code = parseCommandLine(app, argc, argv); code >= 0) return code;

  const std::string dockerCli = findOnPath("docker");
  if (auto why = dockerMissing(dockerCli, image); !why.empty()) {
    std::fprintf(stderr,
                 "bench-docker-run: %s; run scripts/docker.sh (as root), which starts dockerd and builds "
                 "clusternodes/busybox\n",
                 why.c_str());
    return 1;
  }
  return runBenchmark(rounds, json, image, dockerCli);
}
