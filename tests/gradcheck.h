// gradcheck.h — the one finite-difference gradient checker every layer test uses.
//
// It checks backward() against central differences of the scalar
//   L(x, params) = sum_i y_i * r_i,   y = layer.forward(x, Mode::train),
// with r a fixed random tensor, so dL/dy = r is what backward receives.
// Each checked coordinate is compared with |analytic - numeric| <=
// absolute_tolerance + relative_tolerance * max(|analytic|, |numeric|).
//
// Kinks (ReLU at 0, max-pool ties): a coordinate whose numeric derivative
// changes between step eps and eps/2 by more than the tolerance sits on a
// kink; it is skipped and counted, and the check fails if more than
// max_kink_fraction of coordinates were skipped.
#pragma once

#include <functional>
#include <string>

#include "layers/layer.h"

namespace branchy::testing {

struct GradCheckOptions {
  double epsilon = 1e-2;
  double relative_tolerance = 2e-2;
  double absolute_tolerance = 2e-3;
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
  std::string report;        // names the worst coordinate and any failures
};

// Checks d/dx and d/dparam for every trainable Param of the layer.
GradCheckResult check_gradients(Layer& layer, const Tensor& x, const GradCheckOptions& options = {});

// Random tensor in [-1, 1) whose entries are at least `min_gap` apart in
// absolute value from 0 (keeps ReLU inputs off the kink).
Tensor random_tensor(const Shape& shape, uint64_t seed, float min_magnitude = 0.0f);

}  // namespace branchy::testing
