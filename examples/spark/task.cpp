#include "spark/task.hpp"

#include <nlohmann/json.hpp>

#include "spark/record.hpp"

namespace clusternodes::spark {

using nlohmann::json;

const char* toString(ActionKind kind) {
  switch (kind) {
    case ActionKind::kCollect: return "collect";
    case ActionKind::kCount: return "count";
    case ActionKind::kTake: return "take";
    case ActionKind::kReduce: return "reduce";
    case ActionKind::kSave: return "saveAsTextFile";
    case ActionKind::kSampleKeys: return "sampleKeys";
  }
  return "?";
}

const char* toString(TaskStatus status) {
  switch (status) {
    case TaskStatus::kSuccess: return "success";
    case TaskStatus::kFailed: return "failed";
    case TaskStatus::kFetchFailed: return "fetch-failed";
    case TaskStatus::kExecutorLost: return "executor-lost";
  }
  return "?";
}

namespace {

json locationJson(const MapOutputLocation& loc) { return {{"executor", loc.executorId}, {"address", loc.address}}; }

MapOutputLocation locationFrom(const json& j) {
  return {j.at("executor").get<std::string>(), j.at("address").get<std::string>()};
}

}  // namespace

std::string encodeTask(const TaskDescription& t) {
  json inputs = json::object();
  for (const auto& [shuffle, outputs] : t.shuffleInputs) {
    json list = json::array();
    for (const auto& loc : outputs) list.push_back(loc ? locationJson(*loc) : json(nullptr));
    inputs[std::to_string(shuffle)] = std::move(list);
  }
  json j = {{"task", t.taskId},
            {"job", t.jobId},
            {"stage", t.stageId},
            {"partition", t.partition},
            {"attempt", t.attempt},
            {"plan", t.plan ? *t.plan : std::string()},
            {"node", t.nodeId},
            {"shuffle", t.shuffleId},
            {"shuffleNode", t.shuffleNodeId},
            {"action",
             {{"kind", static_cast<int>(t.action.kind)},
              {"fn", t.action.fn},
              {"n", t.action.n},
              {"output", t.action.outputDir}}},
            {"inputs", std::move(inputs)},
            {"preferred", t.preferredExecutor}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<TaskDescription> decodeTask(const std::string& text) {
  try {
    json j = json::parse(text);
    TaskDescription t;
    t.taskId = j.at("task").get<int64_t>();
    t.jobId = j.at("job").get<int>();
    t.stageId = j.at("stage").get<int>();
    t.partition = j.at("partition").get<int>();
    t.attempt = j.at("attempt").get<int>();
    t.plan = std::make_shared<const std::string>(j.at("plan").get<std::string>());
    t.nodeId = j.at("node").get<int>();
    t.shuffleId = j.at("shuffle").get<int>();
    t.shuffleNodeId = j.at("shuffleNode").get<int>();
    const json& a = j.at("action");
    int kind = a.at("kind").get<int>();
    if (kind < 0 || kind > static_cast<int>(ActionKind::kSampleKeys)) return invalid("task: unknown action");
    t.action.kind = static_cast<ActionKind>(kind);
    t.action.fn = a.at("fn").get<std::string>();
    t.action.n = a.at("n").get<int64_t>();
    t.action.outputDir = a.at("output").get<std::string>();
    for (const auto& [shuffle, list] : j.at("inputs").items()) {
      auto& outputs = t.shuffleInputs[std::stoi(shuffle)];
      for (const auto& loc : list) {
        if (loc.is_null()) {
          outputs.emplace_back();
        } else {
          outputs.emplace_back(locationFrom(loc));
        }
      }
    }
    t.preferredExecutor = j.at("preferred").get<std::string>();
    return t;
  } catch (const std::exception& e) {
    return invalid(std::string("task: ") + e.what());
  }
}

std::string encodeTaskResult(const TaskResult& r) {
  json blocks = json::array();
  for (const auto& [node, partition] : r.cachedBlocks) blocks.push_back({node, partition});
  const TaskMetrics& m = r.metrics;
  json j = {{"task", r.taskId},
            {"stage", r.stageId},
            {"partition", r.partition},
            {"attempt", r.attempt},
            {"executor", r.executorId},
            {"status", static_cast<int>(r.status)},
            {"error", r.error},
            {"mapOutput", locationJson(r.mapOutput)},
            {"mapOutputSizes", r.mapOutputSizes},
            {"result", base64Encode(r.result)},
            {"fetchShuffle", r.fetchShuffleId},
            {"fetchMap", r.fetchMapPartition},
            {"fetchLocation", locationJson(r.fetchLocation)},
            {"cached", std::move(blocks)},
            {"metrics",
             {m.sourceReads, m.cacheHits, m.cacheMisses, m.shuffleBytesWritten, m.shuffleBytesRead, m.recordsOut}}};
  // Error texts come from user code and may hold any bytes.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<TaskResult> decodeTaskResult(const std::string& text) {
  try {
    json j = json::parse(text);
    TaskResult r;
    r.taskId = j.at("task").get<int64_t>();
    r.stageId = j.at("stage").get<int>();
    r.partition = j.at("partition").get<int>();
    r.attempt = j.at("attempt").get<int>();
    r.executorId = j.at("executor").get<std::string>();
    int status = j.at("status").get<int>();
    if (status < 0 || status > static_cast<int>(TaskStatus::kExecutorLost)) return invalid("task result: bad status");
    r.status = static_cast<TaskStatus>(status);
    r.error = j.at("error").get<std::string>();
    r.mapOutput = locationFrom(j.at("mapOutput"));
    r.mapOutputSizes = j.at("mapOutputSizes").get<std::vector<int64_t>>();
    if (!base64Decode(j.at("result").get<std::string>(), r.result)) return invalid("task result: bad result bytes");
    r.fetchShuffleId = j.at("fetchShuffle").get<int>();
    r.fetchMapPartition = j.at("fetchMap").get<int>();
    r.fetchLocation = locationFrom(j.at("fetchLocation"));
    for (const auto& b : j.at("cached")) r.cachedBlocks.emplace_back(b.at(0).get<int>(), b.at(1).get<int>());
    const json& m = j.at("metrics");
    r.metrics = {m.at(0).get<int64_t>(), m.at(1).get<int64_t>(), m.at(2).get<int64_t>(),
                 m.at(3).get<int64_t>(), m.at(4).get<int64_t>(), m.at(5).get<int64_t>()};
    return r;
  } catch (const std::exception& e) {
    return invalid(std::string("task result: ") + e.what());
  }
}

}  // namespace clusternodes::spark
