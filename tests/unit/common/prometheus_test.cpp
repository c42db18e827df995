#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "common/prometheus.hpp"
#include "tests/harness/prometheus_text.hpp"

using namespace clusternodes;
using namespace clusternodes::testing;

namespace {

size_t occurrences(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("prometheus::Writer: HELP and TYPE once per family, its samples together in call order") {
  prometheus::Writer out;
  out.gauge("agents", "Agents by state.", 2, {{"state", "registered"}});
  out.counter("offers_total", "Offers.", 7);
  out.gauge("agents", "Agents by state.", 0, {{"state", "unreachable"}});

  CHECK(out.text() ==
        "# HELP agents Agents by state.\n"
        "# TYPE agents gauge\n"
        "agents{state=\"registered\"} 2\n"
        "agents{state=\"unreachable\"} 0\n"
        "# HELP offers_total Offers.\n"
        "# TYPE offers_total counter\n"
        "offers_total 7\n");
}

TEST_CASE("prometheus::Writer: label values and help are escaped, and read back unchanged") {
  prometheus::Writer out;
  std::string nasty = "a \"quoted\" back\\slash\nand a newline";
  out.gauge("weird", "Help with a back\\slash\nand a newline.", 1, {{"role", nasty}, {"other", "plain"}});
  auto text = out.text();
  CHECK(text.find("# HELP weird Help with a back\\\\slash\\nand a newline.\n") != std::string::npos);
  CHECK(text.find("weird{role=\"a \\\"quoted\\\" back\\\\slash\\nand a newline\",other=\"plain\"} 1\n") !=
        std::string::npos);
  // One sample line: the newline inside the value did not split it.
  CHECK(occurrences(text, "\n") == 3);

  auto samples = parsePrometheusText(text);
  REQUIRE(samples.size() == 1);
  CHECK(samples[0].labels.at("role") == nasty);
  CHECK(samples[0].labels.at("other") == "plain");
}

TEST_CASE("prometheus::formatValue: integers plainly, fractions exactly, and the special values by name") {
  CHECK(prometheus::formatValue(0) == "0");
  CHECK(prometheus::formatValue(1234567) == "1234567");
  CHECK(prometheus::formatValue(0.25) == "0.25");
  CHECK(std::stod(prometheus::formatValue(1e-5)) == 1e-5);
  CHECK(std::stod(prometheus::formatValue(0.1 + 0.2)) == 0.1 + 0.2);
  CHECK(prometheus::formatValue(INFINITY) == "+Inf");
  CHECK(prometheus::formatValue(-INFINITY) == "-Inf");
  CHECK(prometheus::formatValue(NAN) == "NaN");
}

TEST_CASE("prometheus::Histogram: cumulative buckets, +Inf, sum and count") {
  prometheus::Histogram h({0.001, 0.01, 0.1});
  for (double v : {0.0005, 0.001, 0.005, 0.05, 0.05, 3.0}) h.observe(v);
  CHECK(h.cumulativeCount(0) == 2);  // a bound is inclusive: 0.001 falls in le="0.001"
  CHECK(h.cumulativeCount(1) == 3);
  CHECK(h.cumulativeCount(2) == 5);
  CHECK(h.count() == 6);
  CHECK(h.sum() == doctest::Approx(3.1065));

  prometheus::Writer out;
  out.histogram("latency_seconds", "Latency.", h, {{"role", "eng"}});
  CHECK(out.text() ==
        "# HELP latency_seconds Latency.\n"
        "# TYPE latency_seconds histogram\n"
        "latency_seconds_bucket{role=\"eng\",le=\"0.001\"} 2\n"
        "latency_seconds_bucket{role=\"eng\",le=\"0.01\"} 3\n"
        "latency_seconds_bucket{role=\"eng\",le=\"0.1\"} 5\n"
        "latency_seconds_bucket{role=\"eng\",le=\"+Inf\"} 6\n"
        "latency_seconds_sum{role=\"eng\"} " +
            prometheus::formatValue(h.sum()) +
            "\n"
            "latency_seconds_count{role=\"eng\"} 6\n");
}

TEST_CASE("prometheus::Histogram: an empty histogram still has every bucket, at zero") {
  prometheus::Histogram h({1, 2});
  prometheus::Writer out;
  out.histogram("h_seconds", "H.", h);
  auto samples = parsePrometheusText(out.text());
  REQUIRE(samples.size() == 5);
  CHECK(valueOf(samples, "h_seconds_bucket", {{"le", "1"}}) == 0);
  CHECK(valueOf(samples, "h_seconds_bucket", {{"le", "+Inf"}}) == 0);
  CHECK(valueOf(samples, "h_seconds_count") == 0);
  CHECK(valueOf(samples, "h_seconds_sum") == 0);
}

TEST_CASE("parsePrometheusText: refuses a line that is not a sample") {
  CHECK_THROWS_AS(parsePrometheusText("just_a_name\n"), std::runtime_error);
  CHECK_THROWS_AS(parsePrometheusText("x{a=\"unterminated} 1\n"), std::runtime_error);
  CHECK_THROWS_AS(parsePrometheusText("x 12abc\n"), std::runtime_error);
  auto ok = parsePrometheusText("# HELP x X.\n# TYPE x gauge\nx 1.5\ny{a=\"b\"} +Inf\n");
  REQUIRE(ok.size() == 2);
  CHECK(ok[0].value == 1.5);
  CHECK(std::isinf(ok[1].value));
}

TEST_CASE("prometheus::writeResources: a family per kind in base units, each role with every state") {
  auto total = *Resources::parse("cpus:4;mem:1024;disk:2048;ports:[31000-31009];cpus(eng):2");
  auto used = *Resources::parse("cpus:1;mem:256;ports:[31000-31001];cpus(eng):0.5");
  prometheus::Writer out;
  prometheus::writeResources(out, "x_", "of the test", {{"used", used}, {"idle", total - used}});
  auto text = out.text();
  auto samples = parsePrometheusText(text);

  CHECK(valueOf(samples, "x_cpus", {{"role", "*"}, {"state", "used"}}) == 1);
  CHECK(valueOf(samples, "x_cpus", {{"role", "*"}, {"state", "idle"}}) == 3);
  CHECK(valueOf(samples, "x_cpus", {{"role", "eng"}, {"state", "used"}}) == 0.5);
  CHECK(valueOf(samples, "x_cpus", {{"role", "eng"}, {"state", "idle"}}) == 1.5);
  CHECK(sumOf(samples, "x_cpus") == 6);
  CHECK(valueOf(samples, "x_memory_bytes", {{"role", "*"}, {"state", "used"}}) == 256.0 * 1024 * 1024);
  CHECK(sumOf(samples, "x_memory_bytes") == 1024.0 * 1024 * 1024);
  // Disk with none used still has its used sample, at zero.
  CHECK(valueOf(samples, "x_disk_bytes", {{"role", "*"}, {"state", "used"}}) == 0);
  CHECK(valueOf(samples, "x_disk_bytes", {{"role", "*"}, {"state", "idle"}}) == 2048.0 * 1024 * 1024);
  CHECK(valueOf(samples, "x_ports", {{"role", "*"}, {"state", "used"}}) == 2);
  CHECK(valueOf(samples, "x_ports", {{"role", "*"}, {"state", "idle"}}) == 8);
  // No gpus anywhere: no gpus family.
  CHECK(samplesOf(samples, "x_gpus").empty());
  CHECK(text.find("# HELP x_cpus CPUs of the test, by reservation role and by state (used, idle).\n") !=
        std::string::npos);
  CHECK(occurrences(text, "# TYPE x_cpus gauge\n") == 1);
}

TEST_CASE("prometheus::writeResources: no resources at all still give cpus and memory, at zero") {
  prometheus::Writer out;
  prometheus::writeResources(out, "x_", "of nothing", {{"used", Resources()}, {"idle", Resources()}});
  auto samples = parsePrometheusText(out.text());
  CHECK(valueOf(samples, "x_cpus", {{"role", "*"}, {"state", "used"}}) == 0);
  CHECK(valueOf(samples, "x_memory_bytes", {{"role", "*"}, {"state", "idle"}}) == 0);
  CHECK(samplesOf(samples, "x_disk_bytes").empty());
}
