#include "cli/status_view.hpp"

#include <cmath>
#include <map>
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

std::string formatAge(double seconds) {
  if (!(seconds >= 0)) return "";
  auto s = static_cast<int64_t>(seconds);
  auto two = [](int64_t big, const char* bigUnit, int64_t small, const char* smallUnit) {
    std::string out = std::to_string(big) + bigUnit;
    if (small > 0) out += std::to_string(small) + smallUnit;
    return out;
  };
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return two(s / 60, "m", s % 60, "s");
  if (s < 86400) return two(s / 3600, "h", s % 3600 / 60, "m");
  return two(s / 86400, "d", s % 86400 / 3600, "h");
}

Result<std::string> renderAgents(const nlohmann::json& state) {
  bool ok = state.is_object();
  const auto& agents = array(state, "agents", ok);
  if (!ok) return invalid("the master's /state lacks the agents array");
  Table table({"ID", "HOSTNAME", "ADDRESS", "STATE", "CPUS", "MEM (MiB)", "DISK (MiB)", "TASKS", "ATTRIBUTES"});
  for (size_t c : {4, 5, 6, 7}) table.alignRight(c);
  for (const auto& agent : agents) {
    const auto& total = field(agent, "resources");
    const auto& used = field(agent, "used_resources");
    const auto& reachable = field(agent, "reachable");
    std::string attributes;
    const auto& attrs = field(agent, "attributes");
    if (attrs.is_object()) {
      for (const auto& [name, value] : attrs.items()) {
        if (!attributes.empty()) attributes += ",";
        attributes += name + "=" + (value.is_string() ? value.get<std::string>() : value.dump());
      }
    }
    table.addRow({
        text(agent, "id"),
        text(agent, "hostname"),
        text(agent, "http_address"),
        reachable.is_boolean() ? (reachable.get<bool>() ? "reachable" : "unreachable") : "",
        formatUsage(number(used, "cpus"), number(total, "cpus")),
        formatUsage(number(used, "mem"), number(total, "mem")),
        formatUsage(number(used, "disk"), number(total, "disk")),
        count(agent, "task_count"),
        attributes,
    });
  }
  return table.rows() == 0 ? std::string("no agents\n") : table.render();
}

Result<std::string> renderFrameworks(const nlohmann::json& state) {
  bool ok = state.is_object();
  const auto& frameworks = array(state, "frameworks", ok);
  if (!ok) return invalid("the master's /state lacks the frameworks array");
  Table table({"ID", "NAME", "ROLE", "CONNECTED", "TASKS", "SHARE", "OFFERS"});
  for (size_t c : {4, 5}) table.alignRight(c);
  for (const auto& framework : frameworks) {
    const auto& connected = field(framework, "connected");
    const auto& share = field(framework, "dominant_share");
    double waiting = number(framework, "waiting_for_offers_seconds");
    std::string offers = "-";
    if (field(framework, "suppressed") == true) {
      offers = "suppressed";
    } else if (field(framework, "starved") == true) {
      offers = "starved " + formatAge(waiting);
    } else if (waiting > 0) {
      offers = "wanted " + formatAge(waiting);
    }
    table.addRow({
        text(framework, "id"),
        text(framework, "name"),
        text(framework, "role"),
        connected.is_boolean() ? (connected.get<bool>() ? "yes" : "no") : "",
        count(framework, "task_count"),
        share.is_number() ? formatPercent(share.get<double>()) : "",
        offers,
    });
  }
  return table.rows() == 0 ? std::string("no frameworks\n") : table.render();
}

Result<std::string> normalizeTaskState(const std::string& name) {
  static const std::vector<std::string> kStates = {"STAGING", "STARTING", "RUNNING", "KILLING",  "FINISHED",
                                                   "FAILED",  "KILLED",   "ERROR",   "LOST",     "DROPPED",
                                                   "GONE",    "UNREACHABLE"};
  std::string upper;
  for (char c : name) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper.rfind("TASK_", 0) == 0) upper = upper.substr(5);
  for (const auto& state : kStates) {
    if (state == upper) return "TASK_" + state;
  }
  std::string known;
  for (const auto& state : kStates) {
    std::string lower;
    for (char c : state) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    known += (known.empty() ? "" : ", ") + lower;
  }
  return invalid("'" + name + "' is not a task state (" + known + ")");
}

Result<nlohmann::json> selectTasks(const nlohmann::json& state, const TaskFilter& filter) {
  bool ok = state.is_object();
  const auto& tasks = array(state, "tasks", ok);
  const auto& agents = array(state, "agents", ok);
  const auto& frameworks = array(state, "frameworks", ok);
  if (!ok) return invalid("the master's /state lacks the agents, frameworks or tasks array");
  // Agents by hostname, told apart by their ids' last part ("S1") when
  // several share one, as in a local cluster.
  std::map<std::string, int> perHostname;
  for (const auto& agent : agents) ++perHostname[text(agent, "hostname")];
  std::map<std::string, std::string> hostnames;
  for (const auto& agent : agents) {
    std::string id = text(agent, "id");
    std::string hostname = text(agent, "hostname");
    if (perHostname[hostname] > 1) hostname += " (" + id.substr(id.rfind('-') + 1) + ")";
    hostnames[id] = hostname;
  }
  std::map<std::string, std::string> names;
  for (const auto& framework : frameworks) names[text(framework, "id")] = text(framework, "name");

  std::string wantedState;
  if (!filter.state.empty()) {
    auto normal = normalizeTaskState(filter.state);
    if (!normal) return normal.error();
    wantedState = *normal;
  }

  nlohmann::json out = nlohmann::json::array();
  auto consider = [&](const nlohmann::json& task) {
    if (!task.is_object()) return;
    if (!wantedState.empty() && text(task, "state") != wantedState) return;
    std::string frameworkId = text(task, "framework_id");
    if (!filter.framework.empty() && frameworkId != filter.framework && names[frameworkId] != filter.framework) return;
    nlohmann::json row = task;
    row["framework_name"] = names[frameworkId];
    row["agent_hostname"] = hostnames[text(task, "agent_id")];
    out.push_back(std::move(row));
  };
  if (filter.all) {
    const auto& completed = field(state, "completed_tasks");
    if (completed.is_array()) {
      for (const auto& task : completed) consider(task);
    }
  }
  for (const auto& task : tasks) consider(task);
  return out;
}

std::string renderTasks(const nlohmann::json& tasks, double now) {
  Table table({"ID", "FRAMEWORK", "AGENT", "STATE", "AGE", "CPUS", "MEM (MiB)", "REASON"});
  for (size_t c : {4, 5, 6}) table.alignRight(c);
  for (const auto& task : tasks) {
    const auto& resources = field(task, "resources");
    const auto& created = field(task, "created_time");
    std::string reason = text(task, "status_reason");
    if (reason == "REASON_NONE" || reason == "NONE") reason.clear();
    std::string message = text(task, "status_message");
    if (!message.empty()) reason += (reason.empty() ? "" : ": ") + message;
    std::string framework = text(task, "framework_name");
    table.addRow({
        text(task, "id"),
        framework.empty() ? text(task, "framework_id") : framework,
        text(task, "agent_hostname").empty() ? text(task, "agent_id") : text(task, "agent_hostname"),
        text(task, "state"),
        created.is_number() && created.get<double>() > 0 ? formatAge(now - created.get<double>()) : "",
        formatAmount(number(resources, "cpus")),
        formatAmount(number(resources, "mem")),
        reason,
    });
  }
  return table.rows() == 0 ? std::string("no tasks\n") : table.render();
}

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
  // Masters elected through ZooKeeper: which one leads (the one that answered).
  if (!text(state, "zk").empty()) {
    out += "MASTER\n" + text(state, "id") + " leads at " + text(state, "endpoint") + ", elected through " +
           text(state, "zk") + "\n\n";
  }

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
