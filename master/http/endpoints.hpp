// What the master's HTTP endpoints share (master/http/master_http.cpp).
#pragma once

#include "clusternodes/result.hpp"
#include "common/http_server.hpp"

namespace clusternodes::master {

class Master;

// A standby's answer to an API call: 307 to the same call on the leader
// (the method and body are kept), or 503 while no master leads.
HttpResponse redirectToLeader(const Master& master, const HttpRequest& request);

// The status an operator call's failure is answered with, on the master's
// own endpoints and on Mesos's operator API: 403 for what the ACLs deny,
// else 400.
inline int operatorRefusalStatus(const Error& error) { return error.code == ErrorCode::kDenied ? 403 : 400; }

}  // namespace clusternodes::master
