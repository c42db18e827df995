#include "agent/containerizer/reaper.hpp"

#include <signal.h>

#include <vector>

namespace clusternodes::agent {
namespace {

constexpr auto kAdoptedPollInterval = std::chrono::milliseconds(500);

}  // namespace

Reaper::Reaper(Loop& loop, TimeSource& time) : loop_(loop), adoptedWatch_(time) {}

Reaper::~Reaper() = default;

Result<pid_t> Reaper::spawn(const std::string& id, const SpawnOptions& options, OnExit onExit) {
  auto child = ChildProcess::spawn(loop_, options, [this, id](const ExitStatus& exit) {
    auto it = processes_.find(id);
    if (it != processes_.end()) exited(id, it->second.pid, exit);
  });
  if (!child) return child.error();
  Process process;
  process.pid = (*child)->pid();
  process.startTime = processStartTime(process.pid).value_or(0);
  process.child = std::move(child.value());
  process.onExit = std::move(onExit);
  pid_t pid = process.pid;
  processes_[id] = std::move(process);
  return pid;
}

void Reaper::adopt(const std::string& id, pid_t pid, uint64_t startTime, OnExit onExit) {
  Process process;
  process.pid = pid;
  process.startTime = startTime;
  process.onExit = std::move(onExit);
  processes_[id] = std::move(process);
  if (!adoptedWatch_.active()) {
    adoptedWatch_.start(kAdoptedPollInterval, [this] { pollAdopted(); }, kAdoptedPollInterval);
  }
}

void Reaper::shared(const std::string& id, pid_t pid, uint64_t startTime, OnExit onExit) {
  adopt(id, pid, startTime, std::move(onExit));
  processes_[id].shared = true;
}

void Reaper::ended(const std::string& id, std::optional<ExitStatus> status) {
  auto it = processes_.find(id);
  if (it == processes_.end() || !it->second.shared) return;
  exited(id, it->second.pid, status);
}

void Reaper::forget(const std::string& id) { processes_.erase(id); }

uint64_t Reaper::startTime(const std::string& id) const {
  auto it = processes_.find(id);
  return it == processes_.end() ? 0 : it->second.startTime;
}

void Reaper::kill(const std::string& id) {
  auto it = processes_.find(id);
  if (it == processes_.end() || it->second.pid <= 0 || it->second.shared) return;
  const Process& process = it->second;
  bool same = process.child != nullptr ? !process.child->exited()
                                       : processStartTime(process.pid).value_or(0) == process.startTime;
  if (!same) return;
  ::kill(-process.pid, SIGKILL);
  ::kill(process.pid, SIGKILL);
}

void Reaper::exited(const std::string& id, pid_t pid, std::optional<ExitStatus> status) {
  auto it = processes_.find(id);
  if (it == processes_.end() || it->second.pid != pid) return;
  OnExit onExit = std::move(it->second.onExit);
  // Erased before the callback, which may start another process under `id`
  // or destroy what owns this Reaper's caller. A child's watch may be
  // destroyed from inside its own exit callback (common/process.hpp).
  processes_.erase(it);
  if (onExit) onExit(status);
}

void Reaper::pollAdopted() {
  std::vector<std::pair<std::string, pid_t>> gone;
  bool watching = false;
  std::map<pid_t, uint64_t> startTimes;  // a launcher holds many containers: looked at once
  for (const auto& [id, process] : processes_) {
    if (process.child != nullptr) continue;
    watching = true;
    auto known = startTimes.find(process.pid);
    if (known == startTimes.end()) {
      known = startTimes.emplace(process.pid, processStartTime(process.pid).value_or(0)).first;
    }
    if (known->second != process.startTime) gone.emplace_back(id, process.pid);
  }
  for (const auto& [id, pid] : gone) exited(id, pid, std::nullopt);
  if (!watching) adoptedWatch_.stop();
}

}  // namespace clusternodes::agent
