// Fuzz target: the wire envelope's decoder and the conversions between its
// structs and the value types (common/wire.hpp).
//
// An input is one ZeroMQ message's bytes. What decode() accepts is read
// whole (its text form visits every field, through the same bounded reader
// a daemon's handler uses), and every value type in it is converted the way
// the daemons convert it. Cap'n Proto's errors and MalformedMessage are how
// hostile input is refused; anything else is a finding.
//
// One property is checked beyond "no crash": a value that fromWire()
// accepted converts back and forth to the same bytes. The first conversion
// may normalise (a "" role becomes "*"); after it, toWire() must write what
// fromWire() reads back unchanged, or a daemon that relays a message (the
// master relays tasks, statuses and offers) would change it, or refuse what
// it wrote itself.
#include <capnp/serialize.h>
#include <kj/exception.h>
#include <kj/string.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/wire.hpp"
#include "fuzz/harness/daemon.hpp"

using namespace clusternodes;

namespace {

// Words of `bytes` for a reader (decode() copies them the same way).
kj::Array<capnp::word> words(const std::string& bytes) {
  auto out = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  std::memcpy(out.begin(), bytes.data(), out.size() * sizeof(capnp::word));
  return out;
}

template <typename Struct, typename Value, typename Write>
std::string encodeValue(const Value& value, Write write) {
  capnp::MallocMessageBuilder message;
  write(value, message.initRoot<Struct>());
  return wire::encode(message);
}

// Converts `in` to its value and back twice; the two encodings must agree.
// `read` and `write` are the fromWire() and toWire() of Struct.
template <typename Struct, typename Read, typename Write>
void roundTrip(typename Struct::Reader in, const char* what, Read read, Write write) {
  auto value = read(in);  // may throw: refused
  std::string first = encodeValue<Struct>(value, write);
  auto firstWords = words(first);
  capnp::FlatArrayMessageReader reader(firstWords.asPtr());
  std::string second;
  try {
    second = encodeValue<Struct>(read(reader.getRoot<Struct>()), write);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: fromWire() refused what toWire() wrote: %s\n", what, e.what());
    std::abort();
  } catch (const kj::Exception& e) {
    std::fprintf(stderr, "%s: cannot read what toWire() wrote: %s\n", what, e.getDescription().cStr());
    std::abort();
  }
  if (first != second) {
    std::fprintf(stderr, "%s: toWire(fromWire()) is not stable: %zu bytes, then %zu different ones\n", what,
                 first.size(), second.size());
    std::abort();
  }
}

void taskInfo(wire::TaskInfo::Reader in) {
  roundTrip<wire::TaskInfo>(
      in, "TaskInfo", [](wire::TaskInfo::Reader r) { return wire::fromWire(r); },
      [](const TaskInfo& v, wire::TaskInfo::Builder b) { wire::toWire(v, b); });
}

void frameworkInfo(wire::FrameworkInfo::Reader in) {
  roundTrip<wire::FrameworkInfo>(
      in, "FrameworkInfo", [](wire::FrameworkInfo::Reader r) { return wire::fromWire(r); },
      [](const FrameworkInfo& v, wire::FrameworkInfo::Builder b) { wire::toWire(v, b); });
}

void executorInfo(wire::ExecutorInfo::Reader in) {
  roundTrip<wire::ExecutorInfo>(
      in, "ExecutorInfo", [](wire::ExecutorInfo::Reader r) { return wire::fromWire(r); },
      [](const ExecutorInfo& v, wire::ExecutorInfo::Builder b) { wire::toWire(v, b); });
}

void taskStatus(wire::TaskStatus::Reader in) {
  FrameworkID frameworkId{wire::text(in.getFrameworkId())};
  roundTrip<wire::TaskStatus>(
      in, "TaskStatus", [](wire::TaskStatus::Reader r) { return wire::fromWire(r); },
      [&](const TaskStatus& v, wire::TaskStatus::Builder b) { wire::toWire(v, frameworkId, b); });
}

void offer(wire::Offer::Reader in) {
  roundTrip<wire::Offer>(
      in, "Offer", [](wire::Offer::Reader r) { return wire::fromWire(r); },
      [](const Offer& v, wire::Offer::Builder b) { wire::toWire(v, b); });
}

void agentInfo(wire::AgentInfo::Reader in) {
  roundTrip<wire::AgentInfo>(
      in, "AgentInfo", [](wire::AgentInfo::Reader r) { return wire::fromWire(r); },
      [](const wire::AgentInfoValue& v, wire::AgentInfo::Builder b) { wire::toWire(v, b); });
}

void containerUsage(wire::ContainerUsage::Reader in) {
  roundTrip<wire::ContainerUsage>(
      in, "ContainerUsage", [](wire::ContainerUsage::Reader r) { return wire::fromWire(r); },
      [](const ContainerUsage& v, wire::ContainerUsage::Builder b) { wire::toWire(v, b); });
}

// Resources travel as a list inside other structs: an ExecutorInfo's holds
// nothing else that could differ.
void resources(capnp::List<wire::Resource>::Reader in) {
  capnp::MallocMessageBuilder holder;
  auto executor = holder.initRoot<wire::ExecutorInfo>();
  executor.setResources(in);
  executorInfo(executor.asReader());
}

// Every value type the message carries, as the daemons read them.
void convert(wire::Envelope::Reader envelope) {
  switch (envelope.which()) {
    case wire::Envelope::REGISTER_AGENT: {
      auto reg = envelope.getRegisterAgent();
      agentInfo(reg.getInfo());
      for (auto task : reg.getTasks()) {
        taskInfo(task.getTask());
        frameworkInfo(task.getFrameworkInfo());
        if (task.hasLastStatus()) taskStatus(task.getLastStatus());
      }
      for (auto executor : reg.getExecutors()) executorInfo(executor.getInfo());
      return;
    }
    case wire::Envelope::RUN_TASK:
      frameworkInfo(envelope.getRunTask().getFrameworkInfo());
      return taskInfo(envelope.getRunTask().getTask());
    case wire::Envelope::STATUS_UPDATE: return taskStatus(envelope.getStatusUpdate().getStatus());
    case wire::Envelope::EXECUTOR_STATUS: return taskStatus(envelope.getExecutorStatus().getStatus());
    case wire::Envelope::SUBSCRIBE: return frameworkInfo(envelope.getSubscribe().getInfo());
    case wire::Envelope::RESOURCE_OFFERS:
      for (auto o : envelope.getResourceOffers().getOffers()) offer(o);
      return;
    case wire::Envelope::ACCEPT:
      for (auto operation : envelope.getAccept().getOperations()) {
        switch (operation.which()) {
          case wire::Operation::LAUNCH:
            for (auto task : operation.getLaunch()) taskInfo(task);
            break;
          case wire::Operation::RESERVE: resources(operation.getReserve()); break;
          case wire::Operation::UNRESERVE: resources(operation.getUnreserve()); break;
          default: break;
        }
      }
      return;
    case wire::Envelope::CONTAINER_USAGES:
      for (auto usage : envelope.getContainerUsages().getContainers()) containerUsage(usage);
      return;
    case wire::Envelope::EXECUTOR_REGISTERED:
      executorInfo(envelope.getExecutorRegistered().getExecutor());
      return frameworkInfo(envelope.getExecutorRegistered().getFrameworkInfo());
    case wire::Envelope::LAUNCH_COMMAND: return taskInfo(envelope.getLaunchCommand().getTask());
    default: return;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool quiet = (fuzzing::quietLogs(), true);
  (void)quiet;
  auto decoded = wire::decode(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!decoded) return 0;
  auto envelope = (*decoded)->envelope();
  (void)wire::name((*decoded)->which());
  // Apart: a conversion that throws at the first damage must not hide what
  // reading the rest would reach.
  wire::dispatchSafely([&] { (void)kj::str(envelope); }, [](const std::string&) {});
  wire::dispatchSafely([&] { convert(envelope); }, [](const std::string&) {});
  return 0;
}
