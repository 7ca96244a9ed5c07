// Tests of the reporting utilities: timer statistics, progress output, CSV
// logs, SVG plots and text tables. Progress tests use a fake clock, so
// nothing here depends on how fast the machine is.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "report/csv.h"
#include "engine/error.h"
#include "report/progress.h"
#include "engine/rng.h"
#include "report/svg_plot.h"
#include "report/table.h"
#include "report/timer.h"

using namespace branchy;

namespace {

// Everything written to a tmpfile() so far.
std::string read_all(FILE* file) {
  std::fflush(file);
  std::rewind(file);
  std::string text;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0) text.append(buffer, n);
  return text;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A fresh path in the temp folder, removed when the test ends.
struct TempPath {
  std::filesystem::path path;
  explicit TempPath(const std::string& name)
      : path(std::filesystem::temp_directory_path() /
             ("branchy_report_" + std::to_string(getpid()) + "_" + name)) {
    std::filesystem::remove(path);
  }
  ~TempPath() { std::filesystem::remove(path); }
  std::string str() const { return path.string(); }
};

// Well-formedness by a small scan: every tag closes in order, text holds no
// raw '<', and every '&' starts one of the five XML entities.
bool well_formed_xml(const std::string& xml, std::string& why) {
  std::vector<std::string> open_tags;
  size_t i = 0;
  while (i < xml.size()) {
    if (xml[i] == '&') {
      static const char* entities[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
      bool known = false;
      for (const char* e : entities) known = known || xml.compare(i, std::strlen(e), e) == 0;
      if (!known) return why = "bare & at " + std::to_string(i), false;
      ++i;
      continue;
    }
    if (xml[i] != '<') {
      if (xml[i] == '>') return why = "bare > at " + std::to_string(i), false;
      ++i;
      continue;
    }
    const size_t end = xml.find('>', i);
    if (end == std::string::npos) return why = "unclosed <", false;
    const std::string tag = xml.substr(i + 1, end - i - 1);
    if (tag.find('<') != std::string::npos) return why = "< inside tag " + tag, false;
    i = end + 1;
    if (tag.front() == '?') continue;       // <?xml ...?>
    if (tag.back() == '/') continue;        // <line .../>
    const std::string name = tag.substr(tag.front() == '/', tag.find_first_of(" \n") - (tag.front() == '/'));
    if (tag.front() == '/') {
      if (open_tags.empty() || open_tags.back() != name) return why = "unmatched </" + name + ">", false;
      open_tags.pop_back();
    } else {
      open_tags.push_back(name);
    }
  }
  if (!open_tags.empty()) return why = "unclosed <" + open_tags.back() + ">", false;
  return true;
}

// The text of the <text> elements inside the group with this class.
std::vector<std::string> group_texts(const std::string& svg, const std::string& group_class) {
  std::vector<std::string> texts;
  const size_t begin = svg.find("<g class=\"" + group_class + "\"");
  const size_t end = svg.find("</g>", begin);
  for (size_t at = svg.find("<text", begin); at < end; at = svg.find("<text", at + 1)) {
    const size_t open_end = svg.find('>', at) + 1;
    texts.push_back(svg.substr(open_end, svg.find("</text>", open_end) - open_end));
  }
  return texts;
}

size_t count_of(const std::string& text, const std::string& piece) {
  size_t count = 0;
  for (size_t at = text.find(piece); at != std::string::npos; at = text.find(piece, at + 1)) ++count;
  return count;
}

}  // namespace

TEST_CASE("LatencyStats gives nearest-rank percentiles", "[report]") {
  LatencyStats stats;
  std::vector<double> samples;
  for (int i = 1; i <= 100; ++i) samples.push_back(i * 1e-3);  // 1..100 ms
  Rng rng(7);
  rng.shuffle(samples);  // the order must not matter
  for (double s : samples) stats.add(s);
  REQUIRE(stats.count() == 100);
  REQUIRE(stats.mean() == Approx(50.5e-3));
  REQUIRE(stats.median() == Approx(50e-3));  // rank ceil(0.5 * 100) = 50
  REQUIRE(stats.p90() == Approx(90e-3));
  REQUIRE(stats.p99() == Approx(99e-3));
  REQUIRE(stats.percentile(0) == Approx(1e-3));
  REQUIRE(stats.percentile(100) == Approx(100e-3));
  REQUIRE(stats.min() == Approx(1e-3));
  REQUIRE(stats.max() == Approx(100e-3));

  // Ten samples: the median is the lower middle one, p99 is the largest.
  LatencyStats few;
  for (double s : {5.0, 1.0, 4.0, 2.0, 3.0, 10.0, 9.0, 8.0, 7.0, 6.0}) few.add(s);
  REQUIRE(few.median() == 5.0);
  REQUIRE(few.p90() == 9.0);
  REQUIRE(few.p99() == 10.0);
  few.add(0.5);  // added after sorting: must be seen
  REQUIRE(few.percentile(0) == 0.5);
  few.merge(stats);
  REQUIRE(few.count() == 111);

  LatencyStats empty;
  REQUIRE_THROWS_AS(empty.median(), Error);
  REQUIRE_THROWS_AS(empty.mean(), Error);
  REQUIRE_THROWS_AS(empty.add(-1.0), Error);
  REQUIRE_THROWS_AS(stats.percentile(101), Error);

  Timer timer;
  const double first = timer.seconds();
  REQUIRE(first >= 0.0);
  REQUIRE(timer.seconds() >= first);  // steady clock never runs backwards
}

TEST_CASE("progress in plain mode prints one line per 10% and a final line", "[report]") {
  FILE* out = std::tmpfile();
  REQUIRE(out != nullptr);
  double now = 0.0;
  {
    ProgressBar bar("train", 1000, "img", out);
    bar.set_interactive(false);
    bar.set_clock([&] { return now; });
    for (int i = 1; i <= 100; ++i) {  // 10 img per second for 100 s
      now = i;
      bar.update(10 * i, "loss 0.5");
    }
    bar.finish("acc 0.9");
    bar.finish("twice");  // ignored
  }
  const std::string text = read_all(out);
  std::fclose(out);
  REQUIRE(text.find('\r') == std::string::npos);
  const std::vector<std::string> lines = split_lines(text);
  REQUIRE(lines.size() == 10);  // 10%..90%, then the final line
  REQUIRE(lines[0] == "train: 100/1000 (10%)  10 img/s  elapsed 00:10  eta 01:30  loss 0.5");
  REQUIRE(lines[2] == "train: 300/1000 (30%)  10 img/s  elapsed 00:30  eta 01:10  loss 0.5");
  REQUIRE(lines[8].rfind("train: 900/1000 (90%)", 0) == 0);
  REQUIRE(lines[9] == "train: done 1000 img in 01:40, 10 img/s  acc 0.9");
}

TEST_CASE("progress in plain mode also prints every interval when the total is unknown",
          "[report]") {
  FILE* out = std::tmpfile();
  REQUIRE(out != nullptr);
  double now = 0.0;
  {
    ProgressBar bar("eval", 0, "batch", out);
    bar.set_interactive(false);
    bar.set_clock([&] { return now; });
    bar.set_plain_cadence(0.5, 30.0);
    for (int i = 1; i <= 10; ++i) {
      now = 10.0 * i;  // a batch every 10 s: lines at 30, 60 and 90 s
      bar.update(i);
    }
    bar.finish();
  }
  const std::string text = read_all(out);
  std::fclose(out);
  const std::vector<std::string> lines = split_lines(text);
  REQUIRE(lines.size() == 4);
  REQUIRE(lines[0] == "eval: 3  0.1 batch/s  elapsed 00:30");
  REQUIRE(lines[2] == "eval: 9  0.1 batch/s  elapsed 01:30");
  REQUIRE(lines[3] == "eval: done 10 batch in 01:40, 0.1 batch/s");
  REQUIRE(text.find('\r') == std::string::npos);
}

TEST_CASE("progress on a terminal redraws one line, throttled by time", "[report]") {
  FILE* out = std::tmpfile();
  REQUIRE(out != nullptr);
  double now = 0.0;
  {
    ProgressBar bar("train", 512, "img", out);
    bar.set_interactive(true);
    bar.set_clock([&] { return now; });
    bar.set_redraw_interval(0.125);
    for (int i = 1; i <= 512; ++i) {  // 64 img/s; times are exact binary fractions
      now = i / 64.0;
      bar.update(i, i < 300 ? "loss 0.123456" : "");
      if (i == 1) REQUIRE_FALSE(bar.wants_update(2));  // just drawn
    }
    bar.finish("done");
  }
  const std::string text = read_all(out);
  std::fclose(out);
  // Draws at i = 1, 9, 17, ..., 505 (every 8 updates = 0.125 s), at 512 (the
  // total reached) and once more from finish(): 66, not 513.
  REQUIRE(count_of(text, "\r") == 66);
  REQUIRE(count_of(text, "\n") == 1);  // only finish() ends the line
  REQUIRE(text.back() == '\n');
  REQUIRE(text.find("\rtrain [############------------]  257/512  64 img/s  elapsed 00:04  "
                    "eta 00:03  loss 0.123456\r") != std::string::npos);
  // The first line without the extra blanks the 15 characters the extra left.
  REQUIRE(text.find("305/512  64 img/s  elapsed 00:04  eta 00:03" + std::string(15, ' ') + "\r") !=
          std::string::npos);
  const size_t last_draw = text.rfind('\r');
  REQUIRE(text.substr(last_draw) ==
          "\rtrain [########################]  512/512  64 img/s  elapsed 00:08  done" +
              std::string(5, ' ') + "\n");  // blanks "  eta 00:00"
}

TEST_CASE("CSV fields are quoted as RFC 4180 asks and split back", "[report]") {
  REQUIRE(csv_quote("plain") == "plain");
  REQUIRE(csv_quote("a,b") == "\"a,b\"");
  REQUIRE(csv_quote("say \"hi\"") == "\"say \"\"hi\"\"\"");
  REQUIRE(csv_quote("two\nlines") == "\"two\nlines\"");
  REQUIRE(csv_quote("") == "");
  const std::vector<std::string> fields = {"a,b", "say \"hi\"", "", "x"};
  std::string line;
  for (size_t i = 0; i < fields.size(); ++i) line += (i ? "," : "") + csv_quote(fields[i]);
  REQUIRE(csv_split_line(line) == fields);
  REQUIRE(csv_number(1.0 / 3.0) == "0.333333");
  REQUIRE(csv_number(1234567.0) == "1.23457e+06");
  REQUIRE(csv_number(60000LL) == "60000");
}

TEST_CASE("CsvWriter writes a header and rows, and appends only under the same header",
          "[report]") {
  TempPath log("log.csv");
  {
    CsvWriter csv(log.str(), {"epoch", "loss", "note"});
    csv.write(1, 0.5, "a,b");
    csv.row({"2", "0.25", "x"});
    // Flushed per row: readable while the writer is still open.
    REQUIRE(read_file(log.path) == "epoch,loss,note\n1,0.5,\"a,b\"\n2,0.25,x\n");
    REQUIRE_THROWS_AS(csv.row({"3", "0.1"}), Error);
  }
  {
    CsvWriter csv(log.str(), {"epoch", "loss", "note"}, CsvWriter::Mode::append);
    csv.write(3, 1.0f / 3.0f, "");
  }
  REQUIRE(read_file(log.path) == "epoch,loss,note\n1,0.5,\"a,b\"\n2,0.25,x\n3,0.333333,\n");

  const std::string before_failed_append = read_file(log.path);
  try {
    CsvWriter csv(log.str(), {"epoch", "accuracy"}, CsvWriter::Mode::append);
    FAIL("a different header was accepted");
  } catch (const Error& e) {
    const std::string message = e.what();
    REQUIRE(message.find(log.str()) != std::string::npos);
    REQUIRE(message.find("epoch,accuracy") != std::string::npos);
    REQUIRE(message.find("epoch,loss,note") != std::string::npos);
  }
  REQUIRE(read_file(log.path) == before_failed_append);

  // A run killed mid-row: our rows start on a fresh line.
  { std::ofstream(log.path, std::ios::app) << "4,0.2"; }
  { CsvWriter(log.str(), {"epoch", "loss", "note"}, CsvWriter::Mode::append).write(5, 0.125, "y"); }
  REQUIRE(split_lines(read_file(log.path)).back() == "5,0.125,y");

  TempPath fresh("fresh.csv");  // append to a missing file writes the header
  { CsvWriter(fresh.str(), {"a"}, CsvWriter::Mode::append).write(1); }
  REQUIRE(read_file(fresh.path) == "a\n1\n");

  const std::string unwritable = log.str() + ".missing_dir/x.csv";
  try {
    CsvWriter csv(unwritable, {"a"});
    FAIL("opened a file in a missing folder");
  } catch (const Error& e) {
    REQUIRE(std::string(e.what()).find(unwritable) != std::string::npos);
    REQUIRE(std::string(e.what()).find("No such file") != std::string::npos);
  }
}

TEST_CASE("nice ticks step by 1, 2 or 5 times a power of ten", "[report]") {
  auto ticks = nice_ticks(0.0, 0.87);
  REQUIRE(ticks.size() == 6);
  for (size_t i = 0; i < ticks.size(); ++i) REQUIRE(ticks[i] == Approx(0.2 * i).margin(1e-12));
  REQUIRE(nice_ticks(3, 97) == std::vector<double>{0, 20, 40, 60, 80, 100});
  REQUIRE(nice_ticks(1, 10) == std::vector<double>{0, 2, 4, 6, 8, 10});
  REQUIRE(nice_ticks(0, 1140070) == std::vector<double>{0, 500000, 1000000, 1500000});
  ticks = nice_ticks(-0.03, 0.012);
  REQUIRE(ticks.front() == Approx(-0.03));
  REQUIRE(ticks.back() == Approx(0.02));
  REQUIRE(ticks[1] - ticks[0] == Approx(0.01));
  REQUIRE(nice_ticks(5, 5).size() >= 2);  // a flat range is widened
  REQUIRE_THROWS_AS(nice_ticks(2, 1), Error);

  REQUIRE(log_ticks(1e3, 1e6) == std::vector<double>{1e3, 1e4, 1e5, 1e6});
  ticks = log_ticks(3e5, 1.2e6);  // under a decade: 1-2-5
  REQUIRE(ticks.size() == 4);
  REQUIRE(ticks[0] == Approx(2e5));
  REQUIRE(ticks[1] == Approx(5e5));
  REQUIRE(ticks[2] == Approx(1e6));
  REQUIRE(ticks[3] == Approx(2e6));
  REQUIRE_THROWS_AS(log_ticks(0, 10), Error);
}

TEST_CASE("SVG plot is well-formed, escaped, with 1-2-5 tick labels and a legend", "[report]") {
  SvgPlot plot("Loss & <accuracy>", "epoch", "accuracy \"top-1\"");
  plot.add_series("exit 0 <fast>", {1, 2, 3, 4, 5}, {0.1, 0.5, 0.7, 0.8, 0.87},
                  SeriesStyle::line_and_points);
  plot.add_series("exit 1", {1, 2, 3, 4, 5}, {0.2, 0.6, std::nan(""), 0.82, 0.85});
  plot.add_point_label(5, 0.87, "chosen: T=0.75 & fast");
  const std::string svg = plot.render();

  std::string why;
  INFO(why);
  REQUIRE(well_formed_xml(svg, why));
  REQUIRE(svg.find("Loss &amp; &lt;accuracy&gt;") != std::string::npos);
  REQUIRE(svg.find("<accuracy>") == std::string::npos);
  REQUIRE(svg.find("accuracy &quot;top-1&quot;") != std::string::npos);
  REQUIRE(svg.find("chosen: T=0.75 &amp; fast") != std::string::npos);
  REQUIRE(group_texts(svg, "legend") == std::vector<std::string>{"exit 0 &lt;fast&gt;", "exit 1"});
  REQUIRE(group_texts(svg, "y-ticks") ==
          std::vector<std::string>{"0", "0.2", "0.4", "0.6", "0.8", "1.0"});
  REQUIRE(group_texts(svg, "x-ticks") == std::vector<std::string>{"1", "2", "3", "4", "5"});
  // Distinct palette colours, and the NaN splits series 1 into two pieces.
  REQUIRE(svg.find("#0072B2") != std::string::npos);
  REQUIRE(svg.find("#D55E00") != std::string::npos);
  REQUIRE(count_of(svg, " M") + count_of(svg, "\"M") == 3);
}

TEST_CASE("SVG plot: log x axis, large numbers, errors", "[report]") {
  SvgPlot frontier("accuracy vs MACs", "MACs per sample", "accuracy");
  frontier.set_log_x(true);
  frontier.add_series("BranchyNet", {3e5, 4e5, 1.14007e6}, {0.86, 0.893, 0.896},
                      SeriesStyle::points);
  std::string svg = frontier.render();
  std::string why;
  REQUIRE(well_formed_xml(svg, why));
  REQUIRE(group_texts(svg, "x-ticks") == std::vector<std::string>{"200k", "500k", "1M", "2M"});

  SvgPlot linear("MACs", "epoch", "MACs");
  linear.add_series("trunk", {0, 1}, {0, 1140070});
  REQUIRE(group_texts(linear.render(), "y-ticks") ==
          std::vector<std::string>{"0", "0.5M", "1.0M", "1.5M"});
  linear.set_y_range(0, 1.2e6);  // a fixed range keeps only the ticks inside
  REQUIRE(group_texts(linear.render(), "y-ticks") ==
          std::vector<std::string>{"0", "0.5M", "1.0M"});

  SvgPlot bad("bad", "x", "y");
  REQUIRE_THROWS_AS(bad.add_series("short", {1, 2}, {1}), Error);
  bad.set_log_x(true);
  bad.add_series("zero", {0, 1}, {1, 2});
  REQUIRE_THROWS_AS(bad.render(), Error);
  REQUIRE_THROWS_AS(bad.set_y_range(1, 1), Error);

  TempPath folder("no_such_folder");
  SvgPlot empty("empty", "x", "y");
  REQUIRE(well_formed_xml(empty.render(), why));
  REQUIRE_THROWS_AS(empty.save((folder.path / "plot.svg").string()), Error);
  TempPath file("plot.svg");
  empty.save(file.str());
  REQUIRE(read_file(file.path) == empty.render());
}

TEST_CASE("text table aligns numbers right and text left", "[report]") {
  TextTable table({"layer", "out shape", "MACs"});
  table.add_row({"conv 1->5 k5", "(5, 30, 30)", format_count(112500)});
  table.add_row({"fc 720->84", "(84)", format_count(60480)});
  table.add_row({"relu", "(84)", "-"});
  REQUIRE(table.render() ==
          "layer         out shape       MACs\n"
          "------------  -----------  -------\n"
          "conv 1->5 k5  (5, 30, 30)  112,500\n"
          "fc 720->84    (84)          60,480\n"
          "relu          (84)               -\n");
  REQUIRE_THROWS_AS(table.add_row({"too", "few"}), Error);

  TextTable unicode({"net", "acc"});  // widths count characters, not bytes
  unicode.add_row({"5×5 → 10", "89.3%"});
  unicode.add_row({"lenet", "88.1%"});
  REQUIRE(unicode.render() ==
          "net         acc\n"
          "--------  -----\n"
          "5×5 → 10  89.3%\n"
          "lenet     88.1%\n");

  REQUIRE(looks_numeric("-0.5"));
  REQUIRE(looks_numeric(".5"));
  REQUIRE(looks_numeric("12.3 ms"));
  REQUIRE_FALSE(looks_numeric("conv"));
  REQUIRE_FALSE(looks_numeric("-"));
}

TEST_CASE("counts, durations and byte sizes are formatted for people", "[report]") {
  REQUIRE(format_count(1140070) == "1,140,070");
  REQUIRE(format_count(0) == "0");
  REQUIRE(format_count(999) == "999");
  REQUIRE(format_count(1000) == "1,000");
  REQUIRE(format_count(-1234) == "-1,234");
  REQUIRE(format_count(INT64_MIN) == "-9,223,372,036,854,775,808");

  REQUIRE(format_duration(850e-9) == "850 ns");
  REQUIRE(format_duration(12.34e-6) == "12.3 us");
  REQUIRE(format_duration(0.0123) == "12.3 ms");
  REQUIRE(format_duration(0.0009996) == "1.00 ms");  // not "1000 us"
  REQUIRE(format_duration(0.9999) == "1.00 s");
  REQUIRE(format_duration(4.561) == "4.56 s");
  REQUIRE(format_duration(725) == "12m 05s");
  REQUIRE(format_duration(7380) == "2h 03m");
  REQUIRE(format_duration(0) == "0 s");
  REQUIRE(format_duration(std::nan("")) == "n/a");

  REQUIRE(format_bytes(512) == "512 B");
  REQUIRE(format_bytes(1536) == "1.50 KiB");
  REQUIRE(format_bytes(int64_t{12897485}) == "12.3 MiB");
  REQUIRE(format_bytes(int64_t{1} << 30) == "1.00 GiB");
}
