// The operator API's event stream: SUBSCRIBE on POST /api/v1 (Apache Mesos,
// docs/operator-http-api.md, "Events").
//
// The response stays open, chunked, carrying RecordIO-framed events in
// JSON or protobuf, as the call's Accept asks: first SUBSCRIBED, with the
// state as GET_STATE gives it and the heartbeat interval; then, as the
// books change (master/watcher.hpp), TASK_ADDED, TASK_UPDATED, AGENT_ADDED,
// AGENT_REMOVED, FRAMEWORK_ADDED, FRAMEWORK_UPDATED and FRAMEWORK_REMOVED,
// in the order they happened; and HEARTBEAT every kHeartbeatInterval. A
// client that leaves more than the server's stream queue unread is cut
// off (common/http_server.hpp) and subscribes again.
//
//   OperatorStreams streams(loop, master);   // the master's watcher
//   http.route(..., [&] { return streams.subscribe(protobuf); });
//
// Loop thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>

#include "common/clock.hpp"
#include "common/http_server.hpp"
#include "common/loop.hpp"
#include "master/watcher.hpp"

namespace mesos::v1::master {
class Event;
}

namespace clusternodes::master {

class Master;

class OperatorStreams : public StateWatcher {
 public:
  // Mesos's: 15 seconds, not configurable there either.
  static constexpr std::chrono::seconds kHeartbeatInterval{15};
  // Open streams at most; one more SUBSCRIBE is answered 503. Each holds a
  // connection and up to the server's stream queue of unread events, which
  // HTTP schedulers would otherwise compete with.
  static constexpr size_t kMaxStreams = 100;

  OperatorStreams(Loop& loop, const Master& master);
  // Closes every stream.
  ~OperatorStreams() override;
  OperatorStreams(const OperatorStreams&) = delete;
  OperatorStreams& operator=(const OperatorStreams&) = delete;

  // The SUBSCRIBE call's answer: a stream whose first event is SUBSCRIBED,
  // or 503 past kMaxStreams.
  HttpResponse subscribe(bool protobuf);

  size_t streams() const { return streams_.size(); }
  uint64_t eventsSent() const { return eventsSent_; }

  void taskAdded(const Task& task) override;
  void taskUpdated(const FrameworkID& framework, const TaskStatus& status) override;
  void agentAdded(const AgentEntry& agent) override;
  void agentRemoved(const AgentID& id) override;
  void frameworkAdded(const FrameworkEntry& framework) override;
  void frameworkUpdated(const FrameworkEntry& framework) override;
  void frameworkRemoved(const FrameworkEntry& framework) override;

 private:
  struct Stream {
    std::shared_ptr<HttpStream> http;
    bool protobuf = false;
  };
  // Writes `event` to every stream, encoded once per encoding in use.
  void broadcast(const ::mesos::v1::master::Event& event);
  void write(Stream& stream, const std::string& record);

  const Master& master_;
  std::map<uint64_t, Stream> streams_;  // by a number of their own
  uint64_t nextStream_ = 1;
  uint64_t eventsSent_ = 0;
  Timer heartbeat_;
};

}  // namespace clusternodes::master
