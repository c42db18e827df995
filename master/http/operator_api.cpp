#include "master/http/operator_api.hpp"

#include <arpa/inet.h>

#include <chrono>
#include <cmath>
#include <map>
#include <utility>
#include <vector>
#include <variant>

#include <fmt/format.h>

#include "master/http/endpoints.hpp"
#include "master/http/v1/convert.hpp"
#include "master/http/v1/http_body.hpp"
#include "master/http/v1/master.pb.h"
#include "master/master.hpp"

#ifndef CLUSTERNODES_VERSION
#define CLUSTERNODES_VERSION "unknown"
#endif

namespace clusternodes::master {
namespace {

namespace mesos = ::mesos::v1;
using OperatorCall = mesos::master::Call;
using OperatorResponse = mesos::master::Response;
using v1::toV1;

mesos::TimeInfo timeInfo(double seconds) {
  mesos::TimeInfo t;
  t.set_nanoseconds(static_cast<int64_t>(seconds * 1e9));
  return t;
}

// The dialect of the operator API: every role named, MULTI_ROLE's.
constexpr v1::Dialect kOperatorDialect{true, true, true};

void agentInfoV1(const AgentEntry& agent, mesos::AgentInfo* out) {
  out->set_hostname(agent.info.hostname);
  out->mutable_id()->set_value(agent.id.value);
  toV1(agent.info.resources, kOperatorDialect, "", out->mutable_resources());
  for (const auto& attribute : agent.info.attributes) toV1(attribute, out->add_attributes());
}

Resources offeredOn(const MasterState& state, const std::set<OfferID>& offers) {
  Resources out;
  for (const auto& id : offers) {
    if (auto offer = state.offers.find(id); offer != state.offers.end()) out += offer->second.resources;
  }
  return out;
}

void getAgents(const Master& master, OperatorResponse::GetAgents* out) {
  for (const auto& [id, agent] : master.state().agents) {
    if (agent.reachable) agentV1(master, agent, out->add_agents());  // Mesos lists reachable agents only
  }
}

void getFrameworks(const Master& master, OperatorResponse::GetFrameworks* out) {
  for (const auto& [id, fw] : master.state().frameworks) frameworkV1(master, fw, out->add_frameworks());
}

void getExecutors(const Master& master, OperatorResponse::GetExecutors* out) {
  for (const auto& [agentId, agent] : master.state().agents) {
    for (const auto& [key, executor] : agent.executors) {
      auto* e = out->add_executors();
      auto* info = e->mutable_executor_info();
      info->set_type(mesos::ExecutorInfo::CUSTOM);
      info->mutable_executor_id()->set_value(key.second.value);
      info->mutable_framework_id()->set_value(key.first.value);
      info->set_name(executor.name);
      info->mutable_command()->set_value(executor.command.value);
      toV1(executor.resources, kOperatorDialect, "", info->mutable_resources());
      e->mutable_agent_id()->set_value(agentId.value);
    }
  }
}

void getTasks(const Master& master, OperatorResponse::GetTasks* out) {
  for (const auto& [id, fw] : master.state().frameworks) {
    for (const auto& [taskId, task] : fw.tasks) {
      taskV1(task, task.state == TaskState::kUnreachable ? out->add_unreachable_tasks() : out->add_tasks());
    }
    for (const auto& task : fw.completed) taskV1(task, out->add_completed_tasks());
  }
}

void getRoles(const Master& master, OperatorResponse::GetRoles* out) {
  std::map<std::string, std::vector<FrameworkID>> frameworksOf;
  for (const auto& [id, fw] : master.state().frameworks) {
    for (const auto& role : subscribedRoles(fw.info)) frameworksOf[role].push_back(id);
  }
  for (const auto& r : master.allocator().roleSummaries()) {
    auto* role = out->add_roles();
    role->set_name(r.role);
    role->set_weight(r.weight);
    for (const auto& id : frameworksOf[r.role]) role->add_frameworks()->set_value(id.value);
    toV1(r.allocated, kOperatorDialect, "", role->mutable_resources());
  }
}

void quotaConfig(const std::string& role, const Quota& quota, mesos::quota::QuotaConfig* out) {
  out->set_role(role);
  for (const auto& e : quota.guarantee.entries()) (*out->mutable_guarantees())[e.name].set_value(e.scalar);
  for (const auto& e : quota.limit.entries()) (*out->mutable_limits())[e.name].set_value(e.scalar);
}

// A quota's scalars: finite and not negative.
Result<Resources> quotaResources(const google::protobuf::Map<std::string, mesos::Value::Scalar>& scalars,
                                 const std::string& what) {
  Resources out;
  for (const auto& [name, scalar] : scalars) {
    if (!std::isfinite(scalar.value()) || scalar.value() < 0) {
      return invalid(what + "." + name + " must be a non-negative number");
    }
    out.addScalar(name, scalar.value());
  }
  return out;
}

std::string durationText(std::chrono::nanoseconds d) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms";
}

// The master's flags as its command line names them (--work-dir is
// "work-dir"), with their values now.
std::vector<std::pair<std::string, std::string>> masterFlagValues(const MasterFlags& f) {
  std::string weights;
  for (const auto& [role, weight] : f.weights) {
    if (!weights.empty()) weights += ",";
    weights += role + "=" + fmt::format("{}", weight);
  }
  std::string removalRate;
  if (f.agentRemovalRateCount > 0) {
    removalRate = std::to_string(f.agentRemovalRateCount) + "/" + durationText(f.agentRemovalRatePeriod);
  }
  return {
      {"ip", f.ip},
      {"port", std::to_string(f.port)},
      {"http-port", std::to_string(f.httpPort)},
      {"work-dir", f.workDir},
      {"allocation-interval", durationText(f.allocationInterval)},
      {"offer-timeout", durationText(f.offerTimeout)},
      {"agent-ping-timeout", durationText(f.agentPingTimeout)},
      {"max-agent-ping-timeouts", std::to_string(f.maxAgentPingTimeouts)},
      {"agent-removal-timeout", durationText(f.agentRemovalTimeout)},
      {"agent-reregister-timeout", durationText(f.agentReregisterTimeout)},
      {"agent-removal-rate-limit", removalRate},
      {"framework-heartbeat-interval", durationText(f.frameworkHeartbeatInterval)},
      {"weights", weights},
      {"starvation-threshold", durationText(f.starvationThreshold)},
      {"zk", f.zk},
      {"zk-session-timeout", durationText(f.zkSessionTimeout)},
      {"key", f.keyFile},
      {"credentials", f.credentialsFile},
      {"authenticate-agents", f.authenticateAgents ? "true" : "false"},
      {"authenticate-frameworks", f.authenticateFrameworks ? "true" : "false"},
      {"acls", f.aclsFile},
      {"http-credentials", f.httpCredentialsFile},
      {"http-authenticate", f.httpAuthenticate},
      {"tls-cert", f.tlsCertFile},
      {"tls-key", f.tlsKeyFile},
  };
}

// An operator call's failure as Mesos answers it: in text.
HttpResponse refusal(const Error& error) { return HttpResponse::text(operatorRefusalStatus(error), error.message); }

Result<void> updateWeights(Master& master, const HttpRequest& request, const OperatorCall::UpdateWeights& call) {
  std::map<std::string, double> weights;
  for (const auto& info : call.weight_infos()) {
    if (!info.has_role()) return invalid("update_weights.weight_infos: every weight names its role");
    weights[info.role()] = info.weight();
  }
  return master.setWeights(request.principal, weights);
}

Result<void> updateQuota(Master& master, const HttpRequest& request, const OperatorCall::UpdateQuota& call) {
  for (const auto& config : call.quota_configs()) {
    Quota quota;
    auto guarantee = quotaResources(config.guarantees(), "guarantees");
    if (!guarantee) return guarantee.error();
    auto limit = quotaResources(config.limits(), "limits");
    if (!limit) return limit.error();
    quota.guarantee = *guarantee;
    quota.limit = *limit;
    if (auto set = master.setQuota(request.principal, config.role(), quota); !set) return set.error();
  }
  return {};
}

}  // namespace

void frameworkInfoV1(const FrameworkInfo& info, const FrameworkID& id, mesos::FrameworkInfo* out) {
  out->set_user(info.user);
  out->set_name(info.name);
  out->mutable_id()->set_value(id.value);
  out->set_failover_timeout(info.failoverTimeoutSeconds);
  out->set_checkpoint(true);
  for (const auto& role : subscribedRoles(info)) out->add_roles(role);
  out->add_capabilities()->set_type(mesos::FrameworkInfo::Capability::MULTI_ROLE);
  if (info.partitionAware) out->add_capabilities()->set_type(mesos::FrameworkInfo::Capability::PARTITION_AWARE);
  if (!info.hostname.empty()) out->set_hostname(info.hostname);
  if (!info.principal.empty()) out->set_principal(info.principal);
  if (!info.webuiUrl.empty()) out->set_webui_url(info.webuiUrl);
}

void taskV1(const Task& task, mesos::Task* out) {
  out->set_name(task.info.name);
  out->mutable_task_id()->set_value(task.info.taskId.value);
  out->mutable_framework_id()->set_value(task.frameworkId.value);
  out->mutable_agent_id()->set_value(task.info.agentId.value);
  if (task.info.executor) out->mutable_executor_id()->set_value(task.info.executor->executorId.value);
  out->set_state(toV1(task.state));
  toV1(task.info.resources, kOperatorDialect, "", out->mutable_resources());
  if (!task.lastStatus.taskId.empty()) toV1(task.lastStatus, out->add_statuses());
  if (task.info.docker) {
    auto* container = out->mutable_container();
    container->set_type(mesos::ContainerInfo::DOCKER);
    container->mutable_docker()->set_image(task.info.docker->image);
  }
  if (!task.info.command.user.empty()) out->set_user(task.info.command.user);
}

void agentV1(const Master& master, const AgentEntry& agent, OperatorResponse::GetAgents::Agent* a) {
  const auto& state = master.state();
  agentInfoV1(agent, a->mutable_agent_info());
  a->set_active(true);
  a->set_deactivated(false);
  a->set_version(CLUSTERNODES_VERSION);
  a->mutable_registered_time()->CopyFrom(timeInfo(agent.registeredAt));
  toV1(agent.info.resources, kOperatorDialect, "", a->mutable_total_resources());
  toV1(agent.used, kOperatorDialect, "", a->mutable_allocated_resources());
  toV1(offeredOn(state, agent.offers), kOperatorDialect, "", a->mutable_offered_resources());
}

void frameworkV1(const Master& master, const FrameworkEntry& fw, OperatorResponse::GetFrameworks::Framework* f) {
  const auto& state = master.state();
  const FrameworkID& id = fw.id;
  frameworkInfoV1(fw.info, id, f->mutable_framework_info());
  f->set_active(fw.connected);
  f->set_connected(fw.connected);
  f->set_recovered(fw.recovered);
  f->mutable_registered_time()->CopyFrom(timeInfo(fw.registeredAt));
  Resources allocated;
  for (const auto& [taskId, task] : fw.tasks) {
    if (!isTerminal(task.state)) allocated += task.info.resources;
  }
  toV1(allocated, kOperatorDialect, "", f->mutable_allocated_resources());
  for (const auto& offerId : fw.offers) {
    auto offer = state.offers.find(offerId);
    if (offer == state.offers.end()) continue;
    auto agent = state.agents.find(offer->second.agentId);
    Offer value{offer->first, id, offer->second.agentId,
                agent == state.agents.end() ? std::string() : agent->second.info.hostname,
                offer->second.resources,
                agent == state.agents.end() ? std::vector<Attribute>{} : agent->second.info.attributes,
                offer->second.role};
    toV1(value, kOperatorDialect, f->add_offers());
  }
  toV1(offeredOn(state, fw.offers), kOperatorDialect, "", f->mutable_offered_resources());
}

void getStateV1(const Master& master, OperatorResponse::GetState* out) {
  getTasks(master, out->mutable_get_tasks());
  getExecutors(master, out->mutable_get_executors());
  getFrameworks(master, out->mutable_get_frameworks());
  getAgents(master, out->mutable_get_agents());
}

void masterInfoV1(const Master& master, mesos::MasterInfo* out) {
  out->set_id(master.state().masterId);
  in_addr address{};
  out->set_ip(inet_pton(AF_INET, master.flags().ip.c_str(), &address) == 1 ? address.s_addr : 0);
  out->set_port(static_cast<uint32_t>(master.flags().port));
  out->set_hostname(master.flags().ip);
  out->set_version(CLUSTERNODES_VERSION);
  out->mutable_address()->set_ip(master.flags().ip);
  out->mutable_address()->set_port(master.flags().port);
}

HttpResponse handleOperatorCall(Master& master, const HttpRequest& request) {
  if (!master.leading()) return redirectToLeader(master, request);
  OperatorCall call;
  if (auto refused = v1::readCall(request, call)) return HttpResponse::text(refused->status, refused->message);
  auto invalidCall = [](const char* field) {
    return HttpResponse::text(400, std::string("Failed to validate master::Call: Expecting '") + field +
                                       "' to be present");
  };
  if (!call.has_type()) return invalidCall("type");
  auto encoding = v1::answerInProtobuf(request);
  if (const auto* refused = std::get_if<v1::Refusal>(&encoding)) {
    return HttpResponse::text(refused->status, refused->message);
  }
  bool protobuf = std::get<bool>(encoding);
  OperatorResponse response;
  switch (call.type()) {
    case OperatorCall::GET_HEALTH:
      response.set_type(OperatorResponse::GET_HEALTH);
      response.mutable_get_health()->set_healthy(!master.registryFailing());
      break;
    case OperatorCall::GET_VERSION:
      response.set_type(OperatorResponse::GET_VERSION);
      response.mutable_get_version()->mutable_version_info()->set_version(CLUSTERNODES_VERSION);
      break;
    case OperatorCall::GET_FLAGS:
      response.set_type(OperatorResponse::GET_FLAGS);
      for (const auto& [name, value] : masterFlagValues(master.flags())) {
        auto* flag = response.mutable_get_flags()->add_flags();
        flag->set_name(name);
        flag->set_value(value);
      }
      break;
    case OperatorCall::GET_MASTER: {
      response.set_type(OperatorResponse::GET_MASTER);
      auto* out = response.mutable_get_master();
      masterInfoV1(master, out->mutable_master_info());
      out->set_start_time(master.state().startedAt);
      break;
    }
    case OperatorCall::GET_STATE: {
      response.set_type(OperatorResponse::GET_STATE);
      getStateV1(master, response.mutable_get_state());
      break;
    }
    case OperatorCall::GET_AGENTS:
      response.set_type(OperatorResponse::GET_AGENTS);
      getAgents(master, response.mutable_get_agents());
      break;
    case OperatorCall::GET_FRAMEWORKS:
      response.set_type(OperatorResponse::GET_FRAMEWORKS);
      getFrameworks(master, response.mutable_get_frameworks());
      break;
    case OperatorCall::GET_EXECUTORS:
      response.set_type(OperatorResponse::GET_EXECUTORS);
      getExecutors(master, response.mutable_get_executors());
      break;
    case OperatorCall::GET_TASKS:
      response.set_type(OperatorResponse::GET_TASKS);
      getTasks(master, response.mutable_get_tasks());
      break;
    case OperatorCall::GET_ROLES:
      response.set_type(OperatorResponse::GET_ROLES);
      response.mutable_get_roles();
      getRoles(master, response.mutable_get_roles());
      break;
    case OperatorCall::GET_WEIGHTS:
      response.set_type(OperatorResponse::GET_WEIGHTS);
      response.mutable_get_weights();
      for (const auto& r : master.allocator().roleSummaries()) {
        auto* info = response.mutable_get_weights()->add_weight_infos();
        info->set_role(r.role);
        info->set_weight(r.weight);
      }
      break;
    case OperatorCall::GET_QUOTA:
      response.set_type(OperatorResponse::GET_QUOTA);
      for (const auto& [role, quota] : master.registry().quotas()) {
        quotaConfig(role, quota, response.mutable_get_quota()->mutable_status()->add_configs());
      }
      response.mutable_get_quota()->mutable_status();
      break;
    case OperatorCall::UPDATE_WEIGHTS:
      if (!call.has_update_weights()) return invalidCall("update_weights");
      if (auto done = updateWeights(master, request, call.update_weights()); !done) return refusal(done.error());
      return HttpResponse::text(200, "");
    case OperatorCall::UPDATE_QUOTA:
      if (!call.has_update_quota()) return invalidCall("update_quota");
      if (auto done = updateQuota(master, request, call.update_quota()); !done) return refusal(done.error());
      return HttpResponse::text(200, "");
    case OperatorCall::SUBSCRIBE:
      return master.operatorStreams()->subscribe(protobuf);
    default:
      return HttpResponse::text(501, OperatorCall::Type_Name(call.type()) + " is not supported by Clusternodes");
  }
  return v1::encodedResponse(200, response, protobuf);
}

}  // namespace clusternodes::master
