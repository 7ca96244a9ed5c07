#include "layers/avgpool.h"

#include <algorithm>

#include "engine/error.h"
#include "engine/threads.h"
#include "layers/pool_geometry.h"

namespace branchy {

namespace {

// A window along one axis: the input rows it reads, clipped to [0, in), and
// how many of its positions lie in the padded input [-padding, in + padding).
struct ClippedWindow {
  int64_t begin, end, padded_count;
};

ClippedWindow clip_window(int64_t o, int kernel, int stride, int padding, int64_t in) {
  const WindowSpan span = window_span(o, kernel, stride, padding);
  const int64_t padded_end = std::min(span.end, in + padding);
  return {std::max<int64_t>(span.begin, 0), std::min(span.end, in), padded_end - span.begin};
}

}  // namespace

AvgPool2d::AvgPool2d(int kernel, int stride, int padding, bool ceil_mode)
    : kernel_(kernel), stride_(stride), padding_(padding), ceil_mode_(ceil_mode) {
  check_pool_arguments(describe(), kernel, stride, padding);
}

std::string AvgPool2d::describe() const {
  return "avgpool k" + std::to_string(kernel_) + " s" + std::to_string(stride_) + " p" +
         std::to_string(padding_) + (ceil_mode_ ? " ceil" : "");
}

Shape AvgPool2d::out_shape(const Shape& in) const {
  return pooled_shape([this] { return describe(); }, in, kernel_, stride_, padding_, ceil_mode_);
}

Tensor AvgPool2d::forward(const Tensor& x, Mode mode) {
  const Shape out = out_shape(x.shape());
  const int64_t planes = out[0] * out[1];
  const int64_t height = x.dim(2), width = x.dim(3);
  const int64_t out_height = out[2], out_width = out[3];
  ready_for_backward_ = mode == Mode::train;
  in_shape_ = x.shape();
  out_shape_ = out;

  Tensor y = Tensor::uninitialized(out);
  const float* x_data = x.data();
  float* y_data = y.data();
  parallel_for(planes, out.numel() * kernel_ * kernel_, [&](int64_t plane) {
    const float* x_plane = x_data + plane * height * width;    // (H, W)
    float* y_plane = y_data + plane * out_height * out_width;  // (OH, OW)
    for (int64_t oh = 0; oh < out_height; ++oh) {
      const ClippedWindow rows = clip_window(oh, kernel_, stride_, padding_, height);
      for (int64_t ow = 0; ow < out_width; ++ow) {
        const ClippedWindow cols = clip_window(ow, kernel_, stride_, padding_, width);
        float total = 0.0f;
        for (int64_t h = rows.begin; h < rows.end; ++h)
          for (int64_t w = cols.begin; w < cols.end; ++w) total += x_plane[h * width + w];
        y_plane[oh * out_width + ow] = total / static_cast<float>(rows.padded_count * cols.padded_count);
      }
    }
  });
  return y;
}

Tensor AvgPool2d::backward(const Tensor& dy) {
  BRANCHY_CHECK(ready_for_backward_, describe(), ": backward needs a train-mode forward first");
  BRANCHY_CHECK(dy.shape() == out_shape_, describe(), ": backward got dy ", dy.shape().str(), ", expected ",
                out_shape_.str());
  Tensor dx(in_shape_);  // zeros; overlapping windows add into it
  const int64_t planes = out_shape_[0] * out_shape_[1];
  const int64_t height = in_shape_[2], width = in_shape_[3];
  const int64_t out_height = out_shape_[2], out_width = out_shape_[3];
  const float* dy_data = dy.data();
  float* dx_data = dx.data();
  parallel_for(planes, dy.numel() * kernel_ * kernel_, [&](int64_t plane) {
    const float* dy_plane = dy_data + plane * out_height * out_width;
    float* dx_plane = dx_data + plane * height * width;  // each thread writes its own plane
    for (int64_t oh = 0; oh < out_height; ++oh) {
      const ClippedWindow rows = clip_window(oh, kernel_, stride_, padding_, height);
      for (int64_t ow = 0; ow < out_width; ++ow) {
        const ClippedWindow cols = clip_window(ow, kernel_, stride_, padding_, width);
        const float share =
            dy_plane[oh * out_width + ow] / static_cast<float>(rows.padded_count * cols.padded_count);
        for (int64_t h = rows.begin; h < rows.end; ++h)
          for (int64_t w = cols.begin; w < cols.end; ++w) dx_plane[h * width + w] += share;
      }
    }
  });
  return dx;
}

}  // namespace branchy
