// What the master's HTTP endpoints share (master/http/master_http.cpp).
#pragma once

#include "common/http_server.hpp"

namespace clusternodes::master {

class Master;

// A standby's answer to an API call: 307 to the same call on the leader
// (the method and body are kept), or 503 while no master leads.
HttpResponse redirectToLeader(const Master& master, const HttpRequest& request);

}  // namespace clusternodes::master
