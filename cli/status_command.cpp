// `clusternodes status`, `agents`, `frameworks` and `tasks`: the master's
// /state as aligned tables, or as JSON.
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/commands.hpp"
#include "cli/master_target.hpp"
#include "cli/status_view.hpp"
#include "common/http_client.hpp"

namespace clusternodes::cli {
namespace {

// The master's /state, or nullopt after printing why and what to do; then
// `exitCode` is set.
std::optional<nlohmann::json> fetchState(const StatusOptions& options, int& exitCode) {
  exitCode = 1;
  auto target = findMaster(options.master, options.workDir, exitCode, options.keyFile, options.masterKeyFile);
  if (!target) return std::nullopt;
  auto response = httpGet(target->httpUrl + "/state", 5.0);
  if (response && (response->status == 401 || response->status == 403)) {
    auto body = nlohmann::json::parse(response->body, nullptr, false);
    std::string why = body.is_object() && body.value("error", "").size() > 0 ? body.value("error", "")
                                                                               : "HTTP " + std::to_string(response->status);
    std::cerr << "clusternodes: " << target->described << " refused /state: " << why
              << " (give a token in CLUSTERNODES_TOKEN or CLUSTERNODES_TOKEN_FILE)\n";
    return std::nullopt;
  }
  if (!response || response->status != 200) {
    std::string why = response ? "HTTP " + std::to_string(response->status) : response.error().message;
    std::cerr << "clusternodes: " << target->described << " does not answer at " << target->httpUrl << " (" << why
              << "); start one with 'clusternodes start', or name a running one with --master=HOST:PORT\n";
    return std::nullopt;
  }
  auto state = nlohmann::json::parse(response->body, nullptr, false);
  if (!state.is_object()) {
    std::cerr << "clusternodes: " << target->described << " answered /state with something else than JSON; is "
              << target->httpUrl << " a Clusternodes master?\n";
    return std::nullopt;
  }
  return state;
}

void printJson(const nlohmann::json& value) { std::cout << value.dump(2) << "\n"; }

int printRendered(const Result<std::string>& rendered) {
  if (!rendered) {
    std::cerr << "clusternodes: " << rendered.error().message << "\n";
    return 1;
  }
  std::cout << *rendered;
  return 0;
}

double unixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

int runStatus(const StatusOptions& options) {
  int exitCode = 1;
  auto state = fetchState(options, exitCode);
  if (!state) return exitCode;
  if (options.json) {
    printJson(*state);
    return 0;
  }
  return printRendered(renderStatus(*state));
}

int runAgents(const StatusOptions& options) {
  int exitCode = 1;
  auto state = fetchState(options, exitCode);
  if (!state) return exitCode;
  if (options.json) {
    printJson(state->value("agents", nlohmann::json::array()));
    return 0;
  }
  return printRendered(renderAgents(*state));
}

int runFrameworks(const StatusOptions& options) {
  int exitCode = 1;
  auto state = fetchState(options, exitCode);
  if (!state) return exitCode;
  if (options.json) {
    printJson(state->value("frameworks", nlohmann::json::array()));
    return 0;
  }
  return printRendered(renderFrameworks(*state));
}

int runTasks(const StatusOptions& options, const TaskFilter& filter) {
  if (!filter.state.empty()) {
    if (auto state = normalizeTaskState(filter.state); !state) {
      std::cerr << "clusternodes: --state=" << filter.state << ": " << state.error().message << "\n";
      return 2;
    }
  }
  int exitCode = 1;
  auto state = fetchState(options, exitCode);
  if (!state) return exitCode;
  auto tasks = selectTasks(*state, filter);
  if (!tasks) {
    std::cerr << "clusternodes: " << tasks.error().message << "\n";
    return 1;
  }
  if (options.json) {
    printJson(*tasks);
    return 0;
  }
  std::cout << renderTasks(*tasks, unixNow());
  return 0;
}

}  // namespace clusternodes::cli
