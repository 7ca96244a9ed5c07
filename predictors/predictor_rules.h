// predictor_rules.h — routing rules (nets/router.h) driven by a predictor.
//
// Each kind of predictor decides with one knob, the setting that trades
// accuracy for cost (fit-predictor sweeps it and stores the chosen value):
//   exit@input, exit@first  plan the exit: the earliest exit e whose predicted
//                           probability of "BranchyNet exits at e or before"
//                           reaches the knob q. A larger q plans later exits.
//   exit@each, skip@each    at point i, try branch i when the predicted
//                           probability of "exit here" / "branch confident"
//                           reaches q. A larger q tries fewer branches.
//   entropy@each            try branch i when the predicted entropy is below
//                           knob x T_i. A smaller knob tries fewer branches.
// `trust`: a sample that tries the branch a predictor chose answers there
// whatever the branch's entropy, and nothing is buffered for re-entry.
// `fallback`: it answers only when the branch is confident (BranchyNet's
// exit rule), else it goes on down the trunk. skip@each always falls back:
// it only decides which branches are worth trying.
#pragma once

#include <memory>
#include <vector>

#include "nets/router.h"
#include "predictors/predictor.h"

namespace branchy {

// The rule of `predictor` at `knob`, with BranchyNet's thresholds.
std::shared_ptr<RouteRule> predictor_rule(Predictor& predictor, std::vector<float> thresholds, bool trust,
                                          double knob);
// A gate predictor (placement each) with a knob per branch point 0..K-1.
std::shared_ptr<RouteRule> predictor_rule(Predictor& predictor, std::vector<float> thresholds, bool trust,
                                          std::vector<double> point_knobs);
// The same at the knob(s) the predictor stores for that routing.
std::shared_ptr<RouteRule> predictor_rule(Predictor& predictor, std::vector<float> thresholds, bool trust);

// The knob values fit-predictor sweeps for this kind.
std::vector<double> knob_grid(const PredictorSettings& settings);

// Whether a policy of this predictor has a trust/fallback choice (skip@each has not).
bool has_trust_choice(const PredictorSettings& settings);

// The planned exit from probabilities p (K+1) of each exit: the earliest e
// with p_0 + ... + p_e >= q (the last exit when rounding leaves it short).
int planned_exit(const float* probabilities, int exits, double q);

}  // namespace branchy
