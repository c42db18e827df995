#include "tests/harness/masters.hpp"

#include <algorithm>
#include <stdexcept>

#include "common/http_client.hpp"

namespace clusternodes::testing {

MasterGroup::MasterGroup(std::string dir, std::string zkUrl, std::vector<std::string> flags)
    : dir_(std::move(dir)), zkUrl_(std::move(zkUrl)), flags_(std::move(flags)) {}

size_t MasterGroup::start(const std::string& ip, const std::vector<std::string>& launcher) {
  Master m;
  m.ip = ip;
  m.launcher = launcher;
  m.port = freePort();
  m.httpPort = freePort();
  masters_.push_back(std::move(m));
  size_t index = masters_.size() - 1;
  restart(index);
  return index;
}

void MasterGroup::restart(size_t index) {
  auto& m = masters_.at(index);
  m.process.reset();
  std::string name = "ha-master-" + std::to_string(index);
  std::vector<std::string> argv = m.launcher;
  std::vector<std::string> flags = {"--ip=" + m.ip,
                                    "--port=" + std::to_string(m.port),
                                    "--http-port=" + std::to_string(m.httpPort),
                                    "--work-dir=" + dir_ + "/" + name,
                                    "--zk=" + zkUrl_,
                                    "--zk-session-timeout=2s",
                                    "--agent-ping-timeout=500ms",
                                    "--max-agent-ping-timeouts=4"};
  auto named = [](const std::string& flag) { return flag.substr(0, flag.find('=')); };
  argv.push_back(binary("clusternodes-master"));
  for (const auto& flag : flags) {
    bool replaced = std::any_of(flags_.begin(), flags_.end(), [&](const auto& f) { return named(f) == named(flag); });
    if (!replaced) argv.push_back(flag);
  }
  argv.insert(argv.end(), flags_.begin(), flags_.end());
  std::string log = dir_ + "/" + name + (m.starts++ ? ".restart-" + std::to_string(m.starts - 1) : "") + ".log";
  m.process = std::make_unique<Process>(argv, log);
  if (!eventually([&] { return httpGet(http(index) + "/health", 1).ok(); })) {
    throw std::runtime_error("master " + std::to_string(index) + " did not come up; see " + log);
  }
}

std::string MasterGroup::http(size_t index) const {
  const auto& m = masters_.at(index);
  return "http://" + m.ip + ":" + std::to_string(m.httpPort);
}

nlohmann::json MasterGroup::state(size_t index) const {
  auto r = httpGet(http(index) + "/state", 5);
  if (!r || r->status != 200) return nullptr;
  return nlohmann::json::parse(r->body, nullptr, false);
}

std::vector<size_t> MasterGroup::leaders() const {
  std::vector<size_t> out;
  for (size_t i = 0; i < masters_.size(); ++i) {
    if (!masters_[i].process || !masters_[i].process->alive()) continue;
    auto s = state(i);
    if (s.is_object() && s.value("leading", false)) out.push_back(i);
  }
  return out;
}

std::string MasterGroup::taskState(const nlohmann::json& state, const std::string& taskId) {
  if (!state.is_object()) return "";
  for (const auto& t : state.value("tasks", nlohmann::json::array())) {
    if (t.value("id", "") == taskId) return t.value("state", "");
  }
  return "";
}

size_t MasterGroup::awaitLeader(std::chrono::milliseconds timeout) {
  size_t leader = 0;
  bool one = eventually(
      [&] {
        auto l = leaders();
        if (l.size() != 1) return false;
        leader = l[0];
        return true;
      },
      timeout);
  if (!one) throw std::runtime_error("no single master leads; see the masters' logs in " + dir_);
  return leader;
}

}  // namespace clusternodes::testing
