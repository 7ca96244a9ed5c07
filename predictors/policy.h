// policy.h — a way of running a branchy network, as `branchy eval` compares them.
//
// A policy is a name and a function from a batch of images to each sample's
// route (exit, answer, MACs, bytes buffered). Every policy here is the router
// (nets/router.h) with one rule:
//   full     the trunk alone: no branch is tried (TrunkRule)
//   branchy  BranchyNet: try every branch, leave when confident (BranchyRule)
//   oracle   BranchyNet's own exit, known for free: the direct path to it
//            and nothing else. No predictor can do better at equal accuracy,
//            so it bounds them all (the headroom).
// and the thesis's predictor policies (predictors/predictor_rules.h):
//   entropy-pred, exit-pred@input, exit-pred@first, exit-pred@each, skip-pred
// each with ":trust" or ":fallback" where the kind has the choice.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nets/early_exit.h"
#include "nets/router.h"
#include "predictors/predictor.h"

namespace branchy {

struct Policy {
  std::string name;
  // images (N, C, H, W), normalised; `first` is the index of images[0] in the
  // evaluated set (the oracle looks its plans up by it).
  std::function<RouteResult(const Tensor& images, int64_t first, bool with_trace)> run;
  // Untimed work on the whole evaluated set before any run (may be empty).
  std::function<void(const Tensor& all_images)> prepare;
  // A predictor policy: what its knob was chosen for (unset otherwise).
  std::optional<KnobChoiceNote> knob_choice;
};

// A policy that routes every batch with `rule`.
Policy routed_policy(std::string name, BranchyNet& net, std::shared_ptr<RouteRule> rule);

Policy full_policy(BranchyNet& net);
Policy branchy_policy(BranchyNet& net, std::vector<float> thresholds);
Policy oracle_policy(BranchyNet& net, std::vector<float> thresholds);

// "entropy-pred", "exit-pred@first", "skip-pred", ...: the policy name of a predictor.
std::string predictor_policy_name(const PredictorSettings& settings);
Policy predictor_policy(BranchyNet& net, Predictor& predictor, std::vector<float> thresholds, bool trust);

// The policies named (full, branchy, oracle, a predictor policy name with an
// optional ":trust" or ":fallback" suffix, or "all": every policy the model
// offers). A predictor policy without a suffix is its trust variant.
// Throws Error naming an unknown policy and listing the known ones.
std::vector<Policy> policies_by_name(const std::vector<std::string>& names, BranchyNet& net,
                                     const std::vector<float>& thresholds, const std::vector<Predictor*>& predictors);

// A rule that follows a planned exit: the sample runs the trunk to its planned
// exit and tries that branch only. `trust`: it answers there whatever the
// entropy. Otherwise (fallback) it leaves only when the branch is confident,
// and a sample whose planned branch was not confident goes on down the trunk
// trying every later branch as BranchyNet would.
class PlannedExitRule : public RouteRule {
 public:
  PlannedExitRule(std::vector<float> thresholds, bool trust) : thresholds_(std::move(thresholds)), trust_(trust) {}
  bool tries(int i, const float* score, SampleRoute& sample) const override;
  bool trusts(int i, const SampleRoute& sample) const override { return trust_ && sample.planned_exit == i; }
  float threshold(int i) const override { return thresholds_[i]; }

 protected:
  // For rules that plan at branch point 0 from its scores (placement "first"):
  // return the planned exit; the default plans nothing there.
  virtual int plan_at_first_point(const float* /*score*/) const { return -1; }

 private:
  std::vector<float> thresholds_;
  bool trust_;
};

}  // namespace branchy
