// early_exit.h — BranchyNet inference: leave at the first confident exit.
//
// A batch runs S0, then B0; samples whose softmax entropy (natural log) is
// below thresholds[0] leave with B0's answer. The others are gathered into a
// smaller batch that runs S1, B1, and so on; the last exit takes the rest.
// Later stages never see an exited sample. It is the router (nets/router.h)
// with the rule "try every branch, trust none": batch inference equals
// sample-by-sample inference, and calibration replays the same rule.
//
// Accounting per sample: the exit taken, the MACs spent (every stage run and
// every branch tried, failed ones included) and the bytes of trunk activation
// held while a branch ran (h_i must be kept to re-enter the trunk).
#pragma once

#include <vector>

#include "nets/router.h"

namespace branchy {

// BranchyNet's rule: try every branch; leave when its entropy is below the threshold.
class BranchyRule : public RouteRule {
 public:
  // thresholds: one per branch of `net`.
  BranchyRule(const BranchyNet& net, std::vector<float> thresholds);
  bool tries(int, const float*, SampleRoute&) const override { return true; }
  bool trusts(int, const SampleRoute&) const override { return false; }
  float threshold(int i) const override { return thresholds_[i]; }

 private:
  std::vector<float> thresholds_;
};

// The plain network: no branch is tried, every sample leaves at the last exit.
class TrunkRule : public RouteRule {
 public:
  bool tries(int, const float*, SampleRoute&) const override { return false; }
  bool trusts(int, const SampleRoute&) const override { return false; }
  float threshold(int) const override { return 0.0f; }
};

RouteResult infer_early_exit(BranchyNet& net, const Tensor& x, const std::vector<float>& thresholds);

}  // namespace branchy
