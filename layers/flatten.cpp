#include "layers/flatten.h"

#include "engine/error.h"

namespace branchy {

Shape Flatten::out_shape(const Shape& in) const {
  BRANCHY_CHECK(in.rank() >= 2, describe(), ": expected input (N, ...) of rank 2 or more, got ", in.str());
  return Shape{in[0], in.sample_numel()};
}

Tensor Flatten::forward(const Tensor& x, Mode mode) {
  const Shape out = out_shape(x.shape());
  ready_for_backward_ = mode == Mode::train;
  in_shape_ = x.shape();
  return x.reshaped(out);
}

Tensor Flatten::backward(const Tensor& dy) {
  BRANCHY_CHECK(ready_for_backward_, describe(), ": backward needs a train-mode forward first");
  const Shape expected = out_shape(in_shape_);
  BRANCHY_CHECK(dy.shape() == expected, describe(), ": backward got dy ", dy.shape().str(), ", expected ",
                expected.str());
  return dy.reshaped(in_shape_);
}

}  // namespace branchy
