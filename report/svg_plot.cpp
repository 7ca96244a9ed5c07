#include "report/svg_plot.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <limits>

#include "engine/error.h"

namespace branchy {

namespace {

// Okabe & Ito's palette, reordered so the first colours differ most and the
// pale yellow (hard to see on white) comes last.
const char* const palette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                               "#E69F00", "#56B4E9", "#000000", "#F0E442"};
constexpr int palette_size = sizeof(palette) / sizeof(palette[0]);

constexpr double char_width_px = 7.0;  // a rough mean for 12 px sans-serif

// printf onto the end of a string (any length).
__attribute__((format(printf, 2, 3))) void append_format(std::string& out, const char* format,
                                                         ...) {
  va_list args, args_again;
  va_start(args, format);
  va_copy(args_again, args);
  const int length = std::vsnprintf(nullptr, 0, format, args);
  va_end(args);
  if (length > 0) {
    const size_t old_size = out.size();
    out.resize(old_size + length + 1);  // vsnprintf writes a terminating zero
    std::vsnprintf(out.data() + old_size, length + 1, format, args_again);
    out.resize(old_size + length);
  }
  va_end(args_again);
}

size_t display_length(const std::string& text) {  // UTF-8 code points
  size_t length = 0;
  for (unsigned char c : text) length += (c & 0xC0) != 0x80;
  return length;
}

// Grid and labels of one axis. `low`/`high` are the data values at the two
// ends of the axis.
struct Axis {
  double low = 0.0, high = 1.0;
  bool log = false;
  std::vector<double> ticks;
  std::vector<std::string> labels;

  // Position along the axis in [0, 1].
  double fraction(double value) const {
    if (log) return std::log(value / low) / std::log(high / low);
    return (value - low) / (high - low);
  }
};

// "0.2", "15", "1.2M": one decimal count and one suffix for the whole axis so
// the labels line up, decimals just enough to tell neighbouring ticks apart.
std::vector<std::string> linear_labels(const std::vector<double>& ticks) {
  std::vector<std::string> labels;
  if (ticks.empty()) return labels;
  const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : std::max(std::fabs(ticks[0]), 1.0);
  double largest = 0.0;
  for (double t : ticks) largest = std::max(largest, std::fabs(t));
  double scale = 1.0;
  const char* suffix = "";
  if (largest >= 1e9) {
    scale = 1e9, suffix = "G";
  } else if (largest >= 1e6) {
    scale = 1e6, suffix = "M";
  } else if (largest >= 1e4) {
    scale = 1e3, suffix = "k";
  }
  const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step / scale) - 1e-9)));
  for (double t : ticks) {
    std::string label;
    if (t == 0.0) {
      label = "0";
    } else {
      append_format(label, "%.*f%s", decimals, t / scale, suffix);
    }
    labels.push_back(label);
  }
  return labels;
}

// "500", "2k", "1M", "0.01": each log tick on its own (they share no step).
std::string compact_number(double value) {
  std::string text;
  if (value >= 1e9) {
    append_format(text, "%gG", value / 1e9);
  } else if (value >= 1e6) {
    append_format(text, "%gM", value / 1e6);
  } else if (value >= 1e3) {
    append_format(text, "%gk", value / 1e3);
  } else {
    append_format(text, "%g", value);
  }
  return text;
}

Axis make_axis(double data_low, double data_high, bool fixed, bool log) {
  Axis axis;
  axis.log = log;
  std::vector<double> candidates =
      log ? log_ticks(data_low, data_high) : nice_ticks(data_low, data_high);
  if (fixed) {
    // Keep the given range; only the ticks inside it are drawn.
    axis.low = data_low, axis.high = data_high;
    const double slack = (data_high - data_low) * 1e-9;
    for (double t : candidates) {
      if (t >= data_low - slack && t <= data_high + slack) axis.ticks.push_back(t);
    }
  } else {
    axis.ticks = candidates;
    axis.low = candidates.front(), axis.high = candidates.back();
  }
  if (log) {
    for (double t : axis.ticks) axis.labels.push_back(compact_number(t));
  } else {
    axis.labels = linear_labels(axis.ticks);
  }
  return axis;
}

void check_range(double low, double high, const char* axis) {
  BRANCHY_CHECK(std::isfinite(low) && std::isfinite(high) && low < high, "svg plot: the ", axis,
                " range must be finite with low < high, got [", low, ", ", high, "]");
}

}  // namespace

std::vector<double> nice_ticks(double low, double high, int target_count) {
  BRANCHY_CHECK(std::isfinite(low) && std::isfinite(high) && low <= high,
                "nice_ticks: need a finite range with low <= high, got [", low, ", ", high, "]");
  BRANCHY_CHECK(target_count >= 2, "nice_ticks: need at least 2 ticks, got ", target_count);
  if (low == high) {
    const double pad = low == 0.0 ? 1.0 : std::fabs(low) * 0.1;
    low -= pad, high += pad;
  }
  const double raw_step = (high - low) / (target_count - 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw_step)));
  const double residual = raw_step / magnitude;  // in [1, 10)
  const double step = magnitude * (residual <= 1.0 ? 1.0 : residual <= 2.0 ? 2.0
                                                       : residual <= 5.0 ? 5.0 : 10.0);
  // Integer multiples of the step, so 0.6 is 3 * 0.2 and not 0.2 + 0.2 + 0.2.
  const int64_t first = static_cast<int64_t>(std::floor(low / step + 1e-9));
  const int64_t last = static_cast<int64_t>(std::ceil(high / step - 1e-9));
  std::vector<double> ticks;
  for (int64_t k = first; k <= last; ++k) ticks.push_back(static_cast<double>(k) * step);
  return ticks;
}

std::vector<double> log_ticks(double low, double high) {
  BRANCHY_CHECK(std::isfinite(low) && std::isfinite(high) && low > 0.0 && low <= high,
                "log_ticks: need a finite range with 0 < low <= high, got [", low, ", ", high, "]");
  if (low == high) low /= 2.0, high *= 2.0;
  const std::vector<std::vector<double>> mantissa_sets = {
      {1}, {1, 2, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9}};
  const int first_decade = static_cast<int>(std::floor(std::log10(low))) - 1;
  const int last_decade = static_cast<int>(std::ceil(std::log10(high))) + 1;
  for (const std::vector<double>& mantissas : mantissa_sets) {
    std::vector<double> candidates;
    for (int decade = first_decade; decade <= last_decade; ++decade) {
      for (double m : mantissas) candidates.push_back(m * std::pow(10.0, decade));
    }
    // The enclosing ticks, then everything between them.
    double axis_low = candidates.front(), axis_high = candidates.back();
    for (double c : candidates) {
      if (c <= low * (1 + 1e-9)) axis_low = c;
    }
    for (auto c = candidates.rbegin(); c != candidates.rend(); ++c) {
      if (*c >= high * (1 - 1e-9)) axis_high = *c;
    }
    std::vector<double> ticks;
    for (double c : candidates) {
      if (c >= axis_low && c <= axis_high) ticks.push_back(c);
    }
    // Enough ticks to read, and the data fill at least half the axis.
    const double coverage = std::log(high / low) / std::log(axis_high / axis_low);
    if (ticks.size() >= 3 && coverage >= 0.5) return ticks;
  }
  // Much less than a decade: plain linear ticks read better (and stay > 0,
  // since the step is below the span and the span is below `low`).
  std::vector<double> ticks = nice_ticks(low, high);
  ticks.erase(std::remove_if(ticks.begin(), ticks.end(), [](double t) { return t <= 0.0; }),
              ticks.end());
  return ticks;
}

std::string xml_escape(const std::string& text) {
  std::string escaped;
  escaped.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': escaped += "&amp;"; break;
      case '<': escaped += "&lt;"; break;
      case '>': escaped += "&gt;"; break;
      case '"': escaped += "&quot;"; break;
      case '\'': escaped += "&apos;"; break;
      default: escaped += c;
    }
  }
  return escaped;
}

SvgPlot::SvgPlot(std::string title, std::string x_label, std::string y_label)
    : title_(std::move(title)), x_label_(std::move(x_label)), y_label_(std::move(y_label)) {}

void SvgPlot::add_series(std::string name, std::vector<double> xs, std::vector<double> ys,
                         SeriesStyle style) {
  BRANCHY_CHECK(xs.size() == ys.size(), "svg plot '", title_, "': series '", name, "' has ",
                xs.size(), " x values but ", ys.size(), " y values");
  series_.push_back(Series{std::move(name), std::move(xs), std::move(ys), style});
}

void SvgPlot::add_point_label(double x, double y, std::string text) {
  point_labels_.push_back(PointLabel{x, y, std::move(text)});
}

void SvgPlot::set_x_range(double low, double high) {
  check_range(low, high, "x");
  x_range_set_ = true, x_low_ = low, x_high_ = high;
}

void SvgPlot::set_y_range(double low, double high) {
  check_range(low, high, "y");
  y_range_set_ = true, y_low_ = low, y_high_ = high;
}

void SvgPlot::set_size(int width_px, int height_px) {
  BRANCHY_CHECK(width_px >= 200 && height_px >= 150, "svg plot: size must be at least 200x150 px, got ",
                width_px, "x", height_px);
  width_px_ = width_px, height_px_ = height_px;
}

// The plot area in pixels and the two axes that map data into it.
struct SvgPlot::Frame {
  Axis x_axis, y_axis;
  double left = 0, top = 0, right = 0, bottom = 0;

  double px(double x) const { return left + x_axis.fraction(x) * (right - left); }
  double py(double y) const { return bottom - y_axis.fraction(y) * (bottom - top); }
};

SvgPlot::Frame SvgPlot::layout() const {
  // The data range over every finite point (series and labelled points).
  constexpr double inf = std::numeric_limits<double>::infinity();
  double x_min = inf, x_max = -inf, y_min = inf, y_max = -inf;
  auto include = [&](double x, double y, const std::string& owner) {
    if (!std::isfinite(x) || !std::isfinite(y)) return;
    BRANCHY_CHECK(!log_x_ || x > 0.0, "svg plot '", title_, "': ", owner,
                  " has x = ", x, ", which a log x axis cannot show");
    x_min = std::min(x_min, x), x_max = std::max(x_max, x);
    y_min = std::min(y_min, y), y_max = std::max(y_max, y);
  };
  for (const Series& s : series_) {
    for (size_t i = 0; i < s.xs.size(); ++i) include(s.xs[i], s.ys[i], "series '" + s.name + "'");
  }
  for (const PointLabel& p : point_labels_) include(p.x, p.y, "point label '" + p.text + "'");
  if (x_min > x_max) {  // nothing to show: an empty frame
    x_min = log_x_ ? 1.0 : 0.0, x_max = log_x_ ? 10.0 : 1.0, y_min = 0.0, y_max = 1.0;
  }
  if (x_range_set_) {
    BRANCHY_CHECK(!log_x_ || x_low_ > 0.0, "svg plot '", title_, "': a log x axis needs x > 0, ",
                  "the x range starts at ", x_low_);
    x_min = x_low_, x_max = x_high_;
  }
  if (y_range_set_) y_min = y_low_, y_max = y_high_;
  Frame frame;
  frame.x_axis = make_axis(x_min, x_max, x_range_set_, log_x_);
  frame.y_axis = make_axis(y_min, y_max, y_range_set_, false);

  // Layout in pixels: title above, tick labels and axis labels left and
  // below, legend to the right.
  size_t longest_name = 0;
  for (const Series& s : series_) longest_name = std::max(longest_name, display_length(s.name));
  const double legend_width =
      longest_name == 0 ? 0.0 : std::min(40.0 + char_width_px * longest_name, width_px_ / 3.0);
  frame.left = 72.0, frame.top = 40.0;
  frame.right = width_px_ - 20.0 - legend_width, frame.bottom = height_px_ - 50.0;
  return frame;
}

void SvgPlot::append_header(std::string& svg, const Frame& f) const {
  svg += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  append_format(svg,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n",
                width_px_, height_px_, width_px_, height_px_);
  svg += "<title>" + xml_escape(title_) + "</title>\n";
  append_format(svg,
                "<defs><clipPath id=\"plot-area\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                "height=\"%.1f\"/></clipPath></defs>\n",
                f.left, f.top, f.right - f.left, f.bottom - f.top);
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  append_format(svg, "<text x=\"%.1f\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">",
                (f.left + f.right) / 2);
  svg += xml_escape(title_) + "</text>\n";
}

void SvgPlot::append_axes(std::string& svg, const Frame& f) const {
  // Grid lines and tick labels.
  svg += "<g stroke=\"#dddddd\" stroke-width=\"1\">\n";
  for (double t : f.x_axis.ticks) {
    append_format(svg, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", f.px(t), f.top,
                  f.px(t), f.bottom);
  }
  for (double t : f.y_axis.ticks) {
    append_format(svg, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", f.left, f.py(t),
                  f.right, f.py(t));
  }
  svg += "</g>\n";
  append_format(svg,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                "stroke=\"black\"/>\n",
                f.left, f.top, f.right - f.left, f.bottom - f.top);
  svg += "<g class=\"x-ticks\" text-anchor=\"middle\">\n";
  for (size_t i = 0; i < f.x_axis.ticks.size(); ++i) {
    append_format(svg, "<text x=\"%.1f\" y=\"%.1f\">", f.px(f.x_axis.ticks[i]), f.bottom + 16);
    svg += xml_escape(f.x_axis.labels[i]) + "</text>\n";
  }
  svg += "</g>\n<g class=\"y-ticks\" text-anchor=\"end\">\n";
  for (size_t i = 0; i < f.y_axis.ticks.size(); ++i) {
    append_format(svg, "<text x=\"%.1f\" y=\"%.1f\" dy=\"0.35em\">", f.left - 6,
                  f.py(f.y_axis.ticks[i]));
    svg += xml_escape(f.y_axis.labels[i]) + "</text>\n";
  }
  svg += "</g>\n";
  append_format(svg, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", (f.left + f.right) / 2,
                height_px_ - 12.0);
  svg += xml_escape(x_label_) + "</text>\n";
  const double y_label_y = (f.top + f.bottom) / 2;
  append_format(svg,
                "<text x=\"18\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 18 "
                "%.1f)\">",
                y_label_y, y_label_y);
  svg += xml_escape(y_label_) + "</text>\n";
}

void SvgPlot::append_data(std::string& svg, const Frame& f) const {
  // Series, clipped to the plot area (a fixed range may cut them).
  svg += "<g clip-path=\"url(#plot-area)\">\n";
  for (size_t s = 0; s < series_.size(); ++s) {
    const Series& series = series_[s];
    const char* colour = palette[s % palette_size];
    if (series.style != SeriesStyle::points) {
      std::string path;
      bool pen_down = false;  // a non-finite point lifts the pen
      for (size_t i = 0; i < series.xs.size(); ++i) {
        if (!std::isfinite(series.xs[i]) || !std::isfinite(series.ys[i])) {
          pen_down = false;
          continue;
        }
        append_format(path, "%s%.1f %.1f ", pen_down ? "L" : "M", f.px(series.xs[i]),
                      f.py(series.ys[i]));
        pen_down = true;
      }
      if (!path.empty()) {
        path.pop_back();
        append_format(svg, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"2\" d=\"", colour);
        svg += path + "\"/>\n";
      }
    }
    if (series.style != SeriesStyle::line) {
      append_format(svg, "<g fill=\"%s\">\n", colour);
      for (size_t i = 0; i < series.xs.size(); ++i) {
        if (!std::isfinite(series.xs[i]) || !std::isfinite(series.ys[i])) continue;
        append_format(svg, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\"/>\n", f.px(series.xs[i]),
                      f.py(series.ys[i]));
      }
      svg += "</g>\n";
    }
  }
  for (const PointLabel& p : point_labels_) {
    if (!std::isfinite(p.x) || !std::isfinite(p.y)) continue;
    append_format(svg,
                  "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"6\" fill=\"none\" stroke=\"black\" "
                  "stroke-width=\"2\"/>\n",
                  f.px(p.x), f.py(p.y));
    // A white halo keeps the text readable where it crosses a line.
    append_format(svg,
                  "<text x=\"%.1f\" y=\"%.1f\" stroke=\"white\" stroke-width=\"3\" "
                  "paint-order=\"stroke\">",
                  f.px(p.x) + 9, f.py(p.y) - 9);
    svg += xml_escape(p.text) + "</text>\n";
  }
  svg += "</g>\n";
}

void SvgPlot::append_legend(std::string& svg, const Frame& f) const {
  // A sample of each series' line or marker, then its name.
  if (series_.empty()) return;
  svg += "<g class=\"legend\">\n";
  for (size_t s = 0; s < series_.size(); ++s) {
    const Series& series = series_[s];
    const char* colour = palette[s % palette_size];
    const double x = f.right + 14, y = f.top + 10 + 18.0 * s;
    if (series.style != SeriesStyle::points) {
      append_format(svg,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                    "stroke-width=\"2\"/>\n",
                    x, y, x + 20, y, colour);
    }
    if (series.style != SeriesStyle::line) {
      append_format(svg, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", x + 10, y,
                    colour);
    }
    append_format(svg, "<text x=\"%.1f\" y=\"%.1f\" dy=\"0.35em\">", x + 26, y);
    svg += xml_escape(series.name) + "</text>\n";
  }
  svg += "</g>\n";
}

std::string SvgPlot::render() const {
  const Frame frame = layout();
  std::string svg;
  append_header(svg, frame);
  append_axes(svg, frame);
  append_data(svg, frame);
  append_legend(svg, frame);
  svg += "</svg>\n";
  return svg;
}

void SvgPlot::save(const std::string& path) const {
  const std::string svg = render();
  FILE* file = std::fopen(path.c_str(), "w");
  BRANCHY_CHECK(file != nullptr, "svg plot: cannot open ", path, " for writing: ",
                std::strerror(errno));
  const bool written = std::fwrite(svg.data(), 1, svg.size(), file) == svg.size();
  const int saved_errno = errno;
  const bool closed = std::fclose(file) == 0;
  BRANCHY_CHECK(written && closed, "svg plot: writing ", path, " failed: ",
                std::strerror(written ? errno : saved_errno));
}

}  // namespace branchy
