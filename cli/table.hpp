// Plain-text tables for the CLI's output, and the number formats their cells
// use.
//
//   Table table({"ID", "HOSTNAME", "CPUS"});
//   table.alignRight(2);
//   table.addRow({"a1", "node-1", "0.5/2"});
//   std::cout << table.render();
//   // ID  HOSTNAME   CPUS
//   // a1  node-1    0.5/2
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace clusternodes::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> headers);

  // Right-aligns column `column` (numbers); columns are left-aligned by default.
  // REQUIRES: column < the number of headers.
  void alignRight(size_t column);

  // Adds a row. Missing cells are empty; cells beyond the headers are dropped.
  void addRow(std::vector<std::string> cells);

  size_t rows() const { return rows_.size(); }

  // The header line and one line per row, each ending in '\n'. Columns are as
  // wide as their widest cell (in UTF-8 code points) and separated by two
  // spaces; no line has trailing spaces.
  std::string render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<bool> right_;
  std::vector<std::vector<std::string>> rows_;
};

// The number of UTF-8 code points in `text` (its width on a terminal, for
// the scripts the CLI prints).
size_t displayWidth(const std::string& text);

// A quantity with at most three decimals and no trailing zeros: 2, 0.5, 0.333.
std::string formatAmount(double value);

// "used/total" with formatAmount() for each: "0.3/2".
std::string formatUsage(double used, double total);

// A share in [0, 1] as a percentage with one decimal: "12.5%".
std::string formatPercent(double share);

}  // namespace clusternodes::cli
