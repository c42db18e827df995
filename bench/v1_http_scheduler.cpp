#include "bench/v1_http_scheduler.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "common/recordio.hpp"

namespace clusternodes::bench {
namespace {

Result<int> connectTo(const std::string& host, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return internalError("socket failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return internalError("cannot connect to " + host + ":" + std::to_string(port));
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool sendAll(int fd, const std::string& data) {
  for (size_t at = 0; at < data.size();) {
    ssize_t n = ::send(fd, data.data() + at, data.size() - at, MSG_NOSIGNAL);
    if (n <= 0) return false;
    at += static_cast<size_t>(n);
  }
  return true;
}

// Reads more of `fd` into `buffer`; false at EOF or an error.
bool fill(int fd, std::string& buffer) {
  char chunk[64 * 1024];
  ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
  if (n <= 0) return false;
  buffer.append(chunk, static_cast<size_t>(n));
  return true;
}

// A response's head (status line and headers), taken off the front of
// `buffer`, reading more as needed; "" when the connection ends first.
std::string readHead(int fd, std::string& buffer) {
  size_t end;
  while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
    if (!fill(fd, buffer)) return "";
  }
  std::string head = buffer.substr(0, end + 4);
  buffer.erase(0, end + 4);
  return head;
}

int statusOf(const std::string& head) { return head.size() > 12 ? std::atoi(head.c_str() + 9) : 0; }

// A header's value in a head ("" when absent); names compared as written
// by our master (case-sensitive is enough here).
std::string header(const std::string& head, const std::string& name) {
  size_t at = head.find("\r\n" + name + ": ");
  if (at == std::string::npos) return "";
  at += name.size() + 4;
  return head.substr(at, head.find("\r\n", at) - at);
}

std::string request(const std::string& host, const std::string& streamId, const std::string& body, bool keepAlive) {
  std::string out = "POST /api/v1/scheduler HTTP/1.1\r\nHost: " + host +
                    "\r\nContent-Type: application/json\r\nAccept: application/json\r\n";
  if (!streamId.empty()) out += "Mesos-Stream-Id: " + streamId + "\r\n";
  if (!keepAlive) out += "Connection: close\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  return out;
}

}  // namespace

V1HttpScheduler::V1HttpScheduler(std::string host, int port, nlohmann::json frameworkInfo, Callbacks callbacks)
    : host_(std::move(host)), port_(port), frameworkInfo_(std::move(frameworkInfo)), callbacks_(std::move(callbacks)) {}

V1HttpScheduler::~V1HttpScheduler() { stop(); }

Result<void> V1HttpScheduler::start() {
  auto fd = connectTo(host_, port_);
  if (!fd) return fd.error();
  streamFd_ = *fd;
  nlohmann::json subscribe = {{"type", "SUBSCRIBE"}, {"subscribe", {{"framework_info", frameworkInfo_}}}};
  if (!sendAll(streamFd_, request(host_, "", subscribe.dump(), false))) return internalError("cannot send SUBSCRIBE");
  std::string head = readHead(streamFd_, streamBuffer_);
  if (statusOf(head) != 200) return internalError("SUBSCRIBE answered: " + head.substr(0, head.find("\r\n")));
  streamId_ = header(head, "Mesos-Stream-Id");
  if (streamId_.empty()) return internalError("SUBSCRIBE answered no Mesos-Stream-Id");
  thread_ = std::thread([this] { readStream(); });
  return {};
}

void V1HttpScheduler::stop() {
  stopping_ = true;
  if (streamFd_ >= 0) ::shutdown(streamFd_, SHUT_RDWR);
  if (thread_.joinable()) thread_.join();
  for (int* fd : {&streamFd_, &callFd_}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

Result<void> V1HttpScheduler::call(nlohmann::json body) {
  body["framework_id"] = {{"value", frameworkId_}};
  std::string text = request(host_, streamId_, body.dump(), true);
  for (int attempt = 0; attempt < 2; ++attempt) {  // once more on a fresh connection
    if (callFd_ < 0) {
      auto fd = connectTo(host_, port_);
      if (!fd) return fd.error();
      callFd_ = *fd;
    }
    std::string buffer;
    std::string head;
    if (sendAll(callFd_, text)) head = readHead(callFd_, buffer);
    if (head.empty()) {
      ::close(callFd_);
      callFd_ = -1;
      continue;
    }
    size_t length = static_cast<size_t>(std::atol(header(head, "Content-Length").c_str()));
    while (buffer.size() < length && fill(callFd_, buffer)) {
    }
    ++calls_;
    if (statusOf(head) != 202) {
      return internalError(body.value("type", "?") + " answered " + head.substr(9, 3) + ": " + buffer);
    }
    return {};
  }
  return internalError("the master closed the call connection");
}

void V1HttpScheduler::readStream() {
  RecordioDecoder decoder;
  std::vector<std::string> records;
  std::string why;
  // The body is chunked: a size line in hex, the data, CRLF.
  while (!stopping_) {
    size_t line = streamBuffer_.find("\r\n");
    if (line == std::string::npos) {
      if (!fill(streamFd_, streamBuffer_)) break;
      continue;
    }
    size_t size = std::strtoul(streamBuffer_.c_str(), nullptr, 16);
    if (size == 0) break;  // the last chunk: the master ended the stream
    while (streamBuffer_.size() < line + 2 + size + 2) {
      if (!fill(streamFd_, streamBuffer_)) break;
    }
    if (streamBuffer_.size() < line + 2 + size + 2) break;
    records.clear();
    if (auto fed = decoder.feed(std::string_view(streamBuffer_).substr(line + 2, size), records); !fed) {
      why = "the stream's RecordIO: " + fed.error().message;
      break;
    }
    streamBuffer_.erase(0, line + 2 + size + 2);
    for (const auto& record : records) {
      if (auto handled = handle(record); !handled) {
        why = handled.error().message;
        stopping_ = true;
        break;
      }
    }
  }
  if (!stopping_ && callbacks_.error) callbacks_.error(why.empty() ? "the event stream ended" : why);
}

Result<void> V1HttpScheduler::handle(const std::string& record) {
  auto event = nlohmann::json::parse(record, nullptr, false);
  if (!event.is_object()) return internalError("an event that is not JSON");
  const std::string type = event.value("type", "");
  if (type == "SUBSCRIBED") {
    frameworkId_ = event["subscribed"]["framework_id"]["value"];
    if (callbacks_.subscribed) callbacks_.subscribed(frameworkId_);
  } else if (type == "OFFERS") {
    ++offerEvents_;
    if (callbacks_.offers) callbacks_.offers(event["offers"]["offers"]);
  } else if (type == "UPDATE") {
    const auto& status = event["update"]["status"];
    if (callbacks_.update) callbacks_.update(status);
    if (status.contains("uuid")) {
      return call({{"type", "ACKNOWLEDGE"},
                   {"acknowledge", {{"agent_id", status["agent_id"]}, {"task_id", status["task_id"]},
                                    {"uuid", status["uuid"]}}}});
    }
  } else if (type == "ERROR") {
    if (callbacks_.error) callbacks_.error(event["error"].value("message", ""));
  }
  return {};
}

// ------------------------------------------------------------ the driver

namespace {

nlohmann::json scalar(const std::string& name, double value) {
  return {{"name", name}, {"type", "SCALAR"}, {"scalar", {{"value", value}}}};
}

Resources resourcesOf(const nlohmann::json& list) {
  Resources out;
  for (const auto& r : list) {
    if (r.value("type", "") == "SCALAR") {
      out.addScalar(r["name"], r["scalar"]["value"].get<double>());
    } else if (r.value("type", "") == "RANGES") {
      std::vector<Range> ranges;
      for (const auto& range : r["ranges"]["range"]) ranges.push_back({range["begin"], range["end"]});
      out.addRanges(r["name"], RangeSet(std::move(ranges)));
    }
  }
  return out;
}

nlohmann::json resourcesJson(const Resources& resources) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& e : resources.entries()) {
    if (!e.isRanges) {
      out.push_back(scalar(e.name, e.scalar));
      continue;
    }
    nlohmann::json ranges = nlohmann::json::array();
    for (const auto& range : e.ranges.ranges()) ranges.push_back({{"begin", range.begin}, {"end", range.end}});
    out.push_back({{"name", e.name}, {"type", "RANGES"}, {"ranges", {{"range", ranges}}}});
  }
  return out;
}

nlohmann::json taskJson(const TaskInfo& task) {
  nlohmann::json command = {{"shell", task.command.shell}, {"value", task.command.value}};
  if (!task.command.arguments.empty()) command["arguments"] = task.command.arguments;
  return {{"name", task.name},
          {"task_id", {{"value", task.taskId.value}}},
          {"agent_id", {{"value", task.agentId.value}}},
          {"resources", resourcesJson(task.resources)},
          {"command", command}};
}

nlohmann::json offerIdsJson(const std::vector<OfferID>& ids) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& id : ids) out.push_back({{"value", id.value}});
  return out;
}

TaskStatus statusOf(const nlohmann::json& j) {
  TaskStatus status;
  status.taskId = TaskID{j["task_id"]["value"]};
  status.state = parseTaskState(j.value("state", "TASK_UNKNOWN")).value_or(TaskState::kUnknown);
  status.message = j.value("message", "");
  if (j.contains("agent_id")) status.agentId = AgentID{j["agent_id"]["value"]};
  status.timestamp = j.value("timestamp", 0.0);
  return status;
}

}  // namespace

V1HttpDriver::V1HttpDriver(Scheduler* scheduler, const FrameworkInfo& info, const std::string& host, int port)
    : scheduler_(scheduler),
      http_(host, port, {{"user", info.user.empty() ? "root" : info.user}, {"name", info.name}, {"role", info.role}},
            V1HttpScheduler::Callbacks{
                [this](const std::string& id) { scheduler_->registered(this, FrameworkID{id}, MasterInfo{}); },
                [this](const nlohmann::json& offers) {
                  std::vector<Offer> out;
                  for (const auto& o : offers) {
                    Offer offer;
                    offer.id = OfferID{o["id"]["value"]};
                    offer.frameworkId = FrameworkID{o["framework_id"]["value"]};
                    offer.agentId = AgentID{o["agent_id"]["value"]};
                    offer.hostname = o.value("hostname", "");
                    offer.resources = resourcesOf(o["resources"]);
                    out.push_back(std::move(offer));
                  }
                  scheduler_->resourceOffers(this, out);
                },
                [this](const nlohmann::json& status) { scheduler_->statusUpdate(this, statusOf(status)); },
                [this](const std::string& why) { scheduler_->error(this, why); }}) {}

DriverStatus V1HttpDriver::start() {
  if (auto started = http_.start(); !started) {
    scheduler_->error(this, started.error().message);
    return status_ = DriverStatus::kAborted;
  }
  return status_ = DriverStatus::kRunning;
}

DriverStatus V1HttpDriver::stop(bool) {
  http_.stop();
  return status_ = DriverStatus::kStopped;
}

DriverStatus V1HttpDriver::send(nlohmann::json call) {
  if (auto made = http_.call(std::move(call)); !made) scheduler_->error(this, made.error().message);
  return status_;
}

DriverStatus V1HttpDriver::launchTasks(const std::vector<OfferID>& offerIds, const std::vector<TaskInfo>& tasks,
                                       const Filters& filters) {
  nlohmann::json infos = nlohmann::json::array();
  for (const auto& task : tasks) infos.push_back(taskJson(task));
  return send({{"type", "ACCEPT"},
               {"accept", {{"offer_ids", offerIdsJson(offerIds)},
                           {"operations", {{{"type", "LAUNCH"}, {"launch", {{"task_infos", infos}}}}}},
                           {"filters", {{"refuse_seconds", filters.refuseSeconds}}}}}});
}

DriverStatus V1HttpDriver::acceptOffers(const std::vector<OfferID>& offerIds, const std::vector<Operation>& operations,
                                        const Filters& filters) {
  std::vector<TaskInfo> tasks;
  for (const auto& op : operations) {
    if (op.type == Operation::Type::kLaunch) tasks.insert(tasks.end(), op.tasks.begin(), op.tasks.end());
  }
  return launchTasks(offerIds, tasks, filters);
}

DriverStatus V1HttpDriver::declineOffer(const OfferID& offerId, const Filters& filters) {
  return send({{"type", "DECLINE"},
               {"decline", {{"offer_ids", offerIdsJson({offerId})}, {"filters", {{"refuse_seconds", filters.refuseSeconds}}}}}});
}

DriverStatus V1HttpDriver::reviveOffers() { return send({{"type", "REVIVE"}}); }

DriverStatus V1HttpDriver::suppressOffers() { return send({{"type", "SUPPRESS"}}); }

DriverStatus V1HttpDriver::killTask(const TaskID& taskId) {
  return send({{"type", "KILL"}, {"kill", {{"task_id", {{"value", taskId.value}}}}}});
}

DriverStatus V1HttpDriver::reconcileTasks(const std::vector<TaskStatus>& statuses) {
  nlohmann::json tasks = nlohmann::json::array();
  for (const auto& s : statuses) tasks.push_back({{"task_id", {{"value", s.taskId.value}}}});
  return send({{"type", "RECONCILE"}, {"reconcile", {{"tasks", tasks}}}});
}

DriverStatus V1HttpDriver::sendFrameworkMessage(const ExecutorID&, const AgentID&, const std::string&) {
  scheduler_->error(this, "V1HttpDriver: framework messages are not implemented (no benchmark sends one)");
  return status_;
}

}  // namespace clusternodes::bench
