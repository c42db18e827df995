// `clusternodes run --detach`, `scale` and `kill`: the operator's side of a
// service. The service itself is a process of its own (service_scheduler.cpp);
// these commands find it through the master, whose /state lists its
// framework "docker:NAME" with the URL of its control API as webui_url.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <spdlog/fmt/fmt.h>
#include <thread>

#include "cli/commands.hpp"
#include "cli/docker_task.hpp"
#include "cli/local_cluster.hpp"
#include "cli/master_target.hpp"
#include "cli/processes.hpp"
#include "cli/services.hpp"
#include "cli/task_files.hpp"
#include "common/http_client.hpp"

namespace clusternodes::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxNameLength = 64;
constexpr auto kPollInterval = std::chrono::milliseconds(100);
// Longer than the service itself waits for its registration (30 s), so that
// it is the service that says why it failed.
constexpr auto kStartDeadline = std::chrono::seconds(40);
// The service's own wait for its killed tasks (18 s), and time to leave.
constexpr auto kStopDeadline = std::chrono::seconds(30);

struct RunningService {
  std::string frameworkId;
  std::string controlUrl;  // "http://127.0.0.1:PORT"
};

// The running service NAME in a master's /state; kNotFound without one.
Result<RunningService> findService(const nlohmann::json& state, const std::string& name) {
  const std::string frameworkName = serviceFrameworkName(name);
  if (state.contains("frameworks") && state["frameworks"].is_array()) {
    for (const auto& framework : state["frameworks"]) {
      if (framework.value("name", "") != frameworkName) continue;
      return RunningService{framework.value("id", ""), framework.value("webui_url", "")};
    }
  }
  return notFound("no service " + name + " is running");
}

// POST url with a JSON body; the answer's JSON, as getJson() takes it.
Result<nlohmann::json> postJson(const std::string& url, const nlohmann::json& body) {
  return jsonAnswer(url, httpPost(url, body.dump()));
}

// The command line of the service scheduler for `options`, which the
// service's process gets as flags: nothing else is left to read once the
// CLI has gone.
std::vector<std::string> schedulerArgv(const std::string& program, const RunOptions& options,
                                       const MasterTarget& master, const std::string& workDir) {
  // --name first: it makes the process easy to find by its command line.
  std::vector<std::string> argv = {program,
                                   "service-scheduler",
                                   "--name=" + options.name,
                                   "--image=" + options.image,
                                   "--instances=" + std::to_string(options.instances),
                                   "--cpus=" + fmt::format("{}", options.cpus),
                                   "--mem=" + fmt::format("{}", options.mem),
                                   "--master=" + master.endpoint,
                                   "--work-dir=" + workDir};
  if (!master.keyFile.empty()) argv.push_back("--key=" + master.keyFile);
  if (!master.masterKeyFile.empty()) argv.push_back("--master-key=" + master.masterKeyFile);
  for (const auto& pair : options.env) argv.push_back("--env=" + pair);
  for (const auto& port : options.ports) argv.push_back("--port=" + port);
  if (options.forcePull) argv.push_back("--force-pull");
  if (!options.command.empty()) {
    argv.push_back("--");
    argv.insert(argv.end(), options.command.begin(), options.command.end());
  }
  return argv;
}

// The master and the running service NAME, or nullopt after printing why
// (with `exitCode` set) — what `scale` and `kill` begin with.
std::optional<std::pair<MasterTarget, RunningService>> masterAndService(const ServiceOptions& options,
                                                                        int& exitCode) {
  auto master = findMaster(options.master, options.workDir, exitCode, options.keyFile, options.masterKeyFile);
  if (!master) return std::nullopt;
  exitCode = 1;
  auto state = getJson(master->httpUrl + "/state");
  if (!state) {
    std::cerr << "clusternodes: " << master->described << " does not answer: " << state.error().message << "\n";
    return std::nullopt;
  }
  auto service = findService(*state, options.name);
  if (!service) {
    std::cerr << "clusternodes: " << service.error().message << "\n";
    return std::nullopt;
  }
  if (service->controlUrl.empty()) {
    std::cerr << "clusternodes: the framework " << service->frameworkId << " named " << serviceFrameworkName(options.name)
              << " has no control URL; it is not a service this CLI started\n";
    return std::nullopt;
  }
  return std::make_pair(*master, *service);
}

}  // namespace

Result<void> checkServiceName(const std::string& name) {
  if (name.empty() || name.size() > kMaxNameLength ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != std::string::npos) {
    return invalid("--name: '" + name + "' is not a service name (1 to 64 letters, digits, '-' and '_')");
  }
  return {};
}

std::string serviceFrameworkName(const std::string& name) { return "docker:" + name; }

std::string servicesDir(const std::string& workDir) { return workDir + "/services"; }

int runDetached(const RunOptions& options) {
  auto plan = checkRunOptions(options);
  if (!plan) {
    std::cerr << "clusternodes: " << plan.error().message << "\n";
    return 2;
  }
  if (options.name.empty()) {
    std::cerr << "clusternodes: --detach needs the service's name: --name=NAME\n";
    return 2;
  }
  if (auto valid = checkServiceName(options.name); !valid) {
    std::cerr << "clusternodes: " << valid.error().message << "\n";
    return 2;
  }
  int exitCode = 1;
  auto master = findMaster(options.master, options.workDir, exitCode, options.keyFile, options.masterKeyFile);
  if (!master) return exitCode;
  auto state = getJson(master->httpUrl + "/state");
  if (!state) {
    std::cerr << "clusternodes: " << master->described << " does not answer: " << state.error().message << "\n";
    return 1;
  }
  if (auto running = findService(*state, options.name)) {
    std::cerr << "clusternodes: service " << options.name << " is already running (framework "
              << running->frameworkId << "); 'clusternodes kill " << options.name << "' stops it\n";
    return 1;
  }
  auto workDir = localWorkDir(options.workDir, /*create=*/true);
  if (!workDir) {
    std::cerr << "clusternodes: " << workDir.error().message << "\n";
    return 1;
  }
  std::error_code ec;
  std::filesystem::create_directories(servicesDir(*workDir), ec);
  if (ec) {
    std::cerr << "clusternodes: cannot create " << servicesDir(*workDir) << ": " << ec.message() << "\n";
    return 1;
  }
  // This very program, whatever it was called as.
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) {
    std::cerr << "clusternodes: cannot read /proc/self/exe: " << ec.message() << "\n";
    return 1;
  }
  const std::string log = servicesDir(*workDir) + "/" + options.name + ".log";
  auto pid = spawnDaemon(schedulerArgv(self.string(), options, *master, *workDir), log);
  if (!pid) {
    std::cerr << "clusternodes: " << pid.error().message << "\n";
    return 1;
  }

  // Started means registered and answering: its /status names this very
  // process, not a namesake another `run --detach` started meanwhile.
  const auto deadline = Clock::now() + kStartDeadline;
  for (;;) {
    if (!isAlive(*pid)) {
      auto last = tailLines(log, 1);
      std::cerr << "clusternodes: service " << options.name << " did not start"
                << (last.empty() ? "" : ": " + last.front()) << " (log: " << log << ")\n";
      return 1;
    }
    if (auto now = getJson(master->httpUrl + "/state")) {
      if (auto service = findService(*now, options.name); service && !service->controlUrl.empty()) {
        auto status = getJson(service->controlUrl + "/status");
        if (status && status->value("pid", 0) == *pid) {
          std::cout << "service " << options.name << ": " << options.instances << " instance(s) of "
                    << options.image << " (framework " << service->frameworkId << ")\n";
          return 0;
        }
      }
    }
    if (Clock::now() >= deadline) {
      ::kill(*pid, SIGTERM);
      std::cerr << "clusternodes: service " << options.name << " did not register with " << master->described
                << " within " << std::chrono::duration_cast<std::chrono::seconds>(kStartDeadline).count()
                << " s (log: " << log << ")\n";
      return 1;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

int runScale(const ServiceOptions& options) {
  int exitCode = 1;
  auto found = masterAndService(options, exitCode);
  if (!found) return exitCode;
  const auto& service = found->second;
  auto reply = postJson(service.controlUrl + "/scale", {{"instances", options.instances}});
  if (!reply) {
    std::cerr << "clusternodes: service " << options.name << " did not scale: " << reply.error().message << "\n";
    return 1;
  }
  std::cout << "service " << options.name << ": " << options.instances << " instance(s)\n";
  return 0;
}

int runKill(const ServiceOptions& options) {
  int exitCode = 1;
  auto found = masterAndService(options, exitCode);
  if (!found) return exitCode;
  const auto& [master, service] = *found;
  auto reply = postJson(service.controlUrl + "/kill", nlohmann::json::object());
  if (!reply) {
    std::cerr << "clusternodes: service " << options.name << " did not take the kill: " << reply.error().message
              << "\n";
    return 1;
  }
  // Stopped means its framework has left the master, and with it the tasks.
  const auto deadline = Clock::now() + kStopDeadline;
  for (;;) {
    auto state = getJson(master.httpUrl + "/state");
    if (state) {
      auto still = findService(*state, options.name);
      if (!still || still->frameworkId != service.frameworkId) break;
    }
    if (Clock::now() >= deadline) {
      std::cerr << "clusternodes: service " << options.name << " did not stop within "
                << std::chrono::duration_cast<std::chrono::seconds>(kStopDeadline).count() << " s\n";
      return 1;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  std::cout << "service " << options.name << ": stopped\n";
  return 0;
}

}  // namespace clusternodes::cli
