#include "engine/init.h"

#include <cmath>

namespace branchy {

int64_t fan_in(const Shape& s) { return s.sample_numel(); }

int64_t fan_out(const Shape& s) {
  int64_t receptive = 1;
  for (int i = 2; i < s.rank(); ++i) receptive *= s[i];
  return s[0] * receptive;
}

void init_uniform(Tensor& t, float low, float high, Rng& rng) {
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = rng.uniform(low, high);
}

void init_normal(Tensor& t, float mean, float stddev, Rng& rng) {
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = rng.normal(mean, stddev);
}

void init_pytorch_default(Tensor& weight, Tensor* bias, Rng& rng) {
  const float bound = 1.0f / std::sqrt(static_cast<float>(fan_in(weight.shape())));
  init_uniform(weight, -bound, bound, rng);
  if (bias && bias->defined()) init_uniform(*bias, -bound, bound, rng);
}

void init_kaiming_normal(Tensor& weight, bool use_fan_out, Rng& rng) {
  const float fan = static_cast<float>(use_fan_out ? fan_out(weight.shape()) : fan_in(weight.shape()));
  init_normal(weight, 0.0f, std::sqrt(2.0f / fan), rng);
}

void init_xavier_uniform(Tensor& weight, Rng& rng) {
  const float a = std::sqrt(6.0f / static_cast<float>(fan_in(weight.shape()) + fan_out(weight.shape())));
  init_uniform(weight, -a, a, rng);
}

}  // namespace branchy
