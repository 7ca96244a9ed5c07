#include "layers/dropout.h"

#include <sstream>

#include "engine/error.h"

namespace branchy {

Dropout::Dropout(float p, uint64_t seed) : p_(p), rng_(seed) {
  BRANCHY_CHECK(p >= 0.0f && p <= 1.0f, "dropout: p must be in [0, 1], got ", p);  // NaN fails too
}

std::string Dropout::describe() const {
  std::ostringstream text;
  text << "dropout p" << p_;
  return text.str();
}

Shape Dropout::out_shape(const Shape& in) const {
  BRANCHY_CHECK(in.rank() >= 1, describe(), ": expected a batch (N, ...), got ", in.str());
  return in;
}

Tensor Dropout::forward(const Tensor& x, Mode mode) {
  out_shape(x.shape());
  if (mode == Mode::eval) {
    mask_ = Tensor();
    return x;
  }
  const float keep_probability = 1.0f - p_;
  const float kept_scale = keep_probability > 0.0f ? 1.0f / keep_probability : 0.0f;
  // The mask is drawn in order from one generator (not in parallel), so a
  // seed fixes it whatever the thread count.
  mask_ = Tensor::uninitialized(x.shape());
  Tensor y = Tensor::uninitialized(x.shape());
  const float* x_data = x.data();
  float* mask = mask_.data();
  float* y_data = y.data();
  for (int64_t i = 0; i < x.numel(); ++i) {
    mask[i] = rng_.bernoulli(keep_probability) ? kept_scale : 0.0f;
    y_data[i] = x_data[i] * mask[i];
  }
  return y;
}

Tensor Dropout::backward(const Tensor& dy) {
  BRANCHY_CHECK(mask_.defined(), describe(), ": backward needs a train-mode forward first");
  BRANCHY_CHECK(dy.shape() == mask_.shape(), describe(), ": backward got dy ", dy.shape().str(),
                ", expected ", mask_.shape().str());
  Tensor dx = Tensor::uninitialized(dy.shape());
  const float* dy_data = dy.data();
  const float* mask = mask_.data();
  float* dx_data = dx.data();
  for (int64_t i = 0; i < dy.numel(); ++i) dx_data[i] = dy_data[i] * mask[i];
  return dx;
}

}  // namespace branchy
