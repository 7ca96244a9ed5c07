#include "nets/router.h"

#include <algorithm>
#include <limits>

#include "engine/error.h"
#include "engine/loss.h"
#include "nets/path_cost.h"

namespace branchy {

namespace {

constexpr float not_tried = std::numeric_limits<float>::quiet_NaN();

int64_t activation_bytes(const BranchyNet& net, int point) {
  return net.stage_output_shape(point).sample_numel() * static_cast<int64_t>(sizeof(float));
}

RouteResult empty_result(const BranchyNet& net, int64_t N, bool with_trace) {
  const int K = net.num_exits() - 1;
  BRANCHY_CHECK(K < 32, net.name(), " has ", K, " branches; routing records the branches tried in 32 bits");
  RouteResult out;
  out.exit.assign(N, K);
  out.prediction.assign(N, -1);
  out.macs.assign(N, 0);
  out.tried.assign(N, 0);
  out.buffered_bytes.assign(N, 0);
  out.stage_samples.assign(K + 1, 0);
  out.branch_samples.assign(K, 0);
  if (with_trace) {
    RouteTrace blank;
    blank.scores.assign(K + 1, {});
    blank.entropy.assign(K, not_tried);
    out.trace.assign(N, blank);
  }
  return out;
}

// Row j of scores (n, width), or null when the rule has no predictor at this point.
const float* score_row(const Tensor& scores, int64_t j) {
  return scores.defined() ? scores.data() + j * scores.dim(1) : nullptr;
}

// The rule's scores at `point` for the rows present, charged to those rows.
Tensor run_scores(RouteRule& rule, int point, const Tensor& activation, const std::vector<int64_t>& rows,
                  RouteResult& out) {
  if (rule.score_width(point) == 0) return {};
  Tensor scores = rule.scores(point, activation);  // (n, width)
  BRANCHY_CHECK(scores.rank() == 2 && scores.dim(0) == static_cast<int64_t>(rows.size()) &&
                    scores.dim(1) == rule.score_width(point),
                "routing: scores at point ", point, " are ", scores.shape().str(), " for ", rows.size(), " samples");
  const int64_t cost = rule.score_macs(point);
  for (size_t j = 0; j < rows.size(); ++j) {
    out.macs[rows[j]] += cost;
    if (!out.trace.empty()) {
      const float* s = score_row(scores, static_cast<int64_t>(j));
      out.trace[rows[j]].scores[point + 1].assign(s, s + scores.dim(1));
    }
  }
  return scores;
}

}  // namespace

RouteResult route_batch(BranchyNet& net, const Tensor& x, RouteRule& rule, bool with_trace) {
  const int K = net.num_exits() - 1;
  const int64_t N = x.dim(0);
  RouteResult out = empty_result(net, N, with_trace);
  out.logits = Tensor::uninitialized(Shape{N, net.classes()});
  std::vector<SampleRoute> sample(N);
  std::vector<int64_t> rows(N);  // rows[j]: the input index of row j of h
  for (int64_t n = 0; n < N; ++n) rows[n] = n;

  const Tensor input_scores = run_scores(rule, -1, x, rows, out);  // (N, width) or undefined
  for (int64_t n = 0; n < N; ++n) rule.start(score_row(input_scores, n), sample[n]);

  Tensor h = x;
  for (int i = 0; i <= K && !rows.empty(); ++i) {
    out.stage_samples[i] = static_cast<int64_t>(rows.size());
    h = net.stage(i).forward(h, Mode::eval);  // (n, C_i, H_i, W_i)
    for (int64_t r : rows) out.macs[r] += net.stage_macs(i);
    if (i == K) {
      scatter_rows(h, rows, out.logits);
      break;
    }
    const Tensor scores = run_scores(rule, i, h, rows, out);
    std::vector<int64_t> trying;  // row indices j into h
    for (size_t j = 0; j < rows.size(); ++j)
      if (rule.tries(i, score_row(scores, static_cast<int64_t>(j)), sample[rows[j]]))
        trying.push_back(static_cast<int64_t>(j));
    std::vector<bool> leaves(rows.size(), false);
    if (!trying.empty()) {
      out.branch_samples[i] = static_cast<int64_t>(trying.size());
      const Tensor logits = net.branch(i).forward(trying.size() == rows.size() ? h : gather_rows(h, trying),
                                                  Mode::eval);  // (tried, classes)
      const std::vector<float> entropy = softmax_entropy(logits);
      std::vector<int64_t> leaving, leaving_rows;  // into logits; input indices
      for (size_t t = 0; t < trying.size(); ++t) {
        const int64_t j = trying[t], r = rows[j];
        out.macs[r] += net.branch_macs(i);
        out.tried[r] |= BranchSet{1} << i;
        const bool trusted = rule.trusts(i, sample[r]);
        if (!trusted) out.buffered_bytes[r] = std::max(out.buffered_bytes[r], activation_bytes(net, i));
        if (!out.trace.empty()) out.trace[r].entropy[i] = entropy[t];
        if (trusted || exits_here(entropy[t], rule.threshold(i))) {
          leaves[j] = true;
          out.exit[r] = i;
          leaving.push_back(static_cast<int64_t>(t));
          leaving_rows.push_back(r);
        }
      }
      if (!leaving.empty())
        scatter_rows(leaving.size() == trying.size() ? logits : gather_rows(logits, leaving), leaving_rows,
                     out.logits);
    }
    std::vector<int64_t> staying, staying_rows;
    for (size_t j = 0; j < rows.size(); ++j)
      if (!leaves[j]) {
        staying.push_back(static_cast<int64_t>(j));
        staying_rows.push_back(rows[j]);
      }
    if (staying.empty()) break;
    if (staying.size() < rows.size()) h = gather_rows(h, staying);
    rows = std::move(staying_rows);
  }
  out.prediction = argmax_rows(out.logits);
  return out;
}

RouteResult replay_route(const BranchyNet& net, const RecordedRun& run, const RouteRule& rule) {
  const int K = net.num_exits() - 1;
  const int64_t N = run.size();
  BRANCHY_CHECK(static_cast<int>(run.entropies.size()) == K + 1 && static_cast<int>(run.predictions.size()) == K + 1,
                "replay: recorded outputs of ", run.entropies.size(), " exits for ", net.name(), " with ", K + 1);
  BRANCHY_CHECK(static_cast<int>(run.scores.size()) == K + 1, "replay: scores at ", run.scores.size(),
                " points, want ", K + 1, " (the input and every branch point)");
  for (int p = -1; p < K; ++p) {
    const Tensor& s = run.scores[p + 1];
    const int width = rule.score_width(p);
    BRANCHY_CHECK(width == 0 || (s.defined() && s.rank() == 2 && s.dim(0) == N && s.dim(1) == width),
                  "replay: scores at point ", p, " are ", s.defined() ? s.shape().str() : "missing", ", want (", N,
                  ", ", width, ")");
  }
  for (const auto& e : run.entropies) BRANCHY_CHECK(static_cast<int64_t>(e.size()) == N, "replay: ragged entropies");
  for (const auto& p : run.predictions)
    BRANCHY_CHECK(static_cast<int64_t>(p.size()) == N, "replay: ragged predictions");

  RouteResult out = empty_result(net, N, false);
  auto recorded_score = [&](int point, int64_t n) -> const float* {
    return rule.score_width(point) ? score_row(run.scores[point + 1], n) : nullptr;
  };
  for (int64_t n = 0; n < N; ++n) {
    SampleRoute sample;
    if (rule.score_width(-1)) out.macs[n] += rule.score_macs(-1);
    rule.start(recorded_score(-1, n), sample);
    for (int i = 0; i <= K; ++i) {
      ++out.stage_samples[i];
      out.macs[n] += net.stage_macs(i);
      if (i == K) break;
      if (rule.score_width(i)) out.macs[n] += rule.score_macs(i);
      if (!rule.tries(i, recorded_score(i, n), sample)) continue;
      ++out.branch_samples[i];
      out.macs[n] += net.branch_macs(i);
      out.tried[n] |= BranchSet{1} << i;
      const bool trusted = rule.trusts(i, sample);
      if (!trusted) out.buffered_bytes[n] = std::max(out.buffered_bytes[n], activation_bytes(net, i));
      if (trusted || exits_here(run.entropies[i][n], rule.threshold(i))) {
        out.exit[n] = i;
        break;
      }
    }
    out.prediction[n] = run.predictions[out.exit[n]][n];
  }
  return out;
}

}  // namespace branchy

namespace branchy {

RouteSummary summarize_route(const RouteResult& route, const std::vector<int>& labels, int num_exits) {
  const size_t N = labels.size();
  BRANCHY_CHECK(route.exit.size() == N && route.prediction.size() == N && route.macs.size() == N &&
                    route.buffered_bytes.size() == N,
                "a route of ", route.exit.size(), " samples for ", N, " labels");
  RouteSummary s;
  s.samples = static_cast<int64_t>(N);
  s.exit_share.assign(num_exits, 0.0);
  s.exit_accuracy.assign(num_exits, 0.0);
  if (N == 0) return s;
  std::vector<int64_t> at_exit(num_exits, 0), right_at_exit(num_exits, 0);
  int64_t right = 0;
  double macs = 0, bytes = 0;
  for (size_t n = 0; n < N; ++n) {
    const int e = route.exit[n];
    BRANCHY_CHECK(e >= 0 && e < num_exits, "a route to exit ", e, " of ", num_exits);
    const bool correct = route.prediction[n] == labels[n];
    ++at_exit[e];
    right_at_exit[e] += correct;
    right += correct;
    macs += static_cast<double>(route.macs[n]);
    bytes += static_cast<double>(route.buffered_bytes[n]);
    s.peak_buffered_bytes = std::max(s.peak_buffered_bytes, static_cast<double>(route.buffered_bytes[n]));
  }
  s.accuracy = static_cast<double>(right) / N;
  s.mean_macs = macs / N;
  s.mean_buffered_bytes = bytes / N;
  for (int e = 0; e < num_exits; ++e) {
    s.exit_share[e] = static_cast<double>(at_exit[e]) / N;
    s.exit_accuracy[e] = at_exit[e] ? static_cast<double>(right_at_exit[e]) / at_exit[e] : 0.0;
  }
  return s;
}

}  // namespace branchy
