// gradcheck.h — the one finite-difference gradient checker every layer test uses.
//
// It checks backward() against finite differences of the scalar
//   L(x, params) = sum_i y_i * r_i,   y = layer.forward(x, Mode::train),
// with r a fixed random tensor, so dL/dy = r is what backward receives. L is
// summed in double; the layer itself computes in float32.
//
// Each coordinate's numeric derivative is a Richardson extrapolation of two
// central differences, D(h) and D(h/2) with h = epsilon:
//   numeric = (4 D(h/2) - D(h)) / 3,
// whose truncation error falls as h^4 instead of h^2, so a step large enough
// to keep float32 rounding small still gives an accurate derivative. Each
// D(h) divides by the step actually taken (the float32 value after the
// perturbation minus the one before), not the step asked for.
// It is compared with
//   |analytic - numeric| <= absolute_tolerance + relative_tolerance * max(|analytic|, |numeric|),
// tight enough that a backward off by 1% fails (tests/test_gradcheck.cpp
// plants one and requires the failure).
//
// Kinks (ReLU at 0, max-pool ties): a coordinate where D(h) and D(h/2)
// differ by more than kink_factor times that bound sits on a kink (a smooth
// function's two differences agree to O(h^2)); it is skipped and counted, and
// the check fails if more than max_kink_fraction of coordinates were skipped.
#pragma once

#include <functional>
#include <string>

#include "layers/layer.h"

namespace branchy::testing {

struct GradCheckOptions {
  double epsilon = 1e-2;
  double relative_tolerance = 2e-3;
  double absolute_tolerance = 2e-4;
  double kink_factor = 3.0;  // D(h) vs D(h/2) beyond kink_factor * bound: a kink
  int max_coordinates_per_tensor = 150;  // a random subset of larger tensors
  double max_kink_fraction = 0.05;
  uint64_t seed = 7;
  bool check_input = true;  // false for wrappers that do not return dx
  std::function<void()> before_forward;  // e.g. re-seed dropout so every forward draws the same mask
};

struct GradCheckResult {
  bool passed = true;
  int coordinates_checked = 0;
  int kinks_skipped = 0;
  double worst_error = 0.0;  // |a - n| / (atol + rtol * max(|a|, |n|)); <= 1 passes
  std::string worst_coordinate;  // e.g. "weight[12]"
  std::string report;        // names the worst coordinate and any failures
};

// Checks d/dx and d/dparam for every trainable Param of the layer.
GradCheckResult check_gradients(Layer& layer, const Tensor& x, const GradCheckOptions& options = {});

// Random tensor in [-1, 1) whose entries are at least `min_gap` apart in
// absolute value from 0 (keeps ReLU inputs off the kink).
Tensor random_tensor(const Shape& shape, uint64_t seed, float min_magnitude = 0.0f);

// Largest |a - b| relative to the largest |b| (at least 1e-6): ~1e-7 for
// float rounding, whatever the tensors' scale.
float relative_difference(const Tensor& a, const Tensor& b);

}  // namespace branchy::testing
