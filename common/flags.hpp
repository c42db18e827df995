// Helpers for the programs' command lines (CLI11): durations, parsing with a
// one-line error, and a config file for every flag.
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
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

// Adds --config=FILE (TOML: `key = value` for each long flag name).
void addConfigOption(CLI::App& app);

// Parses argv. Returns -1 to go on, or the exit code to leave with: 0 after
// --help, 2 after a bad flag, with the reason on one line of stderr.
int parseCommandLine(CLI::App& app, int argc, char** argv);
// The same for arguments already split (without the program's name).
int parseCommandLine(CLI::App& app, std::vector<std::string> args);

}  // namespace clusternodes
