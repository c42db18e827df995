#include "mapreduce/job.hpp"

#include <algorithm>

#include "mapreduce/util.hpp"

namespace clusternodes::mapreduce {

const char* toString(JobKind kind) {
  switch (kind) {
    case JobKind::kWordCount: return "wordcount";
    case JobKind::kGrep: return "grep";
    case JobKind::kTeraSort: return "terasort";
    case JobKind::kStreaming: return "streaming";
  }
  return "?";
}

std::optional<JobKind> parseJobKind(std::string_view text) {
  for (auto kind : {JobKind::kWordCount, JobKind::kGrep, JobKind::kTeraSort, JobKind::kStreaming}) {
    if (text == toString(kind)) return kind;
  }
  return std::nullopt;
}

nlohmann::json toJson(const JobSpec& job) {
  nlohmann::json json = {{"kind", toString(job.kind)}, {"reducers", job.reducers}, {"combiner", job.combiner}};
  if (job.kind == JobKind::kGrep) json["pattern"] = job.pattern;
  if (job.kind == JobKind::kStreaming) {
    json["mapper"] = job.mapper;
    json["reducer"] = job.reducer;
    if (!job.combinerCommand.empty()) json["combiner_command"] = job.combinerCommand;
  }
  if (job.kind == JobKind::kTeraSort) json["cut_points"] = job.cutPoints;
  return json;
}

JobSpec jobFromJson(const nlohmann::json& json) {
  JobSpec job;
  auto kind = parseJobKind(json.at("kind").get<std::string>());
  if (!kind) throw TaskError("unknown job kind " + json.at("kind").get<std::string>());
  job.kind = *kind;
  job.reducers = json.at("reducers").get<int>();
  if (job.reducers < 1) throw TaskError("a job needs at least one reducer");
  job.combiner = json.value("combiner", true);
  job.pattern = json.value("pattern", std::string());
  job.mapper = json.value("mapper", std::string());
  job.reducer = json.value("reducer", std::string());
  job.combinerCommand = json.value("combiner_command", std::string());
  if (json.contains("cut_points")) job.cutPoints = json.at("cut_points").get<std::vector<std::string>>();
  return job;
}

int partitionOf(std::string_view key, int reducers, const std::vector<std::string>& cutPoints) {
  if (reducers <= 1) return 0;
  if (!cutPoints.empty()) {
    auto it = std::upper_bound(cutPoints.begin(), cutPoints.end(), key,
                               [](std::string_view k, const std::string& cut) { return k < std::string_view(cut); });
    return std::min(static_cast<int>(it - cutPoints.begin()), reducers - 1);
  }
  return static_cast<int>(fnv1a64(key) % static_cast<uint64_t>(reducers));
}

Result<std::unique_ptr<Regex>> Regex::compile(const std::string& pattern) {
  std::unique_ptr<Regex> regex(new Regex());
  int rc = ::regcomp(&regex->regex_, pattern.c_str(), REG_EXTENDED);
  if (rc != 0) {
    char buf[256];
    ::regerror(rc, &regex->regex_, buf, sizeof buf);
    regex.reset();  // nothing compiled: do not regfree (see below)
    return invalid("bad pattern '" + pattern + "': " + buf);
  }
  regex->compiled_ = true;
  return regex;
}

Regex::~Regex() {
  if (compiled_) ::regfree(&regex_);
}

bool Regex::search(const char* text, int flags, regmatch_t& match) const {
  return ::regexec(&regex_, text, 1, &match, flags) == 0;
}

}  // namespace clusternodes::mapreduce
