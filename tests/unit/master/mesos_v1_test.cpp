// The Mesos v1 API's JSON form (master/http/v1/json.hpp) and its mapping
// onto Clusternodes's values (master/http/v1/convert.hpp).
#include <doctest/doctest.h>

#include <random>
#include <string>

#include "master/http/v1/convert.hpp"
#include "master/http/v1/json.hpp"
#include "master/http/v1/scheduler.pb.h"

using namespace clusternodes;
using namespace clusternodes::master;
namespace mv1 = ::mesos::v1;
using Json = nlohmann::json;

namespace {

mv1::scheduler::Call callFrom(const std::string& text) {
  mv1::scheduler::Call call;
  auto read = v1::fromJson(Json::parse(text), call);
  REQUIRE_MESSAGE(read.ok(), (read.ok() ? "" : read.error().message));
  return call;
}

std::string errorOf(const std::string& text) {
  mv1::scheduler::Call call;
  auto read = v1::fromJson(Json::parse(text), call);
  REQUIRE_FALSE(read.ok());
  return read.error().message;
}

}  // namespace

TEST_CASE("Mesos JSON: written as Mesos writes it") {
  mv1::scheduler::Event event;
  event.set_type(mv1::scheduler::Event::UPDATE);
  auto* status = event.mutable_update()->mutable_status();
  status->mutable_task_id()->set_value("t1");
  status->set_state(mv1::TASK_RUNNING);
  status->set_uuid(std::string("\x00\xff\x10", 3));
  status->set_reason(mv1::TaskStatus::REASON_RECONCILIATION);
  auto j = Json::parse(v1::toJson(event).dump());
  CHECK(j["type"] == "UPDATE");                                  // enums by name
  CHECK(j["update"]["status"]["task_id"]["value"] == "t1");      // snake_case names
  CHECK(j["update"]["status"]["uuid"] == "AP8Q");                // bytes in base64
  CHECK(j["update"]["status"]["reason"] == "REASON_RECONCILIATION");
  CHECK_FALSE(j["update"]["status"].contains("message"));         // unset, no default: left out

  mv1::Offer offer;
  auto* ports = offer.add_resources();
  ports->set_name("ports");
  ports->set_type(mv1::Value::RANGES);
  auto* range = ports->mutable_ranges()->add_range();
  range->set_begin(31000);
  range->set_end(32000);
  auto o = Json::parse(v1::toJson(offer).dump());
  CHECK(o["resources"][0]["ranges"]["range"][0]["begin"].is_number());  // 64-bit integers as numbers
  CHECK(o["resources"][0]["ranges"]["range"][0]["end"] == 32000);
  CHECK_FALSE(o["resources"][0].contains("role"));  // a deprecated default is not written

  mv1::Filters filters;
  CHECK(Json::parse(v1::toJson(filters).dump())["refuse_seconds"] == 5.0);  // a declared default is
}

TEST_CASE("Mesos JSON: read as Mesos reads it") {
  auto call = callFrom(R"({"type": "DECLINE", "framework_id": {"value": "f"}, "no_such_field": [1, 2],
                           "decline": {"offer_ids": [{"value": "o1"}, {"value": "o2"}],
                                       "filters": {"refuse_seconds": "2.5"}},
                           "accept": null})");
  CHECK(call.type() == mv1::scheduler::Call::DECLINE);
  CHECK(call.decline().offer_ids_size() == 2);
  CHECK(call.decline().filters().refuse_seconds() == 2.5);  // a number in a string
  CHECK_FALSE(call.has_accept());                            // null: unset

  auto kill = callFrom(R"({"type": "KILL", "kill": {"task_id": {"value": "t"},
                                                    "kill_policy": {"grace_period": {"nanoseconds": 3000000000}}}})");
  CHECK(kill.kill().kill_policy().grace_period().nanoseconds() == 3000000000);
  CHECK(v1::gracePeriodSeconds(kill.kill().kill_policy()) == doctest::Approx(3.0));

  // An unknown name leaves an optional enum unset (proto2).
  CHECK_FALSE(callFrom(R"({"type": "NOT_A_CALL"})").has_type());
}

TEST_CASE("Mesos JSON: what cannot be read is refused, naming the field") {
  CHECK(errorOf(R"({"type": 7.5})").find("type") != std::string::npos);
  CHECK(errorOf(R"({"decline": {"offer_ids": {"value": "x"}}})").find("offer_ids") != std::string::npos);
  CHECK(errorOf(R"({"acknowledge": {"uuid": "***", "agent_id": {"value": "a"}, "task_id": {"value": "t"}}})")
            .find("base64") != std::string::npos);
  CHECK(errorOf(R"({"kill": {}})").find("missing required fields") != std::string::npos);
  CHECK(errorOf(R"({"kill": {"task_id": {"value": "t"}, "kill_policy": {"grace_period": {"nanoseconds": 1e30}}}})")
            .find("out of range") != std::string::npos);
  CHECK(errorOf(R"({"subscribe": {"framework_info": {"user": "u", "name": "n", "roles": "r"}}})")
            .find("array") != std::string::npos);

  // Nesting without end is refused, not recursed into.
  mv1::ContainerID id;
  std::string deep = R"({"value": "x")";
  for (int i = 0; i < 200; ++i) deep += R"(, "parent": {"value": "x")";
  deep += std::string(201, '}');
  auto read = v1::fromJson(Json::parse(deep), id);
  REQUIRE_FALSE(read.ok());
  CHECK(read.error().message.find("nested") != std::string::npos);
}

TEST_CASE("base64: round trips any bytes, refuses what is not base64") {
  std::mt19937 random(7);
  for (size_t size = 0; size < 64; ++size) {
    std::string bytes(size, '\0');
    for (auto& b : bytes) b = static_cast<char>(random());
    auto decoded = v1::base64Decode(v1::base64Encode(bytes));
    REQUIRE(decoded.ok());
    CHECK(*decoded == bytes);
  }
  CHECK(v1::base64Encode("Man") == "TWFu");
  CHECK(v1::base64Encode("Ma") == "TWE=");
  CHECK(*v1::base64Decode("TWE") == "Ma");  // padding may be left out
  CHECK_FALSE(v1::base64Decode("T").ok());
  CHECK_FALSE(v1::base64Decode("TW!u").ok());
}

TEST_CASE("Mesos v1 to Clusternodes: a task with a Docker container, a kill policy and reserved resources") {
  auto call = callFrom(R"({"type": "ACCEPT", "accept": {"operations": [{"type": "LAUNCH", "launch": {"task_infos": [{
      "name": "web", "task_id": {"value": "web-1"}, "agent_id": {"value": "a1"},
      "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}, "allocation_info": {"role": "web"},
                     "reservations": [{"type": "DYNAMIC", "role": "web"}]},
                    {"name": "mem", "type": "SCALAR", "scalar": {"value": 64}, "role": "old-style"},
                    {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 31001}]}}],
      "command": {"value": "httpd", "environment": {"variables": [{"name": "A", "value": "1"}]}},
      "container": {"type": "DOCKER", "docker": {"image": "busybox", "network": "BRIDGE",
                    "port_mappings": [{"host_port": 31000, "container_port": 80}]}},
      "kill_policy": {"grace_period": {"nanoseconds": 1500000000}}}]}}]}})");
  auto task = v1::fromV1(call.accept().operations(0).launch().task_infos(0));
  REQUIRE_MESSAGE(task.ok(), (task.ok() ? "" : task.error().message));
  CHECK(task->taskId.value == "web-1");
  CHECK(task->resources.scalar("cpus", "web") == doctest::Approx(0.5));  // the reservation's role, not allocation_info's
  CHECK(task->resources.scalar("mem", "old-style") == doctest::Approx(64));
  CHECK(task->resources.ranges("ports").size() == 2);
  CHECK(task->command.shell);  // CommandInfo.shell defaults to true
  CHECK(task->command.environment.at("A") == "1");
  REQUIRE(task->docker.has_value());
  CHECK(task->docker->image == "busybox");
  CHECK(task->docker->portMappings.at(0).containerPort == 80);
  CHECK(task->killGracePeriodSeconds == doctest::Approx(1.5));
}

TEST_CASE("Mesos v1 to Clusternodes: what Clusternodes does not do is refused with the field named") {
  auto refusal = [](const std::string& taskJson) {
    auto call = callFrom(R"({"type": "ACCEPT", "accept": {"operations": [{"type": "LAUNCH", "launch": {"task_infos": [)" +
                         taskJson + "]}}]}}");
    auto task = v1::fromV1(call.accept().operations(0).launch().task_infos(0));
    REQUIRE_FALSE(task.ok());
    return task.error().message;
  };
  const std::string head = R"({"name": "t", "task_id": {"value": "t"}, "agent_id": {"value": "a"}, )";
  CHECK(refusal(head + R"("command": {"value": "x", "uris": [{"value": "http://h/f"}]}})").find("uris") !=
        std::string::npos);
  CHECK(refusal(head + R"("resources": [{"name": "disks", "type": "SET", "set": {"item": ["a"]}}]})")
            .find("SET") != std::string::npos);
  CHECK(refusal(head + R"("container": {"type": "MESOS", "mesos": {"image": {"type": "DOCKER",
                                                                   "docker": {"name": "busybox"}}}}})")
            .find("container.mesos.image") != std::string::npos);
  CHECK(refusal(head + R"("container": {"type": "DOCKER", "docker": {"image": "b", "privileged": true}}})")
            .find("privileged") != std::string::npos);
  // A MESOS container without an image is an ordinary native task.
  auto call = callFrom(R"({"type": "ACCEPT", "accept": {"operations": [{"type": "LAUNCH", "launch": {"task_infos": [)" +
                       head + R"("command": {"value": "true"}, "container": {"type": "MESOS"}}]}}]}})");
  auto native = v1::fromV1(call.accept().operations(0).launch().task_infos(0));
  REQUIRE(native.ok());
  CHECK_FALSE(native->docker.has_value());
}

TEST_CASE("Clusternodes to Mesos v1: offers in the framework's dialect, statuses with Mesos's reasons") {
  Offer offer;
  offer.id = OfferID{"o"};
  offer.frameworkId = FrameworkID{"f"};
  offer.agentId = AgentID{"a"};
  offer.hostname = "h";
  offer.allocationRole = "web";
  offer.resources.addScalar("cpus", 2, "web").addScalar("mem", 128);
  offer.attributes = {{"rack", "r1"}, {"level", "5"}};

  mv1::Offer plain;
  v1::toV1(offer, v1::Dialect{}, &plain);
  CHECK_FALSE(plain.has_allocation_info());
  auto j = Json::parse(v1::toJson(plain).dump());
  bool sawReserved = false;
  for (const auto& r : j["resources"]) {
    CHECK_FALSE(r.contains("allocation_info"));
    if (r["name"] == "cpus") {
      sawReserved = true;
      CHECK(r["role"] == "web");  // pre-refinement: role and reservation
      CHECK(r.contains("reservation"));
    }
  }
  CHECK(sawReserved);
  CHECK(j["attributes"][0]["text"]["value"] == "r1");
  CHECK(j["attributes"][1]["scalar"]["value"] == 5);

  mv1::Offer refined;
  v1::toV1(offer, v1::Dialect{true, true, false}, &refined);
  CHECK(refined.allocation_info().role() == "web");
  for (const auto& r : refined.resources()) {
    CHECK(r.allocation_info().role() == "web");
    if (r.name() == "cpus") {
      REQUIRE(r.reservations_size() == 1);
      CHECK(r.reservations(0).role() == "web");
      CHECK(r.reservations(0).type() == mv1::Resource::ReservationInfo::DYNAMIC);
    } else {
      CHECK(r.reservations_size() == 0);
    }
  }

  TaskStatus status;
  status.taskId = TaskID{"t"};
  status.state = TaskState::kLost;
  status.reason = TaskReason::kAgentUnreachable;
  status.source = TaskSource::kMaster;
  mv1::TaskStatus out;
  v1::toV1(status, &out);
  CHECK(out.state() == mv1::TASK_LOST);
  CHECK(out.reason() == mv1::TaskStatus::REASON_AGENT_REMOVED);
  CHECK_FALSE(out.has_uuid());  // nothing to acknowledge
  CHECK_FALSE(v1::toV1(TaskReason::kCommandExited).has_value());
  CHECK(v1::toV1(TaskReason::kMemoryLimit) == mv1::TaskStatus::REASON_CONTAINER_LIMITATION_MEMORY);
}
