// `clusternodes logs TASK_ID`: a task's stdout (or stderr) through the
// master (which agent, which framework) and that agent's /files endpoints.
#include <chrono>
#include <iostream>
#include <thread>

#include "cli/commands.hpp"
#include "cli/master_target.hpp"
#include "cli/task_files.hpp"

namespace clusternodes::cli {
namespace {

bool terminal(const std::string& state) {
  return state == "TASK_FINISHED" || state == "TASK_FAILED" || state == "TASK_KILLED" || state == "TASK_ERROR" ||
         state == "TASK_LOST" || state == "TASK_DROPPED" || state == "TASK_GONE";
}

}  // namespace

int runLogs(const LogsOptions& options) {
  int exitCode = 1;
  auto master = findMaster(options.master, options.workDir, exitCode, options.keyFile, options.masterKeyFile);
  if (!master) return exitCode;
  auto where = locateTask(master->httpUrl, options.taskId);
  if (!where) {
    std::cerr << "clusternodes: " << where.error().message << "\n";
    return 1;
  }
  // The sandbox appears once the agent starts the executor.
  Result<std::string> run = notFound("");
  for (int attempt = 0; attempt < (options.follow ? 100 : 1); ++attempt) {
    run = newestSandboxRun(where->agentHttp, where->task.value("framework_id", ""), options.taskId);
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
    auto chunk = readSandboxFile(where->agentHttp, file, offset);
    if (!chunk) {
      std::cerr << "clusternodes: " << chunk.error().message << "\n";
      return 1;
    }
    std::cout << chunk->data << std::flush;
    offset = chunk->nextOffset;
    if (!chunk->data.empty()) continue;  // there may be more right away
    if (!options.follow || ended) return 0;
    // Follow until the task has ended, then drain what is left once more.
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    auto now = locateTask(master->httpUrl, options.taskId);
    ended = !now || terminal(now->task.value("state", ""));
  }
}

}  // namespace clusternodes::cli
