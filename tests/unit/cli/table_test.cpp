#include <doctest/doctest.h>

#include "cli/table.hpp"

using namespace clusternodes::cli;

TEST_CASE("cli: Table aligns columns to their widest cell, two spaces apart") {
  Table table({"ID", "HOSTNAME", "TASKS"});
  table.addRow({"a1", "node-1", "3"});
  table.addRow({"agent-22", "n2", "12"});
  CHECK(table.render() ==
        "ID        HOSTNAME  TASKS\n"
        "a1        node-1    3\n"
        "agent-22  n2        12\n");
}

TEST_CASE("cli: Table right-aligns chosen columns and leaves no trailing spaces") {
  Table table({"NAME", "CPUS", "NOTE"});
  table.alignRight(1);
  table.addRow({"x", "0.5/2", ""});
  table.addRow({"longer", "10/16", "busy"});
  CHECK(table.render() ==
        "NAME     CPUS  NOTE\n"
        "x       0.5/2\n"
        "longer  10/16  busy\n");
}

TEST_CASE("cli: Table pads short rows and drops extra cells") {
  Table table({"A", "B"});
  table.addRow({"1"});
  table.addRow({"2", "3", "ignored"});
  CHECK(table.rows() == 2);
  CHECK(table.render() == "A  B\n1\n2  3\n");
}

TEST_CASE("cli: Table with only headers renders one line") {
  Table table({"ID", "STATE"});
  CHECK(table.render() == "ID  STATE\n");
}

TEST_CASE("cli: Table measures width in code points") {
  Table table({"NAME", "X"});
  table.addRow({"h\xC3\xA9llo", "1"});  // "héllo": 5 code points, 6 bytes
  CHECK(displayWidth("h\xC3\xA9llo") == 5);
  CHECK(table.render() == "NAME   X\nh\xC3\xA9llo  1\n");
}

TEST_CASE("cli: formatAmount keeps at most three decimals without trailing zeros") {
  CHECK(formatAmount(2) == "2");
  CHECK(formatAmount(0.5) == "0.5");
  CHECK(formatAmount(2.0 / 3.0) == "0.667");
  CHECK(formatAmount(0.1 + 0.2) == "0.3");
  CHECK(formatAmount(0) == "0");
  CHECK(formatAmount(-0.0001) == "0");
  CHECK(formatAmount(11540) == "11540");
  CHECK(formatUsage(0.3, 2) == "0.3/2");
  CHECK(formatPercent(0.125) == "12.5%");
  CHECK(formatPercent(1) == "100.0%");
}
