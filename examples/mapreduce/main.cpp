// clusternodes-mapreduce: Hadoop-style MapReduce on Clusternodes. One
// program is the JobTracker (a framework scheduler), the TaskTracker (the
// executor the agents start with `clusternodes-mapreduce executor`), and the
// local teragen / teravalidate tools. See cli.hpp for the command line.
#include <iostream>

#include "clusternodes/executor.hpp"
#include "support/program.hpp"
#include "mapreduce/cli.hpp"
#include "mapreduce/executor.hpp"
#include "mapreduce/scheduler.hpp"
#include "mapreduce/terasort.hpp"

using namespace clusternodes;
using namespace clusternodes::mapreduce;

namespace {

int runExecutor() {
  TaskTracker tracker;
  DriverStatus status;
  {
    auto driver = ExecutorDriver::create(&tracker);
    status = driver->run();
    // Task threads report through the driver: end them while it exists.
    tracker.cancelAndJoin();
  }
  return status == DriverStatus::kStopped ? 0 : 1;
}

int runTeraGen(const CommandLine& command) {
  auto generated = teragen(command.rows, command.output, command.files, command.seed);
  if (!generated) {
    std::cerr << "clusternodes-mapreduce: teragen: " << generated.error().message << "\n";
    return 1;
  }
  std::cout << "wrote " << command.rows << " records to " << command.output << "\n";
  return 0;
}

int runTeraValidate(const CommandLine& command) {
  auto summary = teravalidate(command.output, command.validateInput);
  if (!summary) {
    std::cerr << "clusternodes-mapreduce: teravalidate: INVALID: " << summary.error().message << "\n";
    return 1;
  }
  char checksum[24];
  std::snprintf(checksum, sizeof checksum, "%016llx", static_cast<unsigned long long>(summary->checksum));
  std::cout << "records " << summary->records << "\nchecksum " << checksum << "\nvalid\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CommandLine command;
  int code = parseMapReduceCommandLine(argc, argv, command);
  if (code >= 0) return code;
  // Logs (the SDK's too) go to stderr; stdout holds only results.
  auto logging = support::setupLogging(command.mode == Mode::kExecutor ? "mr-executor" : "mapreduce", command.logLevel);
  if (!logging) {
    std::cerr << "clusternodes-mapreduce: " << logging.error().message << "\n";
    return 2;
  }
  switch (command.mode) {
    case Mode::kExecutor: return runExecutor();
    case Mode::kTeraGen: return runTeraGen(command);
    case Mode::kTeraValidate: return runTeraValidate(command);
    case Mode::kJob: return runJob(command);
  }
  return 1;
}
