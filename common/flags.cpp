#include "common/flags.hpp"

#include <algorithm>
#include <cmath>
#include <iostream>

namespace clusternodes {

Result<std::chrono::nanoseconds> parseDuration(std::string_view text) {
  std::string s(text);
  size_t pos = 0;
  double value = 0;
  try {
    value = std::stod(s, &pos);
  } catch (const std::exception&) {
    return invalid("'" + s + "' is not a duration (try 500ms, 5s, 2min)");
  }
  std::string unit = s.substr(pos);
  double nanosPerUnit = 0;
  if (unit.empty() || unit == "s" || unit == "secs") {
    nanosPerUnit = 1e9;
  } else if (unit == "ms") {
    nanosPerUnit = 1e6;
  } else if (unit == "us") {
    nanosPerUnit = 1e3;
  } else if (unit == "ns") {
    nanosPerUnit = 1;
  } else if (unit == "min" || unit == "mins" || unit == "m") {
    nanosPerUnit = 60e9;
  } else if (unit == "h" || unit == "hrs") {
    nanosPerUnit = 3600e9;
  } else if (unit == "d" || unit == "days") {
    nanosPerUnit = 86400e9;
  } else {
    return invalid("'" + s + "' has an unknown unit '" + unit + "' (use ns, us, ms, s, min, h, d)");
  }
  if (!std::isfinite(value) || value < 0 || value * nanosPerUnit > 9e18) {
    return invalid("'" + s + "' is not a non-negative duration");
  }
  return std::chrono::nanoseconds(static_cast<int64_t>(std::llround(value * nanosPerUnit)));
}

std::string formatDuration(std::chrono::nanoseconds d) {
  int64_t ns = d.count();
  if (ns % 1000000000 == 0) return std::to_string(ns / 1000000000) + "s";
  if (ns % 1000000 == 0) return std::to_string(ns / 1000000) + "ms";
  if (ns % 1000 == 0) return std::to_string(ns / 1000) + "us";
  return std::to_string(ns) + "ns";
}

CLI::Option* addDurationOption(CLI::App& app, const std::string& name,
                               std::chrono::nanoseconds& target, const std::string& help) {
  auto* option = app.add_option_function<std::string>(
      name,
      [&target, name](const std::string& text) {
        auto d = parseDuration(text);
        if (!d) throw CLI::ValidationError(name, d.error().message);
        target = *d;
      },
      help + " (default " + formatDuration(target) + ")");
  option->type_name("DURATION");
  return option;
}

void addConfigOption(CLI::App& app) {
  app.set_config("--config", "", "Read flags from a TOML file (key = value per long flag)");
}

namespace {

template <typename Parse>
int parseWith(CLI::App& app, Parse parse) {
  try {
    parse();
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {
      std::cout << app.help();
      return 0;
    }
    std::string what = e.what();
    for (auto& c : what) {
      if (c == '\n') c = ' ';
    }
    std::cerr << app.get_name() << ": " << what << "\n";
    return 2;
  }
  return -1;
}

}  // namespace

int parseCommandLine(CLI::App& app, int argc, char** argv) {
  return parseWith(app, [&] { app.parse(argc, argv); });
}

int parseCommandLine(CLI::App& app, std::vector<std::string> args) {
  // CLI11 takes them last first.
  std::reverse(args.begin(), args.end());
  return parseWith(app, [&] { app.parse(args); });
}

}  // namespace clusternodes
