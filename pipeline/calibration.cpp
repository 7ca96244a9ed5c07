#include "pipeline/calibration.h"

#include <algorithm>

#include "engine/error.h"
#include "nets/early_exit.h"

namespace branchy {

std::vector<float> default_threshold_grid() {
  return {1e-4f, 1e-3f, 1e-2f, 0.025f, 0.05f, 0.075f, 0.1f, 0.15f, 0.2f, 0.25f, 0.3f, 0.4f, 0.5f,
          0.6f,  0.7f,  0.75f, 0.8f,   0.9f,  1.0f,   1.25f, 1.5f, 2.0f,  5.0f, 10.0f};
}

ThresholdSetting evaluate_thresholds(const BranchyNet& net, const ExitOutputs& outputs,
                                     const std::vector<float>& thresholds) {
  const int exits = outputs.num_exits();
  BRANCHY_CHECK(exits == net.num_exits(), "exit outputs of ", exits, " exits for a net with ", net.num_exits());
  BRANCHY_CHECK(static_cast<int>(thresholds.size()) == exits - 1, net.name(), " has ", exits - 1, " branches but ",
                thresholds.size(), " thresholds were given");
  std::vector<int64_t> path_macs(exits);
  for (int e = 0; e < exits; ++e) path_macs[e] = branchy_path_macs(net, e);
  ThresholdSetting s;
  s.thresholds = thresholds;
  s.exit_share.assign(exits, 0.0);
  const int64_t N = outputs.size();
  int64_t correct = 0;
  double macs = 0;
  for (int64_t n = 0; n < N; ++n) {
    int exit = exits - 1;
    for (int i = 0; i + 1 < exits; ++i)
      if (outputs.entropies[i][n] < thresholds[i]) {
        exit = i;
        break;
      }
    correct += outputs.predictions[exit][n] == outputs.labels[n];
    macs += static_cast<double>(path_macs[exit]);
    s.exit_share[exit] += 1.0;
  }
  if (N > 0) {
    s.accuracy = static_cast<double>(correct) / N;
    s.mean_macs = macs / N;
    for (double& share : s.exit_share) share /= N;
  }
  return s;
}

std::vector<ThresholdSetting> sweep_thresholds(const BranchyNet& net, const ExitOutputs& outputs,
                                               const std::vector<float>& grid) {
  const int branches = net.num_exits() - 1;
  BRANCHY_CHECK(!grid.empty(), "an empty threshold grid");
  std::vector<ThresholdSetting> settings;
  std::vector<size_t> index(branches, 0);  // an odometer over the grid
  while (true) {
    std::vector<float> thresholds(branches);
    for (int b = 0; b < branches; ++b) thresholds[b] = grid[index[b]];
    settings.push_back(evaluate_thresholds(net, outputs, thresholds));
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
