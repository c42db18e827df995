#include "master/http/operator_stream.hpp"

#include <string>
#include <utility>

#include "common/recordio.hpp"
#include "master/http/operator_api.hpp"
#include "master/http/v1/convert.hpp"
#include "master/http/v1/http_body.hpp"
#include "master/http/v1/master.pb.h"
#include "master/master.hpp"

namespace clusternodes::master {
namespace {

using V1Event = ::mesos::v1::master::Event;

}  // namespace

OperatorStreams::OperatorStreams(Loop& loop, const Master& master) : master_(master), heartbeat_(loop) {
  heartbeat_.start(
      kHeartbeatInterval,
      [this] {
        if (streams_.empty()) return;
        V1Event event;
        event.set_type(V1Event::HEARTBEAT);
        broadcast(event);
      },
      kHeartbeatInterval);
}

OperatorStreams::~OperatorStreams() {
  for (auto& [id, stream] : streams_) stream.http->close();
}

HttpResponse OperatorStreams::subscribe(bool protobuf) {
  if (streams_.size() >= kMaxStreams) {
    return HttpResponse::text(503, "Maximum number of operator event streams (" + std::to_string(kMaxStreams) +
                                       ") reached");
  }
  HttpResponse response;
  response.contentType = protobuf ? v1::kProtobufType : v1::kJsonType;
  response.stream = [this, protobuf](std::shared_ptr<HttpStream> http) {
    uint64_t id = nextStream_++;
    http->onEnd([this, id] { streams_.erase(id); });
    auto& stream = streams_[id] = Stream{std::move(http), protobuf};
    // The snapshot and every change after it: both are taken on this loop
    // turn, so nothing falls between them.
    V1Event event;
    event.set_type(V1Event::SUBSCRIBED);
    auto* subscribed = event.mutable_subscribed();
    getStateV1(master_, subscribed->mutable_get_state());
    subscribed->set_heartbeat_interval_seconds(static_cast<double>(kHeartbeatInterval.count()));
    write(stream, v1::encodeMessage(event, protobuf));
  };
  return response;
}

void OperatorStreams::write(Stream& stream, const std::string& record) {
  // A failed write ends the stream; its end callback removes it later.
  if (stream.http->write(recordioEncode(record))) ++eventsSent_;
}

void OperatorStreams::broadcast(const V1Event& event) {
  std::string json;
  std::string protobuf;
  for (auto& [id, stream] : streams_) {
    if (!stream.http->open()) continue;
    auto& record = stream.protobuf ? protobuf : json;
    if (record.empty()) record = v1::encodeMessage(event, stream.protobuf);
    write(stream, record);
  }
}

void OperatorStreams::taskAdded(const Task& task) {
  if (streams_.empty()) return;
  V1Event event;
  event.set_type(V1Event::TASK_ADDED);
  taskV1(task, event.mutable_task_added()->mutable_task());
  broadcast(event);
}

void OperatorStreams::taskUpdated(const FrameworkID& framework, const TaskStatus& status) {
  if (streams_.empty()) return;
  V1Event event;
  event.set_type(V1Event::TASK_UPDATED);
  auto* updated = event.mutable_task_updated();
  updated->mutable_framework_id()->set_value(framework.value);
  v1::toV1(status, updated->mutable_status());
  updated->set_state(v1::toV1(status.state));
  broadcast(event);
}

void OperatorStreams::agentAdded(const AgentEntry& agent) {
  if (streams_.empty()) return;
  V1Event event;
  event.set_type(V1Event::AGENT_ADDED);
  agentV1(master_, agent, event.mutable_agent_added()->mutable_agent());
  broadcast(event);
}

void OperatorStreams::agentRemoved(const AgentID& id) {
  if (streams_.empty()) return;
  V1Event event;
  event.set_type(V1Event::AGENT_REMOVED);
  event.mutable_agent_removed()->mutable_agent_id()->set_value(id.value);
  broadcast(event);
}

void OperatorStreams::frameworkAdded(const FrameworkEntry& framework) {
  if (streams_.empty()) return;
  V1Event event;
  event.set_type(V1Event::FRAMEWORK_ADDED);
  frameworkV1(master_, framework, event.mutable_framework_added()->mutable_framework());
  broadcast(event);
}

void OperatorStreams::frameworkUpdated(const FrameworkEntry& framework) {
  if (streams_.empty()) return;
  V1Event event;
  event.set_type(V1Event::FRAMEWORK_UPDATED);
  frameworkV1(master_, framework, event.mutable_framework_updated()->mutable_framework());
  broadcast(event);
}

void OperatorStreams::frameworkRemoved(const FrameworkEntry& framework) {
  if (streams_.empty()) return;
  V1Event event;
  event.set_type(V1Event::FRAMEWORK_REMOVED);
  frameworkInfoV1(framework.info, framework.id, event.mutable_framework_removed()->mutable_framework_info());
  broadcast(event);
}

}  // namespace clusternodes::master
