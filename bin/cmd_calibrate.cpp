// branchy calibrate — sweeps entropy thresholds on the validation split,
// writes the accuracy/cost frontier (CSV + SVG) and stores the chosen thresholds.
#include <cstdio>
#include <filesystem>

#include "bin/commands.h"
#include "bin/common.h"
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

}  // namespace

int command_calibrate(int argc, char** argv) {
  ArgParser args("calibrate",
                 "Sweeps entropy thresholds on the validation split, writes the accuracy/cost frontier\n"
                 "(frontier.csv, frontier.svg beside the model) and stores the chosen thresholds in the model.");
  args.positional("MODEL", "a .safetensors model with branches");
  args.option("grid", "T,...", "", "threshold values tried at every branch (default: BranchyNet's 1e-4 ... 10)");
  args.option("max-drop", "FRACTION", "0.005", "accuracy the chosen setting may lose against the last exit");
  args.option("latency-samples", "N", "500", "validation samples timed one by one per frontier point");
  args.option("out", "DIR", "", "where frontier.csv and frontier.svg go (default: the model's folder)");
  add_data_options(args, "");
  add_thread_option(args);
  args.flag("dry-run", "do not store the thresholds in the model");
  if (!args.parse(argc, argv)) return 0;
  apply_thread_option(args);
  const std::string path = args.get("MODEL");
  LoadedModel model = load_model(path);
  BranchyNet& net = *model.net;
  if (net.num_exits() < 2) fail(path, ": ", net.name(), " has no branches to calibrate");
  for (const NamedTensor& t : model.checkpoint.tensors)
    if (t.name.rfind("optimizer.", 0) == 0)
      fail(path, ": is a training checkpoint (it holds optimizer state); calibrate the run's model.safetensors");
  const std::string spec = args.given("data") ? args.get("data") : model_dataset_spec(model.info);
  const DatasetSplits data = load_data_from(args, spec);
  if (data.validation.size() == 0) throw UsageError("the validation split is empty (see --validation)");
  check_data_fits(net, data.validation, path);
  const Normalizer* normalizer = model.info.normalizer ? &*model.info.normalizer : nullptr;

  std::vector<float> grid = default_threshold_grid();
  if (args.given("grid")) {
    grid.clear();
    for (const std::string& t : args.get_list("grid")) {
      char* end = nullptr;
      const float value = std::strtof(t.c_str(), &end);
      if (*end != '\0' || !(value >= 0)) throw UsageError("--grid wants non-negative numbers, got '" + t + "'");
      grid.push_back(value);
    }
  }
  const double max_drop = args.get_double("max-drop");
  const int latency_samples = args.get_int("latency-samples");
  if (max_drop < 0 || latency_samples < 1) throw UsageError("--max-drop must be >= 0 and --latency-samples >= 1");

  std::fprintf(stderr, "running every exit over %lld validation samples\n",
               static_cast<long long>(data.validation.size()));
  const ExitOutputs outputs = run_all_exits(net, data.validation, normalizer, 256);
  const double last_exit_accuracy = outputs.accuracy(net.num_exits() - 1);
  const std::vector<ThresholdSetting> all = sweep_thresholds(net, outputs, grid);
  std::vector<ThresholdSetting> frontier = accuracy_cost_frontier(all);
  const ThresholdSetting chosen = choose_thresholds(frontier, last_exit_accuracy, max_drop);

  // Measured latency of each frontier point, on the first validation samples.
  const Dataset timed = data.validation.slice(0, std::min<int64_t>(latency_samples, data.validation.size()),
                                              data.validation.name);
  EvalOptions timing;
  timing.latency_samples = timed.size();
  timing.repeats = 3;
  std::vector<Policy> policies = {full_policy(net)};
  for (const ThresholdSetting& s : frontier) policies.push_back(branchy_policy(net, s.thresholds));
  const std::vector<PolicyReport> timings = evaluate_policies(policies, net.num_exits(), timed, normalizer, timing);
  const PolicyReport& full = timings.front();
  for (size_t i = 0; i < frontier.size(); ++i) frontier[i].latency_us = timings[i + 1].latency_us;

  const std::string out_dir = args.given("out") ? args.get("out") : folder_of(path);
  std::vector<std::string> columns = {"thresholds", "accuracy", "mean_macs", "latency_us", "chosen"};
  for (int e = 0; e < net.num_exits(); ++e) columns.push_back("exit_share" + std::to_string(e));
  CsvWriter csv(out_dir + "/frontier.csv", columns);
  std::vector<double> macs, accuracy, latency;
  for (const ThresholdSetting& s : frontier) {
    std::vector<std::string> row = {thresholds_text(s.thresholds), csv_number(s.accuracy), csv_number(s.mean_macs),
                                    csv_number(s.latency_us), s.thresholds == chosen.thresholds ? "1" : "0"};
    for (double share : s.exit_share) row.push_back(csv_number(share));
    csv.row(row);
    macs.push_back(s.mean_macs);
    accuracy.push_back(s.accuracy);
    latency.push_back(s.latency_us);
  }
  SvgPlot by_macs(net.name() + ": accuracy against mean MACs (validation)", "mean MACs per sample", "accuracy");
  by_macs.add_series("branchy frontier", macs, accuracy, SeriesStyle::line_and_points);
  by_macs.add_series("full network", {static_cast<double>(net.full_macs())}, {last_exit_accuracy}, SeriesStyle::points);
  by_macs.add_point_label(chosen.mean_macs, chosen.accuracy, "chosen " + thresholds_text(chosen.thresholds));
  by_macs.save(out_dir + "/frontier.svg");
  SvgPlot by_latency(net.name() + ": accuracy against measured latency (batch 1)", "latency per sample (us)",
                     "accuracy");
  by_latency.add_series("branchy frontier", latency, accuracy, SeriesStyle::line_and_points);
  by_latency.add_series("full network", {full.latency_us}, {last_exit_accuracy}, SeriesStyle::points);
  by_latency.save(out_dir + "/frontier_latency.svg");

  TextTable table({"thresholds", "accuracy", "MACs/sample", "latency us", "exit share %"});
  for (const ThresholdSetting& s : frontier) {
    std::string share;
    for (size_t e = 0; e < s.exit_share.size(); ++e) share += (e ? " / " : "") + csv_number(100.0 * s.exit_share[e]);
    table.add_row({thresholds_text(s.thresholds) + (s.thresholds == chosen.thresholds ? " *" : ""),
                   csv_number(s.accuracy), format_count(static_cast<int64_t>(s.mean_macs)), csv_number(s.latency_us),
                   share});
  }
  std::fputs(table.render().c_str(), stdout);
  std::printf("%zu settings swept, %zu on the frontier; last exit alone: accuracy %.4f, %s MACs, %.1f us\n",
              all.size(), frontier.size(), last_exit_accuracy, format_count(net.full_macs()).c_str(), full.latency_us);
  std::printf("chosen thresholds %s: accuracy %.4f (max drop %.4f), %s MACs/sample (%.2fx fewer)\n",
              thresholds_text(chosen.thresholds).c_str(), chosen.accuracy, max_drop,
              format_count(static_cast<int64_t>(chosen.mean_macs)).c_str(), net.full_macs() / chosen.mean_macs);
  std::printf("wrote %s/frontier.csv, %s/frontier.svg, %s/frontier_latency.svg\n", out_dir.c_str(), out_dir.c_str(),
              out_dir.c_str());
  if (!args.given("dry-run")) {
    model.info.thresholds = chosen.thresholds;
    save_model(path, net, model.info);
    std::printf("stored the thresholds in %s\n", path.c_str());
  }
  return 0;
}

}  // namespace branchy
