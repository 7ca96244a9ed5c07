// progress.h — a progress report for long loops (training epochs, evaluation).
//
// Two modes, chosen by isatty(fileno(out)) unless forced with set_interactive():
// - interactive (a terminal): one line redrawn in place with '\r', at most once
//   per redraw interval (0.1 s by default), so update() after every batch
//   costs one clock read when nothing is drawn:
//     train [#########---------------]  24576/60000  4312 img/s  elapsed 00:05  eta 00:08  loss 0.4213
// - plain (a log file, a pipe): whole lines, never '\r'. One each time the
//   progress passes another step (10% by default) or when 30 s have passed
//   since the last line, and a final line from finish():
//     train: 6000/60000 (10%)  4312 img/s  elapsed 00:01  eta 00:12  loss 0.4213
//     train: done 60000 img in 00:14, 4312 img/s  loss 0.3010
// A redrawn line is cut to the terminal's width so it never wraps.
// Plain text only: no colours or escape codes in either mode (so NO_COLOR
// and dumb terminals are served as they are).
//
// Requires: total >= 0, where 0 means "unknown" (no bar, percentage or ETA);
//   update() gets the cumulative count done so far, not a batch size.
// Ensures: each draw is flushed; in plain mode update() never prints a line
//   once done >= total (the final line is finish()'s); finish() ends the
//   line and prints the totals once, later calls do nothing; the destructor
//   ends an open interactive line but prints no totals (a loop left by an
//   exception did not finish).
// Fails: Error for a negative total or a non-positive interval. Write errors on
//   `out` are ignored: progress output is best-effort and must not stop a run.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

namespace branchy {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total, std::string unit = "img", FILE* out = stderr);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void update(int64_t done_so_far, const std::string& extra = "");
  void finish(const std::string& extra = "");

  // Whether update(done_so_far) would draw now; lets a caller skip
  // formatting `extra` on the batches where nothing is printed.
  bool wants_update(int64_t done_so_far) const;

  void set_interactive(bool interactive) { interactive_ = interactive; }
  void set_redraw_interval(double seconds);                    // interactive mode
  void set_plain_cadence(double step_fraction, double seconds);  // plain mode
  // The time source, in seconds (tests pass a fake clock). Restarts the
  // elapsed time at the clock's current reading.
  void set_clock(std::function<double()> now_seconds);

 private:
  void draw_interactive(double now, const std::string& extra, bool final);
  void print_plain_progress(double now, const std::string& extra);
  void print_plain_final(double now, const std::string& extra);
  void print_plain_line(const std::string& line, double now);  // one line, then flushed
  int64_t plain_step_index(int64_t done) const;  // completed steps of plain_step_

  std::string label_;
  int64_t total_;
  std::string unit_;
  FILE* out_;
  bool interactive_;
  std::function<double()> now_;

  double redraw_seconds_ = 0.1;
  double plain_step_ = 0.1;  // fraction of total
  double plain_seconds_ = 30.0;

  double start_ = 0.0;  // clock readings, seconds
  double last_draw_ = 0.0;
  bool drawn_ = false;                 // anything printed yet
  int64_t last_done_ = 0;              // latest count given to update()
  int64_t last_printed_done_ = 0;
  int64_t last_plain_step_ = 0;
  size_t last_line_length_ = 0;        // interactive: to blank a longer old line
  size_t terminal_columns_ = 0;        // 0 when out is not a terminal
  bool line_open_ = false;             // interactive: a line without '\n' is on screen
  bool finished_ = false;
};

}  // namespace branchy
