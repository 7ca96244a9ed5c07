// flatten.h — (N, d1, d2, ...) -> (N, d1 * d2 * ...), the step between the
// convolutional part of a network and its linear classifier.
//
//   forward(x, mode)  returns a view of x (shares storage, no copy). Train mode
//                     remembers x's shape for backward.
//   backward(dy)      dy: (N, F) -> dx: a view of dy with x's shape.
//   macs              0.
//
// Fails: an input of rank < 2, backward without a train-mode forward, or dy
// of another shape, throws Error naming "flatten".
#pragma once

#include "layers/layer.h"

namespace branchy {

class Flatten : public Layer {
 public:
  Shape out_shape(const Shape& in) const override;
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  std::string describe() const override { return "flatten"; }

 private:
  Shape in_shape_;                  // shape of the last train-mode input
  bool ready_for_backward_ = false;
};

}  // namespace branchy
