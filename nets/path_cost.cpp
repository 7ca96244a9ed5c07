#include "nets/path_cost.h"

#include <algorithm>

#include "engine/error.h"

namespace branchy {

SegmentCosts segment_macs(const BranchyNet& net) {
  SegmentCosts costs;
  for (int s = 0; s < net.num_stages(); ++s) costs.stage.push_back(static_cast<double>(net.stage_macs(s)));
  for (int b = 0; b + 1 < net.num_stages(); ++b) costs.branch.push_back(static_cast<double>(net.branch_macs(b)));
  return costs;
}

double path_cost(const SegmentCosts& costs, int exit, BranchSet tried) {
  const int K = costs.last_exit();
  BRANCHY_CHECK(exit >= 0 && exit <= K, "path to exit ", exit, " of a network with exits 0..", K);
  BRANCHY_CHECK(costs.branch.size() == static_cast<size_t>(K) && K < 32, "path costs of ", costs.stage.size(),
                " stages and ", costs.branch.size(), " branches");
  double total = 0.0;
  for (int s = 0; s <= exit; ++s) total += costs.stage[s];
  for (int b = 0; b < K; ++b)
    if (tried >> b & 1u) total += costs.branch[b];
  return total;
}

double branchy_path_cost(const SegmentCosts& costs, int exit) {
  const int last_tried = std::min(exit, costs.last_exit() - 1);  // the last exit has no branch
  return path_cost(costs, exit, last_tried < 0 ? 0u : (BranchSet{2} << last_tried) - 1);
}

double direct_path_cost(const SegmentCosts& costs, int exit) {
  return path_cost(costs, exit, exit < costs.last_exit() ? BranchSet{1} << exit : 0u);
}

double trunk_cost(const SegmentCosts& costs) { return direct_path_cost(costs, costs.last_exit()); }

double mean_branchy_cost(const SegmentCosts& costs, const std::vector<double>& exit_share) {
  BRANCHY_CHECK(exit_share.size() == costs.stage.size(), "mean_branchy_cost: ", exit_share.size(),
                " exit shares for ", costs.stage.size(), " exits");
  double total = 0.0;
  for (size_t e = 0; e < exit_share.size(); ++e) total += exit_share[e] * branchy_path_cost(costs, static_cast<int>(e));
  return total;
}

int64_t branchy_path_macs(const BranchyNet& net, int exit) {
  return static_cast<int64_t>(branchy_path_cost(segment_macs(net), exit));
}

int64_t direct_path_macs(const BranchyNet& net, int exit) {
  return static_cast<int64_t>(direct_path_cost(segment_macs(net), exit));
}

}  // namespace branchy
