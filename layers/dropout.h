// dropout.h — inverted dropout, PyTorch's nn.Dropout(p).
//
//   forward(x, train) keeps each element with probability 1 - p and scales
//                     the kept ones by 1 / (1 - p), so the expected output is
//                     x and eval needs no rescaling; keeps the mask for backward.
//                     p = 1 drops everything (output zeros), as PyTorch does.
//   forward(x, eval)  the identity: returns x itself (shared storage).
//   backward(dy)      dx = dy * mask.
//   macs              0.
//
// The mask comes from the layer's own Rng, seeded at construction; reseed()
// restarts it, so the gradient check can make every forward draw one mask.
//
// Requires 0 <= p <= 1 (constructor throws Error). backward throws Error
// without a train-mode forward or for dy of another shape.
#pragma once

#include <cstdint>

#include "engine/rng.h"
#include "layers/layer.h"

namespace branchy {

class Dropout : public Layer {
 public:
  Dropout(float p, uint64_t seed);

  Shape out_shape(const Shape& in) const override;
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  std::string describe() const override;  // "dropout p0.5"

  void reseed(uint64_t seed) { rng_ = Rng(seed); }

 private:
  float p_;
  Rng rng_;
  Tensor mask_;  // like x: 0 or 1 / (1 - p), from the last train-mode forward
};

}  // namespace branchy
