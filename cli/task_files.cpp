#include "cli/task_files.hpp"

#include <optional>

#include "common/http_client.hpp"

namespace clusternodes::cli {

Result<nlohmann::json> getJson(const std::string& url) { return jsonAnswer(url, httpGet(url, 10.0)); }

Result<nlohmann::json> jsonAnswer(const std::string& url, const Result<HttpResult>& r) {
  if (!r) return r.error();
  auto body = nlohmann::json::parse(r->body, nullptr, false);
  if (r->status != 200) {
    std::string why = body.is_object() && body.contains("error") && body["error"].is_string()
                          ? body["error"].get<std::string>()
                          : "HTTP " + std::to_string(r->status);
    return Error{r->status == 404 ? ErrorCode::kNotFound : ErrorCode::kUnavailable, url + ": " + why};
  }
  if (body.is_discarded()) return internalError(url + " did not answer JSON");
  return body;
}

Result<std::string> agentHttpUrl(const nlohmann::json& state, const std::string& agentId) {
  if (state.contains("agents") && state["agents"].is_array()) {
    for (const auto& a : state["agents"]) {
      if (a.value("id", "") != agentId) continue;
      // http_url has the scheme (https for an agent with --tls-cert).
      if (a.contains("http_url") && a["http_url"].is_string()) return a["http_url"].get<std::string>();
      return "http://" + a.value("http_address", "");
    }
  }
  return notFound("the master lists no agent '" + agentId + "'");
}

Result<LocatedTask> locateTask(const std::string& masterHttp, const std::string& taskId) {
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
  auto agent = agentHttpUrl(*state, found->value("agent_id", ""));
  if (!agent) return notFound("the agent of task '" + taskId + "' is not registered");
  return LocatedTask{*found, *agent};
}

Result<std::string> newestSandboxRun(const std::string& agentHttp, const std::string& frameworkId,
                                     const std::string& taskId) {
  std::string dir = frameworkId + "/" + taskId;
  auto listing = getJson(agentHttp + "/files/browse?path=" + urlEncode(dir));
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

Result<FileChunk> readSandboxFile(const std::string& agentHttp, const std::string& path, int64_t offset) {
  auto url = agentHttp + "/files/read?path=" + urlEncode(path) + "&offset=" + std::to_string(offset);
  auto chunk = getJson(url);
  if (!chunk) return chunk.error();
  if (!chunk->contains("data") || !(*chunk)["data"].is_string() || !chunk->contains("offset") ||
      !(*chunk)["offset"].is_number_integer()) {
    return internalError(url + " did not answer a file chunk");
  }
  FileChunk out;
  out.data = (*chunk)["data"].get<std::string>();
  // The agent answers from where the file really is (a shorter file reads
  // from its end), so the next read follows what came, not what was asked.
  out.nextOffset = (*chunk)["offset"].get<int64_t>() + static_cast<int64_t>(out.data.size());
  return out;
}

}  // namespace clusternodes::cli
