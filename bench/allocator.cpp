// bench-allocator: the allocator on its own, on Mesos's benchmark shape.
//
//   bench-allocator [--agents=1000,10000,50000] [--frameworks=100,1000,3000]
//                   [--decline-rounds=10] [--filtered-limit=20000000] [--events=2000]
//
// For each pair (agents, frameworks), on a manual clock, in one process:
//   1. Add the frameworks (role "*"), then the agents, each
//      cpus:2;mem:1024;disk:4096;ports:[31000-32000]. Timed: adding all agents.
//   2. Round 1: allocateAll() with everything free, so every agent is
//      offered. Then --decline-rounds rounds of: every framework declines all
//      it was offered with a refuse filter of ~forever (not timed), then
//      allocateAll() (timed) offers each agent to the next framework in DRF
//      order that has not filtered it.
//   3. When agents × frameworks <= --filtered-limit: the declines go on
//      until no agent is left to offer, and the round after that, a full pass
//      over agents that every framework refuses, is timed on its own.
//   4. Memory: the allocator's own count of bytes for agents and filters, and
//      the resident set growth of the process, per agent. Each pair runs in
//      a child process of its own, so that memory freed by one pair does not
//      hide the next one's.
// Then, on a fresh allocator with the largest pair given: every agent is
// offered once and kept (nothing declined). --events times, one framework
// hands back half an agent (a task ended) and allocate() re-offers it: the
// time per freed-resources event. The same for a decline with a filter.
//
// Prints one table per measure. It never compares a figure with a goal.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "clusternodes/resources.hpp"
#include "common/clock.hpp"
#include "master/allocator/allocator.hpp"

using namespace clusternodes;
using namespace clusternodes::master;

namespace {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// Resident set size in bytes, from /proc/self/statm.
size_t residentBytes() {
  std::ifstream in("/proc/self/statm");
  size_t pages = 0;
  size_t resident = 0;
  in >> pages >> resident;
  return resident * static_cast<size_t>(::sysconf(_SC_PAGESIZE));
}

std::vector<int> parseList(const std::string& text) {
  std::vector<int> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(std::stoi(item));
  }
  return out;
}

std::string agentName(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "agent-%06d", i);
  return buf;
}

std::string frameworkName(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "framework-%05d", i);
  return buf;
}

const Resources& agentResources() {
  static const Resources r = *Resources::parse("cpus:2;mem:1024;disk:4096;ports:[31000-32000]");
  return r;
}

struct Offer {
  FrameworkID framework;
  Allocation allocation;
};

// An allocator with its frameworks and agents, collecting offers.
struct Cluster {
  ManualClock clock;
  std::unique_ptr<Allocator> allocator = makeDrfAllocator(clock);
  std::vector<Offer> offers;
  std::vector<FrameworkID> frameworks;
  std::vector<AgentID> agents;

  Cluster() {
    allocator->initialize([this](const FrameworkID& id, std::vector<Allocation> allocations) {
      for (auto& a : allocations) offers.push_back({id, std::move(a)});
    });
  }

  void addFrameworks(int count) {
    for (int i = 0; i < count; ++i) {
      frameworks.push_back(FrameworkID{frameworkName(i)});
      allocator->addFramework(frameworks.back(), FrameworkOptions{{"*"}, true}, {});
    }
  }

  double addAgents(int count) {
    auto start = Clock::now();
    for (int i = 0; i < count; ++i) {
      agents.push_back(AgentID{agentName(i)});
      allocator->addAgent(agents.back(), agents.back().value + ".example.org", agentResources(), {});
    }
    return msSince(start);
  }

  // Every offer made so far declined with a filter of about forever.
  void declineAll() {
    Filters forever;
    forever.refuseSeconds = 1e9;
    for (const auto& o : offers) {
      allocator->recoverResources(o.framework, o.allocation.agentId, o.allocation.resources, forever);
    }
    offers.clear();
  }

  double timedRound() {
    auto start = Clock::now();
    allocator->allocateAll();
    return msSince(start);
  }
};

// Plain data: it crosses a pipe from the child process that measured it.
struct PairResult {
  int agents = 0;
  int frameworks = 0;
  double addAgentsMs = 0;
  double firstRoundMs = 0;
  size_t firstRoundOffers = 0;
  double declineRoundMedianMs = 0;
  double declineRoundMaxMs = 0;
  int roundsToFiltered = 0;  // 0: not run
  double filteredRoundMs = 0;
  size_t filters = 0;
  size_t allocatorBytes = 0;
  size_t residentGrowth = 0;
};

PairResult runPair(int agents, int frameworks, int declineRounds, long long filteredLimit) {
  PairResult r;
  r.agents = agents;
  r.frameworks = frameworks;
  size_t before = residentBytes();
  auto cluster = std::make_unique<Cluster>();
  cluster->addFrameworks(frameworks);
  r.addAgentsMs = cluster->addAgents(agents);

  r.firstRoundMs = cluster->timedRound();
  r.firstRoundOffers = cluster->offers.size();
  int round = 1;
  std::vector<double> declineRoundsMs;
  for (int i = 0; i < declineRounds && !cluster->offers.empty(); ++i, ++round) {
    cluster->declineAll();
    declineRoundsMs.push_back(cluster->timedRound());
  }
  r.declineRoundMedianMs = median(declineRoundsMs);
  r.declineRoundMaxMs = declineRoundsMs.empty() ? 0 : *std::max_element(declineRoundsMs.begin(), declineRoundsMs.end());
  if (static_cast<long long>(agents) * frameworks <= filteredLimit) {
    while (!cluster->offers.empty()) {
      cluster->declineAll();
      cluster->allocator->allocateAll();
      ++round;
    }
    r.roundsToFiltered = round;
    r.filteredRoundMs = cluster->timedRound();
  }
  auto footprint = cluster->allocator->footprint();
  r.filters = footprint.filters;
  r.allocatorBytes = footprint.bytes;
  size_t after = residentBytes();
  r.residentGrowth = after > before ? after - before : 0;
  return r;
}

struct EventResult {
  int agents = 0;
  int frameworks = 0;
  int events = 0;
  double freedUs = 0;     // median microseconds per freed-resources event
  double freedP99Us = 0;
  double declineUs = 0;   // median per decline (with a filter) and re-offer
  double declineP99Us = 0;
  int reofferedFreed = 0;
  int reofferedDecline = 0;
};

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(values.size() - 1));
  return values[i];
}

// Runs runPair in a child process, so that its resident set is its own.
std::optional<PairResult> runPairInChild(int agents, int frameworks, int declineRounds, long long filteredLimit) {
  int fds[2];
  if (::pipe(fds) != 0) return std::nullopt;
  pid_t pid = ::fork();
  if (pid < 0) return std::nullopt;
  if (pid == 0) {
    ::close(fds[0]);
    PairResult r = runPair(agents, frameworks, declineRounds, filteredLimit);
    const char* p = reinterpret_cast<const char*>(&r);
    size_t left = sizeof r;
    while (left > 0) {
      ssize_t n = ::write(fds[1], p, left);
      if (n <= 0) ::_exit(1);
      p += n;
      left -= static_cast<size_t>(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  PairResult r;
  char* p = reinterpret_cast<char*>(&r);
  size_t got = 0;
  while (got < sizeof r) {
    ssize_t n = ::read(fds[0], p + got, sizeof r - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (got != sizeof r || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return r;
}

EventResult runEvents(int agents, int frameworks, int events) {
  EventResult r;
  r.agents = agents;
  r.frameworks = frameworks;
  r.events = events;
  Cluster cluster;
  cluster.addFrameworks(frameworks);
  cluster.addAgents(agents);
  cluster.allocator->allocateAll();  // every agent offered once, and kept
  std::vector<Offer> held = std::move(cluster.offers);
  cluster.offers.clear();
  const Resources half = *Resources::parse("cpus:1;mem:512");

  std::vector<double> freed;
  std::vector<double> declined;
  for (int i = 0; i < events && i < static_cast<int>(held.size()); ++i) {
    const Offer& o = held[static_cast<size_t>(i) * held.size() / static_cast<size_t>(events)];
    // A task holding half of the offer ends: the half comes back.
    auto start = Clock::now();
    cluster.allocator->recoverResources(o.framework, o.allocation.agentId, half, std::nullopt);
    cluster.allocator->allocate();
    freed.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    r.reofferedFreed += cluster.offers.empty() ? 0 : 1;
    // Whoever got it declines it with a filter: it goes to the next one.
    if (!cluster.offers.empty()) {
      Offer next = cluster.offers.front();
      cluster.offers.clear();
      Filters filter;
      filter.refuseSeconds = 1e9;
      start = Clock::now();
      cluster.allocator->recoverResources(next.framework, next.allocation.agentId, next.allocation.resources, filter);
      cluster.allocator->allocate();
      declined.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
      r.reofferedDecline += cluster.offers.empty() ? 0 : 1;
      cluster.offers.clear();
    }
  }
  r.freedUs = median(freed);
  r.freedP99Us = percentile(freed, 0.99);
  r.declineUs = median(declined);
  r.declineP99Us = percentile(declined, 0.99);
  return r;
}

std::string machine() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  std::string model = "unknown";
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  return model + ", " + std::to_string(::sysconf(_SC_NPROCESSORS_ONLN)) + " cores";
}

}  // namespace

int main(int argc, char** argv) {
  std::string agentList = "1000,10000,50000";
  std::string frameworkList = "100,1000,3000";
  int declineRounds = 10;
  long long filteredLimit = 20'000'000;
  int events = 2000;
  CLI::App app("Times the allocator on Mesos's benchmark shape; see bench/README.md.", "bench-allocator");
  app.add_option("--agents", agentList, "Agent counts, comma-separated")->capture_default_str();
  app.add_option("--frameworks", frameworkList, "Framework counts, comma-separated")->capture_default_str();
  app.add_option("--decline-rounds", declineRounds, "Timed rounds after declines, per pair")->capture_default_str();
  app.add_option("--filtered-limit", filteredLimit,
                 "Run declines to the end (every agent refused by every framework) when agents x frameworks "
                 "is at most this")
      ->capture_default_str();
  app.add_option("--events", events, "Freed-resources events timed at the largest pair")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  std::vector<int> agentCounts;
  std::vector<int> frameworkCounts;
  try {
    agentCounts = parseList(agentList);
    frameworkCounts = parseList(frameworkList);
  } catch (const std::exception&) {
    std::fprintf(stderr, "bench-allocator: --agents and --frameworks take comma-separated numbers\n");
    return 2;
  }
  if (agentCounts.empty() || frameworkCounts.empty()) {
    std::fprintf(stderr, "bench-allocator: --agents and --frameworks need at least one number each\n");
    return 2;
  }

  std::printf("machine: %s\n", machine().c_str());
  std::printf("agents cpus:2;mem:1024;disk:4096;ports:[31000-32000]; frameworks in role *; every decline refuses "
              "for ~forever\n\n");
  std::printf("%8s %10s %10s %11s %8s %12s %12s %8s %12s %10s %12s %12s\n", "agents", "frameworks", "add (ms)",
              "round1 (ms)", "offers", "declined rnd", "max (ms)", "rounds", "refused rnd", "filters",
              "alloc B/agt", "RSS B/agt");
  std::printf("%8s %10s %10s %11s %8s %12s %12s %8s %12s %10s %12s %12s\n", "", "", "", "", "",
              "median (ms)", "", "", "(ms)", "", "", "");
  for (int agents : agentCounts) {
    for (int frameworks : frameworkCounts) {
      std::fprintf(stderr, "pair %d agents x %d frameworks...\n", agents, frameworks);
      auto measured = runPairInChild(agents, frameworks, declineRounds, filteredLimit);
      if (!measured) {
        std::fprintf(stderr, "bench-allocator: the run for %d agents x %d frameworks failed\n", agents, frameworks);
        return 1;
      }
      const PairResult& r = *measured;
      char rounds[32] = "-";
      char refused[32] = "-";
      if (r.roundsToFiltered > 0) {
        std::snprintf(rounds, sizeof rounds, "%d", r.roundsToFiltered);
        std::snprintf(refused, sizeof refused, "%.2f", r.filteredRoundMs);
      }
      std::printf("%8d %10d %10.1f %11.2f %8zu %12.2f %12.2f %8s %12s %10zu %12.0f %12.0f\n", r.agents,
                  r.frameworks, r.addAgentsMs, r.firstRoundMs, r.firstRoundOffers, r.declineRoundMedianMs,
                  r.declineRoundMaxMs, rounds, refused, r.filters, static_cast<double>(r.allocatorBytes) / r.agents,
                  static_cast<double>(r.residentGrowth) / r.agents);
      std::fflush(stdout);
    }
  }

  int agents = *std::max_element(agentCounts.begin(), agentCounts.end());
  int frameworks = *std::max_element(frameworkCounts.begin(), frameworkCounts.end());
  std::fprintf(stderr, "events at %d agents x %d frameworks...\n", agents, frameworks);
  EventResult e = runEvents(agents, frameworks, events);
  std::printf("\none event at %d agents x %d frameworks, every agent allocated (%d events)\n", e.agents,
              e.frameworks, e.events);
  std::printf("%-44s %12s %12s %10s\n", "event", "median (us)", "p99 (us)", "re-offered");
  std::printf("%-44s %12.1f %12.1f %10d\n", "half an agent freed, then allocate()", e.freedUs, e.freedP99Us,
              e.reofferedFreed);
  std::printf("%-44s %12.1f %12.1f %10d\n", "that offer declined with a filter, allocate()", e.declineUs,
              e.declineP99Us, e.reofferedDecline);
  return 0;
}
