#include "pipeline/training_plot.h"

#include <fstream>
#include <sstream>
#include <vector>

#include "formats/atomic_file.h"
#include "report/csv.h"
#include "engine/error.h"
#include "report/svg_plot.h"

namespace branchy {

void write_training_plot(const std::string& svg_path, const std::string& csv_path, const std::string& title) {
  std::ifstream in(csv_path);
  BRANCHY_CHECK(in, csv_path, ": cannot read the training log");
  std::string line;
  std::getline(in, line);
  const std::vector<std::string> header = csv_split_line(line);
  std::vector<std::vector<double>> columns(header.size());
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const std::vector<std::string> cells = csv_split_line(line);
    if (cells.size() != header.size()) continue;  // a torn row is not worth losing the plot over
    for (size_t c = 0; c < cells.size(); ++c) columns[c].push_back(std::atof(cells[c].c_str()));
  }
  SvgPlot accuracy(title + ": validation accuracy", "epoch", "accuracy");
  SvgPlot loss(title + ": training loss", "epoch", "loss");
  const std::vector<double>* epochs = nullptr;
  for (size_t c = 0; c < header.size(); ++c)
    if (header[c] == "epoch") epochs = &columns[c];
  BRANCHY_CHECK(epochs, csv_path, ": no epoch column");
  for (size_t c = 0; c < header.size(); ++c) {
    const std::string prefix = "validation_accuracy_exit";
    if (header[c].rfind(prefix, 0) == 0)
      accuracy.add_series("exit " + header[c].substr(prefix.size()), *epochs, columns[c], SeriesStyle::line_and_points);
    if (header[c] == "train_loss") loss.add_series("train loss", *epochs, columns[c], SeriesStyle::line_and_points);
  }
  // One file, two panels: stack the two SVG documents inside an outer one.
  const std::string top = accuracy.render(), bottom = loss.render();
  auto body = [](const std::string& svg) {
    const size_t start = svg.find("<svg");
    return start == std::string::npos ? svg : svg.substr(start);
  };
  std::ostringstream out;
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"800\">\n"
      << "<g>" << body(top) << "</g>\n<g transform=\"translate(0,400)\">" << body(bottom) << "</g>\n</svg>\n";
  write_file_atomically(svg_path, out.str());
}

}  // namespace branchy
