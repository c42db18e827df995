#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "common/loop.hpp"
#include "common/process.hpp"
#include "common/users.hpp"
#include "tests/harness/temp_dir.hpp"

using namespace clusternodes;

using clusternodes::testing::TempDir;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs `options` to its end on a fresh loop; returns how it ended.
std::optional<ExitStatus> runToExit(const SpawnOptions& options) {
  Loop loop;
  std::optional<ExitStatus> result;
  std::unique_ptr<ChildProcess> child;
  auto spawned = ChildProcess::spawn(loop, options, [&](const ExitStatus& exit) {
    result = exit;
    child.reset();  // destroying it from its own callback is allowed
  });
  REQUIRE(spawned.ok());
  child = std::move(spawned.value());
  CHECK(child->pid() > 0);
  loop.run();
  return result;
}

}  // namespace

TEST_CASE("ChildProcess: reports the exit code of the program") {
  SpawnOptions options;
  options.file = "/bin/sh";
  options.args = {"sh", "-c", "exit 3"};
  auto exit = runToExit(options);
  REQUIRE(exit.has_value());
  CHECK(exit->code == 3);
  CHECK(exit->signal == 0);
}

TEST_CASE("ChildProcess: reports the signal that ended the program") {
  SpawnOptions options;
  options.file = "/bin/sh";
  options.args = {"sh", "-c", "kill -KILL $$"};
  auto exit = runToExit(options);
  REQUIRE(exit.has_value());
  CHECK(exit->signal == SIGKILL);
}

TEST_CASE("ChildProcess: runs in its directory with its environment, output to the given files, in a new session") {
  TempDir dir("cn-process-test");
  int out = ::open((dir.path + "/out").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  int err = ::open((dir.path + "/err").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  REQUIRE(out >= 0);
  REQUIRE(err >= 0);
  SpawnOptions options;
  options.file = "sh";  // searched in PATH
  options.args = {"sh", "-c", "pwd; echo \"$GREETING\"; cut -d' ' -f6 /proc/$$/stat; echo oops >&2; cat; echo end"};
  options.environment = std::vector<std::string>{"GREETING=hello", "PATH=/usr/bin:/bin"};
  options.workingDirectory = dir.path;
  options.stdoutFd = out;
  options.stderrFd = err;
  auto exit = runToExit(options);
  ::close(out);
  ::close(err);
  REQUIRE(exit.has_value());
  CHECK(exit->code == 0);
  std::istringstream lines(slurp(dir.path + "/out"));
  std::string cwd, greeting, sid, end;
  std::getline(lines, cwd);
  std::getline(lines, greeting);
  std::getline(lines, sid);
  std::getline(lines, end);  // stdin was /dev/null: cat ended at once
  CHECK(std::filesystem::equivalent(cwd, dir.path));
  CHECK(greeting == "hello");
  CHECK(sid != std::to_string(::getsid(0)));  // not our session
  CHECK(end == "end");
  CHECK(slurp(dir.path + "/err") == "oops\n");
}

TEST_CASE("ChildProcess: the program starts with default signal handling even when ours ignores SIGTERM") {
  auto previous = ::signal(SIGTERM, SIG_IGN);
  SpawnOptions options;
  options.file = "/bin/sh";
  options.args = {"sh", "-c", "kill -TERM $$; sleep 5"};
  auto exit = runToExit(options);
  ::signal(SIGTERM, previous);
  REQUIRE(exit.has_value());
  CHECK(exit->signal == SIGTERM);
}

TEST_CASE("ChildProcess: a program that cannot run is an error with the reason, not a child") {
  Loop loop;
  SpawnOptions options;
  options.file = "/nonexistent/program";
  options.args = {"program"};
  bool called = false;
  auto spawned = ChildProcess::spawn(loop, options, [&](const ExitStatus&) { called = true; });
  REQUIRE_FALSE(spawned.ok());
  CHECK(spawned.error().message.find("No such file or directory") != std::string::npos);
  CHECK(spawned.error().message.find("/nonexistent/program") != std::string::npos);

  options.file = "/bin/true";
  options.args = {"true"};
  options.workingDirectory = "/nonexistent/dir";
  auto badDir = ChildProcess::spawn(loop, options, [&](const ExitStatus&) { called = true; });
  REQUIRE_FALSE(badDir.ok());
  CHECK(badDir.error().message.find("/nonexistent/dir") != std::string::npos);
  loop.run();
  CHECK_FALSE(called);
}

TEST_CASE("ChildProcess: destroying it before the program ends stops the callback, not the program") {
  Loop loop;
  SpawnOptions options;
  options.file = "/bin/sleep";
  options.args = {"sleep", "0.2"};
  bool called = false;
  auto spawned = ChildProcess::spawn(loop, options, [&](const ExitStatus&) { called = true; });
  REQUIRE(spawned.ok());
  pid_t pid = spawned.value()->pid();
  spawned.value().reset();
  CHECK(::kill(pid, 0) == 0);  // still running
  loop.run();
  CHECK_FALSE(called);
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

// SpawnOptions::cgroups: the child writes itself ("0") into each named
// cgroup.procs before it execs. Plain files stand in for the cgroups here
// (what the kernel does with the write is cgroups_test's and the isolation
// tests'); the rest of the start behaves as without them.
TEST_CASE("ChildProcess: with cgroups the child joins each one itself, then runs as without them") {
  TempDir dir("cn-process-cgroups");
  for (const char* name : {"memory", "cpu"}) {
    std::filesystem::create_directories(dir.path + "/" + name);
    std::ofstream(dir.path + "/" + name + "/cgroup.procs");
  }
  int out = ::open((dir.path + "/out").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  REQUIRE(out >= 0);
  auto previous = ::signal(SIGTERM, SIG_IGN);
  SpawnOptions options;
  options.file = "sh";  // searched in PATH
  options.args = {"sh", "-c", "pwd; echo \"$GREETING\"; cut -d' ' -f6 /proc/$$/stat; kill -TERM $$; sleep 5"};
  options.environment = std::vector<std::string>{"GREETING=hello", "PATH=/usr/bin:/bin"};
  options.workingDirectory = dir.path;
  options.stdoutFd = out;
  options.cgroups = {dir.path + "/memory", dir.path + "/cpu"};
  auto exit = runToExit(options);
  ::signal(SIGTERM, previous);
  ::close(out);
  REQUIRE(exit.has_value());
  CHECK(exit->signal == SIGTERM);  // default handling, though ours ignores it
  CHECK(slurp(dir.path + "/memory/cgroup.procs") == "0");
  CHECK(slurp(dir.path + "/cpu/cgroup.procs") == "0");
  std::istringstream lines(slurp(dir.path + "/out"));
  std::string cwd, greeting, sid;
  std::getline(lines, cwd);
  std::getline(lines, greeting);
  std::getline(lines, sid);
  CHECK(std::filesystem::equivalent(cwd, dir.path));
  CHECK(greeting == "hello");
  CHECK(sid != std::to_string(::getsid(0)));
}

TEST_CASE("ChildProcess: with cgroups, a cgroup, a program or a directory that is not there is an error, not a child") {
  TempDir dir("cn-process-cgroups");
  std::filesystem::create_directories(dir.path + "/memory");
  std::ofstream(dir.path + "/memory/cgroup.procs");
  Loop loop;
  bool called = false;
  SpawnOptions options;
  options.file = "/bin/true";
  options.args = {"true"};
  options.cgroups = {dir.path + "/memory", dir.path + "/gone"};
  auto noCgroup = ChildProcess::spawn(loop, options, [&](const ExitStatus&) { called = true; });
  REQUIRE_FALSE(noCgroup.ok());
  CHECK(noCgroup.error().message.find(dir.path + "/gone") != std::string::npos);

  options.cgroups = {dir.path + "/memory"};
  options.file = "/nonexistent/program";
  options.args = {"program"};
  auto noProgram = ChildProcess::spawn(loop, options, [&](const ExitStatus&) { called = true; });
  REQUIRE_FALSE(noProgram.ok());
  CHECK(noProgram.error().code == ErrorCode::kNotFound);
  CHECK(noProgram.error().message.find("No such file or directory") != std::string::npos);

  options.file = "/bin/true";
  options.args = {"true"};
  options.workingDirectory = "/nonexistent/dir";
  auto noDir = ChildProcess::spawn(loop, options, [&](const ExitStatus&) { called = true; });
  REQUIRE_FALSE(noDir.ok());
  CHECK(noDir.error().message.find("/nonexistent/dir") != std::string::npos);
  loop.run();
  CHECK_FALSE(called);
}

TEST_CASE("parseProcessStat reads a /proc/PID/stat line, whatever the command name holds") {
  // Fields 1-24 of a real line: pid (comm) state ppid pgrp session tty tpgid
  // flags minflt cminflt majflt cmajflt utime stime cutime cstime priority
  // nice threads itreal starttime vsize rss, then more.
  auto entry = parseProcessStat(
      "4242 (clusternodes-ag) S 1 4242 4240 0 -1 4194560 900 0 3 0 120 30 5 -2 20 0 4 0 987654 12345678 2048 "
      "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0");
  REQUIRE(entry.has_value());
  CHECK(entry->pid == 4242);
  CHECK(entry->state == 'S');
  CHECK(entry->ppid == 1);
  CHECK(entry->pgrp == 4242);
  CHECK(entry->session == 4240);
  CHECK(entry->userTicks == 125);   // utime + cutime
  CHECK(entry->systemTicks == 30);  // stime + a negative cstime counted as 0
  CHECK(entry->startTime == 987654);
  CHECK(entry->rssPages == 2048);

  // A command name with spaces and parentheses: the fields follow the last ')'.
  auto odd = parseProcessStat("77 (a) b (c)) Z 5 6 7 0 0 0 0 0 0 0 1 2 0 0 20 0 1 0 4711 0 0");
  REQUIRE(odd.has_value());
  CHECK(odd->pid == 77);
  CHECK(odd->state == 'Z');
  CHECK(odd->ppid == 5);
  CHECK(odd->session == 7);
  CHECK(odd->startTime == 4711);

  CHECK_FALSE(parseProcessStat("").has_value());
  CHECK_FALSE(parseProcessStat("garbage").has_value());
  CHECK_FALSE(parseProcessStat("12 (x) S 1").has_value());  // truncated
  CHECK_FALSE(parseProcessStat("(x) S 1 2 3 0 0 0 0 0 0 0 1 2 0 0 20 0 1 0 4711 0 0").has_value());  // no pid
}

TEST_CASE("readProcessEntry: this process as /proc sees it, and none for a pid that is not there") {
  auto self = readProcessEntry(::getpid());
  REQUIRE(self.has_value());
  CHECK(self->pid == ::getpid());
  CHECK(self->ppid == ::getppid());
  CHECK(self->session == ::getsid(0));
  CHECK(self->startTime == processStartTime(::getpid()).value_or(0));
  CHECK_FALSE(readProcessEntry(0).has_value());
  CHECK_FALSE(readProcessEntry(-5).has_value());
}

TEST_CASE("ChildProcess: with a user the child runs as its uid, gid and groups, and enters its directory as it") {
  if (::geteuid() != 0) return;  // switching users needs root
  auto nobody = lookupUser("nobody");
  REQUIRE(nobody);
  TempDir dir;
  ::chmod(dir.path.c_str(), 0755);
  std::string home = dir.path + "/home";
  std::filesystem::create_directory(home);
  REQUIRE(::chown(home.c_str(), nobody->uid, nobody->gid) == 0);
  std::string out = home + "/out";
  int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  SpawnOptions options;
  options.file = "/bin/sh";
  options.args = {"sh", "-c", "id -u; id -g; id -G; touch made; cat /etc/shadow"};
  options.workingDirectory = home;
  options.stdoutFd = fd;
  options.stderrFd = fd;
  options.user = SpawnOptions::User{nobody->name, nobody->uid, nobody->gid, nobody->groups};
  auto exit = runToExit(options);
  ::close(fd);
  REQUIRE(exit);
  CHECK(exit->code != 0);  // /etc/shadow is root's
  std::string text = slurp(out);
  INFO(text);
  CHECK(text.find(std::to_string(nobody->uid) + "\n" + std::to_string(nobody->gid) + "\n") == 0);
  CHECK(text.find("Permission denied") != std::string::npos);
  struct stat st {};
  REQUIRE(::stat((home + "/made").c_str(), &st) == 0);
  CHECK(st.st_uid == nobody->uid);
  // This process is still root: only the child switched.
  CHECK(::geteuid() == 0);

  // A directory the user may not enter: an error saying so, not a child.
  Loop loop;
  options.workingDirectory = dir.path + "/private";
  ::mkdir(options.workingDirectory.c_str(), 0700);
  options.stdoutFd = -1;
  options.stderrFd = -1;
  auto refused = ChildProcess::spawn(loop, options, [](const ExitStatus&) {});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message == "cannot enter the working directory " + options.workingDirectory +
                                       " as user 'nobody': Permission denied");
}

TEST_CASE("lookupUser: a user of this host with its groups, and kNotFound for one that is not") {
  auto root = lookupUser("root");
  REQUIRE(root);
  CHECK(root->uid == 0);
  CHECK(root->gid == 0);
  CHECK(std::find(root->groups.begin(), root->groups.end(), 0u) != root->groups.end());
  auto missing = lookupUser("cn-no-such-user");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == ErrorCode::kNotFound);
  CHECK(missing.error().message == "user 'cn-no-such-user' does not exist on this host");
  auto self = currentUser();
  REQUIRE(self);
  CHECK(self->uid == ::geteuid());
}

TEST_CASE("validateUser: names useradd takes, not uids, paths or empty ones") {
  CHECK(validateUser("nobody"));
  CHECK(validateUser("svc-web_1.a"));
  CHECK(validateUser("machine$"));
  CHECK(validateUser("0").error().message == "user '0' is all digits (name the user, not the uid)");
  CHECK_FALSE(validateUser(""));
  CHECK_FALSE(validateUser("-rf"));
  CHECK_FALSE(validateUser("a/b"));
  CHECK_FALSE(validateUser(std::string("a\0b", 3)));
  CHECK_FALSE(validateUser(std::string(33, 'a')));
}
