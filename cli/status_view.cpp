#include "cli/status_view.hpp"

#include <set>

#include "cli/table.hpp"

namespace clusternodes::cli {
namespace {

const nlohmann::json& field(const nlohmann::json& object, const char* name) {
  static const nlohmann::json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(name);
  return it == object.end() ? kNull : *it;
}

std::string text(const nlohmann::json& object, const char* name) {
  const auto& v = field(object, name);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  return "";
}

double number(const nlohmann::json& object, const char* name) {
  const auto& v = field(object, name);
  return v.is_number() ? v.get<double>() : 0.0;
}

std::string count(const nlohmann::json& object, const char* name) {
  const auto& v = field(object, name);
  return v.is_number() ? formatAmount(v.get<double>()) : "";
}

const nlohmann::json& array(const nlohmann::json& state, const char* name, bool& ok) {
  const auto& v = field(state, name);
  if (!v.is_array()) ok = false;
  return v;
}

}  // namespace

bool isTerminalTaskState(const std::string& state) {
  static const std::set<std::string> kTerminal = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR",
                                                  "TASK_LOST",     "TASK_DROPPED", "TASK_GONE"};
  return kTerminal.count(state) != 0;
}

Result<std::string> renderStatus(const nlohmann::json& state) {
  bool ok = state.is_object();
  if (!ok) return invalid("the master's /state is not a JSON object");
  const auto& agents = array(state, "agents", ok);
  const auto& frameworks = array(state, "frameworks", ok);
  const auto& tasks = array(state, "tasks", ok);
  if (!ok) return invalid("the master's /state lacks the agents, frameworks or tasks array");

  std::string out;

  Table agentTable({"ID", "HOSTNAME", "STATE", "CPUS", "MEM (MiB)", "TASKS"});
  for (size_t c : {3, 4, 5}) agentTable.alignRight(c);
  for (const auto& agent : agents) {
    const auto& total = field(agent, "resources");
    const auto& used = field(agent, "used_resources");
    const auto& reachable = field(agent, "reachable");
    agentTable.addRow({
        text(agent, "id"),
        text(agent, "hostname"),
        reachable.is_boolean() ? (reachable.get<bool>() ? "reachable" : "unreachable") : "",
        formatUsage(number(used, "cpus"), number(total, "cpus")),
        formatUsage(number(used, "mem"), number(total, "mem")),
        count(agent, "task_count"),
    });
  }
  out += "AGENTS\n";
  out += agentTable.rows() == 0 ? "no agents\n" : agentTable.render();

  Table frameworkTable({"ID", "NAME", "ROLE", "CONNECTED", "TASKS", "SHARE"});
  for (size_t c : {4, 5}) frameworkTable.alignRight(c);
  for (const auto& framework : frameworks) {
    const auto& connected = field(framework, "connected");
    const auto& share = field(framework, "dominant_share");
    frameworkTable.addRow({
        text(framework, "id"),
        text(framework, "name"),
        text(framework, "role"),
        connected.is_boolean() ? (connected.get<bool>() ? "yes" : "no") : "",
        count(framework, "task_count"),
        share.is_number() ? formatPercent(share.get<double>()) : "",
    });
  }
  out += "\nFRAMEWORKS\n";
  out += frameworkTable.rows() == 0 ? "no frameworks\n" : frameworkTable.render();

  Table taskTable({"ID", "FRAMEWORK", "AGENT", "STATE"});
  for (const auto& task : tasks) {
    std::string taskState = text(task, "state");
    if (isTerminalTaskState(taskState)) continue;
    taskTable.addRow({text(task, "id"), text(task, "framework_id"), text(task, "agent_id"), taskState});
  }
  out += "\nRUNNING TASKS\n";
  out += taskTable.rows() == 0 ? "no running tasks\n" : taskTable.render();
  return out;
}

}  // namespace clusternodes::cli
