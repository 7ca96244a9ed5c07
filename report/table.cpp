#include "report/table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "engine/error.h"

namespace branchy {

namespace {

size_t display_length(const std::string& text) {  // UTF-8 code points
  size_t length = 0;
  for (unsigned char c : text) length += (c & 0xC0) != 0x80;
  return length;
}

bool is_neutral(const std::string& cell) { return cell.empty() || cell == "-" || cell == "n/a"; }

// A value below 1000 with three significant figures: "4.56", "45.6", "456".
std::string three_figures(double value, const char* unit) {
  const int decimals = value < 9.995 ? 2 : value < 99.95 ? 1 : 0;
  char text[48];
  std::snprintf(text, sizeof text, "%.*f %s", decimals, value, unit);
  return text;
}

}  // namespace

TextTable::TextTable(std::vector<std::string> headers) : headers_(std::move(headers)) {
  BRANCHY_CHECK(!headers_.empty(), "text table: needs at least one column");
}

void TextTable::add_row(std::vector<std::string> cells) {
  BRANCHY_CHECK(cells.size() == headers_.size(), "text table: row ", rows_.size() + 1, " has ",
                cells.size(), " cells, the header has ", headers_.size(), " columns");
  rows_.push_back(std::move(cells));
}

std::string TextTable::render() const {
  const size_t columns = headers_.size();
  std::vector<size_t> widths(columns);
  std::vector<bool> right_aligned(columns);
  for (size_t c = 0; c < columns; ++c) {
    widths[c] = display_length(headers_[c]);
    bool any_number = false, all_numbers = true;
    for (const auto& row : rows_) {
      widths[c] = std::max(widths[c], display_length(row[c]));
      if (is_neutral(row[c])) continue;
      const bool number = looks_numeric(row[c]);
      any_number = any_number || number;
      all_numbers = all_numbers && number;
    }
    right_aligned[c] = any_number && all_numbers;
  }

  auto render_line = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t c = 0; c < columns; ++c) {
      if (c > 0) line += "  ";
      const std::string padding(widths[c] - display_length(cells[c]), ' ');
      line += right_aligned[c] ? padding + cells[c] : cells[c] + padding;
    }
    line.erase(line.find_last_not_of(' ') + 1);  // no trailing spaces
    return line + "\n";
  };

  std::string text = render_line(headers_);
  std::vector<std::string> rule(columns);
  for (size_t c = 0; c < columns; ++c) rule[c] = std::string(widths[c], '-');
  text += render_line(rule);
  for (const auto& row : rows_) text += render_line(row);
  return text;
}

bool looks_numeric(const std::string& cell) {
  size_t i = 0;
  if (i < cell.size() && (cell[i] == '+' || cell[i] == '-')) ++i;
  const std::string rest = cell.substr(i);
  if (rest == "nan" || rest == "inf") return true;
  auto is_digit = [&](size_t at) { return at < cell.size() && cell[at] >= '0' && cell[at] <= '9'; };
  return is_digit(i) || (i < cell.size() && cell[i] == '.' && is_digit(i + 1));
}

std::string format_count(int64_t count) {
  // Through the unsigned magnitude, so INT64_MIN has a positive counterpart.
  const uint64_t magnitude =
      count < 0 ? uint64_t{0} - static_cast<uint64_t>(count) : static_cast<uint64_t>(count);
  const std::string digits = std::to_string(magnitude);
  std::string text = count < 0 ? "-" : "";
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) text += ',';
    text += digits[i];
  }
  return text;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds)) return "n/a";
  if (seconds < 0.0) return "-" + format_duration(-seconds);
  if (seconds == 0.0) return "0 s";
  if (seconds < 0.9995) {
    // Move up a unit whenever three figures would round to 1000.
    const char* units[] = {"ns", "us", "ms"};
    double value = seconds * 1e9;
    int unit = 0;
    while (unit < 2 && value >= 999.5) value /= 1000.0, ++unit;
    if (value < 999.5) return three_figures(value, units[unit]);
  }
  if (seconds < 59.95) return three_figures(seconds, "s");
  const int64_t whole_seconds = std::llround(seconds);
  char text[48];
  if (whole_seconds < 3600) {
    std::snprintf(text, sizeof text, "%lldm %02llds", static_cast<long long>(whole_seconds / 60),
                  static_cast<long long>(whole_seconds % 60));
  } else {
    const int64_t whole_minutes = std::llround(seconds / 60.0);
    std::snprintf(text, sizeof text, "%lldh %02lldm", static_cast<long long>(whole_minutes / 60),
                  static_cast<long long>(whole_minutes % 60));
  }
  return text;
}

std::string format_bytes(int64_t bytes) {
  if (bytes < 0) return "-" + format_bytes(bytes == INT64_MIN ? INT64_MAX : -bytes);
  if (bytes < 1024) return std::to_string(bytes) + " B";
  const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes) / 1024.0;
  int unit = 0;
  while (unit < 5 && value >= 1023.5) value /= 1024.0, ++unit;
  return three_figures(value, units[unit]);
}

std::string fixed(double value, int digits) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", digits, value);
  return buffer;
}

std::string percent_shares(const std::vector<double>& fractions) {
  std::string text;
  for (size_t i = 0; i < fractions.size(); ++i) text += (i ? "/" : "") + fixed(100.0 * fractions[i], 1);
  return text;
}

}  // namespace branchy
