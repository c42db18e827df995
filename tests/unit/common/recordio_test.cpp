// RecordIO framing, as Apache Mesos's docs/recordio.md defines it.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "common/recordio.hpp"

using namespace clusternodes;

TEST_CASE("RecordIO: records are framed as their size in decimal, a line feed and their bytes") {
  CHECK(recordioEncode(R"({"type":"HEARTBEAT"})") == "20\n{\"type\":\"HEARTBEAT\"}");
  CHECK(recordioEncode("") == "0\n");
  // Bytes, not characters: "é" is two.
  CHECK(recordioEncode("\xc3\xa9") == "2\n\xc3\xa9");
  CHECK(recordioEncode(std::string("a\0b\nc", 5)) == std::string("5\na\0b\nc", 7));
}

TEST_CASE("RecordIO: the decoder gives back every record whatever pieces the stream arrives in") {
  std::vector<std::string> sent = {"hello ", "", "world!", std::string(70000, 'x'), "\n\n12\n", "last"};
  std::string stream;
  for (const auto& r : sent) stream += recordioEncode(r);
  // Mesos's own example.
  {
    RecordioDecoder decoder;
    std::vector<std::string> got;
    REQUIRE(decoder.feed("6\nhello 0\n6\nworld!", got));
    CHECK(got == std::vector<std::string>{"hello ", "", "world!"});
    CHECK_FALSE(decoder.midRecord());
  }
  std::mt19937 random(7);
  for (int trial = 0; trial < 50; ++trial) {
    RecordioDecoder decoder;
    std::vector<std::string> got;
    size_t at = 0;
    bool fed = true;
    while (at < stream.size() && fed) {
      size_t piece = std::min<size_t>(stream.size() - at, 1 + random() % (trial < 25 ? 3 : 9000));
      fed = decoder.feed(std::string_view(stream).substr(at, piece), got).ok();
      at += piece;
    }
    REQUIRE(fed);
    CHECK(got == sent);
    CHECK_FALSE(decoder.midRecord());
  }
  // A stream cut inside a record, or inside a size line, says so.
  RecordioDecoder cut;
  std::vector<std::string> got;
  REQUIRE(cut.feed("5\nhel", got));
  CHECK(got.empty());
  CHECK(cut.midRecord());
  RecordioDecoder inSize;
  REQUIRE(inSize.feed("1", got));
  CHECK(inSize.midRecord());
  REQUIRE(inSize.feed("2\nhello world!", got));
  CHECK(got == std::vector<std::string>{"hello world!"});
  CHECK_FALSE(inSize.midRecord());
}

TEST_CASE("RecordIO: a size line that is not digits, empty, too long or over the limit fails the stream for good") {
  for (std::string bad : {"x\n", "-1\n", " 5\nhello", "5\r\nhello", "\n", "5 \nhello", "+5\nhello",
                          "123456789012345678901\n", "18446744073709551616\n"}) {
    INFO(bad);
    RecordioDecoder decoder;
    std::vector<std::string> got;
    auto fed = decoder.feed(bad, got);
    REQUIRE_FALSE(fed.ok());
    CHECK(fed.error().code == ErrorCode::kInvalid);
    CHECK(fed.error().message.rfind("RecordIO: ", 0) == 0);
    CHECK_FALSE(decoder.feed("2\nok", got).ok());  // lost for good
    CHECK(got.empty());
  }
  RecordioDecoder small(10);
  std::vector<std::string> got;
  REQUIRE(small.feed("10\n0123456789", got));
  auto over = small.feed("11\n", got);
  REQUIRE_FALSE(over.ok());
  CHECK(over.error().message.find("11 bytes is over the limit of 10") != std::string::npos);
  // The largest uint64 is a size, refused by the limit rather than overflowing.
  RecordioDecoder large;
  auto huge = large.feed("18446744073709551615\n", got);
  REQUIRE_FALSE(huge.ok());
  CHECK(huge.error().message.find("over the limit") != std::string::npos);
  CHECK(got.size() == 1);
}
