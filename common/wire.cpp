#include "common/wire.hpp"

#include <capnp/schema.h>
#include <kj/exception.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <utility>
#include <vector>

namespace clusternodes::wire {

namespace {

[[noreturn]] void malformed(const std::string& what) { throw MalformedMessage(what); }

// A kill grace period on the wire, where -1 means none. A value that is not
// between 0 and about 292 million years (negative, NaN, infinite) goes as
// the largest one, which the master refuses by name, instead of as none.
int64_t graceMs(double seconds) {
  double ms = std::round(seconds * 1000);
  if (!(ms >= 0 && ms < 9.2e18)) return std::numeric_limits<int64_t>::max();
  return static_cast<int64_t>(ms);
}


}  // namespace

Result<std::unique_ptr<Decoded>> decode(std::string_view bytes) {
  if (bytes.size() < sizeof(capnp::word) || bytes.size() % sizeof(capnp::word) != 0) {
    return invalid("message size " + std::to_string(bytes.size()) + " is not a whole number of words");
  }
  if (bytes.size() > kMaxMessageBytes) {
    return invalid("message of " + std::to_string(bytes.size()) + " bytes exceeds the limit");
  }
  auto decoded = std::unique_ptr<Decoded>(new Decoded());
  decoded->words_ = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  std::memcpy(decoded->words_.begin(), bytes.data(), bytes.size());
  capnp::ReaderOptions options;
  // Generous for any honest message, bounded for a hostile one: a reader can
  // visit at most four times the words it was given.
  options.traversalLimitInWords = decoded->words_.size() * 4 + 1024;
  options.nestingLimit = kNestingLimit;
  try {
    decoded->reader_ = std::make_unique<capnp::FlatArrayMessageReader>(decoded->words_.asPtr(), options);
    decoded->envelope_ = decoded->reader_->getRoot<Envelope>();
    decoded->which_ = decoded->envelope_.which();
  } catch (const kj::Exception& e) {
    return invalid(std::string("undecodable message: ") + e.getDescription().cStr());
  } catch (const std::exception& e) {
    return invalid(std::string("undecodable message: ") + e.what());
  }
  // A kind this build does not know (a newer peer's). The count comes from
  // the schema itself, so a kind added to the union is never refused here.
  static const unsigned kKinds = capnp::Schema::from<Envelope>().getUnionFields().size();
  if (static_cast<unsigned>(decoded->which_) >= kKinds) {
    return invalid("unknown message kind " + std::to_string(static_cast<unsigned>(decoded->which_)));
  }
  return decoded;
}

std::string encode(capnp::MessageBuilder& message) {
  auto words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

bool dispatchSafely(const std::function<void()>& handler,
                    const std::function<void(const std::string&)>& onDropped) {
  try {
    handler();
    return true;
  } catch (const kj::Exception& e) {
    onDropped(e.getDescription().cStr());
  } catch (const std::exception& e) {
    onDropped(e.what());
  } catch (...) {
    onDropped("unknown exception");
  }
  return false;
}

const char* name(Envelope::Which which) {
  switch (which) {
    case Envelope::REGISTER_AGENT: return "registerAgent";
    case Envelope::AGENT_REGISTERED: return "agentRegistered";
    case Envelope::PING: return "ping";
    case Envelope::PONG: return "pong";
    case Envelope::RUN_TASK: return "runTask";
    case Envelope::KILL_TASK: return "killTask";
    case Envelope::STATUS_UPDATE: return "statusUpdate";
    case Envelope::STATUS_UPDATE_ACK: return "statusUpdateAck";
    case Envelope::SHUTDOWN_FRAMEWORK: return "shutdownFramework";
    case Envelope::REREGISTER: return "reregister";
    case Envelope::SHUTDOWN_AGENT: return "shutdownAgent";
    case Envelope::SUBSCRIBE: return "subscribe";
    case Envelope::SUBSCRIBED: return "subscribed";
    case Envelope::RESOURCE_OFFERS: return "resourceOffers";
    case Envelope::RESCIND_OFFER: return "rescindOffer";
    case Envelope::ACCEPT: return "accept";
    case Envelope::DECLINE: return "decline";
    case Envelope::REVIVE: return "revive";
    case Envelope::SUPPRESS: return "suppress";
    case Envelope::KILL: return "kill";
    case Envelope::ACKNOWLEDGE: return "acknowledge";
    case Envelope::RECONCILE: return "reconcile";
    case Envelope::FRAMEWORK_ERROR: return "frameworkError";
    case Envelope::AGENT_LOST: return "agentLost";
    case Envelope::TEARDOWN: return "teardown";
    case Envelope::HEARTBEAT: return "heartbeat";
    case Envelope::REGISTER_EXECUTOR: return "registerExecutor";
    case Envelope::LAUNCH_COMMAND: return "launchCommand";
    case Envelope::KILL_COMMAND: return "killCommand";
    case Envelope::EXECUTOR_STATUS: return "executorStatus";
    case Envelope::EXECUTOR_ACK: return "executorAck";
    case Envelope::SHUTDOWN_EXECUTOR: return "shutdownExecutor";
    case Envelope::GET_MASTER_INFO: return "getMasterInfo";
    case Envelope::MASTER_INFO: return "masterInfo";
    case Envelope::NOT_LEADER: return "notLeader";
    case Envelope::OPERATION_REFUSED: return "operationRefused";
    case Envelope::KILL_EXECUTOR: return "killExecutor";
    case Envelope::CONTAINER_USAGES: return "containerUsages";
    case Envelope::FRAMEWORK_MESSAGE: return "frameworkMessage";
    case Envelope::EXECUTOR_EXITED: return "executorExited";
    case Envelope::EXECUTOR_REGISTERED: return "executorRegistered";
    case Envelope::REGISTER_LAUNCHER: return "registerLauncher";
    case Envelope::LAUNCHER_REGISTERED: return "launcherRegistered";
    case Envelope::START_EXECUTOR: return "startExecutor";
    case Envelope::EXECUTOR_ENDED: return "executorEnded";
    case Envelope::KILL_CONTAINER: return "killContainer";
    case Envelope::LAUNCHER_ACK: return "launcherAck";
    case Envelope::COMMAND_STARTED: return "commandStarted";
  }
  return "unknown";
}

// ------------------------------------------------------------ resources

void fill(const std::vector<Resources::Entry>& in, capnp::List<Resource>::Builder out) {
  for (unsigned i = 0; i < in.size(); ++i) {
    const auto& e = in[i];
    auto r = out[i];
    r.setName(e.name);
    r.setRole(e.role);
    r.setIsRanges(e.isRanges);
    if (e.isRanges) {
      const auto& ranges = e.ranges.ranges();
      auto list = r.initRanges(static_cast<unsigned>(ranges.size()));
      for (unsigned j = 0; j < ranges.size(); ++j) {
        list[j].setBegin(ranges[j].begin);
        list[j].setEnd(ranges[j].end);
      }
    } else {
      r.setScalarMilli(std::llround(e.scalar * 1000.0));
    }
  }
}

Resources fromWire(capnp::List<Resource>::Reader in) {
  Resources out;
  // Ranges are gathered per (name, role) and normalised once: adding them
  // entry by entry re-sorts the whole set each time, which a hostile list of
  // many one-port entries turns into quadratic work.
  std::map<std::pair<std::string, std::string>, std::vector<clusternodes::Range>> ranges;
  for (auto r : in) {
    std::string name = text(r.getName());
    std::string role = text(r.getRole());
    if (name.empty()) malformed("resource without a name");
    if (role.empty()) role = kDefaultRole;
    if (r.getIsRanges()) {
      auto& gathered = ranges[{name, role}];
      for (auto range : r.getRanges()) {
        if (range.getBegin() > range.getEnd()) malformed("resource " + name + " has a range with begin > end");
        gathered.push_back({range.getBegin(), range.getEnd()});
      }
    } else {
      int64_t milli = r.getScalarMilli();
      if (milli < 0) malformed("resource " + name + " is negative");
      out.addScalar(name, static_cast<double>(milli) / 1000.0, role);
    }
  }
  for (auto& [key, list] : ranges) out.addRanges(key.first, RangeSet(std::move(list)), key.second);
  return out;
}

// ------------------------------------------------------------ values

void toWire(const clusternodes::FrameworkInfo& in, wire::FrameworkInfo::Builder out) {
  out.setName(in.name);
  out.setUser(in.user);
  out.setRole(in.role);
  out.setPrincipal(in.principal);
  out.setId(in.id.value);
  out.setFailoverTimeoutSeconds(in.failoverTimeoutSeconds);
  out.setPartitionAware(in.partitionAware);
  out.setHostname(in.hostname);
  out.setWebuiUrl(in.webuiUrl);
  auto roles = out.initRoles(static_cast<unsigned>(in.roles.size()));
  for (unsigned i = 0; i < in.roles.size(); ++i) roles.set(i, in.roles[i]);
}

clusternodes::FrameworkInfo fromWire(wire::FrameworkInfo::Reader in) {
  clusternodes::FrameworkInfo out;
  out.name = text(in.getName());
  out.user = text(in.getUser());
  out.role = text(in.getRole());
  if (out.role.empty()) out.role = kDefaultRole;
  out.principal = text(in.getPrincipal());
  out.id.value = text(in.getId());
  out.failoverTimeoutSeconds = in.getFailoverTimeoutSeconds();
  if (!std::isfinite(out.failoverTimeoutSeconds) || out.failoverTimeoutSeconds < 0) {
    malformed("failover timeout must be a non-negative number");
  }
  out.partitionAware = in.getPartitionAware();
  out.hostname = text(in.getHostname());
  out.webuiUrl = text(in.getWebuiUrl());
  for (auto role : in.getRoles()) out.roles.push_back(text(role));
  return out;
}

void toWire(const clusternodes::CommandInfo& in, wire::CommandInfo::Builder out) {
  out.setValue(in.value);
  out.setShell(in.shell);
  auto args = out.initArguments(static_cast<unsigned>(in.arguments.size()));
  for (unsigned i = 0; i < in.arguments.size(); ++i) args.set(i, in.arguments[i]);
  auto env = out.initEnvironment(static_cast<unsigned>(in.environment.size()));
  unsigned i = 0;
  for (const auto& [k, v] : in.environment) {
    env[i].setName(k);
    env[i].setValue(v);
    ++i;
  }
  if (!in.user.empty()) out.setUser(in.user);
}

clusternodes::CommandInfo fromWire(wire::CommandInfo::Reader in) {
  clusternodes::CommandInfo out;
  out.value = text(in.getValue());
  out.shell = in.getShell();
  for (auto a : in.getArguments()) out.arguments.push_back(text(a));
  for (auto e : in.getEnvironment()) out.environment[text(e.getName())] = text(e.getValue());
  out.user = text(in.getUser());
  return out;
}

void toWire(const clusternodes::ExecutorInfo& in, wire::ExecutorInfo::Builder out) {
  out.setExecutorId(in.executorId.value);
  out.setName(in.name);
  toWire(in.command, out.initCommand());
  setResources(in.resources, [&](unsigned n) { return out.initResources(n); });
}

clusternodes::ExecutorInfo fromWire(wire::ExecutorInfo::Reader in) {
  clusternodes::ExecutorInfo out;
  out.executorId.value = text(in.getExecutorId());
  out.name = text(in.getName());
  out.command = fromWire(in.getCommand());
  out.resources = fromWire(in.getResources());
  return out;
}

std::string bytes(capnp::Data::Reader in) { return std::string(reinterpret_cast<const char*>(in.begin()), in.size()); }

capnp::Data::Reader data(const std::string& in) {
  return capnp::Data::Reader(reinterpret_cast<const kj::byte*>(in.data()), in.size());
}

std::string encodeFrameworkMessage(const std::string& frameworkId, const std::string& executorId,
                                   const std::string& agentId, capnp::Data::Reader data) {
  capnp::MallocMessageBuilder message;
  auto out = message.initRoot<Envelope>().initFrameworkMessage();
  out.setFrameworkId(frameworkId);
  out.setExecutorId(executorId);
  out.setAgentId(agentId);
  out.setData(data);
  return encode(message);
}

void toWire(const clusternodes::TaskInfo& in, wire::TaskInfo::Builder out) {
  out.setName(in.name);
  out.setTaskId(in.taskId.value);
  out.setAgentId(in.agentId.value);
  setResources(in.resources, [&](unsigned n) { return out.initResources(n); });
  toWire(in.command, out.initCommand());
  out.setKillGracePeriodMs(in.killGracePeriodSeconds ? graceMs(*in.killGracePeriodSeconds) : -1);
  out.setCpuLimit(in.cpuLimit.value_or(0));
  if (in.docker) {
    auto docker = out.initDocker();
    docker.setImage(in.docker->image);
    docker.setForcePull(in.docker->forcePull);
    auto mappings = docker.initPortMappings(static_cast<unsigned>(in.docker->portMappings.size()));
    for (unsigned i = 0; i < mappings.size(); ++i) {
      const auto& mapping = in.docker->portMappings[i];
      mappings[i].setHostPort(mapping.hostPort);
      mappings[i].setContainerPort(mapping.containerPort);
      mappings[i].setProtocol(mapping.protocol);
    }
  }
  if (in.executor) toWire(*in.executor, out.initExecutor());
  if (!in.data.empty()) out.setData(data(in.data));
}

clusternodes::TaskInfo fromWire(wire::TaskInfo::Reader in) {
  clusternodes::TaskInfo out;
  out.name = text(in.getName());
  out.taskId.value = text(in.getTaskId());
  out.agentId.value = text(in.getAgentId());
  out.resources = fromWire(in.getResources());
  out.command = fromWire(in.getCommand());
  int64_t grace = in.getKillGracePeriodMs();
  if (grace >= 0) out.killGracePeriodSeconds = static_cast<double>(grace) / 1000.0;
  double cpuLimit = in.getCpuLimit();
  if (!std::isfinite(cpuLimit) || cpuLimit < 0) throw MalformedMessage("a task's cpu limit is negative or not finite");
  if (cpuLimit > 0) out.cpuLimit = cpuLimit;
  if (in.hasDocker()) {
    auto docker = in.getDocker();
    clusternodes::DockerInfo info;
    info.image = text(docker.getImage());
    info.forcePull = docker.getForcePull();
    for (auto mapping : docker.getPortMappings()) {
      info.portMappings.push_back({mapping.getHostPort(), mapping.getContainerPort(), text(mapping.getProtocol())});
    }
    out.docker = std::move(info);
  }
  if (in.hasExecutor()) {
    out.executor = fromWire(in.getExecutor());
    if (out.executor->executorId.empty()) throw MalformedMessage("a task's executor has no id");
  }
  out.data = bytes(in.getData());
  return out;
}

void toWire(const clusternodes::TaskStatus& in, const FrameworkID& frameworkId,
            wire::TaskStatus::Builder out) {
  out.setTaskId(in.taskId.value);
  out.setState(toString(in.state));
  out.setMessage(in.message);
  out.setReason(toString(in.reason));
  out.setSource(static_cast<uint8_t>(in.source));
  out.setAgentId(in.agentId.value);
  out.setHasExitCode(in.exitCode.has_value());
  out.setExitCode(in.exitCode.value_or(0));
  out.setHasSignal(in.signal.has_value());
  out.setSignal(in.signal.value_or(0));
  out.setTimestamp(in.timestamp);
  out.setUuid(in.uuid);
  out.setFrameworkId(frameworkId.value);
  if (!in.data.empty()) out.setData(data(in.data));
}

clusternodes::TaskStatus fromWire(wire::TaskStatus::Reader in) {
  clusternodes::TaskStatus out;
  out.taskId.value = text(in.getTaskId());
  auto state = parseTaskState(text(in.getState()));
  if (!state) malformed("unknown task state '" + text(in.getState()) + "'");
  out.state = *state;
  out.message = shownText(in.getMessage());
  auto reason = parseTaskReason(text(in.getReason()));
  out.reason = reason.value_or(TaskReason::kNone);
  uint8_t source = in.getSource();
  if (source > 2) malformed("unknown status source");
  out.source = static_cast<TaskSource>(source);
  out.agentId.value = text(in.getAgentId());
  if (in.getHasExitCode()) out.exitCode = in.getExitCode();
  if (in.getHasSignal()) out.signal = in.getSignal();
  out.timestamp = in.getTimestamp();
  out.uuid = text(in.getUuid());
  out.data = bytes(in.getData());
  return out;
}

void setAttributes(const std::vector<clusternodes::Attribute>& in,
                   std::function<capnp::List<wire::Attribute>::Builder(unsigned)> init) {
  auto list = init(static_cast<unsigned>(in.size()));
  for (unsigned i = 0; i < in.size(); ++i) {
    list[i].setName(in[i].name);
    list[i].setValue(in[i].value);
  }
}

std::vector<clusternodes::Attribute> fromWire(capnp::List<wire::Attribute>::Reader in) {
  std::vector<clusternodes::Attribute> out;
  for (auto a : in) out.push_back({text(a.getName()), text(a.getValue())});
  return out;
}

void toWire(const clusternodes::Offer& in, wire::Offer::Builder out) {
  out.setId(in.id.value);
  out.setFrameworkId(in.frameworkId.value);
  out.setAgentId(in.agentId.value);
  out.setHostname(in.hostname);
  out.setAllocationRole(in.allocationRole);
  setResources(in.resources, [&](unsigned n) { return out.initResources(n); });
  setAttributes(in.attributes, [&](unsigned n) { return out.initAttributes(n); });
}

clusternodes::Offer fromWire(wire::Offer::Reader in) {
  clusternodes::Offer out;
  out.id.value = text(in.getId());
  out.frameworkId.value = text(in.getFrameworkId());
  out.agentId.value = text(in.getAgentId());
  out.hostname = text(in.getHostname());
  out.allocationRole = text(in.getAllocationRole());
  if (out.allocationRole.empty()) out.allocationRole = kDefaultRole;
  out.resources = fromWire(in.getResources());
  out.attributes = fromWire(in.getAttributes());
  return out;
}

void toWire(const AgentInfoValue& in, wire::AgentInfo::Builder out) {
  out.setHostname(in.hostname);
  setResources(in.resources, [&](unsigned n) { return out.initResources(n); });
  setAttributes(in.attributes, [&](unsigned n) { return out.initAttributes(n); });
  out.setHttpPort(static_cast<uint16_t>(in.httpPort));
  out.setBootId(in.bootId);
  out.setIp(in.ip);
  out.setHttpTls(in.httpTls);
}

std::string AgentInfoValue::httpUrl() const {
  std::string host = ip.empty() || ip == "0.0.0.0" ? hostname : ip;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return (httpTls ? "https://" : "http://") + host + ":" + std::to_string(httpPort);
}

AgentInfoValue fromWire(wire::AgentInfo::Reader in) {
  AgentInfoValue out;
  out.hostname = text(in.getHostname());
  out.resources = fromWire(in.getResources());
  out.attributes = fromWire(in.getAttributes());
  out.httpPort = in.getHttpPort();
  out.bootId = text(in.getBootId());
  out.ip = text(in.getIp());
  out.httpTls = in.getHttpTls();
  return out;
}

void toWire(const clusternodes::ContainerUsage& in, wire::ContainerUsage::Builder out) {
  out.setCpuSeconds(in.cpuSeconds);
  out.setCpuUserSeconds(in.cpuUserSeconds);
  out.setCpuSystemSeconds(in.cpuSystemSeconds);
  out.setMemBytes(in.memBytes);
  out.setMemPeakBytes(in.memPeakBytes);
  out.setMemLimitBytes(in.memLimitBytes);
  out.setOomKills(in.oomKills);
  out.setProcesses(in.processes);
  out.setTimestamp(in.timestamp);
}

clusternodes::ContainerUsage fromWire(wire::ContainerUsage::Reader in) {
  clusternodes::ContainerUsage out;
  out.cpuSeconds = in.getCpuSeconds();
  out.cpuUserSeconds = in.getCpuUserSeconds();
  out.cpuSystemSeconds = in.getCpuSystemSeconds();
  for (double seconds : {out.cpuSeconds, out.cpuUserSeconds, out.cpuSystemSeconds, in.getTimestamp()}) {
    if (!std::isfinite(seconds) || seconds < 0) throw MalformedMessage("a container usage with a bad time");
  }
  out.memBytes = in.getMemBytes();
  out.memPeakBytes = in.getMemPeakBytes();
  out.memLimitBytes = in.getMemLimitBytes();
  out.oomKills = in.getOomKills();
  out.processes = in.getProcesses();
  out.timestamp = in.getTimestamp();
  return out;
}

}  // namespace clusternodes::wire
