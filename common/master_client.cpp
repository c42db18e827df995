#include "common/master_client.hpp"

#include <zmq.hpp>

#include <chrono>

#include "common/leader.hpp"
#include "common/transport.hpp"
#include "common/wire.hpp"

namespace clusternodes {

namespace {

struct Answer {
  MasterAddress address;
  std::string leader;  // a standby's leader, HOST:PORT
};

Result<Answer> ask(const std::string& master, double timeoutSeconds, const std::optional<CurveClientKeys>& keys);

}  // namespace

Result<MasterAddress> queryMaster(const std::string& master, double timeoutSeconds,
                                  const std::optional<CurveClientKeys>& keys) {
  if (isZkUrl(master)) {
    auto leader = detectLeader(master, std::chrono::milliseconds(static_cast<int64_t>(timeoutSeconds * 1000)));
    if (!leader) return leader.error();
    return MasterAddress{leader->id, leader->ip, leader->httpPort};
  }
  auto answer = ask(master, timeoutSeconds, keys);
  if (!answer) return answer.error();
  // A standby names the leader: ask it instead (once).
  if (!answer->leader.empty()) {
    auto leading = ask(answer->leader, timeoutSeconds, keys);
    if (!leading) return leading.error();
    return leading->address;
  }
  return answer->address;
}

namespace {

Result<Answer> ask(const std::string& master, double timeoutSeconds, const std::optional<CurveClientKeys>& keys) {
  auto colon = master.rfind(':');
  if (colon == std::string::npos || colon == 0) return invalid("master '" + master + "' is not HOST:PORT");
  try {
    zmq::context_t context(1);
    zmq::socket_t socket(context, zmq::socket_type::dealer);
    socket.set(zmq::sockopt::linger, 0);
    socket.set(zmq::sockopt::routing_id, "tool-" + randomUuid());
    if (keys) {
      socket.set(zmq::sockopt::curve_serverkey, keys->serverPublicKey);
      socket.set(zmq::sockopt::curve_publickey, keys->own.publicKey);
      socket.set(zmq::sockopt::curve_secretkey, keys->own.secretKey);
    }
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
      Answer out;
      bool ok = wire::dispatchSafely(
          [&] {
            auto info = (*decoded)->envelope().getMasterInfo();
            out.address.id = info.getId().cStr();
            out.address.httpPort = info.getHttpPort();
            out.address.httpTls = info.getHttpTls();
            if (!info.getLeading()) {
              out.leader = info.getLeader().cStr();
              if (out.leader.empty()) throw wire::MalformedMessage("no leader");
            }
          },
          [](const std::string&) {});
      if (!ok) return Error{ErrorCode::kUnavailable, "the master at " + master + " stands by and knows no leader"};
      out.address.host = master.substr(0, colon);
      return out;
    }
  } catch (const zmq::error_t& e) {
    return Error{ErrorCode::kUnavailable, "cannot reach the master at " + master + ": " + e.what()};
  }
  return Error{ErrorCode::kUnavailable, "the master at " + master + " did not answer"};
}

}  // namespace

}  // namespace clusternodes
