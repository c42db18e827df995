#include "spark/protocol.hpp"

#include <nlohmann/json.hpp>

namespace clusternodes::spark {

using nlohmann::json;

namespace {

std::string framed(char kind, const std::string& body) {
  std::string out;
  out.reserve(body.size() + 2);
  out.push_back(kind);
  out.push_back('\n');
  out += body;
  return out;
}

// The kind letter and the body; an error when there is no frame.
Result<std::pair<char, std::string>> unframe(const std::string& bytes) {
  if (bytes.size() < 2 || bytes[1] != '\n') return invalid("a message without a kind");
  return std::make_pair(bytes[0], bytes.substr(2));
}

}  // namespace

std::string encodeLaunch(const std::string& encodedTask) { return framed('L', encodedTask); }

std::string encodeAck(const std::vector<int64_t>& taskIds) { return framed('A', json(taskIds).dump()); }

Result<DriverMessage> decodeDriverMessage(const std::string& bytes) {
  auto frame = unframe(bytes);
  if (!frame) return frame.error();
  DriverMessage message;
  switch (frame->first) {
    case 'L':
      message.kind = DriverMessage::Kind::kLaunch;
      message.task = std::move(frame->second);
      return message;
    case 'A':
      message.kind = DriverMessage::Kind::kAck;
      try {
        message.acked = json::parse(frame->second).get<std::vector<int64_t>>();
      } catch (const std::exception& e) {
        return invalid(std::string("a malformed acknowledgement: ") + e.what());
      }
      return message;
    default:
      return invalid(std::string("an unknown message kind '") + frame->first + "'");
  }
}

std::string encodeResult(const std::string& encodedResult) { return framed('R', encodedResult); }

std::string encodeResultFile(const ResultFile& file) {
  return framed('F', json{{"task", file.taskId}, {"path", file.path}, {"size", file.size}}.dump());
}

std::string encodeHeartbeat(const Heartbeat& h) {
  return framed('H', json{{"executor", h.executorId},
                          {"cores", h.cores},
                          {"fileUrl", h.fileUrl},
                          {"sandbox", h.sandbox},
                          {"tasks", h.tasks}}
                         .dump());
}

Result<ExecutorMessage> decodeExecutorMessage(const std::string& bytes) {
  auto frame = unframe(bytes);
  if (!frame) return frame.error();
  ExecutorMessage message;
  try {
    switch (frame->first) {
      case 'R':
        message.kind = ExecutorMessage::Kind::kResult;
        message.result = std::move(frame->second);
        return message;
      case 'F': {
        message.kind = ExecutorMessage::Kind::kResultFile;
        json j = json::parse(frame->second);
        message.file.taskId = j.at("task").get<int64_t>();
        message.file.path = j.at("path").get<std::string>();
        message.file.size = j.at("size").get<int64_t>();
        return message;
      }
      case 'H': {
        message.kind = ExecutorMessage::Kind::kHeartbeat;
        json j = json::parse(frame->second);
        message.heartbeat.executorId = j.at("executor").get<std::string>();
        message.heartbeat.cores = j.at("cores").get<int>();
        message.heartbeat.fileUrl = j.at("fileUrl").get<std::string>();
        message.heartbeat.sandbox = j.at("sandbox").get<std::string>();
        message.heartbeat.tasks = j.at("tasks").get<std::vector<int64_t>>();
        return message;
      }
      default:
        return invalid(std::string("an unknown message kind '") + frame->first + "'");
    }
  } catch (const std::exception& e) {
    return invalid(std::string("a malformed '") + frame->first + "' message: " + e.what());
  }
}

}  // namespace clusternodes::spark
