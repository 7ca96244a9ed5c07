#include "layers/global_avgpool.h"

#include <algorithm>

#include "engine/error.h"
#include "engine/kernels.h"
#include "engine/threads.h"

namespace branchy {

Shape GlobalAvgPool2d::out_shape(const Shape& in) const {
  BRANCHY_CHECK(in.rank() == 4 && in[2] > 0 && in[3] > 0, describe(),
                ": expected input (N, C, H, W) with H, W >= 1, got ", in.str());
  return Shape{in[0], in[1]};
}

Tensor GlobalAvgPool2d::forward(const Tensor& x, Mode mode) {
  const Shape out = out_shape(x.shape());
  ready_for_backward_ = mode == Mode::train;
  in_shape_ = x.shape();
  const int64_t planes = out.numel(), plane_size = x.dim(2) * x.dim(3);
  Tensor y = Tensor::uninitialized(out);  // (N, C)
  const float* x_data = x.data();
  float* y_data = y.data();
  parallel_for(planes, x.numel(), [&](int64_t plane) {
    y_data[plane] = static_cast<float>(sum(x_data + plane * plane_size, plane_size) / plane_size);
  });
  return y;
}

Tensor GlobalAvgPool2d::backward(const Tensor& dy) {
  BRANCHY_CHECK(ready_for_backward_, describe(), ": backward needs a train-mode forward first");
  const Shape expected = out_shape(in_shape_);
  BRANCHY_CHECK(dy.shape() == expected, describe(), ": backward got dy ", dy.shape().str(), ", expected ",
                expected.str());
  const int64_t planes = expected.numel(), plane_size = in_shape_[2] * in_shape_[3];
  Tensor dx = Tensor::uninitialized(in_shape_);  // (N, C, H, W)
  const float* dy_data = dy.data();
  float* dx_data = dx.data();
  parallel_for(planes, dx.numel(), [&](int64_t plane) {
    const float share = dy_data[plane] / static_cast<float>(plane_size);
    std::fill(dx_data + plane * plane_size, dx_data + (plane + 1) * plane_size, share);
  });
  return dx;
}

}  // namespace branchy
