#include "bench/sim_agents.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <capnp/message.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <future>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "common/wire.hpp"

extern char** environ;

namespace clusternodes::bench {
namespace {

constexpr const char* kFrameworkId = "bench-recovery-framework";
constexpr auto kMaxBackoff = std::chrono::seconds(4);  // as the agent's
// Connections a process has being made at once. Ten thousand SYNs in one
// burst overflow the master's listen queue (net.core.somaxconn, 4,096 by
// default), and each dropped one waits a second for its retransmission.
constexpr size_t kConnectWindow = 512;
constexpr auto kConnectTimeout = std::chrono::seconds(60);

double steadySeconds(SimClock::time_point t) { return std::chrono::duration<double>(t.time_since_epoch()).count(); }

SimClock::time_point fromSteadySeconds(double s) {
  return SimClock::time_point(std::chrono::duration_cast<SimClock::duration>(std::chrono::duration<double>(s)));
}

}  // namespace

// ------------------------------------------------------------ SimAgents

SimAgents::SimAgents(size_t first, size_t count, SimOptions options)
    : first_(first),
      options_(options),
      tick_(loop_),
      sims_(count) {
  agentResources_ = *Resources::parse("cpus:16;mem:65536");
  taskResources_ = *Resources::parse("cpus:0.1;mem:32");
  frameworkInfo_.name = "bench-recovery";
  frameworkInfo_.user = "root";
  frameworkInfo_.id.value = kFrameworkId;
  for (size_t i = 0; i < count; ++i) {
    // Seeded per agent, so that no two draw the same delays.
    sims_[i].backoff = std::make_unique<RetryBackoff>(options_.retryBackoff, kMaxBackoff,
                                                      0x9e3779b97f4a7c15ULL * (first_ + i + 1) + ::getpid());
  }
  // The tick keeps the loop running, and re-sends what is due.
  tick_.start(std::chrono::milliseconds(10), [this] { retryDue(); }, std::chrono::milliseconds(10));
  thread_ = std::thread([this] { loop_.run(); });
}

SimAgents::~SimAgents() {
  onLoop([this] {
    for (auto& sim : sims_) sim.socket.reset();
    tick_.stop();
    loop_.stop();
  });
  thread_.join();
}

void SimAgents::onLoop(const std::function<void()>& fn) {
  std::promise<void> done;
  auto finished = done.get_future();
  loop_.post([&] {
    try {
      fn();
      done.set_value();
    } catch (...) {
      done.set_exception(std::current_exception());
    }
  });
  finished.get();
}

void SimAgents::connect(const std::string& endpoint, const std::string& generation) {
  connectAll(endpoint, generation, false);
}

SimClock::time_point SimAgents::connectAndRegister(const std::string& endpoint, const std::string& generation) {
  return connectAll(endpoint, generation, true);
}

SimClock::time_point SimAgents::connectAll(const std::string& endpoint, const std::string& generation,
                                           bool registering) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    connected_ = 0;
    acked_ = 0;
  }
  SimClock::time_point sentAt;
  onLoop([&] {
    endpoint_ = endpoint;
    nextConnect_ = 0;
    connecting_ = 0;
    registerOnConnect_ = registering;
    for (size_t i = 0; i < sims_.size(); ++i) {
      auto& sim = sims_[i];
      sim.socket.reset();
      sim.connected = false;
      sim.socket = std::make_unique<ZmtpDealer>(loop_, "sim-" + std::to_string(first_ + i) + "-" + generation,
                                                [this, i](std::string_view bytes) { onMessage(i, bytes); });
      sim.socket->onConnected([this, i] { onConnected(i); });
    }
    if (registering) {
      beginPhase();
      sentAt = phase_.sentAt;
    }
    connectMore();
  });
  std::unique_lock<std::mutex> lock(mutex_);
  if (!changed_.wait_for(lock, kConnectTimeout, [this] { return connected_ == sims_.size(); })) {
    throw std::runtime_error("only " + std::to_string(connected_) + " of " + std::to_string(sims_.size()) +
                             " simulated agents connected to " + endpoint + " in " +
                             std::to_string(kConnectTimeout.count()) + " s");
  }
  return sentAt;
}

void SimAgents::connectMore() {
  while (connecting_ < kConnectWindow && nextConnect_ < sims_.size()) {
    auto& sim = sims_[nextConnect_++];
    if (auto started = sim.socket->connect(endpoint_); !started) throw std::runtime_error(started.error().message);
    ++connecting_;
    if (registerOnConnect_) {
      // Goes out once the handshake is done; re-sent on the back-off from now.
      sim.socket->send(sim.message);
      sim.nextRetry = SimClock::now() + sim.backoff->next();
    }
  }
}

void SimAgents::onConnected(size_t index) {
  auto& sim = sims_[index];
  if (sim.connected) return;  // connected again (the master restarted): nothing to pace
  sim.connected = true;
  --connecting_;
  connectMore();
  std::lock_guard<std::mutex> lock(mutex_);
  if (++connected_ == sims_.size()) changed_.notify_all();
}

void SimAgents::prepare(bool reregistration) {
  onLoop([&] {
    for (size_t i = 0; i < sims_.size(); ++i) sims_[i].message = registration(i, reregistration);
  });
}

SimClock::time_point SimAgents::registerAll() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    acked_ = 0;
  }
  SimClock::time_point sentAt;
  onLoop([&] {
    beginPhase();
    sentAt = phase_.sentAt;
    for (auto& sim : sims_) {
      sim.nextRetry = sentAt + sim.backoff->next();
      sim.socket->send(sim.message);
    }
  });
  return sentAt;
}

void SimAgents::beginPhase() {
  phase_ = SimPhase{};
  phase_.sentAt = SimClock::now();
  for (auto& sim : sims_) {
    sim.acked = false;
    sim.backoff->reset();
    sim.nextRetry = SimClock::time_point::max();  // set when its registration goes out
  }
  active_ = true;
}

bool SimAgents::waitAcked(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [this] { return acked_ == sims_.size(); });
}

SimPhase SimAgents::endPhase() {
  SimPhase copy;
  onLoop([&] {
    active_ = false;
    copy = phase_;
  });
  return copy;
}

std::string SimAgents::registration(size_t index, bool reregistration) {
  auto& sim = sims_[index];
  capnp::MallocMessageBuilder message;
  auto reg = message.initRoot<wire::Envelope>().initRegisterAgent();
  wire::AgentInfoValue info;
  info.hostname = "sim-" + std::to_string(first_ + index);
  info.resources = agentResources_;
  info.httpPort = 5051;
  info.bootId = "bench-recovery";
  info.ip = "127.0.0.1";
  wire::toWire(info, reg.initInfo());
  if (!reregistration) return wire::encode(message);
  if (sim.id.empty()) throw std::runtime_error("agent " + info.hostname + " has no id to re-register");
  reg.setAgentId(sim.id);
  auto tasks = reg.initTasks(static_cast<unsigned>(options_.tasksPerAgent));
  for (int k = 0; k < options_.tasksPerAgent; ++k) {
    TaskInfo task;
    task.taskId.value = "task-" + std::to_string(first_ + index) + "-" + std::to_string(k);
    task.name = task.taskId.value;
    task.agentId.value = sim.id;
    task.resources = taskResources_;
    task.command.value = "sleep 600";
    auto entry = tasks[static_cast<unsigned>(k)];
    entry.setFrameworkId(kFrameworkId);
    wire::toWire(task, entry.initTask());
    entry.setState(toString(TaskState::kRunning));
    wire::toWire(frameworkInfo_, entry.initFrameworkInfo());
  }
  return wire::encode(message);
}

void SimAgents::onMessage(size_t index, std::string_view bytes) {
  auto decoded = wire::decode(bytes);
  if (!decoded) {
    ++phase_.malformed;
    return;
  }
  auto& sim = sims_[index];
  try {
    auto envelope = (*decoded)->envelope();
    switch (envelope.which()) {
      case wire::Envelope::AGENT_REGISTERED: {
        auto reply = envelope.getAgentRegistered();
        sim.id = wire::text(reply.getAgentId());
        if (sim.acked || !active_) {
          ++phase_.duplicateReplies;
          return;
        }
        sim.acked = true;
        phase_.replySeconds.push_back(std::chrono::duration<double>(SimClock::now() - phase_.sentAt).count());
        if (reply.getReregistered()) ++phase_.reregisteredReplies;
        ++phase_.acked;
        std::lock_guard<std::mutex> lock(mutex_);
        if (++acked_ == sims_.size()) changed_.notify_all();
        return;
      }
      case wire::Envelope::PING: {
        capnp::MallocMessageBuilder pong;
        pong.initRoot<wire::Envelope>().initPong().setSequence(envelope.getPing().getSequence());
        sim.socket->send(wire::encode(pong));
        ++phase_.pongs;
        return;
      }
      case wire::Envelope::REREGISTER:
        // As a real agent does: register again at once.
        ++phase_.reregisterAsks;
        if (!sim.message.empty()) sim.socket->send(sim.message);
        return;
      default:
        return;  // nothing else is for an agent without tasks to run
    }
  } catch (const std::exception&) {
    ++phase_.malformed;
  }
}

void SimAgents::retryDue() {
  if (!active_ || options_.retryBackoff <= std::chrono::nanoseconds::zero()) return;
  auto now = SimClock::now();
  for (auto& sim : sims_) {
    if (sim.acked || now < sim.nextRetry || sim.socket == nullptr) continue;
    sim.socket->send(sim.message);
    ++phase_.retries;
    sim.nextRetry = now + sim.backoff->next();
  }
}

// ------------------------------------------------------------ the worker

namespace {

nlohmann::json phaseToJson(const SimPhase& p) {
  std::vector<double> repliedAt;
  double sent = steadySeconds(p.sentAt);
  for (double s : p.replySeconds) repliedAt.push_back(sent + s);
  return {{"sent_at", sent},           {"acked", p.acked},     {"reregistered", p.reregisteredReplies},
          {"replied_at", repliedAt},   {"retries", p.retries}, {"reregister_asks", p.reregisterAsks},
          {"duplicates", p.duplicateReplies}, {"pongs", p.pongs}, {"malformed", p.malformed}};
}

// Lets this process hold `wanted` descriptors, as far as its hard limit
// allows.
void raiseFiles(rlim_t wanted) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= wanted) return;
  limit.rlim_cur = std::min(wanted, limit.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &limit);
}

}  // namespace

int runSimWorker(size_t first, size_t count, SimOptions options) {
  raiseFiles(static_cast<rlim_t>(count) + 256);
  SimAgents sims(first, count, options);
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string command;
    in >> command;
    std::string answer = "ok";
    try {
      if (command == "connect") {
        std::string endpoint, generation;
        in >> endpoint >> generation;
        sims.connect(endpoint, generation);
      } else if (command == "connect-register") {
        std::string endpoint, generation;
        in >> endpoint >> generation;
        answer = "ok " + std::to_string(steadySeconds(sims.connectAndRegister(endpoint, generation)));
      } else if (command == "prepare") {
        int reregistration = 0;
        in >> reregistration;
        sims.prepare(reregistration != 0);
      } else if (command == "register") {
        answer = "ok " + std::to_string(steadySeconds(sims.registerAll()));
      } else if (command == "wait") {
        int64_t ms = 0;
        in >> ms;
        answer = sims.waitAcked(std::chrono::milliseconds(ms)) ? "ok all" : "ok some";
      } else if (command == "end") {
        answer = "ok " + phaseToJson(sims.endPhase()).dump();
      } else {
        answer = "error unknown command '" + command + "'";
      }
    } catch (const std::exception& e) {
      answer = std::string("error ") + e.what();
    }
    std::cout << answer << std::endl;
  }
  return 0;
}

// ------------------------------------------------------------ SimFleet

SimFleet::SimFleet(size_t agents, size_t perProcess, SimOptions options) : agents_(agents) {
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) throw std::runtime_error("cannot find this program (/proc/self/exe)");
  self[n] = '\0';
  perProcess = std::max<size_t>(1, perProcess);
  for (size_t first = 0; first < agents; first += perProcess) {
    size_t count = std::min(perProcess, agents - first);
    int toChild[2], fromChild[2];
    if (::pipe2(toChild, O_CLOEXEC) != 0 || ::pipe2(fromChild, O_CLOEXEC) != 0) {
      throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, toChild[0], 0);
    posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1);
    auto backoffMs = std::chrono::duration_cast<std::chrono::milliseconds>(options.retryBackoff).count();
    std::vector<std::string> args = {self,
                                     "--sim-worker=" + std::to_string(first) + ":" + std::to_string(count),
                                     "--tasks-per-agent=" + std::to_string(options.tasksPerAgent),
                                     "--retry-backoff-ms=" + std::to_string(backoffMs)};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    Worker w;
    int spawned = ::posix_spawn(&w.pid, self, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(toChild[0]);
    ::close(fromChild[1]);
    if (spawned != 0) {
      ::close(toChild[1]);
      ::close(fromChild[0]);
      throw std::runtime_error(std::string("cannot start a simulated-agent process: ") + std::strerror(spawned));
    }
    w.in = ::fdopen(toChild[1], "w");
    w.out = ::fdopen(fromChild[0], "r");
    workers_.push_back(w);
  }
}

SimFleet::~SimFleet() {
  for (auto& w : workers_) {
    if (w.in != nullptr) std::fclose(w.in);  // EOF: the child leaves
  }
  for (auto& w : workers_) {
    int status = 0;
    // A child stuck past its wait gets a few seconds, then SIGKILL.
    bool gone = false;
    for (int i = 0; i < 500 && !gone; ++i) {
      gone = ::waitpid(w.pid, &status, WNOHANG) == w.pid;
      if (!gone) ::usleep(10000);
    }
    if (!gone) {
      ::kill(w.pid, SIGKILL);
      ::waitpid(w.pid, &status, 0);
    }
    if (w.out != nullptr) std::fclose(w.out);
  }
}

std::vector<pid_t> SimFleet::pids() const {
  std::vector<pid_t> pids;
  for (const auto& w : workers_) pids.push_back(w.pid);
  return pids;
}

std::vector<std::string> SimFleet::everyone(const std::string& command) {
  for (auto& w : workers_) {
    std::fputs((command + "\n").c_str(), w.in);
    std::fflush(w.in);
  }
  std::vector<std::string> answers;
  for (auto& w : workers_) {
    std::string line;
    char buffer[65536];
    while (std::fgets(buffer, sizeof buffer, w.out) != nullptr) {
      line += buffer;
      if (!line.empty() && line.back() == '\n') break;
    }
    if (line.empty() || line.back() != '\n') {
      throw std::runtime_error("a simulated-agent process (pid " + std::to_string(w.pid) + ") ended");
    }
    line.pop_back();
    if (line.rfind("ok", 0) != 0) {
      throw std::runtime_error("simulated agents: " + command + ": " + line);
    }
    answers.push_back(line.size() > 3 ? line.substr(3) : "");
  }
  return answers;
}

void SimFleet::connect(const std::string& endpoint, const std::string& generation) {
  everyone("connect " + endpoint + " " + generation);
}

SimClock::time_point SimFleet::connectAndRegister(const std::string& endpoint, const std::string& generation) {
  double first = std::numeric_limits<double>::max();
  for (const auto& answer : everyone("connect-register " + endpoint + " " + generation)) {
    first = std::min(first, std::stod(answer));
  }
  return fromSteadySeconds(first);
}

void SimFleet::prepare(bool reregistration) { everyone(reregistration ? "prepare 1" : "prepare 0"); }

SimClock::time_point SimFleet::registerAll() {
  double first = std::numeric_limits<double>::max();
  for (const auto& answer : everyone("register")) first = std::min(first, std::stod(answer));
  return fromSteadySeconds(first);
}

bool SimFleet::waitAcked(std::chrono::seconds timeout) {
  bool all = true;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
  for (const auto& answer : everyone("wait " + std::to_string(ms))) all = all && answer == "all";
  return all;
}

SimPhase SimFleet::endPhase() {
  SimPhase merged;
  std::vector<nlohmann::json> phases;
  double sent = std::numeric_limits<double>::max();
  for (const auto& answer : everyone("end")) {
    phases.push_back(nlohmann::json::parse(answer));
    sent = std::min(sent, phases.back().at("sent_at").get<double>());
  }
  merged.sentAt = fromSteadySeconds(sent);
  for (const auto& p : phases) {
    merged.acked += p.at("acked").get<size_t>();
    merged.reregisteredReplies += p.at("reregistered").get<size_t>();
    for (double at : p.at("replied_at")) merged.replySeconds.push_back(at - sent);
    merged.retries += p.at("retries").get<uint64_t>();
    merged.reregisterAsks += p.at("reregister_asks").get<uint64_t>();
    merged.duplicateReplies += p.at("duplicates").get<uint64_t>();
    merged.pongs += p.at("pongs").get<uint64_t>();
    merged.malformed += p.at("malformed").get<uint64_t>();
  }
  return merged;
}

}  // namespace clusternodes::bench
