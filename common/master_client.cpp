#include "common/master_client.hpp"

#include <zmq.hpp>

#include <chrono>

#include "common/transport.hpp"
#include "common/wire.hpp"

namespace clusternodes {

Result<MasterAddress> queryMaster(const std::string& master, double timeoutSeconds) {
  auto colon = master.rfind(':');
  if (colon == std::string::npos || colon == 0) return invalid("master '" + master + "' is not HOST:PORT");
  try {
    zmq::context_t context(1);
    zmq::socket_t socket(context, zmq::socket_type::dealer);
    socket.set(zmq::sockopt::linger, 0);
    socket.set(zmq::sockopt::routing_id, "tool-" + randomUuid());
    socket.connect("tcp://" + master);

    capnp::MallocMessageBuilder request;
    request.initRoot<wire::Envelope>().setGetMasterInfo();
    auto bytes = wire::encode(request);
    socket.send(zmq::buffer(bytes), zmq::send_flags::dontwait);

    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeoutSeconds);
    while (std::chrono::steady_clock::now() < deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      zmq::pollitem_t items[] = {{socket.handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 1, std::max<std::chrono::milliseconds>(left, std::chrono::milliseconds(1)));
      if ((items[0].revents & ZMQ_POLLIN) == 0) continue;
      zmq::message_t reply;
      if (!socket.recv(reply, zmq::recv_flags::dontwait)) continue;
      auto decoded = wire::decode(reply.to_string_view());
      if (!decoded || (*decoded)->which() != wire::Envelope::MASTER_INFO) continue;
      MasterAddress out;
      bool ok = wire::dispatchSafely(
          [&] {
            auto info = (*decoded)->envelope().getMasterInfo();
            out.id = info.getId().cStr();
            out.httpPort = info.getHttpPort();
          },
          [](const std::string&) {});
      if (!ok) continue;
      out.host = master.substr(0, colon);
      return out;
    }
  } catch (const zmq::error_t& e) {
    return Error{ErrorCode::kUnavailable, "cannot reach the master at " + master + ": " + e.what()};
  }
  return Error{ErrorCode::kUnavailable, "the master at " + master + " did not answer"};
}

}  // namespace clusternodes
