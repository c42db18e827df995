// Between the Mesos v1 API's messages (master/http/v1/*.proto) and
// Clusternodes's own values (clusternodes/values.hpp): what the HTTP
// scheduler API reads from calls and writes into events. Pure functions.
//
// What does not map is refused with a reason naming the field, rather than
// dropped: a framework that asks for the fetcher, a Mesos containerizer
// image or SET resources learns at once that Clusternodes does not do it
// (docs/mesos-compatibility.md lists each).
#pragma once

#include <optional>
#include <string>

#include <google/protobuf/repeated_field.h>

#include "clusternodes/result.hpp"
#include "clusternodes/values.hpp"
#include "master/http/v1/mesos.pb.h"

namespace clusternodes::master::v1 {

namespace mesos = ::mesos::v1;
template <typename T>
using Repeated = google::protobuf::RepeatedPtrField<T>;

// How a framework wants resources written, from its FrameworkInfo's
// capabilities: MULTI_ROLE frameworks get `allocation_info` on offers and
// their resources; RESERVATION_REFINEMENT ones get reservations as the
// `reservations` stack, others as the older `role` and `reservation`.
struct Dialect {
  bool multiRole = false;
  bool reservationRefinement = false;
  bool partitionAware = false;
};
Dialect dialectOf(const mesos::FrameworkInfo& info);

// ---- from calls
Result<FrameworkInfo> fromV1(const mesos::FrameworkInfo& info);
// Resources as a call names them (reservations in either form; a role in
// `allocation_info` is not a reservation).
Result<Resources> fromV1(const Repeated<mesos::Resource>& resources, const std::string& field);
Result<CommandInfo> fromV1(const mesos::CommandInfo& command, const std::string& field);
Result<ExecutorInfo> fromV1(const mesos::ExecutorInfo& executor, const std::string& field);
Result<TaskInfo> fromV1(const mesos::TaskInfo& task);
// A kill policy's grace period in seconds.
std::optional<double> gracePeriodSeconds(const mesos::KillPolicy& policy);

// ---- into events
// `allocationRole`: the role the resources are allocated to ("" for none).
void toV1(const Resources& resources, const Dialect& dialect, const std::string& allocationRole,
          Repeated<mesos::Resource>* out);
void toV1(const Offer& offer, const Dialect& dialect, mesos::Offer* out);
void toV1(const TaskStatus& status, mesos::TaskStatus* out);
mesos::TaskState toV1(TaskState state);
// The nearest Mesos reason; none for ours that Mesos reports without one
// (a command that exited, a task killed by its framework).
std::optional<mesos::TaskStatus::Reason> toV1(TaskReason reason);
// An attribute's value as Mesos types it: a number is SCALAR, else TEXT.
void toV1(const Attribute& attribute, mesos::Attribute* out);

}  // namespace clusternodes::master::v1
