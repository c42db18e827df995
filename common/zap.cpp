#include "common/zap.hpp"

#include <spdlog/spdlog.h>

#include <vector>

#include "common/curve.hpp"

namespace clusternodes {
namespace {

constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";

}  // namespace

ZapHandler::ZapHandler(Loop& loop, zmq::context_t& context, Decide decide)
    : loop_(loop), socket_(context, zmq::socket_type::router), decide_(std::move(decide)) {
  socket_.set(zmq::sockopt::linger, 0);
}

ZapHandler::~ZapHandler() {
  if (poll_ == nullptr) return;
  uv_poll_stop(poll_);
  poll_->data = nullptr;
  auto* poll = poll_;
  closeHandle(reinterpret_cast<uv_handle_t*>(poll), [poll] { delete poll; });
}

Result<void> ZapHandler::start() {
  try {
    socket_.bind(kZapEndpoint);
  } catch (const zmq::error_t& e) {
    return Error{ErrorCode::kConflict, std::string("cannot serve authentication requests: ") + e.what()};
  }
  poll_ = new uv_poll_t;
  uv_poll_init(loop_.raw(), poll_, socket_.get(zmq::sockopt::fd));
  poll_->data = this;
  uv_poll_start(poll_, UV_READABLE, &ZapHandler::onPoll);
  drain();
  return {};
}

void ZapHandler::onPoll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<ZapHandler*>(handle->data);
  if (self != nullptr) self->drain();
}

void ZapHandler::drain() {
  // A request, as libzmq's REQ-like client sends it to our ROUTER: the
  // client's routing id, an empty delimiter, then version, request id,
  // domain, address, identity, mechanism and the mechanism's credentials.
  std::vector<zmq::message_t> frames;
  for (;;) {
    frames.clear();
    try {
      bool more = true;
      while (more) {
        zmq::message_t frame;
        if (!socket_.recv(frame, zmq::recv_flags::dontwait).has_value()) break;
        more = frame.more();
        if (frames.size() < 16) frames.push_back(std::move(frame));
      }
    } catch (const zmq::error_t& e) {
      spdlog::warn("authentication requests: {}", e.what());
      return;
    }
    if (frames.empty()) return;
    if (frames.size() < 8 || frames[1].size() != 0 || frames[2].to_string_view() != "1.0") {
      // Not from libzmq's own client, which is the only one on this endpoint.
      spdlog::warn("ignored a malformed authentication request ({} frames)", frames.size());
      continue;
    }
    ZapRequest request;
    request.address = frames[5].to_string();
    request.mechanism = frames[7].to_string();
    if (request.mechanism == "CURVE" && frames.size() >= 9) request.publicKey = z85Key(frames[8].to_string_view());
    ZapVerdict verdict;
    try {
      verdict = decide_(request);
    } catch (const std::exception& e) {
      verdict = ZapVerdict::refuse(std::string("internal error: ") + e.what());
    }
    verdict.admitted ? ++admitted_ : ++refused_;
    std::string status = verdict.admitted ? "200" : "400";
    std::string text = verdict.admitted ? "OK" : verdict.reason;
    try {
      socket_.send(frames[0], zmq::send_flags::sndmore);
      socket_.send(zmq::buffer(std::string_view()), zmq::send_flags::sndmore);
      socket_.send(zmq::buffer(std::string_view("1.0")), zmq::send_flags::sndmore);
      socket_.send(frames[3], zmq::send_flags::sndmore);
      socket_.send(zmq::buffer(status), zmq::send_flags::sndmore);
      socket_.send(zmq::buffer(text), zmq::send_flags::sndmore);
      socket_.send(zmq::buffer(verdict.principal), zmq::send_flags::sndmore);
      socket_.send(zmq::buffer(std::string_view()), zmq::send_flags::none);  // no metadata
    } catch (const zmq::error_t& e) {
      spdlog::warn("cannot answer an authentication request: {}", e.what());
    }
  }
}

}  // namespace clusternodes
