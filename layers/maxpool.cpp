#include "layers/maxpool.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/error.h"
#include "engine/threads.h"
#include "layers/pool_geometry.h"

namespace branchy {

MaxPool2d::MaxPool2d(int kernel, int stride, int padding, bool ceil_mode)
    : kernel_(kernel), stride_(stride), padding_(padding), ceil_mode_(ceil_mode) {
  check_pool_arguments(describe(), kernel, stride, padding);
}

std::string MaxPool2d::describe() const {
  return "maxpool k" + std::to_string(kernel_) + " s" + std::to_string(stride_) + " p" +
         std::to_string(padding_) + (ceil_mode_ ? " ceil" : "");
}

Shape MaxPool2d::out_shape(const Shape& in) const {
  return pooled_shape(describe(), in, kernel_, stride_, padding_, ceil_mode_);
}

Tensor MaxPool2d::forward(const Tensor& x, Mode mode) {
  const Shape out = out_shape(x.shape());
  const int64_t planes = out[0] * out[1];
  const int64_t height = x.dim(2), width = x.dim(3);
  const int64_t out_height = out[2], out_width = out[3];
  const bool keep = mode == Mode::train;
  ready_for_backward_ = keep;
  in_shape_ = x.shape();
  out_shape_ = out;
  if (keep) {
    argmax_.resize(static_cast<size_t>(out.numel()));
  } else {
    std::vector<int32_t>().swap(argmax_);  // eval keeps nothing
  }

  Tensor y = Tensor::uninitialized(out);
  const float* x_data = x.data();
  float* y_data = y.data();
  int32_t* argmax_data = argmax_.data();
#pragma omp parallel for if (worth_parallel(out.numel() * kernel_ * kernel_))
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float* x_plane = x_data + plane * height * width;  // (H, W)
    float* y_plane = y_data + plane * out_height * out_width;  // (OH, OW)
    int32_t* argmax_plane = keep ? argmax_data + plane * out_height * out_width : nullptr;
    for (int64_t oh = 0; oh < out_height; ++oh) {
      const WindowSpan rows = window_span(oh, kernel_, stride_, padding_);
      const int64_t h_begin = std::max<int64_t>(rows.begin, 0), h_end = std::min(rows.end, height);
      for (int64_t ow = 0; ow < out_width; ++ow) {
        const WindowSpan cols = window_span(ow, kernel_, stride_, padding_);
        const int64_t w_begin = std::max<int64_t>(cols.begin, 0), w_end = std::min(cols.end, width);
        // Padding is -inf; every window overlaps the input (padding <= kernel / 2).
        float best = -std::numeric_limits<float>::infinity();
        int64_t best_index = h_begin * width + w_begin;
        for (int64_t h = h_begin; h < h_end; ++h) {
          for (int64_t w = w_begin; w < w_end; ++w) {
            const float value = x_plane[h * width + w];
            if (value > best || std::isnan(value)) {  // strict: the first maximum wins
              best = value;
              best_index = h * width + w;
            }
          }
        }
        y_plane[oh * out_width + ow] = best;
        if (keep) argmax_plane[oh * out_width + ow] = static_cast<int32_t>(best_index);
      }
    }
  }
  return y;
}

Tensor MaxPool2d::backward(const Tensor& dy) {
  BRANCHY_CHECK(ready_for_backward_, describe(), ": backward needs a train-mode forward first");
  BRANCHY_CHECK(dy.shape() == out_shape_, describe(), ": backward got dy ", dy.shape().str(), ", expected ",
                out_shape_.str());
  Tensor dx(in_shape_);  // zeros: only argmax positions receive gradient
  const int64_t planes = out_shape_[0] * out_shape_[1];
  const int64_t in_plane = in_shape_[2] * in_shape_[3];
  const int64_t out_plane = out_shape_[2] * out_shape_[3];
  const float* dy_data = dy.data();
  const int32_t* argmax_data = argmax_.data();
  float* dx_data = dx.data();
#pragma omp parallel for if (worth_parallel(dy.numel()))
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float* dy_plane = dy_data + plane * out_plane;
    const int32_t* argmax_plane = argmax_data + plane * out_plane;
    float* dx_plane = dx_data + plane * in_plane;  // each thread writes its own plane
    for (int64_t o = 0; o < out_plane; ++o) dx_plane[argmax_plane[o]] += dy_plane[o];
  }
  return dx;
}

}  // namespace branchy
