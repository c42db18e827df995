// Unit tests for the validation of LAUNCH tasks and subscriptions.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "clusternodes/resources.hpp"
#include "clusternodes/values.hpp"
#include "master/validation.hpp"

using namespace clusternodes;
using namespace clusternodes::master;

namespace {

Resources res(std::string_view text) {
  auto parsed = Resources::parse(text);
  INFO("parsing: " << std::string(text));
  REQUIRE(parsed.ok());
  return *parsed;
}

const AgentID kAgent{"agent-1"};

// What the offers of the ACCEPT still hold.
Resources offered() { return res("cpus:4;mem:1024;disk:500;ports:[31000-31010]"); }

TaskInfo validTask() {
  TaskInfo task;
  task.name = "web";
  task.taskId = TaskID{"web-1"};
  task.agentId = kAgent;
  task.resources = res("cpus:1;mem:128");
  task.command.value = "sleep 10";
  return task;
}

Result<void> check(const TaskInfo& task, const std::set<TaskID>& used = {}) {
  return validateTask(task, kAgent, offered(), used);
}

// Asserts that `result` failed as invalid with a message naming `fragment`.
void expectInvalid(const Result<void>& result, std::string_view fragment) {
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == ErrorCode::kInvalid);
  INFO("message: " << result.error().message);
  CHECK(result.error().message.find(fragment) != std::string::npos);
}

}  // namespace

// ------------------------------------------------------------ validateTask

TEST_CASE("a well-formed task that fits the offers is valid") {
  CHECK(check(validTask()).ok());

  TaskInfo argv = validTask();
  argv.command.shell = false;
  argv.command.value.clear();
  argv.command.arguments = {"/bin/echo", "hello"};
  CHECK(check(argv).ok());

  TaskInfo withPorts = validTask();
  withPorts.resources = res("cpus:0.5;ports:[31000-31001]");
  CHECK(check(withPorts).ok());

  TaskInfo memOnly = validTask();
  memOnly.resources = res("mem:64");
  CHECK(check(memOnly).ok());
}

TEST_CASE("a task that takes exactly what the offers hold is valid") {
  TaskInfo task = validTask();
  task.resources = offered();
  CHECK(check(task).ok());
}

TEST_CASE("a task id must not be empty") {
  TaskInfo task = validTask();
  task.taskId = TaskID{""};
  expectInvalid(check(task), "task id is empty");
}

TEST_CASE("a task id with a space, a slash or a non-printable character is rejected") {
  const std::vector<std::string> ids = {"web 1", "web/1", "web\t1", std::string("web\x01", 4), "\x7f", "..", "."};
  for (const auto& id : ids) {
    INFO("id: " << id);
    TaskInfo task = validTask();
    task.taskId = TaskID{id};
    expectInvalid(check(task), "task id");
  }
}

TEST_CASE("task ids with ordinary punctuation are accepted") {
  for (const std::string id : {"web-1", "web_1.a", "job:42@batch", "a..b", "x+y=z"}) {
    INFO("id: " << id);
    TaskInfo task = validTask();
    task.taskId = TaskID{id};
    CHECK(check(task).ok());
  }
}

TEST_CASE("a task id longer than 256 characters is rejected") {
  TaskInfo task = validTask();
  task.taskId = TaskID{std::string(256, 'a')};
  CHECK(check(task).ok());
  task.taskId = TaskID{std::string(257, 'a')};
  expectInvalid(check(task), "longer than 256");
}

TEST_CASE("a task id already in use is rejected") {
  TaskInfo task = validTask();
  expectInvalid(check(task, {TaskID{"web-1"}}), "already in use");
  CHECK(check(task, {TaskID{"web-2"}}).ok());
}

TEST_CASE("a task must name the agent its offers are for") {
  TaskInfo task = validTask();
  task.agentId = AgentID{"agent-2"};
  auto result = check(task);
  expectInvalid(result, "agent-2");
  CHECK(result.error().message.find("agent-1") != std::string::npos);

  task.agentId = AgentID{""};
  expectInvalid(check(task), "agent-1");
}

TEST_CASE("a shell task needs a command") {
  TaskInfo task = validTask();
  task.command.value.clear();
  task.command.arguments = {"ignored", "for", "shell"};
  expectInvalid(check(task), "empty command");
}

TEST_CASE("an argv task needs arguments, whatever its shell value says") {
  TaskInfo task = validTask();
  task.command.shell = false;
  task.command.value = "sleep 10";  // not used in argv form
  task.command.arguments.clear();
  expectInvalid(check(task), "empty command");
}

TEST_CASE("a task must ask for resources") {
  TaskInfo task = validTask();
  task.resources = Resources();
  expectInvalid(check(task), "no resources");

  task.resources = res("disk:10");
  expectInvalid(check(task), "neither cpus nor mem");
}

TEST_CASE("a task asking for more than the offers hold names both amounts") {
  TaskInfo task = validTask();
  task.resources = res("cpus:8;mem:128");
  auto result = check(task);
  expectInvalid(result, task.resources.toString());
  CHECK(result.error().message.find(offered().toString()) != std::string::npos);
}

TEST_CASE("a task asking for ports or a reservation the offers lack is rejected") {
  TaskInfo ports = validTask();
  ports.resources = res("cpus:1;ports:[32000-32000]");
  expectInvalid(check(ports), "ports:[32000-32000]");

  TaskInfo reserved = validTask();
  reserved.resources = res("cpus(ml):1;mem:128");
  expectInvalid(check(reserved), "cpus(ml):1");

  TaskInfo gpus = validTask();
  gpus.resources = res("cpus:1;gpus:1");
  expectInvalid(check(gpus), "gpus:1");
}

TEST_CASE("a negative kill grace period is rejected, zero is accepted") {
  TaskInfo task = validTask();
  task.killGracePeriodSeconds = -1.0;
  expectInvalid(check(task), "grace period");

  task.killGracePeriodSeconds = 0.0;
  CHECK(check(task).ok());
  task.killGracePeriodSeconds = 30.0;
  CHECK(check(task).ok());
}

TEST_CASE("a kill grace period or cpu limit that is NaN, infinite or past a week is rejected") {
  TaskInfo task = validTask();
  for (double bad : {std::nan(""), std::numeric_limits<double>::infinity(), 8.0 * 24 * 3600}) {
    task.killGracePeriodSeconds = bad;
    expectInvalid(check(task), "grace period");
  }
  task.killGracePeriodSeconds = kMaxKillGracePeriodSeconds;
  CHECK(check(task).ok());
  task.killGracePeriodSeconds.reset();
  for (double bad : {std::nan(""), std::numeric_limits<double>::infinity()}) {
    task.cpuLimit = bad;
    expectInvalid(check(task), "cpu limit");
  }
}

TEST_CASE("a task's or its framework's user must be a user name") {
  TaskInfo task = validTask();
  task.command.user = "nobody";
  CHECK(check(task).ok());
  for (const char* bad : {"../root", "a b", "1000", "-x"}) {
    task.command.user = bad;
    expectInvalid(check(task), "user");
  }
  FrameworkInfo info;
  info.name = "fw";
  info.user = "root;rm";
  expectInvalid(validateFrameworkInfo(info), "framework user 'root;rm'");
  info.user = "";
  CHECK(validateFrameworkInfo(info).ok());
}

TEST_CASE("a framework's failover timeout is a finite number of seconds, 0 or more") {
  FrameworkInfo info;
  info.name = "fw";
  for (double bad : {-1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    info.failoverTimeoutSeconds = bad;
    expectInvalid(validateFrameworkInfo(info), "failover timeout");
  }
  info.failoverTimeoutSeconds = 7 * 24 * 3600;
  CHECK(validateFrameworkInfo(info).ok());
}

namespace {

TaskInfo dockerTask() {
  TaskInfo task = validTask();
  task.command = CommandInfo{};
  task.docker = DockerInfo{};
  task.docker->image = "clusternodes/busybox:latest";
  task.resources = res("cpus:1;mem:128;ports:[31000-31002]");
  return task;
}

}  // namespace

// A container may run its image's own command; a native task may not.
TEST_CASE("a Docker task needs an image but may leave the command to the image") {
  CHECK(check(dockerTask()).ok());
  TaskInfo task = dockerTask();
  task.docker->image = "";
  expectInvalid(check(task), "image is empty");
  task.docker->image = "bad image";
  expectInvalid(check(task), "space or a control character");
  task.docker->image = std::string(513, 'a');
  expectInvalid(check(task), "longer than 512");
  task.docker->image = "registry.example.org:5000/team/app@sha256:0123abcd";
  CHECK(check(task).ok());
  task.docker.reset();
  expectInvalid(check(task), "empty command");
}

TEST_CASE("a Docker task's port mappings publish its own ports, each once, as tcp or udp") {
  TaskInfo task = dockerTask();
  task.docker->portMappings = {{31000, 80, "tcp"}, {31001, 53, "udp"}, {31001, 53, "tcp"}};
  CHECK(check(task).ok());

  task.docker->portMappings = {{32000, 80, "tcp"}};
  expectInvalid(check(task), "host port 32000 is not among the task's ports");
  task.docker->portMappings = {{31000, 0, "tcp"}};
  expectInvalid(check(task), "container port is outside 1..65535");
  task.docker->portMappings = {{31000, 70000, "tcp"}};
  expectInvalid(check(task), "container port is outside 1..65535");
  task.docker->portMappings = {{31000, 80, "sctp"}};
  expectInvalid(check(task), "neither tcp nor udp");
  task.docker->portMappings = {{31000, 80, "tcp"}, {31000, 81, "tcp"}};
  expectInvalid(check(task), "mapped twice");
}

// ------------------------------------------------------------ validateFrameworkInfo

namespace {

FrameworkInfo validFramework() {
  FrameworkInfo info;
  info.name = "web-scheduler";
  info.user = "nobody";
  return info;
}

}  // namespace

TEST_CASE("a framework with a name and the default role is valid") {
  CHECK(validateFrameworkInfo(validFramework()).ok());
}

TEST_CASE("a framework needs a name") {
  FrameworkInfo info = validFramework();
  info.name.clear();
  expectInvalid(validateFrameworkInfo(info), "name is empty");
}

TEST_CASE("a failing-over framework's id is refused when agents could not make a directory of it") {
  // Agents name sandbox directories after it: '..' or a '/' would climb out.
  for (const std::string& id : std::vector<std::string>{"..", ".", "a/b", "../../etc", std::string("a\0b", 3), "a b",
                                                         std::string(257, 'f')}) {
    FrameworkInfo info = validFramework();
    info.id.value = id;
    INFO("id " << id);
    CHECK_FALSE(validateFrameworkInfo(info).ok());
  }
  FrameworkInfo info = validFramework();
  info.id.value = "3f2a-0001.retry_2";
  CHECK(validateFrameworkInfo(info).ok());
}

TEST_CASE("a framework's and a task's names are UTF-8 text without control characters, of bounded length") {
  for (const std::string& bad : std::vector<std::string>{"\xff", "caf\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                                                          "tab\there", "bell\x07", "del\x7f", "c1\xc2\x85",
                                                          std::string(1025, 'n')}) {
    INFO("name " << bad);
    FrameworkInfo info = validFramework();
    info.name = bad;
    CHECK_FALSE(validateFrameworkInfo(info).ok());
    TaskInfo task = validTask();
    task.name = bad;
    CHECK_FALSE(check(task).ok());
  }
  FrameworkInfo host = validFramework();
  host.hostname = "h\xfe";
  expectInvalid(validateFrameworkInfo(host), "framework hostname is not UTF-8 text");
  for (const std::string& good : std::vector<std::string>{"wordcount", "café ☕ 日本 𝄞", "", std::string(1024, 'n')}) {
    INFO("name " << good);
    FrameworkInfo info = validFramework();
    info.name = good.empty() ? "x" : good;
    CHECK(validateFrameworkInfo(info).ok());
    TaskInfo task = validTask();
    task.name = good;
    CHECK(check(task).ok());
  }
}

TEST_CASE("a framework role may use letters, digits and _ . / -") {
  for (const std::string role : {"*", "ml", "team/ml-1", "a_b.c", "ML2"}) {
    INFO("role: " << role);
    FrameworkInfo info = validFramework();
    info.role = role;
    CHECK(validateFrameworkInfo(info).ok());
  }
}

TEST_CASE("a framework role that is empty or has other characters is rejected") {
  FrameworkInfo info = validFramework();
  info.role.clear();
  expectInvalid(validateFrameworkInfo(info), "role is empty");

  for (const std::string role : {"m l", "ml;x", "ml(x)", "ml:1", "r\xc3\xb4le", "ml*", "**"}) {
    INFO("role: " << role);
    info.role = role;
    expectInvalid(validateFrameworkInfo(info), "role");
  }
}

TEST_CASE("a framework may subscribe to several roles, each valid and listed once") {
  FrameworkInfo info = validFramework();
  info.roles = {"eng/ml", "ops", "*"};
  CHECK(validateFrameworkInfo(info).ok());
  CHECK(subscribedRoles(info) == std::vector<std::string>{"eng/ml", "ops", "*"});

  info.roles = {"eng", "ops", "eng"};
  expectInvalid(validateFrameworkInfo(info), "listed twice");
  info.roles = {"eng", "bad role"};
  expectInvalid(validateFrameworkInfo(info), "character outside");

  info.roles.clear();
  info.role = "ml";
  CHECK(subscribedRoles(info) == std::vector<std::string>{"ml"});
}

// ------------------------------------------------------------ executors

namespace {

TaskInfo executorTask() {
  TaskInfo task = validTask();
  task.command = CommandInfo{};
  task.executor = ExecutorInfo{};
  task.executor->executorId.value = "tracker";
  task.executor->command.value = "/usr/bin/tracker";
  task.executor->resources = res("cpus:0.5;mem:128");
  return task;
}

}  // namespace

TEST_CASE("a task run by a framework's executor needs no command, the executor needs an id and a command") {
  CHECK(check(executorTask()).ok());

  TaskInfo noId = executorTask();
  noId.executor->executorId.value.clear();
  expectInvalid(check(noId), "executor id is empty");
  TaskInfo slash = executorTask();
  slash.executor->executorId.value = "a/b";
  expectInvalid(check(slash), "executor id 'a/b'");
  TaskInfo noCommand = executorTask();
  noCommand.executor->command.value.clear();
  expectInvalid(check(noCommand), "executor 'tracker' has an empty command");
  TaskInfo docker = executorTask();
  docker.docker = DockerInfo{"busybox"};
  expectInvalid(check(docker), "cannot also be a Docker task");
}

TEST_CASE("a task that starts its executor pays for both, one that joins a running executor must name it the same") {
  TaskInfo task = executorTask();
  // The task's 1 cpu plus the executor's 0.5 fit in 1.5 cpus, not in 1.2.
  CHECK(validateTask(task, kAgent, res("cpus:1.5;mem:1024"), {}).ok());
  expectInvalid(validateTask(task, kAgent, res("cpus:1.2;mem:1024"), {}), "its executor 'tracker'");

  // Joining a running executor costs only the task.
  ExecutorInfo running = *task.executor;
  CHECK(validateTask(task, kAgent, res("cpus:1;mem:128"), {}, &running).ok());
  running.command.value = "/usr/bin/other";
  expectInvalid(validateTask(task, kAgent, offered(), {}, &running), "already runs on this agent");
  running = *task.executor;
  running.resources = res("cpus:1;mem:128");
  expectInvalid(validateTask(task, kAgent, offered(), {}, &running), "already runs on this agent");
}

TEST_CASE("a command with a NUL byte, or an environment name that is empty or holds '=', is rejected") {
  TaskInfo task = validTask();
  task.command.environment["GOOD"] = "fine";
  CHECK(check(task).ok());
  task.command.value = std::string("echo a\0b", 8);
  expectInvalid(check(task), "task's command holds a NUL byte");
  task = validTask();
  task.command.environment["A=B"] = "x";
  expectInvalid(check(task), "environment variable name 'A=B'");
  task = validTask();
  task.command.environment[""] = "x";
  expectInvalid(check(task), "environment variable name ''");
  task = validTask();
  task.command.environment["SECRET"] = std::string("a\0b", 3);
  expectInvalid(check(task), "environment variable SECRET holds a NUL byte");
}
