#include "spark/text_input.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace clusternodes::spark {

namespace fs = std::filesystem;

Result<std::vector<TextSplit>> computeTextSplits(const std::string& path, int minPartitions) {
  std::error_code ec;
  fs::path root = fs::absolute(path, ec);
  if (ec || !fs::exists(root, ec)) return notFound("input " + path + " does not exist");
  std::vector<std::string> files;
  if (fs::is_directory(root, ec)) {
    for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
      std::string name = it->path().filename().string();
      if (name.empty() || name[0] == '_' || name[0] == '.') continue;
      if (it->is_regular_file(ec)) files.push_back(it->path().lexically_normal().string());
    }
    if (ec) return internalError("cannot list " + path + ": " + ec.message());
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(root.lexically_normal().string());
  }
  std::vector<uint64_t> sizes;
  uint64_t total = 0;
  for (const auto& f : files) {
    uint64_t size = fs::file_size(f, ec);
    if (ec) return internalError("cannot read the size of " + f + ": " + ec.message());
    sizes.push_back(size);
    total += size;
  }
  uint64_t parts = static_cast<uint64_t>(std::max(minPartitions, 1));
  uint64_t splitSize = std::max<uint64_t>(1, (total + parts - 1) / parts);
  std::vector<TextSplit> splits;
  for (size_t i = 0; i < files.size(); ++i) {
    for (uint64_t off = 0; off < sizes[i]; off += splitSize) {
      splits.push_back({files[i], off, std::min(splitSize, sizes[i] - off)});
    }
  }
  return splits;
}

namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Reads up to `size` bytes at `offset`; fewer only at the end of the file.
size_t readAt(int fd, const std::string& path, char* buf, size_t size, uint64_t offset) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, buf + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

}  // namespace

void readSplitLines(const TextSplit& split, const std::function<void(std::string_view)>& line) {
  Fd fd(::open(split.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) throw std::runtime_error("cannot open " + split.path + ": " + std::strerror(errno));
  const uint64_t end = split.offset + split.length;
  constexpr size_t kChunk = 1 << 20;
  std::string buf;      // unconsumed bytes, starting at file offset `bufStart`
  uint64_t bufStart = split.offset > 0 ? split.offset - 1 : 0;
  uint64_t readPos = bufStart;
  bool eof = false;
  auto fill = [&] {
    size_t old = buf.size();
    buf.resize(old + kChunk);
    size_t n = readAt(fd.get(), split.path, buf.data() + old, kChunk, readPos);
    buf.resize(old + n);
    readPos += n;
    if (n == 0) eof = true;
  };
  size_t pos = 0;  // into buf
  if (split.offset > 0) {
    // Skip through the first '\n' at or after offset - 1: that line belongs
    // to the previous split.
    for (;;) {
      size_t nl = buf.find('\n', pos);
      if (nl != std::string::npos) {
        pos = nl + 1;
        break;
      }
      pos = buf.size();
      if (eof) return;
      fill();
    }
  }
  // Each line that starts before `end` is ours.
  for (;;) {
    if (bufStart + pos >= end) return;
    size_t nl = buf.find('\n', pos);
    while (nl == std::string::npos && !eof) {
      // Drop consumed bytes, then read more.
      buf.erase(0, pos);
      bufStart += pos;
      pos = 0;
      fill();
      nl = buf.find('\n', pos);
    }
    if (nl == std::string::npos) {
      if (pos < buf.size()) line(std::string_view(buf).substr(pos));
      return;
    }
    line(std::string_view(buf).substr(pos, nl - pos));
    pos = nl + 1;
  }
}

}  // namespace clusternodes::spark
