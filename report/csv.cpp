#include "report/csv.h"

#include <cerrno>
#include <cstring>

#include "engine/error.h"

namespace branchy {

namespace {

std::string joined_for_message(const std::vector<std::string>& fields) {
  std::string text;
  for (size_t i = 0; i < fields.size(); ++i) text += (i ? "," : "") + csv_quote(fields[i]);
  return text;
}

}  // namespace

std::string csv_quote(const std::string& field) {
  if (field.find_first_of(",\"\r\n") == std::string::npos) return field;
  std::string quoted = "\"";
  for (char c : field) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

std::vector<std::string> csv_split_line(const std::string& line) {
  std::vector<std::string> fields(1);
  bool in_quotes = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (in_quotes) {
      if (c != '"') {
        fields.back() += c;
      } else if (i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';  // a doubled quote inside a quoted field
        ++i;
      } else {
        in_quotes = false;
      }
    } else if (c == '"') {
      in_quotes = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else if (c != '\r') {  // tolerate CRLF line ends
      fields.back() += c;
    }
  }
  return fields;
}

std::string csv_number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", value);
  return text;
}

std::string csv_number(long long value) { return std::to_string(value); }

CsvWriter::CsvWriter(std::string path, std::vector<std::string> columns, Mode mode)
    : path_(std::move(path)), columns_(std::move(columns)) {
  BRANCHY_CHECK(!columns_.empty(), "csv ", path_, ": needs at least one column");
  if (mode == Mode::append) {
    open_for_append();
    return;
  }
  file_ = std::fopen(path_.c_str(), "w");
  BRANCHY_CHECK(file_ != nullptr, "csv ", path_, ": cannot open for writing: ",
                std::strerror(errno));
  write_line(columns_);
}

CsvWriter::~CsvWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

void CsvWriter::open_for_append() {
  // Read the existing header (the first line) and whether the file ends in a
  // line break: a run killed mid-write may have left half a row.
  std::string first_line;
  bool has_content = false;
  bool ends_with_newline = true;
  if (FILE* existing = std::fopen(path_.c_str(), "rb")) {
    int c;
    bool in_first_line = true;
    while ((c = std::fgetc(existing)) != EOF) {
      has_content = true;
      if (c == '\n') in_first_line = false;
      if (in_first_line) first_line += static_cast<char>(c);
      ends_with_newline = (c == '\n');
    }
    std::fclose(existing);
  } else if (errno != ENOENT) {
    fail("csv ", path_, ": cannot open for reading: ", std::strerror(errno));
  }

  if (has_content) {
    const std::vector<std::string> found = csv_split_line(first_line);
    BRANCHY_CHECK(found == columns_, "csv ", path_,
                  ": cannot append, the header differs; expected \"", joined_for_message(columns_),
                  "\", found \"", joined_for_message(found), "\"");
  }
  file_ = std::fopen(path_.c_str(), "a");
  BRANCHY_CHECK(file_ != nullptr, "csv ", path_, ": cannot open for appending: ",
                std::strerror(errno));
  if (!has_content) {
    write_line(columns_);
  } else if (!ends_with_newline) {
    // Start our rows on a fresh line; the cut-off row stays as it was.
    BRANCHY_CHECK(std::fputc('\n', file_) != EOF, "csv ", path_, ": write failed: ",
                  std::strerror(errno));
  }
}

void CsvWriter::row(const std::vector<std::string>& cells) {
  BRANCHY_CHECK(cells.size() == columns_.size(), "csv ", path_, ": a row needs ", columns_.size(),
                " cells (", joined_for_message(columns_), "), got ", cells.size());
  write_line(cells);
}

void CsvWriter::write_line(const std::vector<std::string>& cells) {
  std::string line;
  for (size_t i = 0; i < cells.size(); ++i) {
    if (i > 0) line += ',';
    line += csv_quote(cells[i]);
  }
  line += '\n';
  const bool written = std::fwrite(line.data(), 1, line.size(), file_) == line.size();
  BRANCHY_CHECK(written && std::fflush(file_) == 0, "csv ", path_, ": write failed: ",
                std::strerror(errno));
}

}  // namespace branchy
