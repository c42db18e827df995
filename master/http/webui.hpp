// The web UI's static files (webui/), embedded in the master at build time
// and served over its HTTP port: index.html at "/", every file at
// "/ui/NAME" (NAME relative to webui/, e.g. "/ui/pages/tasks.js").
//
// Each answer carries its content type, an ETag and "Cache-Control:
// no-cache": a browser keeps the files but asks each time whether they
// changed, and gets a 304 with no body while they have not, so a master
// upgrade shows its new UI at the next load.
#pragma once

#include <span>
#include <string_view>

#include "common/http_server.hpp"

namespace clusternodes::master {

struct WebUiFile {
  std::string_view name;  // relative to webui/: "index.html", "pages/tasks.js"
  std::string_view etag;  // quoted, as the header carries it
  std::string_view body;
};

// Every file of webui/, sorted by name. Defined in the source that
// master/http/embed_webui.cmake generates.
std::span<const WebUiFile> webUiFiles();

// "text/javascript; charset=utf-8" for "app.js", ...; by the name's extension.
std::string_view webUiContentType(std::string_view name);

// Routes "/" and "/ui/NAME" for every embedded file.
void installWebUi(HttpServer& http);

}  // namespace clusternodes::master
