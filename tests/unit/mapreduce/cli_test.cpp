// The command line.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "examples/mapreduce/cli.hpp"

using namespace clusternodes;
using namespace clusternodes::mapreduce;
using namespace std::chrono_literals;

namespace {

int parse(std::vector<std::string> args, CommandLine& out) {
  args.insert(args.begin(), "clusternodes-mapreduce");
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  return parseMapReduceCommandLine(static_cast<int>(argv.size()), argv.data(), out);
}

}  // namespace

TEST_CASE("cli: wordcount with defaults") {
  CommandLine c;
  REQUIRE(parse({"wordcount", "in", "out"}, c) == -1);
  CHECK(c.mode == Mode::kJob);
  CHECK((c.job.kind == JobKind::kWordCount));
  CHECK(c.input == "in");
  CHECK(c.output == "out");
  CHECK(c.master == "127.0.0.1:5050");
  CHECK(c.job.reducers == 2);
  CHECK(c.splitSize == 16ULL << 20);
  CHECK(c.localityDelay == 3s);
  CHECK(c.maxAttempts == 4);
  CHECK(c.job.combiner);
}

TEST_CASE("cli: options before or after the job name") {
  CommandLine c;
  REQUIRE(parse({"--master=10.0.0.1:5050", "--reducers=4", "wordcount", "--split-size=512K", "--locality-delay=500ms",
                 "--no-combiner", "in", "out"},
                c) == -1);
  CHECK(c.master == "10.0.0.1:5050");
  CHECK(c.job.reducers == 4);
  CHECK(c.splitSize == 512ULL << 10);
  CHECK(c.localityDelay == 500ms);
  CHECK_FALSE(c.job.combiner);
}

TEST_CASE("cli: grep, terasort, teragen, teravalidate, executor") {
  CommandLine g;
  REQUIRE(parse({"grep", "fo+", "in", "out"}, g) == -1);
  CHECK((g.job.kind == JobKind::kGrep));
  CHECK(g.job.pattern == "fo+");
  CommandLine t;
  REQUIRE(parse({"terasort", "in", "out"}, t) == -1);
  CHECK((t.job.kind == JobKind::kTeraSort));
  CommandLine gen;
  REQUIRE(parse({"teragen", "1000", "out", "--files=4", "--seed=9"}, gen) == -1);
  CHECK(gen.mode == Mode::kTeraGen);
  CHECK(gen.rows == 1000);
  CHECK(gen.files == 4);
  CHECK(gen.seed == 9);
  CommandLine v;
  REQUIRE(parse({"teravalidate", "out", "--input=in"}, v) == -1);
  CHECK(v.mode == Mode::kTeraValidate);
  CHECK(v.validateInput == "in");
  CommandLine e;
  REQUIRE(parse({"executor"}, e) == -1);
  CHECK(e.mode == Mode::kExecutor);
}

TEST_CASE("cli: streaming takes Hadoop's single-dash options") {
  CommandLine c;
  REQUIRE(parse({"streaming", "-mapper", "cat", "-reducer", "wc -l", "in", "out"}, c) == -1);
  CHECK((c.job.kind == JobKind::kStreaming));
  CHECK(c.job.mapper == "cat");
  CHECK(c.job.reducer == "wc -l");
  CHECK(c.input == "in");
  CHECK(c.output == "out");
  CommandLine d;
  REQUIRE(parse({"streaming", "-input", "i", "-output", "o", "-mapper", "cat", "-reducer", "cat", "-combiner", "uniq"},
                d) == -1);
  CHECK(d.input == "i");
  CHECK(d.output == "o");
  CHECK(d.job.combinerCommand == "uniq");
}

TEST_CASE("cli: bad command lines exit 2, --help exits 0") {
  CommandLine c;
  CHECK(parse({}, c) == 2);
  CHECK(parse({"wordcount", "in"}, c) == 2);
  CHECK(parse({"--bogus", "wordcount", "in", "out"}, c) == 2);
  CHECK(parse({"--split-size=12Q", "wordcount", "in", "out"}, c) == 2);
  CHECK(parse({"--locality-delay=soon", "wordcount", "in", "out"}, c) == 2);
  CHECK(parse({"--reducers=0", "wordcount", "in", "out"}, c) == 2);
  CHECK(parse({"grep", "a(b", "in", "out"}, c) == 2);
  CHECK(parse({"streaming", "-mapper", "cat", "in", "out"}, c) == 2);
  CHECK(parse({"teragen", "lots", "out"}, c) == 2);
  CHECK(parse({"--help"}, c) == 0);
}

TEST_CASE("cli: single-dash streaming options become long options, nothing else changes") {
  CHECK(normalizeArguments({"-mapper", "-mapper=x", "-m", "--mapper", "-reducer", "cat"}) ==
        std::vector<std::string>{"--mapper", "--mapper=x", "-m", "--mapper", "--reducer", "cat"});
}
