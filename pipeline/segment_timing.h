// segment_timing.h — what each piece of a branchy network costs on its own,
// measured, and the latency those costs predict for a policy.
//
// MACs predict a speed-up only as well as every layer runs at the same
// multiply-adds per second. Small layers do not: pooling, ReLU and im2col are
// not multiply-adds, and a 5-channel convolution runs far below a 20-channel
// one. Timing each stage and branch alone at batch 1 gives a second
// prediction that includes all that; the difference between it and the
// measured early-exit latency is the cost of the early-exit machinery itself
// (entropy, the exit decision, gathering the remaining samples).
#pragma once

#include <vector>

#include "nets/branchy_net.h"
#include "nets/path_cost.h"

namespace branchy {

// Runs the first `samples` images of `images` (N, C, H, W), already
// normalised, one at a time through every stage and branch (Mode::eval),
// timing each segment. `rounds` passes; per segment the fastest pass counts.
// The result is in microseconds per sample; nets/path_cost.h adds it up
// along any path (BranchyNet's, the trunk's, a routed one).
SegmentCosts time_segments(BranchyNet& net, const Tensor& images, int64_t samples, int rounds);

// Mean microseconds of one forward (Mode::eval, batch 1) of every top-level
// layer, in the order of BranchyNet::report(): stage 0's layers, branch 0's,
// stage 1's, ... Each layer is timed `calls` times on its real input, which
// flows from `image` (1, C, H, W) through the layers before it.
std::vector<double> time_layers(BranchyNet& net, const Tensor& image, int calls);

}  // namespace branchy
