// The Mesos v1 operator HTTP API: POST /api/v1 (Apache Mesos,
// docs/operator-http-api.md), in JSON or protobuf, read from and written
// to the same state as /state and the operator endpoints under /api/v1/.
//
// Calls answered here: GET_HEALTH, GET_VERSION, GET_FLAGS, GET_MASTER,
// GET_STATE, GET_AGENTS, GET_FRAMEWORKS, GET_EXECUTORS, GET_TASKS,
// GET_ROLES, GET_WEIGHTS, UPDATE_WEIGHTS, GET_QUOTA and UPDATE_QUOTA (each
// change authorized by the ACLs as its principal, and on disk before the
// answer), and SUBSCRIBE (master/http/operator_stream.hpp). Others are
// 501. A standby redirects every call to the leader.
#pragma once

#include "common/http_server.hpp"
#include "master/http/v1/master.pb.h"
#include "master/state.hpp"

namespace clusternodes::master {

class Master;

// POST /api/v1.
HttpResponse handleOperatorCall(Master& master, const HttpRequest& request);

// The master as the v1 APIs describe it: id, address, hostname, version.
void masterInfoV1(const Master& master, ::mesos::v1::MasterInfo* out);

// The objects of GET_STATE and of the event stream, as Mesos shows them.
void getStateV1(const Master& master, ::mesos::v1::master::Response::GetState* out);
void taskV1(const Task& task, ::mesos::v1::Task* out);
void agentV1(const Master& master, const AgentEntry& agent, ::mesos::v1::master::Response::GetAgents::Agent* out);
void frameworkV1(const Master& master, const FrameworkEntry& framework,
                 ::mesos::v1::master::Response::GetFrameworks::Framework* out);
void frameworkInfoV1(const FrameworkInfo& info, const FrameworkID& id, ::mesos::v1::FrameworkInfo* out);

}  // namespace clusternodes::master
