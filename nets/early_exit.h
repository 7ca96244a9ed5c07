// early_exit.h — BranchyNet inference: leave at the first confident exit.
//
// A batch runs S0, then B0; samples whose softmax entropy (natural log) is
// below thresholds[0] leave with B0's answer. The others are gathered into a
// smaller batch that runs S1, B1, and so on; the last exit takes the rest.
// Later stages never see an exited sample. Answers come back in the input's
// order, and batch inference equals sample-by-sample inference.
//
// Accounting per sample: the exit taken, the MACs spent (every stage run and
// every branch tried, failed ones included) and the bytes of trunk activation
// held while a branch ran (h_i must be kept to re-enter the trunk).
#pragma once

#include <vector>

#include "nets/branchy_net.h"

namespace branchy {

struct EarlyExitResult {
  Tensor logits;                        // (N, classes) of the exit each sample took
  std::vector<int> exit;                // (N)
  std::vector<int> prediction;          // (N)
  std::vector<int64_t> macs;            // (N)
  std::vector<int64_t> buffered_bytes;  // (N) largest activation held for re-entry
  std::vector<int64_t> stage_samples;   // (stages) how many samples each stage ran on
};

// thresholds: one per branch (net.num_exits() - 1).
EarlyExitResult infer_early_exit(BranchyNet& net, const Tensor& x, const std::vector<float>& thresholds);

// The exit BranchyNet's rule picks from per-exit entropies (exits, N): the
// first i < K with entropy[i][n] < thresholds[i], else K. The same rule as
// infer_early_exit, without running the network.
std::vector<int> branchy_exits(const std::vector<std::vector<float>>& entropies, const std::vector<float>& thresholds);

// MACs one sample spends to leave at `exit` under BranchyNet's rule: stages
// 0..exit and branches 0..min(exit, K-1).
int64_t branchy_path_macs(const BranchyNet& net, int exit);
// MACs to reach `exit` directly (the oracle/predicted path): stages 0..exit, branch `exit` only.
int64_t direct_path_macs(const BranchyNet& net, int exit);

}  // namespace branchy
