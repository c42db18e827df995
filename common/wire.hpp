// Encoding and decoding of the wire Envelope, and conversion between the
// Cap'n Proto structs and the plain value types.
//
// Input is hostile: decode() copies the bytes into aligned storage and reads
// them with bounded ReaderOptions (traversal and nesting limits). Cap'n Proto
// reports damage lazily, by throwing from getters, so every handler of a
// decoded message runs inside dispatchSafely(), which turns any exception
// into a dropped, counted message. The fromWire() conversions throw
// MalformedMessage for values that parse but break a rule (a negative
// scalar, a range with begin > end, an unknown task state).
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "clusternodes/result.hpp"
#include "clusternodes/values.hpp"
#include "common/container_usage.hpp"
#include "schema/messages.capnp.h"

namespace clusternodes::wire {

// Limits for every reader of untrusted bytes.
inline constexpr size_t kMaxMessageBytes = 64 * 1024 * 1024;
inline constexpr int kNestingLimit = 16;

// Thrown by fromWire() and handlers for a message that is well-formed Cap'n
// Proto but not a valid Clusternodes message.
class MalformedMessage : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A decoded message: owns its bytes and reader.
class Decoded {
 public:
  Envelope::Reader envelope() const { return envelope_; }
  Envelope::Which which() const { return which_; }

 private:
  friend Result<std::unique_ptr<Decoded>> decode(std::string_view bytes);
  kj::Array<capnp::word> words_;
  std::unique_ptr<capnp::FlatArrayMessageReader> reader_;
  Envelope::Reader envelope_;
  Envelope::Which which_{};
};

// Decodes one message. Fails for truncated or oversized input, bad segment
// tables, and unions this build does not know.
Result<std::unique_ptr<Decoded>> decode(std::string_view bytes);

// A Cap'n Proto text field as a std::string. A NUL inside one is refused
// (MalformedMessage): every text field becomes a path, an argument, a log
// line or a key somewhere, and each of those would end at the NUL.
inline std::string text(capnp::Text::Reader t) {
  if (std::memchr(t.cStr(), '\0', t.size()) != nullptr) throw MalformedMessage("a text field holds a NUL byte");
  return std::string(t.cStr(), t.size());
}
// Free text that is only shown (a status update's message): a NUL becomes
// a '?' instead, so that a task's state is never dropped for its wording.
inline std::string shownText(capnp::Text::Reader t) {
  std::string out(t.cStr(), t.size());
  for (char& c : out) c = c == '\0' ? '?' : c;
  return out;
}

// Serialises a builder into bytes ready to send.
std::string encode(capnp::MessageBuilder& message);

// Runs `handler`; any exception (Cap'n Proto's lazy errors, MalformedMessage,
// std::exception) is reported through `onDropped(reason)` and swallowed.
// Returns false when the message was dropped.
bool dispatchSafely(const std::function<void()>& handler,
                    const std::function<void(const std::string&)>& onDropped);

// The name of an envelope member, for logs ("registerAgent").
const char* name(Envelope::Which which);

// Internal value type for what an agent advertises.
struct AgentInfoValue {
  std::string hostname;
  Resources resources;
  std::vector<clusternodes::Attribute> attributes;
  int httpPort = 0;
  std::string bootId;
  std::string ip;  // the address it listens on
  bool httpTls = false;  // its HTTP port speaks TLS

  // "http://HOST:PORT" or "https://HOST:PORT": its --ip, or its hostname
  // when it listens on every address.
  std::string httpUrl() const;
};

// ---- conversions; fromWire() throws MalformedMessage on invalid values.
void fill(const std::vector<Resources::Entry>& in, capnp::List<Resource>::Builder out);
// Writes `in` into the list that `init(count)` creates:
//   setResources(r, [&](unsigned n) { return task.initResources(n); });
template <typename InitFn>
void setResources(const Resources& in, InitFn init) {
  auto entries = in.entries();
  fill(entries, init(static_cast<unsigned>(entries.size())));
}
Resources fromWire(capnp::List<Resource>::Reader in);

void toWire(const clusternodes::FrameworkInfo& in, wire::FrameworkInfo::Builder out);
void toWire(const clusternodes::CommandInfo& in, wire::CommandInfo::Builder out);
void toWire(const clusternodes::ExecutorInfo& in, wire::ExecutorInfo::Builder out);
void toWire(const clusternodes::TaskInfo& in, wire::TaskInfo::Builder out);
void toWire(const clusternodes::TaskStatus& in, const FrameworkID& frameworkId,
            wire::TaskStatus::Builder out);
void toWire(const clusternodes::Offer& in, wire::Offer::Builder out);
void toWire(const AgentInfoValue& in, wire::AgentInfo::Builder out);
void setAttributes(const std::vector<clusternodes::Attribute>& in,
                   std::function<capnp::List<wire::Attribute>::Builder(unsigned)> init);

clusternodes::FrameworkInfo fromWire(wire::FrameworkInfo::Reader in);
clusternodes::CommandInfo fromWire(wire::CommandInfo::Reader in);
clusternodes::ExecutorInfo fromWire(wire::ExecutorInfo::Reader in);
clusternodes::TaskInfo fromWire(wire::TaskInfo::Reader in);
// An encoded FrameworkMessage envelope.
std::string encodeFrameworkMessage(const std::string& frameworkId, const std::string& executorId,
                                   const std::string& agentId, capnp::Data::Reader data);
// Bytes of a Data field, and a Data reader over `in` (which must outlive it).
std::string bytes(capnp::Data::Reader in);
capnp::Data::Reader data(const std::string& in);
clusternodes::TaskStatus fromWire(wire::TaskStatus::Reader in);
clusternodes::Offer fromWire(wire::Offer::Reader in);
AgentInfoValue fromWire(wire::AgentInfo::Reader in);
void toWire(const clusternodes::ContainerUsage& in, wire::ContainerUsage::Builder out);
clusternodes::ContainerUsage fromWire(wire::ContainerUsage::Reader in);
std::vector<clusternodes::Attribute> fromWire(capnp::List<wire::Attribute>::Reader in);

}  // namespace clusternodes::wire
