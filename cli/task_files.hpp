// Reading a task's sandbox files from its agent, for `clusternodes logs` and
// `clusternodes run`: the master's /state says which agent runs the task,
// and that agent's /files/browse and /files/read serve its sandbox.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "clusternodes/result.hpp"
#include "common/http_client.hpp"

namespace clusternodes::cli {

// GET url, answered with JSON. A status other than 200 is an error carrying
// the server's own reason (kNotFound for a 404, else kUnavailable).
Result<nlohmann::json> getJson(const std::string& url);

// The JSON of an answer from `url`, as getJson() takes it (also for other
// methods than GET).
Result<nlohmann::json> jsonAnswer(const std::string& url, const Result<HttpResult>& reply);

// The HTTP base URL ("http://host:port") of the agent `agentId` in a
// master's /state, or kNotFound when the master does not list it.
Result<std::string> agentHttpUrl(const nlohmann::json& state, const std::string& agentId);

struct LocatedTask {
  nlohmann::json task;    // the master's view of it
  std::string agentHttp;  // "http://host:port"
};

// The task with this id in the master's /state, running or completed (the
// newest when several frameworks used the id).
Result<LocatedTask> locateTask(const std::string& masterHttp, const std::string& taskId);

// The newest run directory of a framework's task on its agent, as a path
// relative to the agent's sandboxes; kNotFound while there is none yet.
Result<std::string> newestSandboxRun(const std::string& agentHttp, const std::string& frameworkId,
                                     const std::string& taskId);

struct FileChunk {
  std::string data;
  int64_t nextOffset = 0;  // where the following read starts
};

// What a sandbox file holds from `offset` on, as much as the agent serves in
// one answer; empty data at the end of the file.
Result<FileChunk> readSandboxFile(const std::string& agentHttp, const std::string& path, int64_t offset);

}  // namespace clusternodes::cli
