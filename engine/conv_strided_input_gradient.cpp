#include "engine/conv_strided_input_gradient.h"

#include <algorithm>

#include "engine/conv_channel_vector.h"
#include "engine/error.h"

namespace branchy {

namespace {

// Taps of a kernel of `kernel` along one axis that fall in phase `phase` at this stride.
int phase_taps(int kernel, int stride, int phase) { return phase < kernel ? (kernel - phase + stride - 1) / stride : 0; }

// Along one axis: the first input index in phase `phase`, and the index i' of
// its output in the phase conv (the next ones follow, one per stride).
struct PhaseStart {
  int first_input, first_output;
};
PhaseStart phase_start(int stride, int pad, int phase) {
  const int first_input = ((phase - pad) % stride + stride) % stride;
  return {first_input, (first_input + pad - phase) / stride};
}

}  // namespace

void plan_strided_input_gradient(const float* weight, int out_channels, const ConvGeometry& g,
                                 StridedInputGradient& plan) {
  const int C = g.channels, O = out_channels, KH = g.kernel_h, KW = g.kernel_w, sh = g.stride_h, sw = g.stride_w;
  plan.forward = g;
  plan.out_channels = O;
  plan.phases.resize(static_cast<size_t>(sh) * sw);
  std::vector<float> split;  // (C, O, Kp, Kq): one phase's taps, reversed
  for (int ph = 0; ph < sh; ++ph)
    for (int pw = 0; pw < sw; ++pw) {
      StridedInputGradient::Phase& phase = plan.phases[static_cast<size_t>(ph) * sw + pw];
      const int Kp = phase_taps(KH, sh, ph), Kq = phase_taps(KW, sw, pw);
      phase.row_phase = ph;
      phase.col_phase = pw;
      phase.has_taps = Kp > 0 && Kq > 0;
      phase.packed = nullptr;
      if (!phase.has_taps) continue;
      phase.over_dy = ConvGeometry{O, g.out_height(), g.out_width(), Kp, Kq, 1, 1, Kp - 1, Kq - 1};
      split.resize(static_cast<size_t>(C) * O * Kp * Kq);
      for (int c = 0; c < C; ++c)
        for (int o = 0; o < O; ++o)
          for (int m = 0; m < Kp; ++m)
            for (int n = 0; n < Kq; ++n) {
              const int kh = ph + sh * (Kp - 1 - m), kw = pw + sw * (Kq - 1 - n);
              split[((static_cast<size_t>(c) * O + o) * Kp + m) * Kq + n] =
                  weight[((static_cast<int64_t>(o) * C + c) * KH + kh) * KW + kw];
            }
      phase.packed = pack_channel_vector_filters(split.data(), C, phase.over_dy, phase.storage);
    }
}

void strided_input_gradient(const float* dy, const StridedInputGradient& plan, float* dx) {
  const ConvGeometry& g = plan.forward;
  const int C = g.channels, H = g.height, W = g.width, O = plan.out_channels;
  const int OH = g.out_height(), OW = g.out_width();
  // Each phase's outputs: the dx rows ih = first_input + k*s_h (k < count)
  // are the phase conv's rows first_output + k, and the same for columns.
  struct Axis {
    PhaseStart start;
    int count;
  };
  auto axis = [](int size, int stride, int pad, int phase) {
    const PhaseStart start = phase_start(stride, pad, phase);
    return Axis{start, start.first_input < size ? (size - start.first_input + stride - 1) / stride : 0};
  };
  // dy zero-padded once for every phase: `top` rows and `left` columns (the
  // most any phase's taps reach back), and below / right as far as any
  // phase's window reads.
  int top = 0, left = 0;
  for (const StridedInputGradient::Phase& phase : plan.phases)
    if (phase.has_taps) {
      top = std::max(top, phase.over_dy.pad_h);
      left = std::max(left, phase.over_dy.pad_w);
    }
  int rows = top + OH, cols = left + OW;
  for (const StridedInputGradient::Phase& phase : plan.phases) {
    const Axis r = axis(H, g.stride_h, g.pad_h, phase.row_phase), c = axis(W, g.stride_w, g.pad_w, phase.col_phase);
    rows = std::max(rows, top + r.start.first_output + r.count);
    cols = std::max(cols, left + c.start.first_output + c.count);
  }
  thread_local std::vector<float> padded_dy, phase_out;
  const int64_t plane = static_cast<int64_t>(rows) * cols;
  padded_dy.assign(static_cast<size_t>(O * plane), 0.0f);
  for (int o = 0; o < O; ++o)
    for (int i = 0; i < OH; ++i)
      std::copy_n(dy + (static_cast<int64_t>(o) * OH + i) * OW, OW,
                  padded_dy.data() + o * plane + static_cast<int64_t>(top + i) * cols + left);

  for (const StridedInputGradient::Phase& phase : plan.phases) {
    const Axis r = axis(H, g.stride_h, g.pad_h, phase.row_phase), c = axis(W, g.stride_w, g.pad_w, phase.col_phase);
    if (r.count == 0 || c.count == 0) continue;
    const int64_t outputs = static_cast<int64_t>(r.count) * c.count;
    phase_out.resize(static_cast<size_t>(C * outputs));
    if (phase.has_taps) {
      // The phase conv's padded origin: dy row -(Kp - 1), column -(Kq - 1).
      const float* origin = padded_dy.data() + static_cast<int64_t>(top - phase.over_dy.pad_h) * cols +
                            (left - phase.over_dy.pad_w);
      conv2d_channel_vector_window(origin, plane, cols, phase.over_dy,
                                   ConvWindow{r.start.first_output, r.count, c.start.first_output, c.count},
                                   phase.packed, nullptr, C, phase_out.data());
    } else {
      std::fill(phase_out.begin(), phase_out.end(), 0.0f);
    }
    // Every s-th row and column of dx.
    for (int ch = 0; ch < C; ++ch) {
      const float* from = phase_out.data() + ch * outputs;
      float* to = dx + static_cast<int64_t>(ch) * H * W + static_cast<int64_t>(r.start.first_input) * W +
                  c.start.first_input;
      for (int i = 0; i < r.count; ++i, from += c.count, to += static_cast<int64_t>(g.stride_h) * W)
        for (int j = 0; j < c.count; ++j) to[j * g.stride_w] = from[j];
    }
  }
}

}  // namespace branchy
