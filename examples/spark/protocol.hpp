// What the driver and its executors say to each other in cluster mode. They
// talk through framework messages (SchedulerDriver::sendFrameworkMessage and
// ExecutorDriver::sendFrameworkMessage), which the platform delivers at most
// once; this protocol makes the exchange reliable on top:
//
//   driver -> executor   kLaunch     a task (encodeTask)
//                        kAck        task ids whose results arrived
//   executor -> driver   kResult     a task's result (encodeTaskResult)
//                        kResultFile a large result left in the executor's
//                                    sandbox: the driver downloads it from
//                                    the agent's file endpoint
//                        kHeartbeat  every second: who the executor is, its
//                                    cores, the agent's file URL, and the ids
//                                    of the tasks it holds (queued, running,
//                                    or finished but not yet acknowledged)
//
// The executor re-sends a result until the driver acknowledges it, and runs a
// task id at most once (a repeated launch of a finished task re-sends its
// result). The driver re-sends a launch when a heartbeat that left well after
// it does not mention the task. A lost message therefore costs a delay, never
// a task.
//
// Encoding: one letter naming the kind, a newline, the body.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "clusternodes/result.hpp"

namespace clusternodes::spark {

// The program's argument that makes it the executor (see app.hpp).
inline constexpr const char* kExecutorFlag = "--spark-executor";

struct Heartbeat {
  std::string executorId;
  int cores = 0;
  std::string fileUrl;  // the agent's HTTP address ("http://IP:PORT")
  std::string sandbox;  // the executor's sandbox directory
  std::vector<int64_t> tasks;  // held: queued, running, unacknowledged
};

struct ResultFile {
  int64_t taskId = 0;
  std::string path;  // absolute, in the executor's sandbox
  int64_t size = 0;
};

struct ExecutorMessage {  // executor -> driver
  enum class Kind { kResult, kResultFile, kHeartbeat };
  Kind kind = Kind::kHeartbeat;
  std::string result;  // kResult: encodeTaskResult() text
  ResultFile file;     // kResultFile
  Heartbeat heartbeat;
};

struct DriverMessage {  // driver -> executor
  enum class Kind { kLaunch, kAck };
  Kind kind = Kind::kLaunch;
  std::string task;           // kLaunch: encodeTask() text
  std::vector<int64_t> acked;  // kAck
};

std::string encodeLaunch(const std::string& encodedTask);
std::string encodeAck(const std::vector<int64_t>& taskIds);
Result<DriverMessage> decodeDriverMessage(const std::string& bytes);

std::string encodeResult(const std::string& encodedResult);
std::string encodeResultFile(const ResultFile& file);
std::string encodeHeartbeat(const Heartbeat& heartbeat);
Result<ExecutorMessage> decodeExecutorMessage(const std::string& bytes);

}  // namespace clusternodes::spark
