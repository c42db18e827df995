#include "mapreduce/map_task.hpp"

#include <algorithm>
#include <filesystem>
#include <unordered_map>

#include "mapreduce/records.hpp"
#include "mapreduce/streaming.hpp"
#include "mapreduce/util.hpp"

namespace clusternodes::mapreduce {

namespace {

namespace fs = std::filesystem;

constexpr uint64_t kCancelCheckEvery = 4096;

struct ViewHash {
  size_t operator()(std::string_view s) const { return static_cast<size_t>(fnv1a64(s)); }
};

void checkCancel(const std::atomic<bool>* cancel) {
  if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) throw TaskCancelled();
}

// Counts per distinct key, the keys kept in an arena (the combiner of
// wordcount and grep).
class CountTable {
 public:
  void add(std::string_view key) {
    auto it = counts_.find(key);
    if (it == counts_.end()) {
      counts_.emplace(arena_.copy(key), 1);
    } else {
      ++it->second;
    }
  }
  const std::unordered_map<std::string_view, uint64_t, ViewHash>& counts() const { return counts_; }

 private:
  Arena arena_;
  std::unordered_map<std::string_view, uint64_t, ViewHash> counts_;
};

// The records of each partition, before sorting.
struct Partitions {
  explicit Partitions(int reducers) : records(static_cast<size_t>(reducers)) {}
  std::vector<std::vector<Record>> records;
};

void writePartitions(const JobSpec& job, Partitions& parts, const std::string& dir, MapOutput& output,
                     const std::atomic<bool>* cancel) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw TaskError("cannot create " + dir + ": " + ec.message());
  std::string absoluteDir = fs::absolute(dir).string();
  output.stats.partitionBytes.assign(parts.records.size(), 0);
  std::string text;
  for (size_t r = 0; r < parts.records.size(); ++r) {
    checkCancel(cancel);
    auto& records = parts.records[r];
    sortByKey(records);
    text.clear();
    for (const auto& record : records) appendRecord(text, record, job.rawRecords());
    output.stats.recordsOut += records.size();
    output.stats.partitionBytes[r] = text.size();
    std::string path = absoluteDir + "/part-" + std::to_string(r);
    writeFileAtomically(path + ".tmp", path, text);
    output.files.push_back(path);
  }
}

// wordcount and grep: each record yields keys counted 1 each.
template <typename ForEachKey>
void mapCounting(const JobSpec& job, SplitLineReader& reader, ForEachKey&& forEachKey, Partitions& parts,
                 Arena& arena, MapStats& stats, const std::atomic<bool>* cancel) {
  std::string_view line;
  if (job.combiner) {
    CountTable table;
    while (reader.next(line)) {
      if (++stats.recordsIn % kCancelCheckEvery == 0) checkCancel(cancel);
      forEachKey(line, [&](std::string_view key) { table.add(key); });
    }
    // Counts as text, in one arena.
    std::string number;
    for (const auto& [key, count] : table.counts()) {
      number.clear();
      appendCount(number, count);
      Record record{arena.copy(key), arena.copy(number)};
      parts.records[static_cast<size_t>(partitionOf(key, job.reducers, job.cutPoints))].push_back(record);
    }
  } else {
    static const std::string_view kOne = "1";
    while (reader.next(line)) {
      if (++stats.recordsIn % kCancelCheckEvery == 0) checkCancel(cancel);
      forEachKey(line, [&](std::string_view key) {
        parts.records[static_cast<size_t>(partitionOf(key, job.reducers, job.cutPoints))].push_back(
            Record{arena.copy(key), kOne});
      });
    }
  }
}

// Runs a streaming command over text and parses its "key<TAB>value" lines.
std::vector<Record> runStreamingCommand(const std::string& what, const std::string& command, std::string_view input,
                                        std::string& output, const std::atomic<bool>* cancel) {
  FilterResult result = runFilter(command, input, output, cancel);
  if (result.cancelled) throw TaskCancelled();
  if (!result.ok()) throw TaskError(result.describe(what + " '" + command + "'"));
  return parseRun(output, false);
}

}  // namespace

MapOutput runMapTask(const JobSpec& job, const InputSplit& split, const std::string& dir,
                     const std::atomic<bool>* cancel) {
  MapOutput output;
  Partitions parts(job.reducers);
  Arena arena;
  SplitLineReader reader(split, 4 << 20);
  // Texts the records of a streaming job point into.
  std::string mapperOutput;
  std::vector<std::string> combinerOutputs;

  switch (job.kind) {
    case JobKind::kWordCount: {
      std::string scratch;
      auto words = [&scratch](std::string_view line, auto&& emit) { forEachWord(line, scratch, emit); };
      mapCounting(job, reader, words, parts, arena, output.stats, cancel);
      break;
    }
    case JobKind::kGrep: {
      auto regex = Regex::compile(job.pattern);
      if (!regex) throw TaskError(regex.error().message);
      std::string scratch;
      const Regex& compiled = **regex;
      auto matches = [&](std::string_view line, auto&& emit) { compiled.forEachMatch(line, scratch, emit); };
      mapCounting(job, reader, matches, parts, arena, output.stats, cancel);
      break;
    }
    case JobKind::kTeraSort: {
      std::string_view line;
      while (reader.next(line)) {
        if (++output.stats.recordsIn % kCancelCheckEvery == 0) checkCancel(cancel);
        std::string_view record = arena.copy(line);
        std::string_view key = teraKey(record);
        // No cut points (an empty sample): one partition, never a hash.
        int partition = job.cutPoints.empty() ? 0 : partitionOf(key, job.reducers, job.cutPoints);
        parts.records[static_cast<size_t>(partition)].push_back(Record{key, record});
      }
      break;
    }
    case JobKind::kStreaming: {
      std::string input;
      std::string_view line;
      while (reader.next(line)) {
        if (++output.stats.recordsIn % kCancelCheckEvery == 0) checkCancel(cancel);
        input.append(line);
        input.push_back('\n');
      }
      for (const auto& record : runStreamingCommand("mapper", job.mapper, input, mapperOutput, cancel)) {
        parts.records[static_cast<size_t>(partitionOf(record.key, job.reducers, {}))].push_back(record);
      }
      input.clear();
      input.shrink_to_fit();
      if (!job.combinerCommand.empty()) {
        // The combiner sees each partition's records sorted by key and
        // replaces them with what it prints.
        combinerOutputs.resize(parts.records.size());
        for (size_t r = 0; r < parts.records.size(); ++r) {
          if (parts.records[r].empty()) continue;
          sortByKey(parts.records[r]);
          std::string text;
          for (const auto& record : parts.records[r]) appendRecord(text, record, false);
          parts.records[r] = runStreamingCommand("combiner", job.combinerCommand, text, combinerOutputs[r], cancel);
        }
      }
      break;
    }
  }
  output.stats.bytesRead = reader.bytesRead();
  writePartitions(job, parts, dir, output, cancel);
  return output;
}

}  // namespace clusternodes::mapreduce
