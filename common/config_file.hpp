// Config files of flags (TOML): one `name = value` per long flag, and one
// table per subcommand for programs that have them.
//
//   # /etc/clusternodes/agent.toml
//   master = "10.0.0.1:5050"
//   work-dir = "/var/lib/clusternodes/agent"
//   gc-delay = "1h"
//   cgroups-enable-cfs = true
//
// Values are TOML strings, integers, floats, booleans, or arrays of them
// (a repeatable flag given once per element). Keys may spell dashes as
// underscores (`work_dir`).
#pragma once

#include <string>
#include <vector>

#include "clusternodes/result.hpp"

namespace clusternodes {

struct ConfigEntry {
  std::string section;  // "" at the top level, else the table's name
  std::string key;      // the flag's long name, with dashes: "work-dir"
  std::string value;    // as it would be written after --key=
  int line = 0;         // where it is in the file, for messages
};

// The entries of a TOML file, in file order. Fails (kInvalid) with
// "FILE:LINE: why" on a syntax error, a nested table, or a value that is not
// a flag's (a date, an inline table, an array of arrays); kNotFound when the
// file cannot be read.
Result<std::vector<ConfigEntry>> readConfigFile(const std::string& path);

// `value` as a TOML value: bare when it reads as a TOML integer, float or
// boolean, else a quoted string with its quotes and backslashes escaped.
std::string tomlValue(const std::string& value);

// Sets top-level `key = value` in a config file's text, keeping its comments
// and other lines: replaces the first top-level line of `key` (or `key` with
// underscores), or adds the line before the first table. With an empty
// `value`, removes the key's lines instead.
std::string setConfigValue(const std::string& text, const std::string& key, const std::string& value);

}  // namespace clusternodes
