// table.h — aligned plain-text tables and number formats for reports.
//
// TextTable lays out rows under a header, columns two spaces apart, with a
// dashed rule under the header:
//
//   layer         out shape      MACs
//   ------------  -----------  -------
//   conv 1->5 k5  (5, 30, 30)  112,500
//
// A column whose cells all look numeric (see looks_numeric) is right-aligned,
// header included; others are left-aligned. Widths count UTF-8 code points,
// so "×" or "→" do not shift a column. Lines carry no trailing spaces.
//
// Requires: every row has exactly one cell per header.
// Ensures: render() ends every line, the last included, with '\n'.
// Fails: Error naming the row and both counts for a row of the wrong length.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace branchy {

class TextTable {
 public:
  explicit TextTable(std::vector<std::string> headers);

  void add_row(std::vector<std::string> cells);
  std::string render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// Whether a cell reads as a number: an optional sign, then a digit (or '.'
// and a digit), e.g. "1,140,070", "-0.5", "89.3%", "12.3 ms", "1.5 MiB"; also
// "nan" and "inf". Empty, "-" and "n/a" cells count as neither (they do not
// stop a numeric column from being right-aligned).
bool looks_numeric(const std::string& cell);

// 1140070 -> "1,140,070"; -1234 -> "-1,234".
std::string format_count(int64_t count);
// Three significant figures with a unit that fits: "850 ns", "12.3 us",
// "1.23 ms", "4.56 s", "45.3 s"; minutes and hours as "12m 05s", "2h 03m".
// Non-finite durations give "n/a".
std::string format_duration(double seconds);
// Binary units: "512 B", "1.50 KiB", "12.3 MiB", "1.00 GiB".
std::string format_bytes(int64_t bytes);
// value with `digits` decimals: fixed(3.14159, 2) -> "3.14".
std::string fixed(double value, int digits);
// Fractions as percentages joined by '/': {0.5, 0.25} -> "50.0/25.0".
std::string percent_shares(const std::vector<double>& fractions);

}  // namespace branchy
