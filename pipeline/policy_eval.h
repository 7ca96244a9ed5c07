// policy_eval.h — measuring policies (predictors/policy.h) on a dataset.
//
// evaluate_policies() measures each policy on the same samples:
//   accuracy overall and per exit, share of samples per exit,
//   mean MACs per sample (from the router's own accounting, predictors included),
//   measured latency per sample at batch 1 (mean and p99, microseconds),
//   throughput at a larger batch (samples per second),
//   mean and peak bytes of trunk activation buffered for re-entry,
//   and, when the segments were timed, the latency the stages and branches
//   each sample ran predict (their times added along its path).
// Inputs are normalised before timing starts, so times are the network's.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/normalizer.h"
#include "engine/communicator.h"
#include "formats/json.h"
#include "pipeline/segment_timing.h"
#include "predictors/policy.h"

namespace branchy {

struct EvalOptions {
  int throughput_batch = 64;
  int64_t latency_samples = 0;  // batch-1 timings over the first N samples (0: all)
  int repeats = 1;              // timing rounds; per policy the fastest pass counts
  // When set, each round also times this network's stages and branches
  // alone, and every policy gets the latency its paths predict.
  BranchyNet* segments_of = nullptr;
  // The ranks that share the untimed pass (nullptr: this process alone).
  Communicator* group = nullptr;
};

// The route's figures (accuracy, exits, MACs, bytes buffered) and the timings.
struct PolicyReport : RouteSummary {
  std::string name;
  double latency_us = 0, latency_p99_us = 0;  // batch 1
  double last_exit_latency_p99_us = 0;        // batch 1, the samples sent to the last exit (0: none timed)
  double throughput = 0;                      // samples per second at throughput_batch
  double predicted_latency_us = 0;            // from segment times; 0 when not measured
  std::vector<int> exits, predictions;        // per sample, for agreement measures
  std::vector<BranchSet> tried;               // per sample
  std::optional<KnobChoiceNote> knob_choice;  // the policy's, when a predictor's

  Json to_json() const;
};

// Timing passes alternate between the policies round by round
// (options.repeats rounds), so that their ratios are measured under the same
// machine conditions.
//
// With a group of several ranks (mpirun), the untimed pass is split: each
// rank routes its run of whole batches, and the per-sample routes are
// gathered on every rank, so accuracy, exit shares, MACs, agreement and
// headroom are exactly those of one process. Timing is rank 0's alone, over
// the same samples as on one process: latency is a property of one process,
// and ranks sharing a node would slow each other's. The other ranks' reports
// have no timings.
std::vector<PolicyReport> evaluate_policies(const std::vector<Policy>& policies, int num_exits, const Dataset& data,
                                            const Normalizer* normalizer, const EvalOptions& options,
                                            const std::function<void(const std::string&)>& status = {});

// Fraction of samples on which two policies chose the same exit.
double exit_agreement(const PolicyReport& a, const PolicyReport& b);

}  // namespace branchy
