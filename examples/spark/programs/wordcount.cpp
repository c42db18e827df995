// clusternodes-spark-wordcount INPUT OUTPUT
//
// The classic: counts the words (runs of ASCII letters, lowercased) of a
// text file or directory, and writes "word<TAB>count" lines to
// OUTPUT/part-NNNNN. See app.hpp for the flags every program has.
#include "spark/app.hpp"
#include "spark/executor.hpp"

using namespace clusternodes::spark;

int main(int argc, char** argv) {
  FunctionRegistry registry;
  if (isExecutor(argc, argv)) return runExecutor(registry);

  AppOptions app;
  AppSpec spec{"clusternodes-spark-wordcount", "Counts the words of a text file or directory.", {"INPUT", "OUTPUT"}};
  if (int code = parseApp(argc, argv, spec, app); code >= 0) return code;
  return runApp(registry, app, [&](Context& ctx) {
    auto counts = ctx.textFile(app.args[0])
                      .flatMap("split_words")
                      .map("pair_with_one")
                      .reduceByKey("sum");
    counts.saveAsTextFile(app.args[1]);
  });
}
