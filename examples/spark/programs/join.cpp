// clusternodes-spark-join LEFT RIGHT OUTPUT
//
// An inner join of two text files on their first field: a line is
// "KEY REST" (KEY up to the first space or tab). For every pair of lines
// with the same key, OUTPUT/part-NNNNN gets "KEY<TAB>LEFT-REST<TAB>RIGHT-REST",
// sorted by key. --distinct drops repeated output lines.
#include "spark/app.hpp"
#include "spark/executor.hpp"

using namespace clusternodes::spark;

int main(int argc, char** argv) {
  FunctionRegistry registry;
  // "KEY REST" -> (KEY, REST); blank lines go.
  registry.flatMap("first_field", [](const Record& in, Emit emit) {
    const std::string& line = in.value;
    size_t start = line.find_first_not_of(" \t\r");
    if (start == std::string::npos) return;
    size_t end = line.find_first_of(" \t\r", start);
    if (end == std::string::npos) {
      emit(line.substr(start), "");
      return;
    }
    size_t rest = line.find_first_not_of(" \t", end);
    std::string value = rest == std::string::npos ? "" : line.substr(rest);
    while (!value.empty() && (value.back() == '\r' || value.back() == ' ' || value.back() == '\t')) value.pop_back();
    emit(line.substr(start, end - start), std::move(value));
  });
  if (isExecutor(argc, argv)) return runExecutor(registry);

  AppOptions app;
  bool distinct = false;
  AppSpec spec{"clusternodes-spark-join", "Joins two text files on their first field.", {"LEFT", "RIGHT", "OUTPUT"}};
  auto extra = [&](CLI::App& cli) { cli.add_flag("--distinct", distinct, "Drop repeated output lines"); };
  if (int code = parseApp(argc, argv, spec, app, extra); code >= 0) return code;
  return runApp(registry, app, [&](Context& ctx) {
    auto left = ctx.textFile(app.args[0]).flatMap("first_field");
    auto right = ctx.textFile(app.args[1]).flatMap("first_field");
    auto joined = left.join(right);
    if (distinct) joined = joined.distinct();
    auto sorted = joined.sortByKey();
    sorted.saveAsTextFile(app.args[2]);
  });
}
