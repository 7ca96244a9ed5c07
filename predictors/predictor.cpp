#include "predictors/predictor.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/kernels.h"
#include "engine/loss.h"
#include "layers/linear.h"
#include "layers/relu.h"

namespace branchy {

std::string to_string(PredictorKind kind) {
  switch (kind) {
    case PredictorKind::entropy: return "entropy";
    case PredictorKind::exit: return "exit";
    case PredictorKind::skip: return "skip";
  }
  return "?";
}

std::string to_string(Placement placement) {
  switch (placement) {
    case Placement::input: return "input";
    case Placement::first: return "first";
    case Placement::each: return "each";
  }
  return "?";
}

PredictorKind parse_predictor_kind(const std::string& text) {
  if (text == "entropy") return PredictorKind::entropy;
  if (text == "exit") return PredictorKind::exit;
  if (text == "skip") return PredictorKind::skip;
  fail("unknown predictor kind '", text, "' (known: entropy, exit, skip)");
}

Placement parse_placement(const std::string& text) {
  if (text == "input") return Placement::input;
  if (text == "first") return Placement::first;
  if (text == "each") return Placement::each;
  fail("unknown placement '", text, "' (known: input, first, each)");
}

std::string PredictorSettings::name() const { return to_string(kind) + "@" + to_string(placement); }

double PredictorSettings::knob(bool trust, int point) const {
  const std::vector<double>& per_point = trust ? trust_point_knobs : fallback_point_knobs;
  return per_point.empty() ? knob(trust) : per_point[static_cast<size_t>(point)];
}

void PredictorSettings::check() const {
  BRANCHY_CHECK(kind == PredictorKind::exit || placement == Placement::each, "a ", to_string(kind),
                " predictor sits at each branch point (placement each), not '", to_string(placement), "'");
  BRANCHY_CHECK(!cost_weighted || (placement == Placement::each && kind != PredictorKind::entropy), name(),
                ": cost weighting prices the decision at each branch point: kinds exit and skip, placement each");
  BRANCHY_CHECK(!features.parts.empty(), name(), ": no features");
  BRANCHY_CHECK(hidden >= 1 && hidden <= 4096, name(), ": hidden width ", hidden, " is outside 1..4096");
  BRANCHY_CHECK(std::isfinite(trust_knob) && std::isfinite(fallback_knob), name(), ": knobs ", trust_knob, " and ",
                fallback_knob, " must be finite");
  BRANCHY_CHECK(placement == Placement::each || (trust_point_knobs.empty() && fallback_point_knobs.empty()), name(),
                ": knobs per branch point belong to predictors at each point");
  for (const std::vector<double>* knobs : {&trust_point_knobs, &fallback_point_knobs})
    for (double k : *knobs) BRANCHY_CHECK(std::isfinite(k), name(), ": a knob per point is ", k, ", not finite");
  for (const std::optional<KnobChoiceNote>* note : {&trust_choice, &fallback_choice})
    BRANCHY_CHECK(!*note || (std::isfinite((*note)->max_drop) && (*note)->max_drop >= 0 &&
                             std::isfinite((*note)->held_out_change)),
                  name(), ": a knob choice's max_drop and held_out_change must be finite (max_drop >= 0)");
}

Json PredictorSettings::to_json() const {
  Json j = Json::object();
  j["kind"] = to_string(kind);
  j["placement"] = to_string(placement);
  j["features"] = features.str();
  j["hidden"] = hidden;
  if (cost_weighted) j["cost_weighted"] = true;
  j["trust_knob"] = trust_knob;
  j["fallback_knob"] = fallback_knob;
  if (!trust_point_knobs.empty()) j["trust_point_knobs"] = trust_point_knobs;
  if (!fallback_point_knobs.empty()) j["fallback_point_knobs"] = fallback_point_knobs;
  for (auto [key, note] : {std::pair{"trust_choice", &trust_choice}, std::pair{"fallback_choice", &fallback_choice}})
    if (*note) j[key] = Json{{"max_drop", (*note)->max_drop}, {"held_out_change", (*note)->held_out_change}};
  return j;
}

PredictorSettings PredictorSettings::from_json(const Json& json, const std::string& where) {
  try {
    BRANCHY_CHECK(json.is_object(), "a predictor entry must be a JSON object");
    PredictorSettings s;
    s.kind = parse_predictor_kind(json_string(json, "kind"));
    s.placement = parse_placement(json_string(json, "placement"));
    s.features = FeatureSpec::parse(json_string(json, "features"));
    s.hidden = static_cast<int>(std::clamp<int64_t>(json_int(json, "hidden"), -1, 1 << 20));
    s.cost_weighted = json.contains("cost_weighted") && json.at("cost_weighted") == true;
    s.trust_knob = json_double(json, "trust_knob");
    s.fallback_knob = json_double(json, "fallback_knob");
    for (auto [key, knobs] : {std::pair{"trust_point_knobs", &s.trust_point_knobs},
                              std::pair{"fallback_point_knobs", &s.fallback_point_knobs}}) {
      if (!json.contains(key)) continue;
      const Json& list = json.at(key);
      BRANCHY_CHECK(list.is_array() && list.size() <= 1024, "'", key, "' must be a list of numbers");
      for (const Json& k : list) {
        BRANCHY_CHECK(k.is_number(), "'", key, "' must be a list of numbers");
        knobs->push_back(k.get<double>());
      }
    }
    for (auto [key, note] : {std::pair{"trust_choice", &s.trust_choice},
                             std::pair{"fallback_choice", &s.fallback_choice}}) {
      if (!json.contains(key)) continue;
      const Json& entry = json.at(key);
      BRANCHY_CHECK(entry.is_object(), "'", key, "' must be an object");
      *note = KnobChoiceNote{json_double(entry, "max_drop"), json_double(entry, "held_out_change")};
    }
    s.check();
    return s;
  } catch (const Error& e) {
    fail(where, ": ", e.what());
  }
}

Predictor::Predictor(const BranchyNet& net, PredictorSettings settings, Rng& rng) : settings_(std::move(settings)) {
  settings_.check();
  const int K = net.num_exits() - 1;
  BRANCHY_CHECK(K >= 1, net.name(), " has no branch to predict");
  switch (settings_.placement) {
    case Placement::input: points_ = {-1}; break;
    case Placement::first: points_ = {0}; break;
    case Placement::each:
      for (int i = 0; i < K; ++i) points_.push_back(i);
      break;
  }
  for (const std::vector<double>* knobs : {&settings_.trust_point_knobs, &settings_.fallback_point_knobs})
    BRANCHY_CHECK(knobs->empty() || static_cast<int>(knobs->size()) == K, name(), ": ", knobs->size(),
                  " knobs per point for ", K, " branch points");
  outputs_ = settings_.kind == PredictorKind::entropy ? 1 : settings_.placement == Placement::each ? 2 : K + 1;
  for (int point : points_) {
    const Shape map = point < 0 ? net.sample_shape() : net.stage_output_shape(point);
    map_shapes_.push_back(map);
    const int F = static_cast<int>(settings_.features.width(map));
    auto h = std::make_unique<Head>(settings_.features, map);
    h->fc1 = &h->network.emplace<Linear>("fc1", F, settings_.hidden, rng);
    h->network.emplace<ReLU>("relu");
    h->fc2 = &h->network.emplace<Linear>("fc2", settings_.hidden, outputs_, rng);
    h->feature_mean = Param(Shape{F}, false);
    h->feature_inv_std = Param(Shape{F}, false);
    h->feature_inv_std.value.fill(1.0f);
    heads_.push_back(std::move(h));
  }
}

void Predictor::set_knob(bool trust, double knob) {
  (trust ? settings_.trust_knob : settings_.fallback_knob) = knob;
  (trust ? settings_.trust_point_knobs : settings_.fallback_point_knobs).clear();
}

void Predictor::set_point_knobs(bool trust, std::vector<double> knobs) {
  BRANCHY_CHECK(settings_.placement == Placement::each && knobs.size() == points_.size(), name(), ": ", knobs.size(),
                " knobs per point for ", points_.size(), " points");
  (trust ? settings_.trust_point_knobs : settings_.fallback_point_knobs) = std::move(knobs);
}

void Predictor::set_choice_note(bool trust, KnobChoiceNote note) {
  (trust ? settings_.trust_choice : settings_.fallback_choice) = note;
}

bool Predictor::reads(int point) const { return std::find(points_.begin(), points_.end(), point) != points_.end(); }

Predictor::Head& Predictor::head(int point) {
  return *heads_[std::find(points_.begin(), points_.end(), point) - points_.begin()];
}

const Predictor::Head& Predictor::head(int point) const {
  const auto it = std::find(points_.begin(), points_.end(), point);
  BRANCHY_CHECK(it != points_.end(), name(), " does not read point ", point);
  return *heads_[it - points_.begin()];
}

Shape Predictor::map_shape(int point) const {
  head(point);  // checks the point
  return map_shapes_[std::find(points_.begin(), points_.end(), point) - points_.begin()];
}

void Predictor::check_map(int point, const Tensor& map) const {
  BRANCHY_CHECK(map.rank() == 4 && map.shape().with_batch(1) == map_shape(point), name(), " at point ", point,
                " reads maps ", map_shape(point).str(), ", got ", map.shape().str());
}

Tensor Predictor::features(int point, const Tensor& map) const {
  check_map(point, map);
  return head(point).plan.extract_all(map);
}

void Predictor::standardise(int point, Tensor& features) const {
  const Head& h = head(point);
  const int64_t N = features.dim(0), F = features.dim(1);
  BRANCHY_CHECK(F == h.feature_mean.value.numel(), name(), ": ", F, " features, want ", h.feature_mean.value.numel());
  const float* mean = h.feature_mean.value.data();
  const float* inv_std = h.feature_inv_std.value.data();
  for (int64_t n = 0; n < N; ++n) {
    float* row = features.data() + n * F;
    for (int64_t f = 0; f < F; ++f) row[f] = (row[f] - mean[f]) * inv_std[f];
  }
}

void Predictor::fit_standardisation(int point, const Tensor& features) {
  Head& h = head(point);
  const int64_t N = features.dim(0), F = features.dim(1);
  BRANCHY_CHECK(N >= 1, name(), ": no samples to standardise on");
  for (int64_t f = 0; f < F; ++f) {
    double sum = 0, sum_sq = 0;
    for (int64_t n = 0; n < N; ++n) {
      const double v = features.data()[n * F + f];
      sum += v;
      sum_sq += v * v;
    }
    const double mean = sum / N, variance = std::max(0.0, sum_sq / N - mean * mean);
    h.feature_mean.value[f] = static_cast<float>(mean);
    // A constant feature carries nothing: scale it to zero rather than divide by ~0.
    h.feature_inv_std.value[f] = variance > 1e-12 ? static_cast<float>(1.0 / std::sqrt(variance)) : 0.0f;
  }
}

Tensor Predictor::forward_standardised(int point, const Tensor& standardised, Mode mode) {
  return head(point).network.forward(standardised, mode);
}

void Predictor::backward(int point, const Tensor& d_outputs) { head(point).network.backward(d_outputs); }

// The head in eval mode, one row at a time (matrix-vector products): the router asks
// for one sample's scores at a time, where a GEMM call and the layers' output
// tensors cost more than the 85 x 32 multiply-adds themselves (b-lenet:
// 0.53 -> 0.1 us). Row by row, a sample's scores do not depend on the batch
// it came in, so scores recorded in batches for fitting are those routing sees.
void Predictor::head_outputs(Head& h, const float* features, float* raw) {
  const int64_t F = h.plan.width(), H = settings_.hidden;
  const float* mean = h.feature_mean.value.data();
  const float* inv_std = h.feature_inv_std.value.data();
  h.standardised.resize(F);
  h.hidden.resize(H);
  for (int64_t f = 0; f < F; ++f) h.standardised[f] = (features[f] - mean[f]) * inv_std[f];
  matvec(h.fc1->weight.value.data(), H, F, h.standardised.data(), h.hidden.data());  // (H, F) x (F)
  const float* b1 = h.fc1->bias.value.data();                                         // (H)
  for (int64_t j = 0; j < H; ++j) h.hidden[j] = std::max(0.0f, h.hidden[j] + b1[j]);
  matvec(h.fc2->weight.value.data(), outputs_, H, h.hidden.data(), raw);  // (outputs, H) x (H)
  const float* b2 = h.fc2->bias.value.data();                             // (outputs)
  for (int k = 0; k < outputs_; ++k) raw[k] += b2[k];
}

Tensor Predictor::scores_from_features(int point, const Tensor& features) {
  Head& h = head(point);
  BRANCHY_CHECK(features.rank() == 2 && features.dim(1) == h.plan.width(), name(), ": features ",
                features.shape().str(), ", want (n, ", h.plan.width(), ")");
  const int64_t N = features.dim(0), F = features.dim(1);
  Tensor out = Tensor::uninitialized(Shape{N, outputs_});  // raw outputs (n, outputs), then scores
  for (int64_t n = 0; n < N; ++n) head_outputs(h, features.data() + n * F, out.data() + n * outputs_);
  if (is_classifier()) softmax_in_place(out);
  return out;
}

Tensor Predictor::scores(int point, const Tensor& map) {
  check_map(point, map);
  Head& h = head(point);
  const int64_t N = map.dim(0), sample = map.shape().with_batch(1).numel();
  h.features.resize(h.plan.width());
  Tensor out = Tensor::uninitialized(Shape{N, outputs_});  // raw outputs (n, outputs), then scores
  for (int64_t n = 0; n < N; ++n) {
    h.plan.extract(map.data() + n * sample, h.features.data());
    head_outputs(h, h.features.data(), out.data() + n * outputs_);
  }
  if (is_classifier()) softmax_in_place(out);
  return out;
}

int64_t Predictor::macs(int point) const {
  const Shape map = map_shape(point);
  return settings_.features.macs(map) + head(point).network.macs(Shape{1, settings_.features.width(map)});
}

std::string Predictor::param_prefix() const {
  return "predictor." + to_string(settings_.kind) + "." + to_string(settings_.placement) + ".";
}

std::string Predictor::point_prefix(int point) const {
  return param_prefix() + (point < 0 ? std::string("input") : "point" + std::to_string(point));
}

std::vector<ParamRef> Predictor::named_params() {
  std::vector<ParamRef> params;
  for (int point : points_) {
    Head& h = head(point);
    const std::string prefix = point_prefix(point);
    h.network.collect_params(prefix, params);
    params.push_back({prefix + ".feature_mean", &h.feature_mean});
    params.push_back({prefix + ".feature_inv_std", &h.feature_inv_std});
  }
  return params;
}

std::vector<ParamRef> Predictor::trainable_params(int point) {
  std::vector<ParamRef> params;
  head(point).network.collect_params(point_prefix(point), params);
  return params;
}

}  // namespace branchy
