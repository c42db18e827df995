#include "mapreduce/terasort.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "mapreduce/job.hpp"
#include "mapreduce/util.hpp"

namespace clusternodes::mapreduce {

namespace fs = std::filesystem;

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string printableKey(std::string_view key) {
  std::string text;
  for (unsigned char c : key) {
    if (c >= 0x20 && c < 0x7f) {
      text.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      text += buf;
    }
  }
  return "'" + text + "'";
}

}  // namespace

std::string teraRecord(uint64_t seed, uint64_t row) {
  std::string record;
  record.reserve(kTeraRecordLength);
  uint64_t state = splitmix64(seed * 0x2545f4914f6cdd1dULL ^ splitmix64(row));
  for (size_t i = 0; i < kTeraKeyLength; ++i) {
    state = splitmix64(state);
    record.push_back(static_cast<char>(' ' + static_cast<int>(state % 95)));  // ' '..'~'
  }
  record += "  ";
  char hex[40];
  std::snprintf(hex, sizeof hex, "%016llX%016llX", 0ULL, static_cast<unsigned long long>(row));
  record += hex;
  while (record.size() < kTeraRecordLength - 1) {
    record.push_back(static_cast<char>('A' + (row + record.size()) % 26));
  }
  record.push_back('\n');
  return record;
}

Result<void> teragen(uint64_t rows, const std::string& output, int files, uint64_t seed) {
  if (files < 1) return invalid("--files must be at least 1");
  auto available = checkOutputAvailable(output);
  if (!available) return available;
  std::error_code ec;
  fs::create_directories(output, ec);
  if (ec) return invalid("cannot create " + output + ": " + ec.message());
  uint64_t row = 0;
  for (int f = 0; f < files; ++f) {
    uint64_t end = rows * static_cast<uint64_t>(f + 1) / static_cast<uint64_t>(files);
    std::string path = output + "/" + numberedName("part-", f);
    std::ofstream out(path, std::ios::binary);
    if (!out) return invalid("cannot create " + path);
    std::string buffer;
    buffer.reserve(1 << 20);
    for (; row < end; ++row) {
      buffer += teraRecord(seed, row);
      if (buffer.size() >= (1 << 20) - kTeraRecordLength) {
        out.write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        buffer.clear();
      }
    }
    out.write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    out.close();
    if (!out) return invalid("cannot write " + path);
  }
  return {};
}

Result<TeraSummary> summarize(const std::vector<std::string>& files) {
  TeraSummary summary;
  try {
    for (const auto& file : files) {
      InputSplit whole{file, 0, UINT64_MAX / 2, {}};
      SplitLineReader reader(whole);
      std::string_view line;
      while (reader.next(line)) {
        ++summary.records;
        summary.checksum += recordHash(line);
      }
    }
  } catch (const TaskError& e) {
    return invalid(e.what());
  }
  return summary;
}

Result<TeraSummary> teravalidate(const std::string& output, const std::string& input) {
  std::error_code ec;
  if (!fs::is_directory(output, ec)) return notFound("output " + output + " does not exist or is not a directory");
  std::vector<std::string> parts;
  for (const auto& entry : fs::directory_iterator(output, ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind("part-r-", 0) == 0 && entry.is_regular_file()) parts.push_back(entry.path().string());
  }
  if (ec) return invalid("cannot list " + output + ": " + ec.message());
  if (parts.empty()) return invalid("no part-r-* files in " + output);
  std::sort(parts.begin(), parts.end());

  TeraSummary summary;
  std::string previousKey;
  std::string previousWhere;
  try {
    for (const auto& part : parts) {
      InputSplit whole{part, 0, UINT64_MAX / 2, {}};
      SplitLineReader reader(whole);
      std::string_view line;
      uint64_t index = 0;
      std::string name = fs::path(part).filename().string();
      while (reader.next(line)) {
        ++index;
        std::string_view key = teraKey(line);
        if (summary.records > 0 && key < std::string_view(previousKey)) {
          return invalid("misordered: " + name + " record " + std::to_string(index) + " has key " + printableKey(key) +
                         ", smaller than the key " + printableKey(previousKey) + " of " + previousWhere);
        }
        previousKey.assign(key);
        previousWhere = name + " record " + std::to_string(index);
        ++summary.records;
        summary.checksum += recordHash(line);
      }
    }
  } catch (const TaskError& e) {
    return invalid(e.what());
  }
  if (!input.empty()) {
    auto files = listInputFiles(input);
    if (!files) return files.error();
    auto expected = summarize(*files);
    if (!expected) return expected.error();
    if (expected->records != summary.records) {
      return invalid("the output holds " + std::to_string(summary.records) + " records, the input " +
                     std::to_string(expected->records));
    }
    if (expected->checksum != summary.checksum) {
      return invalid("the output's records differ from the input's (checksum mismatch)");
    }
  }
  return summary;
}

Result<std::vector<std::string>> sampleKeys(const std::vector<InputSplit>& splits, size_t samples,
                                            size_t maxSplits) {
  std::vector<std::string> keys;
  if (splits.empty() || samples == 0) return keys;
  size_t used = std::min(std::max<size_t>(maxSplits, 1), splits.size());
  size_t perSplit = (samples + used - 1) / used;
  try {
    for (size_t i = 0; i < used; ++i) {
      const InputSplit& split = splits[i * splits.size() / used];
      SplitLineReader reader(split, 1 << 16);
      std::string_view line;
      for (size_t n = 0; n < perSplit && reader.next(line); ++n) keys.emplace_back(teraKey(line));
    }
  } catch (const TaskError& e) {
    return invalid(std::string("cannot sample the input: ") + e.what());
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::vector<std::string> cutPoints(const std::vector<std::string>& sortedKeys, int reducers) {
  std::vector<std::string> cuts;
  if (reducers <= 1 || sortedKeys.empty()) return cuts;
  for (int i = 1; i < reducers; ++i) {
    size_t index = sortedKeys.size() * static_cast<size_t>(i) / static_cast<size_t>(reducers);
    cuts.push_back(sortedKeys[std::min(index, sortedKeys.size() - 1)]);
  }
  return cuts;
}

}  // namespace clusternodes::mapreduce
