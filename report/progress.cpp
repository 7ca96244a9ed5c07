#include "report/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "engine/error.h"

namespace branchy {

namespace {

constexpr int full_bar_width = 24;  // characters between the brackets
constexpr int least_bar_width = 8;  // narrower than this, the bar is left out

double steady_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// "05:07" below an hour, "1:02:03" above; "--:--" when unknown.
std::string clock_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0.0) return "--:--";
  const int64_t whole = static_cast<int64_t>(seconds);
  char text[32];
  if (whole < 3600) {
    std::snprintf(text, sizeof text, "%02d:%02d", static_cast<int>(whole / 60),
                  static_cast<int>(whole % 60));
  } else {
    std::snprintf(text, sizeof text, "%lld:%02d:%02d", static_cast<long long>(whole / 3600),
                  static_cast<int>(whole / 60 % 60), static_cast<int>(whole % 60));
  }
  return text;
}

// "4312 img/s"; three significant figures below 100 ("43.1", "0.512").
std::string rate_text(int64_t done, double elapsed, const std::string& unit) {
  if (!(elapsed > 0.0)) return "-- " + unit + "/s";
  const double rate = static_cast<double>(done) / elapsed;
  char text[32];
  if (rate >= 100.0) {
    std::snprintf(text, sizeof text, "%.0f", rate);
  } else {
    std::snprintf(text, sizeof text, "%.3g", rate);
  }
  return std::string(text) + " " + unit + "/s";
}

std::string eta_text(int64_t done, int64_t total, double elapsed) {
  if (total <= 0 || done <= 0 || !(elapsed > 0.0)) return "--:--";
  const double remaining = static_cast<double>(std::max<int64_t>(total - done, 0));
  return clock_text(remaining * elapsed / static_cast<double>(done));
}

std::string bar_text(int64_t done, int64_t total, int width) {
  const double fraction = std::clamp(static_cast<double>(done) / static_cast<double>(total), 0.0, 1.0);
  const int filled = static_cast<int>(fraction * width);
  return "[" + std::string(filled, '#') + std::string(width - filled, '-') + "]";
}

std::string count_text(int64_t done, int64_t total) {
  return total > 0 ? std::to_string(done) + "/" + std::to_string(total) : std::to_string(done);
}

std::string with_extra(std::string line, const std::string& extra) {
  if (!extra.empty()) line += "  " + extra;
  return line;
}

}  // namespace

ProgressBar::ProgressBar(std::string label, int64_t total, std::string unit, FILE* out)
    : label_(std::move(label)),
      total_(total),
      unit_(std::move(unit)),
      out_(out),
      interactive_(out != nullptr && isatty(fileno(out)) == 1),
      now_(steady_seconds) {
  BRANCHY_CHECK(total >= 0, "progress '", label_, "': total must be >= 0, got ", total);
  BRANCHY_CHECK(out != nullptr, "progress '", label_, "': no output stream");
  start_ = now_();
  last_draw_ = start_;
  // A redrawn line wider than the terminal wraps, and '\r' then returns only
  // to the start of the last row: every redraw would leave a new line behind.
  winsize size{};
  if (ioctl(fileno(out), TIOCGWINSZ, &size) == 0) terminal_columns_ = size.ws_col;
}

ProgressBar::~ProgressBar() {
  if (interactive_ && line_open_) {
    std::fputc('\n', out_);
    std::fflush(out_);
  }
}

void ProgressBar::set_redraw_interval(double seconds) {
  BRANCHY_CHECK(seconds > 0.0, "progress '", label_, "': redraw interval must be > 0 s, got ",
                seconds);
  redraw_seconds_ = seconds;
}

void ProgressBar::set_plain_cadence(double step_fraction, double seconds) {
  BRANCHY_CHECK(step_fraction > 0.0 && step_fraction <= 1.0, "progress '", label_,
                "': plain step must be in (0, 1], got ", step_fraction);
  BRANCHY_CHECK(seconds > 0.0, "progress '", label_, "': plain interval must be > 0 s, got ",
                seconds);
  plain_step_ = step_fraction;
  plain_seconds_ = seconds;
}

void ProgressBar::set_clock(std::function<double()> now_seconds) {
  now_ = std::move(now_seconds);
  start_ = now_();
  last_draw_ = start_;
}

int64_t ProgressBar::plain_step_index(int64_t done) const {
  if (total_ <= 0) return 0;
  const double fraction = static_cast<double>(done) / static_cast<double>(total_);
  // The slack keeps 3/10 of the way at step 3 despite 0.3 / 0.1 = 2.9999...
  return static_cast<int64_t>(std::floor(fraction / plain_step_ + 1e-9));
}

bool ProgressBar::wants_update(int64_t done_so_far) const {
  if (finished_) return false;
  const double now = now_();
  if (interactive_) {
    if (!drawn_) return true;
    if (total_ > 0 && done_so_far >= total_ && last_printed_done_ < total_) return true;
    return now - last_draw_ >= redraw_seconds_;
  }
  if (total_ > 0 && done_so_far >= total_) return false;  // finish() prints the end
  if (plain_step_index(done_so_far) > last_plain_step_) return true;
  return done_so_far > last_printed_done_ && now - last_draw_ >= plain_seconds_;
}

void ProgressBar::update(int64_t done_so_far, const std::string& extra) {
  if (finished_) return;
  last_done_ = done_so_far;
  if (!wants_update(done_so_far)) return;
  const double now = now_();
  if (interactive_) {
    draw_interactive(now, extra, false);
  } else {
    print_plain_progress(now, extra);
  }
}

void ProgressBar::finish(const std::string& extra) {
  if (finished_) return;
  finished_ = true;
  const double now = now_();
  if (interactive_) {
    draw_interactive(now, extra, true);
  } else {
    print_plain_final(now, extra);
  }
}

void ProgressBar::draw_interactive(double now, const std::string& extra, bool final) {
  const double elapsed = now - start_;
  std::string numbers = "  " + count_text(last_done_, total_);
  numbers += "  " + rate_text(last_done_, elapsed, unit_);
  numbers += "  elapsed " + clock_text(elapsed);
  if (!final && total_ > 0) numbers += "  eta " + eta_text(last_done_, total_, elapsed);
  numbers = with_extra(std::move(numbers), extra);
  // On a narrow terminal the bar gives up room first, then the line is cut
  // (the last column stays free: writing there wraps on some terminals).
  int bar_width = total_ > 0 ? full_bar_width : 0;
  if (terminal_columns_ > 0) {
    const int64_t room = static_cast<int64_t>(terminal_columns_) - 1 -
                         static_cast<int64_t>(label_.size() + numbers.size()) - 3;  // " []"
    bar_width = static_cast<int>(std::min<int64_t>(bar_width, room));
  }
  std::string line = label_;
  if (bar_width >= least_bar_width) line += " " + bar_text(last_done_, total_, bar_width);
  line += numbers;
  if (terminal_columns_ > 1 && line.size() >= terminal_columns_) line.resize(terminal_columns_ - 1);
  // Overwrite what is left of a longer previous line with spaces.
  const size_t length = line.size();
  if (length < last_line_length_) line.append(last_line_length_ - length, ' ');
  std::fputc('\r', out_);
  std::fputs(line.c_str(), out_);
  if (final) std::fputc('\n', out_);
  std::fflush(out_);
  last_line_length_ = length;
  line_open_ = !final;
  drawn_ = true;
  last_draw_ = now;
  last_printed_done_ = last_done_;
}

void ProgressBar::print_plain_progress(double now, const std::string& extra) {
  const double elapsed = now - start_;
  std::string line = label_ + ": " + count_text(last_done_, total_);
  if (total_ > 0) {
    const double percent = 100.0 * static_cast<double>(last_done_) / static_cast<double>(total_);
    // Rounded down (never 100% early), with slack for 30.000000000000004.
    line += " (" + std::to_string(static_cast<int>(std::floor(percent + 1e-9))) + "%)";
  }
  line += "  " + rate_text(last_done_, elapsed, unit_);
  line += "  elapsed " + clock_text(elapsed);
  if (total_ > 0) line += "  eta " + eta_text(last_done_, total_, elapsed);
  print_plain_line(with_extra(std::move(line), extra), now);
  last_plain_step_ = plain_step_index(last_done_);
}

void ProgressBar::print_plain_final(double now, const std::string& extra) {
  const double elapsed = now - start_;
  std::string line = label_ + ": done " + std::to_string(last_done_) + " " + unit_ + " in " +
                     clock_text(elapsed) + ", " + rate_text(last_done_, elapsed, unit_);
  print_plain_line(with_extra(std::move(line), extra), now);
}

void ProgressBar::print_plain_line(const std::string& line, double now) {
  std::fputs((line + "\n").c_str(), out_);
  std::fflush(out_);
  drawn_ = true;
  last_draw_ = now;
  last_printed_done_ = last_done_;
}

}  // namespace branchy
