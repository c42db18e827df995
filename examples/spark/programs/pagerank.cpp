// clusternodes-spark-pagerank GRAPH
//
// PageRank over a cached graph, one job per iteration. GRAPH holds one line
// per page: "PAGE LINK LINK ..." (fields separated by spaces or tabs). The
// links are parsed once and cached in the executors' memory; each iteration
// joins them with the current ranks, sends each page's rank in equal shares
// along its links, and sets rank = 0.15 + 0.85 * (shares received). A page
// keeps its place even when nothing links to it. Pages that only appear as
// link targets get a rank but send nothing.
//
// Prints "PAGE<TAB>RANK" for the --top pages (highest first, then by name)
// on stdout; --output DIR also saves every page's rank. --no-cache rebuilds
// the graph from the file in every iteration (to see what the cache saves).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "spark/app.hpp"
#include "spark/executor.hpp"

using namespace clusternodes::spark;

namespace {

std::vector<std::string> fields(const std::string& line) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < line.size()) {
    size_t start = line.find_first_not_of(" \t\r", i);
    if (start == std::string::npos) break;
    size_t end = line.find_first_of(" \t\r", start);
    if (end == std::string::npos) end = line.size();
    out.push_back(line.substr(start, end - start));
    i = end;
  }
  return out;
}

std::string formatRank(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

double parseRank(const std::string& text) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0') throw std::invalid_argument("not a rank: '" + text + "'");
  return v;
}

void registerFunctions(FunctionRegistry& registry) {
  // "a b c" -> (a, "b c"); blank lines go.
  registry.flatMap("parse_links", [](const Record& in, Emit emit) {
    auto f = fields(in.value);
    if (f.empty()) return;
    std::string links;
    for (size_t i = 1; i < f.size(); ++i) {
      if (i > 1) links.push_back(' ');
      links += f[i];
    }
    emit(f[0], std::move(links));
  });
  registry.mapValues("initial_rank", [](const std::string&) { return std::string("1"); });
  // (page, "LINKS<TAB>RANK") -> (link, rank / #links) for each link, and
  // (page, 0) so that the page stays.
  registry.flatMap("contributions", [](const Record& in, Emit emit) {
    size_t tab = in.value.rfind('\t');
    if (tab == std::string::npos) throw std::invalid_argument("a joined record without a rank");
    double rank = parseRank(in.value.substr(tab + 1));
    auto links = fields(in.value.substr(0, tab));
    emit(in.key, "0");
    for (const auto& link : links) emit(link, formatRank(rank / static_cast<double>(links.size())));
  });
  registry.reduce("sum_double",
                  [](const std::string& a, const std::string& b) { return formatRank(parseRank(a) + parseRank(b)); });
  registry.mapValues("damp", [](const std::string& v) { return formatRank(0.15 + 0.85 * parseRank(v)); });
}

}  // namespace

int main(int argc, char** argv) {
  FunctionRegistry registry;
  registerFunctions(registry);
  if (isExecutor(argc, argv)) return runExecutor(registry);

  AppOptions app;
  int iterations = 10;
  int top = 10;
  bool noCache = false;
  std::string output;
  AppSpec spec{"clusternodes-spark-pagerank", "PageRank over a cached graph (one line per page: PAGE LINK...).",
               {"GRAPH"}};
  auto extra = [&](CLI::App& cli) {
    cli.add_option("--iterations", iterations, "Iterations")->capture_default_str()->check(CLI::Range(1, 10000));
    cli.add_option("--top", top, "Pages to print")->capture_default_str()->check(CLI::Range(0, 1000000));
    cli.add_option("--output", output, "Also save every page's rank under this directory");
    cli.add_flag("--no-cache", noCache, "Do not cache the graph: re-read it in every iteration");
  };
  if (int code = parseApp(argc, argv, spec, app, extra); code >= 0) return code;
  return runApp(registry, app, [&](Context& ctx) {
    auto links = ctx.textFile(app.args[0]).flatMap("parse_links");
    if (!noCache) links.cache();
    auto ranks = links.mapValues("initial_rank");
    for (int i = 1; i <= iterations; ++i) {
      ranks = links.join(ranks).flatMap("contributions").reduceByKey("sum_double").mapValues("damp");
      // One job per iteration: its shuffle outputs carry the ranks into the
      // next one (later jobs skip the stages that made them).
      int64_t pages = ranks.count();
      if (!app.quiet) {
        const JobStats& job = ctx.lastJob();
        std::fprintf(stderr, "iteration %d: %lld pages, %lld source reads, %lld cache hits\n", i,
                     static_cast<long long>(pages), static_cast<long long>(job.metrics.sourceReads),
                     static_cast<long long>(job.metrics.cacheHits));
      }
    }
    if (!output.empty()) ranks.map("format_pair").saveAsTextFile(output);
    auto all = ranks.collect();
    std::vector<std::pair<double, std::string>> sorted;
    for (const auto& r : all) sorted.emplace_back(parseRank(r.value), r.key);
    std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    for (size_t i = 0; i < sorted.size() && i < static_cast<size_t>(top); ++i) {
      std::printf("%s\t%.6f\n", sorted[i].second.c_str(), sorted[i].first);
    }
    std::fflush(stdout);
  });
}
