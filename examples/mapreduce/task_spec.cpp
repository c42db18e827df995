#include "mapreduce/task_spec.hpp"

#include <nlohmann/json.hpp>

namespace clusternodes::mapreduce {

using nlohmann::json;

std::string encodeTaskSpec(const TaskSpec& spec) {
  json j = {{"type", spec.type == TaskType::kMap ? "map" : "reduce"},
            {"task", spec.task},
            {"index", spec.index},
            {"attempt", spec.attempt},
            {"job", toJson(spec.job)}};
  if (spec.type == TaskType::kMap) {
    j["split"] = {{"path", spec.split.path}, {"offset", spec.split.offset}, {"length", spec.split.length}};
  } else {
    j["output"] = spec.output;
    json inputs = json::array();
    for (const auto& input : spec.inputs) inputs.push_back({{"map", input.mapIndex}, {"url", input.url}});
    j["inputs"] = std::move(inputs);
  }
  return j.dump();
}

Result<TaskSpec> decodeTaskSpec(const std::string& data) {
  try {
    json j = json::parse(data);
    TaskSpec spec;
    std::string type = j.at("type").get<std::string>();
    if (type == "map") {
      spec.type = TaskType::kMap;
    } else if (type == "reduce") {
      spec.type = TaskType::kReduce;
    } else {
      return invalid("unknown task type '" + type + "'");
    }
    spec.task = j.at("task").get<std::string>();
    spec.index = j.at("index").get<int>();
    spec.attempt = j.value("attempt", 1);
    spec.job = jobFromJson(j.at("job"));
    if (spec.type == TaskType::kMap) {
      const json& split = j.at("split");
      spec.split.path = split.at("path").get<std::string>();
      spec.split.offset = split.at("offset").get<uint64_t>();
      spec.split.length = split.at("length").get<uint64_t>();
    } else {
      spec.output = j.at("output").get<std::string>();
      if (spec.index < 0 || spec.index >= spec.job.reducers) return invalid("reduce index out of range");
      for (const auto& input : j.at("inputs")) {
        spec.inputs.push_back({input.at("map").get<int>(), input.at("url").get<std::string>()});
      }
    }
    return spec;
  } catch (const std::exception& e) {
    return invalid(std::string("malformed task data: ") + e.what());
  }
}

std::string encodeMapResult(const std::vector<std::string>& urls, uint64_t bytesRead, uint64_t recordsIn,
                            uint64_t recordsOut, const std::vector<uint64_t>& partitionBytes) {
  json j = {{"outputs", urls},
            {"stats",
             {{"bytes_read", bytesRead},
              {"records_in", recordsIn},
              {"records_out", recordsOut},
              {"partition_bytes", partitionBytes}}}};
  return j.dump();
}

std::string encodeReduceResult(const std::string& outputFile, uint64_t bytesFetched, uint64_t recordsIn,
                               uint64_t recordsOut, uint64_t bytesOut) {
  json j = {{"output", outputFile},
            {"stats",
             {{"bytes_fetched", bytesFetched},
              {"records_in", recordsIn},
              {"records_out", recordsOut},
              {"bytes_out", bytesOut}}}};
  return j.dump();
}

std::string encodeFetchFailure(const std::vector<int>& maps, const std::string& error) {
  return json{{"fetch_failed", maps}, {"error", error}}.dump();
}

TaskResult decodeTaskResult(const std::string& data) {
  TaskResult result;
  if (data.empty()) return result;
  try {
    json j = json::parse(data);
    if (!j.is_object()) return result;
    if (j.contains("outputs")) result.outputs = j.at("outputs").get<std::vector<std::string>>();
    result.outputFile = j.value("output", std::string());
    if (j.contains("fetch_failed")) result.fetchFailed = j.at("fetch_failed").get<std::vector<int>>();
    result.error = j.value("error", std::string());
    if (j.contains("stats")) {
      const json& stats = j.at("stats");
      result.bytesRead = stats.value("bytes_read", uint64_t{0});
      result.recordsIn = stats.value("records_in", uint64_t{0});
      result.recordsOut = stats.value("records_out", uint64_t{0});
      result.bytesOut = stats.value("bytes_out", uint64_t{0});
      if (stats.contains("partition_bytes")) {
        for (uint64_t bytes : stats.at("partition_bytes").get<std::vector<uint64_t>>()) result.mapOutputBytes += bytes;
      }
    }
  } catch (const std::exception&) {
    return TaskResult{};
  }
  return result;
}

std::string attemptId(const std::string& task, int attempt) { return task + "-a" + std::to_string(attempt); }

}  // namespace clusternodes::mapreduce
