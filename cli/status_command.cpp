// `clusternodes status`: the master's /state as tables, or as it is.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/local_cluster.hpp"
#include "cli/status_view.hpp"
#include "common/http_client.hpp"
#include "common/master_client.hpp"

namespace clusternodes::cli {

int runStatus(const StatusOptions& options) {
  std::string httpUrl;
  std::string described;
  if (!options.master.empty()) {
    auto address = queryMaster(options.master);
    if (!address) {
      if (address.error().code == ErrorCode::kInvalid) {
        std::cerr << "clusternodes: --master: " << address.error().message << "\n";
        return 2;
      }
      std::cerr << "clusternodes: no master answers at " << options.master
                << "; check the address, or run 'clusternodes start' for a local cluster\n";
      return 1;
    }
    httpUrl = address->httpUrl();
    described = "the master at " + options.master;
  } else {
    auto workDir = localWorkDir(options.workDir, /*create=*/false);
    if (!workDir) {
      std::cerr << "clusternodes: " << workDir.error().message << "\n";
      return 1;
    }
    auto record = loadClusterRecord(clusterRecordPath(*workDir));
    if (!record) {
      if (record.error().code == ErrorCode::kNotFound) {
        std::cerr << "clusternodes: no local cluster is running in " << *workDir
                  << "; run 'clusternodes start' (or pass --master=HOST:PORT)\n";
      } else {
        std::cerr << "clusternodes: " << record.error().message
                  << "; run 'clusternodes stop' then 'clusternodes start'\n";
      }
      return 1;
    }
    httpUrl = record->http;
    described = "the local master " + record->master;
  }

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
