#include "engine/conv_direct_backward.h"

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/conv_direct.h"

namespace branchy {

namespace {

using Vec = xsimd::batch<float>;
constexpr int kLanes = static_cast<int>(Vec::size);
// Output channels whose sums share each loaded input vector: 4 x KW sums (12
// or 20) fit AVX-512's 32 vector registers; AVX2 has 16, so 3 x 3 or 2 x 5.
constexpr int channel_block(int kernel_w) { return kLanes >= 16 ? 4 : (kernel_w == 3 ? 3 : 2); }

// Positions are counted over the padded width, as in conv_direct.cpp:
// p = oh * PW + ow. dy_wide[o][p] holds dy[o][oh][ow], and 0 where ow >= OW
// and past the last row, so every tap (kh, kw) of dW[o][c] is one dot product
// of two contiguous runs:
//   dW[o][c][kh][kw] = sum over p of dy_wide[o][p] * x_padded[c][kh*PW + kw + p]
// For one kernel row kh, COUNT output channels x KW taps sums stay in
// registers (at most 4 x 5 = 20 vectors) while p runs: each dy vector loaded
// feeds KW multiply-adds and each input vector COUNT.
template <int COUNT, int KW>
void accumulate_kernel_row(const float* dy_wide, int64_t wide_size, const float* x_row, int64_t positions,
                           float* d_weight_row, int64_t filter) {
  Vec acc[COUNT][KW];
  for (int j = 0; j < COUNT; ++j)
    for (int kw = 0; kw < KW; ++kw) acc[j][kw] = Vec(0.0f);
  for (int64_t p = 0; p < positions; p += kLanes) {
    Vec d[COUNT];
    for (int j = 0; j < COUNT; ++j) d[j] = Vec::load_unaligned(dy_wide + j * wide_size + p);
    for (int kw = 0; kw < KW; ++kw) {
      const Vec x = Vec::load_unaligned(x_row + kw + p);
      for (int j = 0; j < COUNT; ++j) acc[j][kw] = xsimd::fma(d[j], x, acc[j][kw]);
    }
  }
  for (int j = 0; j < COUNT; ++j)
    for (int kw = 0; kw < KW; ++kw) d_weight_row[j * filter + kw] += xsimd::hadd(acc[j][kw]);
}

template <int KW>
void accumulate_channel_block(int count, const float* dy_wide, int64_t wide_size, const float* x_row,
                              int64_t positions, float* d_weight_row, int64_t filter) {
  switch (count) {
    case 4: accumulate_kernel_row<4, KW>(dy_wide, wide_size, x_row, positions, d_weight_row, filter); break;
    case 3: accumulate_kernel_row<3, KW>(dy_wide, wide_size, x_row, positions, d_weight_row, filter); break;
    case 2: accumulate_kernel_row<2, KW>(dy_wide, wide_size, x_row, positions, d_weight_row, filter); break;
    default: accumulate_kernel_row<1, KW>(dy_wide, wide_size, x_row, positions, d_weight_row, filter); break;
  }
}

}  // namespace

bool direct_training_conv_supported(const ConvGeometry& g) {
  return g.stride_h == 1 && g.stride_w == 1 && g.kernel_h == g.kernel_w &&
         (g.kernel_w == 3 || g.kernel_w == 5) && g.pad_h <= g.kernel_h - 1 && g.pad_w <= g.kernel_w - 1;
}

// Images stacked per call of accumulate_stacked: enough that each run of
// positions is long next to the reductions that end it, few enough that a
// block of dy rows and an input row stay in L1/L2 (measured on 3x3 and 5x5
// shapes from 7x7 to 28x28: ~2048 positions per run was best).
constexpr int64_t kPositionsPerRun = 2048;

static void accumulate_stacked(const float* images, int64_t image_in, const float* dy, int64_t image_out,
                               int64_t count, const ConvGeometry& g, int out_channels, float* d_weight) {
  const int OH = g.out_height(), OW = g.out_width();
  const int PH = g.height + 2 * g.pad_h, PW = g.width + 2 * g.pad_w;
  const int64_t plane = static_cast<int64_t>(PH) * PW;                   // one padded image
  const int64_t tall = count * plane;                                     // the images stacked
  const int64_t span = (count - 1) * plane + static_cast<int64_t>(OH - 1) * PW + OW;  // positions with outputs
  const int64_t positions = (span + kLanes - 1) / kLanes * kLanes;        // whole vectors
  const int64_t filter = static_cast<int64_t>(g.channels) * g.kernel_h * g.kernel_w;

  // The images stacked vertically, each with its own padding: x_tall
  // (C, count * PH, PW) and dy_tall (O, count * PH, PW), image i's output
  // (oh, ow) at position i * plane + oh * PW + ow and zeros everywhere else.
  // A window that straddles two images meets dy == 0, so one run of
  // positions sums over all the images and each sum is reduced only once.
  thread_local std::vector<float> x_buffer, dy_buffer;
  const int64_t x_size = g.channels * tall + kLanes;  // slack: the last tap's last vector
  const int64_t dy_size = out_channels * positions;
  if (static_cast<int64_t>(x_buffer.size()) < x_size) x_buffer.resize(static_cast<size_t>(x_size));
  if (static_cast<int64_t>(dy_buffer.size()) < dy_size) dy_buffer.resize(static_cast<size_t>(dy_size));
  float* x_tall = x_buffer.data();
  float* dy_tall = dy_buffer.data();
  std::memset(x_tall, 0, sizeof(float) * x_size);
  std::memset(dy_tall, 0, sizeof(float) * dy_size);
  for (int64_t i = 0; i < count; ++i) {
    for (int c = 0; c < g.channels; ++c)
      for (int h = 0; h < g.height; ++h)
        std::memcpy(x_tall + c * tall + i * plane + static_cast<int64_t>(h + g.pad_h) * PW + g.pad_w,
                    images + i * image_in + (static_cast<int64_t>(c) * g.height + h) * g.width,
                    sizeof(float) * g.width);
    for (int o = 0; o < out_channels; ++o)
      for (int oh = 0; oh < OH; ++oh)
        std::memcpy(dy_tall + o * positions + i * plane + static_cast<int64_t>(oh) * PW,
                    dy + i * image_out + (static_cast<int64_t>(o) * OH + oh) * OW, sizeof(float) * OW);
  }

  const int block_size = channel_block(g.kernel_w);
  for (int o0 = 0; o0 < out_channels; o0 += block_size) {
    const int block = std::min(block_size, out_channels - o0);
    for (int c = 0; c < g.channels; ++c)
      for (int kh = 0; kh < g.kernel_h; ++kh) {
        const float* x_row = x_tall + c * tall + static_cast<int64_t>(kh) * PW;
        float* d_weight_row = d_weight + o0 * filter + (static_cast<int64_t>(c) * g.kernel_h + kh) * g.kernel_w;
        const float* dy_block = dy_tall + o0 * positions;
        if (g.kernel_w == 3)
          accumulate_channel_block<3>(block, dy_block, positions, x_row, positions, d_weight_row, filter);
        else
          accumulate_channel_block<5>(block, dy_block, positions, x_row, positions, d_weight_row, filter);
      }
  }
}

void conv2d_direct_backward_weights(const float* images, int64_t image_stride, const float* dy,
                                    int64_t dy_stride, int64_t count, const ConvGeometry& g, int out_channels,
                                    float* d_weight) {
  const int64_t plane = static_cast<int64_t>(g.height + 2 * g.pad_h) * (g.width + 2 * g.pad_w);
  const int64_t per_run = std::max<int64_t>(1, kPositionsPerRun / plane);
  for (int64_t first = 0; first < count; first += per_run)
    accumulate_stacked(images + first * image_stride, image_stride, dy + first * dy_stride, dy_stride,
                       std::min(per_run, count - first), g, out_channels, d_weight);
}

void flip_filters_for_input_gradient(const float* weight, int out_channels, const ConvGeometry& g,
                                     float* w_flipped) {
  const int C = g.channels, KH = g.kernel_h, KW = g.kernel_w;
  for (int o = 0; o < out_channels; ++o)
    for (int c = 0; c < C; ++c)
      for (int kh = 0; kh < KH; ++kh)
        for (int kw = 0; kw < KW; ++kw)
          w_flipped[((static_cast<int64_t>(c) * out_channels + o) * KH + kh) * KW + kw] =
              weight[((static_cast<int64_t>(o) * C + c) * KH + (KH - 1 - kh)) * KW + (KW - 1 - kw)];
}

ConvGeometry input_gradient_geometry(const ConvGeometry& g, int out_channels) {
  return ConvGeometry{out_channels, g.out_height(), g.out_width(), g.kernel_h, g.kernel_w, 1, 1,
                      g.kernel_h - 1 - g.pad_h, g.kernel_w - 1 - g.pad_w};
}

void conv2d_direct_backward_data(const float* dy, const ConvGeometry& g, int out_channels, const float* w_flipped,
                                 float* dx) {
  conv2d_direct_stride1(dy, input_gradient_geometry(g, out_channels), w_flipped, nullptr, g.channels, dx);
}

}  // namespace branchy
