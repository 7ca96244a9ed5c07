// exit_outputs.h — every exit's answer for every sample of a dataset.
//
// Runs the whole network (all exits) in eval mode over a dataset and keeps,
// per exit and sample, the predicted class and the softmax entropy (natural
// log). This is the raw material for evaluation, threshold calibration and
// predictor labels: BranchyNet's exit for any thresholds follows from it
// without running the network again.
#pragma once

#include <functional>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/normalizer.h"
#include "engine/communicator.h"
#include "nets/branchy_net.h"
#include "nets/router.h"

namespace branchy {

struct ExitOutputs {
  std::vector<int> labels;                      // (samples)
  std::vector<std::vector<int>> predictions;    // (exits, samples)
  std::vector<std::vector<float>> entropies;    // (exits, samples)
  std::vector<double> loss_sums;                // (exits) summed cross-entropy

  int num_exits() const { return static_cast<int>(predictions.size()); }
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  double accuracy(int exit) const;
  double mean_loss(int exit) const { return size() ? loss_sums[exit] / size() : 0.0; }
};

// The outputs as a router replays them (no predictor scores at any point).
RecordedRun recorded_run(const ExitOutputs& outputs);

// progress(done_samples) is called after each batch when given.
ExitOutputs run_all_exits(BranchyNet& net, const Dataset& data, const Normalizer* normalizer, int batch_size,
                          const std::function<void(int64_t)>& progress = {});

// Each exit's right answers and summed cross-entropy over a dataset: what
// validation needs, without the per-sample outputs. The samples are split
// over the ranks of `group` (contiguous parts) and the sums summed, so every
// rank gets the figures of the whole dataset. Ranks take whole batches, so
// every batch is the one a single process runs: the counts, and so the
// accuracies, are exactly those of one process (the loss sums may differ in
// the last bits: they are added in another order).
struct ExitScores {
  int64_t samples = 0;
  std::vector<int64_t> correct;  // (exits)
  std::vector<double> loss_sums; // (exits)

  double accuracy(int exit) const { return samples ? static_cast<double>(correct[exit]) / samples : 0.0; }
  double mean_loss(int exit) const { return samples ? loss_sums[exit] / samples : 0.0; }
};

ExitScores score_exits(BranchyNet& net, const Dataset& data, const Normalizer* normalizer, int batch_size,
                       Communicator& group);

}  // namespace branchy
