// path_cost.h — what a sample's path through a branchy network costs.
//
// A path is the trunk stages 0..exit plus the branches the sample ran on the
// way. BranchyNet tries every branch it passes (0..min(exit, K-1)); a router
// that knows the exit runs stages 0..exit and branch `exit` only. The cost of
// a piece can be its MACs or its measured microseconds: one function adds up
// either, so MAC accounting, calibration and latency prediction agree.
#pragma once

#include <cstdint>
#include <vector>

#include "nets/branchy_net.h"

namespace branchy {

struct SegmentCosts {
  std::vector<double> stage;   // (stages) per sample, MACs or microseconds
  std::vector<double> branch;  // (stages - 1)
  int last_exit() const { return static_cast<int>(stage.size()) - 1; }
};

// The network's own MACs per sample, piece by piece.
SegmentCosts segment_macs(const BranchyNet& net);

// Which branches a sample ran: bit b set when branch b ran (networks have < 32 branches).
using BranchSet = uint32_t;

// Stages 0..exit plus every branch in `tried`.
double path_cost(const SegmentCosts& costs, int exit, BranchSet tried);
// BranchyNet's path: every branch up to the exit is tried.
double branchy_path_cost(const SegmentCosts& costs, int exit);
// The direct path a known exit allows: branch `exit` only (none for the last exit).
double direct_path_cost(const SegmentCosts& costs, int exit);
// The trunk alone (the "full" policy).
double trunk_cost(const SegmentCosts& costs);
// Mean cost of BranchyNet's paths for samples leaving at exit e with share[e].
double mean_branchy_cost(const SegmentCosts& costs, const std::vector<double>& exit_share);

// The same in integer MACs for one network.
int64_t branchy_path_macs(const BranchyNet& net, int exit);
int64_t direct_path_macs(const BranchyNet& net, int exit);

}  // namespace branchy
