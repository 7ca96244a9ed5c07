#include "nets/early_exit.h"

#include "engine/error.h"

namespace branchy {

BranchyRule::BranchyRule(const BranchyNet& net, std::vector<float> thresholds) : thresholds_(std::move(thresholds)) {
  const int K = net.num_exits() - 1;
  BRANCHY_CHECK(static_cast<int>(thresholds_.size()) == K, net.name(), " has ", K, " branches but ",
                thresholds_.size(), " thresholds were given");
}

RouteResult infer_early_exit(BranchyNet& net, const Tensor& x, const std::vector<float>& thresholds) {
  BranchyRule rule(net, thresholds);
  return route_batch(net, x, rule);
}

}  // namespace branchy
