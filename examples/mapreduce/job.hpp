// What a job computes: its kind and parameters, the partitioner, and the
// per-record logic of the built-in jobs (wordcount words, grep matches).
#pragma once

#include <regex.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "clusternodes/result.hpp"

namespace clusternodes::mapreduce {

enum class JobKind { kWordCount, kGrep, kTeraSort, kStreaming };
const char* toString(JobKind kind);  // "wordcount"
std::optional<JobKind> parseJobKind(std::string_view text);

// The part of a job every task needs (sent in each task's data).
struct JobSpec {
  JobKind kind = JobKind::kWordCount;
  int reducers = 1;
  bool combiner = true;         // wordcount, grep: sum counts map-side
  std::string pattern;          // grep: POSIX extended regex
  std::string mapper;           // streaming: shell commands
  std::string reducer;
  std::string combinerCommand;  // streaming: optional
  std::vector<std::string> cutPoints;  // terasort: R-1 sorted keys

  // Map output lines are "key<TAB>value", except terasort's, which are the
  // raw records (key = the first 10 bytes).
  bool rawRecords() const { return kind == JobKind::kTeraSort; }
};

nlohmann::json toJson(const JobSpec& job);
// Throws nlohmann::json exceptions or TaskError on a malformed spec.
JobSpec jobFromJson(const nlohmann::json& json);

inline constexpr size_t kTeraKeyLength = 10;

// The key of a raw terasort record: its first 10 bytes (or all of it).
inline std::string_view teraKey(std::string_view record) { return record.substr(0, kTeraKeyLength); }

// The partition of `key` among `reducers`: FNV-1a modulo R; with cut points
// (terasort), the number of cut points <= key.
int partitionOf(std::string_view key, int reducers, const std::vector<std::string>& cutPoints);

// Splits a "key<TAB>value" line at its first tab (key = the whole line when
// there is none).
inline void splitKeyValue(std::string_view line, std::string_view& key, std::string_view& value) {
  size_t tab = line.find('\t');
  if (tab == std::string_view::npos) {
    key = line;
    value = std::string_view();
  } else {
    key = line.substr(0, tab);
    value = line.substr(tab + 1);
  }
}

// Calls emit(word) for each maximal run of ASCII letters in `line`,
// lowercased into `scratch` (the view is valid until the next emit).
template <typename Emit>
void forEachWord(std::string_view line, std::string& scratch, Emit&& emit) {
  size_t i = 0;
  const size_t n = line.size();
  while (i < n) {
    while (i < n && !(((line[i] | 0x20) >= 'a') && ((line[i] | 0x20) <= 'z'))) ++i;
    size_t start = i;
    while (i < n && ((line[i] | 0x20) >= 'a') && ((line[i] | 0x20) <= 'z')) ++i;
    if (i > start) {
      scratch.assign(line.data() + start, i - start);
      for (auto& c : scratch) c = static_cast<char>(c | 0x20);
      emit(std::string_view(scratch));
    }
  }
}

// A compiled POSIX extended regex (RAII over regex_t).
class Regex {
 public:
  // Fails with regerror's text for a bad pattern.
  static Result<std::unique_ptr<Regex>> compile(const std::string& pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Calls emit(match) for every non-overlapping match in `line`, advancing
  // at least one byte after an empty match. `scratch` holds a NUL-terminated
  // copy of the line (regexec needs one).
  template <typename Emit>
  void forEachMatch(std::string_view line, std::string& scratch, Emit&& emit) const;

 private:
  Regex() = default;
  bool search(const char* text, int flags, regmatch_t& match) const;
  regex_t regex_{};
  bool compiled_ = false;
};

template <typename Emit>
void Regex::forEachMatch(std::string_view line, std::string& scratch, Emit&& emit) const {
  scratch.assign(line.data(), line.size());
  const char* base = scratch.c_str();
  size_t pos = 0;
  while (pos <= scratch.size()) {
    regmatch_t match;
    // REG_NOTBOL after the first search, so '^' only matches at the line's start.
    if (!search(base + pos, pos == 0 ? 0 : REG_NOTBOL, match)) break;
    size_t begin = pos + static_cast<size_t>(match.rm_so);
    size_t end = pos + static_cast<size_t>(match.rm_eo);
    if (end > begin) {
      emit(std::string_view(base + begin, end - begin));
      pos = end;
    } else {
      pos = end + 1;  // an empty match emits nothing; step past it
    }
  }
}

}  // namespace clusternodes::mapreduce
