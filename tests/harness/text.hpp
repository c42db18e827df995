// Reading what programs wrote, for the integration tests.
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace clusternodes::testing {

// A file's bytes; empty when it cannot be read.
inline std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The lines of `text`, without their newlines.
inline std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

// Every file of `dir` whose name starts with `prefix` ("part-" of a job's
// output), concatenated in name order.
inline std::string partFiles(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> parts;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind(prefix, 0) == 0) parts.push_back(entry.path().string());
  }
  std::sort(parts.begin(), parts.end());
  std::string out;
  for (const auto& part : parts) out += readFile(part);
  return out;
}

}  // namespace clusternodes::testing
