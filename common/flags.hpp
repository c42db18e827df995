// Helpers for the programs' command lines (CLI11): durations, parsing with a
// one-line error, and every flag from a config file or the environment too.
//
// Where a flag's value comes from, first found wins:
//   1. the command line: --gc-delay=1h
//   2. the environment, for programs given a prefix: CLUSTERNODES_AGENT_GC_DELAY=1h
//   3. the config file: --config=FILE (or PREFIX + CONFIG in the environment),
//      a TOML file of `gc-delay = "1h"` lines (common/config_file.hpp)
//   4. the flag's default.
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "clusternodes/result.hpp"

namespace clusternodes {

// "250ms", "5s", "1.5s", "2min", "1h", "1d", "100us", or a bare number of
// seconds. Negative and non-finite durations are refused.
Result<std::chrono::nanoseconds> parseDuration(std::string_view text);
std::string formatDuration(std::chrono::nanoseconds d);  // "250ms", "5s"

// A CLI11 option bound to a duration.
CLI::Option* addDurationOption(CLI::App& app, const std::string& name,
                               std::chrono::nanoseconds& target, const std::string& help);

// Adds --config=FILE (TOML: `key = value` for each long flag name, and a
// [SUBCOMMAND] table for a subcommand's flags). CommandLine reads the file.
void addConfigOption(CLI::App& app);

// Parses a program's arguments with its flags' other sources (above).
//
//   CommandLine commandLine(app, "CLUSTERNODES_MASTER_");
//   if (int code = commandLine.parse(argc, argv); code >= 0) return code;
//   if (!valid(weights)) return commandLine.refuse("--weights", weights, "why");
class CommandLine {
 public:
  // envPrefix: read FLAG from PREFIX + FLAG in capitals with underscores
  // (--work-dir from CLUSTERNODES_MASTER_WORK_DIR); "" reads no environment.
  explicit CommandLine(CLI::App& app, std::string envPrefix = "");

  // Returns -1 to go on, or the exit code to leave with: 0 after --help, 2
  // after a bad flag, an unknown config key or an unreadable config file,
  // with the reason on one line of stderr naming the flag, its value and
  // where the value came from.
  int parse(int argc, char** argv);
  // The same for arguments already split (without the program's name).
  int parse(std::vector<std::string> args);

  // Where `flag` ("--port") got its value: "the command line" when given
  // there or not at all, else "CLUSTERNODES_MASTER_PORT" or "FILE:LINE".
  std::string origin(const std::string& flag) const;

  // Prints "PROGRAM: --flag=VALUE (from ORIGIN): why" (no origin for the
  // command line) to stderr and returns 2, for checks made after parse().
  int refuse(const std::string& flag, const std::string& value, const std::string& why) const;

  // The environment variable that sets `flag`: "CLUSTERNODES_AGENT_GC_DELAY".
  std::string envName(const std::string& flag) const;

 private:
  struct Injected {
    std::string origin;  // "CLUSTERNODES_AGENT_PORT" or "FILE:LINE"
    std::string value;
  };
  Result<std::vector<std::string>> withOtherSources(std::vector<std::string> args);
  std::string annotate(std::string message) const;

  CLI::App& app_;
  std::string envPrefix_;
  std::map<std::string, Injected> injected_;  // by "--flag"
};

// CommandLine(app).parse(...), for programs without an environment prefix.
int parseCommandLine(CLI::App& app, int argc, char** argv);
int parseCommandLine(CLI::App& app, std::vector<std::string> args);

}  // namespace clusternodes
