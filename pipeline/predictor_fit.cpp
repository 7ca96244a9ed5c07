#include "pipeline/predictor_fit.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "datasets/batcher.h"
#include "engine/error.h"
#include "engine/loss.h"
#include "engine/optimizer.h"
#include "nets/early_exit.h"
#include "predictors/predictor_rules.h"

namespace branchy {

PredictorData collect_predictor_data(BranchyNet& net, const Predictor& predictor, const Dataset& data,
                                     const Normalizer* normalizer, int batch,
                                     const std::function<void(int64_t)>& progress) {
  const int K = net.num_exits() - 1;
  PredictorData out;
  ExitOutputs& o = out.outputs;
  o.labels = data.labels;
  o.predictions.assign(K + 1, {});
  o.entropies.assign(K + 1, {});
  o.loss_sums.assign(K + 1, 0.0);
  std::vector<std::vector<Tensor>> feature_batches(K + 1);  // per point + 1
  auto record_exit = [&](int e, const Tensor& logits) {
    const std::vector<int> answers = argmax_rows(logits);
    const std::vector<float> entropy = softmax_entropy(logits);
    o.predictions[e].insert(o.predictions[e].end(), answers.begin(), answers.end());
    o.entropies[e].insert(o.entropies[e].end(), entropy.begin(), entropy.end());
  };
  for (int64_t begin = 0; begin < data.size(); begin += batch) {
    const int64_t end = std::min<int64_t>(data.size(), begin + batch);
    Tensor h = normalized_images(data, begin, end, normalizer);  // (B, C, H, W)
    if (predictor.reads(-1)) feature_batches[0].push_back(predictor.features(-1, h));
    for (int i = 0; i <= K; ++i) {
      h = net.stage(i).forward(h, Mode::eval);  // (B, C_i, H_i, W_i), or the last exit's logits
      if (i == K) {
        record_exit(K, h);
        break;
      }
      record_exit(i, net.branch(i).forward(h, Mode::eval));
      if (predictor.reads(i)) feature_batches[i + 1].push_back(predictor.features(i, h));
    }
    if (progress) progress(end);
  }
  out.features.resize(K + 1);
  for (int p = 0; p <= K; ++p)
    if (!feature_batches[p].empty()) out.features[p] = concat_batch(feature_batches[p]);
  return out;
}

namespace {

// BranchyNet's exit of every sample under `thresholds`.
std::vector<int> branchy_exits(const BranchyNet& net, const ExitOutputs& outputs,
                               const std::vector<float>& thresholds) {
  return replay_route(net, recorded_run(outputs), BranchyRule(net, thresholds)).exit;
}

// The samples a head at `point` learns from, and their class (or, for the
// entropy kind, the target value in `targets`).
struct PointLabels {
  std::vector<int64_t> samples;
  std::vector<int> classes;
  std::vector<float> targets;
  std::vector<float> weights;  // per sample when cost-weighted, else empty
};

// MACs of sample n's route from point i onwards when branch i is skipped:
// stages i+1.. and the branches tried on the way, up to the first later exit
// whose branch is confident (or the last exit).
double macs_past_point(const BranchyNet& net, const ExitOutputs& o, const std::vector<float>& thresholds, int point,
                       int64_t n) {
  const int K = net.num_exits() - 1;
  double macs = 0;
  for (int j = point + 1; j <= K; ++j) {
    macs += static_cast<double>(net.stage_macs(j));
    if (j == K) break;
    macs += static_cast<double>(net.branch_macs(j));
    if (exits_here(o.entropies[j][n], thresholds[j])) break;
  }
  return macs;
}

// What a wrong decision on sample n at `point` costs, in MACs (see the header).
// Wrong answers are priced only for the exit kind: skip@each always falls
// back, so a branch it tries never answers unless confident.
float mistake_cost(const BranchyNet& net, const PredictorSettings& s, const ExitOutputs& o,
                   const std::vector<float>& thresholds, int point, int64_t n, bool answers_here) {
  const double branch = static_cast<double>(net.branch_macs(point));
  if (answers_here) return static_cast<float>(std::max(macs_past_point(net, o, thresholds, point, n) - branch, 0.0));
  const bool wrong = s.kind == PredictorKind::exit && o.predictions[point][n] != o.labels[n];
  return static_cast<float>(branch + (wrong ? static_cast<double>(net.full_macs()) : 0.0));
}

void scale_to_mean_one(std::vector<float>& weights) {
  double sum = 0;
  for (float w : weights) sum += w;
  if (sum <= 0) return;
  const double scale = static_cast<double>(weights.size()) / sum;
  for (float& w : weights) w = static_cast<float>(w * scale);
}

PointLabels labels_at(const BranchyNet& net, const PredictorSettings& s, int point, const ExitOutputs& o,
                      const std::vector<int>& exits, const std::vector<float>& thresholds) {
  PointLabels l;
  for (int64_t n = 0; n < o.size(); ++n) {
    if (s.kind == PredictorKind::exit && s.placement != Placement::each) {
      l.classes.push_back(exits[n]);
    } else if (s.kind == PredictorKind::exit) {
      if (exits[n] < point) continue;  // BranchyNet never brings it here
      l.classes.push_back(exits[n] == point);
    } else if (s.kind == PredictorKind::skip) {
      l.classes.push_back(exits_here(o.entropies[point][n], thresholds[point]));
    } else {
      l.targets.push_back(o.entropies[point][n]);
    }
    l.samples.push_back(n);
    if (s.cost_weighted) l.weights.push_back(mistake_cost(net, s, o, thresholds, point, n, l.classes.back() == 1));
  }
  scale_to_mean_one(l.weights);
  return l;
}

template <typename T>
std::vector<T> pick(const std::vector<T>& values, const std::vector<int64_t>& order, int64_t begin, int64_t end) {
  std::vector<T> picked;
  for (int64_t k = begin; k < end; ++k) picked.push_back(values[order[k]]);
  return picked;
}

// Trains the head at `point` on its labelled samples.
void train_head(Predictor& predictor, int point, const Tensor& all_features, const PointLabels& labels,
                const FitOptions& options, Rng& rng) {
  if (labels.samples.empty()) return;
  Tensor x = gather_rows(all_features, labels.samples);  // (n, F)
  predictor.fit_standardisation(point, x);
  predictor.standardise(point, x);
  AdamOptions adam;
  adam.learning_rate = options.learning_rate;
  Adam optimizer(predictor.trainable_params(point), adam);
  const int64_t n = x.dim(0);
  std::vector<int64_t> order(n);
  for (int epoch = 0; epoch < options.epochs; ++epoch) {
    std::iota(order.begin(), order.end(), 0);
    for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[rng.below(static_cast<uint64_t>(i + 1))]);
    double loss_sum = 0;
    for (int64_t begin = 0; begin < n; begin += options.batch) {
      const int64_t end = std::min<int64_t>(n, begin + options.batch);
      const std::vector<int64_t> rows(order.begin() + begin, order.begin() + end);
      optimizer.zero_grad();
      const Tensor out = predictor.forward_standardised(point, gather_rows(x, rows), Mode::train);  // (b, outputs)
      Tensor d_out;
      float loss = 0;
      if (predictor.is_classifier() && !labels.weights.empty()) {
        loss = weighted_softmax_cross_entropy(out, pick(labels.classes, order, begin, end),
                                              pick(labels.weights, order, begin, end), &d_out);
      } else if (predictor.is_classifier()) {
        loss = softmax_cross_entropy(out, pick(labels.classes, order, begin, end), &d_out);
      } else {
        const std::vector<float> target = pick(labels.targets, order, begin, end);
        loss = mse_loss(out, Tensor::from_vector(out.shape(), target), &d_out);
      }
      BRANCHY_CHECK(std::isfinite(loss), predictor.name(), " at point ", point, ": the loss became ", loss,
                    " in epoch ", epoch + 1);
      predictor.backward(point, d_out);
      optimizer.step();
      loss_sum += static_cast<double>(loss) * (end - begin);
    }
    if (options.progress) options.progress(point, epoch + 1, loss_sum / n);
  }
}

}  // namespace

void train_predictor(Predictor& predictor, const BranchyNet& net, const PredictorData& train,
                     const std::vector<float>& thresholds, const FitOptions& options) {
  Rng rng(options.seed);
  const std::vector<int> exits = branchy_exits(net, train.outputs, thresholds);
  for (int point : predictor.points())
    train_head(predictor, point, train.features[point + 1],
               labels_at(net, predictor.settings(), point, train.outputs, exits, thresholds), options, rng);
}

namespace {

// The route `rule` gives the recorded samples, summarised, and how often it
// picks BranchyNet's exit.
KnobSetting route_setting(const BranchyNet& net, const RecordedRun& run, const RouteRule& rule,
                          const std::vector<int>& labels, const std::vector<int>& reference_exits) {
  const RouteResult route = replay_route(net, run, rule);
  KnobSetting s;
  s.summary = summarize_route(route, labels, net.num_exits());
  int64_t same = 0;
  for (size_t n = 0; n < route.exit.size(); ++n) same += route.exit[n] == reference_exits[n];
  s.agreement = route.exit.empty() ? 0.0 : static_cast<double>(same) / route.exit.size();
  return s;
}

// Whether `a` is a better setting than `b` for a route that may lose
// max_drop against BranchyNet's accuracy: within it, fewer MACs; outside,
// more accuracy; within beats outside.
bool better_setting(const RouteSummary& a, const RouteSummary& b, double floor) {
  const bool a_within = a.accuracy >= floor, b_within = b.accuracy >= floor;
  if (a_within != b_within) return a_within;
  return a_within ? a.mean_macs < b.mean_macs : a.accuracy > b.accuracy;
}

// Coordinate search for a knob per branch point, from the one chosen knob.
void refine_point_knobs(Predictor& predictor, BranchyNet& net, const RecordedRun& run,
                        const std::vector<float>& thresholds, const std::vector<int>& labels,
                        const std::vector<int>& reference_exits, bool trust, double max_drop, KnobChoice& choice) {
  const double floor = choice.branchy.accuracy - max_drop;
  std::vector<double> knobs(predictor.points().size(), choice.chosen.knob);
  KnobSetting best = choice.chosen;
  bool changed = false;
  for (int pass = 0; pass < 2; ++pass)
    for (size_t point = 0; point < knobs.size(); ++point)
      for (double knob : knob_grid(predictor.settings())) {
        std::vector<double> trial = knobs;
        trial[point] = knob;
        const KnobSetting s =
            route_setting(net, run, *predictor_rule(predictor, thresholds, trust, trial), labels, reference_exits);
        if (!better_setting(s.summary, best.summary, floor)) continue;
        knobs = trial;
        best = s;
        changed = true;
      }
  if (!changed) return;
  choice.point_knobs = knobs;
  choice.refined = best;
  predictor.set_point_knobs(trust, knobs);
}

}  // namespace

namespace {

// The recorded samples with the predictor's scores at every point it reads.
RecordedRun scored_run(Predictor& predictor, const PredictorData& data) {
  RecordedRun run = recorded_run(data.outputs);
  for (int point : predictor.points())
    run.scores[point + 1] = predictor.scores_from_features(point, data.features[point + 1]);
  return run;
}

// BranchyNet on the recorded samples, every knob of the grid, and the
// frontier: the settings no other beats on both accuracy and MACs.
KnobChoice sweep_grid(Predictor& predictor, BranchyNet& net, const RecordedRun& run, const std::vector<int>& labels,
                      const std::vector<int>& reference_exits, const std::vector<float>& thresholds, bool trust) {
  KnobChoice choice;
  choice.branchy = summarize_route(replay_route(net, run, BranchyRule(net, thresholds)), labels, net.num_exits());
  for (double knob : knob_grid(predictor.settings())) {
    KnobSetting s =
        route_setting(net, run, *predictor_rule(predictor, thresholds, trust, knob), labels, reference_exits);
    s.knob = knob;
    choice.sweep.push_back(s);
  }
  std::vector<KnobSetting> by_cost = choice.sweep;
  std::sort(by_cost.begin(), by_cost.end(), [](const KnobSetting& a, const KnobSetting& b) {
    return a.summary.mean_macs != b.summary.mean_macs ? a.summary.mean_macs < b.summary.mean_macs
                                                      : a.summary.accuracy > b.summary.accuracy;
  });
  double best = -1;
  for (const KnobSetting& s : by_cost)
    if (s.summary.accuracy > best) {
      best = s.summary.accuracy;
      choice.frontier.push_back(s);
    }
  return choice;
}

}  // namespace

KnobChoice choose_knob(Predictor& predictor, BranchyNet& net, const PredictorData& held_out,
                       const std::vector<float>& thresholds, bool trust, double max_drop) {
  const RecordedRun run = scored_run(predictor, held_out);
  const std::vector<int>& labels = held_out.outputs.labels;
  const std::vector<int> reference_exits = branchy_exits(net, held_out.outputs, thresholds);
  KnobChoice choice = sweep_grid(predictor, net, run, labels, reference_exits, thresholds, trust);
  choice.chosen = choice.frontier.back();  // the most accurate, when none is within max_drop
  for (const KnobSetting& s : choice.frontier)
    if (s.summary.accuracy >= choice.branchy.accuracy - max_drop) {
      choice.chosen = s;
      break;
    }
  predictor.set_knob(trust, choice.chosen.knob);
  choice.refined = choice.chosen;
  if (predictor.settings().placement == Placement::each)
    refine_point_knobs(predictor, net, run, thresholds, labels, reference_exits, trust, max_drop, choice);
  predictor.set_choice_note(trust, {max_drop, choice.refined.summary.accuracy - choice.branchy.accuracy});
  return choice;
}

KnobChoice replay_knob_choice(Predictor& predictor, BranchyNet& net, const PredictorData& samples,
                              const std::vector<float>& thresholds, bool trust) {
  const RecordedRun run = scored_run(predictor, samples);
  const std::vector<int>& labels = samples.outputs.labels;
  const std::vector<int> reference_exits = branchy_exits(net, samples.outputs, thresholds);
  KnobChoice choice = sweep_grid(predictor, net, run, labels, reference_exits, thresholds, trust);
  const PredictorSettings& settings = predictor.settings();
  choice.chosen = route_setting(net, run, *predictor_rule(predictor, thresholds, trust, settings.knob(trust)), labels,
                                reference_exits);
  choice.chosen.knob = settings.knob(trust);
  choice.refined = choice.chosen;
  const std::vector<double>& point_knobs = trust ? settings.trust_point_knobs : settings.fallback_point_knobs;
  if (!point_knobs.empty()) {
    choice.point_knobs = point_knobs;
    choice.refined = route_setting(net, run, *predictor_rule(predictor, thresholds, trust), labels, reference_exits);
    choice.refined.knob = choice.chosen.knob;
  }
  return choice;
}

}  // namespace branchy
