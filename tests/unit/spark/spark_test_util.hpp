// Helpers shared by the Spark-style framework's tests.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "examples/spark/context.hpp"
#include "examples/spark/local_backend.hpp"

namespace spark_test {

using namespace clusternodes::spark;

// A fresh directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = (std::filesystem::temp_directory_path() /
             ("cn-spark-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter)))
                .string();
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void writeText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

inline std::string readText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A local context; `backend` (optional) receives the LocalBackend.
inline Context localContext(const FunctionRegistry& registry, int executors = 2, int cores = 1,
                            LocalBackend** backend = nullptr, ContextOptions options = {}) {
  options.quiet = true;
  auto local = std::make_unique<LocalBackend>(registry, LocalOptions{executors, cores, ""});
  if (backend != nullptr) *backend = local.get();
  auto ctx = Context::create(registry, std::move(local), std::move(options));
  if (!ctx) throw std::runtime_error(ctx.error().message);
  return std::move(*ctx);
}

inline std::vector<Record> sorted(std::vector<Record> records) {
  std::sort(records.begin(), records.end(), [](const Record& a, const Record& b) {
    return a.key != b.key ? a.key < b.key : a.value < b.value;
  });
  return records;
}

// The reference word count: runs of ASCII letters, lowercased.
inline std::map<std::string, int64_t> referenceWordCount(const std::string& text) {
  std::map<std::string, int64_t> counts;
  std::string word;
  auto flush = [&] {
    if (!word.empty()) ++counts[word];
    word.clear();
  };
  for (char c : text) {
    if (c >= 'A' && c <= 'Z') {
      word.push_back(static_cast<char>(c - 'A' + 'a'));
    } else if (c >= 'a' && c <= 'z') {
      word.push_back(c);
    } else {
      flush();
    }
  }
  flush();
  return counts;
}

inline std::map<std::string, int64_t> toCounts(const std::vector<Record>& records) {
  std::map<std::string, int64_t> counts;
  for (const auto& r : records) counts[r.key] += std::stoll(r.value);
  return counts;
}

// Varied text: words of mixed case, punctuation, digits, long and empty
// lines, a final line without '\n'.
inline std::string generateText(size_t bytes, uint64_t seed = 42) {
  static const char* words[] = {"the", "Quick", "brown", "FOX", "jumps", "over", "lazy", "dog's", "café",
                                "x", "Mesos", "spark", "data-set", "tab\there", "e-mail", "3rd", "ok!", "zz"};
  std::string text;
  uint64_t s = seed;
  auto next = [&s] {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  };
  while (text.size() < bytes) {
    uint64_t r = next();
    if (r % 23 == 0) {
      text += "\n";
    } else if (r % 29 == 0) {
      text += "\n\n";
    } else {
      text += words[r % (sizeof words / sizeof words[0])];
      text += (r >> 8) % 11 == 0 ? "\n" : ((r >> 8) % 7 == 0 ? ",  " : " ");
    }
    if (r % 997 == 0) text += "w" + std::to_string(r % 100000) + " ";
  }
  text += "last line without newline";
  return text;
}

}  // namespace spark_test
