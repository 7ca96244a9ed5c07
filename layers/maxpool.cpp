#include "layers/maxpool.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/error.h"
#include "engine/kernels.h"
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
  return pooled_shape([this] { return describe(); }, in, kernel_, stride_, padding_, ceil_mode_);
}

namespace {

// Training keeps where each maximum came from: the definition's contest,
// vectorised over the window starts along a row (engine/kernels.h
// window_max_contest), every stride-th start kept. A window with nothing
// above -inf points at its first position inside the image, as the
// definition. `scratch` holds 2 * FW floats.
void pool_framed_plane(const float* frame, int64_t frame_width, int kernel, int stride, int padding, int64_t width,
                       int64_t out_height, int64_t out_width, float* scratch, float* y, int32_t* argmax) {
  const int64_t starts = (out_width - 1) * stride + 1;  // window starts along a row, every stride-th kept
  float* best = scratch;                // (starts)
  float* offset = scratch + frame_width;  // (starts) r * kernel + c of each window's maximum
  for (int64_t oh = 0; oh < out_height; ++oh) {
    window_max_contest(frame + oh * stride * frame_width, frame_width, kernel, starts, best, offset);
    for (int64_t ow = 0; ow < out_width; ++ow) {
      const float value = best[ow * stride];
      const int at = static_cast<int>(offset[ow * stride]);
      int64_t r = at / kernel, c = at % kernel;
      if (value == -std::numeric_limits<float>::infinity()) {
        r = std::max<int64_t>(padding - oh * stride, 0);
        c = std::max<int64_t>(padding - ow * stride, 0);
      }
      y[oh * out_width + ow] = value;
      argmax[oh * out_width + ow] =
          static_cast<int32_t>((oh * stride - padding + r) * width + (ow * stride - padding + c));
    }
  }
}

// Eval needs values only, so the window max splits into passes that
// vectorise (engine/kernels.h nan_max: a NaN wins, as in the contest): the
// max down each column over the window's k rows, then across k neighbouring
// columns at every position, then every stride-th of those. `scratch` holds
// 2 * FW floats.
template <int KERNEL>
void pool_framed_plane_values(const float* frame, int64_t frame_width, int kernel, int stride, int64_t out_height,
                              int64_t out_width, float* scratch, float* y) {
  const int k = KERNEL > 0 ? KERNEL : kernel;
  float* column_max = scratch;                // (FW) max over the window's rows
  float* window_max = scratch + frame_width;  // (FW - k + 1) max over k columns from w on
  const int64_t starts = frame_width - k + 1;
  for (int64_t oh = 0; oh < out_height; ++oh) {
    const float* top = frame + oh * stride * frame_width;  // first of the window's k rows
    std::copy_n(top, frame_width, column_max);
    for (int r = 1; r < k; ++r) nan_max(column_max, top + r * frame_width, column_max, frame_width);
    std::copy_n(column_max, starts, window_max);
    for (int c = 1; c < k; ++c) nan_max(window_max, column_max + c, window_max, starts);
    for (int64_t ow = 0; ow < out_width; ++ow) y[oh * out_width + ow] = window_max[ow * stride];
  }
}

// Windows without padding (every pool of the five networks), values only:
// no frame to copy. Per output row, the max down the window's rows (fewer
// at the bottom in ceil mode), then across k neighbouring columns from each
// position (fewer at the right end, where ceil mode's last window is cut),
// every stride-th kept. `scratch` holds 2 * W floats.
void pool_unpadded_values(const float* x, int64_t height, int64_t width, int kernel, int stride, int64_t out_height,
                          int64_t out_width, float* scratch, float* y) {
  float* row_max = scratch;             // (W) max down the window's rows
  float* window_max = scratch + width;  // (W) max of columns w .. w + k - 1 that exist
  for (int64_t oh = 0; oh < out_height; ++oh) {
    const float* top = x + oh * stride * width;
    const int64_t rows = std::min<int64_t>(kernel, height - oh * stride);
    const float* column = top;
    if (rows > 1) {
      nan_max(top, top + width, row_max, width);
      for (int64_t r = 2; r < rows; ++r) nan_max(row_max, top + r * width, row_max, width);
      column = row_max;
    }
    // After step c, window_max[w] covers columns w .. w + c; the last c
    // positions already cover every column to the end.
    const float* window = column;  // step 0: each column alone
    for (int c = 1; c < kernel && c < width; ++c) {
      if (c == 1) window_max[width - 1] = column[width - 1];
      nan_max(window, column + c, window_max, width - c);
      window = window_max;
    }
    for (int64_t ow = 0; ow < out_width; ++ow) y[oh * out_width + ow] = window[ow * stride];
  }
}

}  // namespace

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

  if (!keep && padding_ == 0) {
    Tensor y = Tensor::uninitialized(out);
    const float* x_data = x.data();
    float* y_data = y.data();
    parallel_chunks(planes, out.numel() * kernel_ * kernel_, [&](int64_t first_plane, int64_t end_plane) {
      std::vector<float> scratch(static_cast<size_t>(2 * width));
      for (int64_t plane = first_plane; plane < end_plane; ++plane)
        pool_unpadded_values(x_data + plane * height * width, height, width, kernel_, stride_, out_height,
                             out_width, scratch.data(), y_data + plane * out_height * out_width);
    });
    return y;
  }

  // The frame: padding rows/cols of -inf on the top/left, the input, then -inf
  // to the right/bottom as far as the last window reaches (ceil mode reaches
  // past the padding). In floor mode the last windows may stop short of the
  // input's end; rows and columns no window reads are not copied.
  const int64_t frame_height = (out_height - 1) * stride_ + kernel_;
  const int64_t frame_width = (out_width - 1) * stride_ + kernel_;
  const int64_t copy_rows = std::min(height, frame_height - padding_);
  const int64_t copy_cols = std::min(width, frame_width - padding_);

  Tensor y = Tensor::uninitialized(out);
  const float* x_data = x.data();
  float* y_data = y.data();
  int32_t* argmax_data = keep ? argmax_.data() : nullptr;
  const auto pool_values = kernel_ == 2   ? pool_framed_plane_values<2>
                           : kernel_ == 3 ? pool_framed_plane_values<3>
                                          : pool_framed_plane_values<0>;
  parallel_chunks(planes, out.numel() * kernel_ * kernel_, [&](int64_t first_plane, int64_t end_plane) {
    // Filled once per chunk: the border is never written, the inside is
    // overwritten by every plane.
    std::vector<float> frame(static_cast<size_t>(frame_height * frame_width),
                             -std::numeric_limits<float>::infinity());
    std::vector<float> scratch(static_cast<size_t>(2 * frame_width));
    for (int64_t plane = first_plane; plane < end_plane; ++plane) {
      const float* x_plane = x_data + plane * height * width;  // (H, W)
      for (int64_t h = 0; h < copy_rows; ++h)
        std::copy_n(x_plane + h * width, copy_cols, frame.data() + (h + padding_) * frame_width + padding_);
      float* y_plane = y_data + plane * out_height * out_width;  // (OH, OW)
      int32_t* argmax_plane = keep ? argmax_data + plane * out_height * out_width : nullptr;
      if (keep) {
        pool_framed_plane(frame.data(), frame_width, kernel_, stride_, padding_, width, out_height, out_width,
                          scratch.data(), y_plane, argmax_plane);
      } else {
        pool_values(frame.data(), frame_width, kernel_, stride_, out_height, out_width, scratch.data(), y_plane);
      }
    }
  });
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
  parallel_for(planes, dy.numel(), [&](int64_t plane) {
    const float* dy_plane = dy_data + plane * out_plane;
    const int32_t* argmax_plane = argmax_data + plane * out_plane;
    float* dx_plane = dx_data + plane * in_plane;  // each thread writes its own plane
    for (int64_t o = 0; o < out_plane; ++o) dx_plane[argmax_plane[o]] += dy_plane[o];
  });
  return dx;
}

}  // namespace branchy

namespace branchy::reference {

// The definition, window by window: clip each window to the input and take the
// first maximum (a NaN wins). MaxPool2d::forward must agree exactly.
Tensor maxpool2d_forward(const Tensor& x, int kernel, int stride, int padding, bool ceil_mode,
                         std::vector<int32_t>* argmax) {
  const Shape out = pooled_shape([] { return std::string("maxpool reference"); }, x.shape(), kernel, stride, padding, ceil_mode);
  const int64_t planes = out[0] * out[1];
  const int64_t height = x.dim(2), width = x.dim(3);
  const int64_t out_height = out[2], out_width = out[3];
  Tensor y = Tensor::uninitialized(out);
  if (argmax) argmax->assign(static_cast<size_t>(out.numel()), 0);
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float* x_plane = x.data() + plane * height * width;
    for (int64_t oh = 0; oh < out_height; ++oh) {
      const WindowSpan rows = window_span(oh, kernel, stride, padding);
      const int64_t h_begin = std::max<int64_t>(rows.begin, 0), h_end = std::min(rows.end, height);
      for (int64_t ow = 0; ow < out_width; ++ow) {
        const WindowSpan cols = window_span(ow, kernel, stride, padding);
        const int64_t w_begin = std::max<int64_t>(cols.begin, 0), w_end = std::min(cols.end, width);
        float best = -std::numeric_limits<float>::infinity();
        int64_t best_index = h_begin * width + w_begin;
        for (int64_t h = h_begin; h < h_end; ++h) {
          for (int64_t w = w_begin; w < w_end; ++w) {
            const float value = x_plane[h * width + w];
            if (value > best || std::isnan(value)) {
              best = value;
              best_index = h * width + w;
            }
          }
        }
        const int64_t o = (plane * out_height + oh) * out_width + ow;
        y.data()[o] = best;
        if (argmax) (*argmax)[static_cast<size_t>(o)] = static_cast<int32_t>(best_index);
      }
    }
  }
  return y;
}

}  // namespace branchy::reference
