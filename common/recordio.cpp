#include "common/recordio.hpp"

#include <algorithm>
#include <limits>

namespace clusternodes {

std::string recordioEncode(std::string_view record) {
  std::string out = std::to_string(record.size());
  out.reserve(out.size() + 1 + record.size());
  out += '\n';
  out.append(record);
  return out;
}

RecordioDecoder::RecordioDecoder(size_t maxRecordBytes) : max_(maxRecordBytes) {}

Result<void> RecordioDecoder::feed(std::string_view bytes, std::vector<std::string>& records) {
  // The longest uint64 has 20 digits.
  constexpr size_t kMaxSizeDigits = 20;
  auto fail = [this](std::string why) -> Result<void> {
    failure_ = "RecordIO: " + std::move(why);
    pending_.clear();
    return invalid(failure_);
  };
  if (!failure_.empty()) return invalid(failure_);
  while (!bytes.empty()) {
    if (expecting_) {
      size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, bytes.size()));
      pending_.append(bytes.substr(0, take));
      bytes.remove_prefix(take);
      remaining_ -= take;
      if (remaining_ == 0) {
        records.push_back(std::move(pending_));
        pending_.clear();
        expecting_ = false;
      }
      continue;
    }
    char c = bytes.front();
    bytes.remove_prefix(1);
    if (c != '\n') {
      if (c < '0' || c > '9') {
        return fail("a record's size is decimal digits, not byte " + std::to_string(static_cast<unsigned char>(c)));
      }
      if (pending_.size() == kMaxSizeDigits) return fail("a record's size has more digits than any uint64");
      pending_.push_back(c);
      continue;
    }
    if (pending_.empty()) return fail("a record's size line is empty");
    uint64_t size = 0;
    for (char digit : pending_) {
      uint64_t value = static_cast<uint64_t>(digit - '0');
      if (size > (std::numeric_limits<uint64_t>::max() - value) / 10) return fail("a record's size overflows a uint64");
      size = size * 10 + value;
    }
    if (size > max_) {
      return fail("a record of " + std::to_string(size) + " bytes is over the limit of " + std::to_string(max_));
    }
    pending_.clear();
    if (size == 0) {
      records.emplace_back();
      continue;
    }
    remaining_ = size;
    expecting_ = true;
  }
  return {};
}

}  // namespace clusternodes
