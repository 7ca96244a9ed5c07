#include "pipeline/calibration.h"

#include <algorithm>

#include "engine/error.h"
#include "nets/early_exit.h"

namespace branchy {

std::vector<float> default_threshold_grid() {
  return {1e-4f, 1e-3f, 1e-2f, 0.025f, 0.05f, 0.075f, 0.1f, 0.15f, 0.2f, 0.25f, 0.3f, 0.4f, 0.5f,
          0.6f,  0.7f,  0.75f, 0.8f,   0.9f,  1.0f,   1.25f, 1.5f, 2.0f,  5.0f, 10.0f};
}

ThresholdSetting evaluate_thresholds(const BranchyNet& net, const RecordedRun& run, const std::vector<int>& labels,
                                     const std::vector<float>& thresholds) {
  const BranchyRule rule(net, thresholds);
  const RouteSummary summary = summarize_route(replay_route(net, run, rule), labels, net.num_exits());
  ThresholdSetting s;
  s.thresholds = thresholds;
  s.accuracy = summary.accuracy;
  s.mean_macs = summary.mean_macs;
  s.exit_share = summary.exit_share;
  return s;
}

ThresholdSetting evaluate_thresholds(const BranchyNet& net, const ExitOutputs& outputs,
                                     const std::vector<float>& thresholds) {
  return evaluate_thresholds(net, recorded_run(outputs), outputs.labels, thresholds);
}

std::vector<ThresholdSetting> sweep_thresholds(const BranchyNet& net, const ExitOutputs& outputs,
                                               const std::vector<float>& grid) {
  const int branches = net.num_exits() - 1;
  BRANCHY_CHECK(!grid.empty(), "an empty threshold grid");
  const RecordedRun run = recorded_run(outputs);
  std::vector<ThresholdSetting> settings;
  std::vector<size_t> index(branches, 0);  // an odometer over the grid
  while (true) {
    std::vector<float> thresholds(branches);
    for (int b = 0; b < branches; ++b) thresholds[b] = grid[index[b]];
    settings.push_back(evaluate_thresholds(net, run, outputs.labels, thresholds));
    int b = 0;
    while (b < branches && ++index[b] == grid.size()) index[b++] = 0;
    if (b == branches) break;
  }
  return settings;
}

std::vector<ThresholdSetting> accuracy_cost_frontier(std::vector<ThresholdSetting> settings) {
  std::sort(settings.begin(), settings.end(), [](const ThresholdSetting& a, const ThresholdSetting& b) {
    return a.mean_macs != b.mean_macs ? a.mean_macs < b.mean_macs : a.accuracy > b.accuracy;
  });
  std::vector<ThresholdSetting> frontier;
  double best_accuracy = -1.0;
  for (ThresholdSetting& s : settings)
    if (s.accuracy > best_accuracy) {
      best_accuracy = s.accuracy;
      frontier.push_back(std::move(s));
    }
  return frontier;
}

ThresholdSetting choose_thresholds(const std::vector<ThresholdSetting>& frontier, double reference_accuracy,
                                   double max_accuracy_drop) {
  BRANCHY_CHECK(!frontier.empty(), "no threshold settings to choose from");
  for (const ThresholdSetting& s : frontier)  // MACs ascending
    if (s.accuracy >= reference_accuracy - max_accuracy_drop) return s;
  return frontier.back();
}

}  // namespace branchy
