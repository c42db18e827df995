// Writing a Spark-style program: one binary that is the driver when you run
// it and the executor when an agent does.
//
//   int main(int argc, char** argv) {
//     FunctionRegistry registry;                  // built-ins included
//     registry.filter("long", [](const Record& r) { return r.value.size() > 3; });
//     if (isExecutor(argc, argv)) return runExecutor(registry);
//
//     AppOptions app;
//     if (int code = parseApp(argc, argv, {"wc", "Counts words.", {"INPUT", "OUTPUT"}}, app); code >= 0) return code;
//     return runApp(registry, app, [&](Context& ctx) {
//       ctx.textFile(app.args[0]).flatMap("split_words").filter("long")
//          .map("pair_with_one").reduceByKey("sum").saveAsTextFile(app.args[1]);
//     });
//   }
//
// Everything up to isExecutor() runs in both roles, so the functions are
// registered identically in the driver and in every executor.
//
// Flags every program gets (parseApp):
//   --master HOST:PORT     the cluster (default 127.0.0.1:5050)
//   --local N              no cluster: N executors as threads in this process
//   --executor-cpus C      cpus of each executor = tasks it runs at once (1)
//   --executor-mem MiB     memory of each executor (512)
//   --max-executors N      at most N executors (0: one on every agent)
//   --partitions N         default partitions (0: the executors' cores, at least 2)
//   --start-timeout D      wait this long for a first executor (60s); also how
//                          long tasks wait when every executor is lost
//   --name, --role, --quiet, --log-level, --config FILE
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

#include "spark/cluster_backend.hpp"
#include "spark/context.hpp"
#include "spark/functions.hpp"

namespace clusternodes::spark {

struct AppSpec {
  std::string name;                     // the program's name, for --help and errors
  std::string description;
  std::vector<std::string> positionals;  // required arguments, by their names
};

struct AppOptions {
  ClusterOptions cluster;
  int local = 0;          // > 0: local mode with this many executors
  int localCores = 1;     // cores of each local executor
  int partitions = 0;
  bool quiet = false;
  std::string logLevel = "warn";
  std::vector<std::string> args;  // the positionals, in order
  std::string program;            // AppSpec::name
};

// True when an agent started this program as an executor.
bool isExecutor(int argc, char** argv);

// Parses the common flags and the positionals. -1: go on; else the exit
// code (0 after --help, 2 after a bad flag, with a one-line reason).
// `extra`, when given, adds the program's own flags to the parser.
int parseApp(int argc, char** argv, const AppSpec& spec, AppOptions& out,
             const std::function<void(CLI::App&)>& extra = nullptr);

// The backend the options ask for (not started).
std::unique_ptr<Backend> makeBackend(const FunctionRegistry& registry, const AppOptions& options);

// Connects (or starts local executors), runs `body`, stops. Prints each
// job's progress and summary and a final application summary on stderr
// (unless --quiet). Returns 0, or 1 when the context cannot start or the
// body throws (JobError, std::invalid_argument, ...) with the reason on
// stderr.
int runApp(const FunctionRegistry& registry, const AppOptions& options, const std::function<void(Context&)>& body);

}  // namespace clusternodes::spark
