#include "mapreduce/util.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace clusternodes::mapreduce {

namespace fs = std::filesystem;

Result<uint64_t> parseSize(std::string_view text) {
  std::string s(text);
  size_t pos = 0;
  while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
  if (pos == 0 || pos > 18) return invalid("'" + s + "' is not a size (try 64M, 512K, 1G or a number of bytes)");
  uint64_t value = std::stoull(s.substr(0, pos));
  std::string unit = s.substr(pos);
  uint64_t multiplier = 0;
  if (unit.empty() || unit == "B" || unit == "b") {
    multiplier = 1;
  } else {
    char c = static_cast<char>(std::toupper(static_cast<unsigned char>(unit[0])));
    std::string rest = unit.substr(1);
    if (!(rest.empty() || rest == "B" || rest == "iB" || rest == "b")) c = '?';
    if (c == 'K') multiplier = 1ULL << 10;
    if (c == 'M') multiplier = 1ULL << 20;
    if (c == 'G') multiplier = 1ULL << 30;
    if (c == 'T') multiplier = 1ULL << 40;
  }
  if (multiplier == 0) return invalid("'" + s + "' has an unknown unit '" + unit + "' (use K, M, G)");
  if (value == 0) return invalid("'" + s + "' is not a positive size");
  if (value > (UINT64_MAX >> 1) / multiplier) return invalid("'" + s + "' is too large");
  return value * multiplier;
}

std::string humanBytes(uint64_t bytes) {
  static const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes) / 1024;
  int unit = 0;
  while (value >= 1024 && unit < 3) {
    value /= 1024;
    ++unit;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f %s", value, kUnits[unit]);
  return buf;
}

Result<std::vector<std::string>> listInputFiles(const std::string& input) {
  std::error_code ec;
  auto status = fs::status(input, ec);
  if (ec || !fs::exists(status)) return notFound("input " + input + " does not exist");
  std::vector<std::string> files;
  if (fs::is_regular_file(status)) {
    if (::access(input.c_str(), R_OK) != 0) return invalid("input " + input + " is not readable");
    files.push_back(input);
    return files;
  }
  if (!fs::is_directory(status)) return invalid("input " + input + " is neither a file nor a directory");
  fs::directory_iterator it(input, ec);
  if (ec) return invalid("cannot list input " + input + ": " + ec.message());
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return invalid("cannot list input " + input + ": " + ec.message());
    std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '_' || name[0] == '.') continue;
    std::error_code typeError;
    if (!it->is_regular_file(typeError)) continue;
    files.push_back(it->path().string());
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    if (::access(file.c_str(), R_OK) != 0) return invalid("input " + file + " is not readable");
  }
  return files;
}

Result<void> checkOutputAvailable(const std::string& output) {
  std::error_code ec;
  if (!fs::exists(output, ec)) return {};
  if (!fs::is_directory(output, ec)) return Error{ErrorCode::kConflict, "output " + output + " exists and is not a directory"};
  if (!fs::is_empty(output, ec)) return Error{ErrorCode::kConflict, "output directory " + output + " already exists"};
  return {};
}

namespace {

constexpr size_t kWriteBuffer = 4 << 20;

void writeAll(int fd, std::string_view data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw TaskError("cannot write " + path + ": " + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
}

}  // namespace

AtomicFileWriter::AtomicFileWriter(std::string tmpPath, std::string finalPath)
    : tmpPath_(std::move(tmpPath)), finalPath_(std::move(finalPath)) {
  fd_ = ::open(tmpPath_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw TaskError("cannot create " + tmpPath_ + ": " + std::strerror(errno));
  buffer_.reserve(kWriteBuffer);
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ < 0) return;
  ::close(fd_);
  ::unlink(tmpPath_.c_str());
}

void AtomicFileWriter::append(std::string_view data) {
  if (buffer_.size() + data.size() > kWriteBuffer) flush();
  if (data.size() >= kWriteBuffer) {
    writeAll(fd_, data, tmpPath_);
    written_ += data.size();
    return;
  }
  buffer_.append(data);
}

void AtomicFileWriter::flush() {
  writeAll(fd_, buffer_, tmpPath_);
  written_ += buffer_.size();
  buffer_.clear();
}

void AtomicFileWriter::finish() {
  flush();
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    ::unlink(tmpPath_.c_str());
    throw TaskError("cannot write " + tmpPath_ + ": " + std::strerror(errno));
  }
  if (::rename(tmpPath_.c_str(), finalPath_.c_str()) != 0) {
    throw TaskError("cannot rename " + tmpPath_ + " to " + finalPath_ + ": " + std::strerror(errno));
  }
}

void writeFileAtomically(const std::string& tmpPath, const std::string& finalPath, std::string_view data) {
  AtomicFileWriter writer(tmpPath, finalPath);
  writer.append(data);
  writer.finish();
}

std::string readWholeFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw TaskError("cannot open " + path + ": " + std::strerror(errno));
  std::string data;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) data.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int saved = errno;
      ::close(fd);
      throw TaskError("cannot read " + path + ": " + std::strerror(saved));
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return data;
}

std::string numberedName(std::string_view prefix, int index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%05d", index);
  return std::string(prefix) + buf;
}

}  // namespace clusternodes::mapreduce
