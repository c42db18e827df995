// `clusternodes logs TASK_ID`: a task's stdout (or stderr) through the
// master (which agent, which framework) and that agent's /files endpoints.
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/commands.hpp"
#include "cli/master_target.hpp"
#include "common/http_client.hpp"

namespace clusternodes::cli {
namespace {

Result<nlohmann::json> getJson(const std::string& url) {
  auto r = httpGet(url, 10.0);
  if (!r) return r.error();
  auto body = nlohmann::json::parse(r->body, nullptr, false);
  if (r->status != 200) {
    std::string why = body.is_object() && body.contains("error") ? body["error"].get<std::string>()
                                                                 : "HTTP " + std::to_string(r->status);
    return Error{r->status == 404 ? ErrorCode::kNotFound : ErrorCode::kUnavailable, url + ": " + why};
  }
  if (body.is_discarded()) return internalError(url + " did not answer JSON");
  return body;
}

struct Located {
  nlohmann::json task;   // the master's view of it
  std::string agentHttp;  // "http://host:port"
};

// The task with this id in the master's /state, running or completed (the
// newest when several frameworks used the id).
Result<Located> locate(const std::string& masterHttp, const std::string& taskId) {
  auto state = getJson(masterHttp + "/state");
  if (!state) return state.error();
  std::optional<nlohmann::json> found;
  for (const char* list : {"tasks", "completed_tasks"}) {
    if (!state->contains(list)) continue;
    for (const auto& t : (*state)[list]) {
      if (t.value("id", "") != taskId) continue;
      if (!found || t.value("created_time", 0.0) > found->value("created_time", 0.0)) found = t;
    }
  }
  if (!found) return notFound("the master knows no task '" + taskId + "'");
  for (const auto& a : (*state)["agents"]) {
    if (a.value("id", "") == found->value("agent_id", "")) {
      return Located{*found, "http://" + a.value("http_address", "")};
    }
  }
  return notFound("the agent of task '" + taskId + "' is not registered");
}

// The newest run directory of the task on its agent, relative to the
// agent's sandboxes.
Result<std::string> newestRun(const Located& where) {
  std::string dir = where.task.value("framework_id", "") + "/" + where.task.value("id", "");
  auto listing = getJson(where.agentHttp + "/files/browse?path=" + urlEncode(dir));
  if (!listing) return listing.error();
  std::string best;
  int64_t bestTime = -1;
  for (const auto& e : (*listing)["entries"]) {
    if (!e.value("is_dir", false)) continue;
    if (e.value("mtime", int64_t{0}) >= bestTime) {
      bestTime = e.value("mtime", int64_t{0});
      best = e.value("name", "");
    }
  }
  if (best.empty()) return notFound("the task has no sandbox on its agent yet");
  return dir + "/" + best;
}

bool terminal(const std::string& state) {
  return state == "TASK_FINISHED" || state == "TASK_FAILED" || state == "TASK_KILLED" || state == "TASK_ERROR" ||
         state == "TASK_LOST" || state == "TASK_DROPPED" || state == "TASK_GONE";
}

}  // namespace

int runLogs(const LogsOptions& options) {
  int exitCode = 1;
  auto master = findMaster(options.master, options.workDir, exitCode);
  if (!master) return exitCode;
  auto where = locate(master->httpUrl, options.taskId);
  if (!where) {
    std::cerr << "clusternodes: " << where.error().message << "\n";
    return 1;
  }
  // The sandbox appears once the agent starts the executor.
  Result<std::string> run = notFound("");
  for (int attempt = 0; attempt < (options.follow ? 100 : 1); ++attempt) {
    run = newestRun(*where);
    if (run || run.error().code != ErrorCode::kNotFound || !options.follow) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!run) {
    std::cerr << "clusternodes: " << run.error().message << "\n";
    return 1;
  }
  const std::string file = *run + (options.showStderr ? "/stderr" : "/stdout");
  int64_t offset = 0;
  bool ended = false;
  for (;;) {
    auto chunk = getJson(where->agentHttp + "/files/read?path=" + urlEncode(file) + "&offset=" +
                         std::to_string(offset));
    if (!chunk) {
      std::cerr << "clusternodes: " << chunk.error().message << "\n";
      return 1;
    }
    std::string data = (*chunk)["data"].get<std::string>();
    std::cout << data << std::flush;
    offset = (*chunk)["offset"].get<int64_t>() + static_cast<int64_t>(data.size());
    if (!data.empty()) continue;  // there may be more right away
    if (!options.follow || ended) return 0;
    // Follow until the task has ended, then drain what is left once more.
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    auto now = locate(master->httpUrl, options.taskId);
    ended = !now || terminal(now->task.value("state", ""));
  }
}

}  // namespace clusternodes::cli
