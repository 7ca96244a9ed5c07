#include "layers/relu.h"

#include "engine/error.h"
#include "engine/kernels.h"

namespace branchy {

Shape ReLU::out_shape(const Shape& in) const {
  BRANCHY_CHECK(in.rank() >= 1, describe(), ": expected a batch (N, ...), got ", in.str());
  return in;
}

Tensor ReLU::forward(const Tensor& x, Mode mode) {
  Tensor y = Tensor::uninitialized(out_shape(x.shape()));
  relu_forward(x.data(), y.data(), x.numel());
  y_ = mode == Mode::train ? y : Tensor();
  return y;
}

Tensor ReLU::backward(const Tensor& dy) {
  BRANCHY_CHECK(y_.defined(), describe(), ": backward needs a train-mode forward first");
  BRANCHY_CHECK(dy.shape() == y_.shape(), describe(), ": backward got dy ", dy.shape().str(),
                ", expected the forward output's shape ", y_.shape().str());
  Tensor dx = Tensor::uninitialized(dy.shape());
  relu_backward(y_.data(), dy.data(), dx.data(), dy.numel());
  return dx;
}

}  // namespace branchy
