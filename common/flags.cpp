#include "common/flags.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <set>

#include "common/config_file.hpp"

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
  app.add_option("--config", "A TOML file of flags: name = value per long flag name (the command line and the "
                             "environment take precedence)")
      ->type_name("FILE");
}

namespace {

constexpr const char* kCommandLine = "the command line";

template <typename Parse>
int parseWith(CLI::App& app, Parse parse, const std::function<std::string(std::string)>& annotate) {
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
    std::string what = annotate(e.what());
    for (auto& c : what) {
      if (c == '\n') c = ' ';
    }
    std::cerr << app.get_name() << ": " << what << "\n";
    return 2;
  }
  return -1;
}

// Whether `args` (up to a "--") give `option` ("--name", "--name=V", "-n").
bool given(const CLI::Option& option, const std::vector<std::string>& args, size_t begin, size_t end) {
  for (size_t i = begin; i < end; ++i) {
    const std::string& arg = args[i];
    if (arg == "--") return false;
    for (const auto& name : option.get_lnames()) {
      std::string flag = "--" + name;
      if (arg == flag || arg.rfind(flag + "=", 0) == 0) return true;
    }
    for (const auto& name : option.get_snames()) {
      if (arg.rfind("-" + name, 0) == 0) return true;
    }
  }
  return false;
}

bool isHelp(const std::string& arg) { return arg == "--help" || arg == "-h" || arg == "--help-all"; }

}  // namespace

CommandLine::CommandLine(CLI::App& app, std::string envPrefix) : app_(app), envPrefix_(std::move(envPrefix)) {}

std::string CommandLine::envName(const std::string& flag) const {
  std::string out = envPrefix_;
  for (char c : flag.substr(flag.find_first_not_of('-'))) {
    out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string CommandLine::origin(const std::string& flag) const {
  auto it = injected_.find(flag);
  return it == injected_.end() ? kCommandLine : it->second.origin;
}

int CommandLine::refuse(const std::string& flag, const std::string& value, const std::string& why) const {
  std::string from = origin(flag);
  std::cerr << app_.get_name() << ": " << flag << "=" << value << (from == kCommandLine ? "" : " (from " + from + ")")
            << ": " << why << "\n";
  return 2;
}

std::string CommandLine::annotate(std::string message) const {
  for (const auto& [flag, injected] : injected_) {
    size_t at = message.find(flag);
    // The flag itself, not a longer one it begins.
    if (at == std::string::npos) continue;
    size_t after = at + flag.size();
    if (after < message.size() && (std::isalnum(static_cast<unsigned char>(message[after])) || message[after] == '-')) {
      continue;
    }
    std::string where = flag + "=" + injected.value + " (from " + injected.origin + ")";
    // "--port: Value 70000 not in range" becomes "--port=70000 (from FILE:3): Value ...".
    if (at == 0 && message.compare(after, 2, ": ") == 0) return where + message.substr(after);
    return message + ": " + where;
  }
  return message;
}

Result<std::vector<std::string>> CommandLine::withOtherSources(std::vector<std::string> args) {
  for (const auto& arg : args) {
    if (arg == "--") break;
    if (isHelp(arg)) return args;
  }
  size_t end = std::find(args.begin(), args.end(), "--") - args.begin();

  // The subcommand chosen, if the program has any: its flags come after it.
  size_t subIndex = end;
  CLI::App* sub = nullptr;
  for (size_t i = 0; i < end && sub == nullptr; ++i) {
    for (auto* candidate : app_.get_subcommands([](CLI::App*) { return true; })) {
      if (candidate->get_name() == args[i]) {
        sub = candidate;
        subIndex = i;
        break;
      }
    }
  }

  std::vector<std::string> front;                 // top-level flags, before everything
  std::vector<std::string> afterSub;              // the subcommand's, right after it
  std::set<const CLI::Option*> fromEnvironment;

  auto isFlag = [](const CLI::Option* option) {
    return !option->get_lnames().empty() && option->get_lnames().front() != "help" &&
           option->get_lnames().front() != "help-all" && option->get_lnames().front() != "config";
  };

  std::string configPath;
  std::string configOrigin;
  for (size_t i = 0; i < subIndex; ++i) {
    if (args[i].rfind("--config=", 0) == 0) configPath = args[i].substr(9);
    if (args[i] == "--config" && i + 1 < subIndex) configPath = args[i + 1];
  }
  if (configPath.empty() && !envPrefix_.empty()) {
    if (const char* fromEnv = std::getenv(envName("--config").c_str()); fromEnv != nullptr && *fromEnv != '\0') {
      configPath = fromEnv;
      front.push_back("--config=" + configPath);
    }
  }

  if (!envPrefix_.empty()) {
    for (const auto* option : app_.get_options()) {
      if (!isFlag(option) || given(*option, args, 0, subIndex)) continue;
      std::string flag = "--" + option->get_lnames().front();
      std::string variable = envName(flag);
      const char* value = std::getenv(variable.c_str());
      if (value == nullptr) continue;
      front.push_back(flag + "=" + value);
      injected_[flag] = {variable, value};
      fromEnvironment.insert(option);
    }
  }

  if (!configPath.empty()) {
    auto entries = readConfigFile(configPath);
    if (!entries) return entries.error();
    std::string program = app_.get_name();
    for (const auto& entry : *entries) {
      std::string at = configPath + ":" + std::to_string(entry.line);
      CLI::App* target = &app_;
      if (!entry.section.empty()) {
        target = nullptr;
        for (auto* candidate : app_.get_subcommands([](CLI::App*) { return true; })) {
          if (candidate->get_name() == entry.section) target = candidate;
        }
        if (target == nullptr && app_.get_subcommands([](CLI::App*) { return true; }).empty()) {
          return invalid(at + ": [" + entry.section + "]: " + program +
                         " takes no tables; write its flags at the top of the file");
        }
        if (target == nullptr) return invalid(at + ": [" + entry.section + "]: " + program + " has no such command");
      }
      const CLI::Option* option = target->get_option_no_throw("--" + entry.key);
      std::string owner = target == &app_ ? program : program + " " + entry.section;
      if (option == nullptr || !isFlag(option)) {
        return invalid(at + ": unknown key '" + entry.key + "': " + owner + " has no --" + entry.key +
                       " flag (see " + owner + " --help)");
      }
      if (target != &app_ && target != sub) continue;  // another command's
      bool onCommandLine = target == &app_ ? given(*option, args, 0, subIndex) : given(*option, args, subIndex, end);
      if (onCommandLine || fromEnvironment.count(option) != 0) continue;
      std::string flag = "--" + option->get_lnames().front();
      (target == &app_ ? front : afterSub).push_back(flag + "=" + entry.value);
      injected_[flag] = {at, entry.value};
    }
  }

  if (sub != nullptr) args.insert(args.begin() + static_cast<std::ptrdiff_t>(subIndex) + 1, afterSub.begin(),
                                  afterSub.end());
  args.insert(args.begin(), front.begin(), front.end());
  return args;
}

int CommandLine::parse(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return parse(std::move(args));
}

int CommandLine::parse(std::vector<std::string> args) {
  auto full = withOtherSources(std::move(args));
  if (!full) {
    std::cerr << app_.get_name() << ": " << full.error().message << "\n";
    return 2;
  }
  // CLI11 takes them last first.
  std::vector<std::string> reversed(full->rbegin(), full->rend());
  return parseWith(app_, [&] { app_.parse(reversed); }, [this](std::string m) { return annotate(std::move(m)); });
}

int parseCommandLine(CLI::App& app, int argc, char** argv) { return CommandLine(app).parse(argc, argv); }

int parseCommandLine(CLI::App& app, std::vector<std::string> args) { return CommandLine(app).parse(std::move(args)); }

}  // namespace clusternodes
