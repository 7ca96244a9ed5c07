#include "predictors/policy.h"

#include <algorithm>

#include "engine/error.h"
#include "predictors/predictor_rules.h"

namespace branchy {

Policy routed_policy(std::string name, BranchyNet& net, std::shared_ptr<RouteRule> rule) {
  Policy policy;
  policy.name = std::move(name);
  policy.run = [&net, rule](const Tensor& images, int64_t, bool with_trace) {
    return route_batch(net, images, *rule, with_trace);
  };
  return policy;
}

Policy full_policy(BranchyNet& net) { return routed_policy("full", net, std::make_shared<TrunkRule>()); }

Policy branchy_policy(BranchyNet& net, std::vector<float> thresholds) {
  return routed_policy("branchy", net, std::make_shared<BranchyRule>(net, std::move(thresholds)));
}

bool PlannedExitRule::tries(int i, const float* score, SampleRoute& sample) const {
  if (i == 0 && sample.planned_exit < 0) sample.planned_exit = plan_at_first_point(score);
  if (sample.planned_exit < 0 || sample.planned_exit > i) return false;  // not there yet
  return true;  // the planned branch, or (fallback) every branch after a planned one that failed
}

namespace {

// The oracle's plan is BranchyNet's exit, looked up by sample index: its
// "score" at the input is that exit, and it costs nothing.
class OracleRule : public PlannedExitRule {
 public:
  OracleRule(std::vector<float> thresholds) : PlannedExitRule(std::move(thresholds), true) {}
  int score_width(int point) const override { return point == -1 ? 1 : 0; }
  Tensor scores(int, const Tensor& images) override {
    const int64_t n = images.dim(0);
    BRANCHY_CHECK(first_ >= 0 && first_ + n <= static_cast<int64_t>(exits_.size()),
                  "oracle: samples ", first_, "..", first_ + n, " outside the prepared set of ", exits_.size());
    Tensor plan = Tensor::uninitialized(Shape{n, 1});
    for (int64_t j = 0; j < n; ++j) plan[j] = static_cast<float>(exits_[first_ + j]);
    return plan;
  }
  void start(const float* input_score, SampleRoute& sample) const override {
    sample.planned_exit = static_cast<int>(input_score[0]);
  }
  std::vector<int> exits_;  // BranchyNet's exit of every sample of the evaluated set
  int64_t first_ = -1;      // the set index of the batch being routed
};

}  // namespace

Policy oracle_policy(BranchyNet& net, std::vector<float> thresholds) {
  auto rule = std::make_shared<OracleRule>(thresholds);
  Policy policy;
  policy.name = "oracle";
  policy.prepare = [&net, rule, thresholds](const Tensor& all_images) {
    rule->exits_.clear();
    const int64_t N = all_images.dim(0), batch = 256;
    for (int64_t begin = 0; begin < N; begin += batch) {
      const RouteResult r = infer_early_exit(net, all_images.batch_slice(begin, std::min(N, begin + batch)), thresholds);
      rule->exits_.insert(rule->exits_.end(), r.exit.begin(), r.exit.end());
    }
  };
  policy.run = [&net, rule](const Tensor& images, int64_t first, bool with_trace) {
    rule->first_ = first;
    return route_batch(net, images, *rule, with_trace);
  };
  return policy;
}

std::string predictor_policy_name(const PredictorSettings& settings) {
  switch (settings.kind) {
    case PredictorKind::entropy: return "entropy-pred";
    case PredictorKind::skip: return "skip-pred";
    case PredictorKind::exit: return "exit-pred@" + to_string(settings.placement);
  }
  return "?";
}

Policy predictor_policy(BranchyNet& net, Predictor& predictor, std::vector<float> thresholds, bool trust) {
  std::string name = predictor_policy_name(predictor.settings());
  if (has_trust_choice(predictor.settings())) name += trust ? ":trust" : ":fallback";
  Policy policy = routed_policy(name, net, predictor_rule(predictor, std::move(thresholds), trust));
  // skip-pred always falls back: its knob was chosen for fallback routing.
  policy.knob_choice = predictor.settings().choice(trust && has_trust_choice(predictor.settings()));
  return policy;
}

std::vector<Policy> policies_by_name(const std::vector<std::string>& names, BranchyNet& net,
                                     const std::vector<float>& thresholds, const std::vector<Predictor*>& predictors) {
  const bool branchy = net.num_exits() > 1 && !thresholds.empty();
  std::vector<Policy> offered = {full_policy(net)};  // every policy the model offers, in table order
  if (branchy) {
    offered.push_back(branchy_policy(net, thresholds));
    offered.push_back(oracle_policy(net, thresholds));
    for (Predictor* p : predictors) {
      offered.push_back(predictor_policy(net, *p, thresholds, true));
      if (has_trust_choice(p->settings())) offered.push_back(predictor_policy(net, *p, thresholds, false));
    }
  }
  std::vector<Policy> chosen;
  for (const std::string& name : names) {
    if (name == "all") {
      chosen.insert(chosen.end(), offered.begin(), offered.end());
      continue;
    }
    auto named = [&](const std::string& wanted) {
      return std::find_if(offered.begin(), offered.end(), [&](const Policy& p) { return p.name == wanted; });
    };
    auto it = named(name);
    if (it == offered.end()) it = named(name + ":trust");  // a predictor policy without a suffix
    if (it == offered.end()) {
      std::string known;
      for (const Policy& p : offered) known += (known.empty() ? "" : ", ") + p.name;
      fail("no policy '", name, "' for this model (it offers: ", known, ", all)",
           branchy ? "" : "; branch policies need calibrated thresholds");
    }
    chosen.push_back(*it);
  }
  return chosen;
}

}  // namespace branchy
