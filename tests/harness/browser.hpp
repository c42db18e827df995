// Headless Chromium for the web UI's tests, driven over the DevTools
// protocol on a pipe (--remote-debugging-pipe: JSON messages ending in a NUL
// byte, written to the browser's fd 3 and read from its fd 4).
//
// One page stays open across navigations, so that a test can watch it change
// live (new output appended, the master going away) with eventually(),
// rather than take one snapshot after a fixed time.
//
//   Browser browser(cluster.dir() + "/chromium");
//   browser.navigate(cluster.masterHttp() + "/#/agents");
//   CHECK(eventually([&] { return contains(browser.text("#main"), "healthy"); }));
//   browser.screenshot(artifacts + "/agents.png");
//
// Every call has a deadline; the browser and every process it started are
// killed when the Browser goes (its processes run in their own group, with
// their working directory in `dir`). Should the test process die first,
// Chromium quits by itself when its pipe closes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace clusternodes::testing {

class Browser {
 public:
  // The Chromium that Debian's `chromium` package installs.
  static constexpr const char* kPath = "/usr/bin/chromium";

  // Starts Chromium in `dir` (created; its profile and log go there) with a
  // page of width x height CSS pixels, and `flags` added to its command
  // line. Throws std::runtime_error when it cannot.
  explicit Browser(const std::string& dir, int width = 1280, int height = 900,
                   const std::vector<std::string>& flags = {});

  // The flag that makes Chromium trust the certificates in the PEM files
  // `certs` (by their public keys' SHA-256), as a browser that was given
  // the cluster's CA would: for pages served over TLS.
  static std::string trustFlag(const std::vector<std::string>& certs);
  ~Browser();
  Browser(const Browser&) = delete;
  Browser& operator=(const Browser&) = delete;

  // Loads `url` in the page; returns once the load has started. With only
  // the hash changed, the page gets a hashchange and no reload.
  void navigate(const std::string& url);

  // The value of a JavaScript expression evaluated in the page (a promise is
  // awaited); null when it throws.
  nlohmann::json evaluate(const std::string& expression);

  // innerText of the first element `selector` matches; "" when none does.
  std::string text(const std::string& selector);

  // Saves a PNG of the whole page (beyond the window's height) at `path`.
  void screenshot(const std::string& path);

  // Uncaught JavaScript exceptions and unhandled rejections of the page so
  // far, one line each.
  const std::vector<std::string>& exceptions() const { return exceptions_; }

 private:
  nlohmann::json call(const std::string& method, const nlohmann::json& params, bool onPage = true);
  nlohmann::json readMessage(std::chrono::steady_clock::time_point deadline);
  void noteEvent(const nlohmann::json& message);
  void stop();

  std::string dir_;
  pid_t pid_ = -1;
  int toBrowser_ = -1;
  int fromBrowser_ = -1;
  std::string buffer_;
  int nextId_ = 1;
  std::string session_;
  std::vector<std::string> exceptions_;
};

}  // namespace clusternodes::testing
