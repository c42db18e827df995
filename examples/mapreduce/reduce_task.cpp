#include "mapreduce/reduce_task.hpp"

#include <chrono>
#include <filesystem>
#include <thread>

#include "support/program.hpp"
#include "mapreduce/records.hpp"
#include "mapreduce/streaming.hpp"
#include "mapreduce/util.hpp"

namespace clusternodes::mapreduce {

namespace fs = std::filesystem;

Fetcher httpFetcher(int tries, int retryDelayMs, double timeoutSeconds) {
  return [=](const std::string& url) -> Result<std::string> {
    Error last{ErrorCode::kUnavailable, "not tried"};
    for (int attempt = 0; attempt < std::max(tries, 1); ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(retryDelayMs));
      auto response = support::fetch(url, timeoutSeconds);
      if (!response) {
        last = response.error();
        continue;
      }
      if (response->status == 200) return std::move(response->body);
      if (response->status == 404) return notFound("HTTP 404 from " + url);
      last = Error{ErrorCode::kUnavailable, "HTTP " + std::to_string(response->status) + " from " + url};
    }
    return last;
  };
}

ReduceOutcome runReduceTask(const JobSpec& job, int partition, const std::vector<MapInput>& inputs,
                            const std::string& outputDir, const std::string& attemptName, const Fetcher& fetch,
                            const std::atomic<bool>* cancel) {
  auto checkCancel = [cancel] {
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) throw TaskCancelled();
  };
  ReduceOutcome outcome;
  // Fetch every run first; report all the maps whose output is missing.
  std::vector<std::string> bodies;
  bodies.reserve(inputs.size());
  for (const auto& input : inputs) {
    checkCancel();
    auto body = fetch(input.url);
    if (!body) {
      outcome.fetchFailed.push_back(input.mapIndex);
      if (outcome.fetchError.empty()) {
        outcome.fetchError = "cannot fetch the output of map " + std::to_string(input.mapIndex) + ": " +
                             body.error().message;
      }
      continue;
    }
    outcome.stats.bytesFetched += body->size();
    bodies.push_back(std::move(*body));
  }
  if (!outcome.fetchFailed.empty()) return outcome;

  const bool raw = job.rawRecords();
  std::vector<std::vector<Record>> runs;
  runs.reserve(bodies.size());
  for (const auto& body : bodies) {
    runs.push_back(parseRun(body, raw));
    outcome.stats.recordsIn += runs.back().size();
  }
  RunMerger merger(std::move(runs));
  auto next = [&merger](Record& record) { return merger.next(record); };

  std::string temporary = outputDir + "/_temporary";
  std::error_code ec;
  fs::create_directories(temporary, ec);
  if (ec) throw TaskError("cannot create " + temporary + ": " + ec.message());
  outcome.outputFile = outputDir + "/" + numberedName("part-r-", partition);
  // Written as it is reduced, not held whole in memory.
  AtomicFileWriter out(temporary + "/" + attemptName, outcome.outputFile);
  uint64_t groups = 0;
  std::string line;
  switch (job.kind) {
    case JobKind::kWordCount:
    case JobKind::kGrep:
      forEachGroup(next, [&](std::string_view key, const std::vector<std::string_view>& values) {
        if (++groups % 4096 == 0) checkCancel();
        uint64_t sum = 0;
        for (auto value : values) sum += parseCount(value);
        line.assign(key);
        line.push_back('\t');
        appendCount(line, sum);
        line.push_back('\n');
        out.append(line);
        ++outcome.stats.recordsOut;
      });
      break;
    case JobKind::kTeraSort: {
      Record record;
      while (merger.next(record)) {
        if (++groups % 65536 == 0) checkCancel();
        out.append(record.value);
        out.push_back('\n');
        ++outcome.stats.recordsOut;
      }
      break;
    }
    case JobKind::kStreaming: {
      std::string input;
      Record record;
      while (merger.next(record)) {
        input.append(record.key);
        if (!record.value.empty()) {
          input.push_back('\t');
          input.append(record.value);
        }
        input.push_back('\n');
      }
      std::string text;
      FilterResult result = runFilter(job.reducer, input, text, cancel);
      if (result.cancelled) throw TaskCancelled();
      if (!result.ok()) throw TaskError(result.describe("reducer '" + job.reducer + "'"));
      for (char c : text) outcome.stats.recordsOut += c == '\n' ? 1 : 0;
      out.append(text);
      break;
    }
  }
  checkCancel();
  outcome.stats.bytesOut = out.size();
  out.finish();
  return outcome;
}

}  // namespace clusternodes::mapreduce
