// policy_comparison.h — the table and plots that compare policies, as
// `branchy eval` prints them.
//
// Against BranchyNet ("branchy"), per policy: the change in accuracy, the
// share of samples routed to BranchyNet's own exit (agreement), and the
// share of the oracle's headroom captured. The headroom is BranchyNet's mean
// MACs minus the oracle's: exactly the branches samples try and fail, the
// most any predictor can save at BranchyNet's accuracy. A policy that costs
// more than BranchyNet captures a negative share.
#pragma once

#include <string>
#include <vector>

#include "pipeline/policy_eval.h"

namespace branchy {

struct PolicyComparison {
  const PolicyReport* report = nullptr;
  double accuracy_change = 0;   // against branchy (0 when there is none)
  double agreement = 0;         // share of samples at branchy's exit (0 when there is none)
  double headroom_captured = 0; // (branchy MACs - policy MACs) / headroom; 0 without an oracle
  // A predictor policy that loses more than the max_drop its knob was chosen
  // for (on held-out validation samples) against branchy on these samples.
  bool misses_max_drop = false;
};

struct Comparison {
  std::vector<PolicyComparison> policies;  // in the reports' order
  bool has_branchy = false, has_oracle = false;
  double headroom_macs = 0;                // branchy - oracle mean MACs
  double headroom_share = 0;               // of branchy's mean MACs
};

Comparison compare_policies(const std::vector<PolicyReport>& reports);

// The comparison as a text table (one row per policy); a "!" after the
// change against branchy marks a policy that misses its max_drop.
std::string comparison_table(const Comparison& comparison, int throughput_batch);
// Every policy's accuracy against measured latency (batch 1) and against mean MACs.
void write_comparison_plots(const Comparison& comparison, const std::string& title, const std::string& latency_svg,
                            const std::string& macs_svg);

}  // namespace branchy
