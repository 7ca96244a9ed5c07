// init.h — weight initialisers, as PyTorch defines them.
#pragma once

#include "engine/rng.h"
#include "engine/tensor.h"

namespace branchy {

// fan_in of a weight (out, in) or (out, in/groups, kh, kw): all dims but the first.
int64_t fan_in(const Shape& weight_shape);
// fan_out: out * receptive field (kh * kw), as torch.nn.init computes it.
int64_t fan_out(const Shape& weight_shape);

void init_uniform(Tensor& t, float low, float high, Rng& rng);
void init_normal(Tensor& t, float mean, float stddev, Rng& rng);
// PyTorch's default for Conv2d/Linear weights: kaiming_uniform(a = sqrt(5)),
// i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the same bound for their biases.
void init_pytorch_default(Tensor& weight, Tensor* bias, Rng& rng);
// He et al.: N(0, sqrt(2 / fan)) with fan = fan_in or fan_out (ResNets use fan_out).
void init_kaiming_normal(Tensor& weight, bool use_fan_out, Rng& rng);
// Glorot: U(-a, a), a = sqrt(6 / (fan_in + fan_out)).
void init_xavier_uniform(Tensor& weight, Rng& rng);

}  // namespace branchy
