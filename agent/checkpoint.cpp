#include "agent/checkpoint.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace clusternodes::agent {
namespace {

namespace fs = std::filesystem;

Result<std::string> readWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return notFound("no " + path);
  std::stringstream content;
  content << in.rdbuf();
  if (in.bad()) return internalError("cannot read " + path);
  return content.str();
}

Result<nlohmann::json> readJson(const std::string& path) {
  auto text = readWhole(path);
  if (!text) return text.error();
  auto parsed = nlohmann::json::parse(*text, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) return invalid(path + " is not a JSON object");
  return parsed;
}

}  // namespace

Result<void> writeAtomically(const std::string& path, const std::string& bytes) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) return internalError("cannot create the directory of " + path + ": " + ec.message());
  std::string temporary = path + ".tmp";
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return internalError("cannot write " + temporary + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int error = errno;
      ::close(fd);
      return internalError("cannot write " + temporary + ": " + std::strerror(error));
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    return internalError("cannot rename " + temporary + " to " + path + ": " + std::strerror(errno));
  }
  return {};
}

Checkpoints::Checkpoints(std::string workDir) : meta_(std::move(workDir) + "/meta") {}

Result<void> Checkpoints::saveAgent(const AgentCheckpoint& agent) const {
  nlohmann::json j = {{"agent_id", agent.agentId.value}, {"boot_id", agent.bootId}};
  return writeAtomically(meta_ + "/agent.json", j.dump());
}

Result<AgentCheckpoint> Checkpoints::loadAgent() const {
  auto j = readJson(meta_ + "/agent.json");
  if (!j) return j.error();
  AgentCheckpoint agent;
  agent.agentId.value = j->value("agent_id", "");
  agent.bootId = j->value("boot_id", "");
  if (agent.agentId.empty()) return invalid(meta_ + "/agent.json has no agent_id");
  return agent;
}

Result<void> Checkpoints::saveRun(const RunCheckpoint& run) const {
  if (auto task = writeAtomically(meta_ + "/runs/" + run.containerId + "/task.bin", run.runTask); !task) return task;
  return saveRunState(run);
}

Result<void> Checkpoints::saveRunState(const RunCheckpoint& run) const {
  nlohmann::json j = {{"sandbox", run.sandbox}, {"executor_pid", run.executorPid}, {"state", toString(run.state)}};
  return writeAtomically(meta_ + "/runs/" + run.containerId + "/run.json", j.dump());
}

Result<void> Checkpoints::saveUpdates(const std::string& containerId, const std::vector<std::string>& updates) const {
  std::string bytes;
  for (const auto& update : updates) {
    auto size = static_cast<uint32_t>(update.size());
    for (int shift = 0; shift < 32; shift += 8) bytes.push_back(static_cast<char>((size >> shift) & 0xff));
    bytes += update;
  }
  return writeAtomically(meta_ + "/runs/" + containerId + "/updates.bin", bytes);
}

namespace {

// The records of an updates.bin; an error when it does not split exactly.
Result<std::vector<std::string>> splitUpdates(const std::string& bytes) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < bytes.size()) {
    if (bytes.size() - at < 4) return invalid("a truncated length");
    uint32_t size = 0;
    for (int i = 0; i < 4; ++i) size |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
    at += 4;
    if (bytes.size() - at < size) return invalid("a record runs past the end");
    out.push_back(bytes.substr(at, size));
    at += size;
  }
  return out;
}

}  // namespace

void Checkpoints::removeRun(const std::string& containerId) const {
  std::error_code ec;
  fs::remove_all(meta_ + "/runs/" + containerId, ec);
  if (ec) spdlog::warn("cannot remove the checkpoint of run {}: {}", containerId, ec.message());
}

std::vector<RunCheckpoint> Checkpoints::loadRuns(std::vector<std::string>* broken) const {
  std::vector<RunCheckpoint> runs;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(meta_ + "/runs", ec)) {
    if (!entry.is_directory(ec)) continue;
    RunCheckpoint run;
    run.containerId = entry.path().filename().string();
    auto task = readWhole(entry.path() / "task.bin");
    auto state = readJson(entry.path() / "run.json");
    std::optional<TaskState> parsed =
        state ? parseTaskState(state->value("state", "")) : std::optional<TaskState>();
    if (!task || !state || !parsed) {
      std::string why = !task ? task.error().message : !state ? state.error().message : "an unknown state";
      spdlog::warn("skipping the checkpoint of run {}: {}", run.containerId, why);
      if (broken != nullptr) broken->push_back(run.containerId);
      continue;
    }
    run.runTask = std::move(*task);
    run.sandbox = state->value("sandbox", "");
    run.executorPid = state->value("executor_pid", 0);
    run.state = *parsed;
    if (auto updates = readWhole(entry.path() / "updates.bin"); updates) {
      auto split = splitUpdates(*updates);
      if (!split) {
        spdlog::warn("the pending status updates of run {} are unreadable ({}); they are lost", run.containerId,
                     split.error().message);
      } else {
        run.updates = std::move(*split);
      }
    }
    runs.push_back(std::move(run));
  }
  return runs;
}

Result<void> Checkpoints::saveExecutor(const ExecutorCheckpoint& executor) const {
  std::string dir = meta_ + "/executors/" + executor.containerId;
  if (auto info = writeAtomically(dir + "/executor.bin", executor.info); !info) return info;
  nlohmann::json j = {{"sandbox", executor.sandbox}, {"pid", executor.pid}, {"start_time", executor.startTime}};
  return writeAtomically(dir + "/executor.json", j.dump());
}

void Checkpoints::removeExecutor(const std::string& containerId) const {
  std::error_code ec;
  fs::remove_all(meta_ + "/executors/" + containerId, ec);
  if (ec) spdlog::warn("cannot remove the checkpoint of executor container {}: {}", containerId, ec.message());
}

std::vector<ExecutorCheckpoint> Checkpoints::loadExecutors() const {
  std::vector<ExecutorCheckpoint> executors;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(meta_ + "/executors", ec)) {
    if (!entry.is_directory(ec)) continue;
    ExecutorCheckpoint executor;
    executor.containerId = entry.path().filename().string();
    auto info = readWhole(entry.path() / "executor.bin");
    auto state = readJson(entry.path() / "executor.json");
    if (!info || !state) {
      spdlog::warn("skipping the checkpoint of executor container {}: {}", executor.containerId,
                   !info ? info.error().message : state.error().message);
      removeExecutor(executor.containerId);
      continue;
    }
    executor.info = std::move(*info);
    executor.sandbox = state->value("sandbox", "");
    executor.pid = state->value("pid", 0);
    executor.startTime = state->value("start_time", uint64_t{0});
    executors.push_back(std::move(executor));
  }
  return executors;
}

void Checkpoints::clear() const {
  std::error_code ec;
  fs::remove_all(meta_, ec);
}

}  // namespace clusternodes::agent
