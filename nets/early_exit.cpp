#include "nets/early_exit.h"

#include <algorithm>

#include "engine/error.h"
#include "engine/loss.h"

namespace branchy {

EarlyExitResult infer_early_exit(BranchyNet& net, const Tensor& x, const std::vector<float>& thresholds) {
  const int K = net.num_exits() - 1;
  BRANCHY_CHECK(static_cast<int>(thresholds.size()) == K, net.name(), " has ", K, " branches but ",
                thresholds.size(), " thresholds were given");
  const int64_t N = x.dim(0);
  EarlyExitResult out;
  out.logits = Tensor::uninitialized(Shape{N, net.classes()});
  out.exit.assign(N, K);
  out.prediction.assign(N, -1);
  out.macs.assign(N, 0);
  out.buffered_bytes.assign(N, 0);
  out.stage_samples.assign(net.num_stages(), 0);

  std::vector<int64_t> rows(N);  // rows[j]: the original index of row j of h
  for (int64_t i = 0; i < N; ++i) rows[i] = i;
  Tensor h = x;
  for (int i = 0; i <= K && !rows.empty(); ++i) {
    out.stage_samples[i] = static_cast<int64_t>(rows.size());
    h = net.stage(i).forward(h, Mode::eval);
    const int64_t stage_cost = net.stage_macs(i);
    for (int64_t r : rows) out.macs[r] += stage_cost;
    if (i == K) {
      scatter_rows(h, rows, out.logits);
      break;
    }
    // Branch i: h must stay alive until we know who goes on.
    const Tensor logits = net.branch(i).forward(h, Mode::eval);
    const std::vector<float> entropy = softmax_entropy(logits);
    const int64_t branch_cost = net.branch_macs(i);
    const int64_t held_bytes = h.shape().sample_numel() * static_cast<int64_t>(sizeof(float));
    std::vector<int64_t> leaving, leaving_rows, staying, staying_rows;
    for (size_t j = 0; j < rows.size(); ++j) {
      const int64_t r = rows[j];
      out.macs[r] += branch_cost;
      out.buffered_bytes[r] = std::max(out.buffered_bytes[r], held_bytes);
      if (entropy[j] < thresholds[i]) {
        out.exit[r] = i;
        leaving.push_back(static_cast<int64_t>(j));
        leaving_rows.push_back(r);
      } else {
        staying.push_back(static_cast<int64_t>(j));
        staying_rows.push_back(r);
      }
    }
    if (!leaving.empty()) scatter_rows(leaving.size() == rows.size() ? logits : gather_rows(logits, leaving),
                                       leaving_rows, out.logits);
    if (staying.empty()) break;
    if (staying.size() < rows.size()) h = gather_rows(h, staying);
    rows = std::move(staying_rows);
  }
  out.prediction = argmax_rows(out.logits);
  return out;
}

std::vector<int> branchy_exits(const std::vector<std::vector<float>>& entropies, const std::vector<float>& thresholds) {
  const int K = static_cast<int>(entropies.size()) - 1;
  BRANCHY_CHECK(static_cast<int>(thresholds.size()) == K, K, " branches but ", thresholds.size(), " thresholds");
  const size_t N = entropies.empty() ? 0 : entropies[0].size();
  for (const auto& row : entropies)
    BRANCHY_CHECK(row.size() == N, "entropies of ", row.size(), " and ", N, " samples");
  std::vector<int> exits(N, K);
  for (size_t n = 0; n < N; ++n)
    for (int i = 0; i < K; ++i)
      if (entropies[i][n] < thresholds[i]) {
        exits[n] = i;
        break;
      }
  return exits;
}

int64_t branchy_path_macs(const BranchyNet& net, int exit) {
  const int K = net.num_exits() - 1;
  int64_t total = 0;
  for (int i = 0; i <= exit; ++i) {
    total += net.stage_macs(i);
    if (i < K) total += net.branch_macs(i);
  }
  return total;
}

int64_t direct_path_macs(const BranchyNet& net, int exit) {
  const int K = net.num_exits() - 1;
  int64_t total = 0;
  for (int i = 0; i <= exit; ++i) total += net.stage_macs(i);
  if (exit < K) total += net.branch_macs(exit);
  return total;
}

}  // namespace branchy
