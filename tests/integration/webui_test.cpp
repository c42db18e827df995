// The master's web UI against a real cluster (a master, two agents, a
// framework with a running and a failed task), loaded in headless Chromium:
// each page shows what an operator relies on, the task page follows a
// running task's output, the task list filters by state and text with the
// filter in the address, the events list the task's state changes, and a
// banner says when the master is gone; on a master standing by (elected
// through ZooKeeper) the UI names and links the leader instead. A screenshot of each page is left in
// <build>/artifacts/webui/. Also over plain HTTP: the UI's files with their
// content types and ETags, the events endpoint, and the agents' CORS header.
#include <doctest/doctest.h>

#include <curl/curl.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "common/http_auth.hpp"
#include "common/http_client.hpp"
#include "tests/harness/browser.hpp"
#include "tests/harness/cluster.hpp"
#include "tests/harness/driver.hpp"
#include "tests/harness/recording_scheduler.hpp"
#include "tests/harness/text.hpp"
#include "tests/harness/tls_files.hpp"
#include "tests/harness/zookeeper.hpp"

using namespace clusternodes;
using namespace clusternodes::testing;
using namespace std::chrono_literals;

namespace {

const std::string kArtifacts = std::string(CN_ARTIFACTS_DIR) + "/webui";

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

size_t occurrences(const std::string& text, const std::string& part) {
  size_t count = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++count;
  return count;
}

// Waits for the text of `selector` to contain every one of `parts`; on
// failure says which were missing and what it showed last.
void expectText(Browser& browser, const std::string& selector, const std::vector<std::string>& parts) {
  std::string shown;
  bool all = eventually([&] {
    shown = browser.text(selector);
    return std::all_of(parts.begin(), parts.end(), [&](const std::string& p) { return contains(shown, p); });
  }, 15s);
  std::string missing;
  for (const auto& p : parts) {
    if (!contains(shown, p)) missing += " '" + p + "'";
  }
  CHECK_MESSAGE(all, selector << " never showed" << missing << "; it showed:\n" << shown);
}

// The rows of the tables in the page's main area, as their text.
std::vector<std::string> tableRows(Browser& browser) {
  auto rows = browser.evaluate("[...document.querySelectorAll('#main tbody tr')].map((r) => r.innerText)");
  return rows.is_array() ? rows.get<std::vector<std::string>>() : std::vector<std::string>{};
}

// Waits until some table row contains all of `parts`.
void expectRow(Browser& browser, const std::vector<std::string>& parts) {
  std::vector<std::string> rows;
  bool found = eventually([&] {
    rows = tableRows(browser);
    return std::any_of(rows.begin(), rows.end(), [&](const std::string& row) {
      return std::all_of(parts.begin(), parts.end(), [&](const std::string& p) { return contains(row, p); });
    });
  }, 15s);
  std::string wanted;
  for (const auto& p : parts) wanted += " '" + p + "'";
  std::string shown;
  for (const auto& r : rows) shown += r + "\n";
  CHECK_MESSAGE(found, "no row shows" << wanted << "; the rows:\n" << shown);
}

// Saves a screenshot of the page as <artifacts>/webui/NAME.png and checks
// that it is a PNG.
void screenshot(Browser& browser, const std::string& name) {
  std::string path = kArtifacts + "/" + name + ".png";
  std::filesystem::remove(path);
  browser.screenshot(path);
  std::string bytes = readFile(path);
  CHECK_MESSAGE(bytes.rfind("\x89PNG\r\n\x1a\n", 0) == 0, path << " is not a PNG");
  CHECK(bytes.size() > 4096);
}

struct Fetched {
  long status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

size_t collectBody(char* data, size_t size, size_t count, void* out) {
  static_cast<Fetched*>(out)->body.append(data, size * count);
  return size * count;
}

size_t collectHeader(char* data, size_t size, size_t count, void* out) {
  std::string line(data, size * count);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    value.erase(value.find_last_not_of("\r\n") + 1);
    static_cast<Fetched*>(out)->headers[name] = value;
  }
  return size * count;
}

// GET `url` with extra request headers, keeping the response's headers
// (which common/http_client.hpp does not give).
Fetched fetch(const std::string& url, const std::vector<std::string>& requestHeaders = {}) {
  Fetched out;
  CURL* curl = curl_easy_init();
  REQUIRE(curl != nullptr);
  curl_slist* headers = nullptr;
  for (const auto& h : requestHeaders) headers = curl_slist_append(headers, h.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &collectBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &collectHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &out);
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  INFO("GET " << url);
  REQUIRE(rc == CURLE_OK);
  return out;
}

// The sandbox of `taskId` on the cluster's `agent`, as the agent's /state
// gives it.
std::string sandboxOf(const TestCluster& cluster, size_t agent, const std::string& taskId) {
  std::string sandbox;
  eventually([&] {
    auto state = cluster.agentState(agent);
    if (!state.is_object()) return false;
    for (const auto& t : state["tasks"]) {
      if (t.value("id", "") == taskId) sandbox = t.value("sandbox", "");
    }
    return !sandbox.empty();
  });
  return sandbox;
}

}  // namespace

TEST_CASE("the web UI shows agents, frameworks, tasks with their output and events, live, in headless Chromium") {
  TestCluster cluster;
  cluster.startMaster();
  size_t plain = cluster.startAgent("cpus:2;mem:2048;disk:1024");
  size_t racked = cluster.startAgent("cpus:3;mem:3072;disk:2048", {"--attributes=rack:r7;zone:east"});
  cluster.waitForAgents(2);
  const std::string plainId = agentId(cluster, plain);
  const std::string rackedId = agentId(cluster, racked);
  const std::string hostname = cluster.state()["agents"][0]["hostname"].get<std::string>();

  // "ticker" runs on the agent with attributes and writes its second line
  // only once the test creates the file "gate" in its sandbox; "doomed"
  // fails on the other agent.
  RecordingScheduler scheduler;
  launchOnOffers(scheduler, {
      {rackedId, [](const Offer& offer) {
         return std::vector<TaskInfo>{makeTask("ticker", offer,
                                               "echo first-line; echo to-stderr >&2; "
                                               "while [ ! -e \"$CLUSTERNODES_SANDBOX/gate\" ]; do sleep 0.1; done; "
                                               "echo after-the-gate; sleep 600",
                                               "cpus:1;mem:256")};
       }},
      {plainId, [](const Offer& offer) {
         return std::vector<TaskInfo>{makeTask("doomed", offer, "echo going down >&2; exit 3", "cpus:0.5;mem:128")};
       }},
  });
  FrameworkInfo info = frameworkInfo("webui-test");
  info.role = "web";
  auto driver = startDriver(scheduler, cluster, info);
  const std::string frameworkId = scheduler.frameworkId().value;
  REQUIRE(scheduler.waitForState(TaskID{"ticker"}, TaskState::kRunning));
  auto doomed = terminalStatus(scheduler, "doomed");
  REQUIRE(doomed);
  REQUIRE(std::string(toString(doomed->state)) == "TASK_FAILED");

  Browser browser(cluster.dir() + "/chromium");
  const std::string ui = cluster.masterHttp() + "/";

  browser.navigate(ui + "#/");
  expectText(browser, "#main", {"2 healthy", "0 unreachable", "1 connected", "TASK_RUNNING 1", "TASK_FAILED 1",
                                "1 cpus used", "of 5 cpus", "of 5.0 GiB", "web"});
  screenshot(browser, "overview");

  browser.navigate(ui + "#/agents");
  expectRow(browser, {plainId, hostname, "healthy", "of 2 cpus", "of 2.0 GiB"});
  expectRow(browser, {rackedId, hostname, "healthy", "1 cpus used", "of 3 cpus", "of 3.0 GiB", "rack=r7", "zone=east"});
  screenshot(browser, "agents");

  browser.navigate(ui + "#/agents/" + rackedId);
  expectText(browser, "#main", {rackedId, "rack", "r7", "zone", "east", "1 cpus used", "of 3 cpus"});
  expectRow(browser, {"ticker", "TASK_RUNNING"});
  CHECK_FALSE(contains(browser.text("#main"), "doomed"));  // it ran on the other agent
  screenshot(browser, "agent");

  browser.navigate(ui + "#/frameworks");
  expectRow(browser, {"webui-test", frameworkId, "web", "root", "1 active", "1 ended"});
  screenshot(browser, "frameworks");

  browser.navigate(ui + "#/tasks");
  expectRow(browser, {"ticker", "TASK_RUNNING", "webui-test", hostname, "1 cpus"});
  expectRow(browser, {"doomed", "TASK_FAILED", "REASON_COMMAND_EXITED", "status 3"});
  screenshot(browser, "tasks");

  // Filtered by state in the address: the other tasks are hidden.
  browser.navigate(ui + "#/tasks?state=TASK_FAILED");
  expectRow(browser, {"doomed", "TASK_FAILED"});
  CHECK(browser.evaluate("document.getElementById('state-filter').value") == "TASK_FAILED");
  auto rows = tableRows(browser);
  CHECK(rows.size() == 1);
  CHECK_FALSE(std::any_of(rows.begin(), rows.end(), [](const std::string& r) { return contains(r, "ticker"); }));
  screenshot(browser, "tasks-failed");

  // Typed into the filter field: the rows and the address follow.
  browser.navigate(ui + "#/tasks");
  expectRow(browser, {"doomed"});
  auto hash = browser.evaluate(
    "(() => { const field = document.getElementById('task-filter'); field.value = 'tick';"
    " field.dispatchEvent(new Event('input')); return location.hash; })()");
  CHECK(hash == "#/tasks?q=tick");
  rows = tableRows(browser);
  REQUIRE(rows.size() == 1);
  CHECK(contains(rows[0], "ticker"));

  auto running = browser.evaluate(
    "(() => { const select = document.getElementById('state-filter'); select.value = 'TASK_RUNNING';"
    " select.dispatchEvent(new Event('change')); return location.hash; })()");
  CHECK(running == "#/tasks?q=tick&state=TASK_RUNNING");
  browser.navigate(ui + "#/tasks?q=doomed&state=TASK_RUNNING");
  expectText(browser, "#main", {"No task matches the filter."});

  // The task page follows the running task's output: the line written
  // after the page loaded comes without a reload, and nothing twice.
  browser.navigate(ui + "#/tasks/" + frameworkId + "/ticker");
  expectText(browser, "#main", {"TASK_RUNNING", "webui-test", rackedId});
  expectText(browser, "#stdout-log", {"first-line"});
  expectText(browser, "#stderr-log", {"to-stderr"});
  std::string sandbox = sandboxOf(cluster, racked, "ticker");
  REQUIRE_FALSE(sandbox.empty());
  std::ofstream(sandbox + "/gate").put('\n');
  expectText(browser, "#stdout-log", {"first-line", "after-the-gate"});
  CHECK(occurrences(browser.text("#stdout-log"), "first-line") == 1);
  screenshot(browser, "task");

  browser.navigate(ui + "#/tasks/" + frameworkId + "/doomed");
  expectText(browser, "#main", {"TASK_FAILED", "REASON_COMMAND_EXITED"});
  expectText(browser, "#stderr-log", {"going down"});
  screenshot(browser, "task-failed");

  browser.navigate(ui + "#/events");
  expectRow(browser, {"Agent registered", hostname, "cpus:2;"});
  expectRow(browser, {"Agent registered", hostname, "cpus:3;"});
  expectRow(browser, {"Framework registered", "webui-test"});
  expectRow(browser, {"Task state", "ticker", "TASK_STAGING"});
  expectRow(browser, {"Task state", "ticker", "TASK_RUNNING"});
  expectRow(browser, {"Task state", "doomed", "TASK_FAILED", "REASON_COMMAND_EXITED", "status 3"});
  screenshot(browser, "events");

  // The master goes away under an open page: the page says so and keeps
  // what it last knew.
  browser.navigate(ui + "#/");
  expectText(browser, "#status", {"live"});
  cluster.stopMaster(SIGKILL);
  expectText(browser, "#banner", {"Cannot reach the master"});
  expectText(browser, "#status", {"master unreachable"});
  CHECK(browser.evaluate("document.getElementById('banner').hidden") == false);
  CHECK(contains(browser.text("#main"), "2 healthy"));
  screenshot(browser, "master-gone");

  INFO("exceptions in the page: " << nlohmann::json(browser.exceptions()).dump());
  CHECK(browser.exceptions().empty());
  driver->stop();
}

TEST_CASE("the web UI over HTTPS, of a master and agents that want a token for every read, asks for the token "
          "once and reads task output with the sandbox tokens the master signs") {
  TestCluster cluster;
  std::string tokens = cluster.dir() + "/http-tokens.toml";
  std::string viewer = generateHttpToken();
  REQUIRE(addHttpToken(tokens, "viewer", viewer));
  std::string certs = cluster.dir() + "/tls";
  std::filesystem::create_directories(certs);
  setHttpCaFile(makeTlsCa(certs));  // the harness's own reads
  auto master = makeTlsFiles(certs, "master");
  auto agent = makeTlsFiles(certs, "agent");
  cluster.startMaster({"--http-credentials=" + tokens, "--http-authenticate=all", "--tls-cert=" + master.cert,
                       "--tls-key=" + master.key});
  setHttpBearerToken(viewer);
  cluster.startAgent("cpus:1;mem:512", {"--http-credentials=" + tokens, "--http-authenticate=all",
                                        "--tls-cert=" + agent.cert, "--tls-key=" + agent.key});
  cluster.waitForAgents(1);
  RecordingScheduler scheduler;
  std::atomic<bool> launched{false};
  scheduler.onOffer = [&](SchedulerDriver* driver, const Offer& offer) {
    if (launched.exchange(true)) return;
    driver->launchTasks({offer.id}, {makeTask("guarded", offer, "echo guarded-output; echo guarded-err >&2")});
  };
  auto driver = startDriver(scheduler, cluster, frameworkInfo("webui-tokens"));
  REQUIRE(scheduler.waitForState(TaskID{"guarded"}, TaskState::kFinished));
  const std::string frameworkId = scheduler.frameworkId().value;
  setHttpBearerToken("");
  setHttpCaFile("");

  // A browser that trusts the two certificates, as one given the CA would.
  Browser browser(cluster.dir() + "/chromium", 1280, 900, {Browser::trustFlag({master.cert, agent.cert})});
  const std::string ui = cluster.masterHttp() + "/";
  REQUIRE(ui.rfind("https://", 0) == 0);
  browser.navigate(ui + "#/");
  expectText(browser, "#banner", {"This master needs a token"});
  auto submit = [&](const std::string& token) {
    browser.evaluate("document.getElementById('token-input').value = " + nlohmann::json(token).dump() +
                     "; document.getElementById('token-form').requestSubmit(); true");
  };
  submit(generateHttpToken());
  expectText(browser, "#banner", {"It refused the one given", "not one this daemon knows"});
  screenshot(browser, "token-prompt");
  expectText(browser, "#status", {"token needed"});
  submit(viewer);
  expectText(browser, "#main", {"1 healthy", "1 connected"});
  CHECK(browser.evaluate("document.getElementById('banner').hidden") == true);
  // The token stays with this tab: the master has it, the agents never.
  CHECK(browser.evaluate("sessionStorage.getItem('clusternodes-token')") == viewer);

  browser.navigate(ui + "#/tasks/" + frameworkId + "/guarded");
  expectText(browser, "#main", {"TASK_FINISHED"});
  expectText(browser, "#stdout-log", {"guarded-output"});
  expectText(browser, "#stderr-log", {"guarded-err"});
  std::string raw = browser.evaluate("document.querySelector('#stdout-log').closest('.log-panel').querySelector('a').href");
  CHECK(contains(raw, "token=v1."));
  screenshot(browser, "task-with-tokens");
  INFO("exceptions in the page: " << nlohmann::json(browser.exceptions()).dump());
  CHECK(browser.exceptions().empty());
  driver->stop();
}

TEST_CASE("the master serves the web UI's files and its last events, and agents let the UI read sandbox files") {
  TestCluster cluster;
  cluster.startMaster();
  size_t agent = cluster.startAgent();
  cluster.waitForAgents(1);
  const std::string master = cluster.masterHttp();

  SUBCASE("index.html at /, every module it imports under /ui/, with content types and ETags") {
    auto index = fetch(master + "/");
    CHECK(index.status == 200);
    CHECK(index.headers["content-type"] == "text/html; charset=utf-8");
    CHECK(index.headers["cache-control"] == "no-cache");
    CHECK(contains(index.headers["content-security-policy"], "default-src 'self'"));
    CHECK(contains(index.body, "src=\"/ui/app.js\""));
    REQUIRE_FALSE(index.headers["etag"].empty());
    auto again = fetch(master + "/", {"If-None-Match: " + index.headers["etag"]});
    CHECK(again.status == 304);
    CHECK(again.body.empty());
    CHECK(fetch(master + "/", {"If-None-Match: \"something else\""}).status == 200);

    CHECK(fetch(master + "/ui/style.css").headers["content-type"] == "text/css; charset=utf-8");
    CHECK(fetch(master + "/ui/favicon.svg").headers["content-type"] == "image/svg+xml");
    CHECK(fetch(master + "/ui/no-such-file.js").status == 404);

    // Every module reachable from app.js is served, as JavaScript.
    std::set<std::string> seen;
    std::deque<std::string> pending = {"app.js"};
    const std::regex import(R"(from '(\.{1,2}/[^']+)')");
    while (!pending.empty()) {
      std::string name = pending.front();
      pending.pop_front();
      if (!seen.insert(name).second) continue;
      auto file = fetch(master + "/ui/" + name);
      INFO("/ui/" << name);
      CHECK(file.status == 200);
      CHECK(file.headers["content-type"] == "text/javascript; charset=utf-8");
      std::string dir = name.find('/') == std::string::npos ? "" : name.substr(0, name.rfind('/') + 1);
      for (std::sregex_iterator m(file.body.begin(), file.body.end(), import), end; m != end; ++m) {
        std::string path = std::filesystem::path(dir + (*m)[1].str()).lexically_normal().string();
        pending.push_back(path);
      }
    }
    CHECK(seen.count("pages/task.js") == 1);
  }

  SUBCASE("GET /api/v1/events lists what happened since a sequence number, and refuses a bad one") {
    auto answer = nlohmann::json::parse(fetch(master + "/api/v1/events").body);
    CHECK(answer["master_id"] == cluster.state()["id"]);
    CHECK(answer["capacity"] == 500);
    REQUIRE(answer["events"].is_array());
    REQUIRE_FALSE(answer["events"].empty());
    auto first = answer["events"][0];
    CHECK(first["sequence"] == 1);
    CHECK(first["type"] == "agent_registered");
    CHECK(first["agent_id"] == agentId(cluster, agent));
    CHECK(first["time"].get<double>() > 0);
    uint64_t last = answer["last_sequence"];
    CHECK(last == answer["events"].back()["sequence"]);
    auto none = nlohmann::json::parse(fetch(master + "/api/v1/events?since=" + std::to_string(last)).body);
    CHECK(none["events"].empty());
    for (const std::string bad : {"-1", "abc", "1x"}) {
      auto refused = fetch(master + "/api/v1/events?since=" + bad);
      CHECK(refused.status == 400);
      CHECK(contains(refused.body, "since must be"));
    }
  }

  SUBCASE("the agent's file endpoints may be read from any origin, errors too") {
    auto missing = fetch(cluster.agentHttp(agent) + "/files/browse?path=no-such-framework");
    CHECK(missing.status == 404);
    CHECK(missing.headers["access-control-allow-origin"] == "*");
    auto refused = fetch(cluster.agentHttp(agent) + "/files/read?path=/etc/passwd");
    CHECK(refused.status == 403);
    CHECK(refused.headers["access-control-allow-origin"] == "*");
  }
}

TEST_CASE("the web UI of a standby master names the leading master, links to it, and shows the cluster once elected") {
  TestCluster cluster;
  ZooKeeperServer zk(cluster.dir() + "/zk");
  const std::string zkUrl = "zk://" + zk.connectString() + "/clusternodes";
  cluster.startMaster({"--zk=" + zkUrl, "--zk-session-timeout=2s"});
  const std::string leader = cluster.masterHttp();
  REQUIRE(eventually([&] { return cluster.state().value("leading", false); }));

  const std::string standbyHttp = "http://127.0.0.1:" + std::to_string(freePort());
  Process standby({binary("clusternodes-master"), "--ip=127.0.0.1", "--port=" + std::to_string(freePort()),
                   "--http-port=" + standbyHttp.substr(standbyHttp.rfind(':') + 1),
                   "--work-dir=" + cluster.dir() + "/standby", "--zk=" + zkUrl, "--zk-session-timeout=2s"},
                  cluster.dir() + "/standby.log");
  REQUIRE(eventually([&] {
    auto health = httpGet(standbyHttp + "/health", 1);
    return health && health->body == "standing by; the leader is " + leader + "\n";
  }));
  cluster.startAgent("cpus:2;mem:2048;disk:1024", {"--master=" + zkUrl});
  cluster.waitForAgents(1);
  const std::string agent = agentId(cluster, 0);

  Browser browser(cluster.dir() + "/chromium");
  browser.navigate(leader + "/#/");
  expectText(browser, "#status", {"live", "leading"});
  expectText(browser, "#main", {"leading, elected through " + zkUrl});

  browser.navigate(standbyHttp + "/#/agents");
  expectText(browser, "#main", {"This master is standing by.", "The leading master is " + leader + "/.", zkUrl});
  expectText(browser, "#status", {"standing by"});
  CHECK(browser.evaluate("document.querySelector('#standby a.leader-link')?.href") == leader + "/#/agents");
  CHECK(browser.evaluate("document.querySelectorAll('#main table').length") == 0);
  CHECK_FALSE(contains(browser.text("#main"), agent));
  screenshot(browser, "standby");

  // The leader gone, the standby is elected: the same page shows the cluster.
  cluster.stopMaster(SIGKILL);
  expectRow(browser, {agent, "healthy"});
  CHECK(browser.evaluate("document.querySelector('#standby') === null") == true);
  expectText(browser, "#status", {"leading"});

  INFO("exceptions in the page: " << nlohmann::json(browser.exceptions()).dump());
  CHECK(browser.exceptions().empty());
}
