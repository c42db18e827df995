// spark-test-app MODE INPUT OUTPUT: a Spark-style program for the
// integration tests, built on the framework's library like any user program.
//
//   slow-wordcount  the word count, with a map function that sleeps 1 ms
//                   every 20 lines, so that a job lasts long enough to lose
//                   an executor in the middle of it
//   fail            a map function that throws on every record: the job
//                   fails after the task's attempts
#include <chrono>
#include <stdexcept>
#include <thread>

#include "examples/spark/app.hpp"
#include "examples/spark/executor.hpp"

using namespace clusternodes::spark;

int main(int argc, char** argv) {
  FunctionRegistry registry;
  registry.filter("slowly", [](const Record&) {
    thread_local int seen = 0;
    if (++seen % 20 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return true;
  });
  registry.map("broken", [](const Record& r) -> Record {
    throw std::runtime_error("broken record of " + std::to_string(r.value.size()) + " bytes");
  });
  if (isExecutor(argc, argv)) return runExecutor(registry);

  AppOptions app;
  AppSpec spec{"spark-test-app", "Test programs.", {"MODE", "INPUT", "OUTPUT"}};
  if (int code = parseApp(argc, argv, spec, app); code >= 0) return code;
  const std::string& mode = app.args[0];
  return runApp(registry, app, [&](Context& ctx) {
    if (mode == "slow-wordcount") {
      ctx.textFile(app.args[1])
          .filter("slowly")
          .flatMap("split_words")
          .map("pair_with_one")
          .reduceByKey("sum")
          .saveAsTextFile(app.args[2]);
    } else if (mode == "fail") {
      ctx.textFile(app.args[1]).map("broken").count();
    } else {
      throw std::invalid_argument("unknown mode " + mode);
    }
  });
}
