// policy_eval.h — measuring a way of running a branchy network (a policy).
//
// A policy maps a batch of images to each sample's exit, answer and cost
// (EarlyExitResult). "full" always runs the trunk to the last exit;
// "branchy" is BranchyNet's entropy rule; predictors (predictors/) add more.
// evaluate_policy() measures one policy on a dataset:
//   accuracy overall and per exit, share of samples per exit,
//   mean MACs per sample (from the policy's own accounting),
//   measured latency per sample at batch 1 (mean and p99, microseconds),
//   throughput at a larger batch (samples per second),
//   mean and peak bytes of trunk activation buffered for re-entry.
// Inputs are normalised before timing starts, so times are the network's.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/normalizer.h"
#include "formats/json.h"
#include "nets/early_exit.h"
#include "pipeline/segment_timing.h"

namespace branchy {

struct Policy {
  std::string name;
  std::function<EarlyExitResult(const Tensor& images)> run;  // images (N, C, H, W)
  // Optional: the batch-1 latency (us) that the segments' own times predict
  // for this policy, given its measured exit shares (pipeline/segment_timing.h).
  std::function<double(const SegmentTimes& times, const std::vector<double>& exit_share)> predict_latency_us;
};

Policy full_policy(BranchyNet& net);
Policy branchy_policy(BranchyNet& net, std::vector<float> thresholds);

struct EvalOptions {
  int throughput_batch = 64;
  int64_t latency_samples = 0;  // batch-1 timings over the first N samples (0: all)
  int repeats = 1;              // timing rounds; per policy the fastest pass counts
  // When set, each round also times this network's stages and branches
  // alone, and policies with predict_latency_us get a predicted latency.
  BranchyNet* segments_of = nullptr;
};

struct PolicyReport {
  std::string name;
  int64_t samples = 0;
  double accuracy = 0;
  std::vector<double> exit_share, exit_accuracy;  // per exit
  double mean_macs = 0;
  double latency_us = 0, latency_p99_us = 0;  // batch 1
  double throughput = 0;                      // samples per second at throughput_batch
  double predicted_latency_us = 0;            // from segment times; 0 when not measured
  double mean_buffered_bytes = 0, peak_buffered_bytes = 0;
  std::vector<int> exits, predictions;        // per sample, for agreement measures

  Json to_json() const;
};

// Measures several policies on the same samples. Timing passes alternate
// between the policies round by round (options.repeats rounds), so that their
// ratios are measured under the same machine conditions.
std::vector<PolicyReport> evaluate_policies(const std::vector<Policy>& policies, int num_exits, const Dataset& data,
                                            const Normalizer* normalizer, const EvalOptions& options,
                                            const std::function<void(const std::string&)>& status = {});
PolicyReport evaluate_policy(const Policy& policy, int num_exits, const Dataset& data, const Normalizer* normalizer,
                             const EvalOptions& options, const std::function<void(const std::string&)>& status = {});

// Fraction of samples on which two policies chose the same exit.
double exit_agreement(const PolicyReport& a, const PolicyReport& b);

}  // namespace branchy
