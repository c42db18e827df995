#include "agent/docker/client.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <exception>
#include <initializer_list>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/http_client.hpp"

namespace clusternodes::docker {
namespace {

using nlohmann::json;

// Unversioned paths: the daemon answers them in its own current API version.
// A pinned prefix such as /v1.41 would be refused by newer daemons once
// their minimum API version passes it, and what is read here has kept its
// shape since long before 1.41.
constexpr const char* kBaseUrl = "http://localhost";
// Calls that should answer at once; the margin is for a loaded daemon
// (creating or removing a container with a large layer takes seconds).
constexpr double kCallTimeoutSeconds = 60;
constexpr double kPingTimeoutSeconds = 5;
// A pull moves a whole image; failing to reach the registry ends it sooner.
constexpr double kPullTimeoutSeconds = 300;
// What stop may take beyond its grace: the SIGKILL and the exit's cleanup.
constexpr double kStopMarginSeconds = 60;
// No Docker log driver writes a message near this size (json-file splits
// lines at 16 KiB); a larger size means the bytes are not a log stream.
constexpr size_t kMaxFramePayload = size_t{64} << 20;
constexpr size_t kFrameHeaderSize = 8;

// ------------------------------------------------------------ JSON reading
//
// Docker writes null for an empty map or list (Labels, Ports, Binds), so
// these read leniently: anything missing, null or of another type than
// expected reads as empty. get<> is only called on a value whose type was
// checked, so nothing here throws.

const json* field(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto found = object.find(key);
  if (found == object.end() || found->is_null()) return nullptr;
  return &*found;
}

std::string stringField(const json& object, const char* key) {
  const json* value = field(object, key);
  return value != nullptr && value->is_string() ? value->get<std::string>() : std::string();
}

int64_t integerField(const json& object, const char* key) {
  const json* value = field(object, key);
  return value != nullptr && value->is_number() ? value->get<int64_t>() : 0;
}

// Docker's -1 ("unlimited", MemorySwap) reads as 0, this API's "no limit".
uint64_t sizeField(const json& object, const char* key) {
  return static_cast<uint64_t>(std::max<int64_t>(0, integerField(object, key)));
}

bool boolField(const json& object, const char* key) {
  const json* value = field(object, key);
  return value != nullptr && value->is_boolean() && value->get<bool>();
}

const json& objectField(const json& object, const char* key) {
  static const json kEmpty = json::object();
  const json* value = field(object, key);
  return value != nullptr && value->is_object() ? *value : kEmpty;
}

std::map<std::string, std::string> labelsOf(const json& labels) {
  std::map<std::string, std::string> out;
  if (!labels.is_object()) return out;
  for (const auto& [key, value] : labels.items()) {
    if (value.is_string()) out[key] = value.get<std::string>();
  }
  return out;
}

std::string withoutSlash(std::string name) {
  if (!name.empty() && name.front() == '/') name.erase(0, 1);
  return name;
}

// ------------------------------------------------------------ the exchange

// The daemon's own words for a refusal: its JSON "message", else the body.
std::string daemonMessage(const HttpResult& response) {
  json body = json::parse(response.body, nullptr, false);
  std::string message = stringField(body, "message");
  if (message.empty()) message = response.body;
  while (!message.empty() && std::isspace(static_cast<unsigned char>(message.back()))) message.pop_back();
  if (message.empty()) message = "HTTP status " + std::to_string(response.status);
  return message;
}

Error refusal(const std::string& what, const HttpResult& response) {
  ErrorCode code = ErrorCode::kInvalid;
  if (response.status == 404) {
    code = ErrorCode::kNotFound;
  } else if (response.status == 409) {
    code = ErrorCode::kConflict;
  } else if (response.status >= 500 || response.status < 400) {
    code = ErrorCode::kInternal;
  }
  return Error{code, what + ": " + daemonMessage(response)};
}

HttpClientRequest dockerRequest(const std::string& socketPath, const char* method, const std::string& target,
                                double timeoutSeconds = kCallTimeoutSeconds) {
  HttpClientRequest request;
  request.method = method;
  request.url = kBaseUrl + target;
  request.unixSocketPath = socketPath;
  request.timeoutSeconds = timeoutSeconds;
  return request;
}

// Performs `request` for `what` ("start container x"); a status outside
// `accepted` is the daemon's refusal.
Result<HttpResult> callDaemon(const HttpClientRequest& request, const std::string& what,
                              std::initializer_list<int> accepted = {200}) {
  auto response = httpRequest(request);
  if (!response) return Error{response.error().code, what + ": " + response.error().message};
  if (std::find(accepted.begin(), accepted.end(), response->status) == accepted.end()) {
    return refusal(what, *response);
  }
  return response;
}

// Parses a successful response's JSON body.
Result<json> jsonBody(const HttpResult& response, const std::string& what) {
  json body = json::parse(response.body, nullptr, false);
  if (body.is_discarded()) return internalError(what + ": the daemon's answer is not JSON: " + response.body);
  return body;
}

// The text of `value`. A string that is not UTF-8 (in an env value, say)
// makes dump() throw; Docker reads only UTF-8, so that is the caller's error.
Result<std::string> jsonText(const json& value, const std::string& what) {
  try {
    return value.dump();
  } catch (const json::exception& e) {
    return invalid(what + ": " + e.what());
  }
}

std::string containerPath(const std::string& idOrName) { return "/containers/" + urlEncode(idOrName); }

// ------------------------------------------------------------ create

std::string portKey(uint16_t port, const std::string& protocol) { return std::to_string(port) + "/" + protocol; }

json createBody(const ContainerSpec& spec) {
  json body = {{"Image", spec.image}, {"Tty", false}, {"AttachStdout", false}, {"AttachStderr", false}};
  // Unset fields are left out so that the image's own values apply.
  if (spec.entrypoint) body["Entrypoint"] = *spec.entrypoint;
  if (!spec.cmd.empty()) body["Cmd"] = spec.cmd;
  if (!spec.env.empty()) body["Env"] = spec.env;
  if (!spec.labels.empty()) body["Labels"] = spec.labels;
  if (!spec.workingDir.empty()) body["WorkingDir"] = spec.workingDir;
  if (!spec.user.empty()) body["User"] = spec.user;

  json host = json::object();
  if (spec.cpuShares > 0) host["CpuShares"] = spec.cpuShares;
  if (spec.cpuQuotaUs > 0) host["CpuQuota"] = spec.cpuQuotaUs;
  if (spec.cpuPeriodUs > 0) host["CpuPeriod"] = spec.cpuPeriodUs;
  if (spec.memoryBytes > 0) {
    host["Memory"] = spec.memoryBytes;
    // Docker's default allows as much swap again; equal means none.
    host["MemorySwap"] = spec.memoryBytes;
  }
  if (!spec.binds.empty()) {
    json binds = json::array();
    for (const auto& bind : spec.binds) {
      binds.push_back(bind.hostPath + ":" + bind.containerPath + (bind.readOnly ? ":ro" : ""));
    }
    host["Binds"] = std::move(binds);
  }
  if (!spec.ports.empty()) {
    json exposed = json::object();
    json bindings = json::object();
    for (const auto& port : spec.ports) {
      std::string key = portKey(port.containerPort, port.protocol);
      exposed[key] = json::object();
      // An empty HostIp publishes on every host address.
      bindings[key].push_back({{"HostIp", ""}, {"HostPort", std::to_string(port.hostPort)}});
    }
    body["ExposedPorts"] = std::move(exposed);
    host["PortBindings"] = std::move(bindings);
  }
  if (!host.empty()) body["HostConfig"] = std::move(host);
  return body;
}

// ------------------------------------------------------------ inspect

std::map<std::string, uint16_t> publishedPorts(const json& ports) {
  std::map<std::string, uint16_t> out;
  if (!ports.is_object()) return out;
  // "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "31000"}, {"HostIp": "::", ...}],
  // or null for a port exposed but not published.
  for (const auto& [key, bindings] : ports.items()) {
    if (!bindings.is_array()) continue;
    for (const auto& binding : bindings) {
      // Docker writes the port as a string.
      std::string text = stringField(binding, "HostPort");
      uint16_t port = 0;
      auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), port);
      if (error == std::errc() && end == text.data() + text.size() && port != 0) {
        out[key] = port;
        break;
      }
    }
  }
  return out;
}

ContainerState stateFromJson(const json& body) {
  ContainerState state;
  state.id = stringField(body, "Id");
  state.name = withoutSlash(stringField(body, "Name"));
  const json& status = objectField(body, "State");
  state.status = stringField(status, "Status");
  state.running = boolField(status, "Running");
  state.oomKilled = boolField(status, "OOMKilled");
  state.exitCode = static_cast<int>(integerField(status, "ExitCode"));
  state.error = stringField(status, "Error");
  state.pid = static_cast<int>(integerField(status, "Pid"));
  const json& config = objectField(body, "Config");
  state.image = stringField(config, "Image");
  state.labels = labelsOf(objectField(config, "Labels"));
  const json& host = objectField(body, "HostConfig");
  state.memoryBytes = sizeField(host, "Memory");
  state.memorySwapBytes = sizeField(host, "MemorySwap");
  state.cpuShares = sizeField(host, "CpuShares");
  state.cpuQuotaUs = integerField(host, "CpuQuota");
  state.cpuPeriodUs = integerField(host, "CpuPeriod");
  state.publishedPorts = publishedPorts(objectField(objectField(body, "NetworkSettings"), "Ports"));
  return state;
}

// ------------------------------------------------------------ pull

// "name:tag" -> ("name", "tag"); a name without a tag gets "latest", since an
// empty tag would pull every tag of the repository. A digest stays in the
// name, which pulls exactly it. The colon of a registry's port
// ("host:5000/name") is not a tag's.
std::pair<std::string, std::string> splitTag(const std::string& image) {
  if (image.find('@') != std::string::npos) return {image, ""};
  size_t slash = image.rfind('/');
  size_t colon = image.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    return {image.substr(0, colon), image.substr(colon + 1)};
  }
  return {image, "latest"};
}

// Whether Docker's account of a failed pull says the image does not exist
// (rather than that the registry could not be reached).
bool saysMissing(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* phrase :
       {"not found", "pull access denied", "manifest unknown", "does not exist", "no such image"}) {
    if (text.find(phrase) != std::string::npos) return true;
  }
  return false;
}

Error pullFailure(const std::string& image, const std::string& text) {
  return Error{saysMissing(text) ? ErrorCode::kNotFound : ErrorCode::kUnavailable, "pull image " + image + ": " + text};
}

// Remembers the first error that one line of a pull's progress stream
// reports ({"status": ...} lines are progress, {"error": ...} a failure).
void notePullLine(std::string_view line, std::string& failure) {
  if (!failure.empty()) return;
  json message = json::parse(line, nullptr, false);
  failure = stringField(message, "error");
  if (failure.empty()) failure = stringField(objectField(message, "errorDetail"), "message");
}

}  // namespace

// ------------------------------------------------------------ the parser

namespace detail {

LogStreamParser::LogStreamParser(Sink out, Sink err) : out_(std::move(out)), err_(std::move(err)) {}

Result<size_t> LogStreamParser::frameLength(std::string_view header) const {
  auto byte = [&](size_t index) { return static_cast<uint8_t>(header[index]); };
  if (byte(0) > 3 || byte(1) != 0 || byte(2) != 0 || byte(3) != 0) {
    return internalError("not a multiplexed log stream (a frame starts with byte " + std::to_string(byte(0)) +
                         "; was the container created with a TTY?)");
  }
  size_t size = (size_t{byte(4)} << 24) | (size_t{byte(5)} << 16) | (size_t{byte(6)} << 8) | size_t{byte(7)};
  if (size > kMaxFramePayload) {
    return internalError("not a multiplexed log stream (a frame of " + std::to_string(size) + " bytes)");
  }
  return kFrameHeaderSize + size;
}

Result<void> LogStreamParser::deliver(std::string_view frame) {
  std::string_view payload = frame.substr(kFrameHeaderSize);
  uint8_t stream = static_cast<uint8_t>(frame[0]);
  if (stream == 3) return internalError("the daemon reported: " + std::string(payload));
  if (payload.empty()) return {};
  // Stdin frames never come from the logs endpoint; Docker's own demuxer
  // counts them as stdout.
  const Sink& sink = stream == 2 ? err_ : out_;
  if (sink) sink(payload);
  return {};
}

Result<void> LogStreamParser::feed(std::string_view bytes) {
  if (failed_) return internalError("the log stream failed before");
  auto fail = [&](Error error) -> Result<void> {
    failed_ = true;
    held_.clear();
    return error;
  };
  // First the frame held from earlier input, completed from the new bytes.
  if (!held_.empty()) {
    size_t headerPart = std::min(bytes.size(), kFrameHeaderSize - std::min(held_.size(), kFrameHeaderSize));
    held_.append(bytes.substr(0, headerPart));
    bytes.remove_prefix(headerPart);
    if (held_.size() < kFrameHeaderSize) return {};
    auto length = frameLength(held_);
    if (!length) return fail(length.error());
    held_.reserve(*length);
    size_t payloadPart = std::min(bytes.size(), *length - held_.size());
    held_.append(bytes.substr(0, payloadPart));
    bytes.remove_prefix(payloadPart);
    if (held_.size() < *length) return {};
    std::string frame = std::move(held_);
    held_.clear();
    if (auto delivered = deliver(frame); !delivered) return fail(delivered.error());
  }
  // Then the frames that lie whole in the input, without copying them.
  while (bytes.size() >= kFrameHeaderSize) {
    auto length = frameLength(bytes);
    if (!length) return fail(length.error());
    if (bytes.size() < *length) break;
    if (auto delivered = deliver(bytes.substr(0, *length)); !delivered) return fail(delivered.error());
    bytes.remove_prefix(*length);
  }
  held_.assign(bytes);
  return {};
}

}  // namespace detail

// ------------------------------------------------------------ the client

Client::Client(std::string socketPath) : socketPath_(std::move(socketPath)) {}

Result<void> Client::ping() const {
  auto response =
      callDaemon(dockerRequest(socketPath_, "GET", "/_ping", kPingTimeoutSeconds), "ping the docker daemon");
  if (!response) return response.error();
  return {};
}

Result<std::pair<std::string, std::string>> Client::version() const {
  const std::string what = "docker version";
  auto response = callDaemon(dockerRequest(socketPath_, "GET", "/version"), what);
  if (!response) return response.error();
  auto body = jsonBody(*response, what);
  if (!body) return body.error();
  return std::pair{stringField(*body, "Version"), stringField(*body, "ApiVersion")};
}

Result<bool> Client::hasImage(const std::string& image) const {
  auto response = callDaemon(dockerRequest(socketPath_, "GET", "/images/" + urlEncode(image) + "/json"),
                             "inspect image " + image, {200, 404});
  if (!response) return response.error();
  return response->status == 200;
}

Result<void> Client::pullImage(const std::string& image) const {
  auto [name, tag] = splitTag(image);
  std::string target = "/images/create?fromImage=" + urlEncode(name);
  if (!tag.empty()) target += "&tag=" + urlEncode(tag);
  HttpClientRequest request = dockerRequest(socketPath_, "POST", target, kPullTimeoutSeconds);
  // The progress lines can run to megabytes for a large image; only the
  // first error among them is kept.
  std::string partialLine;
  std::string failure;
  request.onBody = [&](std::string_view bytes) {
    partialLine.append(bytes);
    size_t start = 0;
    for (size_t end; (end = partialLine.find('\n', start)) != std::string::npos; start = end + 1) {
      notePullLine(std::string_view(partialLine).substr(start, end - start), failure);
    }
    partialLine.erase(0, start);
    return true;
  };
  auto response = httpRequest(request);
  if (!response) return Error{response.error().code, "pull image " + image + ": " + response.error().message};
  if (response->status == 200) {
    if (!partialLine.empty()) notePullLine(partialLine, failure);
    if (failure.empty()) return {};
    return pullFailure(image, failure);
  }
  // Docker answers a registry it cannot reach, or one that refuses, with 500.
  if (response->status >= 500) return pullFailure(image, daemonMessage(*response));
  return refusal("pull image " + image, *response);
}

Result<std::string> Client::create(const ContainerSpec& spec) const {
  std::string what = "create container " + (spec.name.empty() ? spec.image : spec.name);
  std::string target = "/containers/create";
  if (!spec.name.empty()) target += "?name=" + urlEncode(spec.name);
  HttpClientRequest request = dockerRequest(socketPath_, "POST", target);
  auto text = jsonText(createBody(spec), what);
  if (!text) return text.error();
  request.body = std::move(*text);
  auto response = callDaemon(request, what, {201});
  if (!response) return response.error();
  auto answer = jsonBody(*response, what);
  if (!answer) return answer.error();
  std::string id = stringField(*answer, "Id");
  if (id.empty()) return internalError(what + ": the daemon's answer has no Id: " + response->body);
  return id;
}

Result<void> Client::start(const std::string& idOrName) const {
  // 304: it was running already, which is what was asked.
  auto response = callDaemon(dockerRequest(socketPath_, "POST", containerPath(idOrName) + "/start"),
                             "start container " + idOrName, {204, 304});
  if (!response) return response.error();
  return {};
}

Result<ContainerState> Client::inspect(const std::string& idOrName) const {
  const std::string what = "inspect container " + idOrName;
  auto response = callDaemon(dockerRequest(socketPath_, "GET", containerPath(idOrName) + "/json"), what);
  if (!response) return response.error();
  auto body = jsonBody(*response, what);
  if (!body) return body.error();
  return stateFromJson(*body);
}

Result<int> Client::wait(const std::string& idOrName) const {
  const std::string what = "wait for container " + idOrName;
  // No timeout: the answer comes when the container exits.
  auto response = callDaemon(dockerRequest(socketPath_, "POST", containerPath(idOrName) + "/wait", 0), what);
  if (!response) return response.error();
  auto body = jsonBody(*response, what);
  if (!body) return body.error();
  // {"StatusCode": 3, "Error": null}, or an Error when Docker lost track.
  std::string failure = stringField(objectField(*body, "Error"), "Message");
  if (!failure.empty()) return internalError(what + ": " + failure);
  if (field(*body, "StatusCode") == nullptr) {
    return internalError(what + ": the daemon's answer has no StatusCode: " + response->body);
  }
  return static_cast<int>(integerField(*body, "StatusCode"));
}

Result<void> Client::kill(const std::string& idOrName, const std::string& signal) const {
  auto response =
      callDaemon(dockerRequest(socketPath_, "POST", containerPath(idOrName) + "/kill?signal=" + urlEncode(signal)),
                 "kill container " + idOrName + " with " + signal, {204});
  if (!response) return response.error();
  return {};
}

Result<void> Client::stop(const std::string& idOrName, int timeoutSeconds) const {
  // The daemon answers after the grace and the SIGKILL that may follow it; a
  // negative grace is Docker's "wait for ever", so then there is no limit.
  double limit = timeoutSeconds < 0 ? 0 : timeoutSeconds + kStopMarginSeconds;
  std::string target = containerPath(idOrName) + "/stop?t=" + std::to_string(timeoutSeconds);
  // 304: it was not running, which is what was asked.
  auto response =
      callDaemon(dockerRequest(socketPath_, "POST", target, limit), "stop container " + idOrName, {204, 304});
  if (!response) return response.error();
  return {};
}

Result<void> Client::remove(const std::string& idOrName) const {
  auto response = callDaemon(dockerRequest(socketPath_, "DELETE", containerPath(idOrName) + "?force=1&v=1"),
                             "remove container " + idOrName, {204});
  if (!response) return response.error();
  return {};
}

Result<std::vector<ContainerSummary>> Client::list(const std::map<std::string, std::string>& labels) const {
  const std::string what = "list containers";
  std::string target = "/containers/json?all=1";
  if (!labels.empty()) {
    json wanted = json::array();
    for (const auto& [key, value] : labels) wanted.push_back(value.empty() ? key : key + "=" + value);
    auto filters = jsonText(json{{"label", wanted}}, what);
    if (!filters) return filters.error();
    target += "&filters=" + urlEncode(*filters);
  }
  auto response = callDaemon(dockerRequest(socketPath_, "GET", target), what);
  if (!response) return response.error();
  auto body = jsonBody(*response, what);
  if (!body) return body.error();
  std::vector<ContainerSummary> out;
  if (!body->is_array()) return out;
  for (const auto& row : *body) {
    ContainerSummary summary;
    summary.id = stringField(row, "Id");
    const json* names = field(row, "Names");
    if (names != nullptr && names->is_array() && !names->empty() && names->front().is_string()) {
      summary.name = withoutSlash(names->front().get<std::string>());
    }
    summary.state = stringField(row, "State");
    summary.labels = labelsOf(objectField(row, "Labels"));
    out.push_back(std::move(summary));
  }
  return out;
}

Result<void> Client::readLogs(const std::string& target, const std::string& what, const LogSink& out,
                              const LogSink& err) const {
  // No timeout: a followed stream lasts as long as the container runs.
  HttpClientRequest request = dockerRequest(socketPath_, "GET", target, 0);
  detail::LogStreamParser parser(out, err);
  std::optional<Error> broken;
  request.onBody = [&](std::string_view bytes) {
    auto fed = parser.feed(bytes);
    if (!fed) broken = fed.error();
    return fed.ok();
  };
  auto response = callDaemon(request, what);
  // The parser's account beats curl's "the receiver stopped".
  if (broken) return Error{broken->code, what + ": " + broken->message};
  if (!response) return response.error();
  if (!parser.atFrameBoundary()) return Error{ErrorCode::kUnavailable, what + ": the stream ended inside a frame"};
  return {};
}

Result<void> Client::followLogs(const std::string& idOrName, const LogSink& out, const LogSink& err,
                                int64_t sinceUnixSeconds) const {
  const std::string what = "follow the logs of container " + idOrName;
  std::string target = containerPath(idOrName) + "/logs?stdout=1&stderr=1";
  if (sinceUnixSeconds > 0) target += "&since=" + std::to_string(sinceUnixSeconds);
  size_t outSeen = 0;
  size_t errSeen = 0;
  auto followed = readLogs(
      target + "&follow=1", what,
      [&](std::string_view bytes) {
        outSeen += bytes.size();
        if (out) out(bytes);
      },
      [&](std::string_view bytes) {
        errSeen += bytes.size();
        if (err) err(bytes);
      });
  if (!followed) return followed;
  // The daemon can end a followed stream when the container stops before it
  // has sent the last lines the container wrote (seen with Docker 28: the
  // last 8 KiB of stderr missing). One read of the whole, now finished, log
  // hands on whatever lies past what each stream already delivered.
  auto tail = [](size_t& skip, const LogSink& sink) {
    return [&skip, &sink](std::string_view bytes) {
      size_t skipped = std::min(skip, bytes.size());
      skip -= skipped;
      if (skipped < bytes.size() && sink) sink(bytes.substr(skipped));
    };
  };
  return readLogs(target, "read the logs of container " + idOrName, tail(outSeen, out), tail(errSeen, err));
}

}  // namespace clusternodes::docker
