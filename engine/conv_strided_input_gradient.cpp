#include "engine/conv_strided_input_gradient.h"

// GCC 12 warns inside its own AVX-512 headers (the unpack intrinsics' "__Y =
// __Y", GCC bug 105593): a false positive in system headers.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <xsimd/xsimd.hpp>

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

// to[0 .. n) = from[0 .. n): rows of a few floats, where a call to memmove
// costs more than the copy.
void copy_floats(const float* from, int n, float* to) {
  constexpr int L = static_cast<int>(xsimd::batch<float>::size);
  int j = 0;
  for (; j + L <= n; j += L) xsimd::batch<float>::load_unaligned(from + j).store_unaligned(to + j);
  for (; j < n; ++j) to[j] = from[j];
}

// row[2j] = even[j] (j < even_count), row[2j + 1] = odd[j] (j < odd_count),
// where even_count is odd_count or one more. In 4-float vectors: wider
// unpacks interleave within each 128-bit lane, not across the vector.
void interleave(const float* even, int even_count, const float* odd, int odd_count, float* row) {
  int j = 0;
#if XSIMD_WITH_SSE2
  using Quad = xsimd::batch<float, xsimd::sse2>;
  for (; j + 4 <= odd_count; j += 4) {
    const Quad e = Quad::load_unaligned(even + j), o = Quad::load_unaligned(odd + j);
    xsimd::zip_lo(e, o).store_unaligned(row + 2 * j);  // e0 o0 e1 o1
    xsimd::zip_hi(e, o).store_unaligned(row + 2 * j + 4);  // e2 o2 e3 o3
  }
#endif
  for (; j < odd_count; ++j) {
    row[2 * j] = even[j];
    row[2 * j + 1] = odd[j];
  }
  for (; j < even_count; ++j) row[2 * j] = even[j];
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
  thread_local std::vector<float> padded_dy, phase_out[2];
  const int64_t plane = static_cast<int64_t>(rows) * cols;
  padded_dy.assign(static_cast<size_t>(O * plane), 0.0f);
  for (int o = 0; o < O; ++o)
    for (int i = 0; i < OH; ++i)
      copy_floats(dy + (static_cast<int64_t>(o) * OH + i) * OW, OW,
                  padded_dy.data() + o * plane + static_cast<int64_t>(top + i) * cols + left);

  // The phases of one row parity ph, each into its own buffer (C, rows, columns of the phase).
  auto convolve_phase = [&](const StridedInputGradient::Phase& phase, std::vector<float>& out) {
    const Axis r = axis(H, g.stride_h, g.pad_h, phase.row_phase), c = axis(W, g.stride_w, g.pad_w, phase.col_phase);
    const int64_t outputs = static_cast<int64_t>(r.count) * c.count;
    out.resize(static_cast<size_t>(C * outputs));
    if (outputs == 0) return;
    if (!phase.has_taps) {
      std::fill(out.begin(), out.end(), 0.0f);
      return;
    }
    // The phase conv's padded origin: dy row -(Kp - 1), column -(Kq - 1).
    const float* origin =
        padded_dy.data() + static_cast<int64_t>(top - phase.over_dy.pad_h) * cols + (left - phase.over_dy.pad_w);
    conv2d_channel_vector_window(origin, plane, cols, phase.over_dy,
                                 ConvWindow{r.start.first_output, r.count, c.start.first_output, c.count},
                                 phase.packed, nullptr, C, out.data());
  };
  const int sh = g.stride_h, sw = g.stride_w;
  for (int ph = 0; ph < sh; ++ph) {
    const Axis r = axis(H, sh, g.pad_h, ph);
    if (r.count == 0) continue;
    if (sw == 2) {
      // Stride 2 along the width: the two column phases fill the even and
      // the odd columns of the same rows of dx, so they are interleaved a
      // vector pair at a time (a strided scalar store per float was a
      // quarter of the input gradient's time on b-resnext's 8-channel groups).
      const StridedInputGradient::Phase& p0 = plan.phases[static_cast<size_t>(ph) * 2];
      const StridedInputGradient::Phase& p1 = plan.phases[static_cast<size_t>(ph) * 2 + 1];
      const Axis c0 = axis(W, 2, g.pad_w, 0), c1 = axis(W, 2, g.pad_w, 1);
      convolve_phase(p0, phase_out[0]);
      convolve_phase(p1, phase_out[1]);
      // even: the phase whose first column is 0 (the other starts at 1)
      const bool phase0_even = c0.start.first_input == 0;
      const float* even = phase_out[phase0_even ? 0 : 1].data();
      const float* odd = phase_out[phase0_even ? 1 : 0].data();
      const int even_count = phase0_even ? c0.count : c1.count, odd_count = phase0_even ? c1.count : c0.count;
      for (int ch = 0; ch < C; ++ch)
        for (int i = 0; i < r.count; ++i, even += even_count, odd += odd_count)
          interleave(even, even_count, odd, odd_count,
                     dx + (static_cast<int64_t>(ch) * H + r.start.first_input + static_cast<int64_t>(i) * sh) * W);
      continue;
    }
    for (int pw = 0; pw < sw; ++pw) {
      const StridedInputGradient::Phase& phase = plan.phases[static_cast<size_t>(ph) * sw + pw];
      const Axis c = axis(W, sw, g.pad_w, pw);
      if (c.count == 0) continue;
      convolve_phase(phase, phase_out[0]);
      // Every s-th row and column of dx.
      const float* from = phase_out[0].data();
      for (int ch = 0; ch < C; ++ch) {
        float* to = dx + static_cast<int64_t>(ch) * H * W + static_cast<int64_t>(r.start.first_input) * W +
                    c.start.first_input;
        for (int i = 0; i < r.count; ++i, from += c.count, to += static_cast<int64_t>(sh) * W)
          for (int j = 0; j < c.count; ++j) to[j * sw] = from[j];
      }
    }
  }
}

}  // namespace branchy
