#include "engine/init.h"

#include <cmath>

namespace branchy {

namespace {

void init_uniform(Tensor& t, float low, float high, Rng& rng) {
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = rng.uniform(low, high);
}

}  // namespace

void init_pytorch_default(Tensor& weight, Tensor* bias, Rng& rng) {
  // fan_in of a weight (out, in) or (out, in/groups, kh, kw): all dims but the first.
  const int64_t fan_in = weight.shape().sample_numel();
  const float bound = 1.0f / std::sqrt(static_cast<float>(fan_in));
  init_uniform(weight, -bound, bound, rng);
  if (bias && bias->defined()) init_uniform(*bias, -bound, bound, rng);
}

}  // namespace branchy
