#include "spark/app.hpp"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "support/program.hpp"
#include "spark/executor.hpp"
#include "spark/local_backend.hpp"

namespace clusternodes::spark {

bool isExecutor(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], kExecutorFlag) == 0) return true;
  }
  return false;
}

int parseApp(int argc, char** argv, const AppSpec& spec, AppOptions& out,
             const std::function<void(CLI::App&)>& extra) {
  out.program = spec.name;
  CLI::App app(spec.description, spec.name);
  app.add_option("--master", out.cluster.master, "The master, HOST:PORT or zk://HOST:PORT[,...]/PATH")->capture_default_str();
  app.add_option("--key", out.cluster.keyFile, "The framework's CURVE key pair (NAME.key), for a master started with --key");
  app.add_option("--master-key", out.cluster.masterKeyFile, "The master's public CURVE key (its .pub), with --key");
  app.add_option("--local", out.local, "Run without a cluster: this many executors as threads in this process")
      ->check(CLI::Range(0, 1024));
  app.add_option("--local-cores", out.localCores, "Cores (task threads) of each local executor")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--executor-cpus", out.cluster.executorCpus, "cpus of each executor: the tasks it runs at once")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 1024.0));
  app.add_option("--executor-mem", out.cluster.executorMem, "Memory (MiB) of each executor")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-executors", out.cluster.maxExecutors, "At most this many executors (0: one on every agent)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  app.add_option("--partitions", out.partitions, "Default number of partitions (0: the executors' cores, at least 2)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  std::chrono::nanoseconds startTimeout = out.cluster.startTimeout;
  support::addDurationOption(app, "--start-timeout", startTimeout,
                    "How long to wait for a first executor (and, later, for any executor when all are lost)");
  app.add_option("--name", out.cluster.name, "The framework's name")->capture_default_str();
  app.add_option("--role", out.cluster.role, "The framework's role")->capture_default_str();
  app.add_flag("--quiet", out.quiet, "No progress lines or summaries");
  app.add_option("--log-level", out.logLevel, "trace, debug, info, warn, error or off")->capture_default_str();
  support::addConfigOption(app);
  out.args.assign(spec.positionals.size(), std::string());  // sized first: the options bind to its elements
  for (size_t i = 0; i < spec.positionals.size(); ++i) {
    app.add_option(spec.positionals[i], out.args[i], spec.positionals[i])->required();
  }
  if (extra) extra(app);
  int code = support::parseCommandLine(app, argc, argv);
  if (code >= 0) return code;
  if (out.cluster.name == "spark") out.cluster.name = spec.name;
  out.cluster.startTimeout = std::chrono::duration_cast<std::chrono::milliseconds>(startTimeout);
  out.cluster.noExecutorTimeout = out.cluster.startTimeout;
  out.cluster.quiet = out.quiet;
  if (out.logLevel == "debug" || out.logLevel == "trace") out.cluster.executorLogLevel = out.logLevel;
  auto logging = support::setupLogging(spec.name, out.logLevel);
  if (!logging) {
    std::cerr << spec.name << ": " << logging.error().message << "\n";
    return 2;
  }
  return -1;
}

std::unique_ptr<Backend> makeBackend(const FunctionRegistry& registry, const AppOptions& options) {
  if (options.local > 0) {
    return std::make_unique<LocalBackend>(registry,
                                          LocalOptions{.executors = options.local, .coresPerExecutor = options.localCores, .scratchDir = {}});
  }
  return std::make_unique<ClusterBackend>(options.cluster);
}

int runApp(const FunctionRegistry& registry, const AppOptions& options, const std::function<void(Context&)>& body) {
  auto started = std::chrono::steady_clock::now();
  ContextOptions contextOptions;
  contextOptions.defaultParallelism = options.partitions;
  contextOptions.quiet = options.quiet;
  auto context = Context::create(registry, makeBackend(registry, options), contextOptions);
  if (!context) {
    std::cerr << options.program << ": cannot start: " << context.error().message << "\n";
    return 1;
  }
  int code = 0;
  try {
    body(*context);
  } catch (const JobError& e) {
    std::cerr << options.program << ": " << e.what() << "\n";
    code = 1;
  } catch (const std::exception& e) {
    std::cerr << options.program << ": " << e.what() << "\n";
    code = 1;
  }
  if (!options.quiet) {
    int tasks = 0;
    int failed = 0;
    for (const auto& job : context->jobs()) {
      tasks += job.tasks;
      failed += job.failedAttempts;
    }
    std::string executors;
    if (auto* cluster = dynamic_cast<ClusterBackend*>(&context->backend())) {
      int lost = 0;
      auto views = cluster->executors();
      for (const auto& v : views) lost += v.state == "lost" ? 1 : 0;
      executors = ", " + std::to_string(views.size()) + " executors (" + std::to_string(lost) + " lost)";
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.2f", seconds);
    std::cerr << options.program << ": " << (code == 0 ? "finished" : "failed") << " in " << secs << " s: "
              << context->jobs().size() << " jobs, " << tasks << " tasks, " << failed << " failed attempts"
              << executors << "\n";
  }
  return code;
}

}  // namespace clusternodes::spark
