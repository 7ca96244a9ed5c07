// csv.h — a CSV log writer for training curves and evaluation results.
//
// CsvWriter writes a header row, then one row per call, flushing after each
// row so a run that is killed keeps every row it finished. Fields follow
// RFC 4180: a field holding a comma, a double quote, CR or LF is wrapped in
// double quotes, with its quotes doubled. Lines end in "\n" (not CRLF); every
// CSV reader we care about accepts both.
//
// Append mode continues the log of a resumed run: an empty or missing file
// gets the header; an existing file must start with exactly this header.
//
// Requires: at least one column; every row has exactly one cell per column.
// Ensures: after row()/write() returns, the row is on disk (fflush'ed).
// Fails: Error naming the file and strerror when it cannot be opened or
//   written; Error naming the file, the expected and the found header when an
//   appended file's header differs; Error for a row of the wrong length.
#pragma once

#include <cstdio>
#include <string>
#include <type_traits>
#include <vector>

namespace branchy {

// One field as RFC 4180 wants it (quoted only when needed).
std::string csv_quote(const std::string& field);
// Splits one CSV line (no line break inside) into fields, undoing csv_quote.
std::vector<std::string> csv_split_line(const std::string& line);
// A number as a CSV cell: integers exactly, floating point with %.6g.
std::string csv_number(double value);
std::string csv_number(long long value);

class CsvWriter {
 public:
  enum class Mode { truncate, append };

  CsvWriter(std::string path, std::vector<std::string> columns, Mode mode = Mode::truncate);
  ~CsvWriter();
  CsvWriter(const CsvWriter&) = delete;
  CsvWriter& operator=(const CsvWriter&) = delete;

  void row(const std::vector<std::string>& cells);

  // write(epoch, loss, accuracy, "note"): numbers through csv_number(),
  // strings as they are.
  template <typename... Values>
  void write(const Values&... values) {
    row(std::vector<std::string>{cell(values)...});
  }

 private:
  template <typename Value>
  static std::string cell(const Value& value) {
    if constexpr (std::is_same_v<Value, bool>) {
      return value ? "1" : "0";
    } else if constexpr (std::is_integral_v<Value>) {
      return csv_number(static_cast<long long>(value));
    } else if constexpr (std::is_floating_point_v<Value>) {
      return csv_number(static_cast<double>(value));
    } else {
      return std::string(value);
    }
  }

  void open_for_append();
  void write_line(const std::vector<std::string>& cells);

  std::string path_;
  std::vector<std::string> columns_;
  FILE* file_ = nullptr;
};

}  // namespace branchy
