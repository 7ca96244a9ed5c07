// init.h — weight initialisers, as PyTorch defines them.
#pragma once

#include "engine/rng.h"
#include "engine/tensor.h"

namespace branchy {

// PyTorch's default for Conv2d/Linear weights: kaiming_uniform(a = sqrt(5)),
// i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = all weight dims but the
// first; the same bound for their biases. (The only initialiser the networks
// use: they follow the PyTorch models their checkpoints load into.)
void init_pytorch_default(Tensor& weight, Tensor* bias, Rng& rng);

}  // namespace branchy
