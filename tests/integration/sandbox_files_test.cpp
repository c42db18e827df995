// A task's sandbox over the agent's HTTP: /files/browse, /files/read and
// /files/download, and every way out of the sandboxes refused.
#include <doctest/doctest.h>

#include <atomic>
#include <string>

#include "clusternodes/scheduler.hpp"
#include "common/http_client.hpp"
#include "tests/harness/cluster.hpp"
#include "tests/harness/recording_scheduler.hpp"

using namespace clusternodes;
using namespace clusternodes::testing;
using namespace std::chrono_literals;


TEST_CASE("a task's sandbox is browsable and readable over the agent's HTTP, and nothing outside it is") {
  TestCluster cluster;
  cluster.startMaster();
  size_t agent = cluster.startAgent();
  cluster.waitForAgents(1);

  RecordingScheduler scheduler;
  std::atomic<bool> launched{false};
  scheduler.onOffer = [&](SchedulerDriver* driver, const Offer& offer) {
    if (launched.exchange(true)) return;
    driver->launchTasks({offer.id}, {makeTask("writer", offer,
                                              "echo hello; echo oops >&2; ln -s /etc link-out; mkdir sub; "
                                              "echo inner > sub/f; sleep 30")});
  };
  FrameworkInfo info;
  info.name = "files";
  info.user = "root";
  auto driver = SchedulerDriver::create(&scheduler, info, {.master = cluster.master()});
  REQUIRE(driver->start() == DriverStatus::kRunning);
  REQUIRE(scheduler.waitForState(TaskID{"writer"}, TaskState::kRunning));

  std::string sandbox;
  REQUIRE(eventually([&] {
    auto s = cluster.agentState(agent);
    if (!s.is_object() || s["tasks"].empty()) return false;
    sandbox = s["tasks"][0]["sandbox"].get<std::string>();
    return true;
  }));
  const std::string http = cluster.agentHttp(agent);
  auto get = [&](const std::string& pathAndQuery) {
    auto r = httpGet(http + pathAndQuery);
    REQUIRE(r.ok());
    return *r;
  };
  auto read = [&](const std::string& path, const std::string& extra = "") {
    return get("/files/read?path=" + urlEncode(path) + extra);
  };
  REQUIRE(eventually([&] {
    auto r = read(sandbox + "/sub/f");
    return r.status == 200 && nlohmann::json::parse(r.body)["data"] == "inner\n";
  }));

  SUBCASE("reads") {
    auto out = nlohmann::json::parse(read(sandbox + "/stdout").body);
    CHECK(out["data"] == "hello\n");
    CHECK(out["offset"] == 0);
    CHECK(nlohmann::json::parse(read(sandbox + "/stderr").body)["data"] == "oops\n");
    auto middle = nlohmann::json::parse(read(sandbox + "/stdout", "&offset=2&length=2").body);
    CHECK(middle["data"] == "ll");
    CHECK(middle["offset"] == 2);
    auto end = nlohmann::json::parse(read(sandbox + "/stdout", "&offset=-1").body);
    CHECK(end["data"] == "");
    CHECK(end["offset"] == 6);
    // A path relative to the sandboxes directory names the same file.
    std::string relative = sandbox.substr(sandbox.find("/sandboxes/") + std::string("/sandboxes/").size());
    CHECK(nlohmann::json::parse(read(relative + "/stdout").body)["data"] == "hello\n");
  }

  SUBCASE("downloads raw bytes, whole or a range") {
    auto whole = get("/files/download?path=" + urlEncode(sandbox + "/stdout"));
    CHECK(whole.status == 200);
    CHECK(whole.body == "hello\n");
    CHECK(get("/files/download?path=" + urlEncode(sandbox + "/stdout") + "&offset=1&length=3").body == "ell");
    CHECK(get("/files/download?path=" + urlEncode(sandbox + "/stdout") + "&offset=100").body.empty());
    CHECK(get("/files/download?path=" + urlEncode(sandbox + "/missing")).status == 404);
    CHECK(get("/files/download?path=" + urlEncode(sandbox + "/link-out/passwd")).status == 403);
    CHECK(get("/files/download?path=/etc/passwd").status == 403);
    CHECK(get("/files/download?path=" + urlEncode(sandbox + "/stdout") + "&offset=-1").status == 400);
  }

  SUBCASE("browses") {
    auto listing = get("/files/browse?path=" + urlEncode(sandbox));
    REQUIRE(listing.status == 200);
    auto entries = nlohmann::json::parse(listing.body)["entries"];
    std::map<std::string, nlohmann::json> byName;
    for (const auto& e : entries) byName[e["name"].get<std::string>()] = e;
    REQUIRE(byName.count("stdout") == 1);
    CHECK(byName["stdout"]["size"] == 6);
    CHECK(byName["stdout"]["is_dir"] == false);
    CHECK(byName["sub"]["is_dir"] == true);
    CHECK(byName.count("stderr") == 1);
    CHECK(byName.count("link-out") == 1);
  }

  SUBCASE("refuses every way out, and says what is missing or wrong") {
    for (const std::string& path : {sandbox + "/../../../../../etc/passwd", std::string("/etc/passwd"),
                                   sandbox + "/link-out/passwd", std::string("../outside"),
                                   sandbox + "/sub/../stdout"}) {
      INFO("path: " << path);
      auto r = read(path);
      CHECK(r.status == 403);
      CHECK(nlohmann::json::parse(r.body).contains("error"));
    }
    CHECK(get("/files/browse?path=" + urlEncode(sandbox + "/link-out")).status == 403);
    CHECK(get("/files/browse?path=/etc").status == 403);
    CHECK(read(sandbox + "/missing").status == 404);
    CHECK(get("/files/read").status == 400);
    CHECK(read(sandbox + "/stdout", "&offset=x").status == 400);
    CHECK(read(sandbox + "/sub").status == 400);  // a directory is browsed, not read
  }

  driver->killTask(TaskID{"writer"});
  CHECK(scheduler.waitForState(TaskID{"writer"}, TaskState::kKilled));
  driver->stop();
  driver->join();
}

TEST_CASE("clusternodes logs prints a task's output while it runs, follows it to the end, and after it ends") {
  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent();
  cluster.waitForAgents(1);

  RecordingScheduler scheduler;
  std::atomic<bool> launched{false};
  scheduler.onOffer = [&](SchedulerDriver* driver, const Offer& offer) {
    if (launched.exchange(true)) return;
    driver->launchTasks({offer.id}, {makeTask("talker", offer, "echo first; echo err >&2; sleep 2; echo second")});
  };
  FrameworkInfo info;
  info.name = "logs";
  info.user = "root";
  auto driver = SchedulerDriver::create(&scheduler, info, {.master = cluster.master()});
  REQUIRE(driver->start() == DriverStatus::kRunning);
  REQUIRE(scheduler.waitForState(TaskID{"talker"}, TaskState::kRunning));

  const std::string master = "--master=" + cluster.master();
  auto logs = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv = {binary("clusternodes"), "logs", "talker", master};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return runProgram(argv, 60s);
  };
  // While it runs.
  REQUIRE(eventually([&] { return logs({}).output == "first\n"; }));
  // Followed: everything it writes, and back once it has ended.
  auto followed = logs({"--follow"});
  CHECK(followed.exitCode == 0);
  CHECK(followed.output == "first\nsecond\n");
  REQUIRE(scheduler.waitForState(TaskID{"talker"}, TaskState::kFinished));
  // After it ended.
  CHECK(logs({}).output == "first\nsecond\n");
  auto err = logs({"--stderr"});
  CHECK(err.exitCode == 0);
  CHECK(err.output == "err\n");

  auto unknown = runProgram({binary("clusternodes"), "logs", "no-such-task", master});
  CHECK(unknown.exitCode == 1);
  CHECK(unknown.output.find("knows no task 'no-such-task'") != std::string::npos);
  driver->stop();
  driver->join();
}
