#include "nets/policy_eval.h"

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
  return {"full", [&net](const Tensor& images) {
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
          }};
}

Policy branchy_policy(BranchyNet& net, std::vector<float> thresholds) {
  return {"branchy", [&net, thresholds](const Tensor& images) { return infer_early_exit(net, images, thresholds); }};
}

Json PolicyReport::to_json() const {
  Json j = Json::object();
  j.set("samples", samples);
  j.set("accuracy", accuracy);
  Json share = Json::array(), per_exit = Json::array();
  for (double v : exit_share) share.push_back(v);
  for (double v : exit_accuracy) per_exit.push_back(v);
  j.set("exit_share", share);
  j.set("exit_accuracy", per_exit);
  j.set("macs", mean_macs);
  j.set("latency_us", latency_us);
  j.set("latency_p99_us", latency_p99_us);
  j.set("throughput", throughput);
  j.set("mean_buffered_bytes", mean_buffered_bytes);
  j.set("peak_buffered_bytes", peak_buffered_bytes);
  return j;
}

PolicyReport evaluate_policy(const Policy& policy, int num_exits, const Dataset& data, const Normalizer* normalizer,
                             const EvalOptions& options, const std::function<void(const std::string&)>& status) {
  BRANCHY_CHECK(data.size() > 0, "evaluating ", policy.name, " on an empty dataset");
  PolicyReport report;
  report.name = policy.name;
  report.samples = data.size();
  const Tensor images = normalized_images(data, 0, data.size(), normalizer);  // (N, C, H, W)

  // Batched pass: answers, exits, costs and throughput.
  if (status) status(policy.name + ": batch " + std::to_string(options.throughput_batch));
  policy.run(images.batch_slice(0, std::min<int64_t>(data.size(), options.throughput_batch)));  // warm-up
  double best_seconds = 1e300;
  for (int repeat = 0; repeat < std::max(1, options.repeats); ++repeat) {
    report.exits.clear();
    report.predictions.clear();
    std::vector<int64_t> macs, buffered;
    const double start = now_seconds();
    for (int64_t begin = 0; begin < data.size(); begin += options.throughput_batch) {
      const int64_t end = std::min<int64_t>(data.size(), begin + options.throughput_batch);
      EarlyExitResult r = policy.run(images.batch_slice(begin, end));
      const size_t n = static_cast<size_t>(end - begin);
      BRANCHY_CHECK(r.exit.size() == n && r.prediction.size() == n && r.macs.size() == n &&
                        r.buffered_bytes.size() == n,
                    policy.name, " answered ", r.exit.size(), " samples of a batch of ", n);
      report.exits.insert(report.exits.end(), r.exit.begin(), r.exit.end());
      report.predictions.insert(report.predictions.end(), r.prediction.begin(), r.prediction.end());
      macs.insert(macs.end(), r.macs.begin(), r.macs.end());
      buffered.insert(buffered.end(), r.buffered_bytes.begin(), r.buffered_bytes.end());
    }
    best_seconds = std::min(best_seconds, now_seconds() - start);
    double mac_sum = 0, buffer_sum = 0, buffer_peak = 0;
    for (size_t i = 0; i < macs.size(); ++i) {
      mac_sum += static_cast<double>(macs[i]);
      buffer_sum += static_cast<double>(buffered[i]);
      buffer_peak = std::max(buffer_peak, static_cast<double>(buffered[i]));
    }
    report.mean_macs = mac_sum / data.size();
    report.mean_buffered_bytes = buffer_sum / data.size();
    report.peak_buffered_bytes = buffer_peak;
  }
  report.throughput = data.size() / best_seconds;

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

  // Batch-1 pass: the delay each sample sees.
  const int64_t timed = options.latency_samples > 0 ? std::min(options.latency_samples, data.size()) : data.size();
  if (status) status(policy.name + ": batch 1");
  for (int64_t i = 0; i < std::min<int64_t>(timed, 20); ++i) policy.run(images.batch_slice(i, i + 1));  // warm-up
  // Whole passes are timed and the fastest pass is kept: a per-sample
  // minimum over passes would describe a pass that never happened.
  std::vector<double> micros;
  double best_sum = 1e300;
  for (int repeat = 0; repeat < std::max(1, options.repeats); ++repeat) {
    std::vector<double> pass(timed);
    double sum = 0;
    for (int64_t i = 0; i < timed; ++i) {
      const Tensor one = images.batch_slice(i, i + 1);
      const double start = now_seconds();
      policy.run(one);
      pass[i] = (now_seconds() - start) * 1e6;
      sum += pass[i];
    }
    if (sum < best_sum) {
      best_sum = sum;
      micros = std::move(pass);
    }
  }
  report.latency_us = best_sum / timed;
  std::vector<double> sorted = micros;
  std::sort(sorted.begin(), sorted.end());
  // p99 by nearest rank.
  const size_t rank = static_cast<size_t>(std::max<double>(1.0, std::ceil(0.99 * timed))) - 1;
  report.latency_p99_us = sorted[std::min(rank, sorted.size() - 1)];
  return report;
}

double exit_agreement(const PolicyReport& a, const PolicyReport& b) {
  BRANCHY_CHECK(a.exits.size() == b.exits.size(), "comparing ", a.name, " and ", b.name, " on different samples");
  if (a.exits.empty()) return 0.0;
  int64_t same = 0;
  for (size_t i = 0; i < a.exits.size(); ++i) same += a.exits[i] == b.exits[i];
  return static_cast<double>(same) / a.exits.size();
}

}  // namespace branchy
