// calibration.h — choosing BranchyNet's entropy thresholds on the validation split.
//
// From every exit's entropy and answer on each validation sample (ExitOutputs)
// the exit BranchyNet would give a sample under thresholds T follows without
// running the network again. So a sweep over a grid of thresholds per branch
// (all combinations) costs almost nothing, and gives for each setting its
// accuracy, mean MACs per sample and exit shares. The frontier keeps the
// settings no other setting beats on both accuracy and MACs. The rule picks
// the cheapest setting whose accuracy is within max_accuracy_drop of the
// last exit's accuracy.
#pragma once

#include <vector>

#include "nets/branchy_net.h"
#include "nets/router.h"
#include "pipeline/exit_outputs.h"

namespace branchy {

struct ThresholdSetting {
  std::vector<float> thresholds;     // one per branch
  double accuracy = 0;
  double mean_macs = 0;              // per sample, branches tried and failed included
  std::vector<double> exit_share;    // per exit
  double latency_us = 0;             // measured later for frontier points (0 = not measured)
};

// BranchyNet's grid (1e-4 ... 10), used for every branch unless given.
std::vector<float> default_threshold_grid();

// Every combination of grid values (grid^branches settings).
std::vector<ThresholdSetting> sweep_thresholds(const BranchyNet& net, const ExitOutputs& outputs,
                                               const std::vector<float>& grid);

// Settings not dominated by another (higher-or-equal accuracy at lower-or-equal MACs), by MACs ascending.
std::vector<ThresholdSetting> accuracy_cost_frontier(std::vector<ThresholdSetting> settings);

// The cheapest setting with accuracy >= reference_accuracy - max_accuracy_drop.
// Falls back to the most accurate setting when none qualifies.
ThresholdSetting choose_thresholds(const std::vector<ThresholdSetting>& frontier, double reference_accuracy,
                                   double max_accuracy_drop);

// One setting evaluated on recorded outputs: BranchyRule replayed
// (nets/router.h), the same rule and accounting as infer_early_exit.
ThresholdSetting evaluate_thresholds(const BranchyNet& net, const ExitOutputs& outputs,
                                     const std::vector<float>& thresholds);
ThresholdSetting evaluate_thresholds(const BranchyNet& net, const RecordedRun& run, const std::vector<int>& labels,
                                     const std::vector<float>& thresholds);

}  // namespace branchy
