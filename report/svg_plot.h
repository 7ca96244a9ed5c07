// svg_plot.h — small line/scatter plots written as standalone SVG files.
//
// Enough for report figures: training curves (loss or accuracy per epoch),
// the accuracy-vs-MACs frontier of the exit policies with the chosen point
// marked, exit shares per threshold. No dependencies; the output is plain
// SVG 1.1 that browsers, Inkscape and LaTeX (via svg/pdf conversion) read.
//
//   SvgPlot plot("B-LeNet on Fashion-MNIST", "epoch", "test accuracy");
//   plot.add_series("exit 0", epochs, exit0_accuracy, SeriesStyle::line_and_points);
//   plot.add_series("exit 1", epochs, exit1_accuracy);
//   plot.save("curves.svg");
//
// Axes run over the data extended to round tick values (steps of 1, 2 or 5
// times a power of ten), unless a range is set explicitly. A log x axis puts
// ticks at powers of ten, or at 1-2-5 within each decade when the data span
// too few decades. Each series gets the next colour of a fixed colour-blind
// safe palette (Okabe & Ito); the legend sits right of the plot.
//
// Requires: xs and ys of a series have the same length; for a log x axis
//   every x (and a set x range) is > 0. Non-finite points are skipped (they
//   break a line into pieces).
// Ensures: render() is well-formed XML: all text goes through xml_escape().
// Fails: Error naming the series for mismatched lengths or x <= 0 on a log
//   axis; Error for an empty or inverted range; Error naming the path and
//   strerror when save() cannot write.
#pragma once

#include <string>
#include <vector>

namespace branchy {

enum class SeriesStyle { line, points, line_and_points };

// Tick values from the first step multiple at or below `low` to the first at
// or above `high`, with a step of 1, 2 or 5 x 10^k chosen to give about
// target_count ticks. A zero-width range is widened around its value.
std::vector<double> nice_ticks(double low, double high, int target_count = 6);
// Tick values for a log axis over [low, high], 0 < low <= high, extended to
// the enclosing ticks: powers of ten, else 1-2-5 per decade, else 1..9 per
// decade, else linear nice_ticks (for ranges much narrower than a decade).
std::vector<double> log_ticks(double low, double high);
// Text safe inside XML elements and attribute values: & < > " ' escaped.
std::string xml_escape(const std::string& text);

class SvgPlot {
 public:
  SvgPlot(std::string title, std::string x_label, std::string y_label);

  void add_series(std::string name, std::vector<double> xs, std::vector<double> ys,
                  SeriesStyle style = SeriesStyle::line);
  // Marks one point with a ring and a short text beside it ("chosen: T=0.75").
  void add_point_label(double x, double y, std::string text);

  void set_log_x(bool log_x) { log_x_ = log_x; }
  // Fixed axis ranges (e.g. accuracy 0..1); by default they follow the data.
  void set_x_range(double low, double high);
  void set_y_range(double low, double high);
  void set_size(int width_px, int height_px);

  std::string render() const;
  void save(const std::string& path) const;

 private:
  struct Frame;  // the plot area and its axes, in svg_plot.cpp
  // render()'s steps, in drawing order: the data range and the pixel layout;
  // then the document's header and title, grid and axes, series and point
  // labels, legend.
  Frame layout() const;
  void append_header(std::string& svg, const Frame& frame) const;
  void append_axes(std::string& svg, const Frame& frame) const;
  void append_data(std::string& svg, const Frame& frame) const;
  void append_legend(std::string& svg, const Frame& frame) const;

  struct Series {
    std::string name;
    std::vector<double> xs, ys;
    SeriesStyle style;
  };
  struct PointLabel {
    double x, y;
    std::string text;
  };

  std::string title_, x_label_, y_label_;
  std::vector<Series> series_;
  std::vector<PointLabel> point_labels_;
  bool log_x_ = false;
  bool x_range_set_ = false, y_range_set_ = false;
  double x_low_ = 0.0, x_high_ = 1.0, y_low_ = 0.0, y_high_ = 1.0;
  int width_px_ = 640, height_px_ = 400;
};

}  // namespace branchy
