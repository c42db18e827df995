// What the reference frameworks' programs share beyond the SDK: their
// command lines (CLI11, with durations and a TOML --config file), their log
// lines, and plain HTTP GETs (reducers and shuffles read other hosts' files
// through the agents' /files/download).
//
//   CLI::App app{"my-framework"};
//   std::chrono::nanoseconds timeout = std::chrono::seconds(30);
//   support::addDurationOption(app, "--timeout", timeout, "How long to wait");
//   if (int code = support::parseCommandLine(app, argc, argv); code >= 0) return code;
//   auto page = support::fetch("http://host:5052/files/download?path=...", 10);
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "clusternodes/result.hpp"

namespace clusternodes::support {

// A CLI11 option bound to a duration: "250ms", "5s", "1.5s", "2min", "1h",
// or a bare number of seconds.
CLI::Option* addDurationOption(CLI::App& app, const std::string& name, std::chrono::nanoseconds& target,
                               const std::string& help);

// --config=FILE: flags read from a TOML file of `flag-name = value` lines;
// the command line wins over the file.
void addConfigOption(CLI::App& app);

// Parses the arguments. Returns -1 to go on, or the exit code to leave with:
// 0 after --help, 2 after a bad flag (with a one-line reason on stderr).
int parseCommandLine(CLI::App& app, int argc, char** argv);
// The same for arguments already split, without the program's name.
int parseCommandLine(CLI::App& app, std::vector<std::string> args);

// Log lines on stderr, "2026-11-22 10:00:00.123 I program: text"; level is
// trace, debug, info, warn, error or off.
Result<void> setupLogging(const std::string& program, const std::string& level);

struct Fetched {
  long status = 0;
  std::string body;
};

// `text` with every byte that is not unreserved in a URL %-encoded.
std::string urlEncode(const std::string& text);

// GETs `url`. An HTTP error status is a successful result; a connection that
// fails or a transfer that takes longer than `timeoutSeconds` is an error.
// Agents serving HTTPS (--tls-cert) are trusted through the PEM file
// CLUSTERNODES_CA names (else the system's store), and CLUSTERNODES_TOKEN,
// when set, goes along as a bearer token (agents with
// --http-authenticate=all).
Result<Fetched> fetch(const std::string& url, double timeoutSeconds);

// Copies CLUSTERNODES_CA and CLUSTERNODES_TOKEN, where this process has
// them, into an executor's environment: a scheduler's executors fetch from
// the agents as the scheduler was told to.
void forwardHttpEnvironment(std::map<std::string, std::string>& environment);

}  // namespace clusternodes::support
