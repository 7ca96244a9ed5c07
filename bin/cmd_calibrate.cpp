// branchy calibrate — sweeps entropy thresholds on the validation split,
// writes the accuracy/cost frontier (CSV + SVG) and stores the chosen thresholds.
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "bin/commands.h"
#include "bin/common.h"
#include "engine/threads.h"
#include "report/csv.h"
#include "report/svg_plot.h"
#include "report/table.h"
#include "pipeline/calibration.h"
#include "pipeline/policy_eval.h"

namespace branchy {

namespace {

std::string folder_of(const std::string& path) {
  const std::string parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

std::string thresholds_text(const std::vector<float>& thresholds) {
  std::string s;
  char buffer[32];
  for (size_t i = 0; i < thresholds.size(); ++i) {
    std::snprintf(buffer, sizeof buffer, "%s%g", i ? "," : "", thresholds[i]);
    s += buffer;
  }
  return s;
}

void check_calibratable(const LoadedModel& model, const std::string& path) {
  if (model.net->num_exits() < 2) fail(path, ": ", model.net->name(), " has no branches to calibrate");
  for (const NamedTensor& t : model.checkpoint.tensors)
    if (t.name.rfind("optimizer.", 0) == 0)
      fail(path, ": is a training checkpoint (it holds optimizer state); calibrate the run's model.safetensors");
}

// Sets each frontier point's measured latency, on the first `latency_samples`
// validation samples; returns the full network's.
double time_frontier(BranchyNet& net, const Dataset& validation, const Normalizer* normalizer, int latency_samples,
                     std::vector<ThresholdSetting>& frontier) {
  const Dataset timed = validation.slice(0, std::min<int64_t>(latency_samples, validation.size()), validation.name);
  EvalOptions timing;
  timing.latency_samples = timed.size();
  timing.repeats = 3;
  std::vector<Policy> policies = {full_policy(net)};
  for (const ThresholdSetting& s : frontier) policies.push_back(branchy_policy(net, s.thresholds));
  const std::vector<PolicyReport> timings = evaluate_policies(policies, net.num_exits(), timed, normalizer, timing);
  for (size_t i = 0; i < frontier.size(); ++i) frontier[i].latency_us = timings[i + 1].latency_us;
  return timings.front().latency_us;
}

// What calibration found, for the files and the report.
struct Calibration {
  std::vector<ThresholdSetting> frontier;
  ThresholdSetting chosen;
  size_t settings_swept = 0;
  double last_exit_accuracy = 0;
  double full_latency_us = 0;
};

void write_frontier_files(const std::string& out_dir, const BranchyNet& net, const Calibration& c) {
  std::vector<std::string> columns = {"thresholds", "accuracy", "mean_macs", "latency_us", "chosen"};
  for (int e = 0; e < net.num_exits(); ++e) columns.push_back("exit_share" + std::to_string(e));
  CsvWriter csv(out_dir + "/frontier.csv", columns);
  std::vector<double> macs, accuracy, latency;
  for (const ThresholdSetting& s : c.frontier) {
    std::vector<std::string> row = {thresholds_text(s.thresholds), csv_number(s.accuracy), csv_number(s.mean_macs),
                                    csv_number(s.latency_us), s.thresholds == c.chosen.thresholds ? "1" : "0"};
    for (double share : s.exit_share) row.push_back(csv_number(share));
    csv.row(row);
    macs.push_back(s.mean_macs);
    accuracy.push_back(s.accuracy);
    latency.push_back(s.latency_us);
  }
  SvgPlot by_macs(net.name() + ": accuracy against mean MACs (validation)", "mean MACs per sample", "accuracy");
  by_macs.add_series("branchy frontier", macs, accuracy, SeriesStyle::line_and_points);
  by_macs.add_series("full network", {static_cast<double>(net.full_macs())}, {c.last_exit_accuracy},
                     SeriesStyle::points);
  by_macs.add_point_label(c.chosen.mean_macs, c.chosen.accuracy, "chosen " + thresholds_text(c.chosen.thresholds));
  by_macs.save(out_dir + "/frontier.svg");
  SvgPlot by_latency(net.name() + ": accuracy against measured latency (batch 1)", "latency per sample (us)",
                     "accuracy");
  by_latency.add_series("branchy frontier", latency, accuracy, SeriesStyle::line_and_points);
  by_latency.add_series("full network", {c.full_latency_us}, {c.last_exit_accuracy}, SeriesStyle::points);
  by_latency.save(out_dir + "/frontier_latency.svg");
}

void print_calibration(const BranchyNet& net, const Calibration& c, double max_drop) {
  TextTable table({"thresholds", "accuracy", "MACs/sample", "latency us", "exit share %"});
  for (const ThresholdSetting& s : c.frontier) {
    std::string share;
    for (size_t e = 0; e < s.exit_share.size(); ++e) share += (e ? " / " : "") + csv_number(100.0 * s.exit_share[e]);
    table.add_row({thresholds_text(s.thresholds) + (s.thresholds == c.chosen.thresholds ? " *" : ""),
                   csv_number(s.accuracy), format_count(static_cast<int64_t>(s.mean_macs)), csv_number(s.latency_us),
                   share});
  }
  std::fputs(table.render().c_str(), stdout);
  std::printf("%zu settings swept, %zu on the frontier; last exit alone: accuracy %.4f, %s MACs, %.1f us\n",
              c.settings_swept, c.frontier.size(), c.last_exit_accuracy, format_count(net.full_macs()).c_str(),
              c.full_latency_us);
  std::printf("chosen thresholds %s: accuracy %.4f (max drop %.4f), %s MACs/sample (%.2fx fewer)\n",
              thresholds_text(c.chosen.thresholds).c_str(), c.chosen.accuracy, max_drop,
              format_count(static_cast<int64_t>(c.chosen.mean_macs)).c_str(), net.full_macs() / c.chosen.mean_macs);
}

}  // namespace

int command_calibrate(const CalibrateArgs& args) {
  set_num_threads(args.threads);
  const std::string& path = args.model_path;
  const std::string out_dir = args.out_dir.value_or(folder_of(path));
  if (args.out_dir) check_output_folder(out_dir, "--out");  // the default: the model's folder
  LoadedModel model = load_model(path);
  check_calibratable(model, path);
  BranchyNet& net = *model.net;
  const DatasetSplits data = load_dataset(data_spec_for(args.data, model.info), split_for(args.data, &model.info));
  if (data.validation.size() == 0) throw UsageError("the validation split is empty (see --validation)");
  check_data_fits(net, data.validation, path);
  const Normalizer* normalizer = model.info.normalizer ? &*model.info.normalizer : nullptr;

  std::fprintf(stderr, "running every exit over %lld validation samples\n",
               static_cast<long long>(data.validation.size()));
  const ExitOutputs outputs = run_all_exits(net, data.validation, normalizer, 256);
  Calibration c;
  c.last_exit_accuracy = outputs.accuracy(net.num_exits() - 1);
  const std::vector<ThresholdSetting> all =
      sweep_thresholds(net, outputs, args.grid.value_or(default_threshold_grid()));
  c.settings_swept = all.size();
  c.frontier = accuracy_cost_frontier(all);
  c.chosen = choose_thresholds(c.frontier, c.last_exit_accuracy, args.max_drop);
  c.full_latency_us = time_frontier(net, data.validation, normalizer, args.latency_samples, c.frontier);

  write_frontier_files(out_dir, net, c);
  print_calibration(net, c, args.max_drop);
  std::printf("wrote %s/frontier.csv, %s/frontier.svg, %s/frontier_latency.svg\n", out_dir.c_str(), out_dir.c_str(),
              out_dir.c_str());
  if (!args.dry_run) {
    model.info.thresholds = c.chosen.thresholds;
    save_model(path, net, model.info);
    std::printf("stored the thresholds in %s\n", path.c_str());
  }
  return 0;
}

}  // namespace branchy
