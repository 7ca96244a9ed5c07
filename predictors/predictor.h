// predictor.h — a light-weight network that guesses, before a branch runs,
// what the branchy network will do with a sample (the thesis's method).
//
// Kinds and where they sit (placement):
//   exit@input    reads the image: which exit will BranchyNet give it?   (K+1 classes)
//   exit@first    reads h_0 at the first branch point: the same question (K+1 classes)
//   exit@each     at every branch point i: is i BranchyNet's exit?       (2 classes)
//   skip@each     at every branch point i: would branch i be confident?  (2 classes)
//   entropy@each  at every branch point i: branch i's entropy            (regression)
// At each point it reads a cheap summary of the map (predictors/features.h),
// standardised with the training set's mean and deviation, into
//   Linear(F, hidden) -> ReLU -> Linear(hidden, outputs)
// and a classifier's scores are its softmax probabilities.
//
// Parameters are named "predictor.<kind>.<placement>.<point>.<layer>.<param>"
// with <point> "input" or "point<i>", so one model file holds several
// predictors beside the network's own tensors.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/param.h"
#include "engine/rng.h"
#include "formats/json.h"
#include "layers/linear.h"
#include "nets/branchy_net.h"
#include "nets/sequential.h"
#include "predictors/features.h"

namespace branchy {

enum class PredictorKind { entropy, exit, skip };
enum class Placement { input, first, each };

// The aim a knob was chosen for and what it gave (accuracy changes are
// fractions, against BranchyNet's on the same samples).
struct KnobChoiceNote {
  double max_drop = 0;
  double held_out_change = 0;
};

struct PredictorSettings {
  PredictorKind kind = PredictorKind::exit;
  Placement placement = Placement::first;
  FeatureSpec features;
  int hidden = 32;
  // Trained with each mistake weighted by what it costs (pipeline/predictor_fit.h).
  bool cost_weighted = false;
  // The decision settings fit-predictor chose for trust and for fallback
  // routing (predictors/predictor_rules.h says what a knob means per kind).
  double trust_knob = 0.5, fallback_knob = 0.5;
  double knob(bool trust) const { return trust ? trust_knob : fallback_knob; }
  // A gate in front of every branch (placement each) may have a knob of its
  // own per branch point, refined from the one knob by fit-predictor: the
  // price of a wrong guess differs from point to point (a cheap branch is
  // worth trying on a faint hope, a dear one is not). Empty: the one knob
  // at every point.
  std::vector<double> trust_point_knobs, fallback_point_knobs;
  // The knob at branch point `point` (the one knob when there are none per point).
  double knob(bool trust, int point) const;
  // What fit-predictor chose each routing's knobs for: within max_drop of
  // BranchyNet's accuracy on its held-out samples, where they changed it by
  // held_out_change. `branchy eval` flags a policy that loses more than
  // max_drop on the samples it measures (the test split): a knob that did
  // not carry over. Unset in files fitted before it was stored.
  std::optional<KnobChoiceNote> trust_choice, fallback_choice;
  const std::optional<KnobChoiceNote>& choice(bool trust) const { return trust ? trust_choice : fallback_choice; }

  // "exit@first", "skip@each", ...
  std::string name() const;
  // Error unless the kind may sit there (entropy and skip sit at each point).
  void check() const;
  // As stored in a model file's "predictors" metadata; from_json throws
  // Error naming `where` and the key on a bad entry.
  Json to_json() const;
  static PredictorSettings from_json(const Json& json, const std::string& where);
};

PredictorKind parse_predictor_kind(const std::string& text);  // entropy | exit | skip
Placement parse_placement(const std::string& text);          // input | first | each
std::string to_string(PredictorKind kind);
std::string to_string(Placement placement);

class Predictor {
 public:
  // Weights drawn from `rng`; standardisation starts as the identity.
  Predictor(const BranchyNet& net, PredictorSettings settings, Rng& rng);

  const PredictorSettings& settings() const { return settings_; }
  // The one knob for that routing; clears its knobs per point.
  void set_knob(bool trust, double knob);
  // A knob per branch point 0..K-1 (placement each only).
  void set_point_knobs(bool trust, std::vector<double> knobs);
  void set_choice_note(bool trust, KnobChoiceNote note);
  std::string name() const { return settings_.name(); }
  // The points it reads: -1 (the input), or branch points 0..K-1.
  const std::vector<int>& points() const { return points_; }
  bool reads(int point) const;
  int outputs() const { return outputs_; }  // per sample and point
  bool is_classifier() const { return settings_.kind != PredictorKind::entropy; }

  // The map it reads at `point`, for one sample: the input or h_i.
  Shape map_shape(int point) const;
  // (n, C, H, W) map -> (n, F) features, then (n, outputs) scores:
  // probabilities for a classifier, the entropy guess for a regressor.
  Tensor features(int point, const Tensor& map) const;
  Tensor scores_from_features(int point, const Tensor& features);
  // scores_from_features(point, features(point, map)), a sample at a time
  // with no features tensor between (the router's per-sample call).
  Tensor scores(int point, const Tensor& map);
  // Raw outputs (logits or the entropy guess) of standardised features, for training.
  Tensor forward_standardised(int point, const Tensor& standardised, Mode mode);
  void backward(int point, const Tensor& d_outputs);
  // Standardises (n, F) features in place with the stored mean and deviation.
  void standardise(int point, Tensor& features) const;
  // Sets the stored mean and deviation from training features (n, F).
  void fit_standardisation(int point, const Tensor& features);

  // MACs per sample at `point`: the summary and the network.
  int64_t macs(int point) const;
  // Every tensor it stores, by name (the prefix "predictor.<kind>.<placement>.").
  std::vector<ParamRef> named_params();
  std::string param_prefix() const;
  std::vector<ParamRef> trainable_params(int point);

 private:
  struct Head {
    Head(const FeatureSpec& spec, const Shape& map) : plan(spec, map) {}
    FeaturePlan plan;       // the map's features, cells placed once
    Sequential network;     // Linear -> ReLU -> Linear
    Linear* fc1 = nullptr;  // network's layers, read directly by scores_from_features
    Linear* fc2 = nullptr;
    Param feature_mean;     // (F) not trained
    Param feature_inv_std;  // (F) not trained
    std::vector<float> features, standardised, hidden;  // (F), (F), (hidden): scratch of the scores
  };
  Head& head(int point);
  const Head& head(int point) const;
  void check_map(int point, const Tensor& map) const;
  // One sample's features (F) -> its raw outputs (outputs): standardised, fc1, ReLU, fc2.
  void head_outputs(Head& h, const float* features, float* raw);
  std::string point_prefix(int point) const;

  PredictorSettings settings_;
  std::vector<int> points_;
  std::vector<Shape> map_shapes_;  // per point
  int outputs_;
  std::vector<std::unique_ptr<Head>> heads_;  // per point
};

}  // namespace branchy
