#include "mapreduce/scheduler.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "mapreduce/terasort.hpp"
#include "support/program.hpp"
#include "mapreduce/util.hpp"

namespace clusternodes::mapreduce {

namespace fs = std::filesystem;

namespace {

constexpr size_t kSampleKeys = 1000;
constexpr size_t kSampleSplits = 10;

std::string shellQuote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted.push_back(c);
    }
  }
  return quoted + "'";
}

Resources scalars(double cpus, double mem) {
  Resources resources;
  if (cpus > 0) resources.addScalar("cpus", cpus);
  if (mem > 0) resources.addScalar("mem", mem);
  return resources;
}

}  // namespace

std::string executorCommand() {
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  std::string path = ec ? std::string("clusternodes-mapreduce") : self.string();
  return shellQuote(path) + " executor";
}

Result<PreparedJob> prepareJob(const CommandLine& command, const std::string& executorCommandLine) {
  PreparedJob prepared;
  prepared.job = command.job;
  std::error_code ec;
  prepared.input = fs::absolute(command.input, ec).lexically_normal().string();
  if (ec) return invalid("bad input path " + command.input);
  prepared.output = fs::absolute(command.output, ec).lexically_normal().string();
  if (ec) return invalid("bad output path " + command.output);
  while (prepared.output.size() > 1 && prepared.output.back() == '/') prepared.output.pop_back();

  auto files = listInputFiles(prepared.input);
  if (!files) return Error{files.error().code, files.error().message};
  auto available = checkOutputAvailable(prepared.output);
  if (!available) return available.error();
  if (prepared.job.kind == JobKind::kGrep) {
    auto regex = Regex::compile(prepared.job.pattern);
    if (!regex) return regex.error();
  }
  Locations locations;
  if (!command.locationsFile.empty()) {
    auto read = readLocations(command.locationsFile);
    if (!read) return read.error();
    locations = std::move(*read);
  }
  auto splits = computeSplits(*files, command.splitSize, locations);
  if (!splits) return splits.error();
  prepared.splits = std::move(*splits);
  if (prepared.job.kind == JobKind::kTeraSort) {
    auto keys = sampleKeys(prepared.splits, kSampleKeys, kSampleSplits);
    if (!keys) return keys.error();
    prepared.job.cutPoints = cutPoints(*keys, prepared.job.reducers);
  }

  prepared.tracker.reducers = prepared.job.reducers;
  prepared.tracker.maxAttempts = command.maxAttempts;
  prepared.tracker.localityDelay = command.localityDelay;
  prepared.tracker.localityAttribute = command.localityAttribute;
  prepared.tracker.taskResources = scalars(command.taskCpus, command.taskMem);
  prepared.tracker.executorResources = scalars(command.executorCpus, command.executorMem);

  prepared.executor.executorId.value = kExecutorId;
  prepared.executor.name = "clusternodes-mapreduce tasktracker";
  prepared.executor.command.value = executorCommandLine;
  prepared.executor.command.shell = true;
  support::forwardHttpEnvironment(prepared.executor.command.environment);
  prepared.executor.resources = prepared.tracker.executorResources;
  return prepared;
}

Result<void> createOutput(const std::string& output) {
  std::error_code ec;
  fs::create_directories(output + "/_temporary", ec);
  if (ec) return invalid("cannot create the output directory " + output + ": " + ec.message());
  return {};
}

Result<void> commitOutput(const std::string& output) {
  std::error_code ec;
  fs::remove_all(output + "/_temporary", ec);
  if (ec) return invalid("cannot remove " + output + "/_temporary: " + ec.message());
  try {
    writeFileAtomically(output + "/._SUCCESS.tmp", output + "/_SUCCESS", "");
  } catch (const TaskError& e) {
    return invalid(e.what());
  }
  return {};
}

MapReduceScheduler::MapReduceScheduler(PreparedJob job, bool quiet)
    : job_(std::move(job)), quiet_(quiet), tracker_(job_.splits, job_.tracker, TrackerClock::now()) {}

void MapReduceScheduler::registered(SchedulerDriver*, const FrameworkID& frameworkId, const MasterInfo& master) {
  if (!quiet_) {
    std::fprintf(stderr, "registered as framework %s with %s: %zu maps, %d reduces\n", frameworkId.value.c_str(),
                 master.address.c_str(), job_.splits.size(), job_.job.reducers);
  }
}

TaskInfo MapReduceScheduler::taskInfo(const Offer& offer, const TaskLaunch& launch) const {
  TaskSpec spec;
  spec.type = launch.type;
  spec.task = launch.task;
  spec.index = launch.index;
  spec.attempt = launch.attempt;
  spec.job = job_.job;
  if (launch.type == TaskType::kMap) {
    spec.split = tracker_.split(launch.index);
  } else {
    spec.output = job_.output;
    spec.inputs = tracker_.reduceInputs(launch.index);
  }
  TaskInfo task;
  task.taskId.value = launch.taskId;
  task.name = launch.task + " attempt " + std::to_string(launch.attempt);
  task.agentId = offer.agentId;
  task.resources = job_.tracker.taskResources;
  task.executor = job_.executor;
  task.data = encodeTaskSpec(spec);
  return task;
}

void MapReduceScheduler::resourceOffers(SchedulerDriver* driver, const std::vector<Offer>& offers) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& offer : offers) {
    OfferDecision decision = tracker_.offer(offer, TrackerClock::now());
    if (decision.launches.empty()) {
      driver->declineOffer(offer.id, Filters{decision.refuseSeconds});
      continue;
    }
    std::vector<TaskInfo> tasks;
    for (const auto& launch : decision.launches) tasks.push_back(taskInfo(offer, launch));
    driver->launchTasks({offer.id}, tasks, Filters{decision.refuseSeconds});
  }
  afterChange(driver);
}

void MapReduceScheduler::statusUpdate(SchedulerDriver* driver, const TaskStatus& status) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (isTerminal(status.state) && status.state != TaskState::kFinished) {
    std::string line = status.taskId.value + " " + toString(status.state);
    if (status.reason != TaskReason::kNone) line += std::string(" (") + toString(status.reason) + ")";
    if (!status.message.empty()) line += ": " + status.message;
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  tracker_.statusUpdate(status, decodeTaskResult(status.data), TrackerClock::now());
  afterChange(driver);
}

void MapReduceScheduler::executorLost(SchedulerDriver* driver, const ExecutorID& executorId, const AgentID& agentId,
                                      int status) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string why = "executor " + executorId.value + " on agent " + agentId.value + " ended (status " +
                    std::to_string(status) + ")";
  std::fprintf(stderr, "%s\n", why.c_str());
  tracker_.executorLost(agentId, why, TrackerClock::now());
  afterChange(driver);
}

void MapReduceScheduler::agentLost(SchedulerDriver* driver, const AgentID& agentId) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::fprintf(stderr, "agent %s lost\n", agentId.value.c_str());
  tracker_.agentLost(agentId, TrackerClock::now());
  afterChange(driver);
}

void MapReduceScheduler::error(SchedulerDriver*, const std::string& message) {
  std::lock_guard<std::mutex> lock(mutex_);
  driverError_ = message.empty() ? "the driver failed" : message;
  changed_.notify_all();
}

void MapReduceScheduler::afterChange(SchedulerDriver* driver) {
  if (tracker_.takeReviveRequest()) driver->reviveOffers();
  if (tracker_.finished() || tracker_.failed()) {
    driver->suppressOffers();
    changed_.notify_all();
  }
}

bool MapReduceScheduler::waitForEnd() {
  std::unique_lock<std::mutex> lock(mutex_);
  auto ended = [this] { return tracker_.finished() || tracker_.failed() || !driverError_.empty(); };
  std::string warned;
  while (!ended()) {
    changed_.wait_for(lock, std::chrono::seconds(1), ended);
    if (!quiet_ && !ended()) std::fprintf(stderr, "%s\n", progressLine(tracker_.progress()).c_str());
    // Waiting for offers that can never fit is said once, not left silent.
    if (auto problem = tracker_.fitProblem(); !problem.empty() && problem != warned) {
      std::fprintf(stderr, "clusternodes-mapreduce: waiting: %s\n", problem.c_str());
      warned = problem;
    }
  }
  if (!quiet_) std::fprintf(stderr, "%s\n", progressLine(tracker_.progress()).c_str());
  return tracker_.finished() && driverError_.empty();
}

std::string MapReduceScheduler::error() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!driverError_.empty()) return driverError_;
  return tracker_.error();
}

JobProgress MapReduceScheduler::progress() {
  std::lock_guard<std::mutex> lock(mutex_);
  return tracker_.progress();
}

std::string jobSummary(const PreparedJob& job, const JobProgress& p, double elapsedSeconds) {
  char elapsed[32];
  std::snprintf(elapsed, sizeof elapsed, "%.2f", elapsedSeconds);
  std::string text;
  auto line = [&text](const std::string& key, const std::string& value) { text += key + " " + value + "\n"; };
  line("job", toString(job.job.kind));
  line("elapsed seconds", elapsed);
  line("maps", std::to_string(p.maps));
  line("reduces", std::to_string(p.reduces));
  line("data-local maps", std::to_string(p.dataLocalMapLaunches) + "/" + std::to_string(p.mapLaunches));
  line("failed attempts", std::to_string(p.failedAttempts));
  line("lost map outputs", std::to_string(p.lostMapOutputs));
  line("bytes read", std::to_string(p.bytesRead));
  line("map output bytes", std::to_string(p.mapOutputBytes));
  line("output bytes", std::to_string(p.outputBytes));
  line("output records", std::to_string(p.outputRecords));
  line("output", job.output);
  return text;
}

int runJob(const CommandLine& command) {
  auto started = std::chrono::steady_clock::now();
  auto prepared = prepareJob(command, executorCommand());
  if (!prepared) {
    std::cerr << "clusternodes-mapreduce: " << prepared.error().message << "\n";
    return 1;
  }
  auto created = createOutput(prepared->output);
  if (!created) {
    std::cerr << "clusternodes-mapreduce: " << created.error().message << "\n";
    return 1;
  }
  MapReduceScheduler scheduler(*prepared, command.quiet);
  FrameworkInfo info;
  info.name = std::string("mapreduce ") + toString(prepared->job.kind);
  const char* user = std::getenv("USER");
  info.user = user != nullptr ? user : "root";
  info.role = command.role;
  auto driver = SchedulerDriver::create(&scheduler, info, {.master = command.master, .keyFile = command.keyFile, .masterKeyFile = command.masterKeyFile});
  if (driver->start() != DriverStatus::kRunning) {
    std::cerr << "clusternodes-mapreduce: cannot start the scheduler driver\n";
    return 1;
  }
  bool ok = scheduler.waitForEnd();
  driver->stop();
  driver->join();
  if (!ok) {
    std::cerr << "clusternodes-mapreduce: job failed: " << scheduler.error() << "\n";
    return 1;
  }
  auto committed = commitOutput(prepared->output);
  if (!committed) {
    std::cerr << "clusternodes-mapreduce: " << committed.error().message << "\n";
    return 1;
  }
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << jobSummary(*prepared, scheduler.progress(), elapsed) << std::flush;
  return 0;
}

}  // namespace clusternodes::mapreduce
