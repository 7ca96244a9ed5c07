#include "pipeline/policy_eval.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "datasets/batcher.h"
#include "engine/error.h"

namespace branchy {

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

Policy full_policy(BranchyNet& net) {
  Policy policy;
  policy.name = "full";
  policy.predict_latency_us = [](const SegmentTimes& times, const std::vector<double>&) { return trunk_us(times); };
  policy.run = [&net](const Tensor& images) {
    EarlyExitResult r;
    const int64_t N = images.dim(0);
    const int K = net.num_exits() - 1;
    r.logits = net.forward_final(images, Mode::eval);
    r.exit.assign(N, K);
    r.macs.assign(N, net.full_macs());
    r.buffered_bytes.assign(N, 0);
    r.stage_samples.assign(net.num_stages(), N);
    r.prediction.resize(N);
    const int64_t classes = r.logits.dim(1);
    for (int64_t n = 0; n < N; ++n) {
      const float* row = r.logits.data() + n * classes;
      r.prediction[n] = static_cast<int>(std::max_element(row, row + classes) - row);
    }
    return r;
  };
  return policy;
}

Policy branchy_policy(BranchyNet& net, std::vector<float> thresholds) {
  Policy policy;
  policy.name = "branchy";
  policy.run = [&net, thresholds](const Tensor& images) { return infer_early_exit(net, images, thresholds); };
  policy.predict_latency_us = predicted_branchy_latency_us;
  return policy;
}

Json PolicyReport::to_json() const {
  Json j = Json::object();
  j["samples"] = samples;
  j["accuracy"] = accuracy;
  j["exit_share"] = exit_share;
  j["exit_accuracy"] = exit_accuracy;
  j["macs"] = mean_macs;
  j["latency_us"] = latency_us;
  j["latency_p99_us"] = latency_p99_us;
  j["throughput"] = throughput;
  if (predicted_latency_us > 0) j["predicted_latency_us"] = predicted_latency_us;
  j["mean_buffered_bytes"] = mean_buffered_bytes;
  j["peak_buffered_bytes"] = peak_buffered_bytes;
  return j;
}

namespace {

// The untimed batched pass: every sample's exit, answer and cost, and from
// them the accuracy figures. It also warms caches and buffers for timing.
PolicyReport answer_all(const Policy& policy, int num_exits, const Dataset& data, const Tensor& images, int batch) {
  PolicyReport report;
  report.name = policy.name;
  report.samples = data.size();
  double mac_sum = 0, buffer_sum = 0;
  for (int64_t begin = 0; begin < data.size(); begin += batch) {
    const int64_t end = std::min<int64_t>(data.size(), begin + batch);
    const EarlyExitResult r = policy.run(images.batch_slice(begin, end));
    const size_t n = static_cast<size_t>(end - begin);
    BRANCHY_CHECK(r.exit.size() == n && r.prediction.size() == n && r.macs.size() == n &&
                      r.buffered_bytes.size() == n,
                  policy.name, " answered ", r.exit.size(), " samples of a batch of ", n);
    report.exits.insert(report.exits.end(), r.exit.begin(), r.exit.end());
    report.predictions.insert(report.predictions.end(), r.prediction.begin(), r.prediction.end());
    for (size_t i = 0; i < n; ++i) {
      mac_sum += static_cast<double>(r.macs[i]);
      buffer_sum += static_cast<double>(r.buffered_bytes[i]);
      report.peak_buffered_bytes = std::max(report.peak_buffered_bytes, static_cast<double>(r.buffered_bytes[i]));
    }
  }
  report.mean_macs = mac_sum / data.size();
  report.mean_buffered_bytes = buffer_sum / data.size();

  std::vector<int64_t> at_exit(num_exits, 0), correct_at_exit(num_exits, 0);
  int64_t correct = 0;
  for (int64_t i = 0; i < data.size(); ++i) {
    const int e = report.exits[i];
    BRANCHY_CHECK(e >= 0 && e < num_exits, policy.name, " chose exit ", e, " of ", num_exits);
    const bool right = report.predictions[i] == data.labels[i];
    ++at_exit[e];
    correct_at_exit[e] += right;
    correct += right;
  }
  report.accuracy = static_cast<double>(correct) / data.size();
  for (int e = 0; e < num_exits; ++e) {
    report.exit_share.push_back(static_cast<double>(at_exit[e]) / data.size());
    report.exit_accuracy.push_back(at_exit[e] ? static_cast<double>(correct_at_exit[e]) / at_exit[e] : 0.0);
  }
  return report;
}

// Seconds for one batched pass over all images.
double time_batched_pass(const Policy& policy, const Tensor& images, int batch) {
  const int64_t N = images.dim(0);
  const double start = now_seconds();
  for (int64_t begin = 0; begin < N; begin += batch)
    policy.run(images.batch_slice(begin, std::min<int64_t>(N, begin + batch)));
  return now_seconds() - start;
}

// Microseconds of each of the first `count` samples, run one at a time.
std::vector<double> time_single_samples(const Policy& policy, const Tensor& images, int64_t count) {
  std::vector<double> micros(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    const Tensor one = images.batch_slice(i, i + 1);
    const double start = now_seconds();
    policy.run(one);
    micros[static_cast<size_t>(i)] = (now_seconds() - start) * 1e6;
  }
  return micros;
}

}  // namespace

std::vector<PolicyReport> evaluate_policies(const std::vector<Policy>& policies, int num_exits, const Dataset& data,
                                            const Normalizer* normalizer, const EvalOptions& options,
                                            const std::function<void(const std::string&)>& status) {
  BRANCHY_CHECK(data.size() > 0, "evaluating policies on an empty dataset");
  const Tensor images = normalized_images(data, 0, data.size(), normalizer);  // (N, C, H, W)
  const int batch = std::max(1, options.throughput_batch);
  const int64_t timed = options.latency_samples > 0 ? std::min(options.latency_samples, data.size()) : data.size();

  std::vector<PolicyReport> reports;
  for (const Policy& policy : policies) {
    if (status) status(policy.name + ": answers");
    reports.push_back(answer_all(policy, num_exits, data, images, batch));
    for (int64_t i = 0; i < std::min<int64_t>(timed, 20); ++i) policy.run(images.batch_slice(i, i + 1));  // warm-up
  }

  // Timing rounds go through the policies in turn, so that a machine that
  // speeds up or slows down during the run (turbo, a neighbour's load) shifts
  // every policy alike and their ratios stay fair. Per policy the fastest
  // whole pass counts: a per-sample minimum over passes would describe a pass
  // that never happened.
  std::vector<double> best_batched(policies.size(), 1e300), best_single_sum(policies.size(), 1e300);
  std::vector<std::vector<double>> best_single(policies.size());
  const int rounds = std::max(1, options.repeats);
  SegmentTimes segments;
  for (int round = 0; round < rounds; ++round) {
    if (options.segments_of) {
      if (status) status("segments alone: timing round " + std::to_string(round + 1) + "/" + std::to_string(rounds));
      const SegmentTimes times = time_segments(*options.segments_of, images, timed, 1);
      if (round == 0) segments = times;
      for (size_t s = 0; s < times.stage_us.size(); ++s)
        segments.stage_us[s] = std::min(segments.stage_us[s], times.stage_us[s]);
      for (size_t b = 0; b < times.branch_us.size(); ++b)
        segments.branch_us[b] = std::min(segments.branch_us[b], times.branch_us[b]);
    }
    for (size_t p = 0; p < policies.size(); ++p) {
      if (status)
        status(policies[p].name + ": timing round " + std::to_string(round + 1) + "/" + std::to_string(rounds) +
               " (batch " + std::to_string(batch) + ", then batch 1)");
      best_batched[p] = std::min(best_batched[p], time_batched_pass(policies[p], images, batch));
      std::vector<double> micros = time_single_samples(policies[p], images, timed);
      double sum = 0;
      for (double us : micros) sum += us;
      if (sum < best_single_sum[p]) {
        best_single_sum[p] = sum;
        best_single[p] = std::move(micros);
      }
    }
  }
  for (size_t p = 0; p < policies.size(); ++p) {
    PolicyReport& report = reports[p];
    report.throughput = data.size() / best_batched[p];
    report.latency_us = best_single_sum[p] / timed;
    std::vector<double> sorted = best_single[p];
    std::sort(sorted.begin(), sorted.end());
    const size_t rank = static_cast<size_t>(std::max<double>(1.0, std::ceil(0.99 * timed))) - 1;  // nearest rank
    report.latency_p99_us = sorted[std::min(rank, sorted.size() - 1)];
    if (options.segments_of && policies[p].predict_latency_us)
      report.predicted_latency_us = policies[p].predict_latency_us(segments, report.exit_share);
  }
  return reports;
}

PolicyReport evaluate_policy(const Policy& policy, int num_exits, const Dataset& data, const Normalizer* normalizer,
                             const EvalOptions& options, const std::function<void(const std::string&)>& status) {
  return evaluate_policies({policy}, num_exits, data, normalizer, options, status).front();
}

double exit_agreement(const PolicyReport& a, const PolicyReport& b) {
  BRANCHY_CHECK(a.exits.size() == b.exits.size(), "comparing ", a.name, " and ", b.name, " on different samples");
  if (a.exits.empty()) return 0.0;
  int64_t same = 0;
  for (size_t i = 0; i < a.exits.size(); ++i) same += a.exits[i] == b.exits[i];
  return static_cast<double>(same) / a.exits.size();
}

}  // namespace branchy
