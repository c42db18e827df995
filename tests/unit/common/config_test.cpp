// Flags from the command line, the environment and a TOML config file, in
// that precedence; config files read and edited.
#include <doctest/doctest.h>

#include <toml++/toml.h>
#include <stdlib.h>

#include <fstream>
#include <sstream>

#include "common/config_file.hpp"
#include "common/flags.hpp"
#include "tests/harness/temp_dir.hpp"

using namespace clusternodes;
using clusternodes::testing::TempDir;

namespace {

std::string write(const TempDir& dir, const std::string& name, const std::string& text) {
  std::string path = dir.path + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// A small daemon's flags.
struct Flags {
  int port = 5050;
  std::string workDir = "/var/lib/x";
  bool cfs = false;
  std::vector<std::string> envs;
  std::chrono::nanoseconds delay = std::chrono::seconds(1);
};

void define(CLI::App& app, Flags& flags) {
  addConfigOption(app);
  app.add_option("--port", flags.port)->check(CLI::Range(0, 65535));
  app.add_option("--work-dir", flags.workDir);
  app.add_flag("--cgroups-enable-cfs", flags.cfs);
  app.add_option("--env", flags.envs)->allow_extra_args(false);
  addDurationOption(app, "--delay", flags.delay, "a delay");
}

// Runs parse() with stderr captured.
struct Parsed {
  int code;
  std::string err;
};
Parsed parse(CommandLine& commandLine, std::vector<std::string> args) {
  std::ostringstream captured;
  auto* old = std::cerr.rdbuf(captured.rdbuf());
  int code = commandLine.parse(std::move(args));
  std::cerr.rdbuf(old);
  return {code, captured.str()};
}

// Sets an environment variable for one test.
struct ScopedEnv {
  ScopedEnv(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~ScopedEnv() { ::unsetenv(name_); }
  const char* name_;
};

}  // namespace

TEST_CASE("a config file's keys, typed values, arrays and tables become flags") {
  TempDir dir;
  auto path = write(dir, "a.toml",
                    "# comment\nport = 6000\nwork_dir = \"/srv/x\"\ncgroups-enable-cfs = true\n"
                    "env = [\"A=1\", \"B=2\"]\nratio = 0.5\n[start]\nagents = 3\n");
  auto entries = readConfigFile(path);
  REQUIRE(entries.ok());
  REQUIRE(entries->size() == 7);
  CHECK((*entries)[0].key == "port");
  CHECK((*entries)[0].value == "6000");
  CHECK((*entries)[0].line == 2);
  CHECK((*entries)[1].key == "work-dir");  // underscores read as dashes
  CHECK((*entries)[2].value == "true");
  CHECK((*entries)[3].value == "A=1");
  CHECK((*entries)[4].value == "B=2");
  CHECK((*entries)[5].value == "0.5");
  CHECK((*entries)[6].section == "start");
  CHECK((*entries)[6].key == "agents");

  auto broken = readConfigFile(write(dir, "b.toml", "port = 1\nwork-dir = \n"));
  REQUIRE(!broken.ok());
  CHECK(broken.error().message.find("b.toml:2:") != std::string::npos);
  auto date = readConfigFile(write(dir, "c.toml", "when = 1979-05-27\n"));
  REQUIRE(!date.ok());
  CHECK(date.error().message.find("when") != std::string::npos);
  CHECK(readConfigFile(dir.path + "/missing.toml").error().code == ErrorCode::kNotFound);
}

TEST_CASE("the command line beats the environment, which beats the config file, which beats defaults") {
  TempDir dir;
  auto config = write(dir, "d.toml", "port = 6001\nwork-dir = \"/from/file\"\ndelay = \"3s\"\nenv = [\"A=1\"]\n");

  {
    Flags flags;
    CLI::App app("test", "daemon");
    define(app, flags);
    CommandLine commandLine(app, "CN_TEST_");
    ScopedEnv port("CN_TEST_PORT", "6002");
    ScopedEnv workDir("CN_TEST_WORK_DIR", "/from/env");
    auto parsed = parse(commandLine, {"--config=" + config, "--port=6003"});
    REQUIRE(parsed.code == -1);
    CHECK(flags.port == 6003);                          // command line
    CHECK(flags.workDir == "/from/env");                // environment
    CHECK(flags.delay == std::chrono::seconds(3));      // config file
    CHECK(flags.envs == std::vector<std::string>{"A=1"});
    CHECK_FALSE(flags.cfs);                             // default
    CHECK(commandLine.origin("--port") == "the command line");
    CHECK(commandLine.origin("--work-dir") == "CN_TEST_WORK_DIR");
    CHECK(commandLine.origin("--delay") == config + ":3");
    CHECK(commandLine.envName("--work-dir") == "CN_TEST_WORK_DIR");
  }
  {
    // The config file named by the environment; a flag given once on the
    // command line replaces every element of the file's array.
    Flags flags;
    CLI::App app("test", "daemon");
    define(app, flags);
    CommandLine commandLine(app, "CN_TEST_");
    ScopedEnv file("CN_TEST_CONFIG", config.c_str());
    ScopedEnv cfs("CN_TEST_CGROUPS_ENABLE_CFS", "true");
    REQUIRE(parse(commandLine, {"--env=B=2"}).code == -1);
    CHECK(flags.port == 6001);
    CHECK(flags.cfs);
    CHECK(flags.envs == std::vector<std::string>{"B=2"});
  }
  {
    // Without a prefix, the environment is not read.
    Flags flags;
    CLI::App app("test", "daemon");
    define(app, flags);
    ScopedEnv port("CN_TEST_PORT", "6002");
    REQUIRE(parseCommandLine(app, std::vector<std::string>{}) == -1);
    CHECK(flags.port == 5050);
  }
}

TEST_CASE("a bad value is refused naming the key, the value and where it came from") {
  TempDir dir;
  auto check = [&](std::vector<std::string> args, const std::vector<std::pair<const char*, const char*>>& env) {
    Flags flags;
    CLI::App app("test", "daemon");
    define(app, flags);
    CommandLine commandLine(app, "CN_TEST_");
    std::vector<std::unique_ptr<ScopedEnv>> scoped;
    for (auto [name, value] : env) scoped.push_back(std::make_unique<ScopedEnv>(name, value));
    return parse(commandLine, std::move(args));
  };

  auto fromFile = check({"--config=" + write(dir, "e.toml", "\nport = 70000\n")}, {});
  CHECK(fromFile.code == 2);
  CHECK(fromFile.err.find("--port=70000 (from " + dir.path + "/e.toml:2): Value 70000 not in range") !=
        std::string::npos);

  auto fromEnv = check({}, {{"CN_TEST_DELAY", "5 parsecs"}});
  CHECK(fromEnv.code == 2);
  CHECK(fromEnv.err.find("--delay=5 parsecs (from CN_TEST_DELAY)") != std::string::npos);
  CHECK(fromEnv.err.find("unknown unit") != std::string::npos);

  auto unknown = check({"--config=" + write(dir, "f.toml", "prot = 1\n")}, {});
  CHECK(unknown.code == 2);
  CHECK(unknown.err.find("f.toml:1: unknown key 'prot': daemon has no --prot flag") != std::string::npos);

  auto missing = check({"--config=" + dir.path + "/none.toml"}, {});
  CHECK(missing.code == 2);
  CHECK(missing.err.find("cannot read the config file") != std::string::npos);

  // --help works whatever the config file holds.
  std::ostringstream out;
  auto* old = std::cout.rdbuf(out.rdbuf());
  auto help = check({"--config=" + dir.path + "/none.toml", "--help"}, {});
  std::cout.rdbuf(old);
  CHECK(help.code == 0);
  CHECK(out.str().find("--work-dir") != std::string::npos);

  // Checks made after parsing say the same.
  Flags flags;
  CLI::App app("test", "daemon");
  define(app, flags);
  CommandLine commandLine(app, "CN_TEST_");
  ScopedEnv workDir("CN_TEST_WORK_DIR", "relative");
  REQUIRE(parse(commandLine, {}).code == -1);
  std::ostringstream err;
  auto* oldErr = std::cerr.rdbuf(err.rdbuf());
  int code = commandLine.refuse("--work-dir", flags.workDir, "must be absolute");
  std::cerr.rdbuf(oldErr);
  CHECK(code == 2);
  CHECK(err.str() == "daemon: --work-dir=relative (from CN_TEST_WORK_DIR): must be absolute\n");
}

TEST_CASE("a subcommand's table applies to that subcommand only, before a '--'") {
  TempDir dir;
  auto config = write(dir, "cli.toml", "[start]\nagents = 3\n[run]\ncpus = 0.5\n");
  int agents = 1;
  double cpus = 0.1;
  std::vector<std::string> command;
  CLI::App app("test", "cli");
  addConfigOption(app);
  auto* start = app.add_subcommand("start");
  start->add_option("--agents", agents);
  auto* run = app.add_subcommand("run");
  run->add_option("--cpus", cpus);
  run->add_option("command", command);
  CommandLine commandLine(app);
  REQUIRE(parse(commandLine, {"--config", config, "run", "--", "echo", "hi"}).code == -1);
  CHECK(cpus == 0.5);
  CHECK(agents == 1);
  CHECK(command == std::vector<std::string>{"echo", "hi"});
}

TEST_CASE("editing a config file keeps its comments and tables") {
  std::string text = "# the agent\nmaster = \"a:1\"\n# gc\ngc_delay = \"1h\"\n\n[extra]\nport = 2\n";
  auto changed = setConfigValue(text, "gc-delay", "2h");
  CHECK(changed == "# the agent\nmaster = \"a:1\"\n# gc\ngc-delay = \"2h\"\n\n[extra]\nport = 2\n");
  auto added = setConfigValue(text, "port", "5050");
  CHECK(added == "# the agent\nmaster = \"a:1\"\n# gc\ngc_delay = \"1h\"\n\nport = 5050\n[extra]\nport = 2\n");
  auto removed = setConfigValue(text, "master", "");
  CHECK(removed == "# the agent\n# gc\ngc_delay = \"1h\"\n\n[extra]\nport = 2\n");
  CHECK(setConfigValue("", "cgroups-enable-cfs", "true") == "cgroups-enable-cfs = true\n");

  CHECK(tomlValue("5050") == "5050");
  CHECK(tomlValue("0.25") == "0.25");
  CHECK(tomlValue("false") == "false");
  CHECK(tomlValue("5s") == "\"5s\"");
  CHECK(tomlValue("cpus:2;mem:1024") == "\"cpus:2;mem:1024\"");
  CHECK(tomlValue("say \"hi\" \\o/") == "\"say \\\"hi\\\" \\\\o/\"");
  // Found by fuzzing: text that parses as a number only in part, or as
  // another number, is quoted; control characters are escaped.
  CHECK(tomlValue("1#x") == "\"1#x\"");
  CHECK(tomlValue("+0") == "\"+0\"");
  CHECK(tomlValue("5\nmaster = x") == "\"5\\nmaster = x\"");
  CHECK(tomlValue("a\fb\x01") == "\"a\\u000cb\\u0001\"");
  for (const std::string& value : {std::string("1#x"), std::string("+0"), std::string("a\fb\tc\x7f"), std::string("5050")}) {
    auto table = toml::parse("v = " + tomlValue(value));
    INFO(value);
    auto read = table.get("v");
    REQUIRE(read != nullptr);
    CHECK((read->is_string() ? read->as_string()->get() : std::to_string(read->as_integer()->get())) == value);
  }
}
