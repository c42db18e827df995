// Input splits: every line is read by exactly one split, whatever the split
// size, buffer size and line layout.
#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "examples/mapreduce/splits.hpp"
#include "examples/mapreduce/util.hpp"
#include "tests/harness/temp_dir.hpp"
#include "tests/unit/mapreduce/mr_test_util.hpp"

using namespace clusternodes;
using namespace clusternodes::mapreduce;
using clusternodes::mapreduce::testing::writeFile;
using clusternodes::testing::TempDir;

namespace {

// The lines of `text` as a reader should return them: split at '\n', no
// empty line after a final '\n'.
std::vector<std::string> expectedLines(const std::string& text) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) {
      lines.push_back(text.substr(pos));
      break;
    }
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

// Every line of every split, checking that the splits' byte counts add up
// to the files' sizes.
std::vector<std::string> readAllSplits(const std::vector<InputSplit>& splits, size_t bufferSize) {
  std::vector<std::string> lines;
  std::map<std::string, uint64_t> bytes;
  for (const auto& split : splits) {
    SplitLineReader reader(split, bufferSize);
    std::string_view line;
    while (reader.next(line)) lines.emplace_back(line);
    bytes[split.path] += reader.bytesRead();
  }
  for (const auto& [path, total] : bytes) CHECK(total == std::filesystem::file_size(path));
  return lines;
}

}  // namespace

TEST_CASE("splits: every line is read exactly once, for every split size and buffer size") {
  TempDir dir("cn-test-mr");
  const std::vector<std::string> texts = {
      "",
      "\n",
      "a",
      "a\n",
      "\n\n\n",
      "one\ntwo\nthree\n",
      "one\ntwo\nthree",  // no trailing newline
      "x\n\nyy\n\n\nzzz\nwwww",
      std::string(70, 'L') + "\nshort\n" + std::string(40, 'M') + "\n\nend",  // lines longer than the buffer
  };
  for (size_t t = 0; t < texts.size(); ++t) {
    std::string path = dir.path + "/in-" + std::to_string(t);
    writeFile(path, texts[t]);
    auto expected = expectedLines(texts[t]);
    for (uint64_t splitSize = 1; splitSize <= texts[t].size() + 2; ++splitSize) {
      for (size_t buffer : {16, 17, 64, 1 << 16}) {
        auto splits = computeSplits({path}, splitSize);
        REQUIRE(splits.ok());
        INFO("text " << t << " split size " << splitSize << " buffer " << buffer);
        CHECK(readAllSplits(*splits, buffer) == expected);
      }
    }
  }
}

TEST_CASE("splits: a line belongs to the split holding its first byte") {
  TempDir dir("cn-test-mr");
  std::string path = dir.path + "/in";
  writeFile(path, "aaa\nbbb\nccc\n");  // lines start at 0, 4, 8
  auto readSplit = [&](uint64_t offset, uint64_t length) {
    InputSplit split{path, offset, length, {}};
    SplitLineReader reader(split, 16);
    std::vector<std::string> lines;
    std::string_view line;
    while (reader.next(line)) lines.emplace_back(line);
    return lines;
  };
  CHECK(readSplit(0, 4) == std::vector<std::string>{"aaa"});         // "bbb" starts at 4: the next split's
  CHECK(readSplit(0, 5) == std::vector<std::string>{"aaa", "bbb"});  // "bbb" starts inside: read past the end
  CHECK(readSplit(4, 4) == std::vector<std::string>{"bbb"});         // byte 3 is '\n': "bbb" starts here
  CHECK(readSplit(5, 4) == std::vector<std::string>{"ccc"});         // skips the rest of "bbb"
  CHECK(readSplit(9, 3).empty());
}

TEST_CASE("splits: many files, random line lengths, every line once") {
  TempDir dir("cn-test-mr");
  std::vector<std::string> files;
  std::vector<std::string> expected;
  uint64_t state = 12345;
  auto rnd = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33;
  };
  for (int f = 0; f < 4; ++f) {
    std::string text;
    int lines = static_cast<int>(rnd() % 40);
    for (int i = 0; i < lines; ++i) {
      std::string line(rnd() % 30, static_cast<char>('a' + f));
      line += std::to_string(i);
      text += line;
      expected.push_back(line);
      if (i + 1 < lines || rnd() % 2 == 0) text += "\n";
    }
    std::string path = dir.path + "/f" + std::to_string(f);
    writeFile(path, text);
    files.push_back(path);
  }
  for (uint64_t splitSize : {1, 2, 3, 7, 13, 31, 100, 1000}) {
    auto splits = computeSplits(files, splitSize);
    REQUIRE(splits.ok());
    INFO("split size " << splitSize);
    CHECK(readAllSplits(*splits, 32) == expected);
  }
}

TEST_CASE("splits: byte ranges of at most the split size, empty files give none") {
  TempDir dir("cn-test-mr");
  writeFile(dir.path + "/a", std::string(25, 'x'));
  writeFile(dir.path + "/b", "");
  auto splits = computeSplits({dir.path + "/a", dir.path + "/b"}, 10);
  REQUIRE(splits.ok());
  REQUIRE(splits->size() == 3);
  CHECK((*splits)[0].offset == 0);
  CHECK((*splits)[0].length == 10);
  CHECK((*splits)[2].offset == 20);
  CHECK((*splits)[2].length == 5);
  CHECK((*splits)[1].describe() == "a bytes 10-20");
}

TEST_CASE("splits: input listing skips hidden and underscore files, sorted, clear errors") {
  TempDir dir("cn-test-mr");
  writeFile(dir.path + "/in/b.txt", "b");
  writeFile(dir.path + "/in/a.txt", "a");
  writeFile(dir.path + "/in/_SUCCESS", "");
  writeFile(dir.path + "/in/.hidden", "h");
  writeFile(dir.path + "/in/sub/c.txt", "c");
  auto files = listInputFiles(dir.path + "/in");
  REQUIRE(files.ok());
  CHECK(*files == std::vector<std::string>{dir.path + "/in/a.txt", dir.path + "/in/b.txt"});

  auto missing = listInputFiles(dir.path + "/nope");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message == "input " + dir.path + "/nope does not exist");

  std::filesystem::create_directories(dir.path + "/empty");
  auto empty = listInputFiles(dir.path + "/empty");
  REQUIRE(empty.ok());
  CHECK(empty->empty());
}

TEST_CASE("splits: locations give each split of a file its preferred hosts") {
  TempDir dir("cn-test-mr");
  writeFile(dir.path + "/a", std::string(30, 'x'));
  writeFile(dir.path + "/b", "y");
  auto locations = parseLocations("# comment\n" + dir.path + "/a\thost1, host2\n");
  REQUIRE(locations.ok());
  auto splits = computeSplits({dir.path + "/a", dir.path + "/b"}, 16, *locations);
  REQUIRE(splits.ok());
  REQUIRE(splits->size() == 3);
  CHECK((*splits)[0].hosts == std::vector<std::string>{"host1", "host2"});
  CHECK((*splits)[1].hosts == std::vector<std::string>{"host1", "host2"});
  CHECK((*splits)[2].hosts.empty());
  CHECK_FALSE(parseLocations("no tab here\n").ok());
}

TEST_CASE("util: sizes parse with binary suffixes and refuse nonsense") {
  CHECK(*parseSize("16M") == 16ULL << 20);
  CHECK(*parseSize("512K") == 512ULL << 10);
  CHECK(*parseSize("1G") == 1ULL << 30);
  CHECK(*parseSize("64MiB") == 64ULL << 20);
  CHECK(*parseSize("1000") == 1000);
  CHECK_FALSE(parseSize("0").ok());
  CHECK_FALSE(parseSize("-5").ok());
  CHECK_FALSE(parseSize("12X").ok());
  CHECK_FALSE(parseSize("M").ok());
  CHECK(humanBytes(512) == "512 B");
  CHECK(humanBytes(48ULL << 20) == "48.0 MiB");
}

TEST_CASE("util: an output directory with files in it is refused") {
  TempDir dir("cn-test-mr");
  CHECK(checkOutputAvailable(dir.path + "/new").ok());
  std::filesystem::create_directories(dir.path + "/empty");
  CHECK(checkOutputAvailable(dir.path + "/empty").ok());
  writeFile(dir.path + "/full/x", "x");
  auto full = checkOutputAvailable(dir.path + "/full");
  REQUIRE_FALSE(full.ok());
  CHECK(full.error().message.find("already exists") != std::string::npos);
}
