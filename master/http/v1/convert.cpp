#include "master/http/v1/convert.hpp"

#include <cmath>
#include <cstdlib>

namespace clusternodes::master::v1 {
namespace {

Error unsupported(const std::string& field, const std::string& what) {
  return Error{ErrorCode::kInvalid, field + ": " + what + " is not supported by Clusternodes"};
}

bool hasCapability(const mesos::FrameworkInfo& info, mesos::FrameworkInfo::Capability::Type type) {
  for (const auto& capability : info.capabilities()) {
    if (capability.type() == type) return true;
  }
  return false;
}

Result<DockerInfo> dockerFromV1(const mesos::ContainerInfo::DockerInfo& docker, const std::string& field) {
  using Network = mesos::ContainerInfo::DockerInfo;
  if (docker.network() != Network::HOST && docker.network() != Network::BRIDGE) {
    return unsupported(field + ".network", mesos::ContainerInfo::DockerInfo::Network_Name(docker.network()));
  }
  if (docker.privileged()) return unsupported(field + ".privileged", "a privileged container");
  if (docker.parameters_size() > 0) return unsupported(field + ".parameters", "passing docker run options");
  DockerInfo out;
  out.image = docker.image();
  out.forcePull = docker.force_pull_image();
  for (const auto& mapping : docker.port_mappings()) {
    PortMapping port;
    port.hostPort = mapping.host_port();
    port.containerPort = mapping.container_port();
    if (mapping.has_protocol()) port.protocol = mapping.protocol();
    out.portMappings.push_back(port);
  }
  return out;
}

}  // namespace

Dialect dialectOf(const mesos::FrameworkInfo& info) {
  using Capability = mesos::FrameworkInfo::Capability;
  return Dialect{hasCapability(info, Capability::MULTI_ROLE), hasCapability(info, Capability::RESERVATION_REFINEMENT),
                 hasCapability(info, Capability::PARTITION_AWARE)};
}

Result<FrameworkInfo> fromV1(const mesos::FrameworkInfo& info) {
  FrameworkInfo out;
  out.name = info.name();
  out.user = info.user();
  Dialect dialect = dialectOf(info);
  if (dialect.multiRole) {
    out.roles.assign(info.roles().begin(), info.roles().end());
  } else {
    if (info.roles_size() > 0) return invalid("framework_info.roles needs the MULTI_ROLE capability; use role");
    out.role = info.role();
  }
  out.principal = info.principal();
  if (info.has_id()) out.id = FrameworkID{info.id().value()};
  out.failoverTimeoutSeconds = info.failover_timeout();
  if (!std::isfinite(out.failoverTimeoutSeconds) || out.failoverTimeoutSeconds < 0) {
    return invalid("framework_info.failover_timeout must be a non-negative number of seconds");
  }
  out.partitionAware = dialect.partitionAware;
  out.hostname = info.hostname();
  out.webuiUrl = info.webui_url();
  return out;
}

Result<Resources> fromV1(const Repeated<mesos::Resource>& resources, const std::string& field) {
  Resources out;
  for (int i = 0; i < resources.size(); ++i) {
    const auto& r = resources.Get(i);
    std::string at = field + "[" + std::to_string(i) + "]";
    std::string role = kDefaultRole;
    if (r.reservations_size() > 0) {
      role = r.reservations(r.reservations_size() - 1).role();
    } else if (r.has_role()) {
      role = r.role();
    }
    if (role.empty()) return invalid(at + ": a reservation must name its role");
    if (r.has_revocable()) return unsupported(at + ".revocable", "revocable resources");
    if (r.has_shared()) return unsupported(at + ".shared", "shared resources");
    switch (r.type()) {
      case mesos::Value::SCALAR: {
        double value = r.scalar().value();
        if (!r.has_scalar() || !std::isfinite(value) || value < 0) {
          return invalid(at + ": a SCALAR resource needs a non-negative scalar value");
        }
        out.addScalar(r.name(), value, role);
        break;
      }
      case mesos::Value::RANGES: {
        std::vector<Range> ranges;
        for (const auto& range : r.ranges().range()) {
          if (range.begin() > range.end()) return invalid(at + ": a range must not end before it begins");
          ranges.push_back(Range{range.begin(), range.end()});
        }
        out.addRanges(r.name(), RangeSet(std::move(ranges)), role);
        break;
      }
      default: return unsupported(at, mesos::Value::Type_Name(r.type()) + " resources");
    }
  }
  return out;
}

Result<CommandInfo> fromV1(const mesos::CommandInfo& command, const std::string& field) {
  if (command.uris_size() > 0) return unsupported(field + ".uris", "fetching URIs into the sandbox");
  CommandInfo out;
  out.shell = command.shell();
  out.value = command.value();
  out.arguments.assign(command.arguments().begin(), command.arguments().end());
  for (const auto& variable : command.environment().variables()) {
    if (variable.type() == mesos::Environment::Variable::SECRET) {
      return unsupported(field + ".environment", "a SECRET variable (" + variable.name() + ")");
    }
    out.environment[variable.name()] = variable.value();
  }
  out.user = command.user();
  return out;
}

Result<ExecutorInfo> fromV1(const mesos::ExecutorInfo& executor, const std::string& field) {
  if (executor.has_container()) return unsupported(field + ".container", "a containerized custom executor");
  if (executor.type() == mesos::ExecutorInfo::DEFAULT) return unsupported(field + ".type", "the DEFAULT executor");
  ExecutorInfo out;
  out.executorId = ExecutorID{executor.executor_id().value()};
  out.name = executor.name();
  auto command = fromV1(executor.command(), field + ".command");
  if (!command) return command.error();
  out.command = std::move(*command);
  auto resources = fromV1(executor.resources(), field + ".resources");
  if (!resources) return resources.error();
  out.resources = std::move(*resources);
  return out;
}

std::optional<double> gracePeriodSeconds(const mesos::KillPolicy& policy) {
  if (!policy.has_grace_period()) return std::nullopt;
  return static_cast<double>(policy.grace_period().nanoseconds()) / 1e9;
}

Result<TaskInfo> fromV1(const mesos::TaskInfo& task) {
  TaskInfo out;
  out.name = task.name();
  out.taskId = TaskID{task.task_id().value()};
  out.agentId = AgentID{task.agent_id().value()};
  std::string at = "task " + task.task_id().value();
  auto resources = fromV1(task.resources(), at + ": resources");
  if (!resources) return resources.error();
  out.resources = std::move(*resources);
  if (task.has_command()) {
    auto command = fromV1(task.command(), at + ": command");
    if (!command) return command.error();
    out.command = std::move(*command);
  } else {
    out.command.shell = false;  // no command: a Docker image's own, or the executor's
  }
  if (task.has_executor()) {
    auto executor = fromV1(task.executor(), at + ": executor");
    if (!executor) return executor.error();
    out.executor = std::move(*executor);
  }
  if (task.has_container()) {
    const auto& container = task.container();
    if (container.type() == mesos::ContainerInfo::DOCKER) {
      if (!container.has_docker()) return invalid(at + ": container type DOCKER needs container.docker");
      auto docker = dockerFromV1(container.docker(), at + ": container.docker");
      if (!docker) return docker.error();
      out.docker = std::move(*docker);
    } else if (container.mesos().has_image()) {
      return unsupported(at + ": container.mesos.image", "an image for the Mesos containerizer (use DOCKER)");
    } else if (!container.GetReflection()->GetUnknownFields(container).empty()) {
      // Volumes or networks (not modelled here, so unknown in protobuf; in
      // JSON they are not seen): the task would run without them.
      return unsupported(at + ": container", "the Mesos containerizer's volumes and networks");
    }
  }
  out.killGracePeriodSeconds = gracePeriodSeconds(task.kill_policy());
  out.data = task.data();
  return out;
}

// ---- into events

void toV1(const Resources& resources, const Dialect& dialect, const std::string& allocationRole,
          Repeated<mesos::Resource>* out) {
  for (const auto& e : resources.entries()) {
    auto* r = out->Add();
    r->set_name(e.name);
    if (e.isRanges) {
      r->set_type(mesos::Value::RANGES);
      for (const auto& range : e.ranges.ranges()) {
        auto* added = r->mutable_ranges()->add_range();
        added->set_begin(range.begin);
        added->set_end(range.end);
      }
    } else {
      r->set_type(mesos::Value::SCALAR);
      r->mutable_scalar()->set_value(e.scalar);
    }
    if (e.role != kDefaultRole) {
      if (dialect.reservationRefinement) {
        auto* reservation = r->add_reservations();
        reservation->set_type(mesos::Resource::ReservationInfo::DYNAMIC);
        reservation->set_role(e.role);
      } else {
        r->set_role(e.role);
        r->mutable_reservation();
      }
    }
    if (dialect.multiRole && !allocationRole.empty()) r->mutable_allocation_info()->set_role(allocationRole);
  }
}

void toV1(const Attribute& attribute, mesos::Attribute* out) {
  out->set_name(attribute.name);
  const char* begin = attribute.value.c_str();
  char* end = nullptr;
  double number = std::strtod(begin, &end);
  if (!attribute.value.empty() && end == begin + attribute.value.size() && std::isfinite(number)) {
    out->set_type(mesos::Value::SCALAR);
    out->mutable_scalar()->set_value(number);
  } else {
    out->set_type(mesos::Value::TEXT);
    out->mutable_text()->set_value(attribute.value);
  }
}

void toV1(const Offer& offer, const Dialect& dialect, mesos::Offer* out) {
  out->mutable_id()->set_value(offer.id.value);
  out->mutable_framework_id()->set_value(offer.frameworkId.value);
  out->mutable_agent_id()->set_value(offer.agentId.value);
  out->set_hostname(offer.hostname);
  toV1(offer.resources, dialect, offer.allocationRole, out->mutable_resources());
  for (const auto& attribute : offer.attributes) toV1(attribute, out->add_attributes());
  if (dialect.multiRole) out->mutable_allocation_info()->set_role(offer.allocationRole);
}

mesos::TaskState toV1(TaskState state) {
  switch (state) {
    case TaskState::kStaging: return mesos::TASK_STAGING;
    case TaskState::kStarting: return mesos::TASK_STARTING;
    case TaskState::kRunning: return mesos::TASK_RUNNING;
    case TaskState::kKilling: return mesos::TASK_KILLING;
    case TaskState::kFinished: return mesos::TASK_FINISHED;
    case TaskState::kFailed: return mesos::TASK_FAILED;
    case TaskState::kKilled: return mesos::TASK_KILLED;
    case TaskState::kError: return mesos::TASK_ERROR;
    case TaskState::kLost: return mesos::TASK_LOST;
    case TaskState::kDropped: return mesos::TASK_DROPPED;
    case TaskState::kUnreachable: return mesos::TASK_UNREACHABLE;
    case TaskState::kGone: return mesos::TASK_GONE;
    case TaskState::kUnknown: return mesos::TASK_UNKNOWN;
  }
  return mesos::TASK_UNKNOWN;
}

std::optional<mesos::TaskStatus::Reason> toV1(TaskReason reason) {
  using R = mesos::TaskStatus;
  switch (reason) {
    case TaskReason::kNone:
    case TaskReason::kCommandExited:
    case TaskReason::kCommandSignaled:
    case TaskReason::kKilledByFramework: return std::nullopt;
    case TaskReason::kInvalidTask: return R::REASON_TASK_INVALID;
    case TaskReason::kExecutorTerminated: return R::REASON_EXECUTOR_TERMINATED;
    case TaskReason::kExecutorFailedToStart: return R::REASON_CONTAINER_LAUNCH_FAILED;
    case TaskReason::kExecutorRegistrationTimeout: return R::REASON_EXECUTOR_REGISTRATION_TIMEOUT;
    case TaskReason::kAgentRemoved: return R::REASON_AGENT_REMOVED;
    case TaskReason::kAgentUnreachable: return R::REASON_AGENT_REMOVED;
    case TaskReason::kAgentRestarted: return R::REASON_AGENT_RESTARTED;
    case TaskReason::kFrameworkRemoved: return R::REASON_FRAMEWORK_REMOVED;
    case TaskReason::kReconciliation: return R::REASON_RECONCILIATION;
    case TaskReason::kTaskUnknown: return R::REASON_TASK_UNKNOWN;
    case TaskReason::kInvalidOffers: return R::REASON_INVALID_OFFERS;
    case TaskReason::kMemoryLimit: return R::REASON_CONTAINER_LIMITATION_MEMORY;
    case TaskReason::kCommandNotFound:
    case TaskReason::kCommandNotExecutable: return R::REASON_COMMAND_EXECUTOR_FAILED;
    case TaskReason::kContainerLaunchFailed:
    case TaskReason::kImageUnavailable:
    case TaskReason::kContainerizerUnsupported: return R::REASON_CONTAINER_LAUNCH_FAILED;
    case TaskReason::kTaskUnauthorized: return R::REASON_TASK_UNAUTHORIZED;
  }
  return std::nullopt;
}

void toV1(const TaskStatus& status, mesos::TaskStatus* out) {
  out->mutable_task_id()->set_value(status.taskId.value);
  out->set_state(toV1(status.state));
  if (!status.message.empty()) out->set_message(status.message);
  switch (status.source) {
    case TaskSource::kMaster: out->set_source(mesos::TaskStatus::SOURCE_MASTER); break;
    case TaskSource::kAgent: out->set_source(mesos::TaskStatus::SOURCE_AGENT); break;
    case TaskSource::kExecutor: out->set_source(mesos::TaskStatus::SOURCE_EXECUTOR); break;
  }
  if (auto reason = toV1(status.reason)) out->set_reason(*reason);
  if (!status.data.empty()) out->set_data(status.data);
  if (!status.agentId.empty()) out->mutable_agent_id()->set_value(status.agentId.value);
  out->set_timestamp(status.timestamp);
  if (!status.uuid.empty()) out->set_uuid(status.uuid);
}

}  // namespace clusternodes::master::v1
