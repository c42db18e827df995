#include "agent/checkpoint.hpp"

#include <zlib.h>

#include <spdlog/spdlog.h>

#include <filesystem>
#include <limits>
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

namespace clusternodes::agent {
namespace {

constexpr std::string_view kMagic = "clusternodes-agent-checkpoint-2";
// The journal is folded into a new snapshot once it is larger than this and
// than four times the last snapshot.
constexpr uint64_t kCompactAbove = 1 << 20;

// Record kinds.
constexpr char kHeader = 'H';      // magic, generation
constexpr char kRun = 'R';         // id, RunTask, sandbox, pid, state
constexpr char kRunState = 'S';    // id, sandbox, pid, state
constexpr char kUpdates = 'U';     // id, update...
constexpr char kRunGone = 'X';     // id
constexpr char kExecutor = 'E';    // id, info, sandbox, pid, start time
constexpr char kExecutorGone = 'Y';  // id

void putU32(std::string& out, uint32_t value) {
  for (int shift = 0; shift < 32; shift += 8) out.push_back(static_cast<char>((value >> shift) & 0xff));
}

uint32_t getU32(std::string_view bytes, size_t at) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
  return value;
}

uint32_t crc(std::string_view bytes) {
  return static_cast<uint32_t>(
      ::crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

std::string payload(char kind, std::initializer_list<std::string_view> fields,
                    const std::vector<std::string>& more = {}) {
  std::string out(1, kind);
  for (auto field : fields) {
    putU32(out, static_cast<uint32_t>(field.size()));
    out += field;
  }
  for (const auto& field : more) {
    putU32(out, static_cast<uint32_t>(field.size()));
    out += field;
  }
  return out;
}

void appendFrame(std::string& out, const std::string& body) {
  putU32(out, static_cast<uint32_t>(body.size()));
  putU32(out, crc(body));
  out += body;
}

// The payloads of the whole records at the start of `bytes`; `valid` is
// where the last of them ends.
std::vector<std::string> splitFrames(std::string_view bytes, size_t& valid) {
  std::vector<std::string> out;
  size_t at = 0;
  while (bytes.size() - at >= 8) {
    uint32_t size = getU32(bytes, at);
    if (bytes.size() - at - 8 < size) break;
    std::string_view body = bytes.substr(at + 8, size);
    if (crc(body) != getU32(bytes, at + 4)) break;
    out.emplace_back(body);
    at += 8 + size;
  }
  valid = at;
  return out;
}

// A payload's kind and fields; false when it does not split exactly.
bool splitPayload(std::string_view body, char& kind, std::vector<std::string>& fields) {
  if (body.empty()) return false;
  kind = body[0];
  size_t at = 1;
  while (at < body.size()) {
    if (body.size() - at < 4) return false;
    uint32_t size = getU32(body, at);
    at += 4;
    if (body.size() - at < size) return false;
    fields.emplace_back(body.substr(at, size));
    at += size;
  }
  return true;
}

// A decimal field, whole; false when it is not one or does not fit.
template <typename T>
bool toNumber(const std::string& text, T& out) {
  try {
    size_t used = 0;
    auto value = std::stoll(text, &used);
    if (used != text.size() || value < static_cast<long long>(std::numeric_limits<T>::min()) ||
        (value > 0 &&
         static_cast<unsigned long long>(value) > static_cast<unsigned long long>(std::numeric_limits<T>::max()))) {
      return false;
    }
    out = static_cast<T>(value);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

// The records that hold a whole run and a whole executor: staged when they
// are saved, and written again into every snapshot.
std::string runRecord(const RunCheckpoint& run) {
  return payload(kRun, {run.containerId, run.runTask, run.sandbox, std::to_string(run.executorPid),
                        toString(run.state)});
}

std::string executorRecord(const ExecutorCheckpoint& executor) {
  return payload(kExecutor, {executor.containerId, executor.info, executor.sandbox, std::to_string(executor.pid),
                             std::to_string(executor.startTime)});
}

}  // namespace

Checkpoints::Checkpoints(std::string workDir, FileSystem& files, std::function<void()> onStaged)
    : meta_(std::move(workDir) + "/meta"), files_(files), onStaged_(std::move(onStaged)) {}

std::string Checkpoints::journalPath(uint64_t generation) const {
  return meta_ + "/journal-" + std::to_string(generation);
}

Result<void> Checkpoints::saveAgent(const AgentCheckpoint& agent) {
  nlohmann::json j = {{"agent_id", agent.agentId.value}, {"boot_id", agent.bootId}};
  return files_.replace(meta_ + "/agent.json", j.dump());
}

Result<AgentCheckpoint> Checkpoints::loadAgent() {
  std::string path = meta_ + "/agent.json";
  auto text = files_.read(path);
  if (!text) return text.error();
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return invalid(path + " is not a JSON object");
  AgentCheckpoint agent;
  agent.agentId.value = j.value("agent_id", "");
  agent.bootId = j.value("boot_id", "");
  if (agent.agentId.empty()) return invalid(path + " has no agent_id");
  return agent;
}

void Checkpoints::stage(const std::string& body) {
  appendFrame(batch_, body);
  if (onStaged_) onStaged_();
}

void Checkpoints::saveRun(const RunCheckpoint& run) {
  RunCheckpoint& saved = runs_[run.containerId];
  std::vector<std::string> updates = std::move(saved.updates);
  saved = run;
  saved.updates = std::move(updates);
  stage(runRecord(run));
}

void Checkpoints::saveRunState(const std::string& containerId, const std::string& sandbox, int executorPid,
                               TaskState state) {
  auto run = runs_.find(containerId);
  if (run == runs_.end()) return;
  run->second.sandbox = sandbox;
  run->second.executorPid = executorPid;
  run->second.state = state;
  stage(payload(kRunState, {containerId, sandbox, std::to_string(executorPid), toString(state)}));
}

void Checkpoints::saveUpdates(const std::string& containerId, const std::vector<std::string>& updates) {
  auto run = runs_.find(containerId);
  if (run == runs_.end()) return;
  run->second.updates = updates;
  stage(payload(kUpdates, {containerId}, updates));
}

void Checkpoints::removeRun(const std::string& containerId) {
  if (runs_.erase(containerId) == 0) return;
  stage(payload(kRunGone, {containerId}));
}

void Checkpoints::saveExecutor(const ExecutorCheckpoint& executor) {
  executors_[executor.containerId] = executor;
  stage(executorRecord(executor));
}

void Checkpoints::removeExecutor(const std::string& containerId) {
  if (executors_.erase(containerId) == 0) return;
  stage(payload(kExecutorGone, {containerId}));
}

Result<void> Checkpoints::commit() {
  if (!staged()) return {};
  uint64_t after = journalBytes_ + batch_.size();
  if (compactionDue_ || (after > kCompactAbove && after > 4 * snapshotBytes_)) return writeSnapshot();
  std::string path = journalPath(generation_);
  if (auto written = files_.append(path, batch_); !written) {
    // Take back what part of the batch reached the file; if that fails too,
    // the next commit starts a new generation instead of appending after it.
    if (auto cut = files_.truncate(path, journalBytes_); !cut && journalBytes_ > 0) compactionDue_ = true;
    return written;
  }
  journalBytes_ = after;
  batch_.clear();
  return {};
}

Result<void> Checkpoints::writeSnapshot() {
  uint64_t next = generation_ + 1;
  std::string content;
  appendFrame(content, payload(kHeader, {kMagic, std::to_string(next)}));
  for (const auto& [id, run] : runs_) {
    appendFrame(content, runRecord(run));
    if (!run.updates.empty()) appendFrame(content, payload(kUpdates, {id}, run.updates));
  }
  for (const auto& [id, executor] : executors_) appendFrame(content, executorRecord(executor));
  if (auto written = files_.replace(meta_ + "/checkpoint", content); !written) return written;
  // From here the snapshot holds everything; the old journal is not read.
  for (const char* legacy : {"/runs", "/executors"}) (void)files_.remove(meta_ + legacy);
  (void)files_.remove(journalPath(generation_));
  generation_ = next;
  journalBytes_ = 0;
  snapshotBytes_ = content.size();
  batch_.clear();
  compactionDue_ = false;
  ++snapshots_;
  return {};
}

bool Checkpoints::apply(const std::string& body, std::vector<std::string>* broken) {
  char kind = 0;
  std::vector<std::string> f;
  bool ok = splitPayload(body, kind, f);
  auto bad = [&](const std::string& why) {
    std::string id = f.empty() ? "?" : f[0];
    spdlog::warn("skipping a checkpoint record of {}: {}", id, why);
    if (broken != nullptr && !f.empty()) broken->push_back(id);
    compactionDue_ = true;
    return false;
  };
  if (!ok) return bad("its fields do not add up");
  switch (kind) {
    case kRun:
    case kRunState: {
      bool full = kind == kRun;
      if (f.size() != (full ? 5u : 4u)) return bad("a run record needs " + std::to_string(full ? 5 : 4) + " fields");
      int pid = 0;
      auto state = parseTaskState(f.back());
      if (!toNumber(f[f.size() - 2], pid) || !state) return bad("a bad pid or state");
      if (!full && runs_.count(f[0]) == 0) return true;  // a state change of a run removed since
      RunCheckpoint& run = runs_[f[0]];
      run.containerId = f[0];
      if (full) run.runTask = f[1];
      run.sandbox = f[full ? 2 : 1];
      run.executorPid = pid;
      run.state = *state;
      return true;
    }
    case kUpdates: {
      if (f.empty()) return bad("an updates record without a run");
      auto run = runs_.find(f[0]);
      if (run != runs_.end()) run->second.updates.assign(f.begin() + 1, f.end());
      return true;
    }
    case kRunGone:
      if (f.size() != 1) return bad("a removal needs the id");
      runs_.erase(f[0]);
      return true;
    case kExecutor: {
      ExecutorCheckpoint executor;
      if (f.size() != 5 || !toNumber(f[3], executor.pid) || !toNumber(f[4], executor.startTime)) {
        return bad("an executor record needs an id, info, sandbox, pid and start time");
      }
      executor.containerId = f[0];
      executor.info = f[1];
      executor.sandbox = f[2];
      executors_[f[0]] = std::move(executor);
      return true;
    }
    case kExecutorGone:
      if (f.size() != 1) return bad("a removal needs the id");
      executors_.erase(f[0]);
      return true;
    default: return bad(std::string("an unknown kind '") + kind + "'");
  }
}

void Checkpoints::load(std::vector<std::string>* broken) {
  runs_.clear();
  executors_.clear();
  batch_.clear();
  generation_ = 0;
  snapshotBytes_ = 0;
  compactionDue_ = false;
  auto snapshot = files_.read(meta_ + "/checkpoint");
  if (!snapshot) {
    if (snapshot.error().code != ErrorCode::kNotFound) {
      spdlog::warn("cannot read the agent's checkpoint: {}", snapshot.error().message);
      compactionDue_ = true;
    }
    loadLegacy(broken);
  } else {
    size_t valid = 0;
    auto records = splitFrames(*snapshot, valid);
    char kind = 0;
    std::vector<std::string> header;
    uint64_t generation = 0;
    if (records.empty() || !splitPayload(records[0], kind, header) || kind != kHeader || header.size() != 2 ||
        header[0] != kMagic || !toNumber(header[1], generation)) {
      spdlog::warn("{}/checkpoint is not a checkpoint of this agent's format; starting from nothing", meta_);
      compactionDue_ = true;
    } else {
      generation_ = generation;
      snapshotBytes_ = snapshot->size();
      for (size_t i = 1; i < records.size(); ++i) apply(records[i], broken);
      if (valid != snapshot->size()) {
        spdlog::warn("{}/checkpoint ends in {} unreadable byte(s)", meta_, snapshot->size() - valid);
        compactionDue_ = true;
      }
    }
  }
  auto journal = files_.read(journalPath(generation_));
  journalBytes_ = 0;
  if (journal) {
    size_t valid = 0;
    for (const auto& record : splitFrames(*journal, valid)) apply(record, broken);
    journalBytes_ = valid;
    if (valid != journal->size()) {
      // The agent died in the middle of a write: what it had not finished
      // writing was not acknowledged to anyone.
      spdlog::info("the checkpoint journal ends in a torn record ({} byte(s)); it is dropped",
                   journal->size() - valid);
      compactionDue_ = true;
    }
  } else if (journal.error().code != ErrorCode::kNotFound) {
    spdlog::warn("cannot read the checkpoint journal: {}", journal.error().message);
    compactionDue_ = true;
  }
  // A snapshot written just before a crash may have left its predecessor's journal.
  if (generation_ > 0) (void)files_.remove(journalPath(generation_ - 1));
}

void Checkpoints::loadLegacy(std::vector<std::string>* broken) {
  namespace fs = std::filesystem;
  std::error_code ec;
  bool any = false;
  auto readJson = [&](const fs::path& path) {
    auto text = files_.read(path.string());
    auto j = text ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json();
    return j.is_object() ? j : nlohmann::json();
  };
  for (const auto& entry : fs::directory_iterator(meta_ + "/runs", ec)) {
    if (!entry.is_directory(ec)) continue;
    any = true;
    std::string id = entry.path().filename().string();
    auto task = files_.read((entry.path() / "task.bin").string());
    auto state = readJson(entry.path() / "run.json");
    auto parsed = state.is_object() ? parseTaskState(state.value("state", "")) : std::nullopt;
    if (!task || !parsed) {
      spdlog::warn("skipping the checkpoint of run {}: no task or no state", id);
      if (broken != nullptr) broken->push_back(id);
      continue;
    }
    RunCheckpoint run;
    run.containerId = id;
    run.runTask = std::move(*task);
    run.sandbox = state.value("sandbox", "");
    run.executorPid = state.value("executor_pid", 0);
    run.state = *parsed;
    if (auto updates = files_.read((entry.path() / "updates.bin").string()); updates) {
      size_t at = 0;
      while (updates->size() - at >= 4) {
        uint32_t size = getU32(*updates, at);
        if (updates->size() - at - 4 < size) break;
        run.updates.push_back(updates->substr(at + 4, size));
        at += 4 + size;
      }
      if (at != updates->size()) {
        spdlog::warn("the pending status updates of run {} are unreadable; they are lost", id);
        run.updates.clear();
      }
    }
    runs_[id] = std::move(run);
  }
  for (const auto& entry : fs::directory_iterator(meta_ + "/executors", ec)) {
    if (!entry.is_directory(ec)) continue;
    any = true;
    std::string id = entry.path().filename().string();
    auto info = files_.read((entry.path() / "executor.bin").string());
    auto state = readJson(entry.path() / "executor.json");
    if (!info || !state.is_object()) {
      spdlog::warn("skipping the checkpoint of executor container {}", id);
      continue;
    }
    executors_[id] = {id, std::move(*info), state.value("sandbox", ""), state.value("pid", 0),
                      state.value("start_time", uint64_t{0})};
  }
  if (any) {
    spdlog::info("read {} run(s) and {} executor(s) checkpointed by an earlier version; rewriting them",
                 runs_.size(), executors_.size());
    compactionDue_ = true;
  }
}

void Checkpoints::clear() {
  if (auto removed = files_.remove(meta_); !removed) spdlog::warn("{}", removed.error().message);
  runs_.clear();
  executors_.clear();
  batch_.clear();
  generation_ = 0;
  journalBytes_ = 0;
  snapshotBytes_ = 0;
  compactionDue_ = false;
}

}  // namespace clusternodes::agent
