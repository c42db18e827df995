#include "mapreduce/cli.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

#include "support/program.hpp"
#include "mapreduce/util.hpp"

namespace clusternodes::mapreduce {

std::vector<std::string> normalizeArguments(const std::vector<std::string>& args) {
  static const char* kSingleDash[] = {"mapper", "reducer", "combiner", "input", "output"};
  std::vector<std::string> out;
  for (const auto& arg : args) {
    std::string converted = arg;
    for (const char* name : kSingleDash) {
      std::string flag = std::string("-") + name;
      if (arg == flag || arg.rfind(flag + "=", 0) == 0) converted = "-" + arg;
    }
    out.push_back(converted);
  }
  return out;
}

namespace {

int fail(const std::string& message) {
  std::cerr << "clusternodes-mapreduce: " << message << "\n";
  return 2;
}

}  // namespace

int parseMapReduceCommandLine(int argc, char** argv, CommandLine& out) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  args = normalizeArguments(args);

  CLI::App app("Hadoop-style MapReduce on a Clusternodes cluster: wordcount, grep, terasort and streaming jobs, "
               "teragen and teravalidate, and the executor (TaskTracker) the agents run.",
               "clusternodes-mapreduce");
  app.require_subcommand(1);
  app.fallthrough();
  std::string splitSize = "16M";
  bool noCombinerGlobal = false;
  app.add_option("--master", out.master, "The master, HOST:PORT or zk://HOST:PORT[,...]/PATH")->capture_default_str();
  app.add_option("--key", out.keyFile, "The framework's CURVE key pair (NAME.key), for a master started with --key");
  app.add_option("--master-key", out.masterKeyFile, "The master's public CURVE key (its .pub), with --key");
  app.add_option("--reducers", out.job.reducers, "Reduce tasks")->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--split-size", splitSize, "Largest input split (bytes, or with K/M/G)")->capture_default_str();
  app.add_option("--task-cpus", out.taskCpus, "cpus per task")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--task-mem", out.taskMem, "mem (MiB) per task")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--executor-cpus", out.executorCpus, "cpus of the executor on each agent")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--executor-mem", out.executorMem, "mem (MiB) of the executor on each agent")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-attempts", out.maxAttempts, "Attempts per task before the job fails")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  support::addDurationOption(app, "--locality-delay", out.localityDelay,
                    "How long a map waits for an offer on a host holding its input (0: no delay scheduling)");
  app.add_option("--locality-attribute", out.localityAttribute,
                 "Match input hosts against this agent attribute (default: the agent's hostname)");
  app.add_option("--locations", out.locationsFile, "File of lines PATH<TAB>host1,host2: where input files live");
  app.add_option("--role", out.role, "Role to take offers from")->capture_default_str();
  app.add_flag("--quiet", out.quiet, "No progress lines");
  app.add_flag("--no-combiner", noCombinerGlobal, "wordcount, grep: no map-side combiner");
  app.add_option("--log-level", out.logLevel, "trace, debug, info, warn, error or off")->capture_default_str();

  bool combiner = true;
  std::vector<std::string> positionals;
  auto* wordcount = app.add_subcommand("wordcount", "Count words (runs of ASCII letters, lowercased): INPUT OUTPUT");
  wordcount->add_option("input", out.input, "Input file or directory")->required();
  wordcount->add_option("output", out.output, "Output directory (must not exist)")->required();
  wordcount->add_flag("--combiner,!--no-combiner", combiner, "Sum counts map-side (default on)");

  auto* grep = app.add_subcommand("grep", "Count the matches of a POSIX extended regex: PATTERN INPUT OUTPUT");
  grep->add_option("pattern", out.job.pattern, "POSIX extended regular expression")->required();
  grep->add_option("input", out.input, "Input file or directory")->required();
  grep->add_option("output", out.output, "Output directory (must not exist)")->required();
  grep->add_flag("--combiner,!--no-combiner", combiner, "Sum counts map-side (default on)");

  auto* terasort = app.add_subcommand("terasort", "Sort 100-byte records by their 10-byte keys: INPUT OUTPUT");
  terasort->add_option("input", out.input, "Input file or directory")->required();
  terasort->add_option("output", out.output, "Output directory (must not exist)")->required();

  std::string streamInput, streamOutput;
  auto* streaming = app.add_subcommand("streaming", "Mapper and reducer are shell commands: "
                                                    "-mapper CMD -reducer CMD [-combiner CMD] INPUT OUTPUT");
  streaming->add_option("--mapper", out.job.mapper, "Shell command reading records, printing key<TAB>value lines")
      ->required();
  streaming->add_option("--reducer", out.job.reducer, "Shell command reading sorted key<TAB>value lines")->required();
  streaming->add_option("--combiner", out.job.combinerCommand, "Shell command run on each sorted map output");
  streaming->add_option("--input", streamInput, "Input file or directory");
  streaming->add_option("--output", streamOutput, "Output directory (must not exist)");
  streaming->add_option("paths", positionals, "INPUT OUTPUT");

  std::string rows;
  auto* teragen = app.add_subcommand("teragen", "Write ROWS terasort records into OUTPUT/part-NNNNN (local)");
  teragen->add_option("rows", rows, "How many 100-byte records")->required();
  teragen->add_option("output", out.output, "Output directory (must not exist)")->required();
  teragen->add_option("--files", out.files, "How many files")->capture_default_str()->check(CLI::Range(1, 100000));
  teragen->add_option("--seed", out.seed, "Random seed")->capture_default_str();

  auto* teravalidate = app.add_subcommand("teravalidate", "Check that OUTPUT's part-r-* files are sorted (local)");
  teravalidate->add_option("output", out.output, "The terasort output directory")->required();
  teravalidate->add_option("--input", out.validateInput, "Also check that OUTPUT holds the records of INPUT");

  auto* executor = app.add_subcommand("executor", "Run as the framework's executor (what the agents start)");

  for (auto* sub : {wordcount, grep, terasort, streaming, teragen, teravalidate, executor}) sub->fallthrough();

  if (int code = support::parseCommandLine(app, args); code >= 0) return code;

  auto size = parseSize(splitSize);
  if (!size) return fail("--split-size: " + size.error().message);
  out.splitSize = *size;
  out.job.combiner = combiner && !noCombinerGlobal;

  if (*wordcount) {
    out.job.kind = JobKind::kWordCount;
  } else if (*grep) {
    out.job.kind = JobKind::kGrep;
    auto regex = Regex::compile(out.job.pattern);
    if (!regex) return fail(regex.error().message);
  } else if (*terasort) {
    out.job.kind = JobKind::kTeraSort;
    out.job.combiner = false;
  } else if (*streaming) {
    out.job.kind = JobKind::kStreaming;
    out.job.combiner = !out.job.combinerCommand.empty();
    out.input = streamInput;
    out.output = streamOutput;
    size_t next = 0;
    if (out.input.empty() && next < positionals.size()) out.input = positionals[next++];
    if (out.output.empty() && next < positionals.size()) out.output = positionals[next++];
    if (next < positionals.size()) return fail("streaming: unexpected argument '" + positionals[next] + "'");
    if (out.input.empty() || out.output.empty()) return fail("streaming needs INPUT and OUTPUT (or -input, -output)");
    if (out.job.mapper.empty() || out.job.reducer.empty()) return fail("streaming needs -mapper and -reducer");
  } else if (*teragen) {
    out.mode = Mode::kTeraGen;
    auto parsed = parseSize(rows);
    bool digits = !rows.empty() && rows.find_first_not_of("0123456789") == std::string::npos;
    if (!digits || !parsed) return fail("teragen: ROWS must be a positive number, not '" + rows + "'");
    out.rows = *parsed;
  } else if (*teravalidate) {
    out.mode = Mode::kTeraValidate;
  } else if (*executor) {
    out.mode = Mode::kExecutor;
  }
  return -1;
}

}  // namespace clusternodes::mapreduce
