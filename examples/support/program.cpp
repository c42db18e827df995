#include "support/program.hpp"

#include <curl/curl.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <iostream>
#include <mutex>

namespace clusternodes::support {
namespace {

Result<std::chrono::nanoseconds> parseDuration(const std::string& text) {
  size_t unitAt = text.find_first_not_of("0123456789.");
  std::string number = text.substr(0, unitAt);
  std::string unit = unitAt == std::string::npos ? "s" : text.substr(unitAt);
  double value = 0;
  try {
    size_t used = 0;
    value = std::stod(number, &used);
    if (used != number.size()) throw std::invalid_argument(text);
  } catch (const std::exception&) {
    return invalid("'" + text + "' is not a duration (try 500ms, 5s, 2min)");
  }
  double seconds = 0;
  if (unit == "us") {
    seconds = value / 1e6;
  } else if (unit == "ms") {
    seconds = value / 1e3;
  } else if (unit == "s") {
    seconds = value;
  } else if (unit == "min") {
    seconds = value * 60;
  } else if (unit == "h") {
    seconds = value * 3600;
  } else if (unit == "d") {
    seconds = value * 86400;
  } else {
    return invalid("'" + text + "' has an unknown unit (us, ms, s, min, h or d)");
  }
  if (!std::isfinite(seconds)) return invalid("'" + text + "' is not a duration");
  return std::chrono::nanoseconds(static_cast<int64_t>(seconds * 1e9));
}

size_t appendBody(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

}  // namespace

CLI::Option* addDurationOption(CLI::App& app, const std::string& name, std::chrono::nanoseconds& target,
                               const std::string& help) {
  auto* option = app.add_option_function<std::string>(
      name,
      [&target, name](const std::string& text) {
        auto parsed = parseDuration(text);
        if (!parsed) throw CLI::ValidationError(name, parsed.error().message);
        target = *parsed;
      },
      help);
  return option->type_name("DURATION");
}

void addConfigOption(CLI::App& app) {
  app.set_config("--config", "", "Read flags from a TOML file (flag-name = value); the command line wins");
}

int parseCommandLine(CLI::App& app, int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return parseCommandLine(app, std::move(args));
}

int parseCommandLine(CLI::App& app, std::vector<std::string> args) {
  std::reverse(args.begin(), args.end());  // CLI11 takes them last first
  try {
    app.parse(args);
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
    std::replace(what.begin(), what.end(), '\n', ' ');
    std::cerr << app.get_name() << ": " << what << "\n";
    return 2;
  }
  return -1;
}

Result<void> setupLogging(const std::string& program, const std::string& level) {
  auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    return invalid("unknown log level '" + level + "' (use trace, debug, info, warn, error or off)");
  }
  auto logger = spdlog::stderr_logger_mt(program);
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %L " + program + ": %v");
  logger->set_level(parsed);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  return {};
}

void initCurl() {
  static std::once_flag initialized;
  std::call_once(initialized, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string urlEncode(const std::string& text) {
  initCurl();
  char* escaped = curl_easy_escape(nullptr, text.data(), static_cast<int>(text.size()));
  if (escaped == nullptr) return text;
  std::string out(escaped);
  curl_free(escaped);
  return out;
}

namespace {

constexpr const char* kHttpEnvironment[] = {"CLUSTERNODES_CA", "CLUSTERNODES_TOKEN"};

std::string environmentValue(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

}  // namespace

void forwardHttpEnvironment(std::map<std::string, std::string>& environment) {
  for (const char* name : kHttpEnvironment) {
    if (std::string value = environmentValue(name); !value.empty()) environment[name] = value;
  }
}

Result<Fetched> fetch(const std::string& url, double timeoutSeconds) {
  initCurl();
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return internalError("cannot start an HTTP request");
  static const std::string caFile = environmentValue("CLUSTERNODES_CA");
  static const std::string token = environmentValue("CLUSTERNODES_TOKEN");
  curl_slist* headers = nullptr;
  if (!token.empty()) {
    headers = curl_slist_append(headers, ("Authorization: Bearer " + token).c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  }
  if (!caFile.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, caFile.c_str());
  Fetched out;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &appendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out.body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeoutSeconds * 1000));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  CURLcode code = curl_easy_perform(curl);
  if (code == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out.status);
  curl_easy_cleanup(curl);
  curl_slist_free_all(headers);
  if (code != CURLE_OK) {
    return Error{ErrorCode::kUnavailable, "GET " + url + ": " + curl_easy_strerror(code)};
  }
  return out;
}

}  // namespace clusternodes::support
