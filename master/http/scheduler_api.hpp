// The Mesos v1 scheduler HTTP API: POST /api/v1/scheduler (Apache Mesos,
// docs/scheduler-http-api.md), a second front door onto the master's books.
//
// A SUBSCRIBE opens a stream: the response stays open, chunked, carrying
// RecordIO-framed events (JSON or protobuf, as the request's Accept asks),
// and its Mesos-Stream-Id names it. The subscription is a peer of the master
// like a ZeroMQ connection, named "\0http/<stream id>" (no ZeroMQ identity
// can be: see isHttpPeer): each call is turned into the wire message the
// SDK would send and handed to the master's router, so it meets the same
// validation, allocator, task book and events; each message the master
// sends that peer is turned into Mesos events on its stream.
//
// Every other call names the framework and carries the stream id in a
// header, and is answered 202 once handed over (results come as events;
// UPDATE_FRAMEWORK alone is answered 200 once applied and on disk),
// or 4xx as Mesos answers: 400 for a malformed or invalid call or a wrong
// stream id, 403 for a framework not subscribed over HTTP, 415 and 406 for
// encodings other than JSON and protobuf. A closed stream disconnects its
// framework, whose failover timeout then runs. Loop thread only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/http_server.hpp"
#include "common/loop.hpp"
#include "common/wire.hpp"

namespace google::protobuf {
class Message;
}
namespace mesos::v1::scheduler {
class Call;
class Event;
}

namespace clusternodes::master {

class Master;

// Whether `peer` names an HTTP scheduler's subscription rather than a
// ZeroMQ connection. ZeroMQ's own identities are 5 bytes starting with a
// zero byte, and those a client picks cannot start with one.
bool isHttpPeer(std::string_view peer);

// The wire envelope a call means, as the SDK's driver would send it for
// its framework; kInvalid (answered 400) for what does not convert or, for
// a SUBSCRIBE, a FrameworkInfo the master's checks refuse, and
// kUnavailable (501) for a call Clusternodes does not take.
Result<std::string> wireCall(const ::mesos::v1::scheduler::Call& call);

class SchedulerApi {
 public:
  SchedulerApi(Loop& loop, Master& master);
  // Closes every stream (their frameworks are not told: the master is going).
  ~SchedulerApi();
  SchedulerApi(const SchedulerApi&) = delete;
  SchedulerApi& operator=(const SchedulerApi&) = delete;

  // POST /api/v1/scheduler.
  HttpResponse handle(const HttpRequest& request);

  // A wire envelope the master sends to `peer` (isHttpPeer), written to its
  // stream as the Mesos events it means. False when no stream is open there.
  bool send(std::string_view peer, std::string_view bytes);

  // Open subscriptions.
  size_t streams() const { return subscriptions_.size(); }
  // Calls answered 4xx or 5xx, and events written.
  uint64_t refusedCalls() const { return refusedCalls_; }
  uint64_t eventsSent() const { return eventsSent_; }

  struct Subscription;

 private:
  // SUBSCRIBE: the stream, and the call handed to the master once it is open.
  HttpResponse subscribe(const HttpRequest& request, const ::mesos::v1::scheduler::Call& call);
  // SUBSCRIBED: the event, and the end of the framework's older stream.
  void subscribed(Subscription& subscription, wire::Subscribed::Reader subscribed, ::mesos::v1::scheduler::Event& event);
  // UPDATE_FRAMEWORK: answered once applied and on disk (200), or refused.
  HttpResponse updateFramework(Subscription& subscription, const ::mesos::v1::scheduler::Call& call);
  HttpResponse refuse(int status, const std::string& message);
  // Ends a subscription from this side: the stream is closed, its
  // framework's connection is not reported lost.
  void close(const std::string& peer);
  // One event in the subscription's encoding.
  static std::string encode(const Subscription& subscription, const google::protobuf::Message& event);
  void write(Subscription& subscription, const std::string& event);

  Loop& loop_;
  Master& master_;
  std::map<std::string, std::unique_ptr<Subscription>, std::less<>> subscriptions_;  // by peer
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for what it posts to the loop
  uint64_t refusedCalls_ = 0;
  uint64_t eventsSent_ = 0;
};

}  // namespace clusternodes::master
