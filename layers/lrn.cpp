#include "layers/lrn.h"

#include <algorithm>
#include <cmath>
#include <vector>
#include <sstream>

#include "engine/error.h"
#include "engine/threads.h"

namespace branchy {

namespace {

// Elements per channel within one sample (H * W for images).
int64_t plane_size(const Shape& shape) { return shape.sample_numel() / shape[1]; }

}  // namespace

LocalResponseNorm::LocalResponseNorm(int size, float alpha, float beta, float k)
    : size_(size), alpha_(alpha), beta_(beta), k_(k) {
  BRANCHY_CHECK(size >= 1, "lrn: size must be at least 1, got ", size);
  // k > 0 and alpha >= 0 keep the denominator d above 0.
  BRANCHY_CHECK(k > 0.0f, "lrn: k must be positive, got ", k);
  BRANCHY_CHECK(alpha >= 0.0f, "lrn: alpha must not be negative, got ", alpha);
}

std::string LocalResponseNorm::describe() const {
  std::ostringstream text;
  text << "lrn size" << size_ << " alpha" << alpha_ << " beta" << beta_ << " k" << k_;
  return text.str();
}

Shape LocalResponseNorm::out_shape(const Shape& in) const {
  BRANCHY_CHECK(in.rank() >= 3 && in.rank() <= 5, describe(), ": expected input (N, C, H, W) (or (N, C, L), ",
                "(N, C, D, H, W)), got ", in.str());
  return in;
}

namespace {

// d^(-beta) over n values. std::pow costs ~30 ns a call and made LRN as slow
// as the convolution before it; AlexNet's (and BranchyNet's) beta = 0.75 is
// 1 / sqrt(d * sqrt(d)), which vectorises (float rounding of a few ulp).
// (Loops calling it are unswitched on beta and vectorised by the compiler.)
inline float inverse_power(float d, float beta) {
  return beta == 0.75f ? 1.0f / std::sqrt(d * std::sqrt(d)) : std::pow(d, -beta);
}

void inverse_powers(const float* d, float beta, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = inverse_power(d[i], beta);
}

}  // namespace

Tensor LocalResponseNorm::forward(const Tensor& x, Mode mode) {
  const Shape shape = out_shape(x.shape());
  const int64_t channels = shape[1], plane = plane_size(shape);
  const int64_t planes = shape[0] * channels;
  const bool keep = mode == Mode::train;
  Tensor y = Tensor::uninitialized(shape);
  Tensor denominator = keep ? Tensor::uninitialized(shape) : Tensor();
  const float* x_data = x.data();
  float* y_data = y.data();
  float* d_data = keep ? denominator.data() : nullptr;
  const float alpha_over_size = alpha_ / static_cast<float>(size_);
  const int64_t before = size_ / 2, after = (size_ - 1) / 2;  // W(c) = [c - before, c + after]
  parallel_chunks(planes, x.numel() * size_, [&](int64_t first_plane, int64_t end_plane) {
    std::vector<float> eval_d(keep ? 0 : static_cast<size_t>(plane));  // d of one plane, when not kept
    for (int64_t n_c = first_plane; n_c < end_plane; ++n_c) {
      const int64_t n = n_c / channels, c = n_c % channels;
      const int64_t first = std::max<int64_t>(c - before, 0), last = std::min(c + after, channels - 1);
      const float* x_sample = x_data + n * channels * plane;  // (C, plane)
      const float* x_plane = x_sample + c * plane;
      float* y_plane = y_data + n_c * plane;
      float* d = keep ? d_data + n_c * plane : eval_d.data();
      // d = k + alpha / size * (sum of squares over the window of channels)
      std::fill(d, d + plane, 0.0f);
      for (int64_t other = first; other <= last; ++other) {
        const float* x_other = x_sample + other * plane;
        for (int64_t i = 0; i < plane; ++i) d[i] += x_other[i] * x_other[i];
      }
      for (int64_t i = 0; i < plane; ++i) d[i] = k_ + alpha_over_size * d[i];
      inverse_powers(d, beta_, plane, y_plane);
      for (int64_t i = 0; i < plane; ++i) y_plane[i] *= x_plane[i];
    }
  });
  x_ = keep ? x : Tensor();
  y_ = keep ? y : Tensor();
  denominator_ = denominator;
  return y;
}

Tensor LocalResponseNorm::backward(const Tensor& dy) {
  BRANCHY_CHECK(x_.defined(), describe(), ": backward needs a train-mode forward first");
  BRANCHY_CHECK(dy.shape() == x_.shape(), describe(), ": backward got dy ", dy.shape().str(), ", expected ",
                x_.shape().str());
  const Shape& shape = x_.shape();
  const int64_t channels = shape[1], plane = plane_size(shape);
  const int64_t planes = shape[0] * channels;
  const float* x_data = x_.data();
  const float* y_data = y_.data();
  const float* d_data = denominator_.data();
  const float* dy_data = dy.data();

  // ratio = dy * y / d, the per-channel term every window that reads x_j sums.
  Tensor ratio = Tensor::uninitialized(shape);
  float* ratio_data = ratio.data();
  parallel_chunks(planes, ratio.numel(), [&](int64_t first_plane, int64_t end_plane) {
    for (int64_t i = first_plane * plane; i < end_plane * plane; ++i)
      ratio_data[i] = dy_data[i] * y_data[i] / d_data[i];
  });

  Tensor dx = Tensor::uninitialized(shape);
  float* dx_data = dx.data();
  const float coefficient = 2.0f * alpha_ * beta_ / static_cast<float>(size_);
  // j is in W(c) exactly when c is in [j - after, j + before].
  const int64_t before = size_ / 2, after = (size_ - 1) / 2;
  parallel_chunks(planes, dx.numel() * size_, [&](int64_t first_plane, int64_t end_plane) {
    for (int64_t n_j = first_plane; n_j < end_plane; ++n_j) {
      const int64_t n = n_j / channels, j = n_j % channels;
      const int64_t first = std::max<int64_t>(j - after, 0), last = std::min(j + before, channels - 1);
      const float* ratio_sample = ratio_data + n * channels * plane;  // (C, plane)
      const int64_t offset = n_j * plane;
      float* dx_plane = dx_data + offset;
      // The window's sum of ratio planes, plane by plane (whole rows in vectors), into dx.
      std::fill(dx_plane, dx_plane + plane, 0.0f);
      for (int64_t c = first; c <= last; ++c) {
        const float* ratio_plane = ratio_sample + c * plane;
        for (int64_t i = 0; i < plane; ++i) dx_plane[i] += ratio_plane[i];
      }
      const float* d = d_data + offset;
      const float* dy_plane = dy_data + offset;
      const float* x_plane = x_data + offset;
      for (int64_t i = 0; i < plane; ++i)
        dx_plane[i] = dy_plane[i] * inverse_power(d[i], beta_) - coefficient * x_plane[i] * dx_plane[i];
    }
  });
  return dx;
}

}  // namespace branchy
