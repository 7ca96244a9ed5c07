#include "tests/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "engine/rng.h"

namespace branchy::testing {

namespace {

double projected_loss(Layer& layer, const Tensor& x, const Tensor& r, const GradCheckOptions& o) {
  if (o.before_forward) o.before_forward();
  Tensor y = layer.forward(x, Mode::train);
  double loss = 0.0;
  for (int64_t i = 0; i < y.numel(); ++i) loss += static_cast<double>(y[i]) * r[i];
  return loss;
}

std::vector<int64_t> coordinates_to_check(int64_t numel, int limit, Rng& rng) {
  std::vector<int64_t> all(numel);
  for (int64_t i = 0; i < numel; ++i) all[i] = i;
  if (numel <= limit) return all;
  rng.shuffle(all);
  all.resize(limit);
  std::sort(all.begin(), all.end());
  return all;
}

// Compares analytic gradient `analytic` of the values in `values` (perturbed in place).
void check_tensor(const std::string& what, Tensor& values, const Tensor& analytic, Layer& layer,
                  const Tensor& x, const Tensor& r, const GradCheckOptions& o, Rng& rng,
                  GradCheckResult& result, std::ostringstream& failures) {
  for (int64_t i : coordinates_to_check(values.numel(), o.max_coordinates_per_tensor, rng)) {
    const float original = values[i];
    // Central difference over the step float32 really takes around `original`.
    auto numeric_with_step = [&](double step) {
      const float above = static_cast<float>(original + step), below = static_cast<float>(original - step);
      values[i] = above;
      const double plus = projected_loss(layer, x, r, o);
      values[i] = below;
      const double minus = projected_loss(layer, x, r, o);
      values[i] = original;
      return (plus - minus) / (static_cast<double>(above) - static_cast<double>(below));
    };
    const double coarse = numeric_with_step(o.epsilon);
    const double fine = numeric_with_step(o.epsilon / 2);
    const double numeric = (4.0 * fine - coarse) / 3.0;  // Richardson: the h^2 terms cancel
    const double a = analytic[i];
    auto bound = [&](double u, double v) {
      return o.absolute_tolerance + o.relative_tolerance * std::max(std::fabs(u), std::fabs(v));
    };
    if (std::fabs(coarse - fine) > o.kink_factor * bound(coarse, fine)) {
      ++result.kinks_skipped;
      continue;
    }
    ++result.coordinates_checked;
    const double error = std::fabs(a - numeric) / bound(a, numeric);
    if (!(error <= 1.0)) {  // NaN fails too
      result.passed = false;
      failures << "  " << what << "[" << i << "]: analytic " << a << " numeric " << numeric << "\n";
    }
    if (error > result.worst_error || std::isnan(error)) {
      result.worst_error = error;
      result.worst_coordinate = what + "[" + std::to_string(i) + "]";
    }
  }
}

}  // namespace

GradCheckResult check_gradients(Layer& layer, const Tensor& x_in, const GradCheckOptions& o) {
  GradCheckResult result;
  Rng rng(o.seed);
  Tensor x = x_in.clone();
  if (o.before_forward) o.before_forward();
  Tensor y = layer.forward(x, Mode::train);
  Tensor r = Tensor::uninitialized(y.shape());
  for (int64_t i = 0; i < r.numel(); ++i) r[i] = rng.uniform(-1.0f, 1.0f);

  layer.zero_grad();
  Tensor dx = layer.backward(r);
  std::ostringstream failures;
  if (dx.shape() != x.shape()) {
    result.passed = false;
    result.report = "backward returned " + dx.shape().str() + " for input " + x.shape().str();
    return result;
  }
  // Snapshot the analytic gradients before the numeric passes run forward again.
  std::vector<std::pair<ParamRef, Tensor>> param_grads;
  for (ParamRef& ref : layer.named_params())
    if (ref.param->trainable) param_grads.push_back({ref, ref.param->grad.clone()});

  if (o.check_input) check_tensor("input", x, dx, layer, x, r, o, rng, result, failures);
  for (auto& [ref, grad] : param_grads)
    check_tensor(ref.name, ref.param->value, grad, layer, x, r, o, rng, result, failures);

  const int total = result.coordinates_checked + result.kinks_skipped;
  if (total > 0 && result.kinks_skipped > o.max_kink_fraction * total) {
    result.passed = false;
    failures << "  " << result.kinks_skipped << " of " << total << " coordinates sit on kinks\n";
  }
  std::ostringstream report;
  report << layer.describe() << ": " << result.coordinates_checked << " coordinates checked, "
         << result.kinks_skipped << " kinks skipped, worst error/bound " << result.worst_error
         << (result.worst_coordinate.empty() ? "" : " at " + result.worst_coordinate) << "\n"
         << failures.str();
  result.report = report.str();
  return result;
}

float relative_difference(const Tensor& a, const Tensor& b) {
  float scale = 1e-6f;
  for (int64_t i = 0; i < b.numel(); ++i) scale = std::max(scale, std::fabs(b[i]));
  return max_abs_difference(a, b) / scale;
}

Tensor random_tensor(const Shape& shape, uint64_t seed, float min_magnitude) {
  Rng rng(seed);
  Tensor t = Tensor::uninitialized(shape);
  for (int64_t i = 0; i < t.numel(); ++i) {
    float v = rng.uniform(-1.0f, 1.0f);
    if (std::fabs(v) < min_magnitude) v = v < 0 ? v - min_magnitude : v + min_magnitude;
    t[i] = v;
  }
  return t;
}

}  // namespace branchy::testing
