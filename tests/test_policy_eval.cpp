// Policy evaluation: the figures evaluate_policies reports must be the ones
// the network gives (accuracy, exit shares, MACs), timing rounds must fill
// every latency, and the segment-time prediction must add up as defined.
#include <catch2/catch.hpp>

#include <limits>

#include "engine/error.h"
#include "engine/loss.h"
#include "engine/rng.h"
#include "pipeline/policy_comparison.h"
#include "pipeline/policy_eval.h"
#include "nets/registry.h"
#include "pipeline/segment_timing.h"
#include "tests/small_nets.h"

using namespace branchy;
using branchy::testing::random_image_dataset;
using branchy::testing::small_b_lenet;

TEST_CASE("segment costs add up along paths", "[policy]") {
  SegmentCosts t;
  t.stage = {10, 20, 40};
  t.branch = {3, 5};
  REQUIRE(branchy_path_cost(t, 0) == 13.0);  // S0 + B0
  REQUIRE(branchy_path_cost(t, 1) == 38.0);  // S0 + B0 + S1 + B1
  REQUIRE(branchy_path_cost(t, 2) == 78.0);  // every stage, every branch tried
  REQUIRE(direct_path_cost(t, 1) == 35.0);   // S0 + S1 + B1: branch 0 skipped
  REQUIRE(direct_path_cost(t, 2) == 70.0);   // the trunk alone
  REQUIRE(trunk_cost(t) == 70.0);
  REQUIRE(path_cost(t, 2, 0b10) == 75.0);    // trunk + B1
  REQUIRE(mean_branchy_cost(t, {0.5, 0.25, 0.25}) == Approx(0.5 * 13 + 0.25 * 38 + 0.25 * 78));
  REQUIRE_THROWS_AS(branchy_path_cost(t, 3), Error);
  REQUIRE_THROWS_AS(mean_branchy_cost(t, {1.0}), Error);
}

TEST_CASE("evaluate_policies reports the network's own answers, exits and costs", "[policy]") {
  auto net = small_b_lenet(9);
  const Dataset data = random_image_dataset(24, 3);
  const Tensor images = data.images(0, data.size());  // no normaliser
  const std::vector<Tensor> logits = net->forward_exits(images, Mode::eval);
  const std::vector<int> exit0 = argmax_rows(logits[0]), last = argmax_rows(logits[1]);
  int64_t right0 = 0, right_last = 0;
  for (int64_t i = 0; i < data.size(); ++i) {
    right0 += exit0[i] == data.labels[i];
    right_last += last[i] == data.labels[i];
  }

  EvalOptions options;
  options.throughput_batch = 5;  // batches that do not divide the samples
  options.latency_samples = 6;
  options.repeats = 2;
  options.segments_of = net.get();
  const std::vector<Policy> policies = {full_policy(*net),
                                        branchy_policy(*net, {std::numeric_limits<float>::infinity()})};
  const std::vector<PolicyReport> reports = evaluate_policies(policies, net->num_exits(), data, nullptr, options);
  REQUIRE(reports.size() == 2);

  const PolicyReport& full = reports[0];
  REQUIRE(full.name == "full");
  REQUIRE(full.accuracy == Approx(static_cast<double>(right_last) / data.size()));
  REQUIRE(full.exit_share == std::vector<double>{0.0, 1.0});
  REQUIRE(full.mean_macs == Approx(static_cast<double>(net->full_macs())));
  REQUIRE(full.predictions == last);

  const PolicyReport& early = reports[1];  // an infinite threshold: everyone leaves at branch 0
  REQUIRE(early.accuracy == Approx(static_cast<double>(right0) / data.size()));
  REQUIRE(early.exit_share == std::vector<double>{1.0, 0.0});
  REQUIRE(early.mean_macs == Approx(static_cast<double>(branchy_path_macs(*net, 0))));
  REQUIRE(early.predictions == exit0);
  REQUIRE(exit_agreement(full, early) == 0.0);
  // The hard samples' delay: every sample of full goes to the last exit (the
  // same times, so the same p99); none of early does.
  REQUIRE(full.last_exit_latency_p99_us == full.latency_p99_us);
  REQUIRE(early.last_exit_latency_p99_us == 0.0);

  for (const PolicyReport& r : reports) {
    INFO(r.name);
    REQUIRE(r.samples == data.size());
    REQUIRE(r.latency_us > 0.0);
    REQUIRE(r.latency_p99_us > 0.0);
    REQUIRE(r.throughput > 0.0);
    REQUIRE(r.predicted_latency_us > 0.0);
    const Json j = r.to_json();
    REQUIRE(json_double(j, "accuracy") == Approx(r.accuracy));
    REQUIRE(json_double(j, "predicted_latency_us") == Approx(r.predicted_latency_us));
  }
}

TEST_CASE("time_segments times every stage and branch, and rejects bad requests", "[policy]") {
  auto net = small_b_lenet(9);
  const Dataset data = random_image_dataset(4, 5);
  const Tensor images = data.images(0, data.size());
  const SegmentCosts t = time_segments(*net, images, 3, 2);
  REQUIRE(t.stage.size() == 2);
  REQUIRE(t.branch.size() == 1);
  for (double us : t.stage) REQUIRE(us > 0.0);
  REQUIRE(t.branch[0] > 0.0);
  REQUIRE_THROWS_AS(time_segments(*net, images, 5, 1), Error);  // more samples than images
  REQUIRE_THROWS_AS(time_segments(*net, images, 2, 0), Error);
}

TEST_CASE("compare_policies flags a predictor policy that loses more than its knob's max drop", "[policy]") {
  // 1000 samples: accuracies are counts, so the changes are exact per mille.
  auto report = [](const std::string& name, double accuracy, std::optional<KnobChoiceNote> note) {
    PolicyReport r;
    r.name = name;
    r.samples = 1000;
    r.accuracy = accuracy;
    r.exits.assign(1000, 0);
    r.knob_choice = note;
    return r;
  };
  const KnobChoiceNote half_point{0.005, -0.001};
  const std::vector<PolicyReport> reports = {
      report("branchy", 0.900, std::nullopt),
      report("kept", 0.895, half_point),                // exactly max_drop: within
      report("missed", 0.894, half_point),              // one sample more: flagged
      report("no-note", 0.800, std::nullopt),           // not a predictor policy: never flagged
      report("gained", 0.910, KnobChoiceNote{0.0, 0.0}),
  };
  const Comparison c = compare_policies(reports);
  REQUIRE(c.policies.size() == 5);
  REQUIRE(!c.policies[1].misses_max_drop);
  REQUIRE(c.policies[2].misses_max_drop);
  REQUIRE(!c.policies[3].misses_max_drop);
  REQUIRE(!c.policies[4].misses_max_drop);
  // The text table marks the flagged row only.
  const std::string table = comparison_table(c, 64);
  REQUIRE(table.find("-0.60 !") != std::string::npos);
  REQUIRE(table.find("-0.50 !") == std::string::npos);
  REQUIRE(table.find("-10.00 !") == std::string::npos);
}
