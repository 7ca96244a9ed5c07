// predictor_fit.h — labels, training and the knob choice of a predictor
// (what `branchy fit-predictor` runs).
//
// Labels come from running the trained, calibrated network over a split: per
// sample every exit's entropy and answer (ExitOutputs), and from them
// BranchyNet's exit under the stored thresholds. What each kind learns:
//   exit@input, exit@first  BranchyNet's exit (K+1 classes), every sample
//   exit@each at point i    "BranchyNet exits at i" (2 classes), on the samples
//                           BranchyNet brings to point i (its exit >= i)
//   skip@each at point i    "branch i is confident" (2 classes), every sample
//   entropy@each at point i branch i's entropy (mean squared error), every sample
// Training uses the engine's own layers, Adam and losses, on the features
// the predictor reads, standardised with the training split's statistics.
//
// Cost-sensitive training (settings.cost_weighted, the per-point kinds exit
// and skip): each sample's cross-entropy is weighted by what deciding it
// wrongly costs at point i, in MACs, so the head spends its capacity where
// mistakes are dear:
//   - a sample branch i would answer (label 1), sent on: the MACs of its
//     route past point i (the next stages, and branches, up to the exit
//     BranchyNet's rule then gives it) less branch i's, run for nothing;
//   - a sample branch i would not answer (label 0), sent to branch i: branch
//     i's MACs, wasted, plus, for the exit kind when branch i's answer is
//     wrong, a wrong answer priced at the trunk's MACs (a route that is too
//     early, under trust; skip@each always falls back and never takes it).
// Weights are scaled to mean 1 over the head's samples.
// The knob is then swept on held-out samples by replaying the routing rule
// (nets/router.h) over their recorded outputs and scores; the frontier keeps
// the settings no other beats on both accuracy and MACs, and the choice is the
// cheapest whose accuracy is within max_drop of BranchyNet's on the same samples.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/normalizer.h"
#include "pipeline/exit_outputs.h"
#include "predictors/predictor.h"

namespace branchy {

// One split run once through the network, with the predictor's features.
struct PredictorData {
  ExitOutputs outputs;
  std::vector<Tensor> features;  // (K + 1): [point + 1] is (N, F) at that point; undefined where it reads none
};

PredictorData collect_predictor_data(BranchyNet& net, const Predictor& predictor, const Dataset& data,
                                     const Normalizer* normalizer, int batch,
                                     const std::function<void(int64_t)>& progress = {});

struct FitOptions {
  int epochs = 20;
  int batch = 128;
  float learning_rate = 2e-3f;
  uint64_t seed = 1;
  // progress(point, epoch, loss) after each epoch of each point's head.
  std::function<void(int, int, double)> progress;
};

// Trains every head of the predictor on the labels of `train`.
void train_predictor(Predictor& predictor, const BranchyNet& net, const PredictorData& train,
                     const std::vector<float>& thresholds, const FitOptions& options);

struct KnobSetting {
  double knob = 0;
  RouteSummary summary;
  double agreement = 0;  // share of samples routed to BranchyNet's exit
};

struct KnobChoice {
  RouteSummary branchy;              // BranchyNet on the same samples
  std::vector<KnobSetting> sweep;    // every knob of the grid
  std::vector<KnobSetting> frontier; // MACs ascending, accuracy rising
  KnobSetting chosen;
  // Gates at each point: the knob per point refined from `chosen`, and what
  // it does (empty and equal to chosen when no point gains by its own knob).
  std::vector<double> point_knobs;
  KnobSetting refined;
};

// Sweeps the knob on held-out data for trust or fallback routing and stores
// the chosen knob in the predictor. For a gate at each point it then refines
// a knob per point, by coordinate search over the same grid (each point's
// knob in turn, the others held, two passes), with the same aim: the fewest
// MACs within max_drop of BranchyNet's accuracy, else the most accurate.
// Stores the aim and the held-out accuracy change in the predictor too
// (PredictorSettings::trust_choice / fallback_choice).
KnobChoice choose_knob(Predictor& predictor, BranchyNet& net, const PredictorData& held_out,
                       const std::vector<float>& thresholds, bool trust, double max_drop);

// The same sweep on other samples (the test split), with the knobs as the
// predictor stores them: `chosen` is the one knob's setting there, `refined`
// the knobs per point's (when there are any). Changes nothing: it shows
// whether the choice, and the frontier, carry over from validation.
KnobChoice replay_knob_choice(Predictor& predictor, BranchyNet& net, const PredictorData& samples,
                              const std::vector<float>& thresholds, bool trust);

}  // namespace branchy
