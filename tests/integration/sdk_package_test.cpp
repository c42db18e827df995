// The SDK as a framework author gets it: installed (the dev component, what
// the clusternodes-dev package holds) into a prefix of its own, then the
// SDK guide's programs built out of the tree against it three ways (CMake's
// find_package with the shared library, with the static archive, and
// pkg-config), and run against a real cluster.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/harness/cluster.hpp"
#include "tests/harness/temp_dir.hpp"

using namespace clusternodes;
using namespace clusternodes::testing;

namespace {

const std::string kSource = CN_SOURCE_DIR;

// Runs a command of the build; REQUIREs it to succeed.
std::string mustRun(const std::vector<std::string>& argv, std::chrono::seconds timeout = std::chrono::seconds(240)) {
  auto result = runProgram(argv, timeout);
  std::string line;
  for (const auto& word : argv) line += word + " ";
  INFO(line, "said:\n", result.output);
  REQUIRE(result.exitCode == 0);
  return result.output;
}

// The shared libraries a program names (readelf -d's NEEDED entries).
std::string needed(const std::string& program) {
  std::string out;
  auto dynamic = mustRun({"/usr/bin/readelf", "-d", program});
  for (size_t at = dynamic.find("(NEEDED)"); at != std::string::npos; at = dynamic.find("(NEEDED)", at + 1)) {
    size_t open = dynamic.find('[', at);
    out += dynamic.substr(open + 1, dynamic.find(']', open) - open - 1) + " ";
  }
  return out;
}

}  // namespace

TEST_CASE("the installed SDK: the guide's programs build out of the tree with CMake and pkg-config, and run") {
  TempDir dir("cn-sdk-package");
  const std::string prefix = dir.path + "/prefix";
  mustRun({"/usr/bin/cmake", "--install", CN_BUILD_DIR, "--component", "dev", "--prefix", prefix});

  // What the package holds: the public headers, both libraries, and the
  // files that find them.
  namespace fs = std::filesystem;
  std::string libdir;
  for (const char* candidate : {"lib", "lib64", "lib/x86_64-linux-gnu"}) {
    if (fs::exists(prefix + "/" + candidate + "/libclusternodes_sdk.a")) libdir = prefix + "/" + candidate;
  }
  REQUIRE_MESSAGE(!libdir.empty(), (std::string("no libclusternodes_sdk.a under ") + prefix));
  for (const char* header : {"scheduler.hpp", "executor.hpp", "version.hpp", "resources.hpp", "result.hpp",
                             "values.hpp"}) {
    CHECK_MESSAGE(fs::exists(prefix + "/include/clusternodes/" + header), header);
  }
  CHECK(fs::is_symlink(libdir + "/libclusternodes_sdk.so"));
  CHECK(fs::exists(libdir + "/libclusternodes_sdk.so.1"));
  CHECK(fs::exists(libdir + "/cmake/Clusternodes/ClusternodesConfig.cmake"));
  CHECK(fs::exists(libdir + "/cmake/Clusternodes/ClusternodesConfigVersion.cmake"));
  CHECK(fs::exists(libdir + "/pkgconfig/clusternodes.pc"));
  CHECK(mustRun({"/usr/bin/readelf", "-d", libdir + "/libclusternodes_sdk.so.1"}).find(
            "Library soname: [libclusternodes_sdk.so.1]") != std::string::npos);
  // It exports the API, not what it is built from.
  auto exported = mustRun({"/bin/sh", "-c", "nm -D --defined-only -C " + libdir + "/libclusternodes_sdk.so.1"});
  CHECK(exported.find("clusternodes::SchedulerDriver::create") != std::string::npos);
  CHECK(exported.find("clusternodes::Resources::parse") != std::string::npos);
  CHECK(exported.find("clusternodes::sdkVersion") != std::string::npos);
  CHECK(exported.find("clusternodes::wire::") == std::string::npos);
  CHECK(exported.find("clusternodes::Loop") == std::string::npos);
  CHECK(exported.find("capnp::") == std::string::npos);

  // Built three ways, as a framework of one's own is.
  const std::string shared = dir.path + "/shared";
  const std::string staticBuild = dir.path + "/static";
  mustRun({"/usr/bin/cmake", "-S", kSource + "/examples/sdk", "-B", shared, "-G", "Ninja",
           "-DCMAKE_PREFIX_PATH=" + prefix});
  mustRun({"/usr/bin/cmake", "--build", shared});
  mustRun({"/usr/bin/cmake", "-S", kSource + "/examples/sdk", "-B", staticBuild, "-G", "Ninja",
           "-DCMAKE_PREFIX_PATH=" + prefix, "-DHELLO_STATIC=ON"});
  mustRun({"/usr/bin/cmake", "--build", staticBuild, "--target", "hello-scheduler"});
  const std::string withPkgConfig = dir.path + "/hello-pkg-config";
  mustRun({"/bin/sh", "-c",
           "export PKG_CONFIG_PATH=" + libdir + "/pkgconfig; g++ -o " + withPkgConfig + " " + kSource +
               "/examples/sdk/hello_scheduler.cpp $(pkg-config --cflags --libs clusternodes) -Wl,-rpath," + libdir});

  // Linked against the shared library, a program needs it and nothing it is
  // built from; linked statically, it does not need it at all.
  auto sharedNeeds = needed(shared + "/hello-scheduler");
  CHECK(sharedNeeds.find("libclusternodes_sdk.so.1") != std::string::npos);
  CHECK(sharedNeeds.find("libzmq") == std::string::npos);
  CHECK(sharedNeeds.find("libcapnp") == std::string::npos);
  CHECK(needed(staticBuild + "/hello-scheduler").find("libclusternodes_sdk") == std::string::npos);
  CHECK(needed(withPkgConfig).find("libclusternodes_sdk.so.1") != std::string::npos);

  TestCluster cluster;
  cluster.startMaster();
  cluster.startAgent("cpus:2;mem:1024;disk:1024");
  cluster.waitForAgents(1);
  for (const auto& program : {shared + "/hello-scheduler", staticBuild + "/hello-scheduler", withPkgConfig,
                              shared + "/hello-executor-scheduler"}) {
    auto run = runProgram({program, cluster.master()}, std::chrono::seconds(60));
    INFO(program, " said:\n", run.output);
    CHECK(run.exitCode == 0);
  }
}
