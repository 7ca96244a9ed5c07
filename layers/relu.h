// relu.h — the rectifier, y = max(x, 0), element-wise over any shape.
//
//   forward(x, mode)  x: (N, ...) -> y: same shape. Train mode keeps y (shared,
//                     not copied): y > 0 is exactly where the gradient passes.
//   backward(dy)      dy: like y -> dx = dy where y > 0, else 0.
//   macs              0: a comparison is not a multiply-accumulate.
//
// Fails: backward without a train-mode forward, or with dy of another shape,
// throws Error naming "relu".
#pragma once

#include "layers/layer.h"

namespace branchy {

class ReLU : public Layer {
 public:
  Shape out_shape(const Shape& in) const override;
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  std::string describe() const override { return "relu"; }

 private:
  Tensor y_;  // output of the last train-mode forward
};

}  // namespace branchy
