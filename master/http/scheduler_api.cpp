#include "master/http/scheduler_api.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>

#include <capnp/message.h>
#include <spdlog/spdlog.h>

#include "common/http_format.hpp"
#include "common/recordio.hpp"
#include "common/transport.hpp"
#include "common/wire.hpp"
#include "master/http/endpoints.hpp"
#include "master/http/operator_api.hpp"
#include "master/http/v1/convert.hpp"
#include "master/http/v1/http_body.hpp"
#include "master/http/v1/json.hpp"
#include "master/http/v1/scheduler.pb.h"
#include "master/master.hpp"
#include "master/validation.hpp"

namespace clusternodes::master {

namespace mesos = ::mesos::v1;
using V1Call = mesos::scheduler::Call;
using V1Event = mesos::scheduler::Event;
using wire::text;

namespace {

constexpr std::string_view kHttpPeerPrefix{"\0http/", 6};

std::string peerOf(const std::string& streamId) { return std::string(kHttpPeerPrefix) + streamId; }

// Mesos's checks of a call before it is acted on (the message follows
// "Failed to validate scheduler::Call: ").
std::optional<std::string> validateCall(const V1Call& call) {
  if (!call.has_type()) return "Expecting 'type' to be present";
  auto needs = [&](bool present, const char* field) -> std::optional<std::string> {
    if (present) return std::nullopt;
    return std::string("Expecting '") + field + "' to be present";
  };
  if (call.type() == V1Call::SUBSCRIBE) {
    if (!call.has_subscribe()) return "Expecting 'subscribe' to be present";
    const auto& info = call.subscribe().framework_info();
    if (call.has_framework_id() != info.has_id() ||
        (call.has_framework_id() && call.framework_id().value() != info.id().value())) {
      return "'framework_id' differs from 'subscribe.framework_info.id'";
    }
    return std::nullopt;
  }
  if (!call.has_framework_id()) return "Expecting 'framework_id' to be present";
  switch (call.type()) {
    case V1Call::ACCEPT: return needs(call.has_accept(), "accept");
    case V1Call::DECLINE: return needs(call.has_decline(), "decline");
    case V1Call::KILL: return needs(call.has_kill(), "kill");
    case V1Call::SHUTDOWN: return needs(call.has_shutdown(), "shutdown");
    case V1Call::ACKNOWLEDGE: return needs(call.has_acknowledge(), "acknowledge");
    case V1Call::RECONCILE: return needs(call.has_reconcile(), "reconcile");
    case V1Call::MESSAGE: return needs(call.has_message(), "message");
    case V1Call::UPDATE_FRAMEWORK:
      if (!call.has_update_framework()) return "Expecting 'update_framework' to be present";
      if (call.update_framework().framework_info().id().value() != call.framework_id().value()) {
        return "'framework_id' differs from 'update_framework.framework_info.id'";
      }
      return std::nullopt;
    default: return std::nullopt;
  }
}

void setRoles(const google::protobuf::RepeatedPtrField<std::string>& roles, capnp::List<capnp::Text>::Builder out) {
  for (int i = 0; i < roles.size(); ++i) out.set(static_cast<unsigned>(i), roles.Get(i));
}

// An ACCEPT's offers and operations (LAUNCH, RESERVE, UNRESERVE) on the wire.
Result<void> acceptToWire(const V1Call::Accept& accept, const std::string& framework, wire::Accept::Builder out) {
  out.setFrameworkId(framework);
  auto ids = out.initOfferIds(static_cast<unsigned>(accept.offer_ids_size()));
  for (int i = 0; i < accept.offer_ids_size(); ++i) ids.set(static_cast<unsigned>(i), accept.offer_ids(i).value());
  auto operations = out.initOperations(static_cast<unsigned>(accept.operations_size()));
  for (int i = 0; i < accept.operations_size(); ++i) {
    const auto& op = accept.operations(i);
    auto into = operations[static_cast<unsigned>(i)];
    std::string at = "accept.operations[" + std::to_string(i) + "]";
    switch (op.type()) {
      case mesos::Offer::Operation::LAUNCH: {
        auto tasks = into.initLaunch(static_cast<unsigned>(op.launch().task_infos_size()));
        for (int t = 0; t < op.launch().task_infos_size(); ++t) {
          auto task = v1::fromV1(op.launch().task_infos(t));
          if (!task) return task.error();
          wire::toWire(*task, tasks[static_cast<unsigned>(t)]);
        }
        break;
      }
      case mesos::Offer::Operation::RESERVE:
      case mesos::Offer::Operation::UNRESERVE: {
        bool reserve = op.type() == mesos::Offer::Operation::RESERVE;
        auto resources = v1::fromV1(reserve ? op.reserve().resources() : op.unreserve().resources(), at);
        if (!resources) return resources.error();
        wire::setResources(*resources, [&](unsigned n) { return reserve ? into.initReserve(n) : into.initUnreserve(n); });
        break;
      }
      default:
        return invalid(at + ": " + mesos::Offer::Operation::Type_Name(op.type()) + " is not supported by Clusternodes");
    }
  }
  out.setRefuseSeconds(accept.filters().refuse_seconds());
  return {};
}

}  // namespace

Result<std::string> wireCall(const V1Call& call) {
  capnp::MallocMessageBuilder message;
  auto envelope = message.initRoot<wire::Envelope>();
  const std::string& framework = call.framework_id().value();
  switch (call.type()) {
    case V1Call::SUBSCRIBE: {
      auto info = v1::fromV1(call.subscribe().framework_info());
      if (!info) return info.error();
      // Refused before the stream opens, as Mesos answers an invalid one.
      if (auto valid = validateFrameworkInfo(*info); !valid) return valid.error();
      auto subscribe = envelope.initSubscribe();
      wire::toWire(*info, subscribe.initInfo());
      setRoles(call.subscribe().suppressed_roles(), subscribe.initSuppressedRoles(
                                                        static_cast<unsigned>(call.subscribe().suppressed_roles_size())));
      break;
    }
    case V1Call::TEARDOWN: envelope.initTeardown().setFrameworkId(framework); break;
    case V1Call::ACCEPT:
      if (auto accept = acceptToWire(call.accept(), framework, envelope.initAccept()); !accept) return accept.error();
      break;
    case V1Call::DECLINE: {
      const auto& decline = call.decline();
      auto out = envelope.initDecline();
      out.setFrameworkId(framework);
      auto ids = out.initOfferIds(static_cast<unsigned>(decline.offer_ids_size()));
      for (int i = 0; i < decline.offer_ids_size(); ++i) ids.set(static_cast<unsigned>(i), decline.offer_ids(i).value());
      out.setRefuseSeconds(decline.filters().refuse_seconds());
      break;
    }
    case V1Call::REVIVE: {
      auto out = envelope.initRevive();
      out.setFrameworkId(framework);
      setRoles(call.revive().roles(), out.initRoles(static_cast<unsigned>(call.revive().roles_size())));
      break;
    }
    case V1Call::SUPPRESS: {
      auto out = envelope.initSuppress();
      out.setFrameworkId(framework);
      setRoles(call.suppress().roles(), out.initRoles(static_cast<unsigned>(call.suppress().roles_size())));
      break;
    }
    case V1Call::SHUTDOWN: {
      auto out = envelope.initKillExecutor();
      out.setFrameworkId(framework);
      out.setExecutorId(call.shutdown().executor_id().value());
      out.setAgentId(call.shutdown().agent_id().value());
      break;
    }
    case V1Call::KILL: {
      const auto& kill = call.kill();
      auto out = envelope.initKill();
      out.setFrameworkId(framework);
      out.setTaskId(kill.task_id().value());
      out.setAgentId(kill.agent_id().value());
      auto grace = v1::gracePeriodSeconds(kill.kill_policy());
      if (grace && (!std::isfinite(*grace) || *grace < 0 || *grace > kMaxKillGracePeriodSeconds)) {
        return invalid("kill.kill_policy.grace_period must be between 0 and a week");
      }
      out.setKillGracePeriodMs(grace ? static_cast<int64_t>(*grace * 1000) : -1);
      break;
    }
    case V1Call::ACKNOWLEDGE: {
      const auto& ack = call.acknowledge();
      auto out = envelope.initAcknowledge();
      out.setFrameworkId(framework);
      out.setAgentId(ack.agent_id().value());
      out.setTaskId(ack.task_id().value());
      out.setUuid(ack.uuid());
      break;
    }
    case V1Call::RECONCILE: {
      const auto& reconcile = call.reconcile();
      auto out = envelope.initReconcile();
      out.setFrameworkId(framework);
      auto tasks = out.initTasks(static_cast<unsigned>(reconcile.tasks_size()));
      for (int i = 0; i < reconcile.tasks_size(); ++i) {
        tasks[static_cast<unsigned>(i)].setTaskId(reconcile.tasks(i).task_id().value());
        tasks[static_cast<unsigned>(i)].setAgentId(reconcile.tasks(i).agent_id().value());
      }
      break;
    }
    case V1Call::MESSAGE: {
      const auto& m = call.message();
      auto out = envelope.initFrameworkMessage();
      out.setFrameworkId(framework);
      out.setExecutorId(m.executor_id().value());
      out.setAgentId(m.agent_id().value());
      out.setData(wire::data(m.data()));
      break;
    }
    default: return Error{ErrorCode::kUnavailable, V1Call::Type_Name(call.type()) + " is not supported by Clusternodes"};
  }
  return wire::encode(message);
}

bool isHttpPeer(std::string_view peer) { return peer.size() > kHttpPeerPrefix.size() && peer.substr(0, 6) == kHttpPeerPrefix; }

struct SchedulerApi::Subscription {
  std::string streamId;
  std::string peer;
  std::string principal;  // its bearer token's; "" when anonymous
  FrameworkID frameworkId;  // once SUBSCRIBED
  bool protobuf = false;  // events in protobuf, else JSON
  v1::Dialect dialect;
  std::shared_ptr<HttpStream> stream;
};

SchedulerApi::SchedulerApi(Loop& loop, Master& master) : loop_(loop), master_(master) {}

SchedulerApi::~SchedulerApi() {
  for (auto& [peer, subscription] : subscriptions_) subscription->stream->close();
}

HttpResponse SchedulerApi::refuse(int status, const std::string& message) {
  ++refusedCalls_;
  return HttpResponse::text(status, message);
}

HttpResponse SchedulerApi::subscribe(const HttpRequest& request, const V1Call& call) {
  auto encoding = v1::answerInProtobuf(request);
  if (const auto* refusal = std::get_if<v1::Refusal>(&encoding)) return refuse(refusal->status, refusal->message);
  bool protobufOut = std::get<bool>(encoding);
  if (request.headers.count("mesos-stream-id") != 0) {
    return refuse(400, "Subscribe calls should not include the 'Mesos-Stream-Id' header");
  }
  auto envelope = wireCall(call);
  if (!envelope) return refuse(400, "Failed to validate scheduler::Call: " + envelope.error().message);
  HttpResponse response;
  response.contentType = protobufOut ? v1::kProtobufType : v1::kJsonType;
  std::string streamId = randomUuid();
  response.headers["Mesos-Stream-Id"] = streamId;
  auto subscription = std::make_unique<Subscription>();
  subscription->streamId = streamId;
  subscription->peer = peerOf(streamId);
  subscription->principal = request.principal;
  subscription->protobuf = protobufOut;
  subscription->dialect = v1::dialectOf(call.subscribe().framework_info());
  response.stream = [this, subscription = std::shared_ptr<Subscription>(std::move(subscription)),
                     bytes = std::move(*envelope)](std::shared_ptr<HttpStream> stream) mutable {
    std::string peer = subscription->peer;
    std::string principal = subscription->principal;
    subscription->stream = stream;
    stream->onEnd([this, peer] {
      subscriptions_.erase(peer);
      master_.httpSchedulerGone(peer);
    });
    subscriptions_.emplace(peer, std::make_unique<Subscription>(std::move(*subscription)));
    master_.fromHttpScheduler(peer, principal, bytes);
  };
  return response;
}

HttpResponse SchedulerApi::handle(const HttpRequest& request) {
  if (!master_.leading()) return redirectToLeader(master_, request);
  V1Call call;
  if (auto refusal = v1::readCall(request, call)) return refuse(refusal->status, refusal->message);
  if (auto invalidCall = validateCall(call)) return refuse(400, "Failed to validate scheduler::Call: " + *invalidCall);

  if (call.type() == V1Call::SUBSCRIBE) return subscribe(request, call);

  // Mesos's order: the framework, then its connection, then the stream id.
  const auto& frameworks = master_.state().frameworks;
  auto framework = frameworks.find(FrameworkID{call.framework_id().value()});
  if (framework == frameworks.end()) return refuse(400, "Framework cannot be found");
  if (!framework->second.connected) return refuse(403, "Framework is not subscribed");
  auto subscription = subscriptions_.find(framework->second.peer);
  if (subscription == subscriptions_.end()) return refuse(403, "Framework is not connected via HTTP");
  auto streamHeader = request.headers.find("mesos-stream-id");
  if (streamHeader == request.headers.end()) {
    return refuse(400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header");
  }
  if (streamHeader->second != subscription->second->streamId) {
    return refuse(400, "The stream ID '" + streamHeader->second +
                           "' included in this request didn't match the stream ID currently associated with "
                           "framework ID " + framework->first.value);
  }
  std::string peer = subscription->first;
  if (call.type() == V1Call::REVIVE || call.type() == V1Call::SUPPRESS) {
    const auto& roles = call.type() == V1Call::REVIVE ? call.revive().roles() : call.suppress().roles();
    auto own = subscribedRoles(framework->second.info);
    for (const auto& role : roles) {
      if (std::find(own.begin(), own.end(), role) == own.end()) {
        // Mesos accepts the call and ignores it whole.
        spdlog::warn("framework {}: ignoring {} of role '{}', which is not one of its roles", framework->first.value,
                     V1Call::Type_Name(call.type()), role);
        return HttpResponse::text(202, "");
      }
    }
  }
  if (call.type() == V1Call::UPDATE_FRAMEWORK) return updateFramework(*subscription->second, call);
  if (call.type() == V1Call::REQUEST || call.type() == V1Call::ACCEPT_INVERSE_OFFERS ||
      call.type() == V1Call::DECLINE_INVERSE_OFFERS) {
    return HttpResponse::text(202, "");  // no inverse offers are ever made; REQUEST was never acted on
  }
  auto envelope = wireCall(call);
  if (!envelope) {
    if (envelope.error().code == ErrorCode::kUnavailable) return refuse(501, envelope.error().message);
    return refuse(400, "Failed to validate scheduler::Call: " + envelope.error().message);
  }
  master_.fromHttpScheduler(peer, subscription->second->principal, *envelope);
  // TEARDOWN removed the framework: its connections close.
  if (call.type() == V1Call::TEARDOWN && master_.state().frameworks.count(framework->first) == 0) close(peer);
  return HttpResponse::text(202, "");
}

HttpResponse SchedulerApi::updateFramework(Subscription& subscription, const V1Call& call) {
  const auto& update = call.update_framework();
  auto info = v1::fromV1(update.framework_info());
  if (!info) return refuse(400, "Failed to validate scheduler::Call: " + info.error().message);
  std::set<std::string> suppressed(update.suppressed_roles().begin(), update.suppressed_roles().end());
  auto done = master_.updateFramework(FrameworkID{call.framework_id().value()}, std::move(*info), suppressed);
  if (!done) {
    switch (done.error().code) {
      case ErrorCode::kDenied: return refuse(403, done.error().message);
      case ErrorCode::kInternal: return refuse(503, done.error().message);
      default: return refuse(400, "Failed to validate scheduler::Call: " + done.error().message);
    }
  }
  // Its events follow what the new FrameworkInfo says it understands.
  subscription.dialect = v1::dialectOf(update.framework_info());
  return HttpResponse::text(200, "");
}

void SchedulerApi::close(const std::string& peer) {
  auto it = subscriptions_.find(peer);
  if (it == subscriptions_.end()) return;
  it->second->stream->close();
  subscriptions_.erase(it);
}

std::string SchedulerApi::encode(const Subscription& subscription, const google::protobuf::Message& event) {
  return v1::encodeMessage(event, subscription.protobuf);
}

void SchedulerApi::write(Subscription& subscription, const std::string& event) {
  if (subscription.stream->write(recordioEncode(event))) ++eventsSent_;
}

void SchedulerApi::subscribed(Subscription& s, wire::Subscribed::Reader subscribed, V1Event& event) {
  event.set_type(V1Event::SUBSCRIBED);
  auto* out = event.mutable_subscribed();
  out->mutable_framework_id()->set_value(text(subscribed.getFrameworkId()));
  out->set_heartbeat_interval_seconds(static_cast<double>(subscribed.getHeartbeatIntervalMs()) / 1000.0);
  masterInfoV1(master_, out->mutable_master_info());
  // A framework that failed over to this stream: its older stream ends.
  s.frameworkId = FrameworkID{text(subscribed.getFrameworkId())};
  std::vector<Subscription*> older;
  for (auto& [otherPeer, other] : subscriptions_) {
    if (otherPeer != s.peer && other->frameworkId == s.frameworkId) older.push_back(other.get());
  }
  for (auto* other : older) {
    V1Event failedOver;
    failedOver.set_type(V1Event::ERROR);
    failedOver.mutable_error()->set_message("Framework failed over");
    write(*other, encode(*other, failedOver));
    close(other->peer);
  }
}

bool SchedulerApi::send(std::string_view peer, std::string_view bytes) {
  auto it = subscriptions_.find(peer);
  if (it == subscriptions_.end()) return false;
  Subscription& s = *it->second;
  auto decoded = wire::decode(bytes);
  if (!decoded) return false;
  auto envelope = (*decoded)->envelope();
  V1Event event;
  bool closeAfter = false;
  try {
    switch (envelope.which()) {
      case wire::Envelope::SUBSCRIBED: subscribed(s, envelope.getSubscribed(), event); break;
      case wire::Envelope::RESOURCE_OFFERS: {
        event.set_type(V1Event::OFFERS);
        for (auto offer : envelope.getResourceOffers().getOffers()) {
          v1::toV1(wire::fromWire(offer), s.dialect, event.mutable_offers()->add_offers());
        }
        break;
      }
      case wire::Envelope::RESCIND_OFFER:
        event.set_type(V1Event::RESCIND);
        event.mutable_rescind()->mutable_offer_id()->set_value(text(envelope.getRescindOffer().getOfferId()));
        break;
      case wire::Envelope::STATUS_UPDATE:
        event.set_type(V1Event::UPDATE);
        v1::toV1(wire::fromWire(envelope.getStatusUpdate().getStatus()), event.mutable_update()->mutable_status());
        break;
      case wire::Envelope::FRAMEWORK_MESSAGE: {
        auto m = envelope.getFrameworkMessage();
        event.set_type(V1Event::MESSAGE);
        event.mutable_message()->mutable_agent_id()->set_value(text(m.getAgentId()));
        event.mutable_message()->mutable_executor_id()->set_value(text(m.getExecutorId()));
        event.mutable_message()->set_data(wire::bytes(m.getData()));
        break;
      }
      case wire::Envelope::AGENT_LOST:
        event.set_type(V1Event::FAILURE);
        event.mutable_failure()->mutable_agent_id()->set_value(text(envelope.getAgentLost().getAgentId()));
        break;
      case wire::Envelope::EXECUTOR_EXITED: {
        auto exited = envelope.getExecutorExited();
        event.set_type(V1Event::FAILURE);
        event.mutable_failure()->mutable_agent_id()->set_value(text(exited.getAgentId()));
        event.mutable_failure()->mutable_executor_id()->set_value(text(exited.getExecutorId()));
        event.mutable_failure()->set_status(exited.getStatus());
        break;
      }
      case wire::Envelope::HEARTBEAT: {
        event.set_type(V1Event::HEARTBEAT);
        // An open stream is a connected framework: its answer is the
        // stream itself, told to the master on the next turn (the master
        // is sending heartbeats to every framework now).
        loop_.post([this, alive = std::weak_ptr<bool>(alive_), peer = s.peer,
                    frameworkId = text(envelope.getHeartbeat().getFrameworkId())] {
          if (alive.expired()) return;
          auto open = subscriptions_.find(peer);
          if (open == subscriptions_.end()) return;
          capnp::MallocMessageBuilder message;
          message.initRoot<wire::Envelope>().initHeartbeat().setFrameworkId(frameworkId);
          master_.fromHttpScheduler(peer, open->second->principal, wire::encode(message));
        });
        break;
      }
      case wire::Envelope::FRAMEWORK_ERROR:
        event.set_type(V1Event::ERROR);
        event.mutable_error()->set_message(text(envelope.getFrameworkError().getMessage()));
        closeAfter = true;
        break;
      case wire::Envelope::REREGISTER:
        event.set_type(V1Event::ERROR);
        event.mutable_error()->set_message(text(envelope.getReregister().getReason()));
        closeAfter = true;
        break;
      case wire::Envelope::NOT_LEADER:
        event.set_type(V1Event::ERROR);
        event.mutable_error()->set_message("this master no longer leads; subscribe again with the leading master");
        closeAfter = true;
        break;
      default:
        // OperationRefused: Mesos reports a refused RESERVE only to
        // operations with an id (UPDATE_OPERATION_STATUS), which the HTTP
        // API does not take.
        spdlog::debug("HTTP scheduler stream {}: nothing to send for {}", s.streamId, wire::name(envelope.which()));
        return true;
    }
  } catch (const std::exception& e) {
    spdlog::warn("HTTP scheduler stream {}: cannot write {}: {}", s.streamId, wire::name(envelope.which()), e.what());
    return false;
  }
  write(s, encode(s, event));
  if (closeAfter) close(s.peer);
  return true;
}

}  // namespace clusternodes::master
