#include "predictors/predictor_rules.h"

#include "engine/error.h"
#include "predictors/policy.h"

namespace branchy {

int planned_exit(const float* probabilities, int exits, double q) {
  double cumulative = 0.0;
  for (int e = 0; e < exits; ++e) {
    cumulative += probabilities[e];
    if (cumulative >= q) return e;
  }
  return exits - 1;
}

namespace {

// The predictor's scores at the points it reads; the rule decides from them.
class PredictorScores {
 public:
  PredictorScores(Predictor& predictor, double knob) : predictor_(predictor), knob_(knob) {}
  int width(int point) const { return predictor_.reads(point) ? predictor_.outputs() : 0; }
  Tensor scores(int point, const Tensor& map) { return predictor_.scores(point, map); }
  int64_t macs(int point) const { return predictor_.reads(point) ? predictor_.macs(point) : 0; }
  double knob() const { return knob_; }
  int exits() const { return predictor_.outputs(); }

 private:
  Predictor& predictor_;
  double knob_;
};

// exit@input and exit@first: plan once, then follow the plan.
class PlanRule : public PlannedExitRule {
 public:
  PlanRule(Predictor& p, std::vector<float> thresholds, bool trust, double knob)
      : PlannedExitRule(std::move(thresholds), trust), p_(p, knob), at_input_(p.reads(-1)) {}
  int score_width(int point) const override { return p_.width(point); }
  Tensor scores(int point, const Tensor& map) override { return p_.scores(point, map); }
  int64_t score_macs(int point) const override { return p_.macs(point); }
  void start(const float* score, SampleRoute& sample) const override {
    if (at_input_) sample.planned_exit = planned_exit(score, p_.exits(), p_.knob());
  }

 protected:
  int plan_at_first_point(const float* score) const override {
    return at_input_ ? -1 : planned_exit(score, p_.exits(), p_.knob());
  }

 private:
  PredictorScores p_;
  bool at_input_;
};

// exit@each, skip@each, entropy@each: a gate in front of every branch,
// with a knob per branch point.
class GateRule : public RouteRule {
 public:
  GateRule(Predictor& p, std::vector<float> thresholds, bool trust, std::vector<double> point_knobs)
      : p_(p, 0.0), thresholds_(std::move(thresholds)), knobs_(std::move(point_knobs)), trust_(trust),
        regression_(p.settings().kind == PredictorKind::entropy) {}
  int score_width(int point) const override { return p_.width(point); }
  Tensor scores(int point, const Tensor& map) override { return p_.scores(point, map); }
  int64_t score_macs(int point) const override { return p_.macs(point); }
  bool tries(int i, const float* score, SampleRoute&) const override {
    return regression_ ? score[0] < knobs_[i] * thresholds_[i] : score[1] >= knobs_[i];
  }
  bool trusts(int, const SampleRoute&) const override { return trust_; }
  float threshold(int i) const override { return thresholds_[i]; }

 private:
  PredictorScores p_;
  std::vector<float> thresholds_;
  std::vector<double> knobs_;  // (K) per branch point
  bool trust_, regression_;
};

}  // namespace

bool has_trust_choice(const PredictorSettings& settings) { return settings.kind != PredictorKind::skip; }

std::shared_ptr<RouteRule> predictor_rule(Predictor& predictor, std::vector<float> thresholds, bool trust,
                                          double knob) {
  const PredictorSettings& s = predictor.settings();
  if (!has_trust_choice(s)) trust = false;
  if (s.kind == PredictorKind::exit && s.placement != Placement::each)
    return std::make_shared<PlanRule>(predictor, std::move(thresholds), trust, knob);
  return predictor_rule(predictor, std::move(thresholds), trust,
                        std::vector<double>(predictor.points().size(), knob));
}

std::shared_ptr<RouteRule> predictor_rule(Predictor& predictor, std::vector<float> thresholds, bool trust,
                                          std::vector<double> point_knobs) {
  BRANCHY_CHECK(predictor.settings().placement == Placement::each && point_knobs.size() == predictor.points().size(),
                predictor.name(), ": ", point_knobs.size(), " knobs per point for ", predictor.points().size(),
                " points");
  if (!has_trust_choice(predictor.settings())) trust = false;
  return std::make_shared<GateRule>(predictor, std::move(thresholds), trust, std::move(point_knobs));
}

std::shared_ptr<RouteRule> predictor_rule(Predictor& predictor, std::vector<float> thresholds, bool trust) {
  const PredictorSettings& s = predictor.settings();
  trust = trust && has_trust_choice(s);
  if (s.placement != Placement::each) return predictor_rule(predictor, std::move(thresholds), trust, s.knob(trust));
  std::vector<double> knobs;
  for (int point : predictor.points()) knobs.push_back(s.knob(trust, point));
  return predictor_rule(predictor, std::move(thresholds), trust, std::move(knobs));
}

std::vector<double> knob_grid(const PredictorSettings& settings) {
  if (settings.kind == PredictorKind::entropy)
    return {0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0, 5.0};
  return {0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99};
}

}  // namespace branchy
