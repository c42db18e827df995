// RecordIO: the framing of the Mesos v1 HTTP APIs' event streams (Apache
// Mesos, docs/recordio.md). Each record is its size in bytes as decimal
// digits, a line feed, then exactly that many bytes:
//
//   records     = *record
//   record      = record-size LF record-data
//   record-size = 1*DIGIT          ; an unsigned 64-bit integer
//   record-data = record-size(OCTET)
//
//   std::string stream = recordioEncode(R"({"type":"HEARTBEAT"})");  // "20\n{...}"
//
//   RecordioDecoder decoder;                // bytes arrive in any pieces
//   std::vector<std::string> records;
//   if (auto fed = decoder.feed(chunk, records); !fed) ... fed.error().message ...
//
// The decoder treats its input as hostile: a size line that is not digits,
// a size beyond its limit, or a size line longer than any uint64 fails the
// stream (the decoder stays failed: the framing is lost for good).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "clusternodes/result.hpp"

namespace clusternodes {

// One record, framed.
std::string recordioEncode(std::string_view record);

class RecordioDecoder {
 public:
  // Records larger than `maxRecordBytes` fail the stream.
  explicit RecordioDecoder(size_t maxRecordBytes = size_t{64} << 20);

  // Takes the next bytes of the stream; appends each record they complete
  // to `records`. Fails (kInvalid) at a broken size line or a record over
  // the limit, and from then on.
  Result<void> feed(std::string_view bytes, std::vector<std::string>& records);

  // True when the bytes so far end inside a record (or its size line): a
  // stream that ends here was cut short.
  bool midRecord() const { return !pending_.empty() || expecting_; }

 private:
  size_t max_;
  std::string pending_;      // a size line so far, or a record's bytes so far
  bool expecting_ = false;   // the size line is read; `remaining_` bytes to go
  uint64_t remaining_ = 0;
  std::string failure_;      // set once the framing is lost
};

}  // namespace clusternodes
