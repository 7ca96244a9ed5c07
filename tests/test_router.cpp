// The router and the predictor policies: one exit rule everywhere, the
// oracle equals BranchyNet, batches equal single samples, trusted routes run
// nothing past their exit, skip-pred brackets branchy and full, predictors
// survive a model file and learn, and the MAC accounting adds up by hand.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <tuple>

#include "engine/error.h"
#include "engine/loss.h"
#include "engine/rng.h"
#include "nets/early_exit.h"
#include "nets/registry.h"
#include "pipeline/calibration.h"
#include "pipeline/exit_outputs.h"
#include "pipeline/model_file.h"
#include "pipeline/policy_eval.h"
#include "pipeline/predictor_fit.h"
#include "pipeline/route_trace.h"
#include "predictors/policy.h"
#include "predictors/predictor_rules.h"
#include "tests/gradcheck.h"
#include "tests/small_nets.h"
#include "tests/temp_folder.h"

using namespace branchy;
using branchy::testing::random_image_dataset;
using branchy::testing::random_tensor;

namespace {

// A predictor's settings: what it predicts, where, from which features, how wide its head.
PredictorSettings settings_for(PredictorKind kind, Placement placement, const std::string& features, int hidden) {
  PredictorSettings s;
  s.kind = kind;
  s.placement = placement;
  s.features = FeatureSpec::parse(features);
  s.hidden = hidden;
  return s;
}

// A b-resnet small enough for tests, with three exits.
std::unique_ptr<BranchyNet> small_b_resnet(uint64_t seed) {
  Json config = Json::object();
  config["depth"] = 8;
  config["base_channels"] = 4;
  config["branch0_width"] = 2;
  config["branch1_width"] = 4;
  return build_network("b-resnet", config, Shape{1, 1, 12, 12}, 4, seed);
}

// Thresholds at the median entropy of each branch on x: the exits mix.
std::vector<float> median_thresholds(BranchyNet& net, const Tensor& x) {
  const std::vector<Tensor> logits = net.forward_exits(x, Mode::eval);
  std::vector<float> thresholds;
  for (int i = 0; i + 1 < net.num_exits(); ++i) {
    std::vector<float> h = softmax_entropy(logits[i]);
    std::nth_element(h.begin(), h.begin() + h.size() / 2, h.end());
    thresholds.push_back(h[h.size() / 2]);
  }
  return thresholds;
}

// Every predictor kind and placement, with random weights and middle knobs.
std::vector<std::shared_ptr<Predictor>> every_predictor(const BranchyNet& net) {
  Rng rng(11);
  std::vector<std::shared_ptr<Predictor>> all;
  const std::vector<std::pair<PredictorKind, Placement>> kinds = {
      {PredictorKind::exit, Placement::input}, {PredictorKind::exit, Placement::first},
      {PredictorKind::exit, Placement::each},  {PredictorKind::skip, Placement::each},
      {PredictorKind::entropy, Placement::each}};
  for (auto [kind, placement] : kinds) {
    PredictorSettings s = settings_for(kind, placement, placement == Placement::input ? "grid3" : "grid2+max", 6);
    s.trust_knob = s.fallback_knob = kind == PredictorKind::entropy ? 1.0 : 0.5;
    all.push_back(std::make_shared<Predictor>(net, s, rng));
  }
  return all;
}

std::vector<Predictor*> pointers(const std::vector<std::shared_ptr<Predictor>>& all) {
  std::vector<Predictor*> p;
  for (const auto& a : all) p.push_back(a.get());
  return p;
}

// A layer that passes its input through and counts the samples it saw.
class SpyLayer : public Layer {
 public:
  explicit SpyLayer(int64_t* seen) : seen_(seen) {}
  Shape out_shape(const Shape& in) const override { return in; }
  Tensor forward(const Tensor& x, Mode) override {
    *seen_ += x.dim(0);
    return x;
  }
  Tensor backward(const Tensor& dy) override { return dy; }
  std::string describe() const override { return "spy"; }

 private:
  int64_t* seen_;
};

// Recorded outputs of N samples (label 0) on the three exits of `net`, with
// avg features at both branch points whose first column half tells whether
// the branch there is confident: branch 0 is confident when a + noise > 0
// (noise as large as the signal a), and wrong when it is not; branch 1 is
// the same with its own b when `branch1_half_told`, else never confident
// (and point 1 then reads a). The trunk is always right.
PredictorData half_told_data(const BranchyNet& net, int64_t N, uint64_t seed, bool branch1_half_told) {
  Rng rng(seed);
  PredictorData d;
  d.outputs.labels.assign(N, 0);
  d.outputs.predictions.assign(3, std::vector<int>(N, 0));
  d.outputs.entropies.assign(3, std::vector<float>(N, 1.2f));
  d.outputs.loss_sums.assign(3, 0.0);
  d.features.assign(3, Tensor());
  const FeatureSpec avg = FeatureSpec::parse("avg");
  const int64_t F0 = avg.width(net.stage_output_shape(0)), F1 = avg.width(net.stage_output_shape(1));
  d.features[1] = Tensor(Shape{N, F0});
  d.features[2] = Tensor(Shape{N, F1});
  for (int64_t n = 0; n < N; ++n) {
    const float a = static_cast<float>(rng.normal());
    const float b = branch1_half_told ? static_cast<float>(rng.normal()) : a;
    if (a + static_cast<float>(rng.normal()) > 0)
      d.outputs.entropies[0][n] = 0.1f;  // branch 0 confident
    else
      d.outputs.predictions[0][n] = 1;  // and wrong, which fallback routing never answers with
    if (branch1_half_told && b + static_cast<float>(rng.normal()) > 0) d.outputs.entropies[1][n] = 0.1f;
    d.features[1][n * F0] = a;
    d.features[2][n * F1] = b;
  }
  return d;
}

}  // namespace

TEST_CASE("calibration's replayed figures equal really running the early-exit policy", "[router]") {
  auto net = small_b_resnet(3);
  const Dataset data = random_image_dataset(40, 7);
  const Tensor images = data.images(0, data.size());
  const ExitOutputs outputs = run_all_exits(*net, data, nullptr, 16);
  const std::vector<float> median = median_thresholds(*net, images);
  const std::vector<std::vector<float>> settings = {
      median, {0.0f, 0.0f}, {10.0f, 10.0f}, {median[0] * 0.5f, median[1] * 2.0f}, {median[0] * 1.5f, 0.0f}};
  for (const std::vector<float>& thresholds : settings) {
    INFO("thresholds " << thresholds[0] << ", " << thresholds[1]);
    const ThresholdSetting replayed = evaluate_thresholds(*net, outputs, thresholds);
    const RouteResult live = infer_early_exit(*net, images, thresholds);
    const RouteSummary s = summarize_route(live, data.labels, net->num_exits());
    REQUIRE(replayed.accuracy == s.accuracy);
    REQUIRE(replayed.exit_share == s.exit_share);
    REQUIRE(replayed.mean_macs == s.mean_macs);
  }
}

TEST_CASE("the oracle takes BranchyNet's exit and answer, on the direct path", "[router]") {
  auto net = small_b_resnet(5);
  const Dataset data = random_image_dataset(30, 9);
  const Tensor images = data.images(0, data.size());
  const std::vector<float> thresholds = median_thresholds(*net, images);
  const RouteResult branchy = infer_early_exit(*net, images, thresholds);
  Policy oracle = oracle_policy(*net, thresholds);
  oracle.prepare(images);
  const RouteResult r = oracle.run(images, 0, false);
  REQUIRE(r.exit == branchy.exit);
  REQUIRE(r.prediction == branchy.prediction);
  const SegmentCosts macs = segment_macs(*net);
  for (size_t n = 0; n < r.exit.size(); ++n) {
    REQUIRE(r.macs[n] == static_cast<int64_t>(direct_path_cost(macs, r.exit[n])));
    REQUIRE(r.buffered_bytes[n] == 0);  // it trusts the exit it knows
  }
  std::set<int> exits(r.exit.begin(), r.exit.end());
  REQUIRE(exits.size() >= 2);  // the test means something only if the exits mix
}

TEST_CASE("every policy routes a batch as it routes its samples one by one", "[router]") {
  auto net = small_b_resnet(7);
  const Dataset data = random_image_dataset(24, 13);
  const Tensor images = data.images(0, data.size());
  const std::vector<float> thresholds = median_thresholds(*net, images);
  const auto predictors = every_predictor(*net);
  std::vector<Policy> policies = policies_by_name({"all"}, *net, thresholds, pointers(predictors));
  REQUIRE(policies.size() == 3 + 4 * 2 + 1);  // full, branchy, oracle; 4 predictors x trust/fallback; skip-pred
  for (Policy& policy : policies) {
    INFO(policy.name);
    if (policy.prepare) policy.prepare(images);
    const RouteResult batch = policy.run(images, 0, true);
    for (int64_t n = 0; n < images.dim(0); ++n) {
      const RouteResult one = policy.run(images.batch_slice(n, n + 1), n, true);
      REQUIRE(one.exit[0] == batch.exit[n]);
      REQUIRE(one.prediction[0] == batch.prediction[n]);
      REQUIRE(one.macs[0] == batch.macs[n]);
      REQUIRE(one.tried[0] == batch.tried[n]);
      REQUIRE(one.buffered_bytes[0] == batch.buffered_bytes[n]);
      for (size_t p = 0; p < one.trace[0].scores.size(); ++p)
        for (size_t k = 0; k < one.trace[0].scores[p].size(); ++k)
          REQUIRE(one.trace[0].scores[p][k] == Approx(batch.trace[n].scores[p][k]).margin(1e-6));
    }
  }
}

TEST_CASE("a trusted route runs no stage after its exit and no other branch", "[router]") {
  auto net = small_b_resnet(9);
  const Tensor x = random_tensor(Shape{20, 1, 12, 12}, 21);
  const std::vector<float> thresholds = median_thresholds(*net, x);
  std::vector<int64_t> stage_seen(3, 0), branch_seen(2, 0);
  for (int i = 0; i < 3; ++i) net->stage(i).emplace<SpyLayer>("spy", &stage_seen[i]);
  for (int i = 0; i < 2; ++i) net->branch(i).emplace<SpyLayer>("spy", &branch_seen[i]);
  net->validate();
  auto predictors = every_predictor(*net);
  Predictor& first = *predictors[1];  // exit@first
  for (double q : {0.2, 0.5, 0.8}) {
    std::fill(stage_seen.begin(), stage_seen.end(), 0);
    std::fill(branch_seen.begin(), branch_seen.end(), 0);
    const auto rule = predictor_rule(first, thresholds, true, q);
    const RouteResult r = route_batch(*net, x, *rule);
    std::vector<int64_t> at_exit(3, 0);
    for (int e : r.exit) ++at_exit[e];
    INFO("q " << q << " exits " << at_exit[0] << "/" << at_exit[1] << "/" << at_exit[2]);
    REQUIRE(stage_seen[0] == 20);
    REQUIRE(stage_seen[1] == at_exit[1] + at_exit[2]);  // who left at exit 0 never runs stage 1
    REQUIRE(stage_seen[2] == at_exit[2]);
    REQUIRE(branch_seen[0] == at_exit[0]);  // only the samples planned for it
    REQUIRE(branch_seen[1] == at_exit[1]);
    for (int e = 0; e < 2; ++e) REQUIRE(r.branch_samples[e] == branch_seen[e]);
  }
}

TEST_CASE("skip-pred that always tries is branchy; one that never tries is full", "[router]") {
  auto net = small_b_resnet(11);
  const Tensor x = random_tensor(Shape{16, 1, 12, 12}, 23);
  const std::vector<float> thresholds = median_thresholds(*net, x);
  auto predictors = every_predictor(*net);
  Predictor& skip = *predictors[3];
  const RouteResult branchy = infer_early_exit(*net, x, thresholds);
  const RouteResult always = route_batch(*net, x, *predictor_rule(skip, thresholds, false, 0.0));
  REQUIRE(always.exit == branchy.exit);
  REQUIRE(always.prediction == branchy.prediction);
  REQUIRE(max_abs_difference(always.logits, branchy.logits) == 0.0f);
  const int64_t skip_macs = skip.macs(0) + skip.macs(1);
  for (size_t n = 0; n < always.macs.size(); ++n) {
    const int64_t predictor_macs = skip.macs(0) + (branchy.exit[n] > 0 ? skip.macs(1) : 0);
    REQUIRE(always.macs[n] == branchy.macs[n] + predictor_macs);
  }
  TrunkRule trunk;
  const RouteResult full = route_batch(*net, x, trunk);
  const RouteResult never = route_batch(*net, x, *predictor_rule(skip, thresholds, false, 1.01));
  REQUIRE(never.exit == full.exit);
  REQUIRE(never.prediction == full.prediction);
  for (size_t n = 0; n < never.macs.size(); ++n) REQUIRE(never.macs[n] == full.macs[n] + skip_macs);
}

TEST_CASE("predictors survive the model file; a mismatched tensor is named", "[router]") {
  auto net = small_b_resnet(13);
  const Tensor x = random_tensor(Shape{6, 1, 12, 12}, 25);
  const branchy::testing::TemporaryFolder folder("router");
  const std::string path = folder.file("model.safetensors");
  ModelInfo info;
  info.thresholds = median_thresholds(*net, x);
  for (auto& p : every_predictor(*net)) info.replace_predictor(p);
  info.predictors[2]->set_knob(true, 0.3);
  info.predictors[3]->set_point_knobs(false, {0.2, 0.8});  // skip@each: a knob per branch point
  info.predictors[3]->set_choice_note(false, {0.005, -0.0025});
  save_model(path, *net, info);
  LoadedModel loaded = load_model(path);
  REQUIRE(loaded.info.predictors.size() == info.predictors.size());
  for (size_t i = 0; i < info.predictors.size(); ++i) {
    Predictor& a = *info.predictors[i];
    Predictor& b = *loaded.info.predictors[i];
    REQUIRE(a.name() == b.name());
    REQUIRE(b.settings().trust_knob == a.settings().trust_knob);
    REQUIRE(b.settings().fallback_point_knobs == a.settings().fallback_point_knobs);
    REQUIRE(b.settings().features.str() == a.settings().features.str());
    for (bool trust : {true, false}) {
      const RouteResult ra = route_batch(*net, x, *predictor_rule(a, info.thresholds, trust));
      const RouteResult rb = route_batch(*loaded.net, x, *predictor_rule(b, info.thresholds, trust));
      REQUIRE(ra.exit == rb.exit);
      REQUIRE(ra.macs == rb.macs);
      REQUIRE(max_abs_difference(ra.logits, rb.logits) == 0.0f);
    }
  }
  REQUIRE(loaded.info.predictors[3]->settings().fallback_point_knobs == std::vector<double>{0.2, 0.8});
  REQUIRE(loaded.info.predictors[3]->settings().knob(false, 1) == 0.8);
  const std::optional<KnobChoiceNote>& note = loaded.info.predictors[3]->settings().fallback_choice;
  REQUIRE(note);
  REQUIRE(note->max_drop == 0.005);
  REQUIRE(note->held_out_change == -0.0025);
  REQUIRE(!loaded.info.predictors[3]->settings().trust_choice);
  REQUIRE(!loaded.info.predictors[0]->settings().fallback_choice);  // never chosen: no note
  // skip-pred, which always falls back, carries its fallback note whichever routing is asked for.
  const Policy skip_policy = predictor_policy(*loaded.net, *loaded.info.predictors[3], info.thresholds, true);
  REQUIRE(skip_policy.name == "skip-pred");
  REQUIRE(skip_policy.knob_choice);
  REQUIRE(skip_policy.knob_choice->held_out_change == -0.0025);
  // Setting the one knob again clears the knobs per point.
  loaded.info.predictors[3]->set_knob(false, 0.4);
  REQUIRE(loaded.info.predictors[3]->settings().knob(false, 1) == 0.4);
  // Fitting a second predictor of the same kind replaces it; others stay.
  Rng rng(3);
  PredictorSettings again = info.predictors[0]->settings();
  info.replace_predictor(std::make_shared<Predictor>(*net, again, rng));
  REQUIRE(info.predictors.size() == 5);

  // A knob choice note that is not one is an error naming the file and the key.
  for (const auto& [bad, says] : {std::pair{Json(3), "'trust_choice' must be an object"},
                                  std::pair{Json{{"max_drop", -1.0}, {"held_out_change", 0.0}}, "max_drop"},
                                  std::pair{Json{{"max_drop", 0.005}}, "held_out_change"}}) {
    Checkpoint file = load_safetensors(path);
    Json list = parse_json(file.metadata.at("predictors"), "predictors");
    list[0]["trust_choice"] = bad;
    file.metadata["predictors"] = dump_json(list);
    const std::string broken = folder.file("broken_note.safetensors");
    save_safetensors(broken, file.tensors, file.metadata);
    try {
      load_model(broken);
      FAIL("a bad knob choice note loaded");
    } catch (const Error& e) {
      INFO(e.what());
      REQUIRE(std::string(e.what()).find(broken) != std::string::npos);
      REQUIRE(std::string(e.what()).find(says) != std::string::npos);
    }
  }

  // A file whose predictor tensor does not match its metadata names the tensor.
  Checkpoint file = load_safetensors(path);
  for (NamedTensor& t : file.tensors)
    if (t.name == "predictor.skip.each.point1.fc1.weight") t.tensor = Tensor(Shape{2, 2});
  save_safetensors(path, file.tensors, file.metadata);
  try {
    load_model(path);
    FAIL("a mismatched predictor tensor loaded");
  } catch (const Error& e) {
    REQUIRE(std::string(e.what()).find("predictor.skip.each.point1.fc1.weight") != std::string::npos);
  }
}

TEST_CASE("the MACs of a predicted route add up by hand on B-LeNet", "[router]") {
  auto net = build_network("b-lenet", Json::object(), Shape{1, 1, 28, 28}, 10, 1);
  const Tensor x = random_tensor(Shape{3, 1, 28, 28}, 27);
  Rng rng(5);
  Predictor first(*net, settings_for(PredictorKind::exit, Placement::first, "avg", 32), rng);
  // h0 is 5x30x30: the average reads 4,500 values; 5->32->2 is 160 + 64 MACs.
  REQUIRE(first.macs(0) == 4500 + 160 + 64);
  const std::vector<float> thresholds = {0.5f};
  const RouteResult early = route_batch(*net, x, *predictor_rule(first, thresholds, true, 0.0));  // plans exit 0
  for (int64_t m : early.macs) REQUIRE(m == 112500 + 4724 + 107650);
  const RouteResult late = route_batch(*net, x, *predictor_rule(first, thresholds, true, 1.01));  // plans the last
  for (int64_t m : late.macs) REQUIRE(m == 112500 + 4724 + 1027570);
  for (int e : late.exit) REQUIRE(e == 1);
}

TEST_CASE("a head's scores, a row at a time, are its layers' forward, whatever the batch", "[router]") {
  auto net = small_b_resnet(23);
  for (auto [kind, placement] : {std::pair{PredictorKind::exit, Placement::first},
                                 std::pair{PredictorKind::skip, Placement::each},
                                 std::pair{PredictorKind::entropy, Placement::each}}) {
    Rng rng(41);
    Predictor p(*net, settings_for(kind, placement, "grid2+max", 20), rng);
    INFO(p.name());
    const int point = p.points().front();
    const int64_t F = p.settings().features.width(p.map_shape(point));
    p.fit_standardisation(point, random_tensor(Shape{16, F}, 5));  // not the identity
    const Tensor features = random_tensor(Shape{6, F}, 7);          // (6, F)
    const Tensor scores = p.scores_from_features(point, features);  // (6, outputs)
    // The reference: standardise, the Sequential's forward, softmax for a classifier.
    Tensor standardised = features.clone();
    p.standardise(point, standardised);
    const Tensor raw = p.forward_standardised(point, standardised, Mode::eval);
    const Tensor expected = p.is_classifier() ? softmax(raw) : raw;
    REQUIRE(scores.shape() == expected.shape());
    REQUIRE(max_abs_difference(scores, expected) < 1e-5f);
    for (int64_t n = 0; n < 6; ++n) {  // alone, a row's scores are bit for bit those it had in the batch
      const Tensor one = p.scores_from_features(point, features.batch_slice(n, n + 1));
      for (int k = 0; k < p.outputs(); ++k) REQUIRE(one[k] == scores[n * p.outputs() + k]);
    }
    // From maps, a sample at a time with no features tensor between: the
    // same scores as through features(), bit for bit.
    const Tensor maps = random_tensor(p.map_shape(point).with_batch(3), 9);
    const Tensor from_maps = p.scores(point, maps), via_features = p.scores_from_features(point, p.features(point, maps));
    REQUIRE(from_maps.shape() == via_features.shape());
    for (int64_t i = 0; i < from_maps.numel(); ++i) REQUIRE(from_maps[i] == via_features[i]);
  }
}

TEST_CASE("each kind of predictor learns a synthetic routing task", "[router]") {
  auto net = small_b_resnet(17);
  const int64_t N = 1200;
  // Labels come from the recorded outputs; the features carry the answer:
  // branch i is confident exactly when feature i of the sample is positive.
  auto make_data = [&](uint64_t seed) {
    Rng rng(seed);
    PredictorData d;
    d.outputs.labels.assign(N, 0);
    d.outputs.predictions.assign(3, std::vector<int>(N, 0));
    d.outputs.entropies.assign(3, std::vector<float>(N, 0.0f));
    d.outputs.loss_sums.assign(3, 0.0);
    d.features.resize(3);
    const Shape input_map = net->sample_shape(), map0 = net->stage_output_shape(0), map1 = net->stage_output_shape(1);
    const FeatureSpec avg = FeatureSpec::parse("avg");
    std::vector<Tensor> f = {Tensor(Shape{N, avg.width(input_map)}), Tensor(Shape{N, avg.width(map0)}),
                             Tensor(Shape{N, avg.width(map1)})};
    for (int64_t n = 0; n < N; ++n) {
      const float a = static_cast<float>(rng.normal()), b = static_cast<float>(rng.normal());
      d.outputs.entropies[0][n] = a > 0 ? 0.1f : 1.2f;
      d.outputs.entropies[1][n] = b > 0 ? 0.1f : 1.2f;
      d.outputs.entropies[2][n] = 0.5f;
      for (int p = 0; p < 3; ++p) {
        const int64_t F = f[p].dim(1);
        for (int64_t k = 0; k < F; ++k) f[p][n * F + k] = static_cast<float>(rng.normal());
        f[p][n * F + 0] = a;  // every point sees both facts
        if (F > 1) f[p][n * F + 1] = b;
      }
    }
    d.features = f;
    return d;
  };
  const PredictorData train = make_data(1), test = make_data(2);
  const std::vector<float> thresholds = {0.5f, 0.5f};
  const std::vector<std::pair<PredictorKind, Placement>> kinds = {
      {PredictorKind::exit, Placement::input}, {PredictorKind::exit, Placement::first},
      {PredictorKind::exit, Placement::each},  {PredictorKind::skip, Placement::each},
      {PredictorKind::entropy, Placement::each}};
  // BranchyNet's exits on the test samples, by the one rule.
  const std::vector<int> truth = replay_route(*net, recorded_run(test.outputs), BranchyRule(*net, thresholds)).exit;
  std::vector<int64_t> count(3, 0);
  for (int e : truth) ++count[e];
  const double majority = static_cast<double>(*std::max_element(count.begin(), count.end())) / N;
  for (auto [kind, placement] : kinds) {
    Rng rng(31);
    Predictor p(*net, settings_for(kind, placement, "avg", 16), rng);
    INFO(p.name());
    FitOptions options;
    options.epochs = 30;
    train_predictor(p, *net, train, thresholds, options);
    // The routed exit under trust (skip: fallback) at a middle knob agrees with BranchyNet's.
    RecordedRun run = recorded_run(test.outputs);
    for (int point : p.points()) run.scores[point + 1] = p.scores_from_features(point, test.features[point + 1]);
    const double knob = kind == PredictorKind::entropy ? 1.0 : 0.5;
    const RouteResult r = replay_route(*net, run, *predictor_rule(p, thresholds, true, knob));
    int64_t same = 0;
    for (int64_t n = 0; n < N; ++n) same += r.exit[n] == truth[n];
    const double agreement = static_cast<double>(same) / N;
    INFO("agreement " << agreement << " against the majority exit's share " << majority);
    REQUIRE(agreement > majority + 0.2);
  }
}

TEST_CASE("a model file with a non-finite weight or a negative threshold is refused, by name", "[router]") {
  auto net = small_b_resnet(19);
  const branchy::testing::TemporaryFolder folder("hostile-model");
  const std::string path = folder.file("model.safetensors");
  ModelInfo info;
  info.thresholds = {0.5f, 0.5f};
  save_model(path, *net, info);
  REQUIRE_NOTHROW(load_model(path));

  // A NaN branch bias once sent every sample out at the branch, "5x faster".
  Checkpoint file = load_safetensors(path);
  for (NamedTensor& t : file.tensors)
    if (t.name == "branch0.fc.bias") t.tensor[1] = std::numeric_limits<float>::quiet_NaN();
  save_safetensors(path, file.tensors, file.metadata);
  REQUIRE_THROWS_WITH(load_model(path), Catch::Contains("branch0.fc.bias") && Catch::Contains("finite"));

  info.thresholds = {-1.0f, 0.5f};  // --thresholds -1 is refused on the command line; so is the file
  save_model(path, *net, info);
  REQUIRE_THROWS_WITH(load_model(path), Catch::Contains(path) && Catch::Contains("threshold -1"));

  // And a NaN entropy never passes a threshold: a NaN logit leaves at the last exit.
  Tensor logits = Tensor::filled(Shape{1, 4}, 0.0f);
  logits[2] = std::numeric_limits<float>::quiet_NaN();
  REQUIRE(std::isnan(softmax_entropy(logits)[0]));
  REQUIRE_FALSE(exits_here(softmax_entropy(logits)[0], 10.0f));
}

TEST_CASE("the route trace says, per sample and policy, what ran and why", "[router]") {
  auto net = small_b_resnet(23);
  const Dataset data = random_image_dataset(10, 29);
  const Tensor images = data.images(0, data.size());
  const std::vector<float> thresholds = median_thresholds(*net, images);
  const auto predictors = every_predictor(*net);
  const std::vector<Policy> policies =
      policies_by_name({"branchy", "exit-pred@first:fallback"}, *net, thresholds, pointers(predictors));
  const branchy::testing::TemporaryFolder folder("trace");
  write_route_traces(folder.file("trace.jsonl"), policies, data, nullptr, thresholds);
  write_route_traces(folder.file("trace.csv"), policies, data, nullptr, thresholds);

  std::ifstream jsonl(folder.file("trace.jsonl"));
  std::vector<Json> lines;
  for (std::string line; std::getline(jsonl, line);) lines.push_back(parse_json(line, "trace"));
  REQUIRE(lines.size() == 20);  // 10 samples x 2 policies
  const RouteResult branchy = infer_early_exit(*net, images, thresholds);
  for (int64_t n = 0; n < 10; ++n) {
    const Json& j = lines[n];
    REQUIRE(json_string(j, "policy") == "branchy");
    REQUIRE(json_int(j, "sample") == n);
    REQUIRE(json_int(j, "label") == data.labels[n]);
    REQUIRE(json_int(j, "exit") == branchy.exit[n]);
    REQUIRE(json_int(j, "answer") == branchy.prediction[n]);
    REQUIRE(json_int(j, "macs") == branchy.macs[n]);
    // BranchyNet tries every branch up to its exit; each entropy is there beside its threshold.
    REQUIRE(j.at("entropies").size() == static_cast<size_t>(std::min(branchy.exit[n] + 1, 2)));
    for (const Json& e : j.at("entropies")) {
      const bool left_here = json_int(e, "branch") == branchy.exit[n];
      REQUIRE(exits_here(static_cast<float>(json_double(e, "entropy")), static_cast<float>(json_double(e, "threshold"))) ==
              left_here);
    }
    REQUIRE(j.at("scores").empty());
  }
  for (int64_t n = 0; n < 10; ++n) {  // the predictor's outputs at point 0: a probability per exit
    const Json& scores = lines[10 + n].at("scores");
    REQUIRE(scores.size() == 1);
    REQUIRE(scores.at("point0").size() == 3);
    double total = 0;
    for (const Json& p : scores.at("point0")) total += json_double(p);
    REQUIRE(total == Approx(1.0));
  }
  std::ifstream csv(folder.file("trace.csv"));
  std::vector<std::string> rows;
  for (std::string line; std::getline(csv, line);) rows.push_back(line);
  REQUIRE(rows.size() == 21);
  REQUIRE(rows[0] == "policy,sample,label,tried,entropies,scores,exit,answer,macs,buffered_bytes");
  // Sample 0 under branchy: it tried branch 0 first, whose entropy comes first.
  REQUIRE(rows[1].rfind("branchy,0," + std::to_string(data.labels[0]) + ",0", 0) == 0);
  REQUIRE(rows[1].find(",0:") != std::string::npos);
  REQUIRE(rows[1].find("(threshold ") != std::string::npos);
}

TEST_CASE("grid averages match the definition on maps whose cells overlap and are narrower than a vector", "[router]") {
  for (auto [H, W, grid] : {std::tuple{30, 30, 4}, std::tuple{15, 15, 4}, std::tuple{28, 28, 7}, std::tuple{9, 9, 2},
                            std::tuple{32, 32, 1}, std::tuple{5, 40, 3}}) {
    const Tensor map = random_tensor(Shape{1, 2, H, W}, 43);
    const Tensor features = extract_features(map, FeatureSpec::parse(grid == 1 ? "avg" : "grid" + std::to_string(grid)));
    REQUIRE(features.shape() == Shape{1, 2 * grid * grid});
    for (int64_t c = 0; c < 2; ++c)
      for (int gy = 0; gy < grid; ++gy)
        for (int gx = 0; gx < grid; ++gx) {
          // Cell bounds: floor of the start, ceiling of the end (neighbours may share a row).
          const int64_t y0 = gy * H / grid, y1 = ((gy + 1) * H + grid - 1) / grid;
          const int64_t x0 = gx * W / grid, x1 = ((gx + 1) * W + grid - 1) / grid;
          double total = 0;
          for (int64_t y = y0; y < y1; ++y)
            for (int64_t x = x0; x < x1; ++x) total += map.at(0, c, y, x);
          INFO(H << "x" << W << " grid " << grid << " cell " << gy << "," << gx);
          REQUIRE(features[(c * grid + gy) * grid + gx] == Approx(total / ((y1 - y0) * (x1 - x0))).margin(1e-5));
        }
  }
}

TEST_CASE("feature summaries are each cell's plain average and each plane's maximum", "[router]") {
  const Tensor map = random_tensor(Shape{2, 3, 7, 10}, 41);  // cells of unequal sizes: 7 and 10 split 3 ways
  const FeatureSpec spec = FeatureSpec::parse("avg+grid3+max");
  const Tensor features = extract_features(map, spec);  // (2, 3 * (1 + 9 + 1))
  REQUIRE(features.shape() == Shape{2, 33});
  for (int64_t n = 0; n < 2; ++n) {
    const float* row = features.data() + n * 33;
    for (int64_t c = 0; c < 3; ++c) {
      double all = 0;
      float largest = map.at(n, c, 0, 0);
      for (int64_t y = 0; y < 7; ++y)
        for (int64_t x = 0; x < 10; ++x) {
          all += map.at(n, c, y, x);
          largest = std::max(largest, map.at(n, c, y, x));
        }
      REQUIRE(row[c] == Approx(all / 70).margin(1e-6));
      REQUIRE(row[3 + 27 + c] == largest);
      for (int gy = 0; gy < 3; ++gy)
        for (int gx = 0; gx < 3; ++gx) {
          // Cells overlap at uneven splits: rows [floor(gy*H/3), ceil((gy+1)*H/3)).
          const int64_t y0 = gy * 7 / 3, y1 = ((gy + 1) * 7 + 2) / 3, x0 = gx * 10 / 3, x1 = ((gx + 1) * 10 + 2) / 3;
          double cell = 0;
          for (int64_t y = y0; y < y1; ++y)
            for (int64_t x = x0; x < x1; ++x) cell += map.at(n, c, y, x);
          REQUIRE(row[3 + c * 9 + gy * 3 + gx] == Approx(cell / double((y1 - y0) * (x1 - x0))).margin(1e-6));
        }
    }
  }
  // A max read before any grid takes its own pass; after a grid it comes
  // from the grid's bands: the same values.
  const Tensor max_first = extract_features(map, FeatureSpec::parse("max+grid3"));  // (2, 3 * (1 + 9))
  REQUIRE(max_first.shape() == Shape{2, 30});
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 3; ++c) {
      REQUIRE(max_first[n * 30 + c] == features[n * 33 + 30 + c]);
      for (int cell = 0; cell < 9; ++cell) REQUIRE(max_first[n * 30 + 3 + c * 9 + cell] == features[n * 33 + 3 + c * 9 + cell]);
    }
}

TEST_CASE("cost weighting makes skip-pred err where mistakes are cheap", "[router]") {
  // Branch 0 of this b-resnet costs under half the stages after it, so
  // skipping a branch that would have answered wastes far more MACs than
  // trying one that would not. Whether branch 0 is confident is only half
  // told by the feature (noise as large as the signal): a plain head splits
  // the doubt evenly, a cost-weighted one should lean to trying.
  auto net = small_b_resnet(19);
  REQUIRE(net->branch_macs(0) * 2 < net->stage_macs(1) + net->stage_macs(2));
  const PredictorData train = half_told_data(*net, 2000, 3, false), test = half_told_data(*net, 2000, 4, false);
  const std::vector<float> thresholds = {0.5f, 0.5f};
  const RecordedRun recorded = recorded_run(test.outputs);
  auto fit_and_route = [&](bool cost_weighted) {
    PredictorSettings s = settings_for(PredictorKind::skip, Placement::each, "avg", 8);
    s.cost_weighted = cost_weighted;
    Rng rng(5);
    Predictor p(*net, s, rng);
    FitOptions options;
    options.epochs = 15;
    train_predictor(p, *net, train, thresholds, options);
    RecordedRun run = recorded;
    for (int point : p.points()) run.scores[point + 1] = p.scores_from_features(point, test.features[point + 1]);
    return summarize_route(replay_route(*net, run, *predictor_rule(p, thresholds, false, 0.5)),
                           test.outputs.labels, 3);
  };
  const RouteSummary plain = fit_and_route(false), weighted = fit_and_route(true);
  const RouteSummary branchy =
      summarize_route(replay_route(*net, recorded, BranchyRule(*net, thresholds)), test.outputs.labels, 3);
  INFO("MACs: plain " << plain.mean_macs << ", cost-weighted " << weighted.mean_macs << ", branchy "
                      << branchy.mean_macs);
  REQUIRE(weighted.mean_macs < plain.mean_macs);
  // Fallback routing keeps BranchyNet's answers, weighted or not.
  REQUIRE(branchy.accuracy == 1.0);
  REQUIRE(weighted.accuracy == branchy.accuracy);
  REQUIRE(plain.accuracy == branchy.accuracy);
  REQUIRE(weighted.exit_share[0] > plain.exit_share[0]);
}

TEST_CASE("a knob per branch point is never worse than the one knob, and routes as it says", "[router]") {
  // Gates at both points of a b-resnet, on recorded outputs whose branch
  // confidence the features half tell (as in the cost-weighting case above).
  auto net = small_b_resnet(23);
  const PredictorData train = half_told_data(*net, 1500, 7, true), held_out = half_told_data(*net, 1500, 8, true);
  const std::vector<float> thresholds = {0.5f, 0.5f};
  for (PredictorKind kind : {PredictorKind::skip, PredictorKind::exit}) {
    for (bool trust : {false, true}) {
      if (kind == PredictorKind::skip && trust) continue;  // skip-pred always falls back
      Rng rng(9);
      Predictor p(*net, settings_for(kind, Placement::each, "avg", 8), rng);
      FitOptions options;
      options.epochs = 10;
      train_predictor(p, *net, train, thresholds, options);
      const double max_drop = 0.01;
      const KnobChoice choice = choose_knob(p, *net, held_out, thresholds, trust, max_drop);
      INFO(p.name() << (trust ? " trust" : " fallback") << ": one knob " << choice.chosen.summary.mean_macs
                    << " MACs, acc " << choice.chosen.summary.accuracy << "; per point "
                    << choice.refined.summary.mean_macs << ", " << choice.refined.summary.accuracy);
      const double floor = choice.branchy.accuracy - max_drop;
      if (choice.chosen.summary.accuracy >= floor) {
        REQUIRE(choice.refined.summary.accuracy >= floor);
        REQUIRE(choice.refined.summary.mean_macs <= choice.chosen.summary.mean_macs);
      } else {
        REQUIRE(choice.refined.summary.accuracy >= choice.chosen.summary.accuracy);
      }
      // What the predictor stores routes exactly as the refinement measured.
      RecordedRun run = recorded_run(held_out.outputs);
      for (int point : p.points()) run.scores[point + 1] = p.scores_from_features(point, held_out.features[point + 1]);
      const RouteSummary stored = summarize_route(replay_route(*net, run, *predictor_rule(p, thresholds, trust)),
                                                  held_out.outputs.labels, 3);
      REQUIRE(stored.mean_macs == choice.refined.summary.mean_macs);
      REQUIRE(stored.accuracy == choice.refined.summary.accuracy);
      const std::vector<double>& knobs = trust ? p.settings().trust_point_knobs : p.settings().fallback_point_knobs;
      REQUIRE(knobs == choice.point_knobs);
      // The note says what the knobs were chosen for and gave.
      const std::optional<KnobChoiceNote>& note = p.settings().choice(trust);
      REQUIRE(note);
      REQUIRE(note->max_drop == max_drop);
      REQUIRE(note->held_out_change == Approx(choice.refined.summary.accuracy - choice.branchy.accuracy));
      // Replayed on the same samples, the stored choice measures as chosen;
      // on other samples it keeps the grid and reports the stored knobs.
      const KnobChoice same = replay_knob_choice(p, *net, held_out, thresholds, trust);
      REQUIRE(same.chosen.knob == choice.chosen.knob);
      REQUIRE(same.chosen.summary.mean_macs == choice.chosen.summary.mean_macs);
      REQUIRE(same.refined.summary.accuracy == choice.refined.summary.accuracy);
      REQUIRE(same.refined.summary.mean_macs == choice.refined.summary.mean_macs);
      REQUIRE(same.point_knobs == choice.point_knobs);
      REQUIRE(same.sweep.size() == choice.sweep.size());
      REQUIRE(same.frontier.size() == choice.frontier.size());
      const PredictorData other = half_told_data(*net, 700, 11, true);
      const KnobChoice elsewhere = replay_knob_choice(p, *net, other, thresholds, trust);
      REQUIRE(elsewhere.sweep.size() == choice.sweep.size());
      REQUIRE(elsewhere.branchy.samples == 700);
      REQUIRE(elsewhere.refined.summary.samples == 700);
      REQUIRE(elsewhere.point_knobs == choice.point_knobs);
      REQUIRE(p.settings().choice(trust)->held_out_change == note->held_out_change);  // replay changes nothing
    }
  }
}
