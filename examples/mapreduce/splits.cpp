#include "mapreduce/splits.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "mapreduce/util.hpp"

namespace clusternodes::mapreduce {

namespace fs = std::filesystem;

std::string InputSplit::describe() const {
  return fs::path(path).filename().string() + " bytes " + std::to_string(offset) + "-" +
         std::to_string(offset + length);
}

Result<Locations> parseLocations(std::string_view text) {
  Locations locations;
  size_t lineNo = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++lineNo;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    size_t tab = line.find('\t');
    if (tab == std::string_view::npos || tab == 0) {
      return invalid("locations line " + std::to_string(lineNo) + ": expected PATH<TAB>host1,host2");
    }
    std::string path(line.substr(0, tab));
    std::vector<std::string> hosts;
    std::string_view rest = line.substr(tab + 1);
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      std::string_view host = rest.substr(0, comma);
      while (!host.empty() && (host.front() == ' ' || host.front() == '\t')) host.remove_prefix(1);
      while (!host.empty() && (host.back() == ' ' || host.back() == '\t')) host.remove_suffix(1);
      if (!host.empty()) hosts.emplace_back(host);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    std::error_code ec;
    auto absolute = fs::absolute(path, ec).lexically_normal().string();
    locations[path] = hosts;
    if (!ec) locations[absolute] = hosts;
  }
  return locations;
}

Result<Locations> readLocations(const std::string& file) {
  std::ifstream in(file);
  if (!in) return invalid("cannot read locations file " + file);
  std::stringstream text;
  text << in.rdbuf();
  return parseLocations(text.str());
}

Result<std::vector<InputSplit>> computeSplits(const std::vector<std::string>& files, uint64_t splitSize,
                                              const Locations& locations) {
  if (splitSize == 0) return invalid("the split size must be positive");
  std::vector<InputSplit> splits;
  for (const auto& file : files) {
    std::error_code ec;
    uint64_t size = fs::file_size(file, ec);
    if (ec) return invalid("cannot read input " + file + ": " + ec.message());
    std::vector<std::string> hosts;
    auto found = locations.find(file);
    if (found == locations.end()) found = locations.find(fs::absolute(file, ec).lexically_normal().string());
    if (found != locations.end()) hosts = found->second;
    for (uint64_t offset = 0; offset < size; offset += splitSize) {
      InputSplit split;
      split.path = file;
      split.offset = offset;
      split.length = std::min(splitSize, size - offset);
      split.hosts = hosts;
      splits.push_back(std::move(split));
    }
  }
  return splits;
}

SplitLineReader::SplitLineReader(const InputSplit& split, size_t bufferSize)
    : path_(split.path), end_(split.offset + split.length), buf_(std::max<size_t>(bufferSize, 16)) {
  fd_ = ::open(split.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw TaskError("cannot open " + split.path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    int saved = errno;
    ::close(fd_);
    throw TaskError("cannot stat " + split.path + ": " + std::strerror(saved));
  }
  fileSize_ = static_cast<uint64_t>(st.st_size);
  bufStart_ = split.offset;
  if (split.offset > 0) {
    // The line holding byte offset-1 belongs to the previous split (or, when
    // that byte is '\n', ends there): skip through it.
    cursor_ = split.offset - 1;
    bufStart_ = cursor_;
    std::string_view skipped;
    readLine(skipped);
  }
}

SplitLineReader::~SplitLineReader() {
  if (fd_ >= 0) ::close(fd_);
}

bool SplitLineReader::next(std::string_view& line) {
  if (cursor_ >= end_) return false;
  uint64_t start = cursor_;
  if (!readLine(line)) return false;
  bytesRead_ += cursor_ - start;
  return true;
}

bool SplitLineReader::readLine(std::string_view& line) {
  if (cursor_ >= fileSize_) return false;
  if (cursor_ < bufStart_ || cursor_ > bufStart_ + bufLen_) {
    bufStart_ = cursor_;
    bufLen_ = 0;
  }
  uint64_t scanFrom = cursor_;
  for (;;) {
    size_t scanIndex = static_cast<size_t>(scanFrom - bufStart_);
    const char* found = nullptr;
    if (scanIndex < bufLen_) {
      found = static_cast<const char*>(std::memchr(buf_.data() + scanIndex, '\n', bufLen_ - scanIndex));
    }
    const char* lineStart = buf_.data() + (cursor_ - bufStart_);
    if (found != nullptr) {
      line = std::string_view(lineStart, static_cast<size_t>(found - lineStart));
      cursor_ = bufStart_ + static_cast<uint64_t>(found - buf_.data()) + 1;
      return true;
    }
    scanFrom = bufStart_ + bufLen_;
    if (scanFrom >= fileSize_) {
      // The last line of the file, without '\n'.
      line = std::string_view(lineStart, static_cast<size_t>(scanFrom - cursor_));
      cursor_ = fileSize_;
      return true;
    }
    // Keep the partial line at the front of the buffer, grow it when the
    // line fills it, and read more.
    size_t keep = static_cast<size_t>(bufStart_ + bufLen_ - cursor_);
    if (keep > 0 && lineStart != buf_.data()) std::memmove(buf_.data(), lineStart, keep);
    bufStart_ = cursor_;
    bufLen_ = keep;
    if (bufLen_ == buf_.size()) buf_.resize(buf_.size() * 2);
    // Read what the split still needs (a small split of a large file does
    // not pull in a whole buffer), at least 64 KiB.
    uint64_t readPos = bufStart_ + bufLen_;
    uint64_t want = buf_.size() - bufLen_;
    uint64_t needed = readPos < end_ ? end_ - readPos : 0;
    want = std::min<uint64_t>(want, std::max<uint64_t>(needed, 64 << 10));
    ssize_t n;
    do {
      n = ::pread(fd_, buf_.data() + bufLen_, static_cast<size_t>(want), static_cast<off_t>(readPos));
    } while (n < 0 && errno == EINTR);
    if (n < 0) throw TaskError("cannot read " + path_ + ": " + std::strerror(errno));
    if (n == 0) fileSize_ = bufStart_ + bufLen_;  // the file shrank: end here
    bufLen_ += static_cast<size_t>(n);
  }
}

}  // namespace clusternodes::mapreduce
