// `clusternodes status`: the master's /state as tables, or as it is.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/master_target.hpp"
#include "cli/status_view.hpp"
#include "common/http_client.hpp"

namespace clusternodes::cli {

int runStatus(const StatusOptions& options) {
  int exitCode = 1;
  auto target = findMaster(options.master, options.workDir, exitCode);
  if (!target) return exitCode;
  const std::string& httpUrl = target->httpUrl;
  const std::string& described = target->described;

  auto response = httpGet(httpUrl + "/state", 5.0);
  if (!response || response->status != 200) {
    std::string why = response ? "HTTP " + std::to_string(response->status) : response.error().message;
    std::cerr << "clusternodes: " << described << " does not answer at " << httpUrl << " (" << why
              << "); run 'clusternodes start'\n";
    return 1;
  }
  if (options.json) {
    std::cout << response->body;
    if (response->body.empty() || response->body.back() != '\n') std::cout << "\n";
    return 0;
  }
  auto state = nlohmann::json::parse(response->body, nullptr, false);
  auto rendered = renderStatus(state);
  if (!rendered) {
    std::cerr << "clusternodes: " << rendered.error().message << "\n";
    return 1;
  }
  std::cout << *rendered;
  return 0;
}

}  // namespace clusternodes::cli
