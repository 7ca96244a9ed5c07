#include "pipeline/policy_eval.h"

#include <algorithm>

#include "datasets/batcher.h"
#include "engine/error.h"
#include "pipeline/data_parallel.h"
#include "report/timer.h"

namespace branchy {

Json PolicyReport::to_json() const {
  Json j = Json::object();
  j["samples"] = samples;
  j["accuracy"] = accuracy;
  j["exit_share"] = exit_share;
  j["exit_accuracy"] = exit_accuracy;
  j["macs"] = mean_macs;
  j["latency_us"] = latency_us;
  j["latency_p99_us"] = latency_p99_us;
  j["last_exit_latency_p99_us"] = last_exit_latency_p99_us;
  j["throughput"] = throughput;
  if (predicted_latency_us > 0) j["predicted_latency_us"] = predicted_latency_us;
  j["mean_buffered_bytes"] = mean_buffered_bytes;
  j["peak_buffered_bytes"] = peak_buffered_bytes;
  return j;
}

namespace {

// Every rank's per-sample routes of `mine` (samples of `total`) on every
// rank, in sample order: each rank fills its part of zeroed arrays and the
// arrays are summed (integers: exact).
RouteResult gather_routes(const RouteResult& part, SampleRange mine, int64_t total, Communicator& group) {
  const size_t n = static_cast<size_t>(total);
  enum { exit_field, prediction_field, macs_field, bytes_field, tried_field, fields };
  std::vector<int64_t> all(fields * n, 0);  // (fields, total)
  for (int64_t i = 0; i < mine.size(); ++i) {
    const size_t at = static_cast<size_t>(mine.begin + i);
    all[exit_field * n + at] = part.exit[i];
    all[prediction_field * n + at] = part.prediction[i];
    all[macs_field * n + at] = part.macs[i];
    all[bytes_field * n + at] = part.buffered_bytes[i];
    all[tried_field * n + at] = part.tried[i];
  }
  group.sum(all.data(), static_cast<int64_t>(all.size()));
  RouteResult gathered;
  gathered.exit.assign(all.begin() + exit_field * n, all.begin() + (exit_field + 1) * n);
  gathered.prediction.assign(all.begin() + prediction_field * n, all.begin() + (prediction_field + 1) * n);
  gathered.macs.assign(all.begin() + macs_field * n, all.begin() + (macs_field + 1) * n);
  gathered.buffered_bytes.assign(all.begin() + bytes_field * n, all.begin() + (bytes_field + 1) * n);
  gathered.tried.assign(all.begin() + tried_field * n, all.begin() + (tried_field + 1) * n);
  return gathered;
}

// The untimed batched pass: every sample's route, and from them the figures.
// It also warms caches and buffers for timing. Each rank of the group routes
// its run of whole batches; the routes are gathered.
PolicyReport answer_all(const Policy& policy, int num_exits, const Dataset& data, const Tensor& images, int batch,
                        Communicator& group) {
  const SampleRange mine = part_of_batches(data.size(), batch, group.rank(), group.size());
  RouteResult all;
  for (int64_t begin = mine.begin; begin < mine.end; begin += batch) {
    const int64_t end = std::min<int64_t>(mine.end, begin + batch);
    const RouteResult r = policy.run(images.batch_slice(begin, end), begin, false);
    const size_t n = static_cast<size_t>(end - begin);
    BRANCHY_CHECK(r.exit.size() == n && r.prediction.size() == n && r.macs.size() == n &&
                      r.buffered_bytes.size() == n && r.tried.size() == n,
                  policy.name, " answered ", r.exit.size(), " samples of a batch of ", n);
    all.exit.insert(all.exit.end(), r.exit.begin(), r.exit.end());
    all.prediction.insert(all.prediction.end(), r.prediction.begin(), r.prediction.end());
    all.macs.insert(all.macs.end(), r.macs.begin(), r.macs.end());
    all.buffered_bytes.insert(all.buffered_bytes.end(), r.buffered_bytes.begin(), r.buffered_bytes.end());
    all.tried.insert(all.tried.end(), r.tried.begin(), r.tried.end());
  }
  if (group.size() > 1) all = gather_routes(all, mine, data.size(), group);
  PolicyReport report;
  static_cast<RouteSummary&>(report) = summarize_route(all, data.labels, num_exits);
  report.name = policy.name;
  report.knob_choice = policy.knob_choice;
  report.exits = std::move(all.exit);
  report.predictions = std::move(all.prediction);
  report.tried = std::move(all.tried);
  return report;
}

// Seconds for one batched pass over all images.
double time_batched_pass(const Policy& policy, const Tensor& images, int batch) {
  const int64_t N = images.dim(0);
  const Timer timer;
  for (int64_t begin = 0; begin < N; begin += batch)
    policy.run(images.batch_slice(begin, std::min<int64_t>(N, begin + batch)), begin, false);
  return timer.seconds();
}

// Each of the first `count` samples, run one at a time.
// Batch-1 times of the first `count` samples; `last_exit` keeps those of
// the samples the policy sends to the last exit (exits[i] == last): the
// hard samples, whose delay the thesis's predictors should shorten.
struct SingleSampleTimes {
  LatencyStats all, last_exit;
};

SingleSampleTimes time_single_samples(const Policy& policy, const Tensor& images, int64_t count,
                                      const std::vector<int>& exits, int last) {
  SingleSampleTimes stats;
  stats.all.reserve(count);
  for (int64_t i = 0; i < count; ++i) {
    const Tensor one = images.batch_slice(i, i + 1);
    const Timer timer;
    policy.run(one, i, false);
    const double seconds = timer.seconds();
    stats.all.add(seconds);
    if (exits[i] == last) stats.last_exit.add(seconds);
  }
  return stats;
}

// The fastest of each segment over two timings (microseconds).
void keep_faster_segments(SegmentCosts& best, const SegmentCosts& times) {
  if (best.stage.empty()) {
    best = times;
    return;
  }
  for (size_t s = 0; s < times.stage.size(); ++s) best.stage[s] = std::min(best.stage[s], times.stage[s]);
  for (size_t b = 0; b < times.branch.size(); ++b) best.branch[b] = std::min(best.branch[b], times.branch[b]);
}

// The latency the segments predict: each sample's path, added up, averaged.
double predicted_latency_us(const SegmentCosts& segment_us, const PolicyReport& report) {
  double total = 0.0;
  for (size_t n = 0; n < report.exits.size(); ++n) total += path_cost(segment_us, report.exits[n], report.tried[n]);
  return report.exits.empty() ? 0.0 : total / static_cast<double>(report.exits.size());
}

std::string round_text(int round, int rounds) { return std::to_string(round + 1) + "/" + std::to_string(rounds); }

}  // namespace

std::vector<PolicyReport> evaluate_policies(const std::vector<Policy>& policies, int num_exits, const Dataset& data,
                                            const Normalizer* normalizer, const EvalOptions& options,
                                            const std::function<void(const std::string&)>& status) {
  BRANCHY_CHECK(data.size() > 0, "evaluating policies on an empty dataset");
  const Tensor images = normalized_images(data, 0, data.size(), normalizer);  // (N, C, H, W)
  const int batch = std::max(1, options.throughput_batch);
  const int64_t timed = options.latency_samples > 0 ? std::min(options.latency_samples, data.size()) : data.size();
  Communicator& group = options.group ? *options.group : single_process();

  std::vector<PolicyReport> reports;
  for (const Policy& policy : policies) {
    if (status) status(policy.name + ": answers");
    if (policy.prepare) policy.prepare(images);
    reports.push_back(answer_all(policy, num_exits, data, images, batch, group));
    if (!group.is_root()) continue;  // timing is rank 0's alone
    for (int64_t i = 0; i < std::min<int64_t>(timed, 20); ++i) policy.run(images.batch_slice(i, i + 1), i, false);
  }
  if (!group.is_root()) return reports;

  // Timing rounds go through the policies in turn, so that a machine that
  // speeds up or slows down during the run (turbo, a neighbour's load) shifts
  // every policy alike and their ratios stay fair. Per policy the fastest
  // whole pass counts: a per-sample minimum over passes would describe a pass
  // that never happened.
  std::vector<double> best_batched(policies.size(), 1e300);
  std::vector<SingleSampleTimes> best_single(policies.size());
  const int rounds = std::max(1, options.repeats);
  SegmentCosts segment_us;
  for (int round = 0; round < rounds; ++round) {
    if (options.segments_of) {
      if (status) status("segments alone: timing round " + round_text(round, rounds));
      keep_faster_segments(segment_us, time_segments(*options.segments_of, images, timed, 1));
    }
    for (size_t p = 0; p < policies.size(); ++p) {
      if (status)
        status(policies[p].name + ": timing round " + round_text(round, rounds) + " (batch " + std::to_string(batch) +
               ", then batch 1)");
      best_batched[p] = std::min(best_batched[p], time_batched_pass(policies[p], images, batch));
      SingleSampleTimes single = time_single_samples(policies[p], images, timed, reports[p].exits, num_exits - 1);
      if (best_single[p].all.count() == 0 || single.all.total() < best_single[p].all.total())
        best_single[p] = std::move(single);
    }
  }
  for (size_t p = 0; p < policies.size(); ++p) {
    PolicyReport& report = reports[p];
    report.throughput = data.size() / best_batched[p];
    report.latency_us = best_single[p].all.mean() * 1e6;
    report.latency_p99_us = best_single[p].all.p99() * 1e6;
    if (best_single[p].last_exit.count() > 0) report.last_exit_latency_p99_us = best_single[p].last_exit.p99() * 1e6;
    if (options.segments_of) report.predicted_latency_us = predicted_latency_us(segment_us, report);
  }
  return reports;
}

double exit_agreement(const PolicyReport& a, const PolicyReport& b) {
  BRANCHY_CHECK(a.exits.size() == b.exits.size(), "comparing ", a.name, " and ", b.name, " on different samples");
  if (a.exits.empty()) return 0.0;
  int64_t same = 0;
  for (size_t i = 0; i < a.exits.size(); ++i) same += a.exits[i] == b.exits[i];
  return static_cast<double>(same) / a.exits.size();
}

}  // namespace branchy
