#include "layers/relu.h"

#include "engine/error.h"
#include "engine/kernels.h"
#include "engine/threads.h"

namespace branchy {

Shape ReLU::out_shape(const Shape& in) const {
  BRANCHY_CHECK(in.rank() >= 1, describe(), ": expected a batch (N, ...), got ", in.str());
  return in;
}

Tensor ReLU::forward(const Tensor& x, Mode mode) {
  Tensor y = Tensor::uninitialized(out_shape(x.shape()));
  // Split over the threads in contiguous runs: a serial pass over a batch's
  // activations left the other thread idle (b-resnet training: ~4% of a step).
  parallel_chunks(x.numel(), x.numel(), [&](int64_t begin, int64_t end) {
    relu_forward(x.data() + begin, y.data() + begin, end - begin);
  });
  y_ = mode == Mode::train ? y : Tensor();
  return y;
}

Tensor ReLU::backward(const Tensor& dy) {
  BRANCHY_CHECK(y_.defined(), describe(), ": backward needs a train-mode forward first");
  BRANCHY_CHECK(dy.shape() == y_.shape(), describe(), ": backward got dy ", dy.shape().str(),
                ", expected the forward output's shape ", y_.shape().str());
  Tensor dx = Tensor::uninitialized(dy.shape());
  parallel_chunks(dy.numel(), dy.numel(), [&](int64_t begin, int64_t end) {
    relu_backward(y_.data() + begin, dy.data() + begin, dx.data() + begin, end - begin);
  });
  return dx;
}

}  // namespace branchy
