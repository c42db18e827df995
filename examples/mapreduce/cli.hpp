// The command line of clusternodes-mapreduce:
//
//   clusternodes-mapreduce [options] wordcount INPUT OUTPUT
//   clusternodes-mapreduce [options] grep PATTERN INPUT OUTPUT
//   clusternodes-mapreduce [options] terasort INPUT OUTPUT
//   clusternodes-mapreduce [options] streaming -mapper CMD -reducer CMD [-combiner CMD] INPUT OUTPUT
//                                   (or -input INPUT -output OUTPUT)
//   clusternodes-mapreduce teragen ROWS OUTPUT [--files=N] [--seed=S]
//   clusternodes-mapreduce teravalidate OUTPUT [--input=INPUT]
//   clusternodes-mapreduce executor
//
// Job options may come before or after the job's name.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "mapreduce/job.hpp"

namespace clusternodes::mapreduce {

enum class Mode { kJob, kTeraGen, kTeraValidate, kExecutor };

// A wordcount with 2 reducers: the defaults of the command line.
inline JobSpec defaultJob() {
  JobSpec job;
  job.reducers = 2;
  return job;
}

struct CommandLine {
  Mode mode = Mode::kJob;
  JobSpec job = defaultJob();
  std::string input;
  std::string output;
  std::string master = "127.0.0.1:5050";
  std::string keyFile;        // CURVE: the framework's key pair, and
  std::string masterKeyFile;  // the master's public key
  uint64_t splitSize = 16ULL << 20;
  double taskCpus = 1;
  double taskMem = 256;
  double executorCpus = 0.1;
  double executorMem = 64;
  int maxAttempts = 4;
  std::chrono::nanoseconds localityDelay = std::chrono::seconds(3);
  std::string localityAttribute;
  std::string locationsFile;
  std::string role = "*";
  bool quiet = false;
  std::string logLevel = "warn";
  // teragen
  uint64_t rows = 0;
  int files = 1;
  uint64_t seed = 0;
  // teravalidate: the input to compare with (optional)
  std::string validateInput;
};

// Parses argv. Returns -1 and fills `out` to go on, or the exit code to
// leave with: 0 after --help, 2 after a bad command line (the reason on one
// line of stderr).
int parseMapReduceCommandLine(int argc, char** argv, CommandLine& out);

// The arguments with Hadoop Streaming's single-dash options ("-mapper CMD")
// turned into long options ("--mapper").
std::vector<std::string> normalizeArguments(const std::vector<std::string>& args);

}  // namespace clusternodes::mapreduce
