// router.h — runs each sample of a batch down its own path through a branchy network.
//
// BranchyNet's early exit is one routing rule among several. At each branch
// point i (after stage i, where h_i is ready) the rule decides, per sample
// still in the trunk, whether to try branch i. A sample that tried branch i
// leaves there when the rule trusts the branch, or when the branch's softmax
// entropy is below threshold i (exits_here); otherwise it goes on down the
// trunk, and h_i had to be held while the branch ran. A rule may run a
// predictor on the input (point -1) or on h_i (point i); its outputs, the
// "scores", feed its decisions, and its MACs are charged to every sample it
// ran on.
//
//   x -> [scores@input] -> S0 -> h0 -> [scores@0] -> try B0? -> leave? -> S1 -> ...
//
// route_batch() runs the network: samples that go on are gathered into a
// smaller batch, answers are scattered back in input order, so routing a
// batch equals routing its samples one at a time. Stages after a sample's
// exit and branches it does not try are never run for it.
// replay_route() applies the same rule to recorded per-sample outputs (every
// exit's entropy and answer, every point's scores) without running the
// network: threshold calibration and predictor knob sweeps use it, and a test
// checks it against route_batch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nets/branchy_net.h"
#include "nets/path_cost.h"

namespace branchy {

// The one exit rule: a branch whose softmax entropy (nats) is below its
// threshold answers. A NaN entropy never passes.
inline bool exits_here(float entropy, float threshold) { return entropy < threshold; }

// What a rule remembers about one sample between its decisions.
struct SampleRoute {
  int planned_exit = -1;  // set by a rule that plans the whole path (-1: no plan)
};

class RouteRule {
 public:
  virtual ~RouteRule() = default;
  // Width of the scores a predictor gives at `point` (-1: the input; i: branch point i); 0: none there.
  virtual int score_width(int /*point*/) const { return 0; }
  // Scores (n, score_width(point)) of a batch of activations at `point` (n, C, H, W).
  virtual Tensor scores(int /*point*/, const Tensor& /*activation*/) { return {}; }
  // MACs one sample's scores at `point` cost (features and predictor).
  virtual int64_t score_macs(int /*point*/) const { return 0; }
  // Before stage 0. input_score: the sample's scores at the input, null when none.
  virtual void start(const float* /*input_score*/, SampleRoute& /*sample*/) const {}
  // At branch point i: does the sample try branch i? score: its scores at i, null when none.
  virtual bool tries(int i, const float* score, SampleRoute& sample) const = 0;
  // Having tried branch i: does the sample leave whatever the entropy (so h_i need not be held)?
  virtual bool trusts(int i, const SampleRoute& sample) const = 0;
  // Branch i's entropy threshold, for samples the rule does not trust.
  virtual float threshold(int i) const = 0;
};

// Per sample of one routed sample: the path it took and what was computed on it.
struct RouteTrace {
  std::vector<std::vector<float>> scores;  // (K + 1): [0] at the input, [i + 1] at point i; empty where none ran
  std::vector<float> entropy;              // (K) entropy of each branch tried, NaN where not tried
};

struct RouteResult {
  Tensor logits;                        // (N, classes) of the exit each sample took (route_batch only)
  std::vector<int> exit;                // (N)
  std::vector<int> prediction;          // (N)
  std::vector<int64_t> macs;            // (N) stages, branches and predictors run
  std::vector<BranchSet> tried;         // (N) the branches each sample ran
  std::vector<int64_t> buffered_bytes;  // (N) largest trunk activation held for re-entry
  std::vector<int64_t> stage_samples;   // (stages) how many samples each stage ran on
  std::vector<int64_t> branch_samples;  // (stages - 1) how many samples each branch ran on
  std::vector<RouteTrace> trace;        // (N) when asked for, else empty
};

// x: (N, C, H, W), already normalised.
RouteResult route_batch(BranchyNet& net, const Tensor& x, RouteRule& rule, bool with_trace = false);

// What replay_route reads: every exit's entropy and answer per sample, and the
// rule's scores at each point (K + 1 tensors: the input, then points 0..K-1;
// an undefined tensor where the rule has no predictor, else (N, width)).
struct RecordedRun {
  std::vector<std::vector<float>> entropies;  // (exits, N)
  std::vector<std::vector<int>> predictions;  // (exits, N)
  std::vector<Tensor> scores;                 // (K + 1)
  int64_t size() const { return entropies.empty() ? 0 : static_cast<int64_t>(entropies[0].size()); }
};

// The route each sample would take, its answer and its costs, as route_batch
// would give them (no logits; stage and branch sample counts filled).
RouteResult replay_route(const BranchyNet& net, const RecordedRun& run, const RouteRule& rule);

}  // namespace branchy

namespace branchy {

// The figures a route gives on labelled samples; calibration, predictor
// fitting and policy evaluation all count them here.
struct RouteSummary {
  int64_t samples = 0;
  double accuracy = 0;
  std::vector<double> exit_share, exit_accuracy;  // (exits)
  double mean_macs = 0;
  double mean_buffered_bytes = 0, peak_buffered_bytes = 0;
};

// labels: (N), the route's samples in order; num_exits: the network's.
RouteSummary summarize_route(const RouteResult& route, const std::vector<int>& labels, int num_exits);

}  // namespace branchy
