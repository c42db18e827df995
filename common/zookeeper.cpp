#include "common/zookeeper.hpp"

#include <spdlog/spdlog.h>
#include <zookeeper/zookeeper.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <condition_variable>
#include <mutex>

namespace clusternodes {

// ------------------------------------------------------------ zk:// URLs

bool isZkUrl(std::string_view text) { return text.substr(0, 5) == "zk://"; }

std::string ZkUrl::toString() const { return "zk://" + (auth.empty() ? "" : auth + "@") + servers + path; }

namespace {

Result<void> checkServer(std::string_view server, std::string_view url) {
  auto colon = server.rfind(':');
  if (server.empty() || colon == std::string_view::npos || colon == 0 || colon + 1 == server.size()) {
    return invalid("'" + std::string(url) + "': the server '" + std::string(server) + "' is not HOST:PORT");
  }
  auto port = server.substr(colon + 1);
  int value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') {
      return invalid("'" + std::string(url) + "': the port of '" + std::string(server) + "' is not a number");
    }
    value = value * 10 + (c - '0');
    if (value > 65535) break;
  }
  if (value < 1 || value > 65535) {
    return invalid("'" + std::string(url) + "': the port of '" + std::string(server) + "' is out of range");
  }
  return {};
}

}  // namespace

Result<ZkUrl> parseZkUrl(std::string_view text) {
  if (!isZkUrl(text)) return invalid("'" + std::string(text) + "' is not a zk:// URL");
  std::string_view rest = text.substr(5);
  auto slash = rest.find('/');
  if (slash == std::string_view::npos) {
    return invalid("'" + std::string(text) + "' has no path: give zk://HOST:PORT[,HOST:PORT...]/PATH");
  }
  ZkUrl url;
  std::string_view hosts = rest.substr(0, slash);
  if (auto at = hosts.rfind('@'); at != std::string_view::npos) {
    url.auth = std::string(hosts.substr(0, at));
    hosts = hosts.substr(at + 1);
    if (url.auth.find(':') == std::string::npos) {
      return invalid("'" + std::string(text) + "': credentials must be USER:PASSWORD");
    }
  }
  if (hosts.empty()) return invalid("'" + std::string(text) + "' names no ZooKeeper server");
  size_t start = 0;
  while (start <= hosts.size()) {
    auto comma = hosts.find(',', start);
    auto server = hosts.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (auto ok = checkServer(server, text); !ok) return ok.error();
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  url.servers = std::string(hosts);
  std::string path(rest.substr(slash));
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (path == "/") return invalid("'" + std::string(text) + "' has no path: give zk://HOST:PORT/PATH");
  if (path.find("//") != std::string::npos) return invalid("'" + std::string(text) + "' has an empty path segment");
  url.path = std::move(path);
  return url;
}

const char* sessionName(ZooKeeper::Session session) {
  switch (session) {
    case ZooKeeper::Session::kConnecting: return "connecting";
    case ZooKeeper::Session::kConnected: return "connected";
    case ZooKeeper::Session::kExpired: return "expired";
  }
  return "connecting";
}

// ------------------------------------------------------------ the session

struct ZooKeeper::State {
  Loop* loop = nullptr;
  zhandle_t* handle = nullptr;
  std::weak_ptr<State> self;
  std::atomic<int> session{static_cast<int>(Session::kConnecting)};
  // steady_clock ticks of the last confirmation (confirm(), connection),
  // and of when the confirm() now awaiting its answer asked (0: none).
  std::atomic<int64_t> confirmed{0};
  std::atomic<int64_t> confirming{0};
  std::mutex mutex;  // for `connected`
  std::condition_variable connected;
  // Loop thread only.
  std::function<void(Session)> sessionHandler;
  std::function<void(const std::string&)> childrenHandler;
  std::function<void(const std::string&)> nodeHandler;

  // Runs on the C client's completion thread.
  static void watcher(zhandle_t*, int type, int state, const char* path, void* context) {
    auto* self = static_cast<State*>(context);
    if (self == nullptr) return;
    if (type == ZOO_SESSION_EVENT) {
      Session s = Session::kConnecting;
      if (state == ZOO_CONNECTED_STATE) {
        s = Session::kConnected;
        self->confirmNow();
      } else if (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE) {
        s = Session::kExpired;
      }
      {
        std::lock_guard lock(self->mutex);
        self->session = static_cast<int>(s);
      }
      self->connected.notify_all();
      self->post([s](State& st) {
        if (st.sessionHandler) st.sessionHandler(s);
      });
      return;
    }
    std::string where = path == nullptr ? "" : path;
    if (type == ZOO_CHILD_EVENT) {
      self->post([where](State& st) {
        if (st.childrenHandler) st.childrenHandler(where);
      });
    } else if (type == ZOO_CREATED_EVENT || type == ZOO_DELETED_EVENT || type == ZOO_CHANGED_EVENT) {
      self->post([where](State& st) {
        if (st.nodeHandler) st.nodeHandler(where);
      });
    }
  }

  void confirmNow() { confirmAsOf(std::chrono::steady_clock::now().time_since_epoch().count()); }
  void confirmAsOf(int64_t ticks) {
    int64_t seen = confirmed.load();
    while (ticks > seen && !confirmed.compare_exchange_weak(seen, ticks)) {
    }
  }

  void post(std::function<void(State&)> fn) {
    loop->post([weak = self, fn = std::move(fn)] {
      if (auto st = weak.lock()) fn(*st);
    });
  }

  // The C client's log lines, which it writes to stderr otherwise. Its
  // errors are mostly failed connection attempts, which the session's
  // state already tells, so they are kept for --log-level=debug.
  static void log(const char* message) { spdlog::debug("zookeeper: {}", message); }
};

namespace {

Error zkError(int rc, const std::string& what) {
  std::string message = what + ": " + zerror(rc);
  switch (rc) {
    case ZNONODE: return {ErrorCode::kNotFound, message};
    case ZNODEEXISTS:
    case ZBADVERSION:
    case ZNOTEMPTY: return {ErrorCode::kConflict, message};
    case ZNOAUTH:
    case ZAUTHFAILED: return {ErrorCode::kDenied, message};
    case ZCONNECTIONLOSS:
    case ZOPERATIONTIMEOUT:
    case ZSESSIONEXPIRED:
    case ZINVALIDSTATE:
    case ZCLOSING:
    case ZSESSIONMOVED: return {ErrorCode::kUnavailable, message};
    default: return {ErrorCode::kInternal, message};
  }
}

}  // namespace

Result<std::unique_ptr<ZooKeeper>> ZooKeeper::open(Loop& loop, const std::string& servers,
                                                   std::chrono::milliseconds sessionTimeout, const std::string& auth) {
  static std::once_flag quiet;
  std::call_once(quiet, [] { zoo_set_debug_level(ZOO_LOG_LEVEL_WARN); });
  auto state = std::make_shared<State>();
  state->loop = &loop;
  state->self = state;
  state->handle = zookeeper_init2(servers.c_str(), &State::watcher, static_cast<int>(sessionTimeout.count()),
                                  nullptr, state.get(), 0, &State::log);
  if (state->handle == nullptr) {
    return invalid("cannot start a ZooKeeper session with '" + servers + "': " + std::strerror(errno));
  }
  if (!auth.empty()) {
    int rc = zoo_add_auth(state->handle, "digest", auth.data(), static_cast<int>(auth.size()), nullptr, nullptr);
    if (rc != ZOK) {
      zookeeper_close(state->handle);
      return zkError(rc, "cannot add the digest credentials");
    }
  }
  return std::unique_ptr<ZooKeeper>(new ZooKeeper(std::move(state), servers));
}

ZooKeeper::ZooKeeper(std::shared_ptr<State> state, std::string servers)
    : state_(std::move(state)), servers_(std::move(servers)) {}

ZooKeeper::~ZooKeeper() {
  // Joins the client's threads: no watcher runs after this.
  zookeeper_close(state_->handle);
  state_->handle = nullptr;
}

ZooKeeper::Session ZooKeeper::session() const { return static_cast<Session>(state_->session.load()); }

void ZooKeeper::onSessionChange(std::function<void(Session)> handler) { state_->sessionHandler = std::move(handler); }
void ZooKeeper::onChildrenChanged(std::function<void(const std::string&)> handler) {
  state_->childrenHandler = std::move(handler);
}
void ZooKeeper::onNodeChanged(std::function<void(const std::string&)> handler) {
  state_->nodeHandler = std::move(handler);
}

void ZooKeeper::confirm() {
  int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
  int64_t none = 0;
  // One question at a time; the client answers each, with an error when
  // the connection is lost, so one always ends.
  if (!state_->confirming.compare_exchange_strong(none, now)) return;
  auto answered = [](int rc, const struct Stat*, const void* data) {
    auto* state = static_cast<State*>(const_cast<void*>(data));
    int64_t asked = state->confirming.exchange(0);
    if (rc == ZOK) state->confirmAsOf(asked);
  };
  if (zoo_aexists(state_->handle, "/", 0, answered, state_.get()) != ZOK) state_->confirming = 0;
}

std::chrono::steady_clock::time_point ZooKeeper::lastConfirmed() const {
  return std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(state_->confirmed.load()));
}

std::chrono::milliseconds ZooKeeper::sessionTimeout() const {
  return std::chrono::milliseconds(zoo_recv_timeout(state_->handle));
}

int64_t ZooKeeper::sessionId() const {
  const clientid_t* id = zoo_client_id(state_->handle);
  return id == nullptr ? 0 : id->client_id;
}

Result<void> ZooKeeper::awaitConnected(std::chrono::milliseconds timeout) {
  std::unique_lock lock(state_->mutex);
  bool ok = state_->connected.wait_for(lock, timeout, [&] {
    return state_->session.load() != static_cast<int>(Session::kConnecting);
  });
  if (ok && session() == Session::kConnected) return {};
  if (session() == Session::kExpired) return Error{ErrorCode::kUnavailable, "the ZooKeeper session expired"};
  return Error{ErrorCode::kUnavailable, "no ZooKeeper server of '" + servers_ + "' answered within " +
                                            std::to_string(timeout.count()) + " ms"};
}

namespace {

Result<void> connectedOr(ZooKeeper::Session session, const std::string& servers) {
  if (session == ZooKeeper::Session::kConnected) return {};
  return Error{ErrorCode::kUnavailable,
               std::string("the ZooKeeper session with '") + servers + "' is " + sessionName(session)};
}

}  // namespace

Result<std::string> ZooKeeper::create(const std::string& path, const std::string& data, bool ephemeral,
                                      bool sequential) {
  if (auto ok = connectedOr(session(), servers_); !ok) return ok.error();
  int mode = ephemeral ? (sequential ? ZOO_EPHEMERAL_SEQUENTIAL : ZOO_EPHEMERAL)
                       : (sequential ? ZOO_PERSISTENT_SEQUENTIAL : ZOO_PERSISTENT);
  std::string created(path.size() + 32, '\0');
  int rc = zoo_create(state_->handle, path.c_str(), data.data(), static_cast<int>(data.size()), &ZOO_OPEN_ACL_UNSAFE,
                      mode, created.data(), static_cast<int>(created.size()));
  if (rc != ZOK) return zkError(rc, "cannot create " + path);
  created.resize(std::strlen(created.c_str()));
  return created;
}

Result<void> ZooKeeper::createPath(const std::string& path) {
  for (size_t at = 1; at <= path.size(); ++at) {
    if (at != path.size() && path[at] != '/') continue;
    auto made = create(path.substr(0, at), "");
    if (!made && made.error().code != ErrorCode::kConflict) return made.error();
  }
  return {};
}

Result<std::optional<std::string>> ZooKeeper::get(const std::string& path) {
  if (auto ok = connectedOr(session(), servers_); !ok) return ok.error();
  std::string buffer(64 * 1024, '\0');
  for (;;) {
    int length = static_cast<int>(buffer.size());
    struct Stat stat {};
    int rc = zoo_get(state_->handle, path.c_str(), 0, buffer.data(), &length, &stat);
    if (rc == ZNONODE) return std::optional<std::string>();
    if (rc != ZOK) return zkError(rc, "cannot read " + path);
    if (stat.dataLength <= static_cast<int>(buffer.size())) {
      buffer.resize(length < 0 ? 0 : static_cast<size_t>(length));
      return std::optional<std::string>(std::move(buffer));
    }
    buffer.assign(static_cast<size_t>(stat.dataLength), '\0');
  }
}

namespace {

// What the completions of getMany() fill in, on the client's thread.
struct Gathered {
  std::mutex mutex;
  std::condition_variable done;
  size_t remaining = 0;
  std::vector<std::optional<std::string>> values;
  int firstError = ZOK;
  std::string failedPath;
};

struct GetRequest {
  std::shared_ptr<Gathered> gathered;
  size_t index;
  std::string path;
};

void gotData(int rc, const char* value, int length, const struct Stat*, const void* data) {
  std::unique_ptr<GetRequest> request(static_cast<GetRequest*>(const_cast<void*>(data)));
  auto& g = *request->gathered;
  std::lock_guard lock(g.mutex);
  if (rc == ZOK) {
    g.values[request->index] = std::string(value == nullptr ? "" : value, length < 0 ? 0 : static_cast<size_t>(length));
  } else if (rc != ZNONODE && g.firstError == ZOK) {
    g.firstError = rc;
    g.failedPath = request->path;
  }
  if (--g.remaining == 0) g.done.notify_all();
}

}  // namespace

Result<std::vector<std::optional<std::string>>> ZooKeeper::getMany(const std::vector<std::string>& paths) {
  if (auto ok = connectedOr(session(), servers_); !ok) return ok.error();
  auto gathered = std::make_shared<Gathered>();
  gathered->values.resize(paths.size());
  gathered->remaining = paths.size();
  for (size_t i = 0; i < paths.size(); ++i) {
    auto* request = new GetRequest{gathered, i, paths[i]};
    int rc = zoo_aget(state_->handle, paths[i].c_str(), 0, &gotData, request);
    if (rc != ZOK) {
      delete request;
      std::unique_lock lock(gathered->mutex);
      gathered->remaining -= paths.size() - i;
      if (gathered->firstError == ZOK) {
        gathered->firstError = rc;
        gathered->failedPath = paths[i];
      }
      break;
    }
  }
  std::unique_lock lock(gathered->mutex);
  // Every request is answered: by the ensemble, or with a connection loss.
  gathered->done.wait(lock, [&] { return gathered->remaining == 0; });
  if (gathered->firstError != ZOK) return zkError(gathered->firstError, "cannot read " + gathered->failedPath);
  return std::move(gathered->values);
}

Result<bool> ZooKeeper::exists(const std::string& path, bool watch) {
  if (auto ok = connectedOr(session(), servers_); !ok) return ok.error();
  struct Stat stat {};
  int rc = zoo_exists(state_->handle, path.c_str(), watch ? 1 : 0, &stat);
  if (rc == ZNONODE) return false;
  if (rc != ZOK) return zkError(rc, "cannot look for " + path);
  return true;
}

Result<std::vector<std::string>> ZooKeeper::children(const std::string& path, bool watch) {
  if (auto ok = connectedOr(session(), servers_); !ok) return ok.error();
  struct String_vector strings {};
  int rc = zoo_get_children(state_->handle, path.c_str(), watch ? 1 : 0, &strings);
  if (rc != ZOK) return zkError(rc, "cannot list " + path);
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(strings.count));
  for (int i = 0; i < strings.count; ++i) out.emplace_back(strings.data[i]);
  deallocate_String_vector(&strings);
  return out;
}

Result<void> ZooKeeper::set(const std::string& path, const std::string& data, int version) {
  if (auto ok = connectedOr(session(), servers_); !ok) return ok.error();
  int rc = zoo_set(state_->handle, path.c_str(), data.data(), static_cast<int>(data.size()), version);
  if (rc != ZOK) return zkError(rc, "cannot write " + path);
  return {};
}

Result<void> ZooKeeper::remove(const std::string& path, int version) {
  if (auto ok = connectedOr(session(), servers_); !ok) return ok.error();
  int rc = zoo_delete(state_->handle, path.c_str(), version);
  if (rc != ZOK) return zkError(rc, "cannot delete " + path);
  return {};
}

Result<void> ZooKeeper::multi(const std::vector<Op>& ops) {
  if (ops.empty()) return {};
  if (auto ok = connectedOr(session(), servers_); !ok) return ok.error();
  std::vector<zoo_op_t> raw(ops.size());
  std::vector<zoo_op_result_t> results(ops.size());
  std::vector<std::string> createdPaths(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    const Op& op = ops[i];
    switch (op.kind) {
      case Op::Kind::kCreate:
        createdPaths[i].assign(op.path.size() + 32, '\0');
        zoo_create_op_init(&raw[i], op.path.c_str(), op.data.data(), static_cast<int>(op.data.size()),
                           &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, createdPaths[i].data(),
                           static_cast<int>(createdPaths[i].size()));
        break;
      case Op::Kind::kSet:
        zoo_set_op_init(&raw[i], op.path.c_str(), op.data.data(), static_cast<int>(op.data.size()), op.version,
                        nullptr);
        break;
      case Op::Kind::kDelete: zoo_delete_op_init(&raw[i], op.path.c_str(), op.version); break;
      case Op::Kind::kCheck: zoo_check_op_init(&raw[i], op.path.c_str(), op.version); break;
    }
  }
  int rc = zoo_multi(state_->handle, static_cast<int>(raw.size()), raw.data(), results.data());
  if (rc == ZOK) return {};
  for (size_t i = 0; i < ops.size(); ++i) {
    if (results[i].err != ZOK && results[i].err != ZRUNTIMEINCONSISTENCY) {
      static const char* kinds[] = {"create", "set", "delete", "check"};
      return zkError(results[i].err, std::string(kinds[static_cast<int>(ops[i].kind)]) + " " + ops[i].path);
    }
  }
  return zkError(rc, "a multi-op of " + std::to_string(ops.size()));
}

}  // namespace clusternodes
